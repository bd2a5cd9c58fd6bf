//! The parent side of a boot: computes the [`BootPlan`] from the stored
//! config, then carries it out step by step — session socket, port
//! leases and host network, clone3, cgroup, netns, veth, running entry,
//! state — pushing one undo per step onto a [`Rollback`] that is committed
//! once xdockerinit runs. The child side is `child.rs`.

use std::fs::OpenOptions;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::child::{self, ChildIo, Prepared};
use super::plan::{BootPlan, HostResolver, PlanInput};
use super::rollback::Rollback;
use super::spawn::{self, ParentMessage, SpawnError};
use super::{init_binary, net_error, netns, step, userns, BootOutcome, Runtime, RuntimeError};
use crate::container::running::{mount_namespace, Mark};
use crate::container::state::{process_start_time, RunState, Status};
use crate::container::store::{Unsynced, EXIT_FILE, LOG_DIR, STATE_FILE};
use crate::container::{ContainerConfig, ContainerError};
use crate::names::Name;
use crate::network::{self as net, Net};

fn boot_err(name: &Name) -> impl FnOnce(SpawnError) -> RuntimeError + '_ {
    move |source| RuntimeError::Boot {
        name: name.to_string(),
        source,
    }
}

/// The console log's ring, `containers/C/log/console.0` to
/// `console.N-1` (N = `[logs] max_files`), opened here, by the host, for
/// xdockerinit to write: no directory of the host is handed to the
/// container (from a directory descriptor its processes could walk to the
/// host's root, CVE-2024-21626). The directory is made (0700) when
/// missing; files beyond N, left by a larger setting, are removed. The
/// files come in the order xdockerinit writes them (see
/// [`crate::container::logs::ring_order`]).
pub fn open_log_files(dir: &Path, count: u32) -> std::io::Result<Vec<OwnedFd>> {
    use std::os::unix::fs::DirBuilderExt;
    use xdockerinit::log::{file_name, MAX_MAX_FILES};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    for index in count..=MAX_MAX_FILES {
        match std::fs::remove_file(dir.join(file_name(index))) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            other => other?,
        }
    }
    let mut files: Vec<Option<OwnedFd>> = (0..count)
        .map(|index| {
            let path = dir.join(file_name(index));
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o640)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&path)?;
            if !file.metadata()?.is_file() {
                return Err(std::io::Error::other(format!(
                    "{} is not a regular file",
                    path.display()
                )));
            }
            Ok(Some(OwnedFd::from(file)))
        })
        .collect::<std::io::Result<_>>()?;
    Ok(crate::container::logs::ring_order(dir, count)
        .into_iter()
        .filter_map(|index| files.get_mut(index as usize)?.take())
        .collect())
}

/// `-e`: this process's descriptor `fd` (1 or 2), when it is a terminal,
/// opened afresh, write-only and non-blocking: a description of its own,
/// so that O_NONBLOCK does not reach the shell that shares the old one.
fn reopen_terminal(fd: std::os::fd::BorrowedFd<'_>) -> Option<OwnedFd> {
    if !crate::session::terminal::is_tty(fd) {
        return None;
    }
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .ok()
        .map(OwnedFd::from)
}

/// The modes of the caller's terminal (stdin), put back when dropped: a
/// `-e` main process on a terminal runs with it in raw mode (xdockerinit
/// relays the keys to its pty, as `docker run -it`), and if xdockerinit
/// is killed it cannot undo that itself.
struct TerminalModes(Option<nix::sys::termios::Termios>);

impl TerminalModes {
    fn save() -> Self {
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        let foreground = nix::unistd::tcgetpgrp(fd).is_ok_and(|g| g == nix::unistd::getpgrp());
        Self(
            foreground
                .then(|| nix::sys::termios::tcgetattr(fd).ok())
                .flatten(),
        )
    }
}

impl Drop for TerminalModes {
    fn drop(&mut self) {
        if let Some(modes) = &self.0 {
            let stdin = std::io::stdin();
            let _ = nix::sys::termios::tcsetattr(
                stdin.as_fd(),
                nix::sys::termios::SetArg::TCSADRAIN,
                modes,
            );
        }
    }
}

