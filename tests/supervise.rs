//! Supervision by xdockerinit (issue 19, items 5 and 10), on real
//! containers: restart policies of the `-e` main process (`--restart`),
//! with their backoff and the end of restarts at `shutdown`; boot services
//! (`--service NAME=CMD`, an image's `/etc/xdocker/boot.d`) started at
//! every boot, restarted, listed by `-s info` and stopped in reverse order.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::RuntimeHome;

/// A directory shared with the containers as `/vol`, writable by an
/// unprivileged container's root too (volumes are not idmapped).
fn shared_dir(h: &RuntimeHome, name: &str) -> PathBuf {
    let dir = h.home.scratch(name);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

fn volume(dir: &Path) -> String {
    format!("{}:/vol", dir.display())
}

/// The lines of `file` (none when it does not exist).
fn lines(file: &Path) -> Vec<String> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits up to `secs` for `ok`.
fn wait_until(secs: u64, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ok()
}

/// xdocker started in the background (a `boot -e` that runs until the
/// container stops).
fn spawn(h: &RuntimeHome, args: &[&str]) -> Child {
    Command::new(common::bin())
        .args(args)
        .env("XDOCKER_HOME", h.home.path())
        .env("XDOCKER_SHARE_DIR", env!("CARGO_MANIFEST_DIR"))
        .env("XDOCKER_INIT", common::static_init())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn xdocker")
}

/// The exit code of a background xdocker, waited for up to `secs`.
fn exit_within(child: &mut Child, secs: u64) -> Option<i32> {
    let mut code = None;
    wait_until(secs, || match child.try_wait() {
        Ok(Some(status)) => {
            code = status.code();
            true
        }
        _ => false,
    });
    if code.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    code
}

/// `-s info --json` of container `c`.
fn info(h: &RuntimeHome, c: &str) -> serde_json::Value {
    let out = h.run(&format!("-s info -c {c} --json")).ok().to_string();
    serde_json::from_str(&out).expect("json")
}

/// The `/proc/uptime` stamps the runs of a command wrote, in seconds.
fn stamps(file: &Path) -> Vec<f64> {
    lines(file)
        .iter()
        .map(|l| {
            l.split_whitespace()
                .next()
                .and_then(|t| t.parse().ok())
                .expect("uptime stamp")
        })
        .collect()
}

/// A port on 127.0.0.1 unlikely to be taken (and different per test run).
fn free_port(offset: u16) -> u16 {
    20_000 + (std::process::id() % 20_000) as u16 + offset
}

/// What an HTTP GET of `/` on 127.0.0.1:`port` answers (empty: nothing).
fn http_get(port: u16) -> String {
    let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = conn.write_all(b"GET / HTTP/1.0\r\n\r\n");
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    answer
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn on_failure_3_restarts_a_failing_command_exactly_3_times_with_a_backoff() {
    let h = RuntimeHome::with_test_image();
    let dir = shared_dir(&h, "runs");
    let vol = volume(&dir);
    let r = h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "flaky",
            "--volume",
            &vol,
            "--restart",
            "on-failure:3",
            "-b",
            "-e",
            "cat /proc/uptime >> /vol/runs; exit 1",
        ],
    );
    // The container stops with the command's last exit code.
    assert_eq!(r.code, 1, "{r:?}");
    let runs = stamps(&dir.join("runs"));
    assert_eq!(runs.len(), 4, "one run and exactly 3 restarts: {runs:?}");
    // 100 ms, 200 ms, 400 ms between the runs (/proc/uptime counts in
    // hundredths of a second).
    let gaps: Vec<f64> = runs.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, want) in gaps.iter().zip([0.1, 0.2, 0.4]) {
        assert!(
            *gap >= want - 0.015 && *gap < want + 1.0,
            "gaps {gaps:?}, want about {want}"
        );
    }
    let i = info(&h, "flaky");
    assert_eq!(i["exit_code"], 1);
    assert_eq!(i["config"]["restart"], "on-failure:3");
    assert_eq!(i["main_restart"], "on-failure:3");
    assert_eq!(i["main_process"]["restarts"], 3, "{i}");
    assert_eq!(i["main_process"]["last_exit"], 1, "{i}");
    let text = h.run("-s info -c flaky").ok().to_string();
    assert!(
        text.contains("main_process: stopped, restarts 3, last exit 1\n"),
        "{text}"
    );
    // Stored: the next -e boot has the same policy.
    fs::remove_file(dir.join("runs")).expect("rm");
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "flaky",
            "-e",
            "cat /proc/uptime >> /vol/runs; exit 2",
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(lines(&dir.join("runs")).len(), 4);
    // `--restart no` on boot is stored too: one run.
    fs::remove_file(dir.join("runs")).expect("rm");
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "flaky",
            "--restart",
            "no",
            "-e",
            "cat /proc/uptime >> /vol/runs; exit 3",
        ],
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(lines(&dir.join("runs")).len(), 1);
    assert_eq!(info(&h, "flaky")["config"]["restart"], "no");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn always_restarts_a_clean_exit_until_shutdown_ends_it_for_good() {
    let h = RuntimeHome::with_test_image();
    let dir = shared_dir(&h, "runs");
    let vol = volume(&dir);
    let runs = dir.join("runs");
    h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "loop",
            "--volume",
            &vol,
            "--restart",
            "always",
        ],
    )
    .ok();
    let mut boot = spawn(
        &h,
        &["-a", "boot", "-c", "loop", "-e", "echo run >> /vol/runs"],
    );
    // 100, 200, 400 ms: four runs within a second or so.
    assert!(
        wait_until(10, || lines(&runs).len() >= 4),
        "{:?}",
        lines(&runs)
    );
    let i = info(&h, "loop");
    let main = &i["main_process"];
    assert_eq!(main["policy"], "always", "{i}");
    assert!(main["restarts"].as_u64().unwrap_or(0) >= 3, "{i}");
    assert_eq!(main["last_exit"], 0, "{i}");
    assert_eq!(i["exec"], "echo run >> /vol/runs");
    h.run("-a shutdown -c loop").ok();
    let code = exit_within(&mut boot, 15);
    assert_eq!(code, Some(0), "the boot ends with the command's last code");
    let count = lines(&runs).len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lines(&runs).len(), count, "no restart after the shutdown");
    assert_eq!(info(&h, "loop")["status"], "STOPPED");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_service_answers_after_shutdown_and_boot_and_is_restarted_when_it_dies() {
    let h = RuntimeHome::with_test_image();
    let port = free_port(0);
    let web = format!(
        "web=mkdir -p /srv/www; echo hello from web > /srv/www/index.html; \
         exec httpd -f -p 127.0.0.1:{port} -h /srv/www"
    );
    h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "svc",
            "--service",
            &web,
            "-b",
        ],
    )
    .ok();
    assert!(
        wait_until(10, || http_get(port).contains("hello from web")),
        "the service answers"
    );
    let i = info(&h, "svc");
    let services = i["services"].as_array().expect("services");
    assert_eq!(services.len(), 1, "{i}");
    let s = &services[0];
    assert_eq!(s["name"], "web");
    assert_eq!(s["state"], "running");
    assert_eq!(s["policy"], "on-failure");
    assert_eq!(s["restarts"], 0);
    let pid = s["pid"].as_i64().expect("pid");
    assert!(pid > 1, "{s}");
    let text = h.run("-s info -c svc").ok().to_string();
    assert!(
        text.contains(&format!(
            "service web: running, pid {pid}, restarts 0, last exit -; mkdir -p"
        )),
        "{text}"
    );

    // Killed, it comes back (on-failure: killed by a signal is a failure).
    h.run_in(
        None,
        ["-a", "run", "-c", "svc", "--cmd", &format!("kill {pid}")],
    )
    .ok();
    assert!(
        wait_until(10, || {
            let s = &info(&h, "svc")["services"][0];
            s["restarts"] == 1 && s["state"] == "running"
        }),
        "{}",
        info(&h, "svc")
    );
    let s = &info(&h, "svc")["services"][0];
    assert_eq!(s["last_exit"], 128 + 15, "{s}");
    assert_ne!(s["pid"].as_i64(), Some(pid), "{s}");
    assert!(wait_until(10, || http_get(port).contains("hello from web")));

    h.run("-a shutdown -c svc").ok();
    assert_eq!(http_get(port), "", "stopped with the container");
    // Once stopped, info still says how the service's run ended: one
    // restart, then the shutdown's TERM.
    let stopped = info(&h, "svc");
    let s = &stopped["services"][0];
    assert_eq!(s["state"], "stopped", "{stopped}");
    assert_eq!(s["restarts"], 1, "{stopped}");
    assert_eq!(s["last_exit"], 128 + 15, "{stopped}");
    assert_eq!(s["pid"], serde_json::Value::Null, "{stopped}");
    let text = h.run("-s info -c svc").ok().to_string();
    assert!(
        text.contains("service web: stopped, restarts 1, last exit 143; mkdir -p"),
        "{text}"
    );
    h.run("-a boot -c svc").ok();
    assert!(
        wait_until(10, || http_get(port).contains("hello from web")),
        "the service is back after shutdown + boot"
    );
    h.run("-a shutdown -c svc").ok();

    // Replaced on the stopped container; `none` removes them.
    let other = format!("other=exec httpd -f -p 127.0.0.1:{port} -h /etc");
    h.run_in(None, ["-a", "service", "-c", "svc", "--service", &other])
        .ok();
    let c = &info(&h, "svc")["config"];
    assert_eq!(c["services"][0], other.as_str(), "{c}");
    assert_eq!(c["services"].as_array().map(Vec::len), Some(1));
    h.run("-a service -c svc --service none --restart always")
        .ok();
    let i = info(&h, "svc");
    assert!(i["config"].get("services").is_none(), "{i}");
    assert_eq!(i["service_restart"], "always");
    h.run("-a boot -c svc").ok();
    h.run("-a service -c svc --service none")
        .fails(1, "container svc is running");
    h.run("-a shutdown -c svc").ok();
}

