//! User-defined networks as library calls: create, remove and list
//! (`-a network_create`, `-a network_remove`, `-s networks`; Docker's
//! `network create/rm/ls` are thin verbs over the same calls). Each takes
//! the home's network lock while it reads and replaces the store.

use std::net::Ipv4Addr;

use serde::Serialize;

use super::LifecycleError;
use crate::container::Status;
use crate::names::Name;
use crate::network::store::{
    self, check_new, Driver, HostView, NetworkDef, NetworkRequest, NetworkStoreError,
};
use crate::network::{self as net, Net};
use crate::runtime::Runtime;

/// One network as `-s networks` shows it (BRIDGE first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkSummary {
    pub name: String,
    pub driver: String,
    /// None: DHCP.
    pub subnet: Option<String>,
    pub gateway: Option<Ipv4Addr>,
    /// The bridge (bridge driver) or the parent (macvlan).
    pub interface: String,
    pub macvlan_mode: Option<String>,
    pub internal: bool,
    pub dhcp: bool,
    /// The containers on it, running or not, in name order.
    pub containers: Vec<String>,
}

fn summary(def: &NetworkDef, containers: Vec<String>) -> NetworkSummary {
    let subnet = def.subnet().ok().flatten();
    NetworkSummary {
        name: def.name.clone(),
        driver: def.driver.to_string(),
        subnet: subnet.map(|s| s.net().to_string()),
        gateway: subnet.map(|s| s.gateway()),
        interface: def.interface().to_string(),
        macvlan_mode: def.macvlan_mode.map(|m| m.as_str().to_string()),
        internal: def.internal,
        dhcp: def.dhcp,
        containers,
    }
}

/// The containers of this home on `net`, in name order.
fn containers_on(rt: &Runtime, on: &Net) -> Result<Vec<Name>, LifecycleError> {
    let mut found: Vec<Name> = rt
        .containers
        .names()?
        .into_iter()
        .filter(|n| rt.containers.config(n).is_ok_and(|c| c.net == *on))
        .collect();
    found.sort();
    Ok(found)
}

/// Creates a network after checking it against the others, BRIDGE and
/// the host (its routes and interfaces). Nothing is made on the host yet:
/// a bridge network's bridge is made at its first container's boot.
pub fn network_create(rt: &Runtime, req: &NetworkRequest) -> Result<NetworkDef, LifecycleError> {
    let _lock = rt.network_lock()?;
    let store = rt.network_store();
    let mut existing = store.load()?;
    let host = HostView {
        bridge_subnet: rt.subnet().ok().map(|s| s.net()),
        bridge_name: rt.config.network.bridge.clone(),
        routes: if req.driver == Driver::Bridge {
            net::host_routes().map_err(|source| NetworkStoreError::Routes {
                name: req.name.clone(),
                source,
            })?
        } else {
            Vec::new()
        },
        interfaces: net::host_interfaces(),
    };
    let default_bridge = store::bridge_name(rt.containers.home().root(), &req.name);
    let def = check_new(req, &existing, &host, default_bridge)?;
    existing.push(def.clone());
    store.save(&existing)?;
    crate::logging::info(&format!(
        "network {}: created ({} {})",
        def.name,
        def.driver,
        def.subnet.as_deref().unwrap_or("dhcp")
    ));
    Ok(def)
}

/// Removes a network and its bridge. Refused while a container is on
/// it; with `force`, stopped containers are moved to CUSTOM (a network
/// namespace with only `lo`, their address dropped) and only running ones
/// refuse.
pub fn network_remove(rt: &Runtime, name: &str, force: bool) -> Result<NetworkDef, LifecycleError> {
    let network = Name::parse_as("network name", name)?;
    let on = Net::Named(network.clone());
    let _lock = rt.network_lock()?;
    let store = rt.network_store();
    let mut all = store.load()?;
    let Some(at) = all.iter().position(|n| n.name == name) else {
        return Err(NetworkStoreError::NotFound(name.to_string()).into());
    };
    let users = containers_on(rt, &on)?;
    let running: Vec<String> = users
        .iter()
        .filter(|c| matches!(rt.containers.status(c), Ok(Status::Running { .. })))
        .map(Name::to_string)
        .collect();
    if !running.is_empty() || (!users.is_empty() && !force) {
        let (containers, hint) = if running.is_empty() {
            (
                users.iter().map(Name::to_string).collect(),
                ": move them (-a net) or remove it with -f (they go to CUSTOM)",
            )
        } else {
            (running, " (running): shut them down first")
        };
        return Err(NetworkStoreError::InUse {
            name: name.to_string(),
            containers,
            hint,
        }
        .into());
    }
    for c in &users {
        // Never waited for under the network lock (a boot holds its
        // container's lock and then takes the network's): busy is refused.
        let Some(_c_lock) = rt
            .containers
            .home()
            .try_lock(crate::home::LockKind::Container, c)
            .map_err(crate::container::ContainerError::from)?
        else {
            return Err(NetworkStoreError::InUse {
                name: name.to_string(),
                containers: vec![c.to_string()],
                hint: " (busy: another command is working on it)",
            }
            .into());
        };
        if matches!(rt.containers.status(c), Ok(Status::Running { .. })) {
            return Err(NetworkStoreError::InUse {
                name: name.to_string(),
                containers: vec![c.to_string()],
                hint: " (running): shut them down first",
            }
            .into());
        }
        let mut config = rt.containers.config(c)?;
        config.net = Net::Custom;
        config.vip = None;
        config.port_mappings.clear();
        config.host_eth = None;
        rt.containers.save_config(&config)?;
        crate::logging::warn_user(&format!(
            "container {c}: network {name} removed (-f): it is on CUSTOM now"
        ));
    }
    let def = all.remove(at);
    store.save(&all)?;
    if let Some(bridge) = &def.bridge {
        net::remove_bridge(bridge).map_err(|e| NetworkStoreError::Invalid {
            name: name.to_string(),
            reason: e.to_string(),
        })?;
    }
    crate::logging::info(&format!("network {name}: removed"));
    Ok(def)
}

/// Every network: BRIDGE (the home's `[network]`), then the user-defined
/// ones in creation order, each with its containers.
pub fn networks(rt: &Runtime) -> Result<Vec<NetworkSummary>, LifecycleError> {
    let subnet = rt.subnet().ok();
    let mut out = vec![NetworkSummary {
        name: "BRIDGE".to_string(),
        driver: "bridge".to_string(),
        subnet: subnet.map(|s| s.net().to_string()),
        gateway: subnet.map(|s| s.gateway()),
        interface: rt.config.network.bridge.clone(),
        macvlan_mode: None,
        internal: false,
        dhcp: false,
        containers: names(containers_on(rt, &Net::Bridge)?),
    }];
    for def in rt.network_store().load()? {
        let on = Net::Named(Name::parse_as("network name", &def.name)?);
        out.push(summary(&def, names(containers_on(rt, &on)?)));
    }
    Ok(out)
}

/// One network by name (`BRIDGE` too), with its containers.
pub fn network_inspect(rt: &Runtime, name: &str) -> Result<NetworkSummary, LifecycleError> {
    networks(rt)?
        .into_iter()
        .find(|n| n.name == name)
        .ok_or_else(|| NetworkStoreError::NotFound(name.to_string()).into())
}

fn names(list: Vec<Name>) -> Vec<String> {
    list.into_iter().map(|n| n.to_string()).collect()
}
