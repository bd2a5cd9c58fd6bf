//! macvlan networks: the container's `eth0` is a macvlan of a host
//! interface (its "parent"), made straight in the container's network
//! namespace with a MAC address that is the same at every boot (so a DHCP
//! server hands out the same address again). It dies with the namespace:
//! nothing stays on the host to release. The host itself cannot reach its
//! macvlan children through the parent (the kernel hands frames from a
//! macvlan to its parent's wire, never to the parent's own stack).

use netlink_packet_route::link::MacVlanMode;

use super::rtnl::{link_index, PeerNs, Rtnl};
use super::store::MacvlanMode as Mode;
use super::{net_err, NetError, CONTAINER_IF};

/// Everything a macvlan container's host side is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacvlanPlan {
    /// The network's name, for messages.
    pub network: String,
    pub parent: String,
    pub mode: Mode,
    pub mac: [u8; 6],
    /// The address comes from the LAN's DHCP server (taken by xdockerinit).
    pub dhcp: bool,
}

fn kernel_mode(mode: Mode) -> MacVlanMode {
    match mode {
        Mode::Bridge => MacVlanMode::Bridge,
        Mode::Private => MacVlanMode::Private,
        Mode::Vepa => MacVlanMode::Vepa,
        Mode::Passthru => MacVlanMode::Passthrough,
    }
}

/// Gives the container whose first process is `pid` its `eth0`: a macvlan
/// of the parent.
pub fn attach(plan: &MacvlanPlan, pid: u32) -> Result<(), NetError> {
    let object = format!("network {} (macvlan of {})", plan.network, plan.parent);
    let parent = link_index(&plan.parent).ok_or_else(|| NetError {
        object: object.clone(),
        step: "find the parent",
        reason: "no such interface".to_string(),
    })?;
    let mut rtnl = Rtnl::open().map_err(net_err(&object, "open rtnetlink"))?;
    rtnl.create_macvlan(
        CONTAINER_IF,
        parent,
        kernel_mode(plan.mode),
        plan.mac,
        PeerNs::Pid(pid),
    )
    .map_err(net_err(&object, "create eth0"))
}

/// Deletes the container's `eth0` in the network namespace bound at
/// `netns` (a stopped macvlan container's, before its name goes): a
/// namespace is torn down by the kernel some time after its last user, and
/// until then its macvlan keeps the container's MAC on the parent, which
/// the next boot's eth0 would collide with ("address already in use").
/// A missing namespace or link is fine. `dhcp`: a lease the container's
/// xdockerinit did not release (it was killed), released first from
/// inside the namespace (the MAC, the address, its server).
pub fn release(
    netns: &std::path::Path,
    dhcp: Option<([u8; 6], std::net::Ipv4Addr, std::net::Ipv4Addr)>,
) -> Result<(), NetError> {
    let object = format!("eth0 in {}", netns.display());
    let file = match std::fs::File::open(netns) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(net_err(&object, "open the network namespace")(e)),
    };
    // setns changes the calling thread only: a thread of its own enters.
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(std::io::Error::from)?;
            if let Some((mac, address, server)) = dhcp {
                if let Err(e) = xdockerinit::dhcp::release_for(mac, address, server) {
                    crate::logging::warn(&format!("release the DHCP lease of {address}: {e}"));
                }
            }
            Rtnl::open()?.delete_link(CONTAINER_IF)
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the thread panicked")))
    });
    result.map_err(net_err(&object, "delete"))
}

/// The MAC address as `aa:bb:...`, for messages and DHCP.
pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_print_as_ip_link_does() {
        assert_eq!(mac_text([2, 0xab, 0, 1, 2, 3]), "02:ab:00:01:02:03");
        assert_eq!(kernel_mode(Mode::Passthru), MacVlanMode::Passthrough);
    }
}
