//! Releasing what a stopped container still holds — cgroup, network
//! namespace name, veth and rules, session socket, state — however it
//! stopped (shutdown, kill, its init dying, `kill -9` of xdocker mid-boot),
//! at the latest by the next command.

use std::path::Path;

use crate::container::running::Mark;
use crate::container::store::STATE_FILE;
use crate::container::{ContainerError, Status};
use crate::home::LockKind;
use crate::names::Name;
use crate::network::{self as net, Net};

use super::{netns, step, Runtime, RuntimeError};

impl Runtime {
    /// The truth about a container; a container found stopped with state
    /// left behind (killed init, crashed xdocker) has its leftovers released
    /// when nobody else is working on it.
    pub fn status_releasing_leftovers(&self, name: &Name) -> Result<Status, RuntimeError> {
        let status = self.status(name)?;
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
        let config = self.containers.config(name).ok();
        let bridge = state.bridge.clone().or_else(|| {
            // A damaged state lost the names: derive them.
            self.derived_bridge_state(name, &config.as_ref()?.net)
        });
        if let Some(b) = &bridge {
            attempt(self.release_bridge(name, b));
        }
        let netns = state.netns.clone().or_else(|| {
            // A damaged state lost the name: derive it.
            (config.as_ref()?.net != Net::Host).then(|| self.netns_name(name))
        });
        if let Some(ns) = &netns {
            if config.as_ref().is_some_and(|c| self.is_macvlan(&c.net)) {
                let path = Path::new(netns::NETNS_DIR).join(ns);
                let dhcp = self.unreleased_lease(name);
                attempt(
                    net::macvlan::release(&path, dhcp).map_err(|e| RuntimeError::Network {
                        name: name.to_string(),
                        source: Box::new(e),
                    }),
                );
            }
            attempt(netns::remove(ns).map_err(RuntimeError::from));
        }
        attempt(
            crate::session::remove(&self.containers.path(name, crate::session::SOCKET_FILE))
                .map_err(step(name, "remove session socket")),
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
            .map_err(step(name, "remove state"))?;
        // A --rm container stays in the index until it is removed: the
        // release may come from any command, the removal from the next
        // one's release_stale.
        let index = self.containers.running();
        let kept = match config.as_ref().is_some_and(|c| c.auto_remove) {
            true => index.mark(name, Mark::REMOVAL_PENDING),
            false => index.unmark(name),
        };
        kept.map_err(step(name, "remove running entry"))?;
        crate::crashpoint::hit("release.done");
        crate::logging::info(&format!("container {name}: released after stop"));
        // The network's other members forget its name.
        if let Some(network) = config.as_ref().and_then(|c| c.net.network()) {
            self.leave_members(network, name);
        }
        Ok(())
    }

    /// What a boot killed before it wrote its state file left behind, found
    /// by the names derived from the container's: its network namespace
    /// name (which would make the next boot fail with "file exists") and,
    /// BRIDGE, its veth with its rules. No live container holds them: the
    /// caller holds the container's lock and found no state. A failed
    /// rmdir per cgroup hierarchy and two `stat`s when there is nothing to
    /// release.
    pub(super) fn release_leftovers(&self, name: &Name, net: &Net) -> Result<(), RuntimeError> {
        // Processes of a killed boot die with it (see `child_main`), but
        // may not be gone yet; with no state file and the lock held, no
        // boot of this container is under way: they are leftovers.
        self.cgroups()?.remove(name.as_str())?;
        if *net == Net::Host {
            return Ok(());
        }
        let ns = self.netns_name(name);
        if Path::new(netns::NETNS_DIR).join(&ns).exists() {
            crate::logging::warn(&format!(
                "container {name}: releasing the network namespace name {ns} of a boot that was \
                 interrupted"
            ));
            if self.is_macvlan(net) {
                net::macvlan::release(&Path::new(netns::NETNS_DIR).join(&ns), None)
                    .map_err(crate::runtime::net_error(name))?;
            }
            netns::remove(&ns)?;
        }
        if let Some(derived) = self.derived_bridge_state(name, net) {
            if Path::new("/sys/class/net")
                .join(net::veth_name(&ns))
                .exists()
            {
                self.release_bridge(name, &derived)?;
            }
        }
        Ok(())
    }

    /// Releases every stopped container's leftovers (run by each command):
    /// only entries of the running index whose process is gone are looked
    /// at. Returns the containers found stopped.
    pub fn release_stale(&self) -> Result<Vec<Name>, RuntimeError> {
        let mut stopped = Vec::new();
        let index = self.containers.running();
        let index_err = |e: std::io::Error| RuntimeError::Step {
            name: "running index".to_string(),
            step: "read",
            source: Box::new(e),
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
            if mark == Some(Mark::REMOVAL_PENDING) {
                stopped.push(name);
                continue;
            }
            if mark.is_some_and(|m| m.alive(Path::new("/proc"))) {
                continue;
            }
            if self.containers.path(&name, STATE_FILE).exists() {
                if self.status_releasing_leftovers(&name)? == Status::Stopped {
                    stopped.push(name);
                }
            } else if let Some(_lock) = self
                .containers
                .home()
                .try_lock(LockKind::Container, &name)
                .map_err(ContainerError::from)?
            {
                // A boot killed between its entry and its state file.
                match self.containers.config(&name) {
                    Ok(config) => self.release_leftovers(&name, &config.net)?,
                    Err(_) => self.cgroups()?.remove(name.as_str())?,
                }
                index.unmark(&name).map_err(index_err)?;
            }
        }
        Ok(stopped)
    }

    /// Removes what a container may hold even without a state file (a boot
    /// killed before it recorded one): its cgroup and its netns name. For
    /// destroy; the caller holds the lock and knows it is stopped.
    pub fn forget(&self, name: &Name) -> Result<(), RuntimeError> {
        self.cgroups()?.remove(name.as_str())?;
        let ns = self.netns_name(name);
        if self
            .containers
            .config(name)
            .is_ok_and(|c| self.is_macvlan(&c.net))
        {
            net::macvlan::release(&Path::new(netns::NETNS_DIR).join(&ns), None)
                .map_err(crate::runtime::net_error(name))?;
        }
        netns::remove(&ns)?;
        self.containers
            .running()
            .unmark(name)
            .map_err(step(name, "remove running entry"))?;
        if let Some(derived) = self
            .containers
            .config(name)
            .ok()
            .and_then(|c| self.derived_bridge_state(name, &c.net))
        {
            self.release_bridge(name, &derived)?;
        }
        Ok(())
    }
}
