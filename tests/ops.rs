//! What operations staff use every day besides the lifecycle: `-s info`
//! with the live state of a container, and autostart (the flag, `-a
//! autostart` in order, `-a autostart -h` in reverse).

mod common;

use common::{require_root, RuntimeHome};
use serde_json::Value;

fn json(h: &RuntimeHome, line: &str) -> Value {
    let out = h.run(line);
    serde_json::from_str(out.ok()).unwrap_or_else(|e| panic!("{line}: {e}: {out:?}"))
}

/// `key: value` from `-s info`'s text.
fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no '{key}' in:\n{text}"))
        .to_string()
}

#[test]
fn info_shows_the_whole_config_and_the_live_state() {
    if !require_root("info_shows_the_whole_config_and_the_live_state") {
        return;
    }
    let h = RuntimeHome::new();
    h.install_test();
    let vol = h.home.scratch("vol");
    std::fs::create_dir_all(&vol).expect("mkdir");
    h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "inf",
            "--host",
            "inf-1",
            "--net",
            "CUSTOM",
            "--mem-limit",
            "64M",
            "--cpus",
            "0",
            "--autostart",
            "5",
            "--volume",
            &format!("{}:/data", vol.display()),
        ],
    )
    .ok();
    let stopped = h.run("-s info -c inf").ok().to_string();
    assert_eq!(field(&stopped, "status"), "STOPPED");
    assert_eq!(field(&stopped, "hostname"), "inf-1");
    assert_eq!(field(&stopped, "net"), "CUSTOM");
    assert_eq!(field(&stopped, "mem_limit"), "64.0M");
    assert_eq!(field(&stopped, "cpus"), "0");
    assert_eq!(field(&stopped, "autostart"), "5");
    assert_eq!(field(&stopped, "pid"), "-");
    assert_eq!(
        field(&stopped, "volumes"),
        format!("{}:/data", vol.display())
    );

    h.run("-a boot -c inf").ok();
    let pid = h.pid("inf").expect("pid");
    // An address in its own network namespace, and some CPU and memory use.
    h.run_in(
        None,
        [
            "-a",
            "run",
            "-c",
            "inf",
            "--cmd",
            "ip addr add 192.0.2.7/32 dev lo && i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done",
        ],
    )
    .ok();
    let text = h.run("-s info -c inf").ok().to_string();
    assert_eq!(field(&text, "status"), format!("RUNNING({pid})"));
    assert_eq!(field(&text, "pid"), pid.to_string());
    assert_eq!(field(&text, "addresses"), "192.0.2.7");
    assert!(field(&text, "netns").starts_with("nns"), "{text}");
    let uptime = field(&text, "uptime");
    assert!(
        uptime.len() == 8 && uptime.starts_with("00:00:"),
        "{uptime}"
    );
    assert_ne!(field(&text, "memory"), "-", "{text}");

    let j = json(&h, "-s info -c inf --json");
    assert_eq!(j["container_id"], "inf");
    assert_eq!(j["pid"], pid);
    assert_eq!(j["config"]["limits"]["mem_limit_bytes"], 64u64 << 20);
    assert_eq!(j["config"]["images"][0], "test:_");
    assert_eq!(j["config"]["autostart"], 5);
    assert_eq!(j["addresses"][0], "192.0.2.7");
    let memory = j["memory_bytes"].as_u64().expect("memory_bytes");
    assert!(memory > 0 && memory <= 64 << 20, "{memory}");
    assert!(j["cpu_seconds"].as_f64().expect("cpu_seconds") > 0.0, "{j}");
    let root = json(&h, "-s container_root -c inf --json");
    assert_eq!(root["root"], format!("/proc/{pid}/root"));

    h.run("-a shutdown -c inf").ok();
    let j = json(&h, "-s info -c inf --json");
    assert_eq!(j["status"], "STOPPED");
    assert!(j["pid"].is_null() && j["memory_bytes"].is_null(), "{j}");
    assert!(j["exit_code"].is_i64(), "{j}");
    h.run("-s info -c nope")
        .fails(1, "container nope not found");
}

/// When each container's current run began (RFC 3339, sub-second).
fn booted_at(h: &RuntimeHome, name: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let j = json(h, &format!("-s info -c {name} --json"));
    let t = j["booted_at"].as_str().unwrap_or_else(|| panic!("{j}"));
    chrono::DateTime::parse_from_rfc3339(t).expect("rfc3339")
}

#[test]
fn autostart_boots_flagged_containers_in_order_and_stops_them_in_reverse() {
    if !require_root("autostart_boots_flagged_containers_in_order_and_stops_them_in_reverse") {
        return;
    }
    let h = RuntimeHome::new();
    h.install_test();
    h.run("-a create -m test -c late --autostart 20").ok();
    h.run("-a create -m test -c early --autostart 10").ok();
    h.run("-a create -m test -c manual").ok();
    h.run("-a create -m test -c later").ok();
    h.run("-a autostart -c later --autostart 20").ok();
    assert_eq!(
        h.run("-a autostart").ok(),
        "early: booted\nlate: booted\nlater: booted\n"
    );
    assert!(booted_at(&h, "early") < booted_at(&h, "late"));
    assert!(booted_at(&h, "late") < booted_at(&h, "later"));
    assert_eq!(
        json(&h, "-s info -c manual --json")["status"],
        "STOPPED",
        "not flagged, not booted"
    );
    // Again: nothing to do, nothing restarted.
    let pid = h.pid("early").expect("pid");
    assert_eq!(
        h.run("-a autostart").ok(),
        "early: running\nlate: running\nlater: running\n"
    );
    assert_eq!(h.pid("early"), Some(pid));

    assert_eq!(
        h.run("-a autostart -h").ok(),
        "later: shut down\nlate: shut down\nearly: shut down\n"
    );
    for c in ["early", "late", "later"] {
        assert_eq!(
            json(&h, &format!("-s info -c {c} --json"))["status"],
            "STOPPED"
        );
    }

    // The flag can be cleared; a container that cannot boot is named and
    // the others still boot.
    h.run("-a autostart -c later --autostart off").ok();
    assert_eq!(
        json(&h, "-s info -c later --json")["config"]["autostart"],
        Value::Null
    );
    let vol = h.home.scratch("gone");
    std::fs::create_dir_all(&vol).expect("mkdir");
    h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "broken",
            "--autostart",
            "15",
            "--volume",
            &format!("{}:/data", vol.display()),
        ],
    )
    .ok();
    std::fs::remove_dir(&vol).expect("rmdir");
    let r = h.run("-a autostart");
    r.fails(1, "autostart: 1 of 3 containers failed: broken (");
    for (c, status) in [
        ("early", "RUNNING"),
        ("late", "RUNNING"),
        ("broken", "STOPPED"),
        ("later", "STOPPED"),
    ] {
        let s = json(&h, &format!("-s info -c {c} --json"))["status"]
            .as_str()
            .expect("status")
            .to_string();
        assert!(s.starts_with(status), "{c}: {s}");
    }
    h.run("-a autostart -c nope --autostart 1")
        .fails(1, "container nope not found");
}
