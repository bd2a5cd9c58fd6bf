//! A container outlives whoever booted it: it leaves the booter's session,
//! process group and (cgroup v1) `name=systemd` cgroup, so a script killed
//! with its process group, a closed terminal or a stopped unit does not
//! take the containers it booted along.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::RuntimeHome;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Session and process group of `pid` (fields 6 and 5 of /proc/PID/stat).
fn session_and_group(pid: i32) -> (i32, i32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    (f[3].parse().expect("sid"), f[2].parse().expect("pgid"))
}

/// A shell (started through `wrapper`, e.g. `setsid`) that runs `first`,
/// boots container c1 of `h`, then waits, as a CI job or a login shell
/// would; returned once the boot is done.
fn boot_c1_then_wait(h: &RuntimeHome, wrapper: &[&str], first: &str) -> std::process::Child {
    let script = format!("{first}\"$XD\" -a boot -c c1 >/dev/null && echo booted && exec sleep 60");
    let (program, args) = match wrapper.split_first() {
        Some((p, rest)) => (*p, [rest, &["sh", "-c", &script]].concat()),
        None => ("sh", vec!["-c", &script]),
    };
    let mut child = Command::new(program)
        .args(args)
        .env("XD", common::bin())
        .env("XDOCKER_HOME", h.home.path())
        .env("XDOCKER_INIT", common::static_init())
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("the booting shell");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "booted");
    child
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_container_outlives_the_session_and_process_group_that_booted_it() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c c1").ok();
    // A script in a session of its own boots the container, then waits,
    // as a CI job or a login shell would.
    let mut script = boot_c1_then_wait(&h, &["setsid"], "");
    let script_pid = script.id() as i32;
    let init = h.pid("c1").expect("c1 runs");
    let (init_sid, init_pgid) = session_and_group(init);
    assert_ne!(
        init_sid, script_pid,
        "the container kept the script's session"
    );
    assert_ne!(
        init_pgid, script_pid,
        "the container kept the script's group"
    );
    // Ctrl-C of the script, a runner's timeout, a closed terminal.
    kill(Pid::from_raw(-script_pid), Signal::SIGTERM).expect("TERM the group");
    kill(Pid::from_raw(-script_pid), Signal::SIGHUP).expect("HUP the group");
    script.wait().expect("script ends");
    std::thread::sleep(Duration::from_millis(300));
    let row = h.run("-s containers").ok().to_string();
    assert!(row.contains(&format!("RUNNING({init})")), "{row}");
    // cgroup v1 with systemd's named hierarchy: the container is in its
    // own group there, not in the caller's.
    let cgroups = std::fs::read_to_string(format!("/proc/{init}/cgroup")).expect("cgroup");
    if Path::new("/sys/fs/cgroup/systemd").is_dir() {
        let line = cgroups
            .lines()
            .find(|l| l.contains(":name=systemd:"))
            .expect("name=systemd line");
        // Seen from the host: below the home's cgroup parent.
        let own = std::fs::read_to_string("/proc/self/cgroup").expect("own cgroup");
        assert!(!own.contains(&h.cgroup_parent));
        let host_view = std::fs::read_to_string(format!(
            "/sys/fs/cgroup/systemd/{}/c1/cgroup.procs",
            h.cgroup_parent
        ))
        .expect("the container's name=systemd group");
        assert!(
            host_view.lines().any(|p| p == init.to_string()),
            "{line}: {host_view}"
        );
    }
    h.run("-a shutdown -c c1").ok();
    h.run("-a destroy -c c1").ok();
}

/// The cgroup trees where systemd finds a unit's processes, whichever
/// layout the host has: the v2 tree (`/sys/fs/cgroup` itself on a
/// unified host, `unified/` on a hybrid one) and the legacy
/// `name=systemd` tree.
fn systemd_trees() -> Vec<&'static Path> {
    [
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup/systemd",
    ]
    .into_iter()
    .map(Path::new)
    .filter(|p| {
        let v2 = p.join("cgroup.controllers").is_file();
        let named = p.ends_with("systemd") && p.join("tasks").is_file();
        v2 || named
    })
    .collect()
}

/// A unit's groups, one per systemd tree: `stop` kills everything in
/// them as systemd does; dropped, they are stopped and removed.
struct Unit(Vec<PathBuf>);

impl Unit {
    fn stop(&self) {
        for g in &self.0 {
            let procs = std::fs::read_to_string(g.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        self.stop();
        for g in &self.0 {
            for _ in 0..50 {
                if std::fs::remove_dir(g).is_ok() || !g.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_container_outlives_the_systemd_unit_that_booted_it() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c c1").ok();
    // A unit (or a login session's scope) of its own, as systemd makes it
    // in each tree it tracks processes in.
    let unit = format!("xdt-unit-{}", std::process::id());
    let unit = Unit(systemd_trees().iter().map(|t| t.join(&unit)).collect());
    assert!(!unit.0.is_empty(), "no systemd cgroup tree on this host");
    for g in &unit.0 {
        std::fs::create_dir(g).expect("the unit's group");
    }
    let joins: String = unit
        .0
        .iter()
        .map(|g| format!("echo $$ > '{}/cgroup.procs' && ", g.display()))
        .collect();
    let mut script = boot_c1_then_wait(&h, &[], &joins);
    let init = h.pid("c1").expect("c1 runs");
    // `systemctl stop` of the unit, logging out with KillUserProcesses:
    // everything in its groups is killed.
    unit.stop();
    script.wait().expect("script ends");
    std::thread::sleep(Duration::from_millis(300));
    drop(unit);
    let row = h.run("-s containers").ok().to_string();
    assert!(row.contains(&format!("RUNNING({init})")), "{row}");
    h.run("-a shutdown -c c1").ok();
    h.run("-a destroy -c c1").ok();
}
