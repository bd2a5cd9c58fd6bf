//! BRIDGE networking (SPEC §4): the bridge with the subnet's gateway
//! address, a veth pair per container (`eth0` inside), the VIP and default
//! route, and NAT (masquerade, port maps) in xdocker's own nftables table.
//! Links are made over rtnetlink and rules over netfilter netlink, both in
//! this process. User-defined networks ([`store`]) reuse the same pieces
//! with a bridge of their own (and isolation rules), or put a macvlan of a
//! host interface into the container ([`macvlan`]).

pub mod etc_files;
pub mod inside;
pub mod ipam;
pub mod listeners;
pub mod macvlan;
pub mod members;
pub mod mode;
pub mod nft;
pub mod port_map;
pub mod ports;
pub mod rtnl;
pub mod store;

use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use ipam::Subnet;
pub use mode::Net;
pub use port_map::{parse_port_maps, PortMap};
use rtnl::{link_index, Rtnl};

/// The interface name of a container's end of the veth pair.
pub const CONTAINER_IF: &str = "eth0";

/// A failed network step, naming the object.
#[derive(Debug, thiserror::Error)]
#[error("{object}: {step}: {reason}")]
pub struct NetError {
    pub object: String,
    pub step: &'static str,
    pub reason: String,
}

fn net_err<'a>(object: &'a str, step: &'static str) -> impl FnOnce(io::Error) -> NetError + 'a {
    move |e| NetError {
        object: object.to_string(),
        step,
        reason: xdockerinit::sys::io_text(&e),
    }
}

/// Everything a BRIDGE container's network is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgePlan {
    pub container: String,
    pub bridge: String,
    pub subnet: Subnet,
    pub vip: Ipv4Addr,
    pub host_eth: Option<String>,
    pub maps: Vec<PortMap>,
    pub nft_table: String,
    /// Host end of the veth pair.
    pub veth: String,
    /// A user-defined network's isolation rules (None: BRIDGE).
    pub isolation: Option<nft::Isolation>,
}

/// What a running BRIDGE container holds on the host, recorded in its
/// state so that it is released however the container stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeState {
    pub veth: String,
    pub nft_table: String,
    /// Whose chains (`NAME-pre`...) are in the table.
    pub chains_of: String,
    /// With a filter chain `NAME-fwd` (user-defined networks).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub isolated: bool,
}

/// The host end of a container's veth: `vx` + the 10 hex digits of its
/// network namespace name (at most 15 bytes, unique per home and name).
pub fn veth_name(netns_name: &str) -> String {
    format!("vx{}", netns_name.trim_start_matches("nns"))
}

/// The MAC address of a container's eth0: locally administered, unicast
/// (`02:`), then 5 bytes of the hash its veth name is made of (home and
/// container name): the same at every boot, different between containers.
pub fn container_mac(veth: &str) -> [u8; 6] {
    let hex = veth.trim_start_matches("vx");
    let mut mac = [0x02, 0, 0, 0, 0, 0];
    for (i, byte) in mac.iter_mut().skip(1).enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    mac
}

/// Checks an interface name the way the kernel would take it.
pub fn check_ifname(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        return Err(format!(
            "{what} '{name}' is not a valid interface name (1-15 bytes, no '/', ':' or spaces)"
        ));
    }
    Ok(())
}

/// Writes a sysctl under /proc/sys when it differs; true when it changed.
fn ensure_sysctl(path: &Path, value: &str) -> io::Result<bool> {
    if std::fs::read_to_string(path)?.trim() == value {
        return Ok(false);
    }
    std::fs::write(path, value)?;
    Ok(true)
}

