//! The DHCP client of a container on a DHCP macvlan network (`xdockerinit
//! --dhcp HOSTNAME`): PID 1 takes the lease in the container's network
//! namespace before anything else starts (DISCOVER, OFFER, REQUEST, ACK;
//! the hostname sent as option 12; a timeout with a clear error), sets
//! eth0's address, the default route and /etc/resolv.conf from it, and
//! then renews it for the container's whole life from a thread of its own
//! (unicast at T1, broadcast at T2, from scratch once it has expired),
//! with no daemon on the host. The lease is released (DHCPRELEASE) at the
//! orderly stop. Packets are encoded and decoded by `dhcproto`.
//!
//! The lease is written to [`LEASE_FILE`] in the container (`key=value`
//! lines, or one `error=` line when none could be had): the host reads it
//! from the container's writable layer to finish the boot and for `-s
//! info`.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

/// Where the lease is written, inside the container.
pub const LEASE_FILE: &str = "/etc/xdocker/dhcp.lease";

/// The interface the lease is for.
pub const IFACE: &str = "eth0";

/// How long a boot waits for a lease unless told (`--dhcp-timeout`).
pub const DEFAULT_TIMEOUT_SECS: u32 = 10;

const CLIENT_PORT: u16 = 68;
const SERVER_PORT: u16 = 67;

/// Why there is no lease.
#[derive(Debug)]
pub enum DhcpError {
    /// A socket or interface step failed.
    Io { op: &'static str, source: io::Error },
    /// No server answered (or none gave an address) in time.
    Timeout { secs: u32 },
    /// The server refused the address it had offered.
    Refused { server: Ipv4Addr },
    /// A packet could not be encoded.
    Encode(String),
}

impl fmt::Display for DhcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DhcpError::Io { op, source } => write!(f, "dhcp on {IFACE}: {op}: {source}"),
            DhcpError::Timeout { secs } => write!(
                f,
                "dhcp on {IFACE}: no DHCP server gave an address within {secs}s"
            ),
            DhcpError::Refused { server } => {
                write!(
                    f,
                    "dhcp on {IFACE}: server {server} refused the lease (DHCPNAK)"
                )
            }
            DhcpError::Encode(e) => write!(f, "dhcp on {IFACE}: encode a packet: {e}"),
        }
    }
}

impl std::error::Error for DhcpError {}

fn io_err(op: &'static str) -> impl FnOnce(io::Error) -> DhcpError {
    move |source| DhcpError::Io { op, source }
}

/// A lease held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub server: Ipv4Addr,
    pub lease_secs: u32,
    pub t1_secs: u32,
    pub t2_secs: u32,
    /// When it was granted (Unix seconds; and as an instant for timers).
    pub obtained_unix: u64,
    obtained: Instant,
}

impl Lease {
    /// The lease's end, Unix seconds.
    pub fn end_unix(&self) -> u64 {
        self.obtained_unix + u64::from(self.lease_secs)
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let dns: Vec<String> = self.dns.iter().map(Ipv4Addr::to_string).collect();
        format!(
            "address={}/{}\ngateway={}\ndns={}\nserver={}\nlease_seconds={}\nobtained={}\nend={}\n",
            self.address,
            self.prefix,
            self.gateway.map(|g| g.to_string()).unwrap_or_default(),
            dns.join(","),
            self.server,
            self.lease_secs,
            self.obtained_unix,
            self.end_unix()
        )
    }

    fn at(&self, secs: u32) -> Instant {
        self.obtained + Duration::from_secs(u64::from(secs))
    }
}

/// What the host reads from [`LEASE_FILE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseFile {
    /// Nothing yet (the boot emptied it).
    Empty,
    Bound {
        address: Ipv4Addr,
        prefix: u8,
        /// Unix seconds.
        end: u64,
        /// Who granted it (where a DHCPRELEASE goes).
        server: Option<Ipv4Addr>,
    },
    Error(String),
}

/// What the lease file says once xdockerinit released the lease.
const RELEASED: &str = "released\n";

