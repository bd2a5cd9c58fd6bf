//! Sessions, client side: `attach`, `run` and `-t` talk to the xdockerinit of
//! a running container over its session socket, with the protocol that the
//! xdockerinit crate defines ([`xdockerinit::protocol`]; one definition, two
//! sides). The host side also creates that socket at boot ([`listen`]).
//!
//! The socket is `XDOCKER_HOME/containers/C/session.sock`: created, bound and
//! set listening by xdocker before the container exists, in a directory of
//! the host (mode 0700, the socket 0600) that is not in the container's mount
//! namespace. Only host root reaches it, and nothing in the container can
//! replace the file. xdockerinit inherits the listening descriptor.
//!
//! The relay runs in one poll loop on a non-blocking socket, so the client
//! keeps reading the container's output while it has input to send (no
//! deadlock on full buffers either way). stdin and stdout stay blocking: they
//! may be shared with the calling shell, and O_NONBLOCK on a shared terminal
//! would leak into it.

pub mod escape;
pub mod terminal;

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use xdockerinit::protocol::{
    self, kind, Decoder, Message, ProcessStatus, ProtocolError, SessionOptions,
};
use xdockerinit::sys::{self, pollfd};

use escape::Escape;
use terminal::{RawMode, Signals};

/// The session socket's file name in the container's directory.
pub const SOCKET_FILE: &str = "session.sock";

/// How long the server may take to answer `Hello`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes read from stdin or the socket at a time.
const CHUNK: usize = 64 * 1024;

/// Frames queued for the server above which stdin is no longer read.
const QUEUE_LIMIT: usize = 256 * 1024;

/// Window size sent when the client has no terminal.
pub const DEFAULT_SIZE: (u16, u16) = (24, 80);

/// Errors of a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("create session socket {path}: {source}")]
    Listen {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("connect to session socket {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("session: {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("session: xdockerinit did not answer within {0:?}")]
    Timeout(Duration),
    #[error("session closed before the command's exit status arrived")]
    Closed,
    /// The server could not start the command (an `Error` message).
    #[error("{0}")]
    Remote(String),
    /// A session's own directory, user or variables, asked of an
    /// xdockerinit older than them.
    #[error("this container's xdockerinit (session protocol {0}) predates a session's own -w, -u and -e: restart the container")]
    OptionsTooNew(u16),
}

fn io_err<E: Into<io::Error>>(op: &'static str) -> impl FnOnce(E) -> SessionError {
    move |source| SessionError::Io {
        op,
        source: source.into(),
    }
}

/// The path to use for a socket: `path` itself, or, when it is too long for
/// `sun_path` (108 bytes), the same file through `/proc/self/fd/N/` of its
/// directory, opened `O_PATH` and kept open by the returned file.
fn short_path(path: &Path) -> io::Result<(PathBuf, Option<std::fs::File>)> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    if path.as_os_str().as_bytes().len() < 100 {
        return Ok((path.to_path_buf(), None));
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().unwrap_or_default();
    let dirfd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", dirfd.as_raw_fd())).join(name);
    Ok((short, Some(dirfd)))
}

/// Creates the session socket of a container being booted: a stale file is
/// removed first; the socket is bound, made 0600 and set listening. The
/// listener is close-on-exec; boot hands it to xdockerinit explicitly.
pub fn listen(path: &Path) -> Result<UnixListener, SessionError> {
    let err = |source| SessionError::Listen {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let (bind_path, _dir) = short_path(path).map_err(err)?;
    let listener = UnixListener::bind(&bind_path).map_err(err)?;
    // The directory is 0700 already; the socket itself is host root's only.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    Ok(listener)
}

/// Removes a container's session socket (the container stopped).
pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What to start in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Open {
    /// A terminal session; empty `argv` for root's login shell.
    Pty {
        rows: u16,
        cols: u16,
        term: Vec<u8>,
        argv: Vec<Vec<u8>>,
        /// Its own directory, user and variables (empty: the container's).
        options: SessionOptions,
    },
    /// Plain pipes.
    Pipes {
        argv: Vec<Vec<u8>>,
        options: SessionOptions,
    },
}

impl Open {
    fn message(&self) -> Message {
        match self.clone() {
            Open::Pty {
                rows,
                cols,
                term,
                argv,
                options,
            } => Message::OpenPty {
                rows,
                cols,
                term,
                argv,
                options,
            },
            Open::Pipes { argv, options } => Message::OpenPipes { argv, options },
        }
    }

    fn options(&self) -> &SessionOptions {
        match self {
            Open::Pty { options, .. } | Open::Pipes { options, .. } => options,
        }
    }

    fn is_pty(&self) -> bool {
        matches!(self, Open::Pty { .. })
    }
}

/// `/bin/sh -c CMD`, the argv of `run`.
pub fn shell_command(cmd: &str) -> Vec<Vec<u8>> {
    vec![b"/bin/sh".to_vec(), b"-c".to_vec(), cmd.as_bytes().to_vec()]
}

/// TERM of the client, for the container's terminal (empty when unset).
pub fn client_term() -> Vec<u8> {
    std::env::var_os("TERM")
        .map(OsString::into_vec)
        .unwrap_or_default()
}

/// The client's standard streams.
#[derive(Debug, Clone, Copy)]
pub struct Stdio<'a> {
    pub stdin: BorrowedFd<'a>,
    pub stdout: BorrowedFd<'a>,
    pub stderr: BorrowedFd<'a>,
}

/// Options of the client side.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Watch stdin for `Ctrl-a q` (attach).
    pub escape: bool,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The command exited with this code (exit status, or 128+signal).
    Exited(i32),
    /// The user detached with `Ctrl-a q`.
    Detached,
    /// A signal (TERM, HUP, a second INT...) ended the client; the command
    /// was hung up.
    Signalled(i32),
    /// Our stdout was closed (EPIPE): the session was dropped.
    BrokenPipe,
}

