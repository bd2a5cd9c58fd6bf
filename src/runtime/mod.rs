//! Running containers: boot (namespaces, cgroup, netns, root filesystem,
//! xdockerinit as PID 1), stop (shutdown or kill), and releasing whatever a
//! stopped container still holds — however it stopped.

pub mod caps;
pub mod id_slots;
pub mod idmap;
pub mod init_binary;
pub mod netns;
pub mod rootfs;
pub mod seccomp;
pub mod spawn;
pub mod unprivileged;
pub mod userns;

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::cgroups::{self, CgroupError, Cgroups, Limits};
use crate::config::Config;
use crate::container::running::{mount_namespace, Mark};
use crate::container::state::{process_start_time, RunState, Status};
use crate::container::store::{Unsynced, EXIT_FILE, MERGED, RWLAYER, STATE_FILE, WORKDIR};
use crate::container::{ContainerConfig, ContainerError, ContainerStore};
use crate::home::LockKind;
use crate::image::ImageStore;
use crate::names::Name;
use crate::network::inside::{Eth0, InsideNet};
use crate::network::ipam::Subnet;
use crate::network::ports::PortLeases;
use crate::network::{self as net, BridgePlan, BridgeState, Net, PortMap};
use rootfs::RootfsPlan;
use spawn::{ChildChannel, SpawnError};

/// Seconds xdockerinit gives processes between TERM and KILL.
pub const GRACE_SECONDS: u64 = 10;

/// Errors of running containers.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("container {0} is running (pid {1})")]
    Running(String, i32),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("boot container {name}: {reason}")]
    Boot { name: String, reason: String },
    #[error("container {name}: image {image} not found")]
    ImageMissing { name: String, image: String },
    #[error("container {name}: volume source {path} does not exist")]
    VolumeSource { name: String, path: PathBuf },
    #[error("container {name}: {reason}")]
    Network { name: String, reason: String },
    #[error("container {name}: {step}: {reason}")]
    Step {
        name: String,
        step: &'static str,
        reason: String,
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

fn step<'a>(name: &'a Name, step: &'static str) -> impl FnOnce(String) -> RuntimeError + 'a {
    move |reason| RuntimeError::Step {
        name: name.to_string(),
        step,
        reason,
    }
}

/// A network failure of container `name`, from any error.
fn net_error<E: std::fmt::Display>(name: &Name) -> impl Fn(E) -> RuntimeError + Copy + '_ {
    move |e| RuntimeError::Network {
        name: name.to_string(),
        reason: e.to_string(),
    }
}

/// A bad `[network]` setting in xdocker.toml.
fn network_config_error(reason: String) -> RuntimeError {
    RuntimeError::Step {
        name: "xdocker.toml".to_string(),
        step: "[network]",
        reason,
    }
}

/// Kills and reaps a half-started child unless disarmed.
struct ChildGuard(Option<Pid>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
    }
}

/// Runs a cleanup unless disarmed.
struct Undo<F: FnMut()>(Option<F>);

impl<F: FnMut()> Undo<F> {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl<F: FnMut()> Drop for Undo<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.as_mut() {
            f();
        }
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

    /// The network namespace name of a container of this home.
    pub fn netns_name(&self, name: &Name) -> String {
        netns::netns_name(self.containers.home().root(), name.as_str())
    }

    /// The bridge subnet of this home, checked.
    pub fn subnet(&self) -> Result<Subnet, RuntimeError> {
        Subnet::parse(&self.config.network.subnet).map_err(network_config_error)
    }

    fn port_leases(&self) -> PortLeases {
        PortLeases::new(self.containers.home().root())
    }

    /// The home-wide lock of VIPs and port leases.
    pub fn network_lock(&self) -> Result<crate::home::ObjectLock, RuntimeError> {
        let fixed = Name::parse_as("lock name", "bridge").map_err(|e| RuntimeError::Step {
            name: "network".to_string(),
            step: "lock",
            reason: e.to_string(),
        })?;
        Ok(self
            .containers
            .home()
            .lock(LockKind::Network, &fixed)
            .map_err(ContainerError::from)?)
    }