/// The host's resolver files a container of network `net` gets.
fn host_resolver(net: &Net) -> HostResolver {
    match net {
        Net::Bridge | Net::Named(_) => HostResolver {
            upstream: net::etc_files::host_resolv_conf(),
            etc_resolv_conf: None,
        },
        // The host's own resolver works unchanged in its network.
        Net::Host => HostResolver {
            upstream: String::new(),
            etc_resolv_conf: std::fs::read_to_string("/etc/resolv.conf").ok(),
        },
        Net::Custom => HostResolver::default(),
    }
}

impl Runtime {
    /// Layer directories of a container's images, bottom first.
    fn layers(&self, config: &ContainerConfig, name: &Name) -> Result<Vec<PathBuf>, RuntimeError> {
        config
            .images
            .iter()
            .map(|r| {
                let dir = self.images.layer_dir(&r.name, &r.version_or_none());
                if dir.is_dir() {
                    Ok(dir)
                } else {
                    Err(RuntimeError::ImageMissing {
                        name: name.to_string(),
                        image: r.to_string(),
                    })
                }
            })
            .collect()
    }

    /// The plan of the next boot of `name`: the config as stored, checked
    /// against what the host has (layers, volume sources).
    pub fn plan_boot(
        &self,
        name: &Name,
        config: &ContainerConfig,
        exec: Option<&str>,
    ) -> Result<BootPlan, RuntimeError> {
        self.plan_main(name, config, exec, false)
    }

    /// [`Runtime::plan_boot`], the main process in the background or not.
    fn plan_main(
        &self,
        name: &Name,
        config: &ContainerConfig,
        exec: Option<&str>,
        background: bool,
    ) -> Result<BootPlan, RuntimeError> {
        // The user networks read once: the container's and the others'.
        let defs = match config.net.network() {
            Some(_) => self
                .network_store()
                .load()
                .map_err(super::net_error(name))?,
            None => Vec::new(),
        };
        let user_network = match config.net.network() {
            Some(n) => {
                let def = defs.iter().find(|d| d.name == n.as_str()).ok_or_else(|| {
                    super::net_error(name)(crate::network::store::NetworkStoreError::NotFound(
                        n.to_string(),
                    ))
                })?;
                Some(self.user_network(def, &defs))
            }
            None => None,
        };
        let plan = BootPlan::new(PlanInput {
            name,
            config,
            network: &self.config.network,
            netns_name: self.netns_name(name),
            container_dir: &self.containers.dir(name),
            layers: self.layers(config, name)?,
            resolver: host_resolver(&config.net),
            exec,
            background,
            logs: &self.config.logs,
            user_network,
        })?;
        for volume in &plan.rootfs.volumes {
            if !volume.host.exists() {
                return Err(RuntimeError::VolumeSource {
                    name: name.to_string(),
                    path: volume.host.clone(),
                });
            }
        }
        Ok(plan)
    }

    /// Boots a stopped container. With `exec`, CMD is the main process and
    /// this waits for it, returning its exit code.
    pub fn boot(&self, name: &Name, exec: Option<&str>) -> Result<BootOutcome, RuntimeError> {
        self.boot_with(name, exec, false, None, false)
    }

    /// Boots a stopped container with `cmd` as its main process in the
    /// background (`docker run -d CMD`): detached from this process as a
    /// host container is, the container stopping when `cmd` ends.
    pub fn boot_background(
        &self,
        name: &Name,
        cmd: &str,
        created: Option<Unsynced>,
    ) -> Result<BootOutcome, RuntimeError> {
        self.boot_with(name, Some(cmd), true, created, false)
    }

    /// [`Runtime::boot_background`] for a caller that attaches to the
    /// main process's terminal at once (`run -it`, `start -a` of a `-t`
    /// container): the main process starts once the first session client
    /// connected (or after a few seconds), so that the caller sees all of
    /// its output, however short its life.
    pub fn boot_for_attach(
        &self,
        name: &Name,
        cmd: &str,
        created: Option<Unsynced>,
    ) -> Result<BootOutcome, RuntimeError> {
        self.boot_with(name, Some(cmd), true, created, true)
    }