/// A connection to a container's xdockerinit, after the handshake.
#[derive(Debug)]
pub struct Client {
    conn: UnixStream,
    decoder: Decoder,
    /// The protocol version both sides speak.
    pub version: u16,
    /// How long the current wait for the server may last (for messages).
    timeout: Duration,
}

impl Client {
    /// Connects to the session socket at `path` and exchanges `Hello`.
    pub fn connect(path: &Path) -> Result<Client, SessionError> {
        Self::connect_within(path, HANDSHAKE_TIMEOUT)
    }

    /// [`Client::connect`], the answer to `Hello` waited for `timeout` at
    /// most.
    pub fn connect_within(path: &Path, timeout: Duration) -> Result<Client, SessionError> {
        let err = |source| SessionError::Connect {
            path: path.to_path_buf(),
            source,
        };
        let (connect_path, _dir) = short_path(path).map_err(err)?;
        let conn = UnixStream::connect(&connect_path).map_err(err)?;
        conn.set_nonblocking(true)
            .map_err(io_err("make the socket non-blocking"))?;
        let mut client = Client {
            conn,
            decoder: Decoder::new(),
            version: protocol::VERSION,
            timeout,
        };
        client.send_blocking(&Message::Hello {
            version: protocol::VERSION,
        })?;
        let deadline = Instant::now() + timeout;
        loop {
            match client.next_before(deadline)? {
                Message::Hello { version } => {
                    client.version = version.min(protocol::VERSION);
                    return Ok(client);
                }
                Message::Error(text) => return Err(SessionError::Remote(text)),
                _ => continue,
            }
        }
    }

