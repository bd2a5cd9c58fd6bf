//! The container lifecycle as a user sees it when things fail: a
//! conversion whose move and rollback both fail keeps the layer and says
//! where it is (failures injected with the test-only
//! `XDOCKER_TEST_FAIL_AT=POINT[,POINT]`, see src/crashpoint.rs); a
//! `create -b` whose boot fails leaves no container and nothing it held;
//! the conversions say what they consumed.

mod common;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{netns_names, RuntimeHome, TestHome};

fn fail_at(h: &TestHome, points: &str, args: &[&str]) -> common::Run {
    h.run_with(None, args, &[("XDOCKER_TEST_FAIL_AT", OsStr::new(points))])
}

fn rwlayer(h: &TestHome, c: &str) -> PathBuf {
    h.path().join("containers").join(c).join("rwlayer")
}

/// Container `c` with a precious file in its writable layer.
fn container_with_marker(h: &RuntimeHome, c: &str) {
    h.run(&format!("-a create -m test -c {c}")).ok();
    std::fs::write(rwlayer(&h.home, c).join("marker"), "precious\n").expect("marker");
}

fn marker(dir: PathBuf) -> String {
    std::fs::read_to_string(dir.join("marker")).unwrap_or_else(|e| panic!("{dir:?}: {e}"))
}

