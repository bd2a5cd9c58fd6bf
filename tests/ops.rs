//! What operations staff use every day besides the lifecycle: `-s info`
//! with the live state of a container, autostart (the flag, `-a autostart`
//! in order, `-a autostart -h` in reverse), the sourced container-root
//! script and the shipped config templates.

mod common;

use common::RuntimeHome;
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
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn info_shows_the_whole_config_and_the_live_state() {
    let h = RuntimeHome::with_test_image();
    let vol = h.home.scratch("vol");
    std::fs::create_dir_all(&vol).expect("mkdir");
    // (temp paths hold no blanks: h.run splits the line on whitespace)
    h.run(&format!(
        "-a create -m test -c inf --host inf-1 --net CUSTOM --mem-limit 64M --cpus 0 \
         --autostart 5 --volume {}:/data",
        vol.display()
    ))
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
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn autostart_boots_flagged_containers_in_order_and_stops_them_in_reverse() {
    let h = RuntimeHome::with_test_image();
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
    h.run(&format!(
        "-a create -m test -c broken --autostart 15 --volume {}:/data",
        vol.display()
    ))
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

/// Runs `shell -c script` with this home's xdocker as `XDOCKER`.
fn shell(h: &RuntimeHome, shell: &str, script: &str, arg: &str) -> std::process::Output {
    std::process::Command::new(shell)
        .args(["-c", script, "script", arg])
        .env("XDOCKER", common::bin())
        .env("XDOCKER_HOME", h.home.path())
        .env("XDOCKER_INIT", common::static_init())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("shell")
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn container_root_script_sets_the_variable_when_sourced() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c rooted --host rooted-1 -b").ok();
    let pid = h.pid("rooted").expect("pid");
    let script = ". scripts/xdocker_container_root.sh \"$1\"; rc=$?; \
                  echo \"rc=$rc root=$XDOCKER_CONTAINER_ROOT\"; \
                  if [ $rc = 0 ]; then sh -c 'cat \"$XDOCKER_CONTAINER_ROOT/etc/hostname\"'; fi";
    for sh in ["sh", "bash", "zsh"] {
        let out = shell(&h, sh, script, "rooted");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text,
            format!("rc=0 root=/proc/{pid}/root\nrooted-1\n"),
            "{sh}: {out:?}"
        );
    }
    // A bad or hostile name: one error line, status 1, the variable unset,
    // and the name never evaluated by the shell.
    let marker = h.home.scratch("x").join("pwned");
    let hostile = format!("x; touch {}", marker.display());
    let out = shell(&h, "sh", script, &hostile);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "rc=1 root=\n",
        "{out:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().count(),
        1,
        "{out:?}"
    );
    assert!(!marker.exists());
    h.run("-a shutdown -c rooted").ok();
    let out = shell(&h, "sh", script, "rooted");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "rc=1 root=\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("container rooted is not running"),
        "{out:?}"
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn shipped_config_templates_instantiate_to_valid_files() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c tpl -b").ok();
    let top = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    h.run_in(
        None,
        ["-a", "run", "-c", "tpl", "--cmd", "mkdir -p /etc/ssh"],
    )
    .ok();
    let out = h.home.scratch("out");
    for (tpl, map, inside) in [
        ("sshd_config.tpl", "sshd_config.map", "/etc/ssh/sshd_config"),
        ("motd.tpl", "motd.map", "/etc/motd"),
    ] {
        let tpl_inside = format!("{inside}.tpl");
        let src = top.join("templates").join(tpl);
        let mapping = top.join("templates").join(map);
        h.run_in(
            None,
            [
                "-a",
                "putfile",
                "-c",
                "tpl",
                "--src-file",
                src.to_str().expect("utf-8"),
                "--dst-file",
                &tpl_inside,
            ],
        )
        .ok();
        h.run_in(
            None,
            [
                "-a",
                "rplfile",
                "-c",
                "tpl",
                "--template-file",
                &tpl_inside,
                "--mapping-file",
                mapping.to_str().expect("utf-8"),
                "--instance-file",
                inside,
            ],
        )
        .ok();
        let got = out.join(tpl);
        h.run_in(
            None,
            [
                "-a",
                "getfile",
                "-c",
                "tpl",
                "--src-file",
                inside,
                "--dst-file",
                got.to_str().expect("utf-8"),
            ],
        )
        .ok();
        let text = std::fs::read_to_string(&got).expect("instance");
        assert!(!text.contains("${"), "every key replaced in {tpl}:\n{text}");
    }
    let motd = std::fs::read_to_string(out.join("motd.tpl")).expect("motd");
    assert!(
        motd.starts_with("web front end on web1 - production (eu-west)\n"),
        "{motd}"
    );
    // The real sshd accepts the instantiated config. It wants its
    // privilege separation directory, which only a started sshd service
    // makes (systemd's tmpfiles): made here as the service would.
    std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
    let check = std::process::Command::new("/usr/sbin/sshd")
        .arg("-t")
        .arg("-f")
        .arg(out.join("sshd_config.tpl"))
        .output()
        .expect("sshd (package openssh-server)");
    assert!(check.status.success(), "{check:?}");
}
