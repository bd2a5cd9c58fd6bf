//! The standard streams of the `-e` main process, made once per boot so
//! that its output is logged ([`crate::log`]) and still reaches the
//! terminal or pipe `xdocker -a boot -e` was started with.
//!
//! * stdout or stderr that is not a terminal: a pipe, read by PID 1, each
//!   its own stream (what `docker run` does without `-t`).
//! * stdout that is a terminal: a pty of the container's devpts, as
//!   `docker run -t`; stderr shares it when it is the same terminal (its
//!   lines are then logged as stdout, as Docker's are). When stdin is that
//!   terminal too and we are in its foreground, the pty is the main
//!   process's stdin and controlling terminal as well, the user's terminal
//!   is put in raw mode and keys are relayed to the pty (`docker run -it`):
//!   job control, Ctrl-C and the window size work inside. Otherwise stdin
//!   is passed on as it is.
//! * stderr alone on a terminal: a pty of its own, logged as stderr.
//!
//! With `--main-tty` ([`MainStdio::prepare_terminal`]) none of this
//! looks at init's own fds 0-2: the main process gets a pty of its own
//! (stdin, stdout and stderr, logged as stdout), which PID 1 keeps and
//! shares with the clients that attach to it ([`crate::attach`]).
//!
//! The descriptors stay open in PID 1 for the whole boot: a main process
//! started again (a restart policy) is handed the same ones with
//! [`MainStdio::fds`], and its output goes to the same log.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::termios::{self, SetArg, Termios};

use crate::attach::MainTerminal;
use crate::log::{Capture, LogError, Stream, Tee};
use crate::sys;

/// Size of the pipes of stdout and stderr: a process that writes a lot
/// waits less often for PID 1 (pipe-max-size, 1 MiB, is the most an
/// unprivileged process may ask; a smaller default is kept on failure).
const PIPE_SIZE: libc::c_int = 1 << 20;

/// What could not be set up (the main process then gets init's own
/// descriptors, and its output is not logged).
pub type StdioError = (&'static str, Errno);

/// The user's terminal in raw mode; restored by [`MainStdio::restore`] or
/// on drop.
#[derive(Debug)]
struct RawTerminal {
    saved: Termios,
}

/// A pty whose window follows the size of one of init's descriptors.
#[derive(Debug)]
struct Resize {
    master: OwnedFd,
    /// 1 or 2: the user's terminal it mirrors.
    from: RawFd,
}

/// The main process's standard streams, see the module documentation.
#[derive(Debug)]
pub struct MainStdio {
    fds: [RawFd; 3],
    /// Pipe write ends and pty slaves behind `fds`.
    _owned: Vec<OwnedFd>,
    raw: Option<RawTerminal>,
    resize: Vec<Resize>,
    /// Notes for the log (how the streams were captured).
    notes: Vec<&'static str>,
}

fn std_fd(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: fds 0-2 stay open for the whole life of PID 1 (it opens
    // /dev/null for a closed one at start-up).
    unsafe { BorrowedFd::borrow_raw(fd) }
}

fn is_tty(fd: RawFd) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

/// The terminal device of a descriptor.
fn rdev(fd: RawFd) -> Option<u64> {
    nix::sys::stat::fstat(fd).ok().map(|st| st.st_rdev)
}

/// A new pty of the container's devpts (its own /dev/ptmx: init runs this
/// before anything else in the container does) with the window size of
/// `like`; the master is close-on-exec, the slave too (it is duplicated
/// onto the main process's fds).
fn open_pty(like: RawFd) -> Result<(OwnedFd, OwnedFd), StdioError> {
    let master = sys::open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ("open /dev/ptmx", e))?;
    if let Ok((rows, cols)) = sys::window_size(std_fd(like)) {
        let _ = sys::set_window_size(master.as_fd(), rows, cols);
    }
    let slave = sys::open_pty_slave(master.as_fd())?;
    Ok((master, slave))
}

/// A pipe for one output stream: (read end, write end), both close-on-exec.
fn open_pipe() -> Result<(OwnedFd, OwnedFd), StdioError> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ("create a pipe", e))?;
    // A failure keeps the default size.
    let _ = sys::set_pipe_size(w.as_fd(), PIPE_SIZE);
    Ok((r, w))
}

