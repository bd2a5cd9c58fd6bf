//! Running containers: boot (a pure [`plan::BootPlan`] carried out by the
//! parent in `boot.rs` and the child in `child.rs`), stop (shutdown or
//! kill), and releasing whatever a stopped container still holds — however
//! it stopped.

mod boot;
pub mod caps;
mod child;
mod freeze;
pub mod id_slots;
pub mod idmap;
pub mod init_binary;
pub mod netns;
mod network;
pub use network::NetKind;
pub mod plan;
mod release;
mod rollback;
pub mod rootfs;
pub mod seccomp;
pub mod spawn;
mod stop;
pub mod unprivileged;
pub mod userns;

use std::path::PathBuf;

use crate::cgroups::{self, CgroupError, Cgroups};
use crate::config::Config;
use crate::container::store::EXIT_FILE;
use crate::container::{ContainerError, ContainerStore};
use crate::image::ImageStore;
use crate::names::Name;
use spawn::SpawnError;

/// Seconds xdockerinit gives processes between TERM and KILL.
pub const GRACE_SECONDS: u64 = 10;

/// Any error, kept as the source of a runtime error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Errors of running containers.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("container {0} is running (pid {1})")]
    Running(String, i32),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is already paused (pid {1})")]
    AlreadyPaused(String, i32),
    #[error("container {0} is not paused (it is running, pid {1})")]
    NotPaused(String, i32),
    #[error(
        "container {name} cannot be paused: {source} (booted by an xdocker without freezer \
         groups: shut it down and boot it again)"
    )]
    NoFreezerGroup {
        name: String,
        #[source]
        source: CgroupError,
    },
    #[error("boot container {name}: {source}")]
    Boot {
        name: String,
        #[source]
        source: SpawnError,
    },
    #[error("boot container {name}: {source}")]
    Session {
        name: String,
        #[source]
        source: crate::session::SessionError,
    },
    #[error("container {name}: image {image} not found")]
    ImageMissing { name: String, image: String },
    #[error("container {name}: volume source {path} does not exist")]
    VolumeSource { name: String, path: PathBuf },
    #[error("container {name}: {source}")]
    Network {
        name: String,
        #[source]
        source: BoxError,
    },
    #[error("container {name}: {step}: {source}")]
    Step {
        name: String,
        step: &'static str,
        #[source]
        source: BoxError,
    },
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Init(#[from] init_binary::InitBinaryError),
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
}

/// How a boot ended for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootOutcome {
    /// A host container is running in the background.
    Detached { pid: i32 },
    /// A single-process container ran its command to the end.
    Exited { code: i32 },
}

/// How to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// SIGTERM to xdockerinit: TERM to all, grace period, KILL.
    Shutdown,
    /// SIGKILL to xdockerinit: the kernel kills everything in the namespace.
    Kill,
}

/// The runtime of one home.
#[derive(Debug)]
pub struct Runtime {
    pub containers: ContainerStore,
    pub images: ImageStore,
    pub config: Config,
    /// The cgroup backend, detected on first use (once per command).
    cgroups: std::cell::OnceCell<Box<dyn Cgroups>>,
    /// `-f`: a port map may take over a host port a host socket has.
    pub force: bool,
}

/// A failed step of container `name`; the error is kept as the source (a
/// `String` for a reason of xdocker's own).
fn step<'a, E: Into<BoxError>>(
    name: &'a Name,
    step: &'static str,
) -> impl FnOnce(E) -> RuntimeError + 'a {
    move |source| RuntimeError::Step {
        name: name.to_string(),
        step,
        source: source.into(),
    }
}

/// A network failure of container `name`, from any error.
fn net_error<E: std::error::Error + Send + Sync + 'static>(
    name: &Name,
) -> impl Fn(E) -> RuntimeError + Copy + '_ {
    move |e| RuntimeError::Network {
        name: name.to_string(),
        source: Box::new(e),
    }
}