/// Makes image `sshd:1`: the test image with the host's OpenSSH server
/// and the libraries it links (copied into a container's layer before
/// its first boot, then `to_image`), the privilege separation user, a
/// host key, and `client_key`'s public half as root's authorized key.
fn sshd_image(h: &RuntimeHome, client_key: &Path) {
    h.run("-a create -m test -c sshd-maker").ok();
    let rw = h.home.path().join("containers/sshd-maker/rwlayer");
    let ldd = common::sh(&["ldd", "/usr/sbin/sshd"]);
    let libs = ldd.split_whitespace().filter(|w| w.starts_with('/'));
    for file in std::iter::once("/usr/sbin/sshd").chain(libs) {
        let to = rw.join(file.trim_start_matches('/'));
        fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        fs::copy(file, &to).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    fs::create_dir_all(rw.join("etc/ssh")).expect("mkdir");
    common::sshd::keygen(&rw.join("etc/ssh/ssh_host_ed25519_key"));
    fs::write(
        rw.join("etc/ssh/sshd_config"),
        "HostKey /etc/ssh/ssh_host_ed25519_key\nUsePAM no\n\
         PermitRootLogin prohibit-password\nPasswordAuthentication no\n",
    )
    .expect("sshd_config");
    let passwd = fs::read_to_string(h.home.layer("test", "_").join("etc/passwd")).expect("passwd");
    fs::write(
        rw.join("etc/passwd"),
        format!("{passwd}sshd:x:100:65534::/run/sshd:/bin/false\n"),
    )
    .expect("passwd");
    fs::create_dir_all(rw.join("root/.ssh")).expect("mkdir");
    fs::write(
        rw.join("root/.ssh/authorized_keys"),
        format!("{}\n", common::sshd::pub_key(client_key)),
    )
    .expect("authorized_keys");
    h.run("-a to_image --from-container sshd-maker --to-image sshd --version 1")
        .ok();
}

/// `hostname` of whoever answers ssh as root on 127.0.0.1:`port` with
/// `key` (empty: nobody).
fn ssh_hostname(port: u16, key: &Path) -> String {
    let out = Command::new("ssh")
        .args(["-F", "/dev/null", "-i"])
        .arg(key)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=5",
            "-p",
            &port.to_string(),
            "root@127.0.0.1",
            "hostname",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("ssh (package openssh-client)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn an_sshd_service_answers_on_a_mapped_port_after_shutdown_and_boot() {
    let h = RuntimeHome::with_test_image();
    let keys = h.home.scratch("client");
    let key = keys.join("id_ed25519");
    common::sshd::keygen(&key);
    sshd_image(&h, &key);
    let port = free_port(1);
    // to_container takes --service and --restart as create does.
    h.run_in(
        None,
        [
            "-a",
            "to_container",
            "--from-image",
            "sshd:1",
            "--to-container",
            "ssh1",
            "--net",
            "BRIDGE",
            "--port-mapping",
            &format!("{port}:22"),
            "--service",
            "sshd=mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e",
            "--restart",
            "always",
        ],
    )
    .ok();
    let i = info(&h, "ssh1");
    assert_eq!(i["config"]["restart"], "always", "{i}");
    assert_eq!(
        i["config"]["services"][0], "sshd=mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e",
        "{i}"
    );
    for boot in ["first", "second"] {
        h.run("-a boot -c ssh1").ok();
        assert!(
            wait_until(10, || ssh_hostname(port, &key) == "ssh1\n"),
            "{boot} boot: sshd answers on the mapped port {port}: {}",
            h.run("-s logs -c ssh1").stdout
        );
        let s = &info(&h, "ssh1")["services"][0];
        assert_eq!(s["name"], "sshd", "{s}");
        assert_eq!(s["state"], "running", "{s}");
        assert_eq!(s["policy"], "always", "{s}");
        h.run("-a shutdown -c ssh1").ok();
        assert_eq!(ssh_hostname(port, &key), "", "stopped with the container");
    }
    // Its output is in the console log, once per boot (OpenSSH ends its
    // stderr lines with \r\n itself).
    let logs = h.run("-s logs -c ssh1").ok().to_string();
    assert_eq!(
        logs.matches("Server listening on 0.0.0.0 port 22.\r\n")
            .count(),
        2,
        "{logs}"
    );
    assert_eq!(
        logs.matches("Accepted publickey for root").count(),
        2,
        "{logs}"
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn services_stop_in_reverse_order_within_the_grace_period() {
    let h = RuntimeHome::with_test_image();
    let dir = shared_dir(&h, "stop");
    let vol = volume(&dir);
    let service = |name: &str| {
        format!(
            "{name}=echo $$ {name} >> /vol/started; \
             trap 'echo {name} >> /vol/stopped; exit 0' TERM; while :; do sleep 1; done"
        )
    };
    let (a, b, c) = (service("a"), service("b"), service("c"));
    h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "ord",
            "--volume",
            &vol,
            "--service",
            &a,
            "--service",
            &b,
            "--service",
            &c,
            "-b",
        ],
    )
    .ok();
    assert!(wait_until(10, || lines(&dir.join("started")).len() == 3));
    // Started one after the other, they run at once: the order of their
    // lines is the scheduler's, the order of their PIDs (given out one
    // after the other in the container's PID namespace) is xdockerinit's.
    let mut by_pid: Vec<(u32, String)> = lines(&dir.join("started"))
        .iter()
        .filter_map(|l| {
            let (pid, name) = l.split_once(' ')?;
            Some((pid.parse().ok()?, name.to_string()))
        })
        .collect();
    by_pid.sort();
    let names: Vec<&str> = by_pid.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"], "start order");
    let started = Instant::now();
    h.run("-a shutdown -c ord").ok();
    assert!(
        // The grace period is 10 s: a stop that waited for it takes more.
        started.elapsed() < Duration::from_secs(9),
        "each service stopped on TERM: no wait for the grace period"
    );
    assert_eq!(lines(&dir.join("stopped")), ["c", "b", "a"]);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn boot_d_scripts_of_an_image_run_in_every_container_made_from_it() {
    let h = RuntimeHome::with_test_image();
    // An image with its own services: made in a container, turned into an
    // image.
    let script = "mkdir -p /etc/xdocker/boot.d && cd /etc/xdocker/boot.d && \
                  printf '#!/bin/sh\\nhostname >> /vol/booted\\n' > 10-hello && \
                  printf '#!/bin/sh\\necho $0 >> /vol/wrong\\n' > 20-notexec && \
                  cp 20-notexec .hidden && cp 10-hello 30-second && \
                  chmod 755 10-hello .hidden 30-second && chmod 644 20-notexec";
    h.run("-a create -m test -c maker").ok();
    let r = h.run_in(None, ["-a", "boot", "-c", "maker", "-e", script]);
    assert_eq!(r.code, 0, "{r:?}");
    h.run("-a to_image --from-container maker --to-image withsvc --version 1")
        .ok();
    let dir = shared_dir(&h, "boot");
    let vol = volume(&dir);
    // Written by the root of two containers, each its own host uid.
    let booted = dir.join("booted");
    fs::write(&booted, "").expect("create");
    fs::set_permissions(&booted, fs::Permissions::from_mode(0o666)).expect("chmod");
    for c in ["one", "two"] {
        h.run_in(
            None,
            [
                "-a",
                "create",
                "-m",
                "withsvc:1",
                "-c",
                c,
                "--host",
                c,
                "--volume",
                &vol,
                "-b",
            ],
        )
        .ok();
    }
    assert!(
        wait_until(10, || lines(&dir.join("booted")).len() == 4),
        "{:?}",
        lines(&dir.join("booted"))
    );
    let mut booted = lines(&dir.join("booted"));
    booted.sort();
    assert_eq!(booted, ["one", "one", "two", "two"]);
    assert!(!dir.join("wrong").exists(), "no dotfile, no non-executable");
    let i = info(&h, "one");
    let names: Vec<&str> = i["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["boot.d/10-hello", "boot.d/30-second"], "{i}");
    let hello = &i["services"][0];
    assert_eq!(hello["state"], "exited", "done, not restarted: {hello}");
    assert_eq!(hello["last_exit"], 0);
    assert_eq!(hello["command"], "/etc/xdocker/boot.d/10-hello");
    // At every boot.
    h.run("-a shutdown -c one").ok();
    // A stopped container lists the image's services of its last run.
    let i = info(&h, "one");
    let stopped: Vec<(&str, &serde_json::Value, &serde_json::Value)> = i["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("?"),
                &s["state"],
                &s["last_exit"],
            )
        })
        .collect();
    assert_eq!(
        stopped,
        [
            ("boot.d/10-hello", &"stopped".into(), &0.into()),
            ("boot.d/30-second", &"stopped".into(), &0.into())
        ],
        "{i}"
    );
    h.run("-a boot -c one").ok();
    assert!(wait_until(10, || lines(&dir.join("booted")).len() == 6));
    // An -e run of the same container starts them too, before the command.
    h.run("-a shutdown -c two").ok();
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "two",
            "-e",
            "sleep 0.5; cat /vol/booted",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().filter(|l| *l == "two").count(), 4, "{r:?}");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn bad_restart_policies_and_services_are_refused_in_one_line() {
    let h = RuntimeHome::with_test_image();
    for (args, needle) in [
        (
            &["--restart", "sometimes"][..],
            "'sometimes' is not a restart policy (no, on-failure[:N] or always)",
        ),
        (
            &["--restart", "on-failure:x"][..],
            "'x' is not a restart count of 1 or more",
        ),
        (&["--service", "web"][..], "'web' is not NAME=CMD"),
        (
            &["--service", "bad name=true"][..],
            "service name 'bad name' contains ' '",
        ),
        (
            &["--service", "..=true"][..],
            "service name '..' is not allowed",
        ),
        (
            &["--service", "a=true", "--service", "a=false"][..],
            "--service: service a is given twice",
        ),
    ] {
        let mut argv = vec!["-a", "create", "-m", "test", "-c", "bad"];
        argv.extend_from_slice(args);
        let r = h.run_in(None, &argv);
        let code = if needle.starts_with("--service: service a") {
            1
        } else {
            2
        };
        r.fails(code, needle);
        assert!(
            !h.home.path().join("containers/bad").exists(),
            "nothing made: {args:?}"
        );
    }
    h.run("-a create -m test -c ok").ok();
    h.run("-a service -c ok --restart on-failure:0")
        .fails(2, "'0' is not a restart count of 1 or more");
    h.run("-a service -c ok").fails(2, "-a service needs");
    h.run("-a service -c missing --restart always")
        .fails(1, "missing");
    assert!(info(&h, "ok")["config"].get("restart").is_none());
}
