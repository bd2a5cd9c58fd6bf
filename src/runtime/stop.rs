//! Stopping a running container: SIGTERM (xdockerinit's orderly stop:
//! TERM to all, grace period, KILL) or SIGKILL through a pidfd, so that a
//! reused PID is never signalled, then releasing what it held.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::container::state::process_start_time;
use crate::container::{ContainerError, Status};
use crate::names::Name;

use super::{step, Runtime, RuntimeError, StopMode, GRACE_SECONDS};

impl Runtime {
    /// Stops a running container and releases what it held. A container
    /// that is not running is an error, unless `force`.
    pub fn stop(&self, name: &Name, mode: StopMode, force: bool) -> Result<(), RuntimeError> {
        let _lock = self.containers.lock(name)?;
        // A broken container (config missing or unreadable) is stopped all
        // the same: what runs is the kernel's to say.
        if !self.containers.present(name) {
            return Err(ContainerError::NotFound(name.to_string()).into());
        }
        let state = self.containers.run_state(name)?;
        let running = state
            .as_ref()
            .map(|s| s.status(Path::new("/proc")))
            .unwrap_or(Status::Stopped);
        let Status::Running { pid } = running else {
            self.release(name)?;
            return if force {
                Ok(())
            } else {
                Err(RuntimeError::NotRunning(name.to_string()))
            };
        };
        let start_time = state.map(|s| s.start_time).unwrap_or(0);
        let pidfd = match pidfd_open(pid) {
            Ok(fd) => fd,
            Err(_) => return self.release(name),
        };
        // The pidfd pins this very process: check it is still ours.
        if process_start_time(Path::new("/proc"), pid) != Some(start_time) {
            return self.release(name);
        }
        let (signal, wait) = match mode {
            StopMode::Shutdown => (Signal::SIGTERM, Duration::from_secs(GRACE_SECONDS + 3)),
            StopMode::Kill => (Signal::SIGKILL, Duration::from_secs(5)),
        };
        pidfd_signal(&pidfd, signal).map_err(|e| step(name, "signal")(e.to_string()))?;
        if !wait_exit(&pidfd, wait) {
            pidfd_signal(&pidfd, Signal::SIGKILL)
                .map_err(|e| step(name, "signal")(e.to_string()))?;
            if !wait_exit(&pidfd, Duration::from_secs(5)) {
                return Err(step(name, "stop")(
                    "init did not exit after SIGKILL".to_string(),
                ));
            }
        }
        // Not our child: its parent (the host's init) reaps it; wait until
        // /proc shows it gone or a zombie.
        let deadline = Instant::now() + Duration::from_secs(5);
        while process_start_time(Path::new("/proc"), pid) == Some(start_time)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.release(name)?;
        crate::logging::info(&format!("container {name}: stopped ({mode:?})"));
        Ok(())
    }
}

fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn pidfd_signal(fd: &OwnedFd, signal: Signal) -> std::io::Result<()> {
    // SAFETY: pidfd_send_signal on a valid pidfd with no siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    match r {
        0 => Ok(()),
        _ => {
            let e = std::io::Error::last_os_error();
            // Already gone: as good as stopped.
            if e.raw_os_error() == Some(libc::ESRCH) {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// Waits until the process behind `fd` exits (the pidfd becomes readable).
fn wait_exit(fd: &OwnedFd, timeout: Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // SAFETY: `fd` outlives this borrow.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) };
    let mut fds = [PollFd::new(borrowed, PollFlags::POLLIN)];
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0)
}