/// Parses [`LEASE_FILE`]'s text.
pub fn parse_lease_file(text: &str) -> LeaseFile {
    let mut address = None;
    let mut end = None;
    let mut server = None;
    for line in text.lines() {
        match line.split_once('=') {
            Some(("error", e)) => return LeaseFile::Error(e.to_string()),
            Some(("server", s)) => server = s.parse().ok(),
            Some(("address", a)) => {
                address = a
                    .split_once('/')
                    .and_then(|(ip, p)| Some((ip.parse().ok()?, p.parse().ok()?)))
            }
            Some(("end", e)) => end = e.parse().ok(),
            _ => {}
        }
    }
    match (address, end) {
        (Some((address, prefix)), Some(end)) => LeaseFile::Bound {
            address,
            prefix,
            end,
            server,
        },
        _ => LeaseFile::Empty,
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The DHCP side of one interface: its socket, MAC and hostname.
#[derive(Debug)]
pub struct Client {
    socket: UdpSocket,
    mac: [u8; 6],
    hostname: String,
}

fn read_mac(iface: &str) -> Result<[u8; 6], DhcpError> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))
        .map_err(io_err("read the MAC address"))?;
    let mut mac = [0u8; 6];
    let parts: Vec<&str> = text.trim().split(':').collect();
    if parts.len() != 6 {
        return Err(DhcpError::Io {
            op: "read the MAC address",
            source: io::Error::other(format!("'{}' is not a MAC address", text.trim())),
        });
    }
    for (slot, part) in mac.iter_mut().zip(parts) {
        *slot = u8::from_str_radix(part, 16).map_err(|e| DhcpError::Io {
            op: "read the MAC address",
            source: io::Error::other(e),
        })?;
    }
    Ok(mac)
}

impl Client {
    /// A socket on port 68 of eth0 that may broadcast.
    pub fn open(hostname: &str) -> Result<Self, DhcpError> {
        Self::open_with_mac(hostname, None)
    }

