//! Sessions: the server side of the [`protocol`](crate::protocol).
//!
//! The host creates, binds and listens on the session socket before the
//! container exists and passes it as `--session-fd`; PID 1 only accepts. Each
//! connection gets its own helper process, a child of init that owns the
//! connection for its whole life, so a client that sends nothing or garbage
//! blocks nobody but its own helper (which gives up after [`HELLO_TIMEOUT`]),
//! and init goes straight back to its loop: reaping and the orderly stop never
//! wait for a client. This is the shape of sshd's per-connection child and of
//! LXC's `lxc_attach` helper, with the relay of `lxc-console`.
//!
//! A helper reads `Hello` and one `OpenPty`/`OpenPipes`, starts the command
//! in a new session with nothing but fds 0-2 (pty slave, or three pipes; no
//! descriptor of init, of the helper or of the host reaches it), relays
//! bytes both ways with poll on non-blocking descriptors (bounded queues, so
//! a slow side slows the other instead of filling memory), and when the
//! command exits it drains what is already buffered for at most
//! [`DRAIN_TIMEOUT`], sends `Exit` and closes. It never waits for EOF on the
//! terminal: a background job that keeps the pty open does not hold the
//! session. A client that goes away hangs the command up (SIGHUP to its
//! process group, as a terminal hangup or sshd does).
//!
//! Signals: the helper keeps init's fully blocked mask and reads SIGTERM,
//! SIGINT and SIGHUP from its own signalfd. During the orderly stop init
//! sends TERM to everything; the helper then hangs up a pty session (an
//! interactive shell ignores TERM but not HUP) and keeps relaying, so the
//! client still gets the output and the exit status.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::stat::Mode;
use nix::unistd::{fork, ForkResult, Pid};

use crate::process;
use crate::protocol::{self, kind, Decoder, Message, ProtocolError, SessionOptions};
use crate::signals;
use crate::sys::{self, pollfd, ErrnoText};
use crate::user::Launch;

/// How long a new connection may take to send `Hello` and its open request.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// After the command exited: how long to keep reading output that is still
/// buffered, when background processes keep writing to it.
pub const DRAIN_TIMEOUT: Duration = Duration::from_millis(200);

/// Output read after the command exited, at most.
const DRAIN_MAX: usize = 8 << 20;

/// Bytes read from one descriptor at a time.
const CHUNK: usize = 64 * 1024;

/// Frames queued for the client above which the command's output is no
/// longer read (back-pressure), and input queued for the command above which
/// the client's frames are no longer read.
const QUEUE_LIMIT: usize = 256 * 1024;

/// Name of a helper process (ps, /proc/PID/comm).
const HELPER_NAME: &CStr = c"xdinit-session";

/// The container's `--user` and `--workdir`: what a session runs as and
/// where when its request names none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    pub user: Option<String>,
    pub workdir: Option<String>,
}

/// Forks the helper that serves `conn`, starting its command with `env`
/// ([`process::base_env`]); returns its PID in init. The helper never
/// returns: it exits when the session ends. `status` makes the answer to
/// `QueryStatus`; the helper calls it on its own copy of init's memory, as
/// it was at the fork (the moment the client connected).
pub fn spawn_helper(
    conn: OwnedFd,
    env: &[CString],
    defaults: &Defaults,
    status: &dyn Fn() -> Message,
) -> Result<Pid, Errno> {
    // SAFETY: xdockerinit is single-threaded, so the child may run any code
    // (allocator and locks are in a sane state); it ends with _exit and never
    // returns into init's loop.
    match unsafe { fork() }? {
        ForkResult::Child => {
            // _exit: init's destructors and atexit handlers belong to PID 1.
            sys::exit_now(serve(conn, env, defaults, status))
        }
        ForkResult::Parent { child } => Ok(child),
    }
}

/// What failed in a helper: sent to the client as `Error` when possible.
#[derive(Debug)]
enum HelperError {
    Sys(&'static str, Errno),
    Protocol(ProtocolError),
    Closed,
    Timeout,
    Refused(&'static str),
    Exec(String, Errno),
    User(String),
}

impl std::fmt::Display for HelperError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HelperError::Sys(op, e) => write!(f, "{op}: {}", ErrnoText(*e)),
            HelperError::Protocol(e) => e.fmt(f),
            HelperError::Closed => f.write_str("client closed the connection"),
            HelperError::Timeout => f.write_str("no session request in time"),
            HelperError::Refused(what) => f.write_str(what),
            HelperError::Exec(program, e) => write!(f, "exec {program}: {}", ErrnoText(*e)),
            HelperError::User(reason) => f.write_str(reason),
        }
    }
}

