//! The host side of container networks that outlives one boot: VIPs
//! chosen under the home-wide network lock, port leases, the host-port
//! check, releasing a BRIDGE container's veth and rules, and the names a
//! user-defined network's members know each other by.

use crate::container::{ContainerConfig, ContainerError, Status};
use crate::home::LockKind;
use crate::names::Name;
use crate::network::ipam::Subnet;
use crate::network::members::{self, Member};
use crate::network::ports::PortLeases;
use crate::network::store::{Driver, NetworkDef, NetworkStore};
use crate::network::{self as net, BridgeState, Net, PortMap};

use super::plan::UserNetwork;
use super::{net_error, plan, Runtime, RuntimeError};

/// What a network gives its containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetKind {
    Host,
    Custom,
    /// BRIDGE or a user bridge network: a VIP, port maps, NAT.
    Bridge,
    /// A macvlan network with addresses from its subnet: a VIP.
    MacvlanStatic,
    /// A macvlan network with addresses from DHCP.
    MacvlanDhcp,
}

impl NetKind {
    /// Whether xdocker gives the container its address (`--vip`).
    pub fn has_vip(self) -> bool {
        matches!(self, NetKind::Bridge | NetKind::MacvlanStatic)
    }
}

impl Runtime {
    /// The bridge subnet of this home, checked.
    pub fn subnet(&self) -> Result<Subnet, RuntimeError> {
        plan::subnet(&self.config.network)
    }

    pub(super) fn port_leases(&self) -> PortLeases {
        PortLeases::new(self.containers.home().root())
    }

    /// The home-wide lock of VIPs and port leases.
    pub fn network_lock(&self) -> Result<crate::home::ObjectLock, RuntimeError> {
        let fixed = Name::parse_as("lock name", "bridge").map_err(|e| RuntimeError::Step {
            name: "network".to_string(),
            step: "lock",
            source: Box::new(e),
        })?;
        Ok(self
            .containers
            .home()
            .lock(LockKind::Network, &fixed)
            .map_err(ContainerError::from)?)
    }

    /// The user-defined networks of this home.
    pub fn network_store(&self) -> NetworkStore {
        NetworkStore::new(self.containers.home().root())
    }

    /// The definition of network `network`, for container `name`.
    pub fn network_def(&self, name: &Name, network: &Name) -> Result<NetworkDef, RuntimeError> {
        self.network_store()
            .get(network.as_str())
            .map_err(net_error(name))
    }

