//! BRIDGE networking with real veths, a real bridge and real nftables NAT:
//! services in containers answer on their mapped ports from a "client
//! host" (a network namespace wired to the host by a veth), from the host
//! itself (127.0.0.1 and the host's address) and from other containers;
//! containers reach the client through NAT. Traffic only goes to
//! 127.0.0.1 and to addresses in namespaces and links the test created.
//! Every test has its own bridge, subnet, nftables table and cgroup parent.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{needs_root, netns_names, sh, RuntimeHome};

/// What one test owns on the host, removed when dropped (after the
/// containers: `NetHome` declares it after the runtime home).
struct HostNet {
    bridge: String,
    table: String,
    /// A table of "someone else" that xdocker must leave alone.
    foreign_table: Option<String>,
    client_ns: Option<String>,
    client_veth: Option<String>,
    children: Vec<Child>,
}

impl Drop for HostNet {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(ns) = &self.client_ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        for link in self.client_veth.iter().chain([&self.bridge]) {
            let _ = Command::new("ip")
                .args(["link", "del", link])
                .stderr(Stdio::null())
                .status();
        }
        for table in [Some(&self.table), self.foreign_table.as_ref()]
            .into_iter()
            .flatten()
        {
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", table])
                .stderr(Stdio::null())
                .status();
        }
    }
}

struct NetHome {
    rt: RuntimeHome,
    net: HostNet,
    /// The bridge subnet's first three octets, e.g. "10.201.7".
    prefix: String,
    /// The /30 to the client namespace: host side .1, client .2.
    client_prefix: String,
}

impl NetHome {
    /// A runtime home whose `[network]` is private to test number `n`.
    fn new(n: u8) -> Self {
        let rt = RuntimeHome::new();
        let tag = std::process::id() % 250;
        let bridge = format!("xdb{n}p{}", std::process::id() % 100_000);
        let table = format!("xdtest{n}p{}", std::process::id());
        let prefix = format!("10.{}.{tag}", 200 + u32::from(n));
        let client_prefix = format!("10.{}.{tag}", 210 + u32::from(n));
        rt.set_network(&format!(
            "bridge = \"{bridge}\"\nsubnet = \"{prefix}.0/24\"\nnft_table = \"{table}\"\n"
        ));
        rt.install_test();
        Self {
            rt,
            net: HostNet {
                bridge,
                table,
                foreign_table: None,
                client_ns: None,
                client_veth: None,
                children: Vec::new(),
            },
            prefix,
            client_prefix,
        }
    }

    fn run(&self, line: &str) -> common::Run {
        self.rt.run(line)
    }

    /// `-a run -c C --cmd CMD`.
    fn in_container(&self, c: &str, cmd: &str) -> common::Run {
        self.rt.run_in(None, ["-a", "run", "-c", c, "--cmd", cmd])
    }