    /// Boots a container `create` just made; its config is made durable
    /// while the container's first process starts, and before this returns.
    pub fn boot_created(
        &self,
        name: &Name,
        exec: Option<&str>,
        created: Unsynced,
    ) -> Result<BootOutcome, RuntimeError> {
        self.boot_with(name, exec, false, Some(created), false)
    }

    fn boot_with(
        &self,
        name: &Name,
        exec: Option<&str>,
        background: bool,
        created: Option<Unsynced>,
        attach: bool,
    ) -> Result<BootOutcome, RuntimeError> {
        let lock = self.containers.lock(name)?;
        let config = self.containers.config(name)?;
        if let Some(state) = self.containers.run_state(name)? {
            if let Status::Running { pid } = state.status(Path::new("/proc")) {
                return Err(RuntimeError::Running(name.to_string(), pid));
            }
            self.release(name)?;
        } else {
            self.release_leftovers(name, &config.net)?;
        }
        let mut plan = self.plan_main(name, &config, exec, background)?;
        plan.wait_attach = attach && plan.main_tty;
        for warning in &plan.warnings {
            crate::logging::warn(&format!("container {name}: {warning}"));
        }
        let foreground = exec.is_some() && !background;
        let modes = foreground.then(TerminalModes::save);
        let pid = self.execute(&plan, created)?;
        if plan.network.macvlan().is_some_and(|m| m.dhcp) {
            // Booted once xdockerinit holds the lease; without one the
            // container is stopped and released again.
            if let Err(e) = self.wait_for_lease(name, pid.as_raw()) {
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(pid, None);
                if let Err(r) = self.release(name) {
                    crate::logging::warn(&format!("container {name}: release: {r}"));
                }
                return Err(e);
            }
        }
        crate::logging::info(&format!("container {name}: booted, pid {pid}"));
        // The network's other members learn its name.
        if config.net.network().is_some() {
            self.join_members(name, &config, pid.as_raw());
        }
        if !foreground {
            return Ok(BootOutcome::Detached { pid: pid.as_raw() });
        }
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
        drop(modes);
        let _lock = self.containers.lock(name)?;
        match self.release(name) {
            // Booted again meanwhile (`restart`): that boot's to release.
            Err(RuntimeError::Running(..)) => {}
            other => other?,
        }
        Ok(BootOutcome::Exited { code })
    }

    /// Carries out `plan`; on any failure everything made so far is undone
    /// (newest first) and the half-started child is killed. The caller
    /// holds the container's lock. Crash points (see
    /// [`crate::crashpoint`]): `boot.netns`, `boot.bridge`, `boot.marked`,
    /// `boot.state`, `boot.exec`.
    fn execute(&self, plan: &BootPlan, created: Option<Unsynced>) -> Result<Pid, RuntimeError> {
        let name = &plan.name;
        let mut undo = Rollback::new();
        let (init_path, init) = init_binary::open()?;
        let exit_file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.containers.path(name, EXIT_FILE))
            .map_err(step(name, "open exit record"))?;
        let log_files = open_log_files(&self.containers.path(name, LOG_DIR), plan.logs.max_files)
            .map_err(step(name, "open the console log"))?;
        let terminals = match plan.exec {
            Some(_) if !plan.background => [
                reopen_terminal(std::io::stdout().as_fd()),
                reopen_terminal(std::io::stderr().as_fd()),
            ],
            _ => [None, None],
        };
        // The session socket listens before the container exists; its
        // directory is not in the container's mount namespace.
        let session_path = self.containers.path(name, crate::session::SOCKET_FILE);
        let session =
            crate::session::listen(&session_path).map_err(|source| RuntimeError::Session {
                name: name.to_string(),
                source,
            })?;
        let socket = session_path.clone();
        undo.push("session socket", move || {
            let _ = crate::session::remove(&socket);
        });

        // The host side first: a refused port or a broken bridge stops the
        // boot before anything else is made. The lock is held until the
        // container's rules are in place.
        let leases = self.port_leases();
        let network_lock = match plan.network.bridge() {
            Some(b) => {
                self.check_host_ports(name, &b.maps)?;
                let lock = self.network_lock()?;
                leases
                    .take(name.as_str(), &b.maps, |owner| self.is_running(owner))
                    .map_err(net_error(name))?;
                undo.push("port leases", move || {
                    let _ = self.port_leases().give_back(name.as_str());
                });
                net::prepare_host(b).map_err(net_error(name))?;
                Some(lock)
            }
            None => None,
        };

