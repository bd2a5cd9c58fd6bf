//! The container's side of its network, set up by its first process inside
//! the new network namespace before xdockerinit runs: `lo` up, and for
//! BRIDGE `eth0` with the VIP and the default route via the bridge (for a
//! DHCP macvlan, only `eth0` up: xdockerinit takes the lease).

use std::net::Ipv4Addr;

use super::rtnl::{link_index, Rtnl};
use super::CONTAINER_IF;

/// `eth0`'s settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eth0 {
    pub vip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
}

/// The network a container's first process sets up inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsideNet {
    /// `None`: only `lo` (CUSTOM), or (`dhcp`) eth0 up without address.
    pub eth0: Option<Eth0>,
    /// eth0 is set up with no address: DHCP.
    pub dhcp: bool,
}

impl InsideNet {
    /// Configures the current network namespace; the error says which step.
    pub fn configure(&self) -> Result<(), InsideError> {
        configure(self.eth0, self.dhcp)
    }
}

/// What failed setting up the network inside.
#[derive(Debug, thiserror::Error)]
pub enum InsideError {
    /// A step's system call (netlink, a /proc/sys write) failed.
    #[error("{step}: {}", xdockerinit::sys::IoText(.source))]
    Step {
        /// What was being done (`set lo up`, `add VIP 10.0.0.2/24 to eth0`).
        step: String,
        #[source]
        source: std::io::Error,
    },
    /// An interface that must be there is not.
    #[error("the container has no {0}")]
    NoInterface(&'static str),
}

impl InsideError {
    /// The errno of the failed call, for the start-up channel.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            InsideError::Step { source, .. } => source.raw_os_error(),
            InsideError::NoInterface(_) => None,
        }
    }
}

/// `map_err` for a step.
fn step(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> InsideError {
    let step = what.into();
    move |source| InsideError::Step { step, source }
}

fn configure(eth0: Option<Eth0>, dhcp: bool) -> Result<(), InsideError> {
    let mut rtnl = Rtnl::open().map_err(step("open rtnetlink"))?;
    let lo = link_index("lo").ok_or(InsideError::NoInterface("lo"))?;
    rtnl.set_up(lo).map_err(step("set lo up"))?;
    if dhcp {
        // The DHCP server's replies come to an eth0 without address or
        // route: the reverse-path filter (inherited from the host, often
        // loose) would drop them.
        for conf in ["all", CONTAINER_IF] {
            std::fs::write(format!("/proc/sys/net/ipv4/conf/{conf}/rp_filter"), "0")
                .map_err(step("turn off rp_filter for DHCP"))?;
        }
        // The leased address is announced when xdockerinit sets it (a
        // gratuitous ARP as eth0 comes up again).
        std::fs::write("/proc/sys/net/ipv4/conf/eth0/arp_notify", "1")
            .map_err(step("turn on arp_notify for DHCP"))?;
        let index = link_index(CONTAINER_IF).ok_or(InsideError::NoInterface(CONTAINER_IF))?;
        return rtnl.set_up(index).map_err(step("set eth0 up"));
    }
    let Some(eth0) = eth0 else {
        return Ok(());
    };
    let index = link_index(CONTAINER_IF).ok_or(InsideError::NoInterface(CONTAINER_IF))?;
    rtnl.add_address(index, eth0.vip, eth0.prefix)
        .map_err(step(format!(
            "add VIP {}/{} to eth0",
            eth0.vip, eth0.prefix
        )))?;
    // The host end may be in hairpin mode, which reflects the container's
    // own IPv6 duplicate-address probes back to it: skip that check (the
    // bridge is private; only xdocker hands out addresses on it).
    match std::fs::write("/proc/sys/net/ipv6/conf/eth0/accept_dad", "0") {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(step("turn off IPv6 duplicate address detection")(e))
        }
        _ => {}
    }
    rtnl.set_up(index).map_err(step("set eth0 up"))?;
    rtnl.add_default_route(eth0.gateway, index)
        .map_err(step(format!("add default route via {}", eth0.gateway)))
}
