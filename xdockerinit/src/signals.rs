//! Signals of PID 1, handled synchronously: every catchable signal is blocked
//! and the ones init acts on are read from a signalfd in the poll loop, the
//! shape of systemd's `nspawn-stub-pid1.c` and LXC's `initutils.c`. No signal
//! handler ever runs, so nothing is async-signal-unsafe and no SIGCHLD is lost
//! between a check and a wait.
//!
//! Blocking also matters for delivery: the kernel drops signals sent to a
//! namespace's init for which it has the default disposition
//! (`SIGNAL_UNKILLABLE`, pid_namespaces(7)), but a blocked signal is always
//! queued, so SIGTERM from the host reaches the signalfd.

use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// The signals the loop reads from its signalfd.
pub const HANDLED: [Signal; 8] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPWR,
    // The user's terminal changed size: the main process's pty follows.
    Signal::SIGWINCH,
];

/// The signalfd of the loop; signals are blocked while it exists.
#[derive(Debug)]
pub struct Signals {
    fd: SignalFd,
}

/// Which setup step failed.
pub type SetupStep = &'static str;

impl Signals {
    /// Blocks every catchable signal (so the others, e.g. SIGPIPE, stay
    /// pending and harmless) and opens a non-blocking, close-on-exec signalfd
    /// for [`HANDLED`].
    pub fn block_and_open() -> Result<Signals, (SetupStep, Errno)> {
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), None)
            .map_err(|e| ("block signals", e))?;
        let mut set = SigSet::empty();
        for signal in HANDLED {
            set.add(signal);
        }
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| ("create the signalfd", e))?;
        Ok(Signals { fd })
    }

    /// Reads one pending signal; `None` when there is none left (EAGAIN).
    /// The kernel merges pending standard signals, so one SIGCHLD can stand
    /// for many exited children: the caller reaps until nothing is left.
    pub fn next(&self) -> Result<Option<libc::c_int>, Errno> {
        loop {
            match self.fd.read_signal() {
                Ok(Some(info)) => return Ok(Some(info.ssi_signo as libc::c_int)),
                Ok(None) => return Ok(None),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Gives a freshly forked child the signal state of a normal process: every
/// disposition back to the default (ignored signals survive execve, and
/// whoever started us may have ignored some) and an empty mask (the mask
/// survives execve too). Async-signal-safe: only raw system calls.
///
/// rt_sigaction is called directly because glibc's sigaction refuses its
/// reserved signals 32 and 33 (EINVAL), and glibc's own posix_spawn leaves
/// them SIG_IGN in the programs a threaded parent spawns: so an ignored
/// SIGCANCEL/SIGSETXID can reach us and would otherwise reach CMD.
pub fn reset_for_child() {
    // The kernel's struct sigaction with SIG_DFL (0), no flags, no
    // restorer and an empty mask is all zeros, whatever the field order of
    // the architecture; 4 words cover every layout.
    let default_action = [0u64; 4];
    let sigset_size = std::mem::size_of::<u64>();
    for signo in 1..=libc::SIGRTMAX() {
        if signo == libc::SIGKILL || signo == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads a kernel sigaction from a valid,
        // zeroed buffer larger than the struct, and writes no old action.
        // Failures (a signal number the kernel does not have) are harmless.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signo,
                default_action.as_ptr(),
                std::ptr::null_mut::<libc::c_void>(),
                sigset_size,
            );
        }
    }
    let empty = 0u64;
    // SAFETY: rt_sigprocmask reads an empty kernel sigset (8 bytes) from a
    // valid location and writes no old mask.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<libc::c_void>(),
            sigset_size,
        );
    }
}