/// Makes the host ready for a BRIDGE container: the bridge exists, is up
/// and has the gateway address; IPv4 forwarding is on; the bridge lets
/// DNATed loopback traffic out (`route_localnet`, for `127.0.0.1:PORT`).
pub fn prepare_host(plan: &BridgePlan) -> Result<(), NetError> {
    let bridge = format!("bridge {}", plan.bridge);
    if let Some(eth) = &plan.host_eth {
        if link_index(eth).is_none() {
            return Err(NetError {
                object: format!("host interface {eth}"),
                step: "find",
                reason: "no such interface".to_string(),
            });
        }
    }
    let mut rtnl = Rtnl::open().map_err(net_err(&bridge, "open rtnetlink"))?;
    let (index, created) = match link_index(&plan.bridge) {
        // An interface of the host that is not a bridge is never taken
        // over (no address is added to it).
        Some(_)
            if !Path::new("/sys/class/net")
                .join(&plan.bridge)
                .join("bridge")
                .is_dir() =>
        {
            return Err(NetError {
                object: bridge.clone(),
                step: "check",
                reason: format!(
                    "{} is an interface of the host that is not a bridge: name another in \
                     [network] bridge (or, for a network, remove and create it again)",
                    plan.bridge
                ),
            })
        }
        Some(i) => (i, false),
        None => {
            match rtnl.create_bridge(&plan.bridge) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(net_err(&bridge, "create")(e))
                }
                _ => crate::logging::info(&format!("created {bridge}")),
            }
            let index = link_index(&plan.bridge).ok_or_else(|| NetError {
                object: bridge.clone(),
                step: "create",
                reason: "the new bridge has no index".to_string(),
            })?;
            (index, true)
        }
    };
    let (gateway, prefix) = (plan.subnet.gateway(), plan.subnet.prefix_len());
    match rtnl.add_address(index, gateway, prefix) {
        // The subnet is new on this bridge (its first boot since the host
        // booted): no other interface may have it, or the two would split
        // the traffic (two homes whose derived subnets are the same, a
        // subnet another program uses).
        Ok(()) => {
            if let Some(other) = route_elsewhere(&mut rtnl, index, plan.subnet.net()) {
                let _ = rtnl.delete_address(index, gateway, prefix);
                if created {
                    let _ = rtnl.delete_link(&plan.bridge);
                }
                return Err(NetError {
                    object: bridge,
                    step: "check subnet",
                    reason: format!(
                        "subnet {} is already routed through {other}: give this home \
                         another [network] subnet in xdocker.toml (or the network another)",
                        plan.subnet.net()
                    ),
                });
            }
        }
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(net_err(&bridge, "add gateway address")(e))
        }
        Err(_) => {}
    }
    rtnl.set_up(index).map_err(net_err(&bridge, "set up"))?;
    let forward = Path::new("/proc/sys/net/ipv4/ip_forward");
    if ensure_sysctl(forward, "1").map_err(net_err("net.ipv4.ip_forward", "enable"))? {
        crate::logging::info(
            "enabled IPv4 forwarding (net.ipv4.ip_forward=1) for BRIDGE networking",
        );
    }
    let localnet = format!("/proc/sys/net/ipv4/conf/{}/route_localnet", plan.bridge);
    if ensure_sysctl(Path::new(&localnet), "1").map_err(net_err(&bridge, "set route_localnet"))? {
        crate::logging::info(&format!(
            "set net.ipv4.conf.{}.route_localnet=1 so that 127.0.0.1 reaches mapped ports",
            plan.bridge
        ));
    }
    Ok(())
}

/// Wires a container whose first process is `pid` (still waiting, in its
/// new network namespace): the veth pair into the bridge, then the NAT
/// rules. On failure nothing of it is left.
pub fn attach(plan: &BridgePlan, pid: u32) -> Result<BridgeState, NetError> {
    let veth = format!("veth {}", plan.veth);
    let bridge_index = link_index(&plan.bridge).ok_or_else(|| NetError {
        object: format!("bridge {}", plan.bridge),
        step: "find",
        reason: "no such interface".to_string(),
    })?;
    let mut rtnl = Rtnl::open().map_err(net_err(&veth, "open rtnetlink"))?;
    // A pair left by a container killed before its release goes first.
    rtnl.delete_link(&plan.veth)
        .map_err(net_err(&veth, "remove stale"))?;
    // The container's eth0 has the same MAC at every boot, and the host
    // forgets whatever it knew of the VIP (another MAC, of an earlier
    // container or boot): the host reaches it at once, not after its
    // neighbour entry times out.
    rtnl.create_veth(
        &plan.veth,
        bridge_index,
        (CONTAINER_IF, container_mac(&plan.veth)),
        rtnl::PeerNs::Pid(pid),
    )
    .map_err(net_err(&veth, "create"))?;
    rtnl.delete_neighbour(bridge_index, plan.vip)
        .map_err(net_err(&veth, "forget the old neighbour entry of the VIP"))?;
    // With br_netfilter loaded, a container reaching its own mapped port
    // through the host is DNATed back out of the port it came in by: the
    // bridge must allow that hairpin (as Docker does).
    if !plan.maps.is_empty() {
        let hairpin = format!("/sys/class/net/{}/brport/hairpin_mode", plan.veth);
        if let Err(e) = std::fs::write(&hairpin, "1") {
            let _ = rtnl.delete_link(&plan.veth);
            return Err(net_err(&veth, "set hairpin mode")(e));
        }
    }
    let nat = nft::ContainerNat {
        table: plan.nft_table.clone(),
        name: plan.container.clone(),
        bridge: plan.bridge.clone(),
        subnet: plan.subnet.net(),
        vip: plan.vip,
        host_eth: plan.host_eth.clone(),
        maps: plan.maps.clone(),
        isolation: plan.isolation.clone(),
    };
    if let Err(e) = nft::add(&nat) {
        let _ = rtnl.delete_link(&plan.veth);
        return Err(net_err(
            &format!("nftables table {}", plan.nft_table),
            "add rules",
        )(e));
    }
    Ok(BridgeState {
        veth: plan.veth.clone(),
        nft_table: plan.nft_table.clone(),
        chains_of: plan.container.clone(),
        isolated: plan.isolation.is_some(),
    })
}