    /// Checks `requested` as the VIP of BRIDGE container `name` (an
    /// address of the subnet that no other container of this home has),
    /// or picks the next free one. The caller holds [`Self::network_lock`]
    /// until the config is saved.
    pub fn choose_vip(
        &self,
        name: &Name,
        requested: Option<std::net::Ipv4Addr>,
    ) -> Result<std::net::Ipv4Addr, RuntimeError> {
        let subnet = self.subnet()?;
        let mut taken = std::collections::HashMap::new();
        for other in self.containers.names()? {
            if other == *name {
                continue;
            }
            if let Ok(c) = self.containers.config(&other) {
                if let (Net::Bridge, Some(vip)) = (c.net, c.vip) {
                    taken.insert(vip, other.to_string());
                }
            }
        }
        let bad = net_error::<net::ipam::VipError>(name);
        match requested {
            Some(vip) => {
                subnet.check(vip).map_err(bad)?;
                match taken.get(&vip) {
                    Some(owner) => Err(bad(net::ipam::VipError::Taken {
                        vip,
                        owner: owner.clone(),
                    })),
                    None => Ok(vip),
                }
            }
            None => subnet
                .next_free(&taken.keys().copied().collect())
                .map_err(bad),
        }
    }

    /// What BRIDGE container `name` needs, from its config and the home's.
    fn bridge_plan(
        &self,
        name: &Name,
        config: &ContainerConfig,
    ) -> Result<BridgePlan, RuntimeError> {
        let bad = net_error::<String>(name);
        let network = &self.config.network;
        net::check_ifname("[network] bridge", &network.bridge).map_err(network_config_error)?;
        net::nft::check_table_name(&network.nft_table).map_err(network_config_error)?;
        let subnet = self.subnet()?;
        let vip = config
            .vip
            .ok_or_else(|| bad("has no VIP (set one with -a vip)".to_string()))?;
        subnet.check(vip).map_err(|e| bad(e.to_string()))?;
        if let Some(eth) = &config.host_eth {
            net::check_ifname("--host-eth", eth).map_err(bad)?;
        }
        let maps = config.port_mappings.clone();
        Ok(BridgePlan {
            container: name.to_string(),
            bridge: network.bridge.clone(),
            subnet,
            vip,
            host_eth: config.host_eth.clone(),
            maps,
            nft_table: network.nft_table.clone(),
            veth: net::veth_name(&self.netns_name(name)),
        })
    }

    /// The host resources a BRIDGE container of this home would hold,
    /// derived from its name (for a state that lost them).
    fn derived_bridge_state(&self, name: &Name) -> BridgeState {
        BridgeState {
            veth: net::veth_name(&self.netns_name(name)),
            nft_table: self.config.network.nft_table.clone(),
            chains_of: name.to_string(),
        }
    }

    /// Releases a BRIDGE container's veth, rules and port leases.
    fn release_bridge(&self, name: &Name, state: &BridgeState) -> Result<(), RuntimeError> {
        let _lock = self.network_lock()?;
        net::release(state).map_err(net_error(name))?;
        self.port_leases()
            .give_back(name.as_str())
            .map_err(net_error(name))
    }

    /// Refuses a port map whose host port a host socket has (a host
    /// service would lose its traffic to the container), unless `-f`.
    fn check_host_ports(&self, name: &Name, maps: &[PortMap]) -> Result<(), RuntimeError> {
        let Some(first) = net::listeners::busy(maps).into_iter().next() else {
            return Ok(());
        };
        if !self.force {
            return Err(RuntimeError::Network {
                name: name.to_string(),
                reason: format!(
                    "{first}: its port map would take the host's traffic for it over (-f maps it \
                     anyway)"
                ),
            });
        }
        crate::logging::warn_user(&format!(
            "container {name}: {first}; mapped anyway (-f): its traffic goes to the container"
        ));
        Ok(())
    }

    /// True when container `name` runs now.
    fn is_running(&self, name: &str) -> bool {
        Name::parse_as("container name", name)
            .ok()
            .and_then(|n| self.containers.status(&n).ok())
            .is_some_and(|s| matches!(s, Status::Running { .. }))
    }

    /// The truth about a container; a container found stopped with state
    /// left behind (killed init, crashed xdocker) has its leftovers released
    /// when nobody else is working on it.
    pub fn status_releasing_leftovers(&self, name: &Name) -> Result<Status, RuntimeError> {
        let status = self.containers.status(name)?;
        if status == Status::Stopped && self.containers.run_state(name)?.is_some() {
            if let Some(_lock) = self
                .containers
                .home()
                .try_lock(LockKind::Container, name)
                .map_err(ContainerError::from)?
            {
                self.release(name)?;
            }
        }
        Ok(status)
    }

