//! Files of a running container, copied to and from the host (`putfile`,
//! `getfile`, Docker's `cp`): every container path is resolved inside the
//! container's root through its init's `/proc/PID/root`
//! ([`crate::fsutil::inroot`]), never on the host; files made in a
//! `--userns` container are made as its root.

use std::path::Path;

use super::LifecycleError;
use crate::container::config::UsernsIds;
use crate::container::subids::IdShift;
use crate::container::ContainerError;
use crate::fsutil::copy::CopyStats;
use crate::fsutil::fsids::AsContainerRoot;
use crate::fsutil::inroot::{self, Direction, InRootError, Root, Source, Spot};
use crate::names::Name;
use crate::runtime::{Runtime, RuntimeError};

/// The root of running (or paused) container `name`, and the host ids of
/// its root (`--userns`).
pub fn container_root(
    rt: &Runtime,
    name: &Name,
) -> Result<(Root, Option<UsernsIds>), LifecycleError> {
    if !rt.containers.exists(name) {
        return Err(ContainerError::NotFound(name.to_string()).into());
    }
    let ids = rt.containers.config(name)?.security.userns;
    // A paused container's files are there all the same: no process of
    // it takes part in a copy.
    let Some(pid) = rt.status_releasing_leftovers(name)?.pid() else {
        return Err(RuntimeError::NotRunning(name.to_string()).into());
    };
    let still_running = || {
        rt.status_releasing_leftovers(name)
            .is_ok_and(|s| s.pid() == Some(pid))
    };
    let root =
        Root::of_process(Path::new("/proc"), pid, still_running).map_err(|e| match e.errno() {
            Some(nix::errno::Errno::ENOENT | nix::errno::Errno::ESRCH) => {
                LifecycleError::from(RuntimeError::NotRunning(name.to_string()))
            }
            _ => LifecycleError::ContainerRoot {
                name: name.to_string(),
                source: e,
            },
        })?;
    Ok((root, ids))
}

/// Takes the ids of container `name`'s root (`--userns`) until dropped,
/// so that files made in it are its root's.
pub fn as_container_root(
    name: &Name,
    ids: Option<UsernsIds>,
) -> Result<Option<AsContainerRoot>, LifecycleError> {
    AsContainerRoot::enter(ids).map_err(|errno| LifecycleError::ContainerRootIds {
        name: name.to_string(),
        errno,
    })
}

fn in_container(name: &Name, op: &'static str) -> impl FnOnce(InRootError) -> LifecycleError {
    let name = name.to_string();
    move |source| LifecycleError::InContainer { name, op, source }
}

/// Copies host file or tree `src` to `dst` in running container `name`
/// (into `dst` when it is a directory).
pub fn put_file(
    rt: &Runtime,
    name: &Name,
    src: &Path,
    dst: &Path,
) -> Result<CopyStats, LifecycleError> {
    let (root, ids) = container_root(rt, name)?;
    let _as_root = as_container_root(name, ids)?;
    let stats = (|| {
        let source = Source::on_host(src)?;
        let spot = root.locate(dst)?;
        inroot::copy(&source, &spot, Direction::IntoContainer, IdShift(ids))
    })()
    .map_err(in_container(name, "putfile"))?;
    crate::logging::info(&format!(
        "container {name}: putfile {} -> {}: {stats:?}",
        src.display(),
        dst.display()
    ));
    Ok(stats)
}

/// Copies file or tree `src` of running container `name` to `dst` on the
/// host (into `dst` when it is a directory).
pub fn get_file(
    rt: &Runtime,
    name: &Name,
    src: &Path,
    dst: &Path,
) -> Result<CopyStats, LifecycleError> {
    let (root, ids) = container_root(rt, name)?;
    let stats = (|| {
        let source = Source::in_root(&root, src)?;
        let spot = Spot::on_host(dst)?;
        inroot::copy(&source, &spot, Direction::OutOfContainer, IdShift(ids))
    })()
    .map_err(in_container(name, "getfile"))?;
    crate::logging::info(&format!(
        "container {name}: getfile {} -> {}: {stats:?}",
        src.display(),
        dst.display()
    ));
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;
    use std::error::Error as _;

    #[test]
    fn a_container_root_error_keeps_its_cause_and_lowercase_words() {
        let e = LifecycleError::ContainerRoot {
            name: "web".into(),
            source: InRootError::Sys {
                op: "open",
                side: inroot::Side::Container,
                path: "/".into(),
                errno: Errno::EACCES,
            },
        };
        let cause = e.source().and_then(|s| s.downcast_ref::<InRootError>());
        assert_eq!(cause.and_then(InRootError::errno), Some(Errno::EACCES));
        let e = LifecycleError::ContainerRootIds {
            name: "web".into(),
            errno: Errno::EPERM,
        };
        assert_eq!(
            e.to_string(),
            "container web: take the ids of its root: operation not permitted"
        );
    }
}
