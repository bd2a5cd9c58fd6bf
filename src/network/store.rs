//! User-defined networks (`-a network_create`): their definitions, kept in
//! one file of the home (`networks.toml`, replaced atomically under the
//! home's network lock), and the checks a new one must pass: a valid
//! name, no subnet overlapping another network's, BRIDGE's or the host's
//! routes, and no interface of the host taken over as its bridge. The
//! home's `[network]` bridge is the network named `BRIDGE`, read from
//! xdocker.toml as before.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::ipam::Subnet;
use super::mode::BUILT_IN;
use crate::names::Name;

/// The file of networks in the home.
pub const NETWORKS_FILE: &str = "networks.toml";

/// Errors of the network store and of network definitions.
#[derive(Debug, thiserror::Error)]
pub enum NetworkStoreError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error(transparent)]
    Write(#[from] crate::fsutil::atomic::AtomicWriteError),
    #[error("network {0} not found (see -s networks)")]
    NotFound(String),
    #[error("network {0} already exists")]
    Exists(String),
    #[error("network {name}: {reason}")]
    Invalid { name: String, reason: String },
    #[error("network {name}: read the host's routes: {source}")]
    Routes {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("network {name} is used by container{} {}{}", if .containers.len() > 1 { "s" } else { "" }, .containers.join(", "), .hint)]
    InUse {
        name: String,
        containers: Vec<String>,
        hint: &'static str,
    },
}

/// How a network reaches its containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
#[value(rename_all = "lowercase")]
pub enum Driver {
    /// A bridge of the host, with NAT out (like BRIDGE).
    Bridge,
    /// A macvlan of a host interface: containers sit on that LAN.
    Macvlan,
}

/// The mode of a macvlan (ip-link(8)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
#[value(rename_all = "lowercase")]
pub enum MacvlanMode {
    Bridge,
    Private,
    Vepa,
    Passthru,
}

impl MacvlanMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MacvlanMode::Bridge => "bridge",
            MacvlanMode::Private => "private",
            MacvlanMode::Vepa => "vepa",
            MacvlanMode::Passthru => "passthru",
        }
    }
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Driver::Bridge => "bridge",
            Driver::Macvlan => "macvlan",
        })
    }
}

/// One user-defined network as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDef {
    pub name: String,
    pub driver: Driver,
    /// `A.B.C.D/N`; None: a DHCP macvlan network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// Bridge driver: the host's bridge interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// Bridge driver: no NAT out, no traffic but to its own bridge.
    #[serde(default)]
    pub internal: bool,
    /// Macvlan driver: the host interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macvlan_mode: Option<MacvlanMode>,
    /// Macvlan driver: addresses from the LAN's DHCP server.
    #[serde(default)]
    pub dhcp: bool,
    #[serde(default)]
    pub created: String,
}

impl NetworkDef {
    /// The subnet with its gateway, checked (None for DHCP).
    pub fn subnet(&self) -> Result<Option<Subnet>, NetworkStoreError> {
        let invalid = |reason| NetworkStoreError::Invalid {
            name: self.name.clone(),
            reason,
        };
        let Some(text) = &self.subnet else {
            return Ok(None);
        };
        let subnet = Subnet::parse(text).map_err(invalid)?;
        match self.gateway {
            Some(g) => subnet.with_gateway(g).map(Some).map_err(invalid),
            None => Ok(Some(subnet)),
        }
    }

    /// Whether it hands out addresses from a subnet xdocker knows (bridge,
    /// static macvlan).
    pub fn is_static(&self) -> bool {
        !self.dhcp
    }

    /// The bridge or parent interface.
    pub fn interface(&self) -> &str {
        self.bridge
            .as_deref()
            .or(self.parent.as_deref())
            .unwrap_or("")
    }
}

/// What `-a network_create` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRequest {
    pub name: String,
    pub driver: Driver,
    pub subnet: Option<String>,
    pub gateway: Option<Ipv4Addr>,
    pub bridge: Option<String>,
    pub internal: bool,
    pub parent: Option<String>,
    pub macvlan_mode: Option<MacvlanMode>,
    pub dhcp: bool,
}

