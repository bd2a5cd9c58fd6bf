//! The container's own address and default route, set by xdockerinit after
//! a DHCP lease (the classic interface ioctls: no netlink library in the
//! static init for three calls).

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

fn inet_socket() -> nix::Result<OwnedFd> {
    socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
}

fn sockaddr(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size (16 bytes) and
    // sockaddr_in is a valid bit pattern for sockaddr (plain bytes).
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn ifname_bytes(ifname: &str) -> nix::Result<[libc::c_char; libc::IFNAMSIZ]> {
    let mut name = [0 as libc::c_char; libc::IFNAMSIZ];
    if ifname.len() >= libc::IFNAMSIZ {
        return Err(Errno::EINVAL);
    }
    for (slot, b) in name.iter_mut().zip(ifname.bytes()) {
        *slot = b as libc::c_char;
    }
    Ok(name)
}

fn set_ifreq_addr(
    fd: &OwnedFd,
    request: libc::c_ulong,
    ifname: &str,
    addr: Ipv4Addr,
) -> nix::Result<()> {
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    req.ifr_name = ifname_bytes(ifname)?;
    req.ifr_ifru.ifru_addr = sockaddr(addr);
    // SAFETY: SIOCSIFADDR and SIOCSIFNETMASK read a struct ifreq, which
    // `req` is, alive for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, &mut req) };
    Errno::result(r).map(drop)
}

/// Sets `ifname` down and up again: with `arp_notify` on, the kernel
/// announces its addresses (gratuitous ARP) as it comes up, so neighbours
/// that probed the address before it was ours forget their failure.
pub fn bounce_link(ifname: &str) -> nix::Result<()> {
    let fd = inet_socket()?;
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    req.ifr_name = ifname_bytes(ifname)?;
    // SAFETY: SIOCGIFFLAGS fills the flags of a struct ifreq, which `req` is.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) })?;
    // SAFETY: the flags member was just filled by the kernel.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    for next in [
        flags & !(libc::IFF_UP as libc::c_short),
        flags | libc::IFF_UP as libc::c_short,
    ] {
        req.ifr_ifru.ifru_flags = next;
        // SAFETY: SIOCSIFFLAGS reads a struct ifreq, which `req` is.
        Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCSIFFLAGS as _, &mut req) })?;
    }
    Ok(())
}

/// Gives `ifname` the address `addr/prefix` (its broadcast follows).
pub fn set_ipv4(ifname: &str, addr: Ipv4Addr, prefix: u8) -> nix::Result<()> {
    let fd = inet_socket()?;
    set_ifreq_addr(&fd, libc::SIOCSIFADDR, ifname, addr)?;
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    set_ifreq_addr(&fd, libc::SIOCSIFNETMASK, ifname, Ipv4Addr::from(mask))
}

/// Adds the default route via `gateway` on `ifname`; one that exists is fine.
pub fn add_default_route(ifname: &str, gateway: Ipv4Addr) -> nix::Result<()> {
    let fd = inet_socket()?;
    let mut name = ifname_bytes(ifname)?;
    // SAFETY: rtentry is plain data (and a null rt_dev); all-zero is valid.
    let mut route: libc::rtentry = unsafe { std::mem::zeroed() };
    route.rt_dst = sockaddr(Ipv4Addr::UNSPECIFIED);
    route.rt_genmask = sockaddr(Ipv4Addr::UNSPECIFIED);
    route.rt_gateway = sockaddr(gateway);
    route.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
    route.rt_dev = name.as_mut_ptr();
    // SAFETY: SIOCADDRT reads a struct rtentry, which `route` is; its
    // rt_dev points at `name`, a NUL-terminated name alive for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCADDRT as _, &mut route) };
    match Errno::result(r) {
        Err(Errno::EEXIST) => Ok(()),
        other => other.map(drop),
    }
}
