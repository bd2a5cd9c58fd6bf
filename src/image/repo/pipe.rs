//! Moving bytes between the archive code and an SFTP handle on a second
//! thread, in chunks of [`super::CHUNK`] bytes.
//!
//! libssh2 pipelines SFTP packets only within one read or write call and
//! waits for every acknowledgement before returning, so the transfer runs on
//! its own thread with whole chunks, while export (tar, sha256, zstd) or
//! import (zstd, tar, disk writes) keeps working on the main thread. The
//! transfer thread also hashes and counts the bytes that went over the wire.

use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use sha2::{Digest, Sha256};

use crate::image::archive::hex;

/// Chunks in flight between the two threads.
const DEPTH: usize = 3;

/// What went over the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub bytes: u64,
    pub sha256: String,
}

fn panicked() -> io::Error {
    io::Error::other("the transfer thread panicked")
}

/// The export side of an upload: collects writes into chunks.
#[derive(Debug)]
pub struct ChunkWriter {
    buf: Vec<u8>,
    chunk: usize,
    tx: SyncSender<Vec<u8>>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(self.chunk));
        self.tx.send(full).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the upload to the repository stopped",
            )
        })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.chunk - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.chunk {
            self.send()?;
        }
        Ok(n)
    }

    /// Sends what is collected. Dropping without a flush sends nothing, so
    /// a failed export never completes the upload.
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The running upload thread.
#[derive(Debug)]
pub struct Upload<'scope> {
    handle: ScopedJoinHandle<'scope, io::Result<Sent>>,
}

impl Upload<'_> {
    /// Waits for the upload to end (the writer must be dropped first).
    pub fn join(self) -> io::Result<Sent> {
        self.handle.join().unwrap_or_else(|_| Err(panicked()))
    }
}

/// Starts writing chunks to `file`; the file is fsynced (when the server
/// supports it) and closed at the end.
pub fn upload<'scope>(
    s: &'scope Scope<'scope, '_>,
    mut file: ssh2::File,
    chunk: usize,
) -> (ChunkWriter, Upload<'scope>) {
    let (tx, rx): (SyncSender<Vec<u8>>, Receiver<Vec<u8>>) = sync_channel(DEPTH);
    let handle = s.spawn(move || {
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        for data in rx {
            file.write_all(&data)?;
            hasher.update(&data);
            bytes += data.len() as u64;
        }
        // Durable before the rename that publishes it; OpenSSH has
        // fsync@openssh.com, other servers may not.
        if let Err(e) = file.fsync() {
            crate::logging::debug(&format!("ssh repository: fsync not done: {}", e.message()));
        }
        file.close().map_err(io::Error::from)?;
        Ok(Sent {
            bytes,
            sha256: hex(&hasher.finalize()),
        })
    });
    (
        ChunkWriter {
            buf: Vec::with_capacity(chunk),
            chunk,
            tx,
        },
        Upload { handle },
    )
}

/// The import side of a download.
#[derive(Debug)]
pub struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(v) => {
                    self.cur = v;
                    self.pos = 0;
                }
                // The download ended (its result tells whether it failed).
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The running download thread.
#[derive(Debug)]
pub struct Download<'scope> {
    handle: ScopedJoinHandle<'scope, io::Result<Sent>>,
}

impl Download<'_> {
    /// Waits for the download to end. A reader that stopped early makes it
    /// end with what it had read.
    pub fn join(self) -> io::Result<Sent> {
        self.handle.join().unwrap_or_else(|_| Err(panicked()))
    }
}

/// Starts reading `file` in chunks; more than `limit` bytes is an error
/// (the file changed while being read).
pub fn download<'scope>(
    s: &'scope Scope<'scope, '_>,
    mut file: ssh2::File,
    chunk: usize,
    limit: u64,
) -> (ChunkReader, Download<'scope>) {
    let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
    let handle = s.spawn(move || {
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        loop {
            let mut buf = vec![0u8; chunk];
            let mut filled = 0;
            while filled < chunk {
                let n = file.read(&mut buf[filled..])?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            buf.truncate(filled);
            hasher.update(&buf);
            bytes += filled as u64;
            if bytes > limit {
                return Err(io::Error::other(
                    "the file grew while being read (a concurrent push?)",
                ));
            }
            if tx.send(buf).is_err() {
                // The reader stopped (import failed): its error is reported.
                break;
            }
        }
        let _ = file.close();
        Ok(Sent {
            bytes,
            sha256: hex(&hasher.finalize()),
        })
    });
    (
        ChunkReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        },
        Download { handle },
    )
}
