//! The user namespace of a `--userns` container. It is made before the
//! container by a short-lived holder process, together with the network
//! namespace (so the user namespace owns it and root inside may configure
//! it), and mapped by host root: uids and gids 0..65535 inside are the
//! container's slot of host ids. The container's first process builds its
//! mounts as host root, then enters the namespace and makes its mount, UTS,
//! IPC and cgroup namespaces from inside, so they are owned by it too and
//! every mount made before is locked (LXC's unprivileged containers,
//! crun's idmapped mounts).

use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::{Gid, Pid, Uid};

use xdockerinit::sys::{self, IoText};

use crate::container::config::UsernsIds;
use crate::container::subids::IDS_PER_CONTAINER;

/// A step of making or entering a user namespace that failed, and its
/// errno (kept for the parent).
#[derive(Debug, thiserror::Error)]
#[error("{what}: {}", IoText(.error))]
pub struct UsernsError {
    pub what: String,
    pub error: std::io::Error,
}

/// The error of step `what`, from an errno or an I/O error.
fn failed<E: Into<std::io::Error>>(what: impl Into<String>) -> impl FnOnce(E) -> UsernsError {
    move |e| UsernsError {
        what: what.into(),
        error: e.into(),
    }
}

/// A process that holds a new user (and network) namespace while the
/// container is wired; killed when dropped.
#[derive(Debug)]
pub struct NsHolder {
    pid: Pid,
    pub userns: OwnedFd,
    pub netns: Option<OwnedFd>,
}

impl NsHolder {
    /// Makes the namespaces and writes the id maps.
    pub fn create(ids: UsernsIds, with_netns: bool) -> Result<Self, UsernsError> {
        let mut flags = CloneFlags::CLONE_NEWUSER;
        if with_netns {
            flags |= CloneFlags::CLONE_NEWNET;
        }
        let pid = sys::namespace_holder(flags).map_err(failed("clone3"))?;
        let reap = Reaper(pid);
        let proc = format!("/proc/{pid}");
        for (file, start) in [("uid_map", ids.uid), ("gid_map", ids.gid)] {
            std::fs::write(
                format!("{proc}/{file}"),
                format!("0 {start} {IDS_PER_CONTAINER}\n"),
            )
            .map_err(failed(format!("write {file}")))?;
        }
        let open = |ns: &str| {
            std::fs::File::open(format!("{proc}/ns/{ns}"))
                .map(OwnedFd::from)
                .map_err(failed(format!("open {ns} namespace")))
        };
        let userns = open("user")?;
        let netns = with_netns.then(|| open("net")).transpose()?;
        std::mem::forget(reap);
        Ok(Self { pid, userns, netns })
    }

    /// The holder's PID, to name its network namespace by.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }
}

/// Kills and reaps the holder.
struct Reaper(Pid);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.0, None);
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        drop(Reaper(self.pid));
    }
}

/// Joins the network namespace made by the holder (still as host root).
pub fn join_netns(netns: &OwnedFd) -> Result<(), UsernsError> {
    nix::sched::setns(netns.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(failed("join network namespace"))
}

/// Enters the user namespace as root inside, then makes the mount, UTS,
/// IPC and cgroup namespaces it owns. The mount namespace is a copy of the
/// one the mounts were made in: they are locked, root inside cannot
/// unmount them to see what they cover.
pub fn enter(userns: &OwnedFd) -> Result<(), UsernsError> {
    nix::sched::setns(userns.as_fd(), CloneFlags::CLONE_NEWUSER)
        .map_err(failed("join user namespace"))?;
    nix::unistd::setgroups(&[]).map_err(failed("setgroups"))?;
    let root_gid = Gid::from_raw(0);
    let root_uid = Uid::from_raw(0);
    nix::unistd::setresgid(root_gid, root_gid, root_gid).map_err(failed("setresgid"))?;
    nix::unistd::setresuid(root_uid, root_uid, root_uid).map_err(failed("setresuid"))?;
    nix::sched::unshare(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWCGROUP,
    )
    .map_err(failed("unshare namespaces"))
}
