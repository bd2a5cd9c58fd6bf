//! `destroy`: a stopped container goes, with whatever it may still hold
//! on the host (cgroup, netns name, veth and rules); asked to, it is shut
//! down first.

use super::LifecycleError;
use crate::container::Status;
use crate::names::Name;
use crate::runtime::{Runtime, RuntimeError, StopMode};

/// `destroy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestroyRequest {
    pub name: Name,
    /// Shut it down first (`-h`).
    pub shutdown: bool,
    /// A container that is already gone is no error (`-f`).
    pub force: bool,
}

/// What `destroy` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destroyed {
    Destroyed,
    /// `force`, and there was no such container.
    AlreadyGone,
}

/// Destroys a container.
pub fn destroy(rt: &Runtime, req: &DestroyRequest) -> Result<Destroyed, LifecycleError> {
    let name = &req.name;
    if req.force && !rt.containers.present(name) {
        return Ok(Destroyed::AlreadyGone);
    }
    if req.shutdown {
        match rt.stop(name, StopMode::Shutdown, false) {
            Ok(()) | Err(RuntimeError::NotRunning(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let _lock = rt.containers.lock(name)?;
    if let Status::Running { pid } = rt.containers.status(name)? {
        return Err(LifecycleError::Running {
            name: name.to_string(),
            pid,
            hint: "shut it down first, or use -h",
        });
    }
    rt.release(name)?;
    rt.forget(name)?;
    rt.containers.destroy(name)?;
    crate::logging::info(&format!("container {name}: destroyed"));
    Ok(Destroyed::Destroyed)
}
