//! macvlan networks on a parent the test makes: a veth whose peer sits in
//! a "LAN" network namespace the test creates. Static addresses reachable
//! from the LAN, a stable MAC, names within the network; DHCP from a real
//! dnsmasq (Debian's dnsmasq-base) that the test starts in the LAN
//! namespace. Traffic stays in the namespaces the test made. Subnet
//! 10.232.T.0/24 and links `xdm*`, namespaces `xdlan*` are this file's.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{needs_root, sh, RuntimeHome};

/// The LAN: a namespace with `lan0` at `10.232.T.1/24`, whose veth peer
/// on the host is the macvlan parent; dnsmasq when started. Removed when
/// dropped (declared after the runtime home: after the containers).
struct Lan {
    ns: String,
    parent: String,
    prefix: String,
    dnsmasq: Option<Child>,
    leases: Option<tempfile::TempDir>,
}

impl Lan {
    /// The LAN of test number `n` (tests run side by side).
    fn new(n: u8) -> Self {
        let pid = std::process::id();
        let ns = format!("xdlan{n}p{}", pid % 100_000);
        let parent = format!("xdm{n}p{}", pid % 100_000);
        let prefix = format!("10.232.{}", pid % 250);
        let lan = Self {
            ns: ns.clone(),
            parent: parent.clone(),
            prefix: prefix.clone(),
            dnsmasq: None,
            leases: None,
        };
        sh(&["ip", "netns", "add", &ns]);
        sh(&[
            "ip", "link", "add", &parent, "type", "veth", "peer", "name", "lan0", "netns", &ns,
        ]);
        sh(&["ip", "link", "set", &parent, "up"]);
        lan.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{prefix}.1/24"),
            "dev",
            "lan0",
        ]);
        lan.exec(&["ip", "link", "set", "lan0", "up"]);
        lan.exec(&["ip", "link", "set", "lo", "up"]);
        lan
    }

    fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "netns", "exec", self.ns.as_str()];
        all.extend_from_slice(args);
        sh(&all)
    }

    fn ping(&self, addr: &str) -> bool {
        Command::new("ip")
            .args([
                "netns", "exec", &self.ns, "busybox", "ping", "-c1", "-W2", addr,
            ])
            .stdout(Stdio::null())
            .status()
            .expect("ping")
            .success()
    }

    /// dnsmasq in the LAN with leases of `lease` (2m: its minimum) from
    /// `.100-.150`, a DNS server option, its lease file in a temp dir.
    fn dnsmasq(&mut self, lease: &str) -> PathBuf {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("leases");
        let p = &self.prefix;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "dnsmasq", "--keep-in-foreground"])
            .arg("--no-resolv")
            .arg("--no-hosts")
            .arg("--port=0")
            .arg("--interface=lan0")
            .arg("--bind-interfaces")
            .arg(format!(
                "--dhcp-range={p}.100,{p}.150,255.255.255.0,{lease}"
            ))
            .arg(format!("--dhcp-option=option:dns-server,{p}.53"))
            .arg(format!("--dhcp-leasefile={}", file.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq (dnsmasq-base)");
        self.dnsmasq = Some(child);
        self.leases = Some(dir);
        std::thread::sleep(Duration::from_millis(300));
        file
    }

    fn stop_dnsmasq(&mut self) {
        if let Some(mut c) = self.dnsmasq.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        self.stop_dnsmasq();
        let _ = Command::new("ip")
            .args(["link", "del", &self.parent])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

struct Home {
    rt: RuntimeHome,
    lan: Lan,
}

impl Home {
    fn new(n: u8) -> Self {
        needs_root();
        let rt = RuntimeHome::new();
        // A [network] of its own, though no container here is on BRIDGE.
        let pid = std::process::id();
        rt.set_network(&format!(
            "bridge = \"xdmb{n}p{}\"\nsubnet = \"10.23{}.{}.0/24\"\nnft_table = \"xdmac{n}p{pid}\"\n",
            pid % 10_000,
            3 + n,
            pid % 250
        ));
        rt.install_test();
        Self {
            rt,
            lan: Lan::new(n),
        }
    }

    fn run(&self, line: &str) -> common::Run {
        self.rt.run(line)
    }

    fn in_container(&self, c: &str, cmd: &str) -> common::Run {
        self.rt.run_in(None, ["-a", "run", "-c", c, "--cmd", cmd])
    }

    fn eventually(&self, c: &str, cmd: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.in_container(c, cmd);
            if r.code == 0 {
                return r.stdout.trim().to_string();
            }
            assert!(Instant::now() < deadline, "{cmd} failed in {c}: {r:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn static_macvlan_containers_sit_on_the_lan_with_a_stable_mac() {
    let h = Home::new(1);
    let (p, parent) = (h.lan.prefix.clone(), h.lan.parent.clone());
    h.run(&format!(
        "-a network_create --network lan --driver macvlan --parent nosuch0 --subnet {p}.0/24"
    ))
    .fails(1, "no such interface");
    h.run(&format!(
        "-a network_create --network lan --driver macvlan --parent {parent} --subnet {p}.0/24 --macvlan-mode bridge"
    ))
    .ok();
    let list = h.run("-s networks").ok().to_string();
    assert!(
        list.contains("macvlan/bridge") && list.contains(&parent),
        "{list}"
    );
    h.run(&format!(
        "-a create -m test -c m1 --net lan --vip {p}.10 -b"
    ))
    .ok();
    h.run("-a create -m test -c m2 --net lan -b").ok();
    h.run("-a create -m test -c m3 --net lan --port-mapping 8080:80")
        .fails(1, "--port-mapping needs --net BRIDGE or a bridge network");
    // Reachable from the LAN; the LAN's gateway and the other member by
    // name from inside.
    assert!(h.lan.ping(&format!("{p}.10")));
    h.eventually("m1", &format!("ping -c1 -W2 {p}.1"));
    h.eventually("m1", "ping -c1 -W2 m2");
    let route = h.in_container("m1", "ip route").ok().to_string();
    assert!(route.contains(&format!("default via {p}.1")), "{route}");
    // The same MAC at every boot.
    let mac = h
        .in_container("m1", "cat /sys/class/net/eth0/address")
        .ok()
        .trim()
        .to_string();
    assert!(mac.starts_with("02:"), "{mac}");
    h.run("-a shutdown -c m1").ok();
    assert!(!h.lan.ping(&format!("{p}.10")));
    h.run("-a boot -c m1").ok();
    let again = h
        .in_container("m1", "cat /sys/class/net/eth0/address")
        .ok()
        .trim()
        .to_string();
    assert_eq!(mac, again);
    // A boot right after a kill: the old eth0 (same MAC on the parent) is
    // gone although the kernel tears its namespace down later.
    for _ in 0..5 {
        h.run("-a kill -c m1").ok();
        h.run("-a boot -c m1").ok();
    }
    assert!(h.lan.ping(&format!("{p}.10")));
    // A kill leaves nothing: the macvlan went with the namespace.
    let pid = h.rt.pid("m1").expect("pid");
    sh(&["kill", "-9", &pid.to_string()]);
    std::thread::sleep(Duration::from_millis(200));
    h.run("-s containers").ok();
    assert!(!h.lan.ping(&format!("{p}.10")));
    let hosts = h.in_container("m2", "cat /etc/hosts").ok().to_string();
    assert!(!hosts.contains("m1"), "{hosts}");
}

/// dnsmasq's lease line for `mac` (`EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID`).
fn lease_line(file: &std::path::Path, mac: &str) -> Option<Vec<String>> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(mac))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
}

fn vip_of(h: &Home, c: &str) -> String {
    let rows = h.run("-s containers --json").ok().to_string();
    let v: serde_json::Value = serde_json::from_str(&rows).expect("json");
    v.as_array()
        .and_then(|rows| rows.iter().find(|r| r["container_id"] == c))
        .and_then(|r| r["vip"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn dhcp_leases_are_taken_at_boot_kept_across_reboots_and_released() {
    let mut h = Home::new(2);
    let (p, parent) = (h.lan.prefix.clone(), h.lan.parent.clone());
    let leases = h.lan.dnsmasq("2m");
    h.run(&format!(
        "-a network_create --network dl --driver macvlan --parent {parent} --dhcp"
    ))
    .ok();
    h.run("-a create -m test -c d1 --net dl --vip 10.1.1.1")
        .fails(1, "--vip needs");
    h.run("-a create -m test -c d1 --net dl --host dhost -b")
        .ok();
    let addr = vip_of(&h, "d1");
    assert!(addr.starts_with(&format!("{p}.1")), "{addr}");
    let info = h.run("-s info -c d1").ok().to_string();
    assert!(
        info.contains(&format!("dhcp_lease: {addr}/24 until ")),
        "{info}"
    );
    // The server knows the hostname (option 12) and the stable MAC.
    let mac = h
        .in_container("d1", "cat /sys/class/net/eth0/address")
        .ok()
        .trim()
        .to_string();
    let line = lease_line(&leases, &mac).expect("dnsmasq has the lease");
    assert_eq!(
        (line[2].as_str(), line[3].as_str()),
        (addr.as_str(), "dhost")
    );
    let resolv = h
        .in_container("d1", "cat /etc/resolv.conf")
        .ok()
        .to_string();
    assert!(resolv.contains(&format!("nameserver {p}.53")), "{resolv}");
    assert!(h.lan.ping(&addr));
    h.eventually("d1", &format!("ping -c1 -W2 {p}.1"));
    // Released at the stop; the same address again at the next boot.
    h.run("-a shutdown -c d1").ok();
    assert_eq!(lease_line(&leases, &mac), None, "released");
    h.run("-a boot -c d1").ok();
    assert_eq!(vip_of(&h, "d1"), addr);
    // Killed, xdockerinit cannot release it: the next command does, from
    // inside the container's namespace before it goes.
    assert!(lease_line(&leases, &mac).is_some());
    let pid = h.rt.pid("d1").expect("pid");
    sh(&["kill", "-9", &pid.to_string()]);
    std::thread::sleep(Duration::from_millis(200));
    h.run("-s containers").ok();
    assert_eq!(lease_line(&leases, &mac), None, "released after kill -9");
    // No server: a clear boot error, nothing left running.
    h.lan.stop_dnsmasq();
    h.run("-a boot -c d1")
        .fails(1, "no DHCP server gave an address within 10s");
    let rows = h.run("-s containers").ok().to_string();
    assert!(rows.contains("STOPPED"), "{rows}");
    assert!(!common::netns_names()
        .iter()
        .any(|n| rows.contains(n.as_str())));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_dhcp_lease_is_renewed_past_its_first_end() {
    let mut h = Home::new(3);
    let parent = h.lan.parent.clone();
    // dnsmasq's shortest lease: T1 at 60 s, the end at 120 s.
    let leases = h.lan.dnsmasq("2m");
    h.run(&format!(
        "-a network_create --network dl --driver macvlan --parent {parent} --dhcp"
    ))
    .ok();
    h.run("-a create -m test -c r1 --net dl -b").ok();
    let addr = vip_of(&h, "r1");
    let mac = h
        .in_container("r1", "cat /sys/class/net/eth0/address")
        .ok()
        .trim()
        .to_string();
    let first_end: u64 = lease_line(&leases, &mac).expect("lease")[0]
        .parse()
        .expect("expiry");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    std::thread::sleep(Duration::from_secs(first_end.saturating_sub(now) + 5));
    let line = lease_line(&leases, &mac).expect("still leased");
    let end: u64 = line[0].parse().expect("expiry");
    assert!(end > first_end, "renewed: {end} > {first_end}");
    assert_eq!(line[2], addr);
    assert!(h.lan.ping(&addr), "the address is still the container's");
    let ip = h
        .in_container("r1", "ip -4 addr show eth0")
        .ok()
        .to_string();
    assert!(ip.contains(&addr), "{ip}");
}