/// Releases what [`attach`] made; missing pieces are fine.
pub fn release(state: &BridgeState) -> Result<(), NetError> {
    nft::remove(&state.nft_table, &state.chains_of, state.isolated).map_err(net_err(
        &format!("nftables table {}", state.nft_table),
        "remove rules",
    ))?;
    let veth = format!("veth {}", state.veth);
    let mut rtnl = Rtnl::open().map_err(net_err(&veth, "open rtnetlink"))?;
    rtnl.delete_link(&state.veth)
        .map_err(net_err(&veth, "delete"))
}

/// Removes a user network's bridge, when it is one (no other interface
/// of the host is touched); a missing bridge is fine.
pub fn remove_bridge(bridge: &str) -> Result<(), NetError> {
    if !Path::new("/sys/class/net")
        .join(bridge)
        .join("bridge")
        .is_dir()
    {
        return Ok(());
    }
    let object = format!("bridge {bridge}");
    let mut rtnl = Rtnl::open().map_err(net_err(&object, "open rtnetlink"))?;
    rtnl.delete_link(bridge).map_err(net_err(&object, "delete"))
}

/// The interface (and its route) through which the host already reaches
/// `net` or a part of it, other than link `own`: a route as specific as
/// the bridge's or more wins over it, so the containers behind the bridge
/// would not be reached (a broader route, a VPN's 172.16.0.0/12 say, loses
/// to the bridge's and is no conflict). None when there is none, or the
/// routes cannot be read (the boot goes on).
fn route_elsewhere(rtnl: &mut Rtnl, own: u32, net: ipnet::Ipv4Net) -> Option<String> {
    let routes = rtnl.ipv4_routes_by_link().ok()?;
    let (route, oif) = routes
        .into_iter()
        .find(|(r, oif)| *oif != Some(own) && net.contains(&r.network()))?;
    let name = oif
        .and_then(interface_name)
        .unwrap_or_else(|| "another route".to_string());
    Some(format!("{name} ({route})"))
}

/// The name of the host's interface with index `index`.
fn interface_name(index: u32) -> Option<String> {
    host_interfaces().into_iter().find(|name| {
        std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
            .is_ok_and(|i| i.trim() == index.to_string())
    })
}

/// The names of the host's interfaces.
pub fn host_interfaces() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The host's IPv4 routes (main table, no default route).
pub fn host_routes() -> io::Result<Vec<ipnet::Ipv4Net>> {
    Rtnl::open()?.ipv4_routes()
}

/// The IPv4 addresses local to a network namespace, other than loopback,
/// from its `/proc/PID/net/fib_trie` (readable without entering it): each
/// `|-- ADDR` leaf followed by a `/32 host LOCAL` line.
pub fn local_addresses(fib_trie: &str) -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    let mut leaf: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        let line = line.trim_start();
        if let Some(addr) = line.strip_prefix("|-- ") {
            leaf = addr.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(a) = leaf.take() {
                if !a.is_loopback() && !found.contains(&a) {
                    found.push(a);
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_macs_are_stable_local_unicast_and_apart() {
        let a = container_mac(&veth_name("nns0123456789"));
        assert_eq!(a, [0x02, 0x01, 0x23, 0x45, 0x67, 0x89]);
        assert_eq!(
            a,
            container_mac(&veth_name("nns0123456789")),
            "same every time"
        );
        assert_ne!(a, container_mac(&veth_name("nns0123456788")));
        assert_eq!(a[0] & 0x03, 0x02, "locally administered, unicast");
    }

    #[test]
    fn local_addresses_from_fib_trie() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n\
           |-- 127.0.0.1\n              /32 host LOCAL\n\
           |-- 172.30.0.0\n              /16 link UNICAST\n\
           |-- 172.30.0.5\n              /32 host LOCAL\n\
        |-- 172.30.255.255\n           /32 link BROADCAST\n\
Local:\n           |-- 172.30.0.5\n              /32 host LOCAL\n";
        assert_eq!(
            local_addresses(trie),
            vec!["172.30.0.5".parse::<Ipv4Addr>().expect("ip")]
        );
        assert!(local_addresses("").is_empty());
    }

    #[test]
    fn veth_names_fit_and_follow_the_netns_name() {
        let v = veth_name("nns0123456789");
        assert_eq!(v, "vx0123456789");
        assert!(check_ifname("veth", &v).is_ok());
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(check_ifname("bridge", "xdocker0").is_ok());
        for bad in ["", "a/b", "a b", "sixteen-chars-xx", "a:b", ".."] {
            let e = check_ifname("bridge", bad).unwrap_err();
            assert!(
                e.contains("bridge") && e.contains("not a valid interface name"),
                "{e}"
            );
        }
    }
}