    /// [`Client::open`] with eth0's MAC given (read from sysfs when None).
    fn open_with_mac(hostname: &str, mac: Option<[u8; 6]>) -> Result<Self, DhcpError> {
        let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT))
            .map_err(io_err("bind port 68"))?;
        socket
            .set_broadcast(true)
            .map_err(io_err("allow broadcasts"))?;
        nix::sys::socket::setsockopt(
            &socket,
            nix::sys::socket::sockopt::BindToDevice,
            &std::ffi::OsString::from(IFACE),
        )
        .map_err(|e| DhcpError::Io {
            op: "bind to eth0",
            source: e.into(),
        })?;
        Ok(Self {
            socket,
            mac: match mac {
                Some(mac) => mac,
                None => read_mac(IFACE)?,
            },
            hostname: hostname.to_string(),
        })
    }

    fn message(&self, kind: MessageType, xid: u32) -> Message {
        let mut m = Message::default();
        m.set_opcode(Opcode::BootRequest)
            .set_xid(xid)
            .set_chaddr(&self.mac);
        let opts = m.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        if !self.hostname.is_empty() && kind != MessageType::Release {
            opts.insert(DhcpOption::Hostname(self.hostname.clone()));
        }
        if kind != MessageType::Release {
            opts.insert(DhcpOption::ParameterRequestList(vec![
                OptionCode::SubnetMask,
                OptionCode::Router,
                OptionCode::DomainNameServer,
                OptionCode::AddressLeaseTime,
                OptionCode::Renewal,
                OptionCode::Rebinding,
            ]));
        }
        m
    }

    fn send(&self, m: &Message, to: Ipv4Addr) -> Result<(), DhcpError> {
        let bytes = m.to_vec().map_err(|e| DhcpError::Encode(e.to_string()))?;
        self.socket
            .send_to(&bytes, SocketAddrV4::new(to, SERVER_PORT))
            .map_err(io_err("send"))?;
        Ok(())
    }

    /// The next reply to `xid` of one of `kinds` before `deadline`.
    fn receive(
        &self,
        xid: u32,
        kinds: &[MessageType],
        deadline: Instant,
    ) -> Result<Option<Message>, DhcpError> {
        let mut buf = [0u8; 1500];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.socket
                .set_read_timeout(Some(deadline - now))
                .map_err(io_err("set a timeout"))?;
            let n = match self.socket.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(io_err("receive")(e)),
            };
            let Ok(m) = Message::decode(&mut Decoder::new(&buf[..n])) else {
                continue;
            };
            let ours = m.opcode() == Opcode::BootReply
                && m.xid() == xid
                && m.chaddr().get(..6) == Some(&self.mac[..]);
            if ours && m.opts().msg_type().is_some_and(|k| kinds.contains(&k)) {
                return Ok(Some(m));
            }
        }
    }

    /// Sends `m` (to `to`) and waits for an ACK or NAK, resending with a
    /// doubling wait (1 s, 2 s, 4 s...) until `deadline`.
    fn exchange(
        &self,
        m: &Message,
        to: Ipv4Addr,
        kinds: &[MessageType],
        deadline: Instant,
    ) -> Result<Option<Message>, DhcpError> {
        let mut wait = Duration::from_secs(1);
        loop {
            self.send(m, to)?;
            let until = (Instant::now() + wait).min(deadline);
            if let Some(reply) = self.receive(m.xid(), kinds, until)? {
                return Ok(Some(reply));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            wait = (wait * 2).min(Duration::from_secs(8));
        }
    }

    /// DISCOVER, OFFER, REQUEST, ACK within `timeout_secs`.
    pub fn acquire(&self, timeout_secs: u32) -> Result<Lease, DhcpError> {
        let deadline = Instant::now() + Duration::from_secs(u64::from(timeout_secs));
        let timeout = DhcpError::Timeout { secs: timeout_secs };
        loop {
            let xid = rand_xid();
            let mut discover = self.message(MessageType::Discover, xid);
            // Replies broadcast: eth0 has no address to receive a unicast yet.
            discover.set_flags(Flags::default().set_broadcast());
            let Some(offer) = self.exchange(
                &discover,
                Ipv4Addr::BROADCAST,
                &[MessageType::Offer],
                deadline,
            )?
            else {
                return Err(timeout);
            };
            let Some(server) = server_id(&offer) else {
                continue;
            };
            let mut request = self.message(MessageType::Request, xid);
            request.set_flags(Flags::default().set_broadcast());
            request
                .opts_mut()
                .insert(DhcpOption::RequestedIpAddress(offer.yiaddr()));
            request
                .opts_mut()
                .insert(DhcpOption::ServerIdentifier(server));
            match self.exchange(
                &request,
                Ipv4Addr::BROADCAST,
                &[MessageType::Ack, MessageType::Nak],
                deadline,
            )? {
                None => return Err(timeout),
                Some(reply) if reply.opts().msg_type() == Some(MessageType::Ack) => {
                    return Ok(lease_of(&reply, server))
                }
                // A NAK: start over while there is time.
                Some(_) => continue,
            }
        }
    }

    /// Renews `lease`: unicast to its server (T1) or broadcast (T2),
    /// waiting until `deadline`.
    pub fn renew(
        &self,
        lease: &Lease,
        broadcast: bool,
        deadline: Instant,
    ) -> Result<Lease, DhcpError> {
        let mut request = self.message(MessageType::Request, rand_xid());
        request.set_ciaddr(lease.address);
        let to = if broadcast {
            Ipv4Addr::BROADCAST
        } else {
            lease.server
        };
        match self.exchange(
            &request,
            to,
            &[MessageType::Ack, MessageType::Nak],
            deadline,
        )? {
            Some(reply) if reply.opts().msg_type() == Some(MessageType::Ack) => {
                Ok(lease_of(&reply, server_id(&reply).unwrap_or(lease.server)))
            }
            Some(_) => Err(DhcpError::Refused {
                server: lease.server,
            }),
            None => Err(DhcpError::Timeout { secs: 0 }),
        }
    }

    /// DHCPRELEASE of `lease` (no answer comes).
    pub fn release(&self, lease: &Lease) -> Result<(), DhcpError> {
        let mut m = self.message(MessageType::Release, rand_xid());
        m.set_ciaddr(lease.address);
        m.opts_mut()
            .insert(DhcpOption::ServerIdentifier(lease.server));
        self.send(&m, lease.server)
    }
}

fn rand_xid() -> u32 {
    // The low bits of the clock and the pid: unique enough per container.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}

fn server_id(m: &Message) -> Option<Ipv4Addr> {
    match m.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(s)) => Some(*s),
        _ => None,
    }
}

