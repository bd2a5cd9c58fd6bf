//! Host sockets on a port a container would publish: a port map DNATs the
//! host's traffic for that port into the container, so a host service
//! already there (sshd on 22, a database on 127.0.0.1) would silently lose
//! it. Read from /proc/net/{tcp,tcp6,udp,udp6} of the host's network
//! namespace; the owning process is looked for only when one is found.

use super::PortMap;

/// A host socket on the host port of `map`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    pub map: PortMap,
    /// `pid N (name)` of a process holding the socket, when one is seen.
    pub owner: Option<String>,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = if self.map.udp { "udp" } else { "tcp" };
        write!(f, "host port {}/{proto} is in use", self.map.host)?;
        match &self.owner {
            Some(o) => write!(f, " by {o}"),
            None => write!(f, " by a host socket"),
        }
    }
}

/// The maps whose host port a host socket has (TCP: listening; UDP:
/// bound).
pub fn busy(maps: &[PortMap]) -> Vec<Busy> {
    if maps.is_empty() {
        return Vec::new();
    }
    let read =
        |file: &str| std::fs::read_to_string(format!("/proc/net/{file}")).unwrap_or_default();
    let tcp: Vec<(u16, u64)> = [read("tcp"), read("tcp6")]
        .iter()
        .flat_map(|t| sockets(t, false))
        .collect();
    let udp: Vec<(u16, u64)> = [read("udp"), read("udp6")]
        .iter()
        .flat_map(|t| sockets(t, true))
        .collect();
    maps.iter()
        .filter_map(|m| {
            let table = if m.udp { &udp } else { &tcp };
            let (_, inode) = table.iter().find(|(port, _)| *port == m.host)?;
            Some(Busy {
                map: *m,
                owner: owner_of(*inode),
            })
        })
        .collect()
}

/// (local port, inode) of the sockets of one /proc/net table that hold a
/// port: TCP in state LISTEN (0A), UDP in any state (a bound socket).
fn sockets(text: &str, udp: bool) -> Vec<(u16, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            let state = *f.get(3)?;
            let inode: u64 = f.get(9)?.parse().ok()?;
            (udp || state == "0A").then_some((port, inode))
        })
        .collect()
}

/// `pid N (comm)` of a process with the socket `inode` open.
fn owner_of(inode: u64) -> Option<String> {
    if inode == 0 {
        return None;
    }
    let want = format!("socket:[{inode}]");
    for proc in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = proc.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(proc.path().join("fd")) else {
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == want.as_str()));
        if holds {
            let comm = std::fs::read_to_string(proc.path().join("comm")).unwrap_or_default();
            return Some(format!(
                "pid {pid} ({})",
                crate::cli::escape_controls(comm.trim())
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:7274 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 20 0
   1: 0100007F:7275 0100007F:9000 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 20 0
";

    #[test]
    fn only_listening_tcp_sockets_and_bound_udp_ones_hold_a_port() {
        assert_eq!(sockets(TCP, false), vec![(0x7274, 4242)]);
        assert_eq!(sockets(TCP, true).len(), 2, "udp: any bound socket");
        assert!(sockets("header only\n", false).is_empty());
    }

    #[test]
    fn a_listener_of_this_process_is_found_with_its_owner() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let map = PortMap {
            host: port,
            container: 80,
            udp: false,
        };
        let found = busy(&[map]);
        assert_eq!(found.len(), 1, "{found:?}");
        let owner = found[0].owner.clone().unwrap_or_default();
        assert!(
            owner.starts_with(&format!("pid {} ", std::process::id())),
            "{owner}"
        );
        assert!(found[0]
            .to_string()
            .contains(&format!("host port {port}/tcp is in use by pid")));
        drop(l);
        assert!(busy(&[map]).is_empty());
        let udp = PortMap { udp: true, ..map };
        let u = std::net::UdpSocket::bind(("127.0.0.1", port)).expect("udp");
        assert_eq!(busy(&[udp, map]).len(), 1, "the udp one only");
        drop(u);
    }
}
