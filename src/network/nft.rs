//! NAT for BRIDGE containers in nftables, spoken directly over netfilter
//! netlink (no `nft` process): one `ip` table owned by xdocker, and for each
//! running container three base chains of its own (`C-pre`, `C-out`,
//! `C-post`) added in one atomic batch at boot and deleted at stop. Nothing
//! global but the (empty) table stays, and no rule of anyone else is touched.
//! A container of a user-defined bridge network also has a filter chain
//! `C-fwd` on the forward hook: its VIP and the other networks' subnets
//! cannot reach each other (but through published ports, which conntrack
//! marks as DNATed), and an `--internal` network's traffic stays on its
//! bridge.

use std::io;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::PortMap;

const NETLINK_NETFILTER: isize = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFT_MSG_DELCHAIN: u16 = 5;
const NFT_MSG_NEWRULE: u16 = 6;
const NFPROTO_IPV4: u8 = 2;
const NLMSG_ERROR: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;

// Hooks and priorities (the `dstnat` and `srcnat` of nft).
const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_FORWARD: u32 = 2;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_INET_POST_ROUTING: u32 = 4;
const PRIORITY_DSTNAT: i32 = -100;
const PRIORITY_SRCNAT: i32 = 100;
const PRIORITY_FILTER: i32 = 0;
const NF_DROP: u32 = 0;

// Expression constants (linux/netfilter/nf_tables.h).
const NFT_REG_1: u32 = 1;
const NFT_REG_2: u32 = 2;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_META_OIFNAME: u32 = 7;
const NFT_META_L4PROTO: u32 = 16;
const NFT_CT_STATUS: u32 = 2;
const NFT_NAT_DNAT: u32 = 1;
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
const NFTA_FIB_F_DADDR: u32 = 2;
const RTN_LOCAL: u32 = 2;
const IPS_DST_NAT: u32 = 0x20;

/// What a container's NAT is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerNat {
    /// The table owned by xdocker (per home, `[network] nft_table`).
    pub table: String,
    /// The container's name: its chains are `NAME-pre`, `NAME-out`, `NAME-post`.
    pub name: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub vip: Ipv4Addr,
    /// The outgoing interface for masquerade; `None`: any but the bridge.
    pub host_eth: Option<String>,
    pub maps: Vec<PortMap>,
    /// A user-defined network's isolation (None: BRIDGE, none).
    pub isolation: Option<Isolation>,
}

/// What a container of a user-defined bridge network may not reach.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Isolation {
    /// The subnets of the other bridge networks (BRIDGE's among them).
    pub others: Vec<Ipv4Net>,
    /// `--internal`: no NAT out, nothing forwarded off the bridge.
    pub internal: bool,
}

/// Checks the table name of `[network] nft_table`.
pub fn check_table_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "nft_table '{name}' is not a table name (1-64 letters, digits, '_' or '-')"
        ));
    }
    if let Some(owner) = FOREIGN_TABLES
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(name))
        .map(|(_, o)| o)
    {
        return Err(format!(
            "nft_table '{name}' is {owner}'s table: xdocker writes only into a table of its own \
             (the default is xdocker)"
        ));
    }
    Ok(())
}

/// Tables other programs make and own: xdocker never writes its chains
/// into one of them (it deletes its chains, and with the last one the
/// table, when containers stop).
const FOREIGN_TABLES: &[(&str, &str)] = &[
    ("filter", "iptables-nft"),
    ("nat", "iptables-nft"),
    ("mangle", "iptables-nft"),
    ("raw", "iptables-nft"),
    ("security", "iptables-nft"),
    ("broute", "ebtables-nft"),
    ("firewalld", "firewalld"),
    ("docker", "Docker"),
    ("incus", "Incus"),
    ("lxd", "LXD"),
];

/// The chain names of a container (with its filter chain when isolated).
pub fn chain_names(name: &str, isolated: bool) -> Vec<String> {
    let mut names = vec![
        format!("{name}-pre"),
        format!("{name}-out"),
        format!("{name}-post"),
    ];
    if isolated {
        names.push(format!("{name}-fwd"));
    }
    names
}