    /// Releases cgroup, netns and state of a container that is not running.
    /// The caller holds the container's lock.
    pub fn release(&self, name: &Name) -> Result<(), RuntimeError> {
        let Some(state) = self.containers.run_state(name)? else {
            return Ok(());
        };
        if state.status(Path::new("/proc")) != Status::Stopped {
            return Err(RuntimeError::Running(name.to_string(), state.pid));
        }
        // Every piece is tried even when another fails; the state stays
        // (for the next command to retry) until all of them are gone.
        let mut failed: Option<RuntimeError> = None;
        let mut attempt = |r: Result<(), RuntimeError>| {
            if let Err(e) = r {
                crate::logging::warn(&format!("container {name}: release: {e}"));
                failed.get_or_insert(e);
            }
        };
        if let Some(cg) = &state.cgroup {
            attempt(
                self.cgroups()
                    .and_then(|c| c.remove(cg).map_err(RuntimeError::from)),
            );
        }
        let bridge = state.bridge.clone().or_else(|| {
            // A damaged state lost the names: derive them.
            let config = self.containers.config(name).ok()?;
            (config.net == Net::Bridge).then(|| self.derived_bridge_state(name))
        });
        if let Some(b) = &bridge {
            attempt(self.release_bridge(name, b));
        }
        let netns = state.netns.clone().or_else(|| {
            // A damaged state lost the name: derive it.
            let config = self.containers.config(name).ok()?;
            (config.net != Net::Host).then(|| self.netns_name(name))
        });
        if let Some(ns) = &netns {
            attempt(netns::remove(ns).map_err(RuntimeError::from));
        }
        attempt(
            crate::session::remove(&self.containers.path(name, crate::session::SOCKET_FILE))
                .map_err(|e| step(name, "remove session socket")(e.to_string())),
        );
        if let Some(e) = failed {
            return Err(e);
        }
        let path = self.containers.path(name, STATE_FILE);
        std::fs::remove_file(&path)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
            .map_err(|e| step(name, "remove state")(e.to_string()))?;
        self.containers
            .running()
            .unmark(name)
            .map_err(|e| step(name, "remove running entry")(e.to_string()))?;
        crate::logging::info(&format!("container {name}: released after stop"));
        Ok(())
    }

    /// What a boot killed before it wrote its state file left behind, found
    /// by the names derived from the container's: its network namespace
    /// name (which would make the next boot fail with "file exists") and,
    /// BRIDGE, its veth with its rules. No live container holds them: the
    /// caller holds the container's lock and found no state. A failed
    /// rmdir per cgroup hierarchy and two `stat`s when there is nothing to
    /// release.
    fn release_leftovers(&self, name: &Name, net: Net) -> Result<(), RuntimeError> {
        // Processes of a killed boot die with it (see `child_main`), but
        // may not be gone yet; with no state file and the lock held, no
        // boot of this container is under way: they are leftovers.
        self.cgroups()?.remove(name.as_str())?;
        if net == Net::Host {
            return Ok(());
        }
        let ns = self.netns_name(name);
        if Path::new(netns::NETNS_DIR).join(&ns).exists() {
            crate::logging::warn(&format!(
                "container {name}: releasing the network namespace name {ns} of a boot that was \
                 interrupted"
            ));
            netns::remove(&ns)?;
        }
        if net == Net::Bridge
            && Path::new("/sys/class/net")
                .join(net::veth_name(&ns))
                .exists()
        {
            self.release_bridge(name, &self.derived_bridge_state(name))?;
        }
        Ok(())
    }

    /// Releases every stopped container's leftovers (run by each command):
    /// only entries of the running index whose process is gone are looked at.
    pub fn release_stale(&self) -> Result<(), RuntimeError> {
        let index = self.containers.running();
        let index_err = |e: std::io::Error| RuntimeError::Step {
            name: "running index".to_string(),
            step: "read",
            reason: e.to_string(),
        };
        if !index.exists() {
            // A home from before the index: rebuild it from the state files.
            for name in self.containers.names()? {
                if let Some(state) = self.containers.run_state(&name)? {
                    let mark = Mark {
                        pid: state.pid,
                        start_time: state.start_time,
                        mntns: 0,
                    };
                    index.mark(&name, mark).map_err(index_err)?;
                }
            }
            index.create().map_err(index_err)?;
        }
        for (name, mark) in index.entries().map_err(index_err)? {
            if mark.is_some_and(|m| m.alive(Path::new("/proc"))) {
                continue;
            }
            if self.containers.path(&name, STATE_FILE).exists() {
                self.status_releasing_leftovers(&name)?;
            } else if let Some(_lock) = self
                .containers
                .home()
                .try_lock(LockKind::Container, &name)
                .map_err(ContainerError::from)?
            {
                // A boot killed between its entry and its state file.
                match self.containers.config(&name) {
                    Ok(config) => self.release_leftovers(&name, config.net)?,
                    Err(_) => self.cgroups()?.remove(name.as_str())?,
                }
                index.unmark(&name).map_err(index_err)?;
            }
        }
        Ok(())
    }