impl From<ProtocolError> for HelperError {
    fn from(e: ProtocolError) -> Self {
        HelperError::Protocol(e)
    }
}

fn failed(op: &'static str) -> impl FnOnce(Errno) -> HelperError {
    move |e| HelperError::Sys(op, e)
}

/// The helper's whole life; returns its exit code.
fn serve(conn: OwnedFd, env: &[CString], defaults: &Defaults, status: &dyn Fn() -> Message) -> i32 {
    // Nothing of init stays open here: not the listening socket, not the
    // exit record, not init's signalfd (they are all >= 3).
    crate::init::close_inherited_fds(&[conn.as_raw_fd()]);
    // Init's fds 0-2 are the host's terminal or pipes in `-e` mode: the
    // helper needs none of them.
    // On failure 0-2 stay as they were.
    if let Ok(null) = sys::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) {
        for fd in 0..3 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
        if null.as_raw_fd() <= 2 {
            // It is one of 0-2 itself now: stays open.
            let _ = std::os::fd::IntoRawFd::into_raw_fd(null);
        }
    }
    let _ = nix::sys::prctl::set_name(HELPER_NAME);
    let mut session = match Session::new(conn) {
        Ok(s) => s,
        Err(_) => return 1,
    };
    match session.run(env, defaults, status) {
        Ok(()) => 0,
        Err(e) => {
            if !matches!(e, HelperError::Closed | HelperError::Timeout) {
                session.send_now(&Message::Error(e.to_string()));
            }
            1
        }
    }
}

/// The command's side of the relay.
#[derive(Debug)]
enum Stdio {
    /// A terminal: the master carries input and output.
    Pty { master: OwnedFd, eof: bool },
    /// Three pipes; `None` once closed.
    Pipes {
        stdin: Option<OwnedFd>,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
    },
}

/// The command of a session.
#[derive(Debug)]
struct Command {
    pid: Pid,
    pidfd: OwnedFd,
    stdio: Stdio,
    /// Bytes from the client not yet written to the command.
    input: Vec<u8>,
    /// The client's stdin ended: close the command's stdin once `input` is
    /// written (pipes).
    input_eof: bool,
    /// The command was reaped: its PID (and group number) may be reused.
    reaped: bool,
}

#[derive(Debug)]
struct Session {
    conn: OwnedFd,
    signals: SignalFd,
    decoder: Decoder,
    /// Encoded frames not yet sent; `out_pos` bytes of them are.
    out: Vec<u8>,
    out_pos: usize,
}

/// One entry of the relay's poll set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Conn,
    Signals,
    Child,
    Master,
    Stdin,
    Stdout,
    Stderr,
}

