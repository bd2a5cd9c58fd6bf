//! `-s logs`: a container's console log, shown as asked ([`Query`]); with
//! `follow`, until the container stops (its init's pidfd says when).

use std::os::fd::OwnedFd;

use super::LifecycleError;
use crate::container::logs::{self, Query, Sinks};
use crate::container::store::LOG_DIR;
use crate::container::{ContainerError, Status};
use crate::names::Name;
use crate::runtime::Runtime;

/// `-s logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsRequest {
    pub name: Name,
    pub query: Query,
    /// Go on with new records until the container stops.
    pub follow: bool,
}

/// A pidfd of running container `name`'s init (None: it is stopped). The
/// status is looked at again once the pidfd is open, so that a PID reused
/// in between is never followed.
fn init_pidfd(rt: &Runtime, name: &Name) -> Result<Option<OwnedFd>, LifecycleError> {
    let Status::Running { pid } = rt.status_releasing_leftovers(name)? else {
        return Ok(None);
    };
    let Ok(fd) = xdockerinit::sys::pidfd_open(nix::unistd::Pid::from_raw(pid)) else {
        return Ok(None);
    };
    match rt.status_releasing_leftovers(name)? {
        Status::Running { pid: still } if still == pid => Ok(Some(fd)),
        _ => Ok(None),
    }
}

/// Writes container `name`'s log to `sinks`.
pub fn logs(rt: &Runtime, req: &LogsRequest, sinks: &mut Sinks<'_>) -> Result<(), LifecycleError> {
    let name = &req.name;
    if !rt.containers.exists(name) {
        return Err(ContainerError::NotFound(name.to_string()).into());
    }
    let dir = rt.containers.path(name, LOG_DIR);
    let failed = |source| LifecycleError::Logs {
        name: name.to_string(),
        source,
    };
    if !req.follow {
        return logs::show(&dir, &req.query, sinks, None).map_err(failed);
    }
    let pidfd = init_pidfd(rt, name)?;
    let mut wait = |timeout| match &pidfd {
        Some(fd) => xdockerinit::sys::wait_readable(fd, timeout),
        None => true,
    };
    logs::show(&dir, &req.query, sinks, Some(&mut wait)).map_err(failed)
}
