//! The Docker-style `network` verbs over the user-defined networks
//! (root): create with Docker's options, containers joining with
//! `--network NAME` and reaching each other by name, `ls` and `inspect`
//! showing them, `rm` refused while used, bad options refused in one
//! line. Subnet 10.233.1.0/24 and bridge `xdnd1` are this test's.

mod common;

use std::time::{Duration, Instant};

use common::{Run, RuntimeHome};

fn x(h: &RuntimeHome, args: &[&str]) -> Run {
    h.run_in(None, args)
}

/// Removes what the test made even when it fails half-way.
struct Cleanup<'a>(&'a RuntimeHome);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = x(self.0, &["rm", "-f", "da", "db"]);
        let _ = x(self.0, &["network", "rm", "dnet"]);
        let _ = std::process::Command::new("ip")
            .args(["link", "del", "xdnd1"])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn network_verbs_make_a_network_whose_members_reach_each_other_by_name() {
    let h = RuntimeHome::with_test_image();
    let _cleanup = Cleanup(&h);
    let made = x(
        &h,
        &[
            "network",
            "create",
            "--subnet",
            "10.233.1.0/24",
            "-o",
            "com.docker.network.bridge.name=xdnd1",
            "dnet",
        ],
    );
    assert_eq!(made.ok(), "dnet\n");
    x(
        &h,
        &["run", "-d", "--name", "da", "--network", "dnet", "test"],
    )
    .ok();
    x(
        &h,
        &["run", "-d", "--name", "db", "--network", "dnet", "test"],
    )
    .ok();
    // By name, as members come up.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = x(&h, &["exec", "db", "ping", "-c1", "-W1", "da"]);
        if r.code == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "db cannot reach da: {r:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let listed: Vec<serde_json::Value> = x(&h, &["network", "ls", "--format", "json"])
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let dnet = listed
        .iter()
        .find(|n| n["name"] == "dnet")
        .expect("dnet listed");
    assert_eq!(dnet["subnet"], "10.233.1.0/24");
    assert_eq!(dnet["interface"], "xdnd1");
    assert_eq!(dnet["containers"], serde_json::json!(["da", "db"]));
    let inspected: serde_json::Value =
        serde_json::from_str(x(&h, &["network", "inspect", "dnet"]).ok()).expect("json");
    assert_eq!(inspected[0]["driver"], "bridge");
    // In use: refused, naming it; free again after the members go.
    x(&h, &["network", "rm", "dnet"]).fails(125, "dnet");
    x(&h, &["rm", "-f", "da", "db"]).ok();
    assert_eq!(x(&h, &["network", "rm", "dnet"]).ok(), "dnet\n");
    assert!(!x(&h, &["network", "ls", "-q"]).ok().contains("dnet"));
    // Bad options: one line, nothing made.
    x(&h, &["network", "create", "-o", "bogus=1", "dnet2"]).fails(125, "-o bogus=1");
    x(&h, &["network", "create", "--bogus", "dnet2"])
        .fails(125, "network create: unknown option '--bogus'");
    assert!(!x(&h, &["network", "ls", "-q"]).ok().contains("dnet2"));
}