    /// Layer directories of a container's images, bottom first.
    fn layers(&self, config: &ContainerConfig, name: &Name) -> Result<Vec<PathBuf>, RuntimeError> {
        config
            .images
            .iter()
            .map(|r| {
                let missing = || RuntimeError::ImageMissing {
                    name: name.to_string(),
                    image: r.to_string(),
                };
                let v = r.version_or_none();
                let dir = self.images.layer_dir(&r.name, &v);
                if dir.is_dir() {
                    Ok(dir)
                } else {
                    Err(missing())
                }
            })
            .collect()
    }

    /// Boots a stopped container. With `exec`, CMD is the main process and
    /// this waits for it, returning its exit code.
    pub fn boot(&self, name: &Name, exec: Option<&str>) -> Result<BootOutcome, RuntimeError> {
        self.boot_with(name, exec, None)
    }

    /// Boots a container `create` just made; its config is made durable
    /// while the container's first process starts, and before this returns.
    pub fn boot_created(
        &self,
        name: &Name,
        exec: Option<&str>,
        created: Unsynced,
    ) -> Result<BootOutcome, RuntimeError> {
        self.boot_with(name, exec, Some(created))
    }

    /// Crash points (see [`crate::crashpoint`]): `boot.netns`,
    /// `boot.bridge`, `boot.marked`, `boot.state`, `boot.exec`.
    fn boot_with(
        &self,
        name: &Name,
        exec: Option<&str>,
        created: Option<Unsynced>,
    ) -> Result<BootOutcome, RuntimeError> {
        let lock = self.containers.lock(name)?;
        let config = self.containers.config(name)?;
        if let Some(state) = self.containers.run_state(name)? {
            if let Status::Running { pid } = state.status(Path::new("/proc")) {
                return Err(RuntimeError::Running(name.to_string(), pid));
            }
            self.release(name)?;
        } else {
            self.release_leftovers(name, config.net)?;
        }
        let bridge = match config.net {
            Net::Bridge => Some(self.bridge_plan(name, &config)?),
            _ => None,
        };
        // Every container's /etc/hostname and /etc/hosts name its hostname
        // (BRIDGE: at its VIP; otherwise at 127.0.1.1, as Debian does), so
        // that `hostname -f`, sudo and mail agents resolve it.
        let own_address = bridge
            .as_ref()
            .map_or(std::net::Ipv4Addr::new(127, 0, 1, 1), |b| b.vip);
        let mut files = vec![
            (
                PathBuf::from("/etc/hostname"),
                net::etc_files::hostname(&config.hostname),
            ),
            (
                PathBuf::from("/etc/hosts"),
                net::etc_files::hosts(&config.hostname, own_address),
            ),
        ];
        match config.net {
            Net::Bridge => {
                let (resolv, fell_back) =
                    net::etc_files::resolv_conf(&net::etc_files::host_resolv_conf());
                if fell_back {
                    crate::logging::warn(&format!(
                        "container {name}: the host has no nameserver a container can reach; \
                         /etc/resolv.conf uses public fallback servers"
                    ));
                }
                files.push((PathBuf::from("/etc/resolv.conf"), resolv));
            }
            // The host's own resolver works unchanged in its network.
            Net::Host => {
                if let Ok(text) = std::fs::read_to_string("/etc/resolv.conf") {
                    files.push((PathBuf::from("/etc/resolv.conf"), text));
                }
            }
            // The user configures a CUSTOM network: the image's file stays.
            Net::Custom => {}
        }
        let inside = match config.net {
            Net::Host => None,
            Net::Custom => Some(InsideNet { eth0: None }),
            Net::Bridge => bridge.as_ref().map(|b| InsideNet {
                eth0: Some(Eth0 {
                    vip: b.vip,
                    prefix: b.subnet.prefix_len(),
                    gateway: b.subnet.gateway(),
                }),
            }),
        };
        let plan = RootfsPlan {
            lowers: self.layers(&config, name)?,
            upper: self.containers.path(name, RWLAYER),
            work: self.containers.path(name, WORKDIR),
            merged: self.containers.path(name, MERGED),
            volumes: config
                .volumes
                .iter()
                .map(|v| (v.host.clone(), v.container.clone()))
                .collect(),
            hostname: config.hostname.clone(),
            files,
            userns: config.security.userns,
        };
        for (host, _) in &plan.volumes {
            if !host.exists() {
                return Err(RuntimeError::VolumeSource {
                    name: name.to_string(),
                    path: host.clone(),
                });
            }
        }
        let (init_path, init) = init_binary::open()?;
        let exit_path = self.containers.path(name, EXIT_FILE);
        let exit_file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&exit_path)
            .map_err(|e| step(name, "open exit record")(e.to_string()))?;
        // The session socket listens before the container exists; its
        // directory is not in the container's mount namespace.
        let session_path = self.containers.path(name, crate::session::SOCKET_FILE);
        let session = crate::session::listen(&session_path).map_err(|e| RuntimeError::Boot {
            name: name.to_string(),
            reason: e.to_string(),
        })?;
        let mut session_undo = Undo(Some(|| {
            let _ = crate::session::remove(&session_path);
        }));

