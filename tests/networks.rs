//! User-defined bridge networks with real bridges, veths and nftables
//! rules: addresses from each network's subnet, isolation between
//! networks (but published ports), names that resolve within a network
//! and not across, and everything released at stop and after a kill.
//! Traffic only goes to 127.0.0.1 and to addresses in namespaces and links
//! the test made. Subnets 10.228-10.231.T.0/24 and bridges `xdn*` are
//! this file's.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{needs_root, sh, RuntimeHome};

/// What the test owns on the host, removed when dropped (after the
/// containers, which `RuntimeHome` stops: declared after it).
struct Owned {
    links: Vec<String>,
    netns: Vec<String>,
    table: String,
}

impl Drop for Owned {
    fn drop(&mut self) {
        for ns in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        for link in &self.links {
            let _ = Command::new("ip")
                .args(["link", "del", link])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.table])
            .stderr(Stdio::null())
            .status();
    }
}

struct Home {
    rt: RuntimeHome,
    owned: Owned,
    tag: u32,
    /// The test's number: names and subnets of tests that run side by
    /// side differ.
    n: u32,
}

impl Home {
    fn new(n: u32) -> Self {
        needs_root();
        let rt = RuntimeHome::new();
        let pid = std::process::id();
        let tag = (pid % 80) * 3 + n;
        let table = format!("xdnet{n}p{pid}");
        let bridge = format!("xdn0{n}p{}", pid % 10_000);
        rt.set_network(&format!(
            "bridge = \"{bridge}\"\nsubnet = \"10.229.{tag}.0/24\"\nnft_table = \"{table}\"\n"
        ));
        rt.install_test();
        Self {
            rt,
            owned: Owned {
                links: vec![bridge],
                netns: Vec::new(),
                table,
            },
            tag,
            n,
        }
    }

    fn run(&self, line: &str) -> common::Run {
        self.rt.run(line)
    }

    fn in_container(&self, c: &str, cmd: &str) -> common::Run {
        self.rt.run_in(None, ["-a", "run", "-c", c, "--cmd", cmd])
    }

    /// A bridge network `name` on `10.X.TAG.0/24` with a bridge of the test's.
    fn network(&mut self, name: &str, x: u32, extra: &str) -> String {
        let bridge = format!("xdn{}{}p{}", x - 229, self.n, std::process::id() % 10_000);
        self.owned.links.push(bridge.clone());
        self.run(&format!(
            "-a network_create --network {name} --driver bridge --subnet 10.{x}.{}.0/24 --bridge {bridge} {extra}",
            self.tag
        ))
        .ok();
        bridge
    }

    /// A client host: a namespace with a veth to the host (`10.228.T.2`,
    /// the host `.1`), default route via the host.
    fn client(&mut self) -> String {
        let pid = std::process::id() % 10_000;
        let ns = format!("xdnc{}p{pid}", self.n);
        let veth = format!("xdnh{}p{pid}", self.n);
        sh(&["ip", "netns", "add", &ns]);
        self.owned.netns.push(ns.clone());
        sh(&[
            "ip", "link", "add", &veth, "type", "veth", "peer", "name", "c0", "netns", &ns,
        ]);
        self.owned.links.push(veth.clone());
        let cp = format!("10.228.{}", self.tag);
        sh(&["ip", "addr", "add", &format!("{cp}.1/30"), "dev", &veth]);
        sh(&["ip", "link", "set", &veth, "up"]);
        let (addr, via) = (format!("{cp}.2/30"), format!("{cp}.1"));
        for args in [
            ["ip", "addr", "add", &addr, "dev", "c0"].as_slice(),
            &["ip", "link", "set", "c0", "up"],
            &["ip", "link", "set", "lo", "up"],
            &["ip", "route", "add", "default", "via", &via],
        ] {
            let mut all = vec!["ip", "netns", "exec", ns.as_str()];
            all.extend_from_slice(args);
            sh(&all);
        }
        ns
    }

    fn serve(&self, c: &str) {
        self.in_container(
            c,
            &format!(
                "mkdir -p /www && echo served-by-{c} > /www/index.html && busybox httpd -p 80 -h /www"
            ),
        )
        .ok();
    }

    /// What `CMD` in `c` prints, retried for a few seconds until it succeeds.
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

    fn fails_in(&self, c: &str, cmd: &str) -> bool {
        self.in_container(c, cmd).code != 0
    }