    /// Network `def` (one of `all`) as a boot sees it: the other bridge
    /// networks' subnets (BRIDGE's among them) and its running members.
    pub fn user_network<'a>(&self, def: &'a NetworkDef, all: &[NetworkDef]) -> UserNetwork<'a> {
        let mut others: Vec<ipnet::Ipv4Net> =
            self.subnet().ok().map(|s| s.net()).into_iter().collect();
        for other in all {
            if other.name != def.name && other.driver == Driver::Bridge {
                if let Ok(Some(s)) = other.subnet() {
                    others.push(s.net());
                }
            }
        }
        UserNetwork {
            def,
            others,
            members: self.members(&def.name),
        }
    }

    /// What xdockerinit last wrote of container `name`'s DHCP lease, read
    /// from its writable layer (symlinks resolved inside it); None when
    /// there is no lease file.
    pub fn dhcp_lease(&self, name: &Name) -> Option<xdockerinit::dhcp::LeaseFile> {
        use std::os::fd::OwnedFd;
        let layer = self.containers.path(name, crate::container::store::RWLAYER);
        let dir = std::fs::File::open(&layer).ok()?;
        let root = crate::fsutil::inroot::Root::from_fd(OwnedFd::from(dir));
        let (bytes, _) = root
            .read_file(std::path::Path::new(xdockerinit::dhcp::LEASE_FILE), 4096)
            .ok()?;
        Some(xdockerinit::dhcp::parse_lease_file(
            &String::from_utf8_lossy(&bytes),
        ))
    }

    /// A DHCP lease container `name`'s xdockerinit holds by its lease file
    /// but did not release (it was killed): its eth0's MAC, the address and
    /// the server.
    pub(super) fn unreleased_lease(
        &self,
        name: &Name,
    ) -> Option<([u8; 6], std::net::Ipv4Addr, std::net::Ipv4Addr)> {
        match self.dhcp_lease(name)? {
            xdockerinit::dhcp::LeaseFile::Bound {
                address,
                server: Some(server),
                ..
            } => Some((
                net::container_mac(&net::veth_name(&self.netns_name(name))),
                address,
                server,
            )),
            _ => None,
        }
    }

    /// Waits until xdockerinit of container `name` (first process `pid`)
    /// holds its DHCP lease; its error, its death or the time running out
    /// is the boot's error.
    pub(super) fn wait_for_lease(&self, name: &Name, pid: i32) -> Result<(), RuntimeError> {
        use xdockerinit::dhcp::{LeaseFile, DEFAULT_TIMEOUT_SECS};
        let fail = |reason: String| RuntimeError::Network {
            name: name.to_string(),
            source: reason.into(),
        };
        let deadline = std::time::Instant::now()
            + std::time::Duration::from_secs(u64::from(DEFAULT_TIMEOUT_SECS) + 5);
        loop {
            match self.dhcp_lease(name) {
                Some(LeaseFile::Bound { address, .. }) => {
                    crate::logging::info(&format!("container {name}: DHCP lease {address}"));
                    return Ok(());
                }
                Some(LeaseFile::Error(e)) => return Err(fail(e)),
                _ => {}
            }
            let alive = std::path::Path::new("/proc").join(pid.to_string()).exists()
                && !matches!(
                    nix::sys::wait::waitpid(
                        nix::unistd::Pid::from_raw(pid),
                        Some(nix::sys::wait::WaitPidFlag::WNOHANG)
                    ),
                    Ok(nix::sys::wait::WaitStatus::Exited(..)
                        | nix::sys::wait::WaitStatus::Signaled(..))
                );
            if !alive {
                return Err(fail(
                    "dhcp: xdockerinit stopped before it had a lease (see -s logs)".to_string(),
                ));
            }
            if std::time::Instant::now() >= deadline {
                return Err(fail(format!(
                    "dhcp: no lease within {}s",
                    DEFAULT_TIMEOUT_SECS + 5
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Whether `on` is a macvlan network (its container's eth0 is released
    /// inside its namespace, see [`net::macvlan::release`]).
    pub(super) fn is_macvlan(&self, on: &Net) -> bool {
        on.network()
            .and_then(|n| self.network_store().get(n.as_str()).ok())
            .is_some_and(|d| d.driver == Driver::Macvlan)
    }

    /// What network `on` is, for what a container on it may be given.
    pub fn net_kind(&self, name: &Name, on: &Net) -> Result<NetKind, RuntimeError> {
        Ok(match on {
            Net::Host => NetKind::Host,
            Net::Custom => NetKind::Custom,
            Net::Bridge => NetKind::Bridge,
            Net::Named(n) => {
                let def = self.network_def(name, n)?;
                match (def.driver, def.dhcp) {
                    (Driver::Bridge, _) => NetKind::Bridge,
                    (Driver::Macvlan, false) => NetKind::MacvlanStatic,
                    (Driver::Macvlan, true) => NetKind::MacvlanDhcp,
                }
            }
        })
    }

    /// The running members of network `network` (its registry, the dead
    /// left out).
    fn members(&self, network: &str) -> Vec<Member> {
        let proc_root = std::path::Path::new("/proc");
        members::Registry::new(self.containers.home().root(), network)
            .load()
            .into_iter()
            .filter(|e| e.alive(proc_root))
            .map(|e| e.member)
            .collect()
    }

    /// Container `name` (running as `pid`) joins the running members of
    /// its network, and every running member's /etc/hosts names the
    /// others. A member whose file cannot be written is logged, never an
    /// error of the boot.
    pub(super) fn join_members(&self, name: &Name, config: &ContainerConfig, pid: i32) {
        let Some(network) = config.net.network() else {
            return;
        };
        // A DHCP member is known by its leased address.
        let vip = config.vip.or_else(|| match self.dhcp_lease(name)? {
            xdockerinit::dhcp::LeaseFile::Bound { address, .. } => Some(address),
            _ => None,
        });
        let start_time =
            crate::container::state::process_start_time(std::path::Path::new("/proc"), pid);
        let me = vip.zip(start_time).map(|(vip, start_time)| members::Entry {
            member: Member {
                name: config.name.clone(),
                hostname: config.hostname.clone(),
                vip,
            },
            pid,
            start_time,
        });
        self.update_members(network, name, me);
    }

    /// Container `name` leaves the running members of network `network`.
    pub(super) fn leave_members(&self, network: &Name, name: &Name) {
        self.update_members(network, name, None);
    }

    /// Replaces `name`'s entry (none: removes it) and the dead ones, then
    /// rewrites every living member's /etc/hosts.
    fn update_members(&self, network: &Name, name: &Name, me: Option<members::Entry>) {
        let Ok(_lock) = self.network_lock() else {
            return;
        };
        let proc_root = std::path::Path::new("/proc");
        let registry = members::Registry::new(self.containers.home().root(), network.as_str());
        // Each living member's root, opened once: the check that it lives
        // and the handle its /etc/hosts is written through.
        let living: Vec<(members::Entry, crate::fsutil::inroot::Root)> = registry
            .load()
            .into_iter()
            .filter(|e| e.member.name != name.as_str())
            .chain(me)
            .filter_map(|e| members::open_root(&e, proc_root).map(|root| (e, root)))
            .collect();
        let entries: Vec<members::Entry> = living.iter().map(|(e, _)| e.clone()).collect();
        if let Err(e) = registry.save(&entries) {
            crate::logging::warn(&format!("network {network}: record its members: {e}"));
        }
        let list: Vec<Member> = entries.into_iter().map(|e| e.member).collect();
        for (e, root) in &living {
            let m = &e.member;
            let mut text = net::etc_files::hosts(&m.hostname, m.vip);
            text.push_str(&members::lines(&list, &m.name));
            if let Err(err) = members::write_hosts(root, &text) {
                crate::logging::warn(&format!(
                    "container {}: network {network}: rewrite /etc/hosts: {err}",
                    m.name
                ));
            }
        }
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
        self.choose_vip_on(name, &Net::Bridge, requested)
    }

    /// [`Self::choose_vip`] on network `on` (BRIDGE, or a user network
    /// with a subnet); the caller holds [`Self::network_lock`].
    pub fn choose_vip_on(
        &self,
        name: &Name,
        on: &Net,
        requested: Option<std::net::Ipv4Addr>,
    ) -> Result<std::net::Ipv4Addr, RuntimeError> {
        let subnet = match on.network() {
            None => self.subnet()?,
            Some(network) => {
                let def = self.network_def(name, network)?;
                def.subnet()
                    .map_err(net_error(name))?
                    .ok_or_else(|| RuntimeError::Network {
                        name: name.to_string(),
                        source: format!(
                            "network {network} takes its addresses from DHCP: no --vip"
                        )
                        .into(),
                    })?
            }
        };
        let mut taken = std::collections::HashMap::new();
        for other in self.containers.names()? {
            if other == *name {
                continue;
            }
            if let Ok(c) = self.containers.config(&other) {
                if let (true, Some(vip)) = (c.net == *on, c.vip) {
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

    /// The host resources a container of this home on network `on` would
    /// hold (BRIDGE, a user bridge network), derived from its name (for a
    /// state that lost them); None for other networks.
    pub(super) fn derived_bridge_state(&self, name: &Name, on: &Net) -> Option<BridgeState> {
        let isolated = match on {
            Net::Bridge => false,
            Net::Named(n) => {
                let def = self.network_store().get(n.as_str()).ok()?;
                if def.driver != Driver::Bridge {
                    return None;
                }
                true
            }
            Net::Host | Net::Custom => return None,
        };
        Some(BridgeState {
            veth: net::veth_name(&self.netns_name(name)),
            nft_table: self.config.network.nft_table.clone(),
            chains_of: name.to_string(),
            isolated,
        })
    }

    /// Releases a BRIDGE container's veth, rules and port leases.
    pub(super) fn release_bridge(
        &self,
        name: &Name,
        state: &BridgeState,
    ) -> Result<(), RuntimeError> {
        let _lock = self.network_lock()?;
        net::release(state).map_err(net_error(name))?;
        self.port_leases()
            .give_back(name.as_str())
            .map_err(net_error(name))
    }

    /// Refuses a port map whose host port a host socket has (a host
    /// service would lose its traffic to the container), unless `-f`.
    pub(super) fn check_host_ports(
        &self,
        name: &Name,
        maps: &[PortMap],
    ) -> Result<(), RuntimeError> {
        let Some(first) = net::listeners::busy(maps).into_iter().next() else {
            return Ok(());
        };
        if !self.force {
            return Err(RuntimeError::Network {
                name: name.to_string(),
                source: format!(
                    "{first}: its port map would take the host's traffic for it over (-f maps it \
                     anyway)"
                )
                .into(),
            });
        }
        crate::logging::warn_user(&format!(
            "container {name}: {first}; mapped anyway (-f): its traffic goes to the container"
        ));
        Ok(())
    }

    /// True when container `name` runs now.
    pub(super) fn is_running(&self, name: &str) -> bool {
        Name::parse_as("container name", name)
            .ok()
            .and_then(|n| self.containers.status(&n).ok())
            .is_some_and(|s| matches!(s, Status::Running { .. }))
    }
}