impl Session {
    fn new(conn: OwnedFd) -> Result<Session, HelperError> {
        let mut set = SigSet::empty();
        for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
            set.add(s);
        }
        // The mask inherited from init blocks every signal already.
        let signals = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(failed("create the signalfd"))?;
        Ok(Session {
            conn,
            signals,
            decoder: Decoder::new(),
            out: Vec::new(),
            out_pos: 0,
        })
    }

    fn run(
        &mut self,
        env: &[CString],
        defaults: &Defaults,
        status: &dyn Fn() -> Message,
    ) -> Result<(), HelperError> {
        let deadline = Instant::now() + HELLO_TIMEOUT;
        match self.next_before(deadline)? {
            Message::Hello { .. } => {}
            _ => return Err(HelperError::Refused("session protocol: expected hello")),
        }
        self.send_now(&Message::Hello {
            version: protocol::VERSION,
        });
        let request = loop {
            match self.next_before(deadline)? {
                m @ (Message::OpenPty { .. } | Message::OpenPipes { .. }) => break m,
                Message::QueryStatus => {
                    self.send_now(&status());
                    return Ok(());
                }
                // Nothing else means anything before the command runs.
                _ => continue,
            }
        };
        let mut command = start(&request, env, defaults)?;
        let result = self.relay(&mut command);
        if result.is_err() {
            // The client is gone or broke the protocol: nobody is left to
            // read the output, so hang up as a closed terminal would.
            command.hang_up();
        }
        result
    }

    /// Sends a small frame on the fresh connection (best effort: its buffer
    /// is empty, so a short frame does not block).
    fn send_now(&mut self, message: &Message) {
        let frame = message.to_frame();
        let mut done = 0;
        let deadline = Instant::now() + Duration::from_secs(1);
        while done < frame.len() && Instant::now() < deadline {
            match sys::write(self.conn.as_fd(), &frame[done..]) {
                Ok(n) => done += n,
                Err(Errno::EAGAIN) => {
                    let _ = sys::wait_fd(self.conn.as_fd(), libc::POLLOUT, 50);
                }
                Err(_) => return,
            }
        }
    }

    /// The next message of the handshake, read before `deadline`; a
    /// stopping container (SIGTERM) ends the wait.
    fn next_before(&mut self, deadline: Instant) -> Result<Message, HelperError> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(m) = self.decoder.next_message()? {
                return Ok(m);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HelperError::Timeout);
            }
            let mut fds = [
                pollfd(self.conn.as_fd(), libc::POLLIN),
                pollfd(self.signals.as_fd(), libc::POLLIN),
            ];
            let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            sys::poll(&mut fds, ms).map_err(failed("poll"))?;
            if fds[1].revents != 0 && self.take_signal().is_some() {
                return Err(HelperError::Closed);
            }
            if fds[0].revents != 0 {
                match sys::read(self.conn.as_fd(), &mut buf) {
                    Ok(0) => return Err(HelperError::Closed),
                    Ok(n) => self.decoder.push(&buf[..n]),
                    Err(Errno::EAGAIN) => {}
                    Err(_) => return Err(HelperError::Closed),
                }
                // Whatever the client sent, it cannot be more than a frame
                // and a bit before we answer.
                if self.decoder.pending() > protocol::MAX_FRAME + protocol::HEADER {
                    return Err(ProtocolError::Oversized {
                        length: self.decoder.pending(),
                    }
                    .into());
                }
            }
        }
    }

    fn take_signal(&mut self) -> Option<i32> {
        match self.signals.read_signal() {
            Ok(Some(info)) => Some(info.ssi_signo as i32),
            _ => None,
        }
    }

    /// Relays until the command exits and its `Exit` is sent, or the client
    /// goes away.
    fn relay(&mut self, cmd: &mut Command) -> Result<(), HelperError> {
        let mut buf = vec![0u8; CHUNK];
        let mut client_eof = false;
        // The client may have sent input right behind its open request, in
        // the same read as it.
        while let Some(m) = self.decoder.next_message()? {
            cmd.on_message(m);
        }
        loop {
            let mut slots: Vec<(Slot, libc::pollfd)> = Vec::with_capacity(7);
            let mut conn_events = 0;
            if !client_eof && cmd.input.len() < QUEUE_LIMIT {
                conn_events |= libc::POLLIN;
            }
            if self.out_pos < self.out.len() {
                conn_events |= libc::POLLOUT;
            }
            slots.push((Slot::Conn, pollfd(self.conn.as_fd(), conn_events)));
            slots.push((Slot::Signals, pollfd(self.signals.as_fd(), libc::POLLIN)));
            slots.push((Slot::Child, pollfd(cmd.pidfd.as_fd(), libc::POLLIN)));
            let room = self.out.len() - self.out_pos < QUEUE_LIMIT;
            match &cmd.stdio {
                Stdio::Pty { master, eof } => {
                    let mut ev = 0;
                    if room && !eof {
                        ev |= libc::POLLIN;
                    }
                    if !cmd.input.is_empty() {
                        ev |= libc::POLLOUT;
                    }
                    if ev != 0 {
                        slots.push((Slot::Master, pollfd(master.as_fd(), ev)));
                    }
                }
                Stdio::Pipes {
                    stdin,
                    stdout,
                    stderr,
                } => {
                    if let (Some(fd), false) = (stdin, cmd.input.is_empty()) {
                        slots.push((Slot::Stdin, pollfd(fd.as_fd(), libc::POLLOUT)));
                    }
                    if let (Some(fd), true) = (stdout, room) {
                        slots.push((Slot::Stdout, pollfd(fd.as_fd(), libc::POLLIN)));
                    }
                    if let (Some(fd), true) = (stderr, room) {
                        slots.push((Slot::Stderr, pollfd(fd.as_fd(), libc::POLLIN)));
                    }
                }
            }
            let mut fds: Vec<libc::pollfd> = slots.iter().map(|(_, p)| *p).collect();
            sys::poll(&mut fds, -1).map_err(failed("poll"))?;
            for ((slot, _), pfd) in slots.iter().zip(&fds) {
                if pfd.revents == 0 {
                    continue;
                }
                match slot {
                    Slot::Conn => {
                        if pfd.revents & libc::POLLOUT != 0 {
                            self.flush().map_err(|_| HelperError::Closed)?;
                        }
                        if pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
                            && conn_events & libc::POLLIN != 0
                        {
                            match sys::read(self.conn.as_fd(), &mut buf) {
                                Ok(0) | Err(Errno::ECONNRESET) => client_eof = true,
                                Ok(n) => {
                                    self.decoder.push(&buf[..n]);
                                    while let Some(m) = self.decoder.next_message()? {
                                        cmd.on_message(m);
                                    }
                                }
                                Err(Errno::EAGAIN) => {}
                                Err(_) => client_eof = true,
                            }
                            if client_eof {
                                return Err(HelperError::Closed);
                            }
                        }
                    }
                    Slot::Signals => {
                        while let Some(signo) = self.take_signal() {
                            cmd.on_stop_signal(signo);
                        }
                    }
                    Slot::Child => {
                        let code = cmd.wait();
                        self.drain(cmd, &mut buf);
                        Message::Exit { code }.encode(&mut self.out);
                        return self.finish();
                    }
                    Slot::Master | Slot::Stdin => {
                        if pfd.revents & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) != 0 {
                            cmd.write_input();
                        }
                        if *slot == Slot::Master
                            && pfd.revents & (libc::POLLIN | libc::POLLHUP) != 0
                        {
                            self.pump_output(cmd, *slot, &mut buf)?;
                        }
                    }
                    Slot::Stdout | Slot::Stderr => self.pump_output(cmd, *slot, &mut buf)?,
                }
            }
        }
    }

    /// Reads what a readable output descriptor holds (a pty master gives at
    /// most its 4 KiB line buffer per read, so a few reads make one larger
    /// write) and sends it at once, without waiting for the next poll round.
    fn pump_output(
        &mut self,
        cmd: &mut Command,
        slot: Slot,
        buf: &mut [u8],
    ) -> Result<(), HelperError> {
        let start = self.out.len();
        for _ in 0..16 {
            if self.read_output(cmd, slot, buf) == 0 || self.out.len() - start >= CHUNK {
                break;
            }
        }
        self.flush().map_err(|_| HelperError::Closed)
    }

    /// Reads one chunk of the command's output into a frame.
    fn read_output(&mut self, cmd: &mut Command, slot: Slot, buf: &mut [u8]) -> usize {
        let Some((fd, frame_kind)) = cmd.output_fd(slot) else {
            return 0;
        };
        match sys::read(fd, buf) {
            Ok(0) => {
                cmd.output_closed(slot);
                0
            }
            Ok(n) => {
                protocol::encode_data(&mut self.out, frame_kind, &buf[..n]);
                n
            }
            Err(Errno::EAGAIN) => 0,
            // EIO: every slave descriptor is closed (pty).
            Err(_) => {
                cmd.output_closed(slot);
                0
            }
        }
    }

    /// The command exited: take what its output descriptors already hold,
    /// without waiting for an EOF that a background process may never give.
    fn drain(&mut self, cmd: &mut Command, buf: &mut [u8]) {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        let mut total = 0;
        for slot in [Slot::Master, Slot::Stdout, Slot::Stderr] {
            while cmd.output_fd(slot).is_some() && total < DRAIN_MAX {
                let before = self.out.len();
                total += self.read_output(cmd, slot, buf);
                if self.out.len() == before || Instant::now() >= deadline {
                    break;
                }
            }
        }
    }

    /// Sends what is queued (the last frame is `Exit`), then closes.
    fn finish(&mut self) -> Result<(), HelperError> {
        let mut buf = [0u8; 4096];
        while self.out_pos < self.out.len() {
            let mut fds = [
                pollfd(self.conn.as_fd(), libc::POLLOUT | libc::POLLIN),
                pollfd(self.signals.as_fd(), libc::POLLIN),
            ];
            sys::poll(&mut fds, -1).map_err(failed("poll"))?;
            // The container is stopping and the client does not read: give up.
            if fds[1].revents != 0 && self.take_signal().is_some() {
                return Err(HelperError::Closed);
            }
            if fds[0].revents & libc::POLLOUT != 0 {
                self.flush().map_err(|_| HelperError::Closed)?;
            } else if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                // Input that arrives now has nowhere to go.
                match sys::read(self.conn.as_fd(), &mut buf) {
                    Ok(0) => return Err(HelperError::Closed),
                    Ok(_) | Err(Errno::EAGAIN) => {}
                    Err(_) => return Err(HelperError::Closed),
                }
            }
        }
        // A failure is harmless: the helper exits and closes it anyway.
        let _ =
            nix::sys::socket::shutdown(self.conn.as_raw_fd(), nix::sys::socket::Shutdown::Write);
        Ok(())
    }

    /// Writes queued frames until the socket would block.
    fn flush(&mut self) -> Result<(), Errno> {
        while self.out_pos < self.out.len() {
            match sys::write(self.conn.as_fd(), &self.out[self.out_pos..]) {
                Ok(n) => self.out_pos += n,
                Err(Errno::EAGAIN) => break,
                Err(e) => return Err(e),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        } else if self.out_pos > QUEUE_LIMIT {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        Ok(())
    }
}

impl Command {
    fn output_fd(&self, slot: Slot) -> Option<(BorrowedFd<'_>, u16)> {
        match (&self.stdio, slot) {
            (Stdio::Pty { master, eof: false }, Slot::Master) => {
                Some((master.as_fd(), kind::STDOUT))
            }
            (
                Stdio::Pipes {
                    stdout: Some(fd), ..
                },
                Slot::Stdout,
            ) => Some((fd.as_fd(), kind::STDOUT)),
            (
                Stdio::Pipes {
                    stderr: Some(fd), ..
                },
                Slot::Stderr,
            ) => Some((fd.as_fd(), kind::STDERR)),
            _ => None,
        }
    }

    fn output_closed(&mut self, slot: Slot) {
        match (&mut self.stdio, slot) {
            (Stdio::Pty { eof, .. }, Slot::Master) => *eof = true,
            (Stdio::Pipes { stdout, .. }, Slot::Stdout) => *stdout = None,
            (Stdio::Pipes { stderr, .. }, Slot::Stderr) => *stderr = None,
            _ => {}
        }
    }

    fn on_message(&mut self, message: Message) {
        match message {
            Message::Stdin(data) if self.input_open() => {
                self.input.extend_from_slice(&data);
                self.write_input();
            }
            Message::StdinEof => {
                self.input_eof = true;
                self.write_input();
            }
            Message::Resize { rows, cols } => {
                if let Stdio::Pty { master, .. } = &self.stdio {
                    set_window_size(master.as_fd(), rows, cols);
                }
            }
            Message::Signal(signo) => self.signal(signo),
            // Hello, Open*, and what only the server sends: nothing to do.
            _ => {}
        }
    }

    fn input_open(&self) -> bool {
        match &self.stdio {
            Stdio::Pty { .. } => true,
            Stdio::Pipes { stdin, .. } => stdin.is_some(),
        }
    }

    /// Writes queued input until the command's side would block; closes the
    /// command's stdin after the client's EOF (pipes; a terminal has no EOF
    /// of its own to pass on, the client sends ^D as data).
    fn write_input(&mut self) {
        let fd = match &self.stdio {
            Stdio::Pty { master, .. } => master.as_fd(),
            Stdio::Pipes {
                stdin: Some(fd), ..
            } => fd.as_fd(),
            Stdio::Pipes { stdin: None, .. } => {
                self.input.clear();
                return;
            }
        };
        let mut done = 0;
        let mut broken = false;
        while done < self.input.len() {
            match sys::write(fd, &self.input[done..]) {
                Ok(n) => done += n,
                Err(Errno::EAGAIN) => break,
                // EPIPE: the command closed its stdin; EIO: no slave left.
                Err(_) => {
                    done = self.input.len();
                    broken = true;
                }
            }
        }
        self.input.drain(..done);
        if broken || (self.input.is_empty() && self.input_eof) {
            if let Stdio::Pipes { stdin, .. } = &mut self.stdio {
                *stdin = None;
            }
        }
    }

    /// `Signal` from the client: to the terminal's foreground process group,
    /// or to the command's process group.
    fn signal(&self, signo: i32) {
        let Ok(signal) = Signal::try_from(signo) else {
            return;
        };
        let group = match &self.stdio {
            Stdio::Pty { master, .. } => match nix::unistd::tcgetpgrp(master) {
                Ok(pgrp) if pgrp.as_raw() > 0 => pgrp.as_raw(),
                _ => self.pid.as_raw(),
            },
            Stdio::Pipes { .. } => self.pid.as_raw(),
        };
        let _ = nix::sys::signal::kill(Pid::from_raw(-group), signal);
    }

    /// TERM/INT/HUP reached the helper (the container is stopping, or
    /// someone signalled it): a terminal session is hung up, a piped command
    /// gets the signal (it may have got it already from init's kill(-1)).
    fn on_stop_signal(&self, signo: i32) {
        match self.stdio {
            Stdio::Pty { .. } => self.hang_up(),
            Stdio::Pipes { .. } => self.signal(signo),
        }
    }

    /// SIGHUP and SIGCONT to the command's process group (it leads its own
    /// session, so that is the shell and its foreground job).
    fn hang_up(&self) {
        if self.reaped {
            return;
        }
        let group = Pid::from_raw(-self.pid.as_raw());
        let _ = nix::sys::signal::kill(group, Signal::SIGHUP);
        let _ = nix::sys::signal::kill(group, Signal::SIGCONT);
    }

    /// Reaps the command (its pidfd is readable) and returns its exit code.
    fn wait(&mut self) -> i32 {
        loop {
            match sys::waitpid_status(self.pid) {
                Ok(status) => {
                    self.reaped = true;
                    if let Some(code) = process::exit_code(status) {
                        return code;
                    }
                }
                Err(_) => {
                    self.reaped = true;
                    return crate::init::UNKNOWN_STATUS;
                }
            }
        }
    }
}

/// Who and where a session's command runs, and its environment: the
/// request's options over the container's `defaults`, `base` under the
/// request's variables. Without a working directory the command starts
/// in the user's home.
fn launch(
    options: &SessionOptions,
    defaults: &Defaults,
    base: &[CString],
) -> Result<(Launch, Vec<CString>), HelperError> {
    let text = |b: &[u8]| (!b.is_empty()).then(|| String::from_utf8_lossy(b).into_owned());
    let user = text(&options.user).or_else(|| defaults.user.clone());
    let workdir = text(&options.workdir).or_else(|| defaults.workdir.clone());
    let mut launch = Launch::prepare(user.as_deref(), workdir.as_deref())
        .map_err(|e| HelperError::User(e.to_string()))?;
    if let Some(dir) = &workdir {
        if !std::path::Path::new(dir).is_dir() {
            return Err(HelperError::User(format!(
                "working directory {dir}: no such directory in the container"
            )));
        }
    }
    let mut env: Vec<CString> = base.to_vec();
    // A session's own user gets its own HOME, unless it sets one.
    let own_home = !options.user.is_empty() && !options.env.iter().any(|v| v.starts_with(b"HOME="));
    if own_home {
        env.retain(|e| !e.to_bytes().starts_with(b"HOME="));
    }
    for var in &options.env {
        let key_len = var.iter().position(|&b| b == b'=').unwrap_or(var.len());
        let mut key = var[..key_len].to_vec();
        key.push(b'=');
        env.retain(|e| !e.to_bytes().starts_with(&key));
        env.extend(CString::new(var.clone()).ok());
    }
    let env = launch.env_with_home(&env);
    if launch.workdir.is_none() {
        launch.home = Some(launch.identity.as_ref().map_or(c"/root".to_owned(), |id| {
            CString::new(id.home.clone()).unwrap_or_else(|_| c"/".to_owned())
        }));
    }
    Ok((launch, env))
}

/// Starts the command a request asks for, with `base` and the request's
/// TERM as its environment.
fn start(request: &Message, base: &[CString], defaults: &Defaults) -> Result<Command, HelperError> {
    match request {
        Message::OpenPty {
            rows,
            cols,
            term,
            argv,
            options,
        } => {
            let (launch, base) = launch(options, defaults, base)?;
            let (master, slave) = open_pty(*rows, *cols)?;
            let term = (!term.is_empty()).then(|| OsStr::from_bytes(term));
            let env = process::child_env(&base, term);
            let argv = if argv.is_empty() {
                login_shell()
            } else {
                cstrings(argv)?
            };
            let raw = slave.as_raw_fd();
            let (pid, exec_error) = spawn(&argv, &env, [raw, raw, raw], true, &launch)?;
            drop(slave);
            set_nonblocking(master.as_fd())?;
            Command::started(pid, exec_error, &argv, Stdio::Pty { master, eof: false })
        }
        Message::OpenPipes { argv, options } => {
            let (launch, base) = launch(options, defaults, base)?;
            let argv = cstrings(argv)?;
            let (in_r, in_w) = pipe()?;
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            let env = process::child_env(&base, None);
            let (pid, exec_error) = spawn(
                &argv,
                &env,
                [in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()],
                false,
                &launch,
            )?;
            drop((in_r, out_w, err_w));
            for fd in [&in_w, &out_r, &err_r] {
                set_nonblocking(fd.as_fd())?;
            }
            Command::started(
                pid,
                exec_error,
                &argv,
                Stdio::Pipes {
                    stdin: Some(in_w),
                    stdout: Some(out_r),
                    stderr: Some(err_r),
                },
            )
        }
        _ => Err(HelperError::Refused(
            "session protocol: expected an open request",
        )),
    }
}

impl Command {
    fn started(
        pid: Pid,
        exec_error: Option<Errno>,
        argv: &[CString],
        stdio: Stdio,
    ) -> Result<Command, HelperError> {
        if let Some(e) = exec_error {
            // The child exited with 127/126; reap it so it is not left to init.
            let _ = sys::waitpid_status(pid);
            let program = argv
                .first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(HelperError::Exec(program, e));
        }
        let pidfd = sys::pidfd_open(pid).map_err(failed("open a pidfd for the command"))?;
        Ok(Command {
            pid,
            pidfd,
            stdio,
            input: Vec::new(),
            input_eof: false,
            reaped: false,
        })
    }
}

/// Root's login shell: `/bin/bash -l` when the container has bash, else
/// `/bin/sh -l`.
fn login_shell() -> Vec<CString> {
    let bash = c"/bin/bash";
    let has_bash = nix::unistd::access(bash, nix::unistd::AccessFlags::X_OK).is_ok();
    let shell = if has_bash { bash } else { process::SHELL };
    vec![shell.to_owned(), c"-l".to_owned()]
}

fn cstrings(argv: &[Vec<u8>]) -> Result<Vec<CString>, HelperError> {
    if argv.is_empty() {
        return Err(HelperError::Refused("empty command"));
    }
    argv.iter()
        .map(|a| CString::new(a.clone()))
        .collect::<Result<_, _>>()
        .map_err(|_| HelperError::Refused("the command contains a nul byte"))
}

/// The program to execute: argv[0] itself when it holds a '/', else the
/// first match in `path` (else argv[0], and execve reports ENOENT).
fn resolve(program: &CStr, path: &str) -> CString {
    let bytes = program.to_bytes();
    if bytes.contains(&b'/') {
        return program.to_owned();
    }
    process::find_in_path(bytes, path).unwrap_or_else(|| program.to_owned())
}

/// Forks the command with `stdio` as its fds 0-2 and nothing else open, in a
/// new session (with `ctty`, fd 0 becomes its controlling terminal), in
/// the directory and as the user of `launch`, with signal dispositions and mask back to the defaults. An execve
/// failure comes back through a close-on-exec pipe.
fn spawn(
    argv: &[CString],
    env: &[CString],
    stdio: [RawFd; 3],
    ctty: bool,
    launch: &Launch,
) -> Result<(Pid, Option<Errno>), HelperError> {
    let path = process::path_of(env);
    let program = resolve(&argv[0], path);
    // Built before fork: the child only makes async-signal-safe calls.
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    // `sh -c` of plain words runs them directly (see
    // `process::direct_command`), falling back to the shell.
    let direct = match argv {
        [sh, dash_c, cmd] if sh.as_c_str() == process::SHELL && dash_c.as_c_str() == c"-c" => {
            process::DirectExec::prepare(cmd, path)
        }
        _ => None,
    };
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let (report_r, report_w) = pipe()?;
    // SAFETY: the helper is single-threaded; the child only makes
    // async-signal-safe calls before execve or _exit.
    match unsafe { fork() }.map_err(failed("fork the command"))? {
        ForkResult::Child => {
            drop(report_r);
            exec_child(
                direct.as_ref().map(process::DirectExec::parts),
                &program,
                &argv_ptrs,
                &env_ptrs,
                stdio,
                ctty,
                launch,
                report_w.as_raw_fd(),
            )
        }
        ForkResult::Parent { child } => {
            drop(report_w);
            let mut buf = [0u8; 4];
            let mut got = 0;
            while got < buf.len() {
                match sys::read(report_r.as_fd(), &mut buf[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) => return Err(HelperError::Sys("read the exec pipe", e)),
                }
            }
            let exec_error = (got == buf.len()).then(|| Errno::from_raw(i32::from_ne_bytes(buf)));
            Ok((child, exec_error))
        }
    }
}

/// The child side of [`spawn`]; never returns. `direct` is tried before
/// `program`.
// Everything is prepared before fork and handed over as is: bundling it
// into a struct would only move the list.
#[allow(clippy::too_many_arguments)]
fn exec_child(
    direct: Option<(&CStr, &[*const libc::c_char])>,
    program: &CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    stdio: [RawFd; 3],
    ctty: bool,
    launch: &Launch,
    report: RawFd,
) -> ! {
    signals::reset_for_child();
    // SAFETY: only raw system calls on descriptors and NUL-terminated
    // strings that the parent keeps alive across fork; failures of setsid
    // (cannot happen: a forked child leads no group) and TIOCSCTTY leave
    // the command without a terminal, which is checked by the tests rather
    // than fatal here.
    unsafe {
        libc::setsid();
        if ctty {
            libc::ioctl(stdio[0], libc::TIOCSCTTY, 0);
        }
        for (target, &fd) in stdio.iter().enumerate() {
            libc::dup2(fd, target as libc::c_int);
        }
        // Everything from 3 up closes at exec (the report pipe only then):
        // the command gets fds 0-2 and nothing else.
        let _ = sys::close_range_cloexec(3);
    }
    // The user and the directory (see `launch`): a failure is reported as
    // one of execve is, with 126.
    let failed = launch.apply().err().map(|(_, e)| e as i32);
    // SAFETY: as above; execve gets NUL-terminated strings and
    // null-terminated arrays the parent keeps alive across fork.
    unsafe {
        if let Some(errno) = failed {
            let bytes = errno.to_ne_bytes();
            libc::write(report, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(126)
        }
        if let Some((direct_program, direct_argv)) = direct {
            libc::execve(direct_program.as_ptr(), direct_argv.as_ptr(), envp.as_ptr());
        }
        libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    let errno = Errno::last_raw();
    let code = if errno == libc::ENOENT { 127 } else { 126 };
    let bytes = errno.to_ne_bytes();
    // SAFETY: write of a stack buffer and _exit are async-signal-safe.
    unsafe {
        libc::write(report, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(code)
    }
}

/// A new pseudo-terminal of the container's devpts, with its window size
/// set before anything runs on it (see [`sys::open_pty_slave`]).
fn open_pty(rows: u16, cols: u16) -> Result<(OwnedFd, OwnedFd), HelperError> {
    let master = sys::open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(failed("open /dev/ptmx"))?;
    set_window_size(master.as_fd(), rows, cols);
    let slave = sys::open_pty_slave(master.as_fd()).map_err(|(op, e)| HelperError::Sys(op, e))?;
    Ok((master, slave))
}

/// TIOCSWINSZ; a size of 0 (a client without a terminal) leaves it alone.
/// On a change the kernel sends SIGWINCH to the foreground process group.
fn set_window_size(master: BorrowedFd<'_>, rows: u16, cols: u16) {
    if rows == 0 || cols == 0 {
        return;
    }
    let _ = sys::set_window_size(master, rows, cols);
}

fn pipe() -> Result<(OwnedFd, OwnedFd), HelperError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(failed("create a pipe"))
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<(), HelperError> {
    sys::set_nonblocking(fd).map_err(failed("make a descriptor non-blocking"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::CHILD_PATH;

    #[test]
    fn programs_are_found_in_path_unless_given_with_a_slash() {
        assert_eq!(resolve(c"/bin/sh", CHILD_PATH).as_c_str(), c"/bin/sh");
        assert_eq!(resolve(c"./x", CHILD_PATH).as_c_str(), c"./x");
        let sh = resolve(c"sh", CHILD_PATH);
        assert!(sh.to_bytes().ends_with(b"/sh") && sh.to_bytes().starts_with(b"/"));
        // Not found: left as is, and execve reports ENOENT (exit 127).
        assert_eq!(
            resolve(c"no-such-program-xd", CHILD_PATH).as_c_str(),
            c"no-such-program-xd"
        );
        // The container's PATH is the one searched.
        assert_eq!(resolve(c"sh", "/nonexistent").as_c_str(), c"sh");
    }

    #[test]
    fn commands_must_be_non_empty_without_nul() {
        assert!(matches!(cstrings(&[]), Err(HelperError::Refused(_))));
        assert!(matches!(
            cstrings(&[b"a\0b".to_vec()]),
            Err(HelperError::Refused(_))
        ));
        let argv = cstrings(&[b"/bin/sh".to_vec(), b"-c".to_vec(), b"\xff".to_vec()])
            .expect("any bytes but nul");
        assert_eq!(argv.len(), 3);
    }

    #[test]
    fn login_shell_is_bash_or_sh_with_l() {
        let argv = login_shell();
        assert!(argv[0].as_c_str() == c"/bin/bash" || argv[0].as_c_str() == process::SHELL);
        assert_eq!(argv[1].as_c_str(), c"-l");
    }

    #[test]
    fn messages() {
        assert_eq!(
            HelperError::Exec("/bin/zsh".into(), Errno::ENOENT).to_string(),
            "exec /bin/zsh: no such file or directory"
        );
        assert_eq!(
            HelperError::Sys("open /dev/ptmx", Errno::EACCES).to_string(),
            "open /dev/ptmx: permission denied"
        );
    }
}
