//! The contents of a BRIDGE container's `/etc/hosts`, `/etc/hostname` and
//! `/etc/resolv.conf`, written at every boot.

use std::net::Ipv4Addr;
use std::path::Path;

/// Where systemd-resolved keeps the real upstream servers when
/// `/etc/resolv.conf` points at its local stub.
const RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";

/// Used when the host knows no nameserver reachable from a container
/// (Docker does the same).
const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

pub fn hostname(hostname: &str) -> String {
    format!("{hostname}\n")
}

pub fn hosts(hostname: &str, vip: Ipv4Addr) -> String {
    format!(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n\
         {vip}\t{hostname}\n"
    )
}

fn is_loopback(server: &str) -> bool {
    server
        .parse::<std::net::IpAddr>()
        .map(|a| a.is_loopback())
        .unwrap_or(false)
}

/// The host's resolver settings as a container sees them: nameservers on
/// the host's loopback (a local stub) cannot be reached from the
/// container's network namespace and are dropped; when none is left, the
/// fallback servers are used. Returns the text and whether it fell back.
pub fn resolv_conf(host_text: &str) -> (String, bool) {
    let mut out = String::from("# written by xdocker at boot from the host's resolv.conf\n");
    let mut servers = 0;
    for line in host_text.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("nameserver"), Some(server)) if is_loopback(server) => {}
            (Some("nameserver"), Some(_)) => {
                servers += 1;
                out.push_str(line.trim());
                out.push('\n');
            }
            (Some("search" | "domain" | "options"), _) => {
                out.push_str(line.trim());
                out.push('\n');
            }
            _ => {}
        }
    }
    if servers == 0 {
        for s in FALLBACK_NAMESERVERS {
            out.push_str(&format!("nameserver {s}\n"));
        }
    }
    (out, servers == 0)
}

/// Reads the host's resolver settings, preferring systemd-resolved's
/// upstream list when `/etc/resolv.conf` only names its stub.
pub fn host_resolv_conf() -> String {
    let main = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let only_stub = !main.lines().any(|l| {
        let mut w = l.split_whitespace();
        w.next() == Some("nameserver") && w.next().is_some_and(|s| !is_loopback(s))
    });
    if only_stub && Path::new(RESOLVED_UPSTREAM).exists() {
        if let Ok(upstream) = std::fs::read_to_string(RESOLVED_UPSTREAM) {
            return upstream;
        }
    }
    main
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_names_the_container_by_its_vip() {
        let h = hosts("web1", Ipv4Addr::new(10, 1, 0, 5));
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.1.0.5\tweb1\n"));
        assert_eq!(hostname("web1"), "web1\n");
    }

    #[test]
    fn loopback_nameservers_are_dropped_and_the_rest_kept() {
        let (text, fell_back) = resolv_conf(
            "# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch example.org\noptions edns0\nnameserver ::1\n",
        );
        assert!(!fell_back);
        assert!(text.contains("nameserver 192.0.2.1\n"));
        assert!(text.contains("search example.org\n") && text.contains("options edns0\n"));
        assert!(!text.contains("127.0.0.53") && !text.contains("::1"));
    }

    #[test]
    fn only_a_stub_falls_back() {
        let (text, fell_back) = resolv_conf("nameserver 127.0.0.53\n");
        assert!(fell_back);
        assert!(text.contains("nameserver 8.8.8.8\n"));
    }
}
