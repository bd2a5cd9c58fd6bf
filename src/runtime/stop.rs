//! Stopping a running (or paused) container: SIGTERM (xdockerinit's
//! orderly stop: TERM to all, grace period, KILL) or SIGKILL through a
//! pidfd, so that a reused PID is never signalled, then releasing what it
//! held. A paused container is signalled first and thawed then.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use xdockerinit::sys;

use crate::container::state::process_start_time;
use crate::container::{ContainerError, Status};
use crate::names::Name;

use super::{step, Runtime, RuntimeError, StopMode, GRACE_SECONDS};

impl Runtime {
    /// Stops a running or paused container and releases what it held. A
    /// container that is not running is an error, unless `force`.
    pub fn stop(&self, name: &Name, mode: StopMode, force: bool) -> Result<(), RuntimeError> {
        self.stop_within(name, mode, force, None)
    }

    /// [`Runtime::stop`], a shutdown given `wait` (instead of the grace
    /// period and a margin) before init is killed (`docker stop -t`).
    pub fn stop_within(
        &self,
        name: &Name,
        mode: StopMode,
        force: bool,
        wait: Option<Duration>,
    ) -> Result<(), RuntimeError> {
        let _lock = self.containers.lock(name)?;
        // A broken container (config missing or unreadable) is stopped all
        // the same: what runs is the kernel's to say.
        if !self.containers.present(name) {
            return Err(ContainerError::NotFound(name.to_string()).into());
        }
        // RunState::status asks /proc only: a paused container runs there.
        let state = self
            .containers
            .run_state(name)?
            .filter(|s| s.status(Path::new("/proc")) != Status::Stopped);
        let Some(state) = state else {
            self.release(name)?;
            return if force {
                Ok(())
            } else {
                Err(RuntimeError::NotRunning(name.to_string()))
            };
        };
        let (pid, start_time) = (state.pid, state.start_time);
        let pidfd = match sys::pidfd_open(Pid::from_raw(pid)) {
            Ok(fd) => fd,
            Err(_) => return self.release(name),
        };
        // The pidfd pins this very process: check it is still ours.
        if process_start_time(Path::new("/proc"), pid) != Some(start_time) {
            return self.release(name);
        }
        let (signal, wait) = match mode {
            StopMode::Shutdown => (
                Signal::SIGTERM,
                wait.unwrap_or(Duration::from_secs(GRACE_SECONDS + 3)),
            ),
            StopMode::Kill => (Signal::SIGKILL, Duration::from_secs(5)),
        };
        sys::pidfd_send_signal(&pidfd, signal).map_err(step(name, "signal"))?;
        // Paused: init takes its signal once thawed, before it runs
        // another instruction of its own.
        self.thaw_if_frozen(name, &state)?;
        if !sys::wait_readable(&pidfd, wait) {
            sys::pidfd_send_signal(&pidfd, Signal::SIGKILL).map_err(step(name, "signal"))?;
            if !sys::wait_readable(&pidfd, Duration::from_secs(5)) {
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

impl Runtime {
    /// Sends `signal` to the init of running container `name` (through a
    /// pidfd: a reused PID is never signalled). xdockerinit passes HUP,
    /// USR1 and USR2 on to the main process; TERM and INT begin its
    /// orderly stop; KILL ends the container at once.
    pub fn signal(&self, name: &Name, signal: Signal) -> Result<(), RuntimeError> {
        if !self.containers.present(name) {
            return Err(ContainerError::NotFound(name.to_string()).into());
        }
        let state = self
            .containers
            .run_state(name)?
            .filter(|s| s.status(Path::new("/proc")) != Status::Stopped)
            .ok_or_else(|| RuntimeError::NotRunning(name.to_string()))?;
        let pidfd = sys::pidfd_open(Pid::from_raw(state.pid))
            .map_err(|_| RuntimeError::NotRunning(name.to_string()))?;
        if process_start_time(Path::new("/proc"), state.pid) != Some(state.start_time) {
            return Err(RuntimeError::NotRunning(name.to_string()));
        }
        sys::pidfd_send_signal(&pidfd, signal).map_err(step(name, "signal"))
    }
}