    /// The container's supervised processes (the `-e` main process and the
    /// boot services), as xdockerinit sees them now; None when its
    /// xdockerinit predates the question (protocol version 1). The answer
    /// is waited for `timeout` at most.
    pub fn status(mut self, timeout: Duration) -> Result<Option<Vec<ProcessStatus>>, SessionError> {
        if self.version < protocol::STATUS_VERSION {
            return Ok(None);
        }
        self.send_blocking(&Message::QueryStatus)?;
        self.timeout = timeout;
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_before(deadline)? {
                Message::Status(list) => return Ok(Some(list)),
                Message::Error(text) => return Err(SessionError::Remote(text)),
                _ => continue,
            }
        }
    }

    fn send_blocking(&mut self, message: &Message) -> Result<(), SessionError> {
        let frame = message.to_frame();
        let mut done = 0;
        while done < frame.len() {
            match sys::write(self.conn.as_fd(), &frame[done..]) {
                Ok(n) => done += n,
                Err(Errno::EAGAIN) => {
                    sys::wait_fd(self.conn.as_fd(), libc::POLLOUT, -1)
                        .map_err(io_err("wait for the socket"))?;
                }
                Err(e) => return Err(io_err("send")(e)),
            }
        }
        Ok(())
    }

    fn next_before(&mut self, deadline: Instant) -> Result<Message, SessionError> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(m) = self.decoder.next_message()? {
                return Ok(m);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SessionError::Timeout(self.timeout));
            }
            let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            sys::wait_fd(self.conn.as_fd(), libc::POLLIN, ms)
                .map_err(io_err("wait for the socket"))?;
            match sys::read(self.conn.as_fd(), &mut buf) {
                Ok(0) => return Err(SessionError::Closed),
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(Errno::EAGAIN) => {}
                Err(e) => return Err(io_err("receive")(e)),
            }
        }
    }

    /// Starts `open` and relays until the session ends. With a terminal
    /// request and a terminal on stdin, that terminal is in raw mode for the
    /// whole session; SIGWINCH becomes `Resize`. In pipe mode the first
    /// SIGINT/SIGTERM/SIGHUP/SIGQUIT is passed on to the command and a
    /// second one drops the session; in terminal mode (where Ctrl-C is just
    /// a byte for the container's terminal) one drops it.
    pub fn run(mut self, open: &Open, io: Stdio<'_>, opts: Options) -> Result<End, SessionError> {
        if !open.options().is_empty() && self.version < protocol::OPTIONS_VERSION {
            return Err(SessionError::OptionsTooNew(self.version));
        }
        let mut signals = Signals::block().map_err(|e| io_err("block signals")(e))?;
        self.send_blocking(&open.message())?;
        let pty = open.is_pty();
        let _raw = if pty && terminal::is_tty(io.stdin) {
            Some(RawMode::enter(io.stdin).map_err(|e| io_err("set the terminal raw")(e))?)
        } else {
            None
        };
        let size_fd = [io.stdin, io.stdout]
            .into_iter()
            .find(|fd| terminal::is_tty(*fd));
        let mut relay = Relay {
            client: &mut self,
            io,
            out: Vec::new(),
            out_pos: 0,
            stdin_open: true,
            escape: opts.escape.then(Escape::new),
            errors: Vec::new(),
            signalled: None,
        };
        relay.run(&mut signals, pty, size_fd)
    }
}

struct Relay<'a, 'io> {
    client: &'a mut Client,
    io: Stdio<'io>,
    out: Vec<u8>,
    out_pos: usize,
    stdin_open: bool,
    escape: Option<Escape>,
    errors: Vec<String>,
    /// A first INT/TERM/HUP/QUIT passed on to a piped command.
    signalled: Option<i32>,
}