        // The host side first: a refused port or a broken bridge stops the
        // boot before anything else is made. The lock is held until the
        // container's rules are in place.
        let leases = self.port_leases();
        let mut lease_undo = Undo(None);
        let network_lock = match &bridge {
            Some(b) => {
                self.check_host_ports(name, &b.maps)?;
                let lock = self.network_lock()?;
                leases
                    .take(name.as_str(), &b.maps, |owner| self.is_running(owner))
                    .map_err(net_error(name))?;
                lease_undo = Undo(Some(|| {
                    let _ = leases.give_back(name.as_str());
                }));
                net::prepare_host(b).map_err(net_error(name))?;
                Some(lock)
            }
            None => None,
        };

        let cgroups = self.cgroups()?;
        let limits = Limits {
            cpus: config.limits.cpus.clone(),
            cpu_quota_percent: config.limits.cpu_quota_percent,
            mem_limit_bytes: config.limits.mem_limit_bytes,
            pids_max: config.limits.pids_limit,
        };
        // Made once the child runs (see below); declared here, so that it
        // is undone after the child guard killed the child.
        let mut cgroup_undo;

        let netns = matches!(config.net, Net::Custom | Net::Bridge).then(|| self.netns_name(name));
        // `--userns`: the user namespace (and the network namespace it
        // owns) exist before the container; the child makes its other
        // namespaces once inside it (see `userns`).
        let holder = match config.security.userns {
            Some(ids) => Some(
                userns::NsHolder::create(ids, netns.is_some())
                    .map_err(step(name, "make user namespace"))?,
            ),
            None => None,
        };
        // Made here, so that the child only hands them to the kernel.
        let confinement = Confinement {
            drop_caps: caps::drop_set(
                &config.security.cap_add,
                &config.security.cap_drop,
                config.security.userns.is_none() && config.net == Net::Host,
            ),
            seccomp: config
                .security
                .seccomp
                .then(|| seccomp::program(config.security.userns.is_none())),
            userns: holder.as_ref(),
        };
        let mut flags = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS;
        if holder.is_none() {
            flags |= CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
            if netns.is_some() {
                flags |= CloneFlags::CLONE_NEWNET;
            }
        }
        let (mut parent_end, child_end) = spawn::channel().map_err(boot_err(name))?;
        // SAFETY: xdocker is single-threaded here (no thread was started by
        // this command), so the child may run Rust code until it execs.
        let child = unsafe { spawn::clone_into_namespaces(flags) }.map_err(boot_err(name))?;
        let Some(pid) = child else {
            spawn::close_parent_end(parent_end);
            let group = (cgroups, name.as_str());
            let io = ChildIo {
                init,
                init_path: &init_path,
                exit_file,
                session: &session,
            };
            child_main(
                child_end,
                group,
                &plan,
                inside.as_ref(),
                &confinement,
                io,
                exec,
            );
        };
        drop(child_end);
        let mut guard = ChildGuard(Some(pid));
        // The child builds the root filesystem meanwhile, then joins the
        // cgroup itself and leaves the host's tree.
        cgroups.create(name.as_str(), &limits)?;
        cgroup_undo = Undo(Some(|| {
            let _ = cgroups.remove(name.as_str());
        }));
        parent_end.cgroup_ready();
        // The process whose network namespace is the container's.
        let netns_pid = holder.as_ref().map_or(pid.as_raw(), |h| h.pid());