/// One netlink message under construction, attributes appended in order.
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    fn new(kind: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by finish
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        buf.push(family);
        buf.push(0); // NFNETLINK_V0
        buf.extend_from_slice(&res_id.to_be_bytes());
        Self {
            buf,
            nests: Vec::new(),
        }
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Self {
        let len = u16::try_from(4 + data.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    fn string(&mut self, kind: u16, s: &str) -> &mut Self {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data)
    }

    fn u32be(&mut self, kind: u16, v: u32) -> &mut Self {
        self.attr(kind, &v.to_be_bytes())
    }

    fn begin(&mut self, kind: u16) -> &mut Self {
        self.nests.push(self.buf.len());
        self.attr(kind | NLA_F_NESTED, &[])
    }

    fn end(&mut self) -> &mut Self {
        if let Some(start) = self.nests.pop() {
            let len = u16::try_from(self.buf.len() - start).unwrap_or(u16::MAX);
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    /// `NFTA_DATA_VALUE` inside a nested data attribute.
    fn data(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        self.begin(kind).attr(1, value).end()
    }

    fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// One nftables expression; all work on register 1, except the port of a
/// DNAT, which goes in register 2.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Payload { base: u32, offset: u32, len: u32 },
    Cmp { op: u32, value: Vec<u8> },
    Meta { key: u32 },
    Ct { key: u32 },
    Bitwise { mask: Vec<u8> },
    FibDaddrType,
    Immediate { reg: u32, value: Vec<u8> },
    Dnat,
    Masquerade,
    Verdict(u32),
}

impl Expr {
    fn encode(&self, m: &mut Msg) {
        let name = match self {
            Expr::Payload { .. } => "payload",
            Expr::Cmp { .. } => "cmp",
            Expr::Meta { .. } => "meta",
            Expr::Ct { .. } => "ct",
            Expr::Bitwise { .. } => "bitwise",
            Expr::FibDaddrType => "fib",
            Expr::Immediate { .. } => "immediate",
            Expr::Dnat => "nat",
            Expr::Masquerade => "masq",
            Expr::Verdict(_) => "immediate",
        };
        m.begin(1).string(1, name).begin(2); // NFTA_LIST_ELEM, NFTA_EXPR_NAME, NFTA_EXPR_DATA
        match self {
            Expr::Payload { base, offset, len } => {
                m.u32be(1, NFT_REG_1)
                    .u32be(2, *base)
                    .u32be(3, *offset)
                    .u32be(4, *len);
            }
            Expr::Cmp { op, value } => {
                m.u32be(1, NFT_REG_1).u32be(2, *op).data(3, value);
            }
            Expr::Meta { key } | Expr::Ct { key } => {
                m.u32be(1, NFT_REG_1).u32be(2, *key);
            }
            Expr::Bitwise { mask } => {
                let len = u32::try_from(mask.len()).unwrap_or(0);
                m.u32be(1, NFT_REG_1)
                    .u32be(2, NFT_REG_1)
                    .u32be(3, len)
                    .data(4, mask)
                    .data(5, &vec![0; mask.len()]);
            }
            Expr::FibDaddrType => {
                m.u32be(1, NFT_REG_1)
                    .u32be(2, NFT_FIB_RESULT_ADDRTYPE)
                    .u32be(3, NFTA_FIB_F_DADDR);
            }
            Expr::Immediate { reg, value } => {
                m.u32be(1, *reg).data(2, value);
            }
            Expr::Dnat => {
                m.u32be(1, NFT_NAT_DNAT)
                    .u32be(2, u32::from(NFPROTO_IPV4))
                    .u32be(3, NFT_REG_1)
                    .u32be(5, NFT_REG_2);
            }
            Expr::Masquerade => {}
            Expr::Verdict(code) => {
                // NFTA_IMMEDIATE_DREG = verdict register 0, NFTA_IMMEDIATE_DATA
                // { NFTA_DATA_VERDICT { NFTA_VERDICT_CODE } }.
                m.u32be(1, 0).begin(2).begin(2).u32be(1, *code).end().end();
            }
        }
        m.end().end();
    }
}

fn eq(value: impl Into<Vec<u8>>) -> Expr {
    Expr::Cmp {
        op: NFT_CMP_EQ,
        value: value.into(),
    }
}

fn ifname(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

fn ip_field(offset: u32) -> Expr {
    Expr::Payload {
        base: NFT_PAYLOAD_NETWORK_HEADER,
        offset,
        len: 4,
    }
}

const SADDR: u32 = 12;
const DADDR: u32 = 16;

/// `fib daddr type local meta l4proto P th dport H dnat to VIP:C`.
fn dnat_rule(nat: &ContainerNat, map: &PortMap) -> Vec<Expr> {
    vec![
        Expr::FibDaddrType,
        eq(RTN_LOCAL.to_ne_bytes()),
        Expr::Meta {
            key: NFT_META_L4PROTO,
        },
        eq(vec![if map.udp { 17 } else { 6 }]),
        Expr::Payload {
            base: NFT_PAYLOAD_TRANSPORT_HEADER,
            offset: 2,
            len: 2,
        },
        eq(map.host.to_be_bytes()),
        Expr::Immediate {
            reg: NFT_REG_1,
            value: nat.vip.octets().to_vec(),
        },
        Expr::Immediate {
            reg: NFT_REG_2,
            value: map.container.to_be_bytes().to_vec(),
        },
        Expr::Dnat,
    ]
}

/// `ip saddr VIP oifname != BRIDGE masquerade` (or `oifname HOST_ETH`).
fn outward_rule(nat: &ContainerNat) -> Vec<Expr> {
    let oif = match &nat.host_eth {
        Some(eth) => eq(ifname(eth)),
        None => Expr::Cmp {
            op: NFT_CMP_NEQ,
            value: ifname(&nat.bridge),
        },
    };
    vec![
        ip_field(SADDR),
        eq(nat.vip.octets()),
        Expr::Meta {
            key: NFT_META_OIFNAME,
        },
        oif,
        Expr::Masquerade,
    ]
}

/// `ip daddr VIP ct status dnat ip saddr FROM masquerade`: connections to
/// a mapped port from the host's loopback or from a container (hairpin)
/// must come back through the host to be translated back.
fn hairpin_rule(nat: &ContainerNat, from: Ipv4Net) -> Vec<Expr> {
    vec![
        ip_field(DADDR),
        eq(nat.vip.octets()),
        Expr::Ct { key: NFT_CT_STATUS },
        Expr::Bitwise {
            mask: IPS_DST_NAT.to_ne_bytes().to_vec(),
        },
        Expr::Cmp {
            op: NFT_CMP_NEQ,
            value: 0u32.to_ne_bytes().to_vec(),
        },
        ip_field(SADDR),
        Expr::Bitwise {
            mask: from.netmask().octets().to_vec(),
        },
        eq(from.network().octets()),
        Expr::Masquerade,
    ]
}

/// `ct status & dnat == 0`: not a connection to a published port.
fn not_dnat() -> [Expr; 2] {
    [
        Expr::Ct { key: NFT_CT_STATUS },
        Expr::Bitwise {
            mask: IPS_DST_NAT.to_ne_bytes().to_vec(),
        },
    ]
}

fn in_net(field: u32, net: Ipv4Net) -> [Expr; 3] {
    [
        ip_field(field),
        Expr::Bitwise {
            mask: net.netmask().octets().to_vec(),
        },
        eq(net.network().octets()),
    ]
}

/// The filter rules of an isolated container: for every other network,
/// `ip saddr VIP ip daddr OTHER ct status & dnat == 0 drop` and the same
/// the other way round; internal: `ip saddr VIP oifname != BRIDGE ... drop`.
fn isolation_rules(nat: &ContainerNat, iso: &Isolation) -> Vec<Vec<Expr>> {
    let zero = eq(0u32.to_ne_bytes().to_vec());
    let mut rules = Vec::new();
    for other in &iso.others {
        for (mine, theirs) in [(SADDR, DADDR), (DADDR, SADDR)] {
            let mut r = vec![ip_field(mine), eq(nat.vip.octets())];
            r.extend(in_net(theirs, *other));
            r.extend(not_dnat());
            r.push(zero.clone());
            r.push(Expr::Verdict(NF_DROP));
            rules.push(r);
        }
    }
    if iso.internal {
        let mut r = vec![
            ip_field(SADDR),
            eq(nat.vip.octets()),
            Expr::Meta {
                key: NFT_META_OIFNAME,
            },
            Expr::Cmp {
                op: NFT_CMP_NEQ,
                value: ifname(&nat.bridge),
            },
        ];
        r.extend(not_dnat());
        r.push(zero);
        r.push(Expr::Verdict(NF_DROP));
        rules.push(r);
    }
    rules
}

/// The first message of a batch the kernel refused, and why.
#[derive(Debug)]
struct BatchError {
    what: String,
    error: io::Error,
}

impl BatchError {
    fn errno(&self) -> Option<i32> {
        self.error.raw_os_error()
    }
}

impl From<BatchError> for io::Error {
    fn from(e: BatchError) -> Self {
        io::Error::new(e.error.kind(), format!("{}: {}", e.what, e.error))
    }
}

/// A batch of nftables messages, sent and acknowledged as one transaction.
struct Batch {
    messages: Vec<(Vec<u8>, String)>,
    seq: u32,
}

impl Batch {
    fn new() -> Self {
        Self {
            messages: Vec::new(),
            seq: 1,
        }
    }

    fn next(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    fn table(&mut self, table: &str) {
        let seq = self.next();
        let mut m = Msg::new(
            NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWTABLE,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
            seq,
            NFPROTO_IPV4,
            0,
        );
        m.string(1, table);
        self.messages
            .push((m.finish(), format!("add table {table}")));
    }

    fn chain(&mut self, table: &str, chain: &str, hook: u32, priority: i32) {
        self.typed_chain(table, chain, (hook, priority), "nat");
    }

    fn typed_chain(&mut self, table: &str, chain: &str, (hook, priority): (u32, i32), kind: &str) {
        let seq = self.next();
        let mut m = Msg::new(
            NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWCHAIN,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            seq,
            NFPROTO_IPV4,
            0,
        );
        m.string(1, table)
            .string(3, chain)
            .begin(4)
            .u32be(1, hook)
            .attr(2, &priority.to_be_bytes())
            .end()
            .string(7, kind);
        self.messages
            .push((m.finish(), format!("add chain {chain}")));
    }

    fn delete_chain(&mut self, table: &str, chain: &str) {
        let seq = self.next();
        let mut m = Msg::new(
            NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_DELCHAIN,
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            NFPROTO_IPV4,
            0,
        );
        m.string(1, table).string(3, chain);
        self.messages
            .push((m.finish(), format!("delete chain {chain}")));
    }

    fn rule(&mut self, table: &str, chain: &str, exprs: &[Expr]) {
        let seq = self.next();
        let mut m = Msg::new(
            NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWRULE,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND,
            seq,
            NFPROTO_IPV4,
            0,
        );
        m.string(1, table).string(2, chain).begin(4);
        for e in exprs {
            e.encode(&mut m);
        }
        m.end();
        self.messages
            .push((m.finish(), format!("add rule to chain {chain}")));
    }

    /// Sends the batch; the first error (by message) wins.
    fn commit(self) -> Result<(), BatchError> {
        let Some(last) = (!self.messages.is_empty()).then_some(self.seq) else {
            return Ok(());
        };
        let res_id = NFNL_SUBSYS_NFTABLES;
        let mut buf = Msg::new(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 1, 0, res_id).finish();
        for (m, _) in &self.messages {
            buf.extend_from_slice(m);
        }
        buf.extend_from_slice(
            &Msg::new(NFNL_MSG_BATCH_END, NLM_F_REQUEST, last + 1, 0, res_id).finish(),
        );
        exchange(&buf, last).map_err(|(seq, error)| {
            let what = seq
                .checked_sub(2)
                .and_then(|i| self.messages.get(i as usize))
                .map(|(_, w)| w.clone())
                .unwrap_or_else(|| "batch".to_string());
            BatchError { what, error }
        })
    }
}

/// Sends `buf` on a new netfilter socket and reads acknowledgements until
/// the one of message `last`; an error reply ends it with its sequence number.
fn exchange(buf: &[u8], last: u32) -> Result<(), (u32, io::Error)> {
    let fail = |e: io::Error| (0, e);
    let mut socket = netlink_sys::Socket::new(NETLINK_NETFILTER).map_err(fail)?;
    socket.bind_auto().map_err(fail)?;
    socket
        .connect(&netlink_sys::SocketAddr::new(0, 0))
        .map_err(fail)?;
    socket.send(buf, 0).map_err(fail)?;
    loop {
        let (data, _) = socket.recv_from_full().map_err(fail)?;
        let mut offset = 0;
        while offset + 16 <= data.len() {
            let field = |at: usize| {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[offset + at..offset + at + 4]);
                b
            };
            let len = u32::from_ne_bytes(field(0)) as usize;
            let kind = u16::from_ne_bytes([data[offset + 4], data[offset + 5]]);
            let seq = u32::from_ne_bytes(field(8));
            if len < 16 || offset + len > data.len() {
                break;
            }
            if kind == NLMSG_ERROR && len >= 20 {
                let code = i32::from_ne_bytes(field(16));
                if code != 0 {
                    return Err((seq, io::Error::from_raw_os_error(-code)));
                }
                if seq == last {
                    return Ok(());
                }
            }
            offset += (len + 3) & !3;
        }
    }
}

/// Adds a container's chains and rules in one transaction (creating the
/// table if needed). Chains left by an earlier run are replaced. (A failed
/// batch costs the kernel an abort of ~10 ms here, so the common path is
/// one batch that succeeds.)
pub fn add(nat: &ContainerNat) -> io::Result<()> {
    match add_batch(nat).commit() {
        Err(e) if e.errno() == Some(libc::EEXIST) => {
            remove(&nat.table, &nat.name, true)?;
            Ok(add_batch(nat).commit()?)
        }
        other => Ok(other?),
    }
}

fn add_batch(nat: &ContainerNat) -> Batch {
    let names = chain_names(&nat.name, true);
    let (pre, out, post, fwd) = (&names[0], &names[1], &names[2], &names[3]);
    let mut b = Batch::new();
    b.table(&nat.table);
    b.chain(&nat.table, pre, NF_INET_PRE_ROUTING, PRIORITY_DSTNAT);
    b.chain(&nat.table, out, NF_INET_LOCAL_OUT, PRIORITY_DSTNAT);
    b.chain(&nat.table, post, NF_INET_POST_ROUTING, PRIORITY_SRCNAT);
    for map in &nat.maps {
        let rule = dnat_rule(nat, map);
        b.rule(&nat.table, pre, &rule);
        b.rule(&nat.table, out, &rule);
    }
    if !nat.isolation.as_ref().is_some_and(|i| i.internal) {
        b.rule(&nat.table, post, &outward_rule(nat));
    }
    if !nat.maps.is_empty() {
        let loopback = Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8).unwrap_or_default();
        b.rule(&nat.table, post, &hairpin_rule(nat, loopback));
        b.rule(&nat.table, post, &hairpin_rule(nat, nat.subnet));
    }
    if let Some(iso) = &nat.isolation {
        b.typed_chain(
            &nat.table,
            fwd,
            (NF_INET_FORWARD, PRIORITY_FILTER),
            "filter",
        );
        for rule in isolation_rules(nat, iso) {
            b.rule(&nat.table, fwd, &rule);
        }
    }
    b
}

const ENOENT: Option<i32> = Some(libc::ENOENT);

/// Deletes a container's chains (with their rules; `isolated`: its filter
/// chain too); missing ones are fine.
pub fn remove(table: &str, name: &str, isolated: bool) -> io::Result<()> {
    let chains = chain_names(name, isolated);
    let mut all = Batch::new();
    for chain in &chains {
        all.delete_chain(table, chain);
    }
    match all.commit() {
        Err(e) if e.errno() == ENOENT => {}
        other => return Ok(other?),
    }
    // Some are missing: delete the others one by one, asking first.
    for chain in &chains {
        if chain_exists(table, chain)? {
            let mut one = Batch::new();
            one.delete_chain(table, chain);
            match one.commit() {
                Err(e) if e.errno() == ENOENT => {}
                other => other?,
            }
        }
    }
    Ok(())
}

/// Whether `chain` exists in `table` (a plain query, outside any batch).
pub fn chain_exists(table: &str, chain: &str) -> io::Result<bool> {
    let mut m = Msg::new(
        NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETCHAIN,
        NLM_F_REQUEST | NLM_F_ACK,
        1,
        NFPROTO_IPV4,
        0,
    );
    m.string(1, table).string(3, chain);
    match exchange(&m.finish(), 1) {
        Ok(()) => Ok(true),
        Err((_, e)) if e.raw_os_error() == ENOENT => Ok(false),
        Err((_, e)) => Err(io::Error::new(e.kind(), format!("find chain {chain}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_of_other_programs_are_never_xdockers() {
        assert!(check_table_name("xdocker").is_ok());
        assert!(check_table_name("xdtest1p42").is_ok());
        for t in ["nat", "filter", "NAT", "firewalld", "docker"] {
            let e = check_table_name(t).expect_err(t);
            assert!(e.contains("table of its own"), "{e}");
        }
        assert!(check_table_name("nat")
            .unwrap_err()
            .contains("iptables-nft"));
        assert!(check_table_name("a b").is_err());
    }

    fn nat() -> ContainerNat {
        ContainerNat {
            table: "xdt".into(),
            name: "web".into(),
            bridge: "xdbr0".into(),
            subnet: "10.9.0.0/24".parse().expect("net"),
            vip: Ipv4Addr::new(10, 9, 0, 7),
            host_eth: None,
            maps: vec![PortMap {
                host: 8080,
                container: 80,
                udp: false,
            }],
            isolation: None,
        }
    }

    #[test]
    fn isolation_drops_both_ways_but_published_ports_and_internal_stays_home() {
        let mut n = nat();
        let iso = Isolation {
            others: vec!["10.8.0.0/16".parse().expect("net")],
            internal: false,
        };
        let rules = isolation_rules(&n, &iso);
        assert_eq!(rules.len(), 2);
        for r in &rules {
            assert!(r.contains(&eq(vec![10, 8, 0, 0])) && r.contains(&eq(n.vip.octets())));
            assert!(r.contains(&Expr::Ct { key: NFT_CT_STATUS }));
            assert_eq!(r.last(), Some(&Expr::Verdict(NF_DROP)));
        }
        assert_ne!(rules[0][0], rules[1][0], "one rule each way");
        n.isolation = Some(Isolation {
            others: vec![],
            internal: true,
        });
        let internal = isolation_rules(&n, n.isolation.as_ref().expect("iso"));
        assert_eq!(internal.len(), 1);
        assert!(internal[0].contains(&Expr::Cmp {
            op: NFT_CMP_NEQ,
            value: b"xdbr0\0".to_vec()
        }));
        // No NAT out for an internal network: one chain more, no masquerade.
        let b = add_batch(&n);
        assert!(b.messages.iter().any(|(_, w)| w == "add chain web-fwd"));
        assert_eq!(chain_names("web", false).len(), 3);
    }

    #[test]
    fn attributes_are_padded_and_nests_measured() {
        let mut m = Msg::new(1, 0, 1, 2, 0);
        m.begin(4).string(1, "abc").end();
        let buf = m.finish();
        assert_eq!(buf.len() % 4, 0);
        assert_eq!(
            u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize,
            buf.len()
        );
        // nest header at 20: length covers the padded "abc\0" attribute.
        assert_eq!(u16::from_ne_bytes([buf[20], buf[21]]), 4 + 8);
        assert_eq!(u16::from_ne_bytes([buf[22], buf[23]]), 4 | NLA_F_NESTED);
    }

    #[test]
    fn dnat_matches_local_addresses_protocol_and_port() {
        let mut n = nat();
        let rule = dnat_rule(&n, &n.maps[0]);
        assert!(rule.contains(&eq(vec![6])));
        assert!(rule.contains(&eq(8080u16.to_be_bytes())));
        assert!(rule.contains(&Expr::Immediate {
            reg: NFT_REG_2,
            value: vec![0, 80]
        }));
        n.maps[0].udp = true;
        assert!(dnat_rule(&n, &n.maps[0]).contains(&eq(vec![17])));
    }

    #[test]
    fn masquerade_leaves_by_the_host_eth_or_anything_but_the_bridge() {
        let mut n = nat();
        assert!(outward_rule(&n).contains(&Expr::Cmp {
            op: NFT_CMP_NEQ,
            value: b"xdbr0\0".to_vec()
        }));
        n.host_eth = Some("eth1".into());
        assert!(outward_rule(&n).contains(&eq(b"eth1\0".to_vec())));
    }

    #[test]
    fn hairpin_matches_the_source_network() {
        let n = nat();
        let r = hairpin_rule(&n, n.subnet);
        assert!(r.contains(&Expr::Bitwise {
            mask: vec![255, 255, 255, 0]
        }));
        assert!(r.contains(&eq(vec![10, 9, 0, 0])));
    }
}