impl Relay<'_, '_> {
    fn run(
        &mut self,
        signals: &mut Signals,
        pty: bool,
        size_fd: Option<BorrowedFd<'_>>,
    ) -> Result<End, SessionError> {
        let mut buf = vec![0u8; CHUNK];
        loop {
            // Messages may be waiting from an earlier read (behind Hello).
            if let Some(end) = self.handle_messages()? {
                return Ok(end);
            }
            let mut fds = vec![
                pollfd(
                    self.client.conn.as_fd(),
                    libc::POLLIN | self.conn_out_events(),
                ),
                pollfd(signals.as_fd(), libc::POLLIN),
            ];
            let stdin_polled = self.stdin_open && self.out.len() - self.out_pos < QUEUE_LIMIT;
            if stdin_polled {
                fds.push(pollfd(self.io.stdin, libc::POLLIN));
            }
            sys::poll(&mut fds, -1).map_err(io_err("poll"))?;
            if fds[1].revents != 0 {
                while let Some(signo) = signals.pending() {
                    if signo == libc::SIGWINCH {
                        if let Some((rows, cols)) = size_fd.and_then(terminal::window_size) {
                            Message::Resize { rows, cols }.encode(&mut self.out);
                        }
                        continue;
                    }
                    if pty || self.signalled.is_some() {
                        return Ok(End::Signalled(signo));
                    }
                    self.signalled = Some(signo);
                    Message::Signal(signo).encode(&mut self.out);
                }
            }
            if fds[0].revents & libc::POLLOUT != 0 {
                self.flush()?;
            }
            if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                match sys::read(self.client.conn.as_fd(), &mut buf) {
                    Ok(0) => return Err(self.closed()),
                    Ok(n) => self.client.decoder.push(&buf[..n]),
                    Err(Errno::EAGAIN) => {}
                    Err(Errno::ECONNRESET) => return Err(self.closed()),
                    Err(e) => return Err(io_err("receive")(e)),
                }
            }
            if stdin_polled && fds.get(2).is_some_and(|f| f.revents != 0) {
                if let Some(end) = self.read_stdin(&mut buf)? {
                    return Ok(end);
                }
            }
        }
    }

    /// The server closed the connection without `Exit`: what it said, or
    /// how the stream ended.
    fn closed(&self) -> SessionError {
        if !self.errors.is_empty() {
            return SessionError::Remote(self.errors.join("; "));
        }
        match self.client.decoder.finish() {
            Err(e) => SessionError::Protocol(e),
            Ok(()) => SessionError::Closed,
        }
    }

    /// Acts on every whole message received; `Some` when the session ended.
    fn handle_messages(&mut self) -> Result<Option<End>, SessionError> {
        while let Some(m) = self.client.decoder.next_message()? {
            match m {
                Message::Stdout(data) => {
                    let written = write_all(self.io.stdout, &data)?;
                    if !written {
                        return Ok(Some(End::BrokenPipe));
                    }
                }
                Message::Stderr(data) => {
                    // A closed stderr is no reason to stop the command.
                    let _ = write_all(self.io.stderr, &data);
                }
                Message::Exit { code } => {
                    if !self.errors.is_empty() {
                        return Err(SessionError::Remote(self.errors.join("; ")));
                    }
                    return Ok(Some(End::Exited(code)));
                }
                Message::Error(text) => self.errors.push(text),
                // Hello again, or what only a client sends.
                _ => {}
            }
        }
        Ok(None)
    }

    /// Reads stdin once and queues it; `Some` when the user detached.
    fn read_stdin(&mut self, buf: &mut [u8]) -> Result<Option<End>, SessionError> {
        let data = match sys::read(self.io.stdin, buf) {
            Ok(n) => &buf[..n],
            Err(Errno::EAGAIN) => return Ok(None),
            // EIO: the terminal went away; like EOF.
            Err(_) => &buf[..0],
        };
        if data.is_empty() {
            self.stdin_open = false;
            Message::StdinEof.encode(&mut self.out);
        } else if let Some(escape) = &mut self.escape {
            let mut pass = Vec::with_capacity(data.len());
            let detach = escape.feed(data, &mut pass);
            if !pass.is_empty() {
                protocol::encode_data(&mut self.out, kind::STDIN, &pass);
            }
            if detach {
                // What was typed before the escape still goes out.
                self.flush_blocking()?;
                return Ok(Some(End::Detached));
            }
        } else {
            protocol::encode_data(&mut self.out, kind::STDIN, data);
        }
        self.flush()?;
        Ok(None)
    }

    fn conn_out_events(&self) -> libc::c_short {
        if self.out_pos < self.out.len() {
            libc::POLLOUT
        } else {
            0
        }
    }

    /// Sends queued frames until the socket would block.
    fn flush(&mut self) -> Result<(), SessionError> {
        while self.out_pos < self.out.len() {
            match sys::write(self.client.conn.as_fd(), &self.out[self.out_pos..]) {
                Ok(n) => self.out_pos += n,
                Err(Errno::EAGAIN) => break,
                // The server closed: what it said last is read next.
                Err(Errno::EPIPE) => {
                    self.out.clear();
                    self.out_pos = 0;
                    self.stdin_open = false;
                    return Ok(());
                }
                Err(e) => return Err(io_err("send")(e)),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        Ok(())
    }

    /// Sends everything queued, waiting up to a second.
    fn flush_blocking(&mut self) -> Result<(), SessionError> {
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.out_pos < self.out.len() && Instant::now() < deadline {
            self.flush()?;
            if self.out_pos < self.out.len() {
                let _ = sys::wait_fd(self.client.conn.as_fd(), libc::POLLOUT, 100);
            }
        }
        Ok(())
    }
}

/// Writes all of `data` to a (normally blocking) descriptor; waits in poll
/// if someone made it non-blocking. `Ok(false)` when the reader is gone.
fn write_all(fd: BorrowedFd<'_>, data: &[u8]) -> Result<bool, SessionError> {
    sys::write_all(fd, data).map_err(io_err("write the output"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_socket_paths_go_through_proc() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("a".repeat(60)).join("b".repeat(60));
        std::fs::create_dir_all(&deep).expect("mkdir");
        let path = deep.join(SOCKET_FILE);
        let listener = listen(&path).expect("listen on a long path");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (short, _dir) = short_path(&path).expect("short path");
        assert!(short.starts_with("/proc/self/fd/"));
        let _client = UnixStream::connect(&short).expect("connect");
        let _ = listener.accept().expect("accept");
        // A stale file is replaced.
        drop(listener);
        let _again = listen(&path).expect("listen again");
        remove(&path).expect("remove");
        remove(&path).expect("remove twice");
    }

    #[test]
    fn shell_command_is_sh_c() {
        assert_eq!(
            shell_command("echo hi"),
            vec![b"/bin/sh".to_vec(), b"-c".to_vec(), b"echo hi".to_vec()]
        );
    }
}
