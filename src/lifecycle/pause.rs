//! `pause` and `continue`: every process of a running container frozen
//! where it is, and let go on again (the cgroup freezer, see
//! `runtime::freeze`). A paused container keeps its memory, files and
//! network; `shutdown`, `kill` and `destroy -h` take it as it is.

use super::LifecycleError;
use crate::container::ContainerError;
use crate::names::Name;
use crate::runtime::Runtime;

/// Pauses running container `name` under its lock; returns the pid of its
/// init. A paused, stopped or missing container is an error.
pub fn pause(rt: &Runtime, name: &Name) -> Result<i32, LifecycleError> {
    let _lock = locked(rt, name)?;
    Ok(rt.freeze(name)?)
}

/// Continues paused container `name` under its lock; returns the pid of
/// its init. A running, stopped or missing container is an error.
pub fn resume(rt: &Runtime, name: &Name) -> Result<i32, LifecycleError> {
    let _lock = locked(rt, name)?;
    Ok(rt.thaw(name)?)
}

/// The lock of an existing container.
fn locked(rt: &Runtime, name: &Name) -> Result<crate::home::ObjectLock, LifecycleError> {
    if !rt.containers.exists(name) {
        return Err(ContainerError::NotFound(name.to_string()).into());
    }
    Ok(rt.containers.lock(name)?)
}
