//! Pausing and continuing a running container: its cgroup's freezer stops
//! every process of it where it is, and lets them go on. Whether a
//! container is paused is the freezer's word, read at every look, never a
//! flag of ours: a pause cut short by `kill -9`, or a freezer thawed by
//! hand, shows as the kernel has it.

use std::path::Path;

use crate::cgroups::{CgroupError, FreezerState};
use crate::container::{RunState, Status};
use crate::names::Name;

use super::{Runtime, RuntimeError};

impl Runtime {
    /// The kernel's word on a container: running, paused or stopped. What
    /// a stopped one left behind stays (see
    /// [`Runtime::status_releasing_leftovers`]).
    pub fn status(&self, name: &Name) -> Result<Status, RuntimeError> {
        Ok(match self.containers.run_state(name)? {
            Some(state) => self.status_of(name, &state),
            None => Status::Stopped,
        })
    }

    /// The status of a container whose state file says `state`.
    pub(super) fn status_of(&self, name: &Name, state: &RunState) -> Status {
        match state.status(Path::new("/proc")) {
            Status::Running { pid } if self.frozen(name, state) => Status::Paused { pid },
            other => other,
        }
    }

    /// True when the freezer of the container's group is not thawed. A
    /// freezer that cannot be read (no hierarchy, a group from before
    /// there was one) froze nothing.
    fn frozen(&self, name: &Name, state: &RunState) -> bool {
        self.cgroups()
            .ok()
            .and_then(|c| c.freezer_state(group(name, state)).ok())
            .is_some_and(|s| s != FreezerState::Thawed)
    }

    /// Pauses running container `name`: every process of it is frozen
    /// once this returns (the pid of its init). The caller holds the
    /// container's lock. A paused or stopped container is an error.
    pub fn freeze(&self, name: &Name) -> Result<i32, RuntimeError> {
        let state = self.live_state(name)?;
        let status = self.status_of(name, &state);
        match status.pid() {
            Some(pid) if status.can_pause() => {
                self.cgroups()?
                    .freeze(group(name, &state))
                    .map_err(freezer_error(name, "pause"))?;
                crate::logging::info(&format!("container {name}: paused"));
                Ok(pid)
            }
            Some(pid) => Err(RuntimeError::AlreadyPaused(name.to_string(), pid)),
            None => Err(RuntimeError::NotRunning(name.to_string())),
        }
    }

    /// Continues paused container `name` (the pid of its init). The
    /// caller holds the container's lock. A running or stopped container
    /// is an error.
    pub fn thaw(&self, name: &Name) -> Result<i32, RuntimeError> {
        let state = self.live_state(name)?;
        let status = self.status_of(name, &state);
        match status.pid() {
            Some(pid) if status.can_continue() => {
                self.cgroups()?
                    .thaw(group(name, &state))
                    .map_err(freezer_error(name, "continue"))?;
                crate::logging::info(&format!("container {name}: continued"));
                Ok(pid)
            }
            Some(pid) => Err(RuntimeError::NotPaused(name.to_string(), pid)),
            None => Err(RuntimeError::NotRunning(name.to_string())),
        }
    }

    /// Thaws a container's group when frozen: for a stop, once its init
    /// has its signal (a frozen task takes it when thawed; in a v1
    /// freezer not even SIGKILL acts before), so that no process of a
    /// paused container runs on for a moment unsignalled.
    pub(super) fn thaw_if_frozen(&self, name: &Name, state: &RunState) -> Result<(), RuntimeError> {
        if self.frozen(name, state) {
            self.cgroups()?
                .thaw(group(name, state))
                .map_err(freezer_error(name, "continue"))?;
            crate::logging::info(&format!("container {name}: thawed to stop"));
        }
        Ok(())
    }

    /// The state of a container that exists (running or not).
    fn live_state(&self, name: &Name) -> Result<RunState, RuntimeError> {
        if !self.containers.exists(name) {
            return Err(crate::container::ContainerError::NotFound(name.to_string()).into());
        }
        self.containers
            .run_state(name)?
            .ok_or_else(|| RuntimeError::NotRunning(name.to_string()))
    }
}

/// The container's cgroup as its boot recorded it (a damaged state: its
/// name, as every boot names it).
fn group<'a>(name: &'a Name, state: &'a RunState) -> &'a str {
    state.cgroup.as_deref().unwrap_or(name.as_str())
}

/// A freezer failure of container `name` in `step`; a group that is not
/// there while the container runs was made before xdocker gave every
/// container a freezer group.
fn freezer_error<'a>(
    name: &'a Name,
    step: &'static str,
) -> impl FnOnce(CgroupError) -> RuntimeError + 'a {
    move |source| match source {
        CgroupError::Missing { .. } => RuntimeError::NoFreezerGroup {
            name: name.to_string(),
            source,
        },
        source => RuntimeError::Step {
            name: name.to_string(),
            step,
            source: Box::new(source),
        },
    }
}