fn lease_of(ack: &Message, server: Ipv4Addr) -> Lease {
    let opts = ack.opts();
    let prefix = match opts.get(OptionCode::SubnetMask) {
        Some(DhcpOption::SubnetMask(m)) => u32::from(*m).count_ones() as u8,
        _ => 24,
    };
    let gateway = match opts.get(OptionCode::Router) {
        Some(DhcpOption::Router(r)) => r.first().copied(),
        _ => None,
    };
    let dns = match opts.get(OptionCode::DomainNameServer) {
        Some(DhcpOption::DomainNameServer(d)) => d.clone(),
        _ => Vec::new(),
    };
    let lease_secs = match opts.get(OptionCode::AddressLeaseTime) {
        Some(DhcpOption::AddressLeaseTime(s)) => *s,
        _ => 3600,
    };
    let t1_secs = match opts.get(OptionCode::Renewal) {
        Some(DhcpOption::Renewal(s)) => *s,
        _ => lease_secs / 2,
    };
    let t2_secs = match opts.get(OptionCode::Rebinding) {
        Some(DhcpOption::Rebinding(s)) => *s,
        _ => lease_secs / 8 * 7,
    };
    Lease {
        address: ack.yiaddr(),
        prefix,
        gateway,
        dns,
        server,
        lease_secs,
        t1_secs,
        t2_secs,
        obtained_unix: now_unix(),
        obtained: Instant::now(),
    }
}

/// eth0's address (announced: see `sys::bounce_link`) and default
/// route when `new_address`, /etc/resolv.conf (in place), and the lease
/// file.
fn apply(lease: &Lease, new_address: bool) -> Result<(), DhcpError> {
    if new_address {
        crate::sys::set_ipv4(IFACE, lease.address, lease.prefix).map_err(|e| DhcpError::Io {
            op: "set the leased address",
            source: e.into(),
        })?;
        crate::sys::bounce_link(IFACE).map_err(|e| DhcpError::Io {
            op: "announce the leased address",
            source: e.into(),
        })?;
    }
    if let Some(gw) = lease.gateway {
        crate::sys::add_default_route(IFACE, gw).map_err(|e| DhcpError::Io {
            op: "add the default route",
            source: e.into(),
        })?;
    }
    if !lease.dns.is_empty() {
        let mut text = String::from("# written by xdockerinit from the DHCP lease\n");
        for d in &lease.dns {
            text.push_str(&format!("nameserver {d}\n"));
        }
        std::fs::write("/etc/resolv.conf", text).map_err(io_err("write /etc/resolv.conf"))?;
    }
    write_lease_file(&lease.to_text())
}

/// Replaces [`LEASE_FILE`] (temporary file, rename).
pub fn write_lease_file(text: &str) -> Result<(), DhcpError> {
    let path = std::path::Path::new(LEASE_FILE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err("make /etc/xdocker"))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io_err("write the lease file"))?;
    std::fs::rename(&tmp, path).map_err(io_err("write the lease file"))
}

/// The lease held, renewed by a thread for the container's life.
#[derive(Debug)]
pub struct Held {
    client: Arc<Client>,
    lease: Arc<Mutex<Lease>>,
}

/// Takes the lease (or fails within `timeout_secs`, the error also written
/// to the lease file for the host), applies it and starts its renewal.
pub fn start(hostname: &str, timeout_secs: u32) -> Result<Held, DhcpError> {
    let result = (|| {
        let client = Client::open(hostname)?;
        let lease = client.acquire(timeout_secs)?;
        apply(&lease, true)?;
        Ok((client, lease))
    })();
    let (client, lease) = match result {
        Ok(found) => found,
        Err(e) => {
            let _ = write_lease_file(&format!("error={e}\n"));
            return Err(e);
        }
    };
    let held = Held {
        client: Arc::new(client),
        lease: Arc::new(Mutex::new(lease)),
    };
    let (client, lease) = (held.client.clone(), held.lease.clone());
    let spawned = std::thread::Builder::new()
        .name("dhcp".into())
        .stack_size(64 << 10)
        .spawn(move || renew_forever(&client, &lease, timeout_secs));
    spawned.map_err(io_err("start the renewal thread"))?;
    Ok(held)
}

impl Held {
    /// DHCPRELEASE at the orderly stop; the lease file says so.
    pub fn release(&self) {
        if let Ok(lease) = self.lease.lock() {
            if self.client.release(&lease).is_ok() {
                let _ = write_lease_file(RELEASED);
            }
        }
    }
}

/// DHCPRELEASE of `address` to `server` for the interface eth0 of the
/// calling thread's network namespace, whose MAC is `mac`: the host's
/// release of a container killed before its xdockerinit could do it.
pub fn release_for(mac: [u8; 6], address: Ipv4Addr, server: Ipv4Addr) -> Result<(), DhcpError> {
    let client = Client::open_with_mac("", Some(mac))?;
    let lease = Lease {
        address,
        prefix: 0,
        gateway: None,
        dns: Vec::new(),
        server,
        lease_secs: 0,
        t1_secs: 0,
        t2_secs: 0,
        obtained_unix: 0,
        obtained: Instant::now(),
    };
    client.release(&lease)
}

fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// Renews at T1 (unicast, retried at half the time left, at least every
/// minute), rebinds from T2 (broadcast), starts over once the lease has
/// expired; every new lease is applied and written.
fn renew_forever(client: &Client, shared: &Mutex<Lease>, timeout_secs: u32) {
    loop {
        let Ok(lease) = shared.lock().map(|l| l.clone()) else {
            return;
        };
        let (t1, t2, end) = (
            lease.at(lease.t1_secs),
            lease.at(lease.t2_secs),
            lease.at(lease.lease_secs),
        );
        sleep_until(t1);
        let mut renewed = None;
        while renewed.is_none() && Instant::now() < end {
            let now = Instant::now();
            let (broadcast, phase_end) = if now < t2 { (false, t2) } else { (true, end) };
            let step =
                ((phase_end - now) / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
            match client.renew(&lease, broadcast, (now + step).min(phase_end)) {
                Ok(new) => renewed = Some(new),
                Err(DhcpError::Refused { .. }) => break,
                Err(_) => sleep_until((now + step).min(phase_end)),
            }
        }
        let new = match renewed {
            Some(new) => new,
            // Expired or refused: from scratch, until a server answers.
            None => loop {
                if let Ok(l) = client.acquire(timeout_secs.max(10)) {
                    break l;
                }
            },
        };
        let _ = apply(&new, new.address != lease.address);
        if let Ok(mut l) = shared.lock() {
            *l = new;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease() -> Lease {
        Lease {
            address: Ipv4Addr::new(10, 232, 7, 120),
            prefix: 24,
            gateway: Some(Ipv4Addr::new(10, 232, 7, 1)),
            dns: vec![Ipv4Addr::new(10, 232, 7, 53)],
            server: Ipv4Addr::new(10, 232, 7, 1),
            lease_secs: 120,
            t1_secs: 60,
            t2_secs: 105,
            obtained_unix: 1_000,
            obtained: Instant::now(),
        }
    }

    #[test]
    fn the_lease_file_round_trips_for_the_host() {
        let l = lease();
        assert_eq!(
            parse_lease_file(&l.to_text()),
            LeaseFile::Bound {
                address: l.address,
                prefix: 24,
                end: 1_120,
                server: Some(l.server),
            }
        );
        assert_eq!(parse_lease_file(""), LeaseFile::Empty);
        assert_eq!(parse_lease_file(RELEASED), LeaseFile::Empty);
        assert_eq!(
            parse_lease_file("error=dhcp on eth0: no DHCP server gave an address within 3s\n"),
            LeaseFile::Error("dhcp on eth0: no DHCP server gave an address within 3s".into())
        );
    }

    #[test]
    fn requests_carry_the_hostname_and_decode_back() {
        let client = Client {
            socket: UdpSocket::bind("127.0.0.1:0").expect("socket"),
            mac: [2, 1, 2, 3, 4, 5],
            hostname: "web1".into(),
        };
        let m = client.message(MessageType::Discover, 42);
        let bytes = m.to_vec().expect("encode");
        let back = Message::decode(&mut Decoder::new(&bytes)).expect("decode");
        assert_eq!(back.xid(), 42);
        assert_eq!(&back.chaddr()[..6], &[2, 1, 2, 3, 4, 5]);
        assert_eq!(
            back.opts().get(OptionCode::Hostname),
            Some(&DhcpOption::Hostname("web1".into()))
        );
        assert_eq!(back.opts().msg_type(), Some(MessageType::Discover));
        let release = client.message(MessageType::Release, 7);
        assert!(release.opts().get(OptionCode::Hostname).is_none());
    }

    #[test]
    fn an_ack_becomes_a_lease_with_default_timers() {
        let mut ack = Message::default();
        ack.set_opcode(Opcode::BootReply)
            .set_yiaddr(Ipv4Addr::new(10, 0, 0, 9));
        ack.opts_mut()
            .insert(DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 254, 0)));
        ack.opts_mut().insert(DhcpOption::AddressLeaseTime(800));
        let l = lease_of(&ack, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!((l.prefix, l.t1_secs, l.t2_secs), (23, 400, 700));
        assert_eq!(l.gateway, None);
    }
}
