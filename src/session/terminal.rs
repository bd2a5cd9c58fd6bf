//! The client's terminal and signals during a session, each change behind an
//! RAII guard (DESIGN habit 10, crun's `cleanup_terminalp`): raw mode is
//! undone and the signal mask restored on every way out of the session —
//! its end, an error, a panic unwinding, and SIGINT/SIGTERM/SIGHUP, which are
//! read from a signalfd in the relay loop instead of killing the process
//! with the terminal still raw.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};

/// True when `fd` is a terminal.
pub fn is_tty(fd: BorrowedFd<'_>) -> bool {
    nix::unistd::isatty(fd.as_raw_fd()).unwrap_or(false)
}

/// The window size of the terminal `fd` as (rows, cols), when it is one.
pub fn window_size(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    xdockerinit::sys::window_size(fd)
        .ok()
        .filter(|&(rows, cols)| rows > 0 && cols > 0)
}

/// The terminal in raw mode until dropped.
#[derive(Debug)]
pub struct RawMode<'fd> {
    fd: BorrowedFd<'fd>,
    saved: Termios,
}

impl<'fd> RawMode<'fd> {
    /// Puts the terminal `fd` in raw mode (cfmakeraw: no echo, no line
    /// editing, no signals from keys, no output processing): every key goes
    /// to the container's terminal, which does all of that itself.
    pub fn enter(fd: BorrowedFd<'fd>) -> nix::Result<RawMode<'fd>> {
        let saved = termios::tcgetattr(fd)?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSADRAIN, &raw)?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        // TCSADRAIN: what the container wrote last is shown in raw mode, as
        // it was meant, before the line discipline comes back.
        let _ = termios::tcsetattr(self.fd, SetArg::TCSADRAIN, &self.saved);
    }
}

/// The signals a session reads from its signalfd.
pub const SESSION_SIGNALS: [Signal; 5] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGWINCH,
];

/// [`SESSION_SIGNALS`] blocked and readable from a signalfd until dropped;
/// the previous mask comes back then (and a signal still pending is
/// delivered as it would have been without the session).
#[derive(Debug)]
pub struct Signals {
    fd: SignalFd,
    old: SigSet,
}

impl Signals {
    /// Blocks the session's signals and opens the signalfd.
    pub fn block() -> nix::Result<Signals> {
        let mut set = SigSet::empty();
        for s in SESSION_SIGNALS {
            set.add(s);
        }
        let mut old = SigSet::empty();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))?;
        match SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
            Ok(fd) => Ok(Signals { fd, old }),
            Err(e) => {
                let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
                Err(e)
            }
        }
    }

    /// The next pending signal, if any.
    pub fn pending(&mut self) -> Option<i32> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Some(info.ssi_signo as i32),
            _ => None,
        }
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        // Pending WINCH would otherwise be delivered with its default
        // disposition (ignored); pending TERM/INT/HUP were acted on already
        // by the loop. Drain, then restore the mask.
        while self.pending().is_some() {}
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}