    /// A client host: a network namespace with a veth to the host,
    /// `CLIENT.2` inside, `CLIENT.1` on the host, default route via the host.
    fn client(&mut self) -> String {
        let ns = format!("xdc{}", self.net.bridge.trim_start_matches("xdb"));
        let veth = format!("xdh{}", self.net.bridge.trim_start_matches("xdb"));
        sh(&["ip", "netns", "add", &ns]);
        self.net.client_ns = Some(ns.clone());
        sh(&[
            "ip", "link", "add", &veth, "type", "veth", "peer", "name", "c0", "netns", &ns,
        ]);
        self.net.client_veth = Some(veth.clone());
        let cp = &self.client_prefix;
        sh(&["ip", "addr", "add", &format!("{cp}.1/30"), "dev", &veth]);
        sh(&["ip", "link", "set", &veth, "up"]);
        let in_ns = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", ns.as_str()];
            all.extend_from_slice(args);
            sh(&all);
        };
        in_ns(&["ip", "addr", "add", &format!("{cp}.2/30"), "dev", "c0"]);
        in_ns(&["ip", "link", "set", "c0", "up"]);
        in_ns(&["ip", "link", "set", "lo", "up"]);
        in_ns(&["ip", "route", "add", "default", "via", &format!("{cp}.1")]);
        ns
    }

    /// Links whose master is the test's bridge.
    fn bridge_ports(&self) -> Vec<String> {
        if !Path::new("/sys/class/net").join(&self.net.bridge).exists() {
            return Vec::new();
        }
        sh(&["ip", "-o", "link", "show", "master", &self.net.bridge])
            .lines()
            .filter_map(|l| {
                l.split(": ")
                    .nth(1)
                    .map(|s| s.split('@').next().unwrap_or(s).to_string())
            })
            .collect()
    }

    /// The chains of the test's table (`nft list table`).
    fn chains(&self) -> Vec<String> {
        let out = Command::new("nft")
            .args(["list", "table", "ip", &self.net.table])
            .output()
            .expect("nft");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("chain "))
            .map(|c| c.trim_end_matches(" {").to_string())
            .collect()
    }

    fn leases(&self) -> Vec<String> {
        std::fs::read_dir(self.rt.home.path().join("network/ports"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `busybox wget` from the host (or with a prefix such as `ip netns exec`),
/// retried while a freshly started server comes up.
fn fetch(prefix: &[&str], url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut args: Vec<&str> = prefix.to_vec();
        // (busybox 1.35's wget crashes with -T: `timeout` bounds it instead.)
        args.extend_from_slice(&["timeout", "3", "busybox", "wget", "-q", "-O", "-", url]);
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .expect("wget");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer from {prefix:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn container_fetch(h: &NetHome, c: &str, url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = h.in_container(c, &format!("timeout 3 wget -q -O - {url}"));
        if r.code == 0 {
            return r.stdout.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer in {c}: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn serve(h: &NetHome, c: &str) {
    h.in_container(
        c,
        &format!(
            "mkdir -p /www && echo served-by-{c} > /www/index.html && busybox httpd -p 80 -h /www"
        ),
    )
    .ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn mapped_ports_answer_from_everywhere_and_nat_reaches_out() {
    needs_root();
    let mut h = NetHome::new(1);
    let ns = h.client();
    let p = h.prefix.clone();
    let cp = h.client_prefix.clone();
    let port = 18000 + std::process::id() % 1000;
    let uport = port + 1000;

    // web leaves only by the client's link (--host-eth); peer by any, and
    // peer has a user namespace (its root configures a network namespace
    // that namespace owns).
    let eth = h.net.client_veth.clone().expect("client veth");
    // Both are unprivileged (the default), web in the first slot.
    h.rt.set_userns_range("1700000:131072");
    h.run(&format!(
        "-a create -m test -c web --net BRIDGE --host webhost --host-eth {eth} --port-mapping {port}:80,{uport}:5353/udp"
    ))
    .ok();
    h.run("-a create -m test -c peer --net BRIDGE").ok();
    let rows = h.run("-s containers").ok().to_string();
    assert!(
        rows.contains(&format!("{p}.2")) && rows.contains(&format!("{p}.3")),
        "{rows}"
    );
    h.run("-a boot -c web").ok();
    h.run("-a boot -c peer").ok();
    serve(&h, "web");
    serve(&h, "peer");

    // The container's own view: eth0 with the VIP, default route, /etc files.
    let addr = h
        .in_container("web", "ip -o -4 addr show eth0; ip route")
        .ok()
        .to_string();
    assert!(addr.contains(&format!("inet {p}.2/24")), "{addr}");
    assert!(
        addr.contains(&format!("default via {p}.1 dev eth0")),
        "{addr}"
    );
    let hosts = h
        .in_container("web", "cat /etc/hosts /etc/hostname")
        .ok()
        .to_string();
    assert!(
        hosts.contains(&format!("{p}.2\twebhost")) && hosts.contains("127.0.0.1\tlocalhost"),
        "{hosts}"
    );
    assert!(hosts.ends_with("webhost\n"), "{hosts}");
    let resolv = h
        .in_container("web", "cat /etc/resolv.conf")
        .ok()
        .to_string();
    assert!(resolv.contains("nameserver "), "{resolv}");
    assert!(!resolv.contains("nameserver 127."), "{resolv}");

    let url = |host: &str| format!("http://{host}:{port}/");
    // From another host (the client namespace), to the host's address there.
    let client = ["ip", "netns", "exec", ns.as_str()];
    assert_eq!(fetch(&client, &url(&format!("{cp}.1"))), "served-by-web");
    // From the host itself: loopback and its own addresses.
    assert_eq!(fetch(&[], &url("127.0.0.1")), "served-by-web");
    assert_eq!(fetch(&[], &url(&format!("{cp}.1"))), "served-by-web");
    // From other containers (and itself) through the host: hairpin.
    assert_eq!(
        container_fetch(&h, "peer", &url(&format!("{cp}.1"))),
        "served-by-web"
    );
    assert_eq!(
        container_fetch(&h, "peer", &url(&format!("{p}.1"))),
        "served-by-web"
    );
    assert_eq!(
        container_fetch(&h, "web", &url(&format!("{cp}.1"))),
        "served-by-web"
    );
    // Container to container by VIP, unmapped port.
    assert_eq!(
        container_fetch(&h, "web", &format!("http://{p}.3/")),
        "served-by-peer"
    );
    let peer_view = h
        .in_container("peer", "id -u; ip -o -4 addr show eth0")
        .ok()
        .to_string();
    assert!(
        peer_view.starts_with("0\n") && peer_view.contains(&format!("inet {p}.3/24")),
        "{peer_view}"
    );
    let peer_pid = h.rt.pid("peer").expect("peer pid");
    let status = std::fs::read_to_string(format!("/proc/{peer_pid}/status")).expect("status");
    assert!(status.contains("\nUid:\t1765536\t"), "{status}");

    // UDP map: a datagram from the client host arrives at the container's
    // port, received in the container's network namespace (its busybox
    // has no UDP tools).
    let rows = h.run("-s containers").ok().to_string();
    let web_ns = rows
        .lines()
        .find(|l| l.starts_with("web "))
        .and_then(|l| l.split_whitespace().nth(4))
        .expect("netns column")
        .to_string();
    let receiver = in_netns(&format!("/run/netns/{web_ns}"), || {
        let sock = std::net::UdpSocket::bind("0.0.0.0:5353").expect("bind 5353");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        let (n, _) = sock.recv_from(&mut buf).expect("a datagram arrives");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let target = format!("{cp}.1:{uport}");
    let sender = in_netns(&format!("/run/netns/{ns}"), move || {
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind");
        for _ in 0..20 {
            sock.send_to(b"udp-hello", &target).expect("send");
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    assert_eq!(receiver.join().expect("receiver"), "udp-hello");
    sender.join().expect("sender");

    // The container reaches the client host through NAT: the client sees
    // the host's address, not the VIP.
    let docroot = h.rt.home.scratch("client-www");
    let cgi = docroot.join("cgi-bin");
    std::fs::create_dir_all(&cgi).expect("cgi dir");
    std::fs::write(
        cgi.join("peer"),
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"peer=$REMOTE_ADDR\"\n",
    )
    .expect("cgi");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(cgi.join("peer"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let server = Command::new("ip")
        .args(["netns", "exec", &ns, "busybox", "httpd", "-f", "-p"])
        .arg(format!("{cp}.2:9000"))
        .arg("-h")
        .arg(&docroot)
        .spawn()
        .expect("client httpd");
    h.net.children.push(server);
    let seen = container_fetch(&h, "web", &format!("http://{cp}.2:9000/cgi-bin/peer"));
    assert_eq!(seen, format!("peer={cp}.1"));
    let seen = container_fetch(&h, "peer", &format!("http://{cp}.2:9000/cgi-bin/peer"));
    assert_eq!(seen, format!("peer={cp}.1"));
    let post = sh(&["nft", "list", "chain", "ip", &h.net.table, "web-post"]);
    assert!(
        post.contains(&format!("oifname \"{eth}\" masquerade")),
        "{post}"
    );

    // Stopping gives everything back but the bridge and the empty table.
    h.run("-a shutdown -c web").ok();
    h.run("-a shutdown -c peer").ok();
    assert!(h.bridge_ports().is_empty(), "{:?}", h.bridge_ports());
    assert!(h.chains().is_empty(), "{:?}", h.chains());
    assert!(h.leases().is_empty(), "{:?}", h.leases());
    assert!(Path::new("/sys/class/net").join(&h.net.bridge).exists());
    assert!(fetch_fails(&url("127.0.0.1")));
}

/// Runs `f` on a thread that has entered the network namespace at `path`.
fn in_netns<T: Send + 'static>(
    path: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let ns = std::fs::File::open(path).expect("open netns");
    std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

fn fetch_fails(url: &str) -> bool {
    !Command::new("timeout")
        .args(["2", "busybox", "wget", "-q", "-O", "-", url])
        .stderr(Stdio::null())
        .status()
        .expect("wget")
        .success()
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn bad_network_inputs_are_refused_and_leave_nothing() {
    needs_root();
    let mut h = NetHome::new(2);
    let p = h.prefix.clone();
    let port = 19000 + std::process::id() % 1000;

    // VIPs: chosen in order, checked when given, unique in the home.
    h.run(&format!(
        "-a create -m test -c a --net BRIDGE --vip {p}.7 --port-mapping {port}:80"
    ))
    .ok();
    h.run("-a create -m test -c auto --net BRIDGE").ok();
    assert!(h.run("-s containers").ok().contains(&format!("{p}.2 ")));
    for (vip, needle) in [
        (
            format!("{p}.7"),
            format!("VIP {p}.7 is already used by container a"),
        ),
        (
            format!("{p}.1"),
            format!("VIP {p}.1 is the gateway address of the bridge subnet {p}.0/24"),
        ),
        (
            format!("{p}.0"),
            format!("VIP {p}.0 is the network address of the bridge subnet {p}.0/24"),
        ),
        (
            "192.0.2.9".to_string(),
            format!("VIP 192.0.2.9 is outside the bridge subnet {p}.0/24"),
        ),
    ] {
        h.run(&format!(
            "-a create -m test -c bad --net BRIDGE --vip {vip}"
        ))
        .fails(1, &needle);
        assert!(!h.rt.home.path().join("containers/bad").exists());
    }
    h.run("-a create -m test -c bad --net BRIDGE --port-mapping 80:http")
        .fails(2, "'http' is not a port (1-65535)");
    h.run("-a create -m test -c bad --net BRIDGE --port-mapping 80")
        .fails(2, "'80' is not HOST_PORT:CONTAINER_PORT");
    h.run("-a create -m test -c bad --vip 10.0.0.2")
        .fails(1, "--vip needs --net BRIDGE");
    assert!(!h.rt.home.path().join("containers/bad").exists());
    // -a vip re-checks.
    h.run(&format!("-a vip -c auto --vip {p}.7"))
        .fails(1, &format!("VIP {p}.7 is already used by container a"));
    h.run(&format!("-a vip -c auto --vip {p}.9")).ok();
    h.run("-a destroy -c auto").ok();
    h.run("-a create -m test -c again --net BRIDGE").ok();
    assert!(
        h.run("-s containers").ok().contains(&format!("{p}.2 ")),
        "a freed VIP is reused"
    );

    // A --host-eth that does not exist stops the boot with nothing made.
    h.run("-a create -m test -c noeth --net BRIDGE --host-eth xdnosuch0")
        .ok();
    h.run("-a boot -c noeth").fails(
        1,
        "container noeth: host interface xdnosuch0: find: no such interface",
    );
    assert!(h.bridge_ports().is_empty() && h.chains().is_empty());
    assert!(!h
        .rt
        .home
        .path()
        .join("containers/noeth/state.toml")
        .exists());

    // Rules xdocker did not make stay as they are.
    let foreign = format!("{}f", h.net.table);
    h.net.foreign_table = Some(foreign.clone());
    sh(&["nft", "add", "table", "ip", &foreign]);
    sh(&[
        "nft",
        "add",
        "chain",
        "ip",
        &foreign,
        "c",
        "{ type nat hook prerouting priority -50 ; }",
    ]);
    sh(&[
        "nft", "add", "rule", "ip", &foreign, "c", "tcp", "dport", "9", "counter",
    ]);
    let foreign_before = sh(&["nft", "list", "table", "ip", &foreign]);

    // A host port mapped by a running container is refused at boot, and
    // the refused boot leaves nothing behind.
    h.run(&format!(
        "-a create -m test -c b --net BRIDGE --port-mapping 9999:81,{port}:80"
    ))
    .ok();
    h.run("-a boot -c a").ok();
    let b_ns = h
        .run("-s containers")
        .ok()
        .lines()
        .find(|l| l.starts_with("b "))
        .and_then(|l| l.split_whitespace().nth(4))
        .expect("netns column")
        .to_string();
    let cgroups_before =
        h.rt.cgroup_dirs()
            .iter()
            .filter(|d| d.join("b").exists())
            .count();
    h.run("-a boot -c b").fails(
        1,
        &format!("container b: host port {port}/tcp is already mapped by running container a"),
    );
    assert_eq!(h.bridge_ports().len(), 1, "{:?}", h.bridge_ports());
    let chains = h.chains();
    assert!(chains.iter().all(|c| c.starts_with("a-")), "{chains:?}");
    assert_eq!(h.leases(), vec![format!("tcp-{port}")]);
    // (other tests make and remove netns names meanwhile: look for b's)
    assert!(!netns_names().contains(&b_ns), "{b_ns} left behind");
    assert_eq!(
        h.rt.cgroup_dirs()
            .iter()
            .filter(|d| d.join("b").exists())
            .count(),
        cgroups_before
    );
    assert!(!h.rt.home.path().join("containers/b/state.toml").exists());
    // Once a stops, b may have the port.
    h.run("-a shutdown -c a").ok();
    h.run("-a boot -c b").ok();
    h.run("-a boot -c a").fails(
        1,
        &format!("container a: host port {port}/tcp is already mapped by running container b"),
    );
    h.run("-a kill -c b").ok();
    assert!(h.chains().is_empty() && h.bridge_ports().is_empty() && h.leases().is_empty());
    assert_eq!(
        sh(&["nft", "list", "table", "ip", &foreign]),
        foreign_before
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn killed_init_has_its_veth_and_rules_released_by_the_next_command() {
    needs_root();
    let h = NetHome::new(3);
    let port = 20000 + std::process::id() % 1000;
    h.run(&format!(
        "-a create -m test -c k --net BRIDGE --port-mapping {port}:80"
    ))
    .ok();
    h.run("-a boot -c k").ok();
    serve(&h, "k");
    assert_eq!(
        fetch(&[], &format!("http://127.0.0.1:{port}/")),
        "served-by-k"
    );
    assert_eq!(h.bridge_ports().len(), 1);
    assert_eq!(h.chains().len(), 3);
    let pid = h.rt.pid("k").expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Until a command runs, the rules are still there; the next one
    // (whatever it is) releases them.
    assert!(h.run("-s containers").ok().contains("STOPPED"));
    assert!(h.bridge_ports().is_empty(), "{:?}", h.bridge_ports());
    assert!(h.chains().is_empty(), "{:?}", h.chains());
    assert!(h.leases().is_empty());
    assert!(fetch_fails(&format!("http://127.0.0.1:{port}/")));
    // And it boots again with the same address and port.
    h.run("-a boot -c k").ok();
    serve(&h, "k");
    assert_eq!(
        fetch(&[], &format!("http://127.0.0.1:{port}/")),
        "served-by-k"
    );
    h.run("-a kill -c k").ok();
    assert!(h.chains().is_empty());

    // A chain of the same name left over (by hand here) is replaced.
    let t = h.net.table.clone();
    sh(&["nft", "add", "chain", "ip", &t, "k-pre"]);
    sh(&["nft", "add", "rule", "ip", &t, "k-pre", "counter"]);
    h.run("-a boot -c k").ok();
    let mut chains = h.chains();
    chains.sort();
    assert_eq!(chains, ["k-out", "k-post", "k-pre"]);
    let listing = sh(&["nft", "list", "chain", "ip", &t, "k-pre"]);
    assert!(
        listing.contains("dnat to") && !listing.contains("counter"),
        "{listing}"
    );
    h.run("-a destroy -c k -h").ok();
    assert!(h.chains().is_empty() && h.bridge_ports().is_empty());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_boot_killed_at_any_step_leaves_the_container_bootable_and_nothing_behind() {
    // A killed BRIDGE or CUSTOM boot left its /run/netns name (every later
    // boot failed with "file exists" until destroy), a veth and cgroups.
    needs_root();
    let h = NetHome::new(4);
    let port = 21000 + std::process::id() % 1000;
    let kinds = [
        (
            "hc",
            "--net HOST".to_string(),
            &["boot.marked", "boot.state", "boot.exec"][..],
        ),
        (
            "cc",
            "--net CUSTOM".to_string(),
            &["boot.netns", "boot.marked", "boot.state", "boot.exec"][..],
        ),
        (
            "bc",
            format!("--net BRIDGE --port-mapping {port}:80"),
            &[
                "boot.netns",
                "boot.bridge",
                "boot.marked",
                "boot.state",
                "boot.exec",
            ][..],
        ),
    ];
    for (c, opts, points) in kinds {
        h.run(&format!("-a create -m test -c {c} {opts}")).ok();
        let json: serde_json::Value =
            serde_json::from_str(h.run("-s containers --json").ok()).expect("json");
        let netns = json
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["container_id"] == c)
            .and_then(|r| r["netns"].as_str())
            .expect("netns")
            .to_string();
        let veth = format!("vx{}", netns.trim_start_matches("nns"));
        for point in points {
            let init = common::static_init();
            let r = h.rt.home.run_with(
                None,
                ["-a", "boot", "-c", c],
                &[
                    ("XDOCKER_INIT", init.as_os_str()),
                    ("XDOCKER_TEST_CRASH_AT", std::ffi::OsStr::new(point)),
                ],
            );
            assert_eq!(r.code, -1, "{c} {point}: killed: {r:?}");
            // The next commands see it as it is: killed after its init
            // was executed, it runs (its state was on disk before); killed
            // before, it boots again.
            // (A process of a boot killed earlier dies with it, which may
            // take the kernel a moment.)
            let running = || {
                let rows = h.run("-s containers").ok().to_string();
                rows.lines()
                    .any(|l| l.starts_with(&format!("{c} ")) && l.contains("RUNNING("))
            };
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut running_now = running();
            while running_now && *point != "boot.exec" && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
                running_now = running();
            }
            let running = running_now;
            assert_eq!(running, *point == "boot.exec", "{c} {point}");
            if !running {
                let booted = h.run(&format!("-a boot -c {c}"));
                assert_eq!(booted.code, 0, "{c} after a kill at {point}: {booted:?}");
            }
            let up = h.in_container(c, "echo up");
            assert_eq!(up.ok(), "up\n", "{c} {point}");
            h.run(&format!("-a kill -c {c}")).ok();
            assert!(
                !Path::new("/run/netns").join(&netns).exists(),
                "{c} {point}: netns name left after kill"
            );
            assert!(
                !Path::new("/sys/class/net").join(&veth).exists(),
                "{c} {point}: veth left after kill"
            );
        }
        h.run(&format!("-a destroy -c {c}")).ok();
        assert!(
            h.rt.cgroup_dirs().iter().all(|d| !d.join(c).exists()),
            "{c}: cgroups left"
        );
    }
    // A killed boot of a HOST container leaves no cgroup after -s containers.
    h.run("-a create -m test -c hk").ok();
    let init = common::static_init();
    let r = h.rt.home.run_with(
        None,
        ["-a", "boot", "-c", "hk"],
        &[
            ("XDOCKER_INIT", init.as_os_str()),
            ("XDOCKER_TEST_CRASH_AT", std::ffi::OsStr::new("boot.marked")),
        ],
    );
    assert_eq!(r.code, -1, "{r:?}");
    // Once its half-started process is gone (it dies with the boot, which
    // under load takes the kernel a moment), a command releases the rest.
    let gone = || h.rt.cgroup_dirs().iter().all(|d| !d.join("hk").exists());
    let deadline = Instant::now() + Duration::from_secs(3);
    h.run("-s containers").ok();
    while !gone() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        h.run("-s containers").ok();
    }
    assert!(gone(), "empty cgroups of the killed boot are gone");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn host_ports_interfaces_and_tables_of_others_are_never_taken_over() {
    needs_root();
    let h = NetHome::new(5);
    // A host service on the port: the boot is refused, naming it, and
    // leaves nothing; -f maps it anyway, saying so.
    let service = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = service.local_addr().expect("addr").port();
    h.run(&format!(
        "-a create -m test -c p --net BRIDGE --port-mapping {port}:80"
    ))
    .ok();
    h.run("-a boot -c p").fails(
        1,
        &format!(
            "host port {port}/tcp is in use by pid {}",
            std::process::id()
        ),
    );
    assert!(h.chains().is_empty() && h.bridge_ports().is_empty() && h.leases().is_empty());
    assert!(h.run("-s containers").ok().contains("STOPPED"));
    let forced = h.run("-a boot -c p -f");
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(forced.stderr.contains("mapped anyway (-f)"), "{forced:?}");
    h.run("-a kill -c p").ok();
    drop(service);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let uport = udp.local_addr().expect("addr").port();
    h.run(&format!(
        "-a port_mapping -c p --port-mapping {uport}:53/udp"
    ))
    .ok();
    h.run("-a boot -c p")
        .fails(1, &format!("host port {uport}/udp is in use"));
    drop(udp);
    h.run("-a boot -c p").ok();

    // The same MAC at every boot (the host's neighbour entry stays right).
    let mac = || {
        h.in_container("p", "cat /sys/class/net/eth0/address")
            .ok()
            .trim()
            .to_string()
    };
    let first = mac();
    assert!(first.starts_with("02:"), "{first}");
    h.run("-a kill -c p").ok();
    h.run("-a boot -c p").ok();
    assert_eq!(mac(), first);
    h.run("-a destroy -c p -h").ok();

    // A host interface that is not a bridge is never taken as one.
    let link = format!("xdn{}", std::process::id() % 100_000);
    sh(&[
        "ip",
        "link",
        "add",
        &link,
        "type",
        "veth",
        "peer",
        "name",
        &format!("{link}b"),
    ]);
    struct Link(String);
    impl Drop for Link {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).status();
        }
    }
    let _link = Link(link.clone());
    let toml = h.rt.home.path().join("xdocker.toml");
    let text = std::fs::read_to_string(&toml).expect("toml");
    let ours = format!("bridge = \"{}\"", h.net.bridge);
    std::fs::write(&toml, text.replace(&ours, &format!("bridge = \"{link}\""))).expect("w");
    h.run("-a create -m test -c q --net BRIDGE").ok();
    h.run("-a boot -c q").fails(
        1,
        &format!("{link} is an interface of the host that is not a bridge"),
    );
    let addrs = sh(&["ip", "-4", "addr", "show", "dev", &link]);
    assert!(!addrs.contains("inet "), "no address added: {addrs}");
    // Nor is another program's nftables table.
    let table = format!("nft_table = \"{}\"", h.net.table);
    std::fs::write(&toml, text.replace(&table, "nft_table = \"nat\"")).expect("w");
    h.run("-a boot -c q")
        .fails(1, "nft_table 'nat' is iptables-nft's table");
    let nat = Command::new("nft")
        .args(["list", "table", "ip", "nat"])
        .output()
        .expect("nft");
    assert!(!String::from_utf8_lossy(&nat.stdout).contains("q-pre"));
    // Nor a subnet another interface routes (two homes whose derived
    // subnets are the same): our first bridge has it from the boots above.
    let second = format!("xdc{}", std::process::id() % 100_000);
    let _second = Link(second.clone());
    std::fs::write(
        &toml,
        text.replace(&ours, &format!("bridge = \"{second}\"")),
    )
    .expect("w");
    h.run("-a boot -c q").fails(
        1,
        &format!(
            "bridge {second}: check subnet: subnet {p}.0/24 is already routed through {} ({p}.0/24)",
            h.net.bridge,
            p = h.prefix
        ),
    );
    assert!(
        !Path::new("/sys/class/net").join(&second).exists(),
        "the bridge made for the boot is gone"
    );
    assert!(h.chains().is_empty(), "{:?}", h.chains());
    std::fs::write(&toml, text).expect("w");
    h.run("-a destroy -c q").ok();
}