impl Runtime {
    pub fn new(containers: ContainerStore, images: ImageStore, config: Config) -> Self {
        Self {
            containers,
            images,
            config,
            cgroups: std::cell::OnceCell::new(),
            force: false,
        }
    }

    fn cgroups(&self) -> Result<&dyn Cgroups, RuntimeError> {
        if let Some(found) = self.cgroups.get() {
            return Ok(found.as_ref());
        }
        let found = cgroups::detect(&self.config.cgroups.root, &self.config.cgroups.parent)?;
        Ok(self.cgroups.get_or_init(|| found).as_ref())
    }

    /// `v1` or `v2`: the cgroup hierarchy this host has (v1 includes the
    /// hybrid layout).
    pub fn cgroup_version(&self) -> Result<&'static str, RuntimeError> {
        Ok(self.cgroups()?.version())
    }

    /// The network namespace name of a container of this home.
    pub fn netns_name(&self, name: &Name) -> String {
        netns::netns_name(self.containers.home().root(), name.as_str())
    }

    /// Memory and CPU use of a running container's cgroup (None when it is
    /// not running or has no cgroup).
    pub fn usage(&self, name: &Name) -> Option<cgroups::Usage> {
        let group = self.containers.run_state(name).ok()??.cgroup?;
        self.cgroups().ok()?.usage(&group).ok()
    }

    /// The pids of a running container's cgroup (every process of it).
    pub fn pids(&self, name: &Name) -> Result<Vec<i32>, RuntimeError> {
        let group = self
            .containers
            .run_state(name)?
            .and_then(|s| s.cgroup)
            .unwrap_or_else(|| name.to_string());
        Ok(self.cgroups()?.pids(&group)?)
    }

    /// What xdockerinit's exit record says of the last run, and when it
    /// was written; None without one (never run, or killed). One read.
    pub fn last_exit(&self, name: &Name) -> Option<LastExit> {
        use std::io::Read;
        let mut file = std::fs::File::open(self.containers.path(name, EXIT_FILE)).ok()?;
        let mut text = String::new();
        file.read_to_string(&mut text).ok()?;
        Some(LastExit {
            record: xdockerinit::exit_record::parse_record(&text)?,
            at: file.metadata().and_then(|m| m.modified()).ok(),
        })
    }

    /// The exit code xdockerinit recorded at its last stop.
    pub fn exit_code(&self, name: &Name) -> Option<i32> {
        self.last_exit(name).map(|e| e.record.code)
    }
}

/// A stopped container's last run, from its exit record.
#[derive(Debug, Clone)]
pub struct LastExit {
    pub record: xdockerinit::exit_record::Record,
    /// When the record was written: when the run ended.
    pub at: Option<std::time::SystemTime>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;
    use std::error::Error as _;

    #[test]
    fn a_failed_step_keeps_its_error_as_the_source() {
        let name: Name = "web".parse().expect("name");
        let e = step(&name, "signal")(Errno::EPERM);
        assert_eq!(
            e.to_string(),
            "container web: signal: EPERM: Operation not permitted"
        );
        let source = e.source().expect("a source");
        assert_eq!(source.downcast_ref::<Errno>(), Some(&Errno::EPERM));

        let io = std::io::Error::from(Errno::ENOSPC);
        let e = step(&name, "remove state")(io);
        let source = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(source.and_then(|s| s.raw_os_error()), Some(libc::ENOSPC));
    }

    #[test]
    fn a_network_namespace_error_keeps_its_errno() {
        let e = RuntimeError::from(netns::NetnsError {
            path: "/run/netns/nns1".into(),
            step: "bind",
            error: Errno::EPERM.into(),
        });
        assert_eq!(
            e.to_string(),
            "network namespace /run/netns/nns1: bind: operation not permitted"
        );
        let RuntimeError::Netns(n) = e else {
            panic!("not a netns error")
        };
        assert_eq!(n.error.raw_os_error(), Some(libc::EPERM));
    }
}