    fn chains(&self) -> String {
        let out = Command::new("nft")
            .args(["list", "table", "ip", &self.owned.table])
            .output()
            .expect("nft");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn vip(&self, c: &str) -> String {
        let rows = self.run("-s containers --json").ok().to_string();
        let v: serde_json::Value = serde_json::from_str(&rows).expect("json");
        v.as_array()
            .and_then(|rows| rows.iter().find(|r| r["container_id"] == c))
            .and_then(|r| r["vip"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn bridge_networks_isolate_resolve_names_and_publish_ports() {
    let mut h = Home::new(0);
    let t = h.tag;
    let front_br = h.network("front", 230, "");
    h.network("back", 231, "");
    // Overlaps are refused: another network, BRIDGE, and a bad name.
    h.run(&format!(
        "-a network_create --network dup --driver bridge --subnet 10.230.{t}.128/25"
    ))
    .fails(1, "overlaps network front's");
    h.run(&format!(
        "-a network_create --network dup --driver bridge --subnet 10.229.{t}.0/25"
    ))
    .fails(1, "overlaps BRIDGE's");
    h.run("-a network_create --network front --driver bridge --subnet 10.9.9.0/24")
        .fails(1, "already exists");
    h.run("-a network_create --network lo2 --driver bridge --subnet 10.9.9.0/24 --bridge lo")
        .fails(1, "interface of the host");
    let list = h.run("-s networks").ok().to_string();
    assert!(
        list.contains("BRIDGE")
            && list.contains(&format!("10.230.{t}.0/24"))
            && list.contains(&front_br),
        "{list}"
    );

    let port = 19000 + std::process::id() % 1000;
    h.run(&format!(
        "-a create -m test -c a1 --net front --host alpha -b --port-mapping {port}:80"
    ))
    .ok();
    h.run("-a create -m test -c a2 --net front -b").ok();
    h.run("-a create -m test -c b1 --net back -b").ok();
    let (a1, a2, b1) = (h.vip("a1"), h.vip("a2"), h.vip("b1"));
    assert!(a1.starts_with(&format!("10.230.{t}.")), "{a1}");
    assert!(a2.starts_with(&format!("10.230.{t}.")), "{a2}");
    assert!(b1.starts_with(&format!("10.231.{t}.")), "{b1}");
    let rows = h.run("-s networks --json").ok().to_string();
    assert!(rows.contains("\"a1\"") && rows.contains("\"b1\""), "{rows}");

    // Names within a network: container name and hostname, both ways,
    // the earlier member learning of the later one.
    h.serve("a1");
    h.serve("a2");
    h.serve("b1");
    assert_eq!(
        h.eventually("a1", "timeout 3 wget -q -O - http://a2/"),
        "served-by-a2"
    );
    assert_eq!(
        h.eventually("a2", "timeout 3 wget -q -O - http://alpha/"),
        "served-by-a1"
    );
    h.eventually("a2", "ping -c1 -W2 a1");
    // Not across networks: no name, and no route through the host.
    assert!(h.fails_in("a1", "ping -c1 -W1 b1"));
    assert!(h.fails_in("a1", &format!("ping -c1 -W1 {b1}")));
    assert!(h.fails_in("b1", &format!("timeout 3 wget -q -O - http://{a1}/")));
    // ...but the published port answers, from b1 through the host and
    // from a client host.
    let host_side = format!("10.228.{t}.1");
    let ns = h.client();
    let front_gw = format!("10.230.{t}.1");
    assert_eq!(
        h.eventually(
            "b1",
            &format!("timeout 3 wget -q -O - http://{front_gw}:{port}/")
        ),
        "served-by-a1"
    );
    let out = sh(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "timeout",
        "3",
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        &format!("http://{host_side}:{port}/"),
    ]);
    assert_eq!(out.trim(), "served-by-a1");
    // Both reach the world through NAT: here, the client host.
    h.eventually("a1", &format!("ping -c1 -W2 10.228.{t}.2"));

    // Removing a used network is refused; a stopped member leaves the
    // others' /etc/hosts.
    h.run("-a network_remove --network front")
        .fails(1, "used by container");
    h.run("-a shutdown -c a2").ok();
    assert!(h.fails_in("a1", "ping -c1 -W1 a2"));
    let hosts = h.in_container("a1", "cat /etc/hosts").ok().to_string();
    assert!(!hosts.contains("a2"), "{hosts}");
    // A killed member is forgotten by the next command, with its veth and
    // chains.
    h.run("-a boot -c a2").ok();
    h.eventually("a1", "ping -c1 -W2 a2");
    assert!(h.chains().contains("a2-fwd"), "{}", h.chains());
    let pid = h.rt.pid("a2").expect("pid");
    sh(&["kill", "-9", &pid.to_string()]);
    std::thread::sleep(Duration::from_millis(200));
    h.run("-s containers").ok();
    assert!(!h.chains().contains("a2-fwd"), "{}", h.chains());
    let hosts = h.in_container("a1", "cat /etc/hosts").ok().to_string();
    assert!(!hosts.contains("a2"), "{hosts}");

    // -f moves stopped members to CUSTOM; running ones still refuse.
    h.run("-a network_remove --network front -f")
        .fails(1, "shut them down first");
    h.run("-a shutdown -c a1").ok();
    h.run("-a network_remove --network front -f").ok();
    let info = h.run("-s info -c a1").ok().to_string();
    assert!(info.contains("CUSTOM"), "{info}");
    assert!(!Path::new("/sys/class/net").join(&front_br).exists());
    assert!(!h.run("-s networks").ok().contains("front"));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn an_internal_network_does_not_reach_out_and_moves_keep_addresses_apart() {
    let mut h = Home::new(1);
    let t = h.tag;
    h.network("inner", 230, "--internal");
    h.network("outer", 231, "");
    let ns = h.client();
    h.run("-a create -m test -c i1 --net inner -b").ok();
    h.run("-a create -m test -c o1 --net outer -b").ok();
    let client = format!("10.228.{t}.2");
    h.eventually("o1", &format!("ping -c1 -W2 {client}"));
    assert!(h.fails_in("i1", &format!("ping -c1 -W1 {client}")));
    drop(ns);
    // -a net moves a stopped container, with an address of the new network.
    h.run("-a net -c o1 --net inner").fails(1, "running");
    h.run("-a shutdown -c o1").ok();
    h.run(&format!("-a net -c o1 --net inner --vip 10.230.{t}.50"))
        .ok();
    assert_eq!(h.vip("o1"), format!("10.230.{t}.50"));
    h.run(&format!("-a net -c o1 --net outer --vip 10.230.{t}.51"))
        .fails(1, "outside");
    h.run("-a net -c o1 --net nosuch")
        .fails(1, "network nosuch not found");
    h.run("-a boot -c o1").ok();
    h.eventually("i1", "ping -c1 -W2 o1");
    // to_container joins a network too.
    h.run("-a shutdown -c o1").ok();
    h.run("-a to_image --from-container o1 --to-image oimg")
        .ok();
    h.run("-a to_container --from-image oimg --to-container o2 --net inner")
        .ok();
    h.run("-a boot -c o2").ok();
    assert!(h.vip("o2").starts_with(&format!("10.230.{t}.")));
    h.eventually("i1", "ping -c1 -W2 o2");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_boot_killed_mid_way_leaves_no_veth_chain_or_name_behind() {
    let mut h = Home::new(2);
    h.network("front", 230, "");
    h.run("-a create -m test -c k1 --net front").ok();
    h.run("-a create -m test -c k2 --net front -b").ok();
    let rows = h.run("-s containers --json").ok().to_string();
    let v: serde_json::Value = serde_json::from_str(&rows).expect("json");
    let netns = v
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["container_id"] == "k1"))
        .and_then(|r| r["netns"].as_str())
        .expect("netns")
        .to_string();
    let veth = format!("vx{}", netns.trim_start_matches("nns"));
    let init = common::static_init();
    let r = h.rt.home.run_with(
        None,
        ["-a", "boot", "-c", "k1"],
        &[
            ("XDOCKER_INIT", init.as_os_str()),
            ("XDOCKER_TEST_CRASH_AT", std::ffi::OsStr::new("boot.bridge")),
        ],
    );
    assert_eq!(r.code, -1, "killed: {r:?}");
    assert!(h.chains().contains("k1-fwd"), "the kill left its chain");
    // The next boot of it releases what the killed one made (as for
    // BRIDGE: that boot had not recorded the container as running yet).
    h.run("-a boot -c k1").ok();
    assert_eq!(h.chains().matches("chain k1-fwd").count(), 1);
    h.eventually("k2", "ping -c1 -W2 k1");
    h.eventually("k1", "ping -c1 -W2 k2");
    h.run("-a shutdown -c k1").ok();
    assert!(!h.chains().contains("k1-"), "{}", h.chains());
    assert!(!Path::new("/sys/class/net").join(&veth).exists());
}
