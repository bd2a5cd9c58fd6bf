//! The main process's terminal, shared with the clients attached to it
//! (`--main-tty`, Docker's `run -it` / `attach`): a pty that PID 1 owns,
//! so the main process does not depend on whoever booted the container.
//!
//! Its output is read by the log's capture ([`crate::log`]), which hands
//! every chunk to [`MainTerminal::output`]; from there a copy goes, as
//! `Stdout` frames of the [protocol](crate::protocol), into a pipe per
//! session helper ([`crate::session`]), which sends them on to its client.
//! PID 1 never waits for a client: frames are small enough to be written
//! whole or not at all (at most `PIPE_BUF`), and a frame that does not
//! fit is dropped for that client (a client that does not read loses
//! output, as on a serial console) while room is always kept for the
//! `Exit` frame. Input and window sizes go the other way without init:
//! each helper writes to its own copy of the pty master.
//!
//! Every connection gets a pipe before its helper knows what the client
//! asks: a helper that serves something else closes its end, and its
//! pipe is dropped at the next write (EPIPE) or when the helper is
//! reaped. The last [`BACKLOG`] bytes of output are written into each new
//! pipe first, so a client attaching right after the boot (`run -it`)
//! sees the prompt the main process printed before it connected.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::unistd::Pid;

use crate::protocol::{self, kind, Message};
use crate::sys;

/// Output kept for the next client that attaches.
pub const BACKLOG: usize = 4096;

/// The largest write a pipe takes whole or not at all.
const ATOMIC: usize = libc::PIPE_BUF;

/// Room kept in each pipe for the `Exit` frame.
const EXIT_RESERVE: usize = 64;

/// What a session helper gets: the pipe's read end and a copy of the
/// pty master (input, window size).
#[derive(Debug)]
pub struct AttachEnds {
    pub frames: OwnedFd,
    pub master: OwnedFd,
}

/// One connection's pipe.
#[derive(Debug)]
struct Client {
    /// Its helper, once forked.
    helper: Option<Pid>,
    /// The write end (non-blocking).
    pipe: OwnedFd,
    /// The pipe's capacity.
    size: usize,
}

/// The main process's pty and the clients attached to it.
#[derive(Debug)]
pub struct MainTerminal {
    master: OwnedFd,
    clients: Vec<Client>,
    backlog: Vec<u8>,
}

impl MainTerminal {
    /// The terminal of pty master `master` (a copy of the one the capture
    /// reads).
    pub fn new(master: OwnedFd) -> MainTerminal {
        MainTerminal {
            master,
            clients: Vec::new(),
            backlog: Vec::new(),
        }
    }

    /// A new connection: its pipe, with the backlog in it, and a copy of
    /// the master, for the helper to be forked; [`Self::forked`] then
    /// names the helper.
    pub fn connect(&mut self) -> Result<AttachEnds, Errno> {
        // Both ends non-blocking: init never waits, the helper polls.
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let master = self
            .master
            .try_clone()
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EMFILE)))?;
        let size = sys::pipe_size(w.as_fd())?;
        let mut client = Client {
            helper: None,
            pipe: w,
            size,
        };
        if send_output(&mut client, &self.backlog) {
            self.clients.push(client);
        }
        Ok(AttachEnds { frames: r, master })
    }

    /// The helper of the connection made last is `pid`.
    pub fn forked(&mut self, pid: Option<Pid>) {
        match pid {
            Some(pid) => {
                if let Some(c) = self.clients.last_mut() {
                    c.helper.get_or_insert(pid);
                }
            }
            // No helper: nobody reads that pipe.
            None => {
                self.clients.pop();
            }
        }
    }

    /// A child was reaped: the pipe of a helper that ended is dropped.
    pub fn reaped(&mut self, pid: Pid) {
        self.clients.retain(|c| c.helper != Some(pid));
    }

    /// Output of the main process's terminal, as read.
    pub fn output(&mut self, data: &[u8]) {
        self.backlog.extend_from_slice(data);
        if self.backlog.len() > BACKLOG {
            self.backlog.drain(..self.backlog.len() - BACKLOG);
        }
        self.clients.retain_mut(|c| send_output(c, data));
    }

    /// The main process ended with `code`: every client attached now gets
    /// `Exit`, and its pipe is closed (later clients attach to the next
    /// run, if the main process is started again).
    pub fn exited(&mut self, code: i32) {
        let frame = Message::Exit { code }.to_frame();
        for c in self.clients.drain(..) {
            let _ = sys::write(c.pipe.as_fd(), &frame);
        }
        self.backlog.clear();
    }
}

/// Writes `data` as `Stdout` frames into a client's pipe, each whole or
/// not at all, keeping room for `Exit`; false when its reader is gone.
fn send_output(c: &mut Client, data: &[u8]) -> bool {
    let mut frame = Vec::with_capacity(ATOMIC);
    for chunk in data.chunks(ATOMIC - protocol::HEADER - 4) {
        frame.clear();
        protocol::encode_data(&mut frame, kind::STDOUT, chunk);
        let queued = sys::readable(c.pipe.as_fd());
        if queued + frame.len() + EXIT_RESERVE > c.size {
            // A client that does not read loses this output.
            continue;
        }
        match sys::write(c.pipe.as_fd(), &frame) {
            Ok(_) | Err(Errno::EAGAIN) => {}
            Err(_) => return false,
        }
    }
    true
}