        let mut netns_undo = Undo(None);
        if let Some(ns) = &netns {
            netns::bind(ns, netns_pid)?;
            netns_undo = Undo(Some(move || {
                let _ = netns::remove(ns);
            }));
            crate::crashpoint::hit("boot.netns");
        }
        let mut bridge_state = None;
        let mut bridge_undo = Undo(None);
        if let Some(b) = &bridge {
            let pid_u32 = u32::try_from(netns_pid).unwrap_or_default();
            let st = net::attach(b, pid_u32).map_err(net_error(name))?;
            let undo_state = st.clone();
            bridge_undo = Undo(Some(move || {
                let _ = net::release(&undo_state);
            }));
            bridge_state = Some(st);
            crate::crashpoint::hit("boot.bridge");
        }
        drop(holder);
        // The state is on disk before the child may exec: if this command is
        // killed from here on, the next one finds the container (running,
        // or stopped with leftovers to release).
        let start_time = process_start_time(Path::new("/proc"), pid.as_raw()).ok_or_else(|| {
            step(name, "start")("the container's first process is gone".to_string())
        })?;
        let state = RunState {
            pid: pid.as_raw(),
            start_time,
            booted_at: chrono::Local::now().to_rfc3339(),
            netns: netns.clone(),
            bridge: bridge_state,
            cgroup: Some(name.to_string()),
            exec: exec.map(str::to_string),
        };
        // The index entry first: a state file always has one.
        let index = self.containers.running();
        let mark = |mntns| Mark {
            pid: pid.as_raw(),
            start_time,
            mntns,
        };
        // A `--userns` container makes its final mount namespace later: it
        // is recorded once xdockerinit runs (meanwhile, the start time tells).
        let mntns = match config.security.userns {
            Some(_) => 0,
            None => mount_namespace(Path::new("/proc"), pid.as_raw()).unwrap_or(0),
        };
        index
            .mark(name, mark(mntns))
            .map_err(|e| step(name, "record running entry")(e.to_string()))?;
        let mut mark_undo = Undo(Some(|| {
            let _ = index.unmark(name);
        }));
        crate::crashpoint::hit("boot.marked");
        let state_path = self.containers.path(name, STATE_FILE);
        state.save(&state_path).map_err(ContainerError::from)?;
        let mut state_undo = Undo(Some(|| {
            let _ = std::fs::remove_file(&state_path);
        }));
        crate::crashpoint::hit("boot.state");
        // A child that failed before `go` closed its end: its reason is
        // what counts, not the broken pipe.
        let went = parent_end.go();
        parent_end.wait_exec().map_err(boot_err(name))?;
        went.map_err(boot_err(name))?;
        crate::crashpoint::hit("boot.exec");
        // A new container's config reaches the disk while its first
        // program starts: once the child's own writes (the overlay's work
        // directory, /etc) are done, so that they do not wait behind the
        // flush. An error stops the boot like any other.
        if let Some(created) = created {
            created.sync()?;
        }
        if config.security.userns.is_some() {
            if let Some(mntns) = mount_namespace(Path::new("/proc"), pid.as_raw()) {
                index
                    .mark(name, mark(mntns))
                    .map_err(|e| step(name, "record running entry")(e.to_string()))?;
            }
        }
        drop(session);
        session_undo.disarm();
        state_undo.disarm();
        mark_undo.disarm();
        guard.0 = None;
        cgroup_undo.disarm();
        netns_undo.disarm();
        bridge_undo.disarm();
        lease_undo.disarm();
        drop(network_lock);
        crate::logging::info(&format!("container {name}: booted, pid {pid}"));