        let cgroups = self.cgroups()?;
        // `--userns`: the user namespace (and the network namespace it
        // owns) exist before the container; the child makes its other
        // namespaces once inside it (see `userns`).
        let holder = match plan.userns {
            Some(ids) => Some(
                userns::NsHolder::create(ids, plan.network.netns().is_some())
                    .map_err(step(name, "make user namespace"))?,
            ),
            None => None,
        };
        let prepared = Prepared {
            userns: holder.as_ref(),
            seccomp: Prepared::seccomp_program(plan),
        };
        let (mut parent_end, child_end) = spawn::channel().map_err(boot_err(name))?;
        // The cgroup is made once the child runs (below); its undo comes
        // first, so that it runs after the first process is killed.
        undo.push("cgroup", || {
            let _ = cgroups.remove(&plan.cgroup);
        });
        let child = spawn::clone_into_namespaces(plan.clone_flags).map_err(boot_err(name))?;
        let Some(pid) = child else {
            drop(parent_end);
            let io = ChildIo {
                init,
                init_path: &init_path,
                exit_file,
                session: &session,
                log_files,
                terminals,
            };
            child::run(child_end, cgroups, plan, &prepared, io);
        };
        drop(child_end);
        undo.push("first process", move || {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        });
        // The child builds the root filesystem meanwhile, then joins the
        // cgroup itself and leaves the host's tree.
        cgroups.create(&plan.cgroup, &plan.limits)?;
        let _ = parent_end.send(ParentMessage::CgroupReady);
        // The process whose network namespace is the container's.
        let netns_pid = holder.as_ref().map_or(pid.as_raw(), |h| h.pid());
        if let Some(ns) = plan.network.netns() {
            netns::bind(ns, netns_pid)?;
            undo.push("netns name", move || {
                let _ = netns::remove(ns);
            });
            crate::crashpoint::hit("boot.netns");
        }
        if let Some(m) = plan.network.macvlan() {
            // Made in the container's namespace: it goes with it.
            let pid_u32 = u32::try_from(netns_pid).unwrap_or_default();
            net::macvlan::attach(m, pid_u32).map_err(net_error(name))?;
            crate::crashpoint::hit("boot.macvlan");
        }
        let bridge_state = match plan.network.bridge() {
            Some(b) => {
                let pid_u32 = u32::try_from(netns_pid).unwrap_or_default();
                let st = net::attach(b, pid_u32).map_err(net_error(name))?;
                let undo_state = st.clone();
                undo.push("veth and rules", move || {
                    let _ = net::release(&undo_state);
                });
                crate::crashpoint::hit("boot.bridge");
                Some(st)
            }
            None => None,
        };
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
            netns: plan.network.netns().map(str::to_string),
            bridge: bridge_state,
            cgroup: Some(plan.cgroup.clone()),
            exec: plan.exec.clone(),
            main_tty: plan.main_tty,
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
        let mntns = match plan.userns {
            Some(_) => 0,
            None => mount_namespace(Path::new("/proc"), pid.as_raw()).unwrap_or(0),
        };
        index
            .mark(name, mark(mntns))
            .map_err(step(name, "record running entry"))?;
        undo.push("running entry", move || {
            let _ = self.containers.running().unmark(name);
        });
        crate::crashpoint::hit("boot.marked");
        let state_path = self.containers.path(name, STATE_FILE);
        state.save(&state_path).map_err(ContainerError::from)?;
        let state_file = state_path.clone();
        undo.push("state", move || {
            let _ = std::fs::remove_file(&state_file);
        });
        crate::crashpoint::hit("boot.state");
        // A child that failed before `Go` closed its end: its reason is
        // what counts, not the broken pipe.
        let went = parent_end.send(ParentMessage::Go);
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
        if plan.userns.is_some() {
            if let Some(mntns) = mount_namespace(Path::new("/proc"), pid.as_raw()) {
                index
                    .mark(name, mark(mntns))
                    .map_err(step(name, "record running entry"))?;
            }
        }
        drop(session);
        undo.commit();
        drop(network_lock);
        Ok(pid)
    }
}
