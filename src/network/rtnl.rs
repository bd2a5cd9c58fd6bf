//! Links, addresses and routes over rtnetlink, in this process (no `ip`
//! processes): the bridge, the veth pairs and the container's `eth0`.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
    MacVlanMode,
};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// A route netlink socket in the network namespace of its creator.
#[derive(Debug)]
pub struct Rtnl {
    socket: Socket,
    seq: u32,
}

/// Where the peer of a new veth goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerNs {
    /// The network namespace of a process.
    Pid(u32),
    /// An open network namespace (`/run/netns/NAME`).
    Fd(std::os::fd::RawFd),
}

/// The index of a link in the caller's network namespace.
pub fn link_index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}

fn up(mut header: LinkMessage) -> LinkMessage {
    header.header.flags = LinkFlags::Up;
    header.header.change_mask = LinkFlags::Up;
    header
}

impl Rtnl {
    /// Opens a socket in the current network namespace.
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Self { socket, seq: 0 })
    }

    /// Sends one request and waits for its acknowledgement.
    fn request(&mut self, message: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.exchange(message, flags, |_| {})
    }

    /// Sends one request; every reply message but the final
    /// acknowledgement (or end of a dump) goes to `each`.
    fn exchange(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
        mut each: impl FnMut(RouteNetlinkMessage),
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        loop {
            let (data, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = reply.header.length as usize;
                if len == 0 {
                    break;
                }
                offset += (len + 3) & !3;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(()),
                            Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(()),
                    NetlinkPayload::InnerMessage(m) => each(m),
                    _ => {}
                }
            }
        }
    }

    /// Creates a bridge, up; `AlreadyExists` if the name is taken.
    pub fn create_bridge(&mut self, name: &str) -> io::Result<()> {
        let mut link = up(LinkMessage::default());
        link.attributes = vec![
            LinkAttribute::IfName(name.to_string()),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
        ];
        self.request(
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Sets a link up.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut link = up(LinkMessage::default());
        link.header.index = index;
        self.request(RouteNetlinkMessage::SetLink(link), 0)
    }

    /// Adds `addr/prefix` to a link; `AlreadyExists` if the link has it.
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.scope = AddressScope::Universe;
        msg.header.index = index;
        let host_bits = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
        let broadcast = Ipv4Addr::from(u32::from(addr) | host_bits);
        msg.attributes = vec![
            AddressAttribute::Local(IpAddr::V4(addr)),
            AddressAttribute::Address(IpAddr::V4(addr)),
            AddressAttribute::Broadcast(broadcast),
        ];
        self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Removes `addr/prefix` from a link.
    pub fn delete_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes = vec![AddressAttribute::Local(IpAddr::V4(addr))];
        self.request(RouteNetlinkMessage::DelAddress(msg), 0)
    }

    /// Creates a veth pair: `host` (up, a port of the bridge `master`) in
    /// this namespace and `peer`, with the MAC address `peer_mac`, in the
    /// network namespace `peer_ns`.
    pub fn create_veth(
        &mut self,
        host: &str,
        master: u32,
        (peer, peer_mac): (&str, [u8; 6]),
        peer_ns: PeerNs,
    ) -> io::Result<()> {
        let ns = match peer_ns {
            PeerNs::Pid(pid) => LinkAttribute::NetNsPid(pid),
            PeerNs::Fd(fd) => LinkAttribute::NetNsFd(fd),
        };
        let mut peer_link = LinkMessage::default();
        peer_link.attributes = vec![
            LinkAttribute::IfName(peer.to_string()),
            LinkAttribute::Address(peer_mac.to_vec()),
            ns,
        ];
        let mut link = up(LinkMessage::default());
        link.attributes = vec![
            LinkAttribute::IfName(host.to_string()),
            LinkAttribute::Controller(master),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_link))),
            ]),
        ];
        self.request(
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Forgets what this namespace's neighbour table holds for `addr` on
    /// the link `index`; none held is fine.
    pub fn delete_neighbour(&mut self, index: u32, addr: Ipv4Addr) -> io::Result<()> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.ifindex = index;
        msg.attributes = vec![NeighbourAttribute::Destination(NeighbourAddress::Inet(
            addr,
        ))];
        match self.request(RouteNetlinkMessage::DelNeighbour(msg), 0) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            other => other,
        }
    }

    /// Deletes a link by name (both ends of a veth go); a missing link is fine.
    pub fn delete_link(&mut self, name: &str) -> io::Result<()> {
        let mut link = LinkMessage::default();
        link.attributes = vec![LinkAttribute::IfName(name.to_string())];
        match self.request(RouteNetlinkMessage::DelLink(link), 0) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            other => other,
        }
    }

    /// The IPv4 destinations of the main routing table, but the default
    /// route: the networks the host reaches directly or through a router.
    pub fn ipv4_routes(&mut self) -> io::Result<Vec<ipnet::Ipv4Net>> {
        Ok(self
            .ipv4_routes_by_link()?
            .into_iter()
            .map(|(net, _)| net)
            .collect())
    }

    /// [`Rtnl::ipv4_routes`] with the index of the link each leaves by
    /// (None for a route through a multipath or without one).
    pub fn ipv4_routes_by_link(&mut self) -> io::Result<Vec<(ipnet::Ipv4Net, Option<u32>)>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let mut found = Vec::new();
        self.exchange(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP, |m| {
            let RouteNetlinkMessage::NewRoute(r) = m else {
                return;
            };
            if r.header.table != RouteHeader::RT_TABLE_MAIN
                || r.header.kind != RouteType::Unicast
                || r.header.destination_prefix_length == 0
            {
                return;
            }
            let oif = r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                _ => None,
            });
            for a in &r.attributes {
                if let RouteAttribute::Destination(RouteAddress::Inet(dst)) = a {
                    if let Ok(net) = ipnet::Ipv4Net::new(*dst, r.header.destination_prefix_length) {
                        found.push((net.trunc(), oif));
                    }
                }
            }
        })?;
        Ok(found)
    }

    /// Creates a macvlan of link `parent` in mode `mode`, named `name`
    /// with the MAC address `mac`, straight in the network namespace `ns`.
    pub fn create_macvlan(
        &mut self,
        name: &str,
        parent: u32,
        mode: MacVlanMode,
        mac: [u8; 6],
        ns: PeerNs,
    ) -> io::Result<()> {
        let ns = match ns {
            PeerNs::Pid(pid) => LinkAttribute::NetNsPid(pid),
            PeerNs::Fd(fd) => LinkAttribute::NetNsFd(fd),
        };
        let mut link = LinkMessage::default();
        link.attributes = vec![
            LinkAttribute::IfName(name.to_string()),
            LinkAttribute::Link(parent),
            LinkAttribute::Address(mac.to_vec()),
            ns,
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::MacVlan),
                LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(mode)])),
            ]),
        ];
        self.request(
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Adds the default route via `gateway` on link `index`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr, index: u32) -> io::Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes = vec![
            RouteAttribute::Gateway(RouteAddress::Inet(gateway)),
            RouteAttribute::Oif(index),
        ];
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_an_index_and_unknown_names_do_not() {
        assert!(link_index("lo").is_some());
        assert_eq!(link_index("xd-no-such-if"), None);
        assert_eq!(link_index("bad\0name"), None);
    }
}