/// Nothing half-done is left: no staging directory, no intent record.
fn assert_settled(h: &TestHome) {
    assert_eq!(h.staging_leftovers(), Vec::<String>::new(), "tmp/ is empty");
    let intents: Vec<_> = std::fs::read_dir(h.path().join("intents"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(intents.is_empty(), "intents left: {intents:?}");
}

fn listed(h: &TestHome, show: &str, name: &str) -> bool {
    h.run(&format!("-s {show}"))
        .ok()
        .lines()
        .any(|l| l.starts_with(&format!("{name} ")))
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_move_and_its_move_back_both_failing_keep_the_layer_and_say_where() {
    let h = RuntimeHome::with_test_image();
    container_with_marker(&h, "c");
    // to_image: the rename moved the layer but reported a failure, and
    // moving it back fails too.
    let r = fail_at(
        &h.home,
        "to_image.move,to_image.move_back",
        &[
            "-a",
            "to_image",
            "--from-container",
            "c",
            "--to-image",
            "img:1",
        ],
    );
    let layer = h.home.layer("img", "1");
    let line = r.fails(1, "injected failure at to_image.move").to_string();
    assert!(line.contains("moving it back failed too"), "{line}");
    assert!(
        line.contains(&format!("kept in image img:1 at {}", layer.display())),
        "the message names where the layer is: {line}"
    );
    assert_eq!(marker(layer.clone()), "precious\n", "kept, not deleted");
    // The next command finishes the conversion the message announced.
    assert!(listed(&h.home, "images", "img"));
    assert!(!listed(&h.home, "containers", "c"));
    assert_eq!(marker(layer.clone()), "precious\n");
    assert_settled(&h.home);

    // to_container, the same two failures: the layer stays in the new
    // container, which the next command completes.
    let r = fail_at(
        &h.home,
        "to_container.move,to_container.move_back",
        &[
            "-a",
            "to_container",
            "--from-image",
            "img:1",
            "--to-container",
            "c",
        ],
    );
    let line = r
        .fails(1, "injected failure at to_container.move")
        .to_string();
    assert!(
        line.contains(&format!(
            "kept in container c at {}",
            rwlayer(&h.home, "c").display()
        )),
        "{line}"
    );
    assert_eq!(marker(rwlayer(&h.home, "c")), "precious\n");
    assert!(listed(&h.home, "containers", "c"));
    assert!(!listed(&h.home, "images", "img"));
    assert_eq!(marker(rwlayer(&h.home, "c")), "precious\n");
    assert_settled(&h.home);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_move_undone_whose_cleanup_fails_leaves_the_container_as_it_was() {
    let h = RuntimeHome::with_test_image();
    container_with_marker(&h, "c");
    let to_image = [
        "-a",
        "to_image",
        "--from-container",
        "c",
        "--to-image",
        "img:1",
    ];
    let r = fail_at(&h.home, "to_image.move,to_image.undo", &to_image);
    let line = r
        .fails(1, "the layer was moved back to container c")
        .to_string();
    assert!(
        line.contains("the empty image img:1 is left for the next xdocker command to remove"),
        "the cleanup's failure does not hide the move's: {line}"
    );
    assert!(line.contains("injected failure at to_image.undo"), "{line}");
    assert_eq!(marker(rwlayer(&h.home, "c")), "precious\n");
    // The next command removes the empty image; the same command works.
    assert!(!listed(&h.home, "images", "img"));
    assert_settled(&h.home);
    assert_eq!(
        h.home.run_in(None, to_image).ok(),
        "OK: container c became image img:1 (the container is gone)\n"
    );
    assert_eq!(marker(h.home.layer("img", "1")), "precious\n");
    assert_eq!(
        h.run("-a to_container --from-image img:1 --to-container c")
            .ok(),
        "OK: image img:1 became container c (the image is gone)\n"
    );
    assert_eq!(marker(rwlayer(&h.home, "c")), "precious\n");
    assert_settled(&h.home);
}

/// A runtime home with a bridge, subnet and nftables table of its own,
/// removed after the home's containers.
struct BridgeHome {
    rt: RuntimeHome,
    _net: OwnBridge,
    prefix: String,
}

struct OwnBridge {
    bridge: String,
    table: String,
}

impl Drop for OwnBridge {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new(args[0])
                .args(&args[1..])
                .stderr(Stdio::null())
                .status();
        };
        quiet(&["ip", "link", "del", &self.bridge]);
        quiet(&["nft", "delete", "table", "ip", &self.table]);
    }
}

impl BridgeHome {
    fn new() -> Self {
        let rt = RuntimeHome::new();
        let pid = std::process::id();
        let net = OwnBridge {
            bridge: format!("xdl{}", pid % 100_000),
            table: format!("xdlife{pid}"),
        };
        let prefix = format!("10.250.{}", pid % 250);
        rt.set_network(&format!(
            "bridge = \"{}\"\nsubnet = \"{prefix}.0/24\"\nnft_table = \"{}\"\n",
            net.bridge, net.table
        ));
        rt.install_test();
        Self {
            rt,
            _net: net,
            prefix,
        }
    }

    /// A column of container `c`'s row in `-s containers`.
    fn column(&self, c: &str, n: usize) -> String {
        let rows = self.rt.run("-s containers").ok().to_string();
        let row = rows
            .lines()
            .find(|l| l.starts_with(&format!("{c} ")))
            .unwrap_or_else(|| panic!("{c} listed: {rows}"));
        row.split_whitespace().nth(n).expect("column").to_string()
    }

    fn userns(&self, c: &str) -> String {
        let info = self.rt.run(&format!("-s info -c {c}")).ok().to_string();
        info.lines()
            .find(|l| l.starts_with("userns: "))
            .expect("userns line")
            .to_string()
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn create_b_whose_boot_fails_leaves_nothing() {
    common::needs_root();
    let h = BridgeHome::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let create = |c: &str| {
        h.rt.run(&format!(
            "-a create -m test -c {c} --net BRIDGE --port-mapping {port}:80 -b"
        ))
    };
    create("a").ok();
    let r = create("b");
    let line = r.fails(1, "container b was not created: its boot failed");
    assert!(
        line.contains(&format!(
            "host port {port}/tcp is already mapped by running container a"
        )),
        "the boot's reason: {line}"
    );
    let home = h.rt.home.path();
    assert!(!home.join("containers/b").exists(), "no container b");
    assert!(!h.rt.run("-s containers").ok().contains("\nb "));
    assert!(
        h.rt.cgroup_dirs().iter().all(|d| !d.join("b").exists()),
        "no cgroup"
    );
    let b_ns = xdocker::runtime::netns::netns_name(home, "b");
    assert!(!netns_names().contains(&b_ns), "no netns {b_ns}");
    // Its VIP and its ids are free again: the next container gets them.
    h.rt.run("-a create -m test -c c --net BRIDGE").ok();
    assert_eq!(h.column("a", 5), format!("{}.2", h.prefix));
    assert_eq!(h.column("c", 5), format!("{}.3", h.prefix), "b's VIP");
    let (a_ids, c_ids) = (h.userns("a"), h.userns("c"));
    if a_ids != "userns: -" {
        let uid = |line: &str| -> u64 {
            line.split_whitespace()
                .nth(2)
                .and_then(|u| u.trim_end_matches(',').parse().ok())
                .expect("uid")
        };
        assert_eq!(uid(&c_ids), uid(&a_ids) + 65536, "b's ids: {c_ids}");
    }
    // Once a is stopped, b can have the port.
    h.rt.run("-a kill -c a").ok();
    create("b").ok();
    h.rt.run("-a kill -c b").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn version_refuses_the_same_version_and_build_cache_layers_in_one_line() {
    let h = RuntimeHome::with_test_image();
    h.run("-a version -m test --version _")
        .fails(1, "image test:_ already has version _");
    h.run_in(
        None,
        ["-a", "version", "-m", "=build:0123abcd", "--version", "2"],
    )
    .fails(1, "image =build:0123abcd is a layer of the build cache");
    h.run("-a version -m test --version 2").ok();
    assert!(listed(&h.home, "images", "test"));
}
