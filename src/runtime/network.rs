//! The host side of container networks that outlives one boot: VIPs
//! chosen under the home-wide network lock, port leases, the host-port
//! check, and releasing a BRIDGE container's veth and rules.

use crate::container::{ContainerError, Status};
use crate::home::LockKind;
use crate::names::Name;
use crate::network::ipam::Subnet;
use crate::network::ports::PortLeases;
use crate::network::{self as net, BridgeState, Net, PortMap};

use super::{net_error, plan, Runtime, RuntimeError};

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

    /// The host resources a BRIDGE container of this home would hold,
    /// derived from its name (for a state that lost them).
    pub(super) fn derived_bridge_state(&self, name: &Name) -> BridgeState {
        BridgeState {
            veth: net::veth_name(&self.netns_name(name)),
            nft_table: self.config.network.nft_table.clone(),
            chains_of: name.to_string(),
        }
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