        let Some(_) = exec else {
            return Ok(BootOutcome::Detached { pid: pid.as_raw() });
        };
        // Single-process mode: others may shut it down meanwhile.
        drop(lock);
        let code = match nix::sys::wait::waitpid(pid, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => code,
            Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
            other => {
                return Err(step(name, "wait")(format!(
                    "unexpected wait status {other:?}"
                )));
            }
        };
        let _lock = self.containers.lock(name)?;
        self.release(name)?;
        Ok(BootOutcome::Exited { code })
    }

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

    /// Removes what a container may hold even without a state file (a boot
    /// killed before it recorded one): its cgroup and its netns name. For
    /// destroy; the caller holds the lock and knows it is stopped.
    pub fn forget(&self, name: &Name) -> Result<(), RuntimeError> {
        self.cgroups()?.remove(name.as_str())?;
        netns::remove(&self.netns_name(name))?;
        self.containers
            .running()
            .unmark(name)
            .map_err(|e| step(name, "remove running entry")(e.to_string()))?;
        if self
            .containers
            .config(name)
            .is_ok_and(|c| c.net == Net::Bridge)
        {
            self.release_bridge(name, &self.derived_bridge_state(name))?;
        }
        Ok(())
    }

    /// Memory and CPU use of a running container's cgroup (None when it is
    /// not running or has no cgroup).
    pub fn usage(&self, name: &Name) -> Option<cgroups::Usage> {
        let group = self.containers.run_state(name).ok()??.cgroup?;
        self.cgroups().ok()?.usage(&group).ok()
    }

    /// The exit record xdockerinit wrote at its last stop.
    pub fn exit_code(&self, name: &Name) -> Option<i32> {
        let text = std::fs::read_to_string(self.containers.path(name, EXIT_FILE)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("exit_code="))
            .and_then(|v| v.trim().parse().ok())
    }
}

fn boot_err(name: &Name) -> impl FnOnce(SpawnError) -> RuntimeError + '_ {
    move |e| RuntimeError::Boot {
        name: name.to_string(),
        reason: e.to_string(),
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

/// What the container may not do: capabilities to drop, the seccomp
/// filter (None: `--seccomp off`), and the user namespace its root is
/// confined to (None: root inside is host root).
struct Confinement<'a> {
    drop_caps: Vec<u32>,
    seccomp: Option<Vec<libc::sock_filter>>,
    userns: Option<&'a userns::NsHolder>,
}

/// The descriptors the child passes on to xdockerinit.
struct ChildIo<'a> {
    init: File,
    init_path: &'a Path,
    exit_file: File,
    session: &'a std::os::unix::net::UnixListener,
}

/// The child after clone3: waits for `go`, sets up its network namespace,
/// builds the root filesystem, executes xdockerinit. Never returns; errors
/// go to the parent.
fn child_main(
    mut channel: ChildChannel,
    (cgroups, group): (&dyn Cgroups, &str),
    plan: &RootfsPlan,
    inside: Option<&InsideNet>,
    confinement: &Confinement<'_>,
    io: ChildIo<'_>,
    exec: Option<&str>,
) -> ! {
    // The root filesystem is built while the parent makes the cgroup,
    // records the state and wires the network (two cores work at once).
    // Once the cgroup exists the child joins it by itself, the fast way in
    // (see `Cgroups::join_self`), while the host's tree is still in reach
    // and before the cgroup namespace is made. The network inside and the
    // exec wait for `go`; a failure is reported then, so that the parent
    // never mistakes a child that died early for a failure of its own.
    // Until it executes xdockerinit it dies with the parent: a killed boot
    // leaves no half-built container process behind (a parent that died
    // before this call closed the channel, which the child then reads).
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes only integers.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    let mut cgroup_told = false;
    let prepared = prepare_root(plan, inside.is_some(), confinement.userns, &io, &mut || {
        cgroup_told = channel.wait_cgroup();
        if !cgroup_told {
            // SAFETY: _exit is always safe; nothing to flush in this child.
            unsafe { libc::_exit(1) };
        }
        cgroups.join_self(group).map_err(|e| e.to_string())
    });
    // Entering a user namespace changed the credentials, which clears
    // the parent-death signal: set again.
    // SAFETY: as above.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if (!cgroup_told && !channel.wait_cgroup()) || !channel.wait_go() {
        // SAFETY: as above.
        unsafe { libc::_exit(1) };
    }
    let err = match (prepared, inside.map(InsideNet::configure)) {
        (Err(e), _) => e,
        (Ok(_), Some(Err(e))) => format!("network: {e}"),
        (Ok(init), _) => match caps::restrict(&confinement.drop_caps)
            // Last: from here on every call the container makes is filtered.
            .and_then(|()| match &confinement.seccomp {
                Some(program) => seccomp::load(program),
                None => Ok(()),
            }) {
            Ok(()) => exec_init(&init, &io.exit_file, io.session.as_raw_fd(), exec),
            Err(e) => e,
        },
    };
    channel.error(&err);
    // SAFETY: as above.
    unsafe { libc::_exit(1) }
}