/// What else is on the host, for the checks of a new network.
#[derive(Debug, Clone, Default)]
pub struct HostView {
    /// The home's BRIDGE subnet and bridge name.
    pub bridge_subnet: Option<Ipv4Net>,
    pub bridge_name: String,
    /// The host's routes (main table, no default route).
    pub routes: Vec<Ipv4Net>,
    /// Whether an interface of this name exists on the host.
    pub interfaces: Vec<String>,
}

/// The bridge interface of a user network: `xdb` + 10 hex digits of the
/// MD5 of home and network name (15 bytes at most; unique per home).
pub fn bridge_name(home: &Path, network: &str) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(home.as_os_str().as_encoded_bytes());
    h.update(b"/network/");
    h.update(network.as_bytes());
    let digest = crate::image::archive::hex(&h.finalize());
    format!("xdb{}", &digest[..10])
}

/// Checks a new network against the others and the host; returns the
/// definition to store. `default_bridge` is the bridge name used when none
/// is given.
pub fn check_new(
    req: &NetworkRequest,
    existing: &[NetworkDef],
    host: &HostView,
    default_bridge: String,
) -> Result<NetworkDef, NetworkStoreError> {
    let name =
        Name::parse_as("network name", &req.name).map_err(|e| NetworkStoreError::Invalid {
            name: req.name.clone(),
            reason: e.to_string(),
        })?;
    let invalid = |reason: String| NetworkStoreError::Invalid {
        name: req.name.clone(),
        reason,
    };
    if BUILT_IN
        .iter()
        .any(|b| b.eq_ignore_ascii_case(name.as_str()))
    {
        return Err(invalid(format!(
            "{} is a built-in network mode (HOST, CUSTOM, BRIDGE): choose another name",
            req.name
        )));
    }
    if existing.iter().any(|n| n.name == req.name) {
        return Err(NetworkStoreError::Exists(req.name.clone()));
    }
    let mut def = NetworkDef {
        name: req.name.clone(),
        driver: req.driver,
        subnet: req.subnet.clone(),
        gateway: req.gateway,
        bridge: None,
        internal: req.internal,
        parent: None,
        macvlan_mode: None,
        dhcp: req.dhcp,
        created: chrono::Local::now().to_rfc3339(),
    };
    match req.driver {
        Driver::Bridge => {
            for (given, option) in [
                (req.parent.is_some(), "--parent"),
                (req.macvlan_mode.is_some(), "--macvlan-mode"),
                (req.dhcp, "--dhcp"),
            ] {
                if given {
                    return Err(invalid(format!("{option} is for --driver macvlan")));
                }
            }
            if req.subnet.is_none() {
                return Err(invalid("a bridge network needs --subnet CIDR".into()));
            }
            let bridge = req.bridge.clone().unwrap_or(default_bridge);
            super::check_ifname("bridge", &bridge).map_err(invalid)?;
            if host.interfaces.contains(&bridge) {
                return Err(invalid(format!(
                    "{bridge} is an interface of the host: xdocker never takes one over as a \
                     network's bridge (name another with --bridge)"
                )));
            }
            if let Some(other) = existing
                .iter()
                .find(|n| n.bridge.as_deref() == Some(&bridge))
                .map(|n| n.name.clone())
                .or_else(|| (bridge == host.bridge_name).then(|| "BRIDGE".to_string()))
            {
                return Err(invalid(format!("bridge {bridge} is network {other}'s")));
            }
            def.bridge = Some(bridge);
        }
        Driver::Macvlan => {
            if req.bridge.is_some() || req.internal {
                return Err(invalid(
                    "--bridge and --internal are for --driver bridge".into(),
                ));
            }
            let parent = req
                .parent
                .clone()
                .ok_or_else(|| invalid("a macvlan network needs --parent IF".into()))?;
            super::check_ifname("parent", &parent).map_err(invalid)?;
            if !host.interfaces.contains(&parent) {
                return Err(invalid(format!(
                    "parent {parent}: no such interface on the host"
                )));
            }
            match (req.subnet.is_some(), req.dhcp) {
                (true, true) => return Err(invalid("give --subnet or --dhcp, not both".into())),
                (false, false) => {
                    return Err(invalid(
                        "a macvlan network needs --subnet CIDR (static addresses) or --dhcp".into(),
                    ))
                }
                _ => {}
            }
            if req.dhcp && req.gateway.is_some() {
                return Err(invalid(
                    "--gateway comes from the DHCP server with --dhcp".into(),
                ));
            }
            def.parent = Some(parent);
            def.macvlan_mode = Some(req.macvlan_mode.unwrap_or(MacvlanMode::Bridge));
        }
    }
    if let Some(subnet) = def.subnet()? {
        let net = subnet.net();
        for other in existing {
            if let Ok(Some(o)) = other.subnet() {
                if o.net().contains(&net.network()) || net.contains(&o.net().network()) {
                    return Err(invalid(format!(
                        "subnet {net} overlaps network {}'s {}",
                        other.name,
                        o.net()
                    )));
                }
            }
        }
        if let Some(b) = host.bridge_subnet {
            if b.contains(&net.network()) || net.contains(&b.network()) {
                return Err(invalid(format!("subnet {net} overlaps BRIDGE's {b}")));
            }
        }
        // A macvlan network's subnet is the LAN's: the host has a route to
        // it through the parent, as it should.
        if def.driver == Driver::Bridge {
            if let Some(r) = host
                .routes
                .iter()
                .find(|r| r.contains(&net.network()) || net.contains(&r.network()))
            {
                return Err(invalid(format!(
                    "subnet {net} overlaps the host's route to {r}"
                )));
            }
        }
    }
    Ok(def)
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct NetworksFile {
    #[serde(default, rename = "network")]
    networks: Vec<NetworkDef>,
}

/// The networks of one home.
#[derive(Debug, Clone)]
pub struct NetworkStore {
    path: PathBuf,
}

impl NetworkStore {
    pub fn new(home_root: &Path) -> Self {
        Self {
            path: home_root.join(NETWORKS_FILE),
        }
    }

    /// Every network, in creation order (none when the file is missing).
    pub fn load(&self) -> Result<Vec<NetworkDef>, NetworkStoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(NetworkStoreError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let file: NetworksFile = toml::from_str(&text).map_err(|e| NetworkStoreError::Parse {
            path: self.path.clone(),
            source: Box::new(e),
        })?;
        Ok(file.networks)
    }

    /// One network by name.
    pub fn get(&self, name: &str) -> Result<NetworkDef, NetworkStoreError> {
        self.load()?
            .into_iter()
            .find(|n| n.name == name)
            .ok_or_else(|| NetworkStoreError::NotFound(name.to_string()))
    }

    /// Replaces the file (temp, fsync, rename, fsync of the directory).
    /// The caller holds the home's network lock.
    pub fn save(&self, networks: &[NetworkDef]) -> Result<(), NetworkStoreError> {
        let file = NetworksFile {
            networks: networks.to_vec(),
        };
        let text = toml::to_string(&file).unwrap_or_default();
        crate::fsutil::atomic::write_atomic(&self.path, text.as_bytes(), 0o644)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, driver: Driver, subnet: Option<&str>) -> NetworkRequest {
        NetworkRequest {
            name: name.into(),
            driver,
            subnet: subnet.map(str::to_string),
            gateway: None,
            bridge: None,
            internal: false,
            parent: None,
            macvlan_mode: None,
            dhcp: false,
        }
    }

    fn host() -> HostView {
        HostView {
            bridge_subnet: Some("172.30.254.0/24".parse().expect("net")),
            bridge_name: "xdocker0".into(),
            routes: vec!["10.0.2.0/24".parse().expect("net")],
            interfaces: vec!["lo".into(), "eth0".into(), "xdocker0".into()],
        }
    }

    fn err(r: &NetworkRequest, existing: &[NetworkDef]) -> String {
        check_new(r, existing, &host(), "xdbother".into())
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_bridge_network_gets_its_bridge_and_is_checked() {
        let def = check_new(
            &req("front", Driver::Bridge, Some("10.91.0.0/24")),
            &[],
            &host(),
            "xdbtest".into(),
        )
        .expect("ok");
        assert_eq!(def.bridge.as_deref(), Some("xdbtest"));
        assert_eq!(
            def.subnet().expect("subnet").map(|s| s.gateway()),
            Some(Ipv4Addr::new(10, 91, 0, 1))
        );
        let existing = [def];
        for (r, needle) in [
            (
                req("front", Driver::Bridge, Some("10.92.0.0/24")),
                "already exists",
            ),
            (
                req("back", Driver::Bridge, Some("10.91.0.128/25")),
                "overlaps network front's 10.91.0.0/24",
            ),
            (
                req("back", Driver::Bridge, Some("10.0.0.0/8")),
                "overlaps network front's",
            ),
            (
                req("back", Driver::Bridge, Some("172.30.0.0/16")),
                "overlaps BRIDGE's",
            ),
            (
                req("back", Driver::Bridge, Some("10.0.2.0/25")),
                "overlaps the host's route to 10.0.2.0/24",
            ),
            (req("back", Driver::Bridge, None), "needs --subnet"),
            (
                req("bridge", Driver::Bridge, Some("10.93.0.0/24")),
                "built-in",
            ),
            (
                req("a/b", Driver::Bridge, Some("10.93.0.0/24")),
                "network name",
            ),
        ] {
            let e = err(&r, &existing);
            assert!(e.contains(needle), "{r:?}: {e}");
        }
        let mut r = req("back", Driver::Bridge, Some("10.93.0.0/24"));
        r.bridge = Some("eth0".into());
        assert!(err(&r, &existing).contains("interface of the host"));
        r.bridge = Some("xdbtest".into());
        assert!(err(&r, &existing).contains("network front's"));
        r.bridge = None;
        r.gateway = Some(Ipv4Addr::new(10, 93, 1, 1));
        assert!(err(&r, &existing).contains("gateway 10.93.1.1"));
    }

    #[test]
    fn a_macvlan_network_needs_a_parent_and_an_address_source() {
        let mut r = req("lan", Driver::Macvlan, Some("10.0.2.0/24"));
        assert!(err(&r, &[]).contains("--parent"));
        r.parent = Some("nosuch0".into());
        assert!(err(&r, &[]).contains("no such interface"));
        r.parent = Some("eth0".into());
        // The LAN's own route is fine for macvlan.
        let def = check_new(&r, &[], &host(), "unused".into()).expect("ok");
        assert_eq!(def.macvlan_mode, Some(MacvlanMode::Bridge));
        assert_eq!(def.bridge, None);
        r.dhcp = true;
        assert!(err(&r, &[]).contains("not both"));
        r.subnet = None;
        assert!(
            check_new(&r, &[], &host(), "unused".into())
                .expect("dhcp")
                .dhcp
        );
        r.dhcp = false;
        assert!(err(&r, &[]).contains("or --dhcp"));
    }

    #[test]
    fn the_store_round_trips_and_bridge_names_fit() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = NetworkStore::new(dir.path());
        assert!(store.load().expect("empty").is_empty());
        let def = check_new(
            &req("front", Driver::Bridge, Some("10.91.0.0/24")),
            &[],
            &host(),
            bridge_name(dir.path(), "front"),
        )
        .expect("ok");
        store.save(std::slice::from_ref(&def)).expect("save");
        assert_eq!(store.load().expect("load"), vec![def]);
        assert!(matches!(
            store.get("nope"),
            Err(NetworkStoreError::NotFound(_))
        ));
        let b = bridge_name(dir.path(), "front");
        assert!(b.starts_with("xdb") && b.len() == 13);
        assert_ne!(b, bridge_name(dir.path(), "back"));
    }
}
