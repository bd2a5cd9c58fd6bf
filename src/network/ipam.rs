//! Addresses of the bridge subnet: the gateway, which VIPs are valid, and
//! the next free one.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Why a VIP cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VipError {
    #[error("VIP {vip} is outside the bridge subnet {subnet}")]
    Outside { vip: Ipv4Addr, subnet: Ipv4Net },
    #[error("VIP {vip} is the {what} address of the bridge subnet {subnet}")]
    Reserved {
        vip: Ipv4Addr,
        what: &'static str,
        subnet: Ipv4Net,
    },
    #[error("VIP {vip} is already used by container {owner}")]
    Taken { vip: Ipv4Addr, owner: String },
    #[error("no free VIP left in the bridge subnet {0}")]
    Exhausted(Ipv4Net),
}

/// The bridge's subnet, checked: IPv4, host bits clear, room for a
/// gateway and at least one container; the gateway is its first address
/// unless another is given ([`Subnet::with_gateway`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet(Ipv4Net, Option<Ipv4Addr>);

impl Subnet {
    /// Parses `A.B.C.D/N` as written in `[network] subnet`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let net: Ipv4Net = text
            .parse()
            .map_err(|_| format!("subnet '{text}' is not an IPv4 network A.B.C.D/N"))?;
        if net.addr() != net.network() {
            return Err(format!(
                "subnet '{text}' has host bits set (the network is {})",
                net.trunc()
            ));
        }
        if net.prefix_len() > 29 || net.prefix_len() < 8 {
            return Err(format!("subnet '{text}' must have a prefix from /8 to /29"));
        }
        Ok(Self(net, None))
    }

    /// The same subnet with `gateway` (an address of it, not its network
    /// or broadcast address) as the gateway.
    pub fn with_gateway(self, gateway: Ipv4Addr) -> Result<Self, String> {
        let net = self.0;
        if !net.contains(&gateway) || gateway == net.network() || gateway == net.broadcast() {
            return Err(format!(
                "gateway {gateway} is not a host address of the subnet {net}"
            ));
        }
        Ok(Self(net, Some(gateway)))
    }

    pub fn net(&self) -> Ipv4Net {
        self.0
    }

    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }

    /// The bridge's own address: the first of the subnet, or the one given.
    pub fn gateway(&self) -> Ipv4Addr {
        self.1
            .unwrap_or_else(|| Ipv4Addr::from(u32::from(self.0.network()) + 1))
    }

    /// Checks that `vip` can be a container's address (ignoring who uses it).
    pub fn check(&self, vip: Ipv4Addr) -> Result<(), VipError> {
        let subnet = self.0;
        if !subnet.contains(&vip) {
            return Err(VipError::Outside { vip, subnet });
        }
        let what = if vip == subnet.network() {
            "network"
        } else if vip == self.gateway() {
            "gateway"
        } else if vip == subnet.broadcast() {
            "broadcast"
        } else {
            return Ok(());
        };
        Err(VipError::Reserved { vip, what, subnet })
    }

    /// The lowest valid address not in `taken`.
    pub fn next_free(&self, taken: &HashSet<Ipv4Addr>) -> Result<Ipv4Addr, VipError> {
        let first = u32::from(self.0.network()) + 1;
        let last = u32::from(self.0.broadcast());
        (first..last)
            .map(Ipv4Addr::from)
            .find(|a| !taken.contains(a) && *a != self.gateway())
            .ok_or(VipError::Exhausted(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("ip")
    }

    #[test]
    fn subnets_are_checked() {
        let s = Subnet::parse("10.7.0.0/24").expect("ok");
        assert_eq!(s.gateway(), ip("10.7.0.1"));
        assert_eq!(s.prefix_len(), 24);
        for (bad, reason) in [
            ("10.7.0.5/24", "host bits"),
            ("10.7.0.0", "not an IPv4 network"),
            ("fd00::/64", "not an IPv4 network"),
            ("10.7.0.0/30", "prefix"),
        ] {
            let e = Subnet::parse(bad).unwrap_err();
            assert!(e.contains(reason) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn reserved_and_outside_addresses_are_refused() {
        let s = Subnet::parse("10.7.0.0/24").expect("ok");
        assert!(s.check(ip("10.7.0.2")).is_ok());
        assert!(s.check(ip("10.7.0.254")).is_ok());
        for (vip, needle) in [
            ("10.7.0.0", "network"),
            ("10.7.0.1", "gateway"),
            ("10.7.0.255", "broadcast"),
            ("10.7.1.2", "outside"),
        ] {
            let e = s.check(ip(vip)).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains(vip), "{e}");
        }
    }

    #[test]
    fn next_free_skips_taken_and_runs_out() {
        let s = Subnet::parse("10.7.0.0/29").expect("ok");
        let mut taken = HashSet::new();
        assert_eq!(s.next_free(&taken), Ok(ip("10.7.0.2")));
        taken.insert(ip("10.7.0.2"));
        taken.insert(ip("10.7.0.4"));
        assert_eq!(s.next_free(&taken), Ok(ip("10.7.0.3")));
        for a in 2..=6 {
            taken.insert(Ipv4Addr::new(10, 7, 0, a));
        }
        assert!(matches!(s.next_free(&taken), Err(VipError::Exhausted(_))));
    }

    #[test]
    fn another_gateway_is_skipped_and_must_be_a_host_address() {
        let s = Subnet::parse("10.7.0.0/29")
            .and_then(|s| s.with_gateway(ip("10.7.0.6")))
            .expect("ok");
        assert_eq!(s.gateway(), ip("10.7.0.6"));
        assert_eq!(s.next_free(&HashSet::new()), Ok(ip("10.7.0.1")));
        assert!(s.check(ip("10.7.0.6")).is_err());
        let base = Subnet::parse("10.7.0.0/29").expect("ok");
        for bad in ["10.7.0.0", "10.7.0.7", "10.7.1.1"] {
            let e = base.with_gateway(ip(bad)).unwrap_err();
            assert!(e.contains(bad) && e.contains("gateway"), "{e}");
        }
    }

    proptest! {
        #[test]
        fn next_free_is_always_valid_and_free(
            prefix in 20u8..=29,
            taken in proptest::collection::hash_set(0u32..64, 0..40),
        ) {
            let s = Subnet::parse(&format!("10.8.0.0/{prefix}")).expect("ok");
            let taken: HashSet<Ipv4Addr> =
                taken.iter().map(|o| Ipv4Addr::from(0x0a08_0000 + o)).collect();
            if let Ok(a) = s.next_free(&taken) {
                prop_assert!(s.check(a).is_ok());
                prop_assert!(!taken.contains(&a));
            }
        }
    }
}