/// The root filesystem (ending with pivot_root and the limits on /proc),
/// the cgroup (`join_cgroup`, between the two) and its namespace, and the
/// hostname; returns xdockerinit as the container will execute it (see
/// `init_binary::read_only_view`). A `--userns` container joins its
/// network namespace first (sysfs shows the one it is mounted in), and its
/// user namespace last, making the namespaces it owns.
fn prepare_root(
    plan: &RootfsPlan,
    own_network: bool,
    holder: Option<&userns::NsHolder>,
    io: &ChildIo<'_>,
    join_cgroup: &mut dyn FnMut() -> Result<(), String>,
) -> Result<File, String> {
    let text = |e: rootfs::RootfsError| e.to_string();
    rootfs::make_private().map_err(text)?;
    let init = init_binary::read_only_view(&io.init, io.init_path)?;
    match holder {
        None => {
            let root = rootfs::build(plan, None).map_err(text)?;
            join_cgroup()?;
            nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
                .map_err(|e| format!("unshare cgroup namespace: {}", e.desc().to_lowercase()))?;
            rootfs::switch_root(&root).map_err(text)?;
            rootfs::restrict_proc(own_network).map_err(text)?;
        }
        Some(h) => {
            if let Some(netns) = &h.netns {
                userns::join_netns(netns)?;
            }
            let root = rootfs::build(plan, Some(h.userns.as_fd())).map_err(text)?;
            join_cgroup()?;
            rootfs::switch_root(&root).map_err(text)?;
            rootfs::restrict_proc(own_network).map_err(text)?;
            userns::enter(&h.userns)?;
        }
    }
    nix::unistd::sethostname(&plan.hostname)
        .map_err(|e| format!("sethostname {}: {}", plan.hostname, e.desc().to_lowercase()))?;
    Ok(init)
}

/// Executes xdockerinit with its descriptors; returns only on failure,
/// with the reason.
fn exec_init(init: &File, exit_file: &File, session: RawFd, exec: Option<&str>) -> String {
    // Host mode detaches from the terminal; -e keeps xdocker's stdio for CMD.
    if exec.is_none() {
        match nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDWR,
            nix::sys::stat::Mode::empty(),
        ) {
            Ok(null) => {
                for fd in 0..3 {
                    let _ = nix::unistd::dup2(null, fd);
                }
                if null > 2 {
                    let _ = nix::unistd::close(null);
                }
            }
            Err(e) => return format!("open /dev/null: {}", e.desc().to_lowercase()),
        }
    }
    // The exit record is fd 3 and the session socket fd 4 for xdockerinit;
    // every other inherited fd is closed at exec. Whichever of ours sits on
    // 3 or 4 moves up first, so neither dup2 overwrites another one.
    let above_4 = |fd: RawFd| match fd {
        3 | 4 => nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(5)),
        _ => Ok(fd),
    };
    let (init_fd, exit_fd, session_fd) = match (
        above_4(init.as_raw_fd()),
        above_4(exit_file.as_raw_fd()),
        above_4(session),
    ) {
        (Ok(i), Ok(e), Ok(s)) => (i, e, s),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return format!("pass descriptors: {}", e.desc().to_lowercase())
        }
    };
    for (fd, target, what) in [
        (exit_fd, 3, "exit record"),
        (session_fd, 4, "session socket"),
    ] {
        if let Err(e) = nix::unistd::dup2(fd, target) {
            return format!("pass {what}: {}", e.desc().to_lowercase());
        }
    }
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on fds.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            5u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    let mut argv = vec![
        CString::from(c"xdockerinit"),
        CString::from(c"--exit-fd"),
        CString::from(c"3"),
        CString::from(c"--session-fd"),
        CString::from(c"4"),
        CString::from(c"--grace"),
    ];
    argv.push(CString::new(GRACE_SECONDS.to_string()).unwrap_or_default());
    if let Some(cmd) = exec {
        argv.push(CString::from(c"-e"));
        match CString::new(cmd) {
            Ok(c) => argv.push(c),
            Err(_) => return "the command contains a NUL byte".to_string(),
        }
    }
    let mut env = vec![
        CString::from(c"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        CString::from(c"HOME=/root"),
        CString::from(c"container=xdocker"),
    ];
    if let Some(term) = std::env::var_os("TERM")
        .and_then(|t| CString::new(format!("TERM={}", t.to_string_lossy())).ok())
    {
        env.push(term);
    }
    // xdockerinit outlives xdocker (the state file is on disk: the parent
    // wrote it before `go`).
    // SAFETY: prctl(PR_SET_PDEATHSIG, 0) takes only integers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) };
    match nix::unistd::fexecve(init_fd, &argv, &env) {
        Err(e) => format!("execute xdockerinit: {}", e.desc().to_lowercase()),
        Ok(never) => match never {},
    }
}