/// Another descriptor of the same pty master, close-on-exec.
fn dup(fd: &OwnedFd) -> Result<OwnedFd, StdioError> {
    fd.try_clone().map_err(|e| {
        (
            "duplicate the pty",
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })
}

fn add_failed(e: LogError) -> StdioError {
    (e.op, e.source)
}

impl MainStdio {
    /// The streams of the main process, their sources added to `capture`.
    pub fn prepare(capture: &mut Capture) -> Result<MainStdio, StdioError> {
        let mut stdio = MainStdio {
            fds: [0, 1, 2],
            _owned: Vec::new(),
            raw: None,
            resize: Vec::new(),
            notes: Vec::new(),
        };
        let out_tty = is_tty(1);
        let err_tty = is_tty(2);
        let shared = out_tty && err_tty && rdev(1) == rdev(2);
        if out_tty {
            let (master, slave) = open_pty(1)?;
            // Raw mode first: without it, keys are not relayed (they
            // would reach the pty as lines, twice echoed).
            let input = Self::foreground_terminal(0) && rdev(0) == rdev(1);
            stdio.raw = input.then(Self::raw_mode).and_then(Result::ok);
            if stdio.raw.is_some() {
                capture.relay_input(0, dup(&master)?).map_err(add_failed)?;
                stdio.fds[0] = slave.as_raw_fd();
            }
            stdio.fds[1] = slave.as_raw_fd();
            if shared {
                stdio.fds[2] = slave.as_raw_fd();
                stdio
                    .notes
                    .push("stderr shares the terminal of stdout: logged as stdout");
            }
            stdio.resize.push(Resize {
                master: dup(&master)?,
                from: 1,
            });
            capture
                .add(Stream::Stdout, master, true, None, Some(Tee::to(1)))
                .map_err(add_failed)?;
            stdio._owned.push(slave);
        } else {
            let (r, w) = open_pipe()?;
            stdio.fds[1] = w.as_raw_fd();
            capture
                .add(Stream::Stdout, r, false, None, Some(Tee::to(1)))
                .map_err(add_failed)?;
            stdio._owned.push(w);
        }
        if !shared {
            if err_tty {
                let (master, slave) = open_pty(2)?;
                stdio.fds[2] = slave.as_raw_fd();
                stdio.resize.push(Resize {
                    master: dup(&master)?,
                    from: 2,
                });
                capture
                    .add(Stream::Stderr, master, true, None, Some(Tee::to(2)))
                    .map_err(add_failed)?;
                stdio._owned.push(slave);
            } else {
                let (r, w) = open_pipe()?;
                stdio.fds[2] = w.as_raw_fd();
                capture
                    .add(Stream::Stderr, r, false, None, Some(Tee::to(2)))
                    .map_err(add_failed)?;
                stdio._owned.push(w);
            }
        }
        Ok(stdio)
    }

    /// The main process on a pty of its own that clients attach to
    /// (`--main-tty`), 24x80 until one says its size.
    pub fn prepare_terminal(capture: &mut Capture) -> Result<MainStdio, StdioError> {
        let master = sys::open(
            "/dev/ptmx",
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ("open /dev/ptmx", e))?;
        let _ = sys::set_window_size(master.as_fd(), 24, 80);
        let slave = sys::open_pty_slave(master.as_fd())?;
        let terminal = MainTerminal::new(dup(&master)?);
        capture
            .add_shared(Stream::Stdout, master, terminal)
            .map_err(add_failed)?;
        let fd = slave.as_raw_fd();
        Ok(MainStdio {
            fds: [fd, fd, fd],
            _owned: vec![slave],
            raw: None,
            resize: Vec::new(),
            notes: vec!["the main process has a terminal of its own (attach): logged as stdout"],
        })
    }

    /// `fd` is a terminal whose foreground process group is ours: we may
    /// read it and change its modes without being stopped (SIGTTIN/TTOU).
    fn foreground_terminal(fd: RawFd) -> bool {
        is_tty(fd)
            && nix::unistd::tcgetpgrp(std_fd(fd)).is_ok_and(|pgrp| pgrp == nix::unistd::getpgrp())
    }

    /// The user's terminal (fd 0) in raw mode: every key goes to the pty,
    /// whose own line discipline does echo, editing and signals.
    fn raw_mode() -> Result<RawTerminal, StdioError> {
        let saved = termios::tcgetattr(std_fd(0)).map_err(|e| ("read the terminal's modes", e))?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(std_fd(0), SetArg::TCSADRAIN, &raw)
            .map_err(|e| ("put the terminal in raw mode", e))?;
        Ok(RawTerminal { saved })
    }

    /// Descriptors 0, 1 and 2 of the main process (duplicated onto them in
    /// the child, see [`crate::process::spawn_shell`]).
    pub fn fds(&self) -> &[RawFd; 3] {
        &self.fds
    }

    /// What the log should say about how the streams are captured.
    pub fn notes(&self) -> &[&'static str] {
        &self.notes
    }

    /// SIGWINCH: the user's terminal changed size; the ptys follow (and
    /// the kernel tells their foreground process groups).
    pub fn window_changed(&self) {
        for r in &self.resize {
            if let Ok((rows, cols)) = sys::window_size(std_fd(r.from)) {
                let _ = sys::set_window_size(r.master.as_fd(), rows, cols);
            }
        }
    }

    /// Gives the user's terminal its modes back (at the stop).
    pub fn restore(&mut self) {
        if let Some(raw) = self.raw.take() {
            let _ = termios::tcsetattr(std_fd(0), SetArg::TCSADRAIN, &raw.saved);
        }
    }
}

impl Drop for MainStdio {
    fn drop(&mut self) {
        self.restore();
    }
}
