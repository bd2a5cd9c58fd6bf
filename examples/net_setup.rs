//! The network setup of one BRIDGE container, alone, in one process: what
//! `bench/network.sh` times against the same steps done with `ip` commands.
//!
//!     net_setup BRIDGE NETNS_PATH VETH VIP/PREFIX GATEWAY
//!
//! Creates the veth pair (host end `VETH`, up, in `BRIDGE`; `eth0` in the
//! namespace at NETNS_PATH), then inside that namespace brings `lo` and
//! `eth0` up with the VIP and the default route, exactly as a boot does.

use std::os::fd::AsRawFd;

use xdocker::network::inside::{Eth0, InsideNet};
use xdocker::network::rtnl::{link_index, PeerNs, Rtnl};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bridge, netns, veth, vip, gateway] = args.as_slice() else {
        return Err("usage: net_setup BRIDGE NETNS_PATH VETH VIP/PREFIX GATEWAY".into());
    };
    let (vip, prefix) = vip.split_once('/').ok_or("VIP/PREFIX")?;
    let eth0 = Eth0 {
        vip: vip.parse().map_err(|_| "bad VIP")?,
        prefix: prefix.parse().map_err(|_| "bad prefix")?,
        gateway: gateway.parse().map_err(|_| "bad gateway")?,
    };
    let ns = std::fs::File::open(netns).map_err(|e| format!("{netns}: {e}"))?;
    let master = link_index(bridge).ok_or("no such bridge")?;
    let mut rtnl = Rtnl::open().map_err(|e| e.to_string())?;
    rtnl.create_veth(
        veth,
        master,
        ("eth0", xdocker::network::container_mac(veth)),
        PeerNs::Fd(ns.as_raw_fd()),
    )
    .map_err(|e| format!("create veth: {e}"))?;
    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
    InsideNet {
        eth0: Some(eth0),
        dhcp: false,
    }
    .configure()
    .map_err(|e| e.to_string())
}
