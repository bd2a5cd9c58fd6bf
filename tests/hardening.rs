//! A hostile root inside a container against the host's kernel: the
//! default seccomp filter (and its per-container opt-out) and the
//! capability set (`--cap-add`/`--cap-drop`). Each test names the class of
//! attack it covers; the calls are made by a small static C program
//! (tests/probes/kernel_calls.c) copied into the container.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{needs_root, RuntimeHome};

/// The probe, built once per test run with the host's C compiler.
fn probe() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probes/kernel_calls.c");
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kernel_calls");
            let tmp = out.with_extension(format!("{}.tmp", std::process::id()));
            let st = Command::new("cc")
                .args(["-static", "-O2", "-o"])
                .arg(&tmp)
                .arg(&src)
                .status()
                .expect("cc (package build-essential)");
            assert!(st.success(), "compiling {}", src.display());
            std::fs::rename(&tmp, &out).expect("rename probe");
            out
        })
        .clone()
}

/// Boots container `name` from the test image with `extra` create options
/// and copies the probe to /kprobe in it.
fn boot_with_probe(h: &RuntimeHome, name: &str, extra: &[&str]) {
    let mut args = vec!["-a", "create", "-m", "test", "-c", name, "-b"];
    args.extend_from_slice(extra);
    h.run_in(None, args).ok();
    let probe = probe();
    h.run_in(
        None,
        [
            "-a",
            "putfile",
            "-c",
            name,
            "--src-file",
            probe.to_str().expect("utf-8"),
            "--dst-file",
            "/kprobe",
        ],
    )
    .ok();
}

/// What each call of the probe returned inside `name`.
fn probe_results(h: &RuntimeHome, name: &str) -> HashMap<String, String> {
    let out = h.run_in(None, ["-a", "run", "-c", name, "--cmd", "/kprobe"]);
    out.ok()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn status_field(h: &RuntimeHome, name: &str, field: &str) -> String {
    let out = h.run_in(
        None,
        ["-a", "run", "-c", name, "--cmd", "cat /proc/self/status"],
    );
    out.ok()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in status"))
        .trim()
        .to_string()
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn seccomp_refuses_calls_that_reach_the_host_kernel() {
    // Classes: shared kernel keyring (CVE-2016-0728), userfaultfd-assisted
    // kernel races, open_by_handle_at past mounts (CVE-2014-3519 "shocker"),
    // perf events, kexec and module loading.
    let h = RuntimeHome::with_test_image();
    boot_with_probe(&h, "fenced", &[]);
    boot_with_probe(&h, "open", &["--seccomp", "off"]);

    let fenced = probe_results(&h, "fenced");
    for call in [
        "keyctl",
        "add_key",
        "userfaultfd",
        "open_by_handle_at",
        "perf_event_open",
        "kexec_load",
        "init_module",
    ] {
        assert_eq!(fenced[call], "EPERM", "{call}: {fenced:?}");
    }
    // What a system container needs still works (nested namespaces too).
    assert_eq!(fenced["getpid"], "ok");
    assert_eq!(fenced["unshare_uts"], "ok");
    assert_eq!(status_field(&h, "fenced", "Seccomp"), "2");
    // No no_new_privs: setuid programs (su, sudo) keep working.
    assert_eq!(status_field(&h, "fenced", "NoNewPrivs"), "0");

    // The per-container opt-out: the same calls reach the kernel.
    let open = probe_results(&h, "open");
    assert_eq!(open["keyctl"], "ok", "{open:?}");
    assert_eq!(open["userfaultfd"], "ok", "{open:?}");
    assert_ne!(open["open_by_handle_at"], "EPERM", "{open:?}");
    assert_eq!(status_field(&h, "open", "Seccomp"), "0");

    let info = h.run("-s info -c open").ok().to_string();
    assert!(info.contains("seccomp: off\n"), "{info}");
    let info = h.run("-s info -c fenced").ok().to_string();
    assert!(info.contains("seccomp: on\n"), "{info}");
    h.run("-a kill -c fenced").ok();
    h.run("-a kill -c open").ok();
}

fn bounding_set(h: &RuntimeHome, name: &str) -> u64 {
    u64::from_str_radix(&status_field(h, name, "CapBnd"), 16).expect("hex")
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn cap_add_and_cap_drop_change_what_root_inside_keeps() {
    // Class: capabilities of root inside a container (mknod of devices,
    // raw sockets, the clock).
    let h = RuntimeHome::with_test_image();
    // Privileged, where capabilities act on the host's kernel (mknod of a
    // device needs the host's user namespace).
    // CUSTOM: on the host's network a privileged container loses net_raw
    // by default (a_host_network_container_cannot_rewire_the_host).
    h.run("-a create -m test -c plain -b --userns off --net CUSTOM")
        .ok();
    h.run("-a create -m test -c custom -b --userns off --net CUSTOM --cap-add SYS_TIME --cap-drop net_raw,CAP_MKNOD")
        .ok();
    let (plain, custom) = (bounding_set(&h, "plain"), bounding_set(&h, "custom"));
    let has = |set: u64, cap: u32| set & (1 << cap) != 0;
    assert!(!has(plain, 25) && has(custom, 25), "sys_time added back");
    assert!(has(plain, 13) && !has(custom, 13), "net_raw dropped");
    assert!(has(plain, 27) && !has(custom, 27), "mknod dropped");
    assert!(!has(custom, 16), "sys_module stays dropped");
    // And it bites: mknod works in the plain container only.
    let mk = "mknod /tmp/nullish c 1 3 && echo made";
    assert_eq!(
        h.run_in(None, ["-a", "run", "-c", "plain", "--cmd", mk])
            .ok(),
        "made\n"
    );
    let r = h.run_in(None, ["-a", "run", "-c", "custom", "--cmd", mk]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("Operation not permitted"), "{r:?}");
    let info = h.run("-s info -c custom").ok().to_string();
    assert!(info.contains("cap_add: sys_time\n"), "{info}");
    assert!(info.contains("cap_drop: net_raw,mknod\n"), "{info}");

    // Bad input: one line, nothing created.
    h.run("-a create -m test -c bad --cap-add sys_godmode")
        .fails(2, "'sys_godmode' is not a capability");
    h.run("-a create -m test -c bad --cap-add mknod --cap-drop mknod")
        .fails(1, "capability mknod is in both --cap-add and --cap-drop");
    h.run("-a create -m test -c bad --seccomp maybe")
        .fails(2, "'maybe' is not on or off");
    assert!(!h.home.path().join("containers/bad").exists());
    h.run("-a kill -c plain").ok();
    h.run("-a kill -c custom").ok();
}

/// `MAJOR:MINOR` of the block device holding the host's root file system.
fn host_root_disk() -> (u32, u32) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let dev = info
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|f| f.get(4) == Some(&"/"))
        .map(|f| f[2].to_string())
        .expect("root mount");
    let (major, minor) = dev.split_once(':').expect("major:minor");
    (major.parse().expect("major"), minor.parse().expect("minor"))
}

/// Inside `name`: make nodes for the host's root disk, /dev/mem and the
/// kernel log and try to open and read them (never write: this is the
/// host's disk if it works).
fn read_host_devices(h: &RuntimeHome, name: &str) -> String {
    let (major, minor) = host_root_disk();
    let script = format!(
        "mknod /tmp/disk b {major} {minor} && mknod /tmp/mem c 1 1 && mknod /tmp/loopctl c 10 237 && echo made; \
         head -c 512 /tmp/disk | wc -c; head -c 1 /tmp/mem | wc -c; \
         sh -c 'exec 3</tmp/loopctl' && echo loop-control opened; \
         echo x > /dev/null && head -c 4 /dev/zero | wc -c"
    );
    let r = h.run_in(None, ["-a", "run", "-c", name, "--cmd", &script]);
    format!("{}--\n{}", r.stdout, r.stderr)
}

fn assert_host_devices_refused(out: &str) {
    // mknod works, opening the nodes does not (0 bytes read); /dev/null
    // and /dev/zero do. (loop-control and /dev/mem open for root without
    // the rules; this VM refuses raw disk reads to everyone.)
    assert!(out.starts_with("made\n0\n0\n4\n--\n"), "{out}");
    for node in ["disk", "mem", "loopctl"] {
        assert!(
            out.contains(&format!("/tmp/{node}: Operation not permitted")),
            "{node}: {out}"
        );
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_node_for_the_host_disk_is_useless_inside_cgroup_v1() {
    // Class: mknod + read/write of a host block device (raw disk access
    // around every mount), /dev/mem.
    let h = RuntimeHome::with_test_image();
    // Privileged: an unprivileged root cannot even make the nodes.
    h.run("-a create -m test -c devs -b --userns off").ok();
    // The rules live on the parent group; each container has a group of
    // its own below it, which starts with them.
    let pid = h.pid("devs").expect("pid");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    assert!(
        cgroup
            .lines()
            .any(|l| l.ends_with(&format!(":devices:/{}/devs", h.cgroup_parent))),
        "{cgroup}"
    );
    let out = read_host_devices(&h, "devs");
    assert_host_devices_refused(&out);
    // The default container is refused the nodes themselves.
    h.run("-a create -m test -c udevs -b").ok();
    let out = read_host_devices(&h, "udevs");
    assert!(
        out.contains("mknod: /tmp/disk: Operation not permitted"),
        "{out}"
    );
    assert!(!out.starts_with("made"), "{out}");
    h.run("-a kill -c devs").ok();
    h.run("-a kill -c udevs").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_node_for_the_host_disk_is_useless_inside_cgroup_v2() {
    // The same on the cgroup v2 backend, whose device rules are an eBPF
    // program: this host's hybrid layout has an (empty) cgroup2 hierarchy
    // at /sys/fs/cgroup/unified that the v2 backend can use for real.
    needs_root();
    let unified = Path::new("/sys/fs/cgroup/unified");
    let is_cgroup2 = nix::sys::statfs::statfs(unified)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    let pure_v2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    assert!(
        is_cgroup2 || pure_v2,
        "no cgroup2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup"
    );
    let h = RuntimeHome::new();
    if is_cgroup2 {
        let toml = h.home.path().join("xdocker.toml");
        let text = std::fs::read_to_string(&toml).expect("toml");
        std::fs::write(
            &toml,
            text.replace(
                "[cgroups]\n",
                "[cgroups]\nroot = \"/sys/fs/cgroup/unified\"\n",
            ),
        )
        .expect("write toml");
    }
    h.install_test();
    h.run("-a create -m test -c devs2 -b --userns off").ok();
    let pid = h.pid("devs2").expect("pid");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    assert!(
        cgroup
            .lines()
            .any(|l| l.starts_with("0::/") && l.ends_with(&format!("{}/devs2", h.cgroup_parent))),
        "init in the v2 group: {cgroup}"
    );
    let out = read_host_devices(&h, "devs2");
    assert_host_devices_refused(&out);
    // The program sits on the parent group, attached once: a second
    // container (which finds it there) is bound all the same.
    h.run("-a create -m test -c devs3 -b --userns off").ok();
    assert_host_devices_refused(&read_host_devices(&h, "devs3"));
    h.run("-a kill -c devs3").ok();
    h.run("-a kill -c devs2").ok();
    assert!(!unified.join(&h.cgroup_parent).join("devs2").exists());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_fork_bomb_stops_at_the_pids_limit() {
    // Class: resource exhaustion of the host's process table.
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c bomb -b --pids-limit 40").ok();
    // A bounded bomb: if the limit failed, 150 sleeps would appear, not a
    // hung test machine. busybox sh gives up at the first failed fork.
    let script = "i=0; while [ $i -lt 150 ]; do sleep 300 & i=$((i+1)); done";
    let r = h.run_in(None, ["-a", "run", "-c", "bomb", "--cmd", script]);
    assert!(r.stderr.contains("can't fork"), "{r:?}");
    let pids = h
        .cgroup_dirs()
        .into_iter()
        .map(|d| d.join("bomb/pids.current"))
        .find(|p| p.exists())
        .expect("pids controller");
    let count: u32 = std::fs::read_to_string(&pids)
        .expect("pids.current")
        .trim()
        .parse()
        .expect("number");
    assert!(
        (30..=40).contains(&count),
        "{count} processes with --pids-limit 40"
    );
    let info = h.run("-s info -c bomb").ok().to_string();
    assert!(info.contains("pids_limit: 40\n"), "{info}");
    // A session needs a process too: at the limit, that is what is said,
    // not a broken socket (--pids-limit 1: init alone fills it).
    h.run("-a create -m test -c full -b --pids-limit 1").ok();
    h.run_in(None, ["-a", "run", "-c", "full", "--cmd", "true"])
        .fails(
            1,
            "container full is at its process limit (1 of --pids-limit 1)",
        );
    // attach too (it said "session: receive: connection reset by peer").
    h.run("-a attach -c full").fails(
        1,
        "container full is at its process limit (1 of --pids-limit 1)",
    );
    h.run("-a kill -c full").ok();
    // The host is fine and the container stops cleanly, sleeps and all.
    h.run("-a kill -c bomb").ok();
    assert!(h.cgroup_dirs().iter().all(|d| !d.join("bomb").exists()));
    h.run("-a create -m test -c nobomb --pids-limit 0")
        .fails(2, "'0' is not a process count of 1 or more");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn the_host_binary_and_descriptors_of_init_are_out_of_reach() {
    // CVE-2019-5736 class: root inside rewrites the runtime binary through
    // /proc/PID/exe; CVE-2024-21626 class: host descriptors of a runtime
    // process reachable from inside. xdockerinit is not dumpable and
    // containers lack sys_ptrace, so /proc/1/exe and /proc/1/fd stay shut;
    // with `--cap-add sys_ptrace` they open, but init was executed from a
    // read-only bind mount that no tree holds any more: the host's file
    // cannot be opened for writing (EROFS), on any kernel.
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c exe -b").ok();
    h.run("-a create -m test -c tracer -b --cap-add sys_ptrace")
        .ok();
    let init = common::static_init();
    let before = std::fs::read(&init).expect("read init");
    // (fd 3 is the host's exit record, fd 4 the session socket)
    let script = "head -c 4 /proc/1/exe | wc -c; head -c 1 /proc/1/fd/3 | wc -c; \
                  readlink /proc/1/fd/4; \
                  echo pwned > /proc/1/exe; \
                  dd if=/dev/zero of=/proc/1/exe bs=1 count=1 conv=notrunc 2>&1 | head -1";
    let r = h.run_in(None, ["-a", "run", "-c", "exe", "--cmd", script]);
    assert!(r.stdout.starts_with("0\n0\n"), "{r:?}");
    assert!(r.stderr.contains("/proc/1/exe: Permission denied"), "{r:?}");
    assert!(
        r.stderr.contains("/proc/1/fd/3: Permission denied"),
        "{r:?}"
    );
    assert!(!r.stdout.contains("socket:"), "{r:?}");
    assert!(
        r.stdout.contains("Permission denied"),
        "dd refused too: {r:?}"
    );
    // A container that may trace: it reads the binary, cannot write it.
    let r = h.run_in(None, ["-a", "run", "-c", "tracer", "--cmd", script]);
    assert!(r.stdout.starts_with("4\n"), "{r:?}");
    assert!(
        r.stderr.contains("/proc/1/exe: Read-only file system"),
        "{r:?}"
    );
    let exe = h
        .run_in(
            None,
            [
                "-a",
                "run",
                "-c",
                "tracer",
                "--cmd",
                "cat /proc/1/mountinfo | grep -c xdockerinit; \
                 mount -o remount,rw /proc/1/exe 2>/dev/null || echo refused",
            ],
        )
        .ok()
        .to_string();
    // Not in the container's mount table, so it cannot be remounted.
    assert_eq!(exe, "0\nrefused\n");
    assert!(
        std::fs::read(&init).expect("read init") == before,
        "init binary changed"
    );
    h.run("-a kill -c exe").ok();
    h.run("-a kill -c tracer").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn host_processes_cannot_be_signalled_from_inside() {
    // Class: signals across the PID namespace (killing host daemons).
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c sig -b").ok();
    let mut victim = Command::new("sleep").arg("60").spawn().expect("sleep");
    let pid = victim.id();
    let script = format!("kill -9 {pid}; kill -9 -1; echo done");
    let r = h.run_in(None, ["-a", "run", "-c", "sig", "--cmd", &script]);
    assert!(
        victim.try_wait().expect("try_wait").is_none(),
        "host process {pid} killed from inside: {r:?}"
    );
    let _ = victim.kill();
    let _ = victim.wait();
    h.run("-a kill -c sig -f").ok();
}

/// Runs a shell script inside `name`; stdout and stderr, whatever the exit.
fn sh(h: &RuntimeHome, name: &str, script: &str) -> String {
    let r = h.run_in(None, ["-a", "run", "-c", name, "--cmd", script]);
    format!("{}--\n{}", r.stdout, r.stderr)
}

/// The three kinds of container the attacks run against: the default
/// (unprivileged), `--userns off` (privileged, with the mount guard) and,
/// where it says so, `--userns off --seccomp off`.
const DEFAULT: &[&str] = &[];
const PRIVILEGED: &[&str] = &["--userns", "off"];

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_new_container_is_unprivileged_by_default_and_says_which_kind_it_is() {
    let h = RuntimeHome::with_test_image();
    let made = h.run("-a create -m test -c plain");
    assert_eq!(made.stderr, "", "no warning where the host can idmap");
    h.run("-a create -m test -c priv --userns off").ok();
    let info = h.run("-s info -c plain").ok().to_string();
    assert!(info.contains("privileged: no\n"), "{info}");
    assert!(info.contains("userns: uid "), "{info}");
    let info = h.run("-s info -c priv").ok().to_string();
    assert!(info.contains("privileged: yes"), "{info}");
    assert!(info.contains("userns: -\n"), "{info}");
    let json: serde_json::Value =
        serde_json::from_str(h.run("-s containers --json").ok()).expect("json");
    let kind = |name: &str| {
        json.as_array()
            .expect("array")
            .iter()
            .find(|c| c["container_id"] == name)
            .map(|c| c["privileged"].clone())
    };
    assert_eq!(kind("plain"), Some(serde_json::Value::Bool(false)));
    assert_eq!(kind("priv"), Some(serde_json::Value::Bool(true)));
    let info: serde_json::Value =
        serde_json::from_str(h.run("-s info -c plain --json").ok()).expect("json");
    assert_eq!(info["privileged"], false);
    // Root inside is not root outside: its processes run as its slot's
    // first host uid.
    h.run("-a boot -c plain").ok();
    let pid = h.pid("plain").expect("pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let uid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("Uid");
    assert!(uid >= 65536, "init runs as host uid {uid}, not root");
    let inside = h
        .run_in(None, ["-a", "run", "-c", "plain", "--cmd", "id -u"])
        .ok()
        .to_string();
    assert_eq!(inside, "0\n", "root inside");
    // A config from before (no [security] userns) stays privileged.
    let cfg = h.home.path().join("containers/priv/config.toml");
    let text = std::fs::read_to_string(&cfg).expect("config");
    assert!(!text.contains("[security.userns]"), "{text}");
    h.run("-a kill -c plain").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn where_the_home_cannot_idmap_create_warns_once_and_makes_it_privileged() {
    // A home on overlayfs, which takes no idmapped mounts: the probe says
    // so for real, create warns in one line, `--userns on` is refused.
    needs_root();
    let h = RuntimeHome::new();
    let outside = tempfile::tempdir().expect("tempdir");
    let (lower, upper, work) = (
        outside.path().join("l"),
        outside.path().join("u"),
        outside.path().join("w"),
    );
    for d in [&lower, &upper, &work] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    // The home's files become the overlay's lower layer.
    std::fs::copy(
        h.home.path().join("xdocker.toml"),
        lower.join("xdocker.toml"),
    )
    .expect("copy toml");
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    nix::mount::mount(
        Some("overlay"),
        h.home.path(),
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(opts.as_str()),
    )
    .expect("mount overlay");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _unmount = Unmount(h.home.path().to_path_buf());
    h.install_test();
    let r = h.run("-a create -m test -c fallback");
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one warning line: {r:?}");
    assert!(
        lines[0].starts_with("xdocker: warning: container fallback is privileged"),
        "{r:?}"
    );
    assert!(lines[0].contains("does not take idmapped mounts"), "{r:?}");
    let info = h.run("-s info -c fallback").ok().to_string();
    assert!(info.contains("privileged: yes"), "{info}");
    // Asked for explicitly, it is an error, and nothing is made.
    h.run("-a create -m test -c strict --userns on")
        .fails(1, "does not take idmapped mounts");
    assert!(!h.home.path().join("containers/strict").exists());
    // `--userns off` is the explicit choice: no warning.
    assert_eq!(h.run("-a create -m test -c chosen --userns off").stderr, "");
    // The answer is kept for this boot of the host.
    let probe = std::fs::read_to_string(h.home.path().join("userns-support")).expect("cache");
    assert!(probe.contains("\nno "), "{probe}");
    for c in ["fallback", "chosen"] {
        h.run_in(None, ["-a", "destroy", "-c", c]).ok();
    }
    h.run("-a del_image -m test -f").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn proc_sys_and_sys_stay_read_only_whatever_root_inside_tries() {
    // Host code execution class: undo the read-only /proc/sys or /sys
    // (remount, unmount, a new procfs or sysfs, a bare bind of /proc) to
    // reach kernel/core_pattern, kernel/modprobe, uevent_helper, sysrq.
    // Nothing is written to any of them here: each attempt only reports
    // whether the way in opened.
    let h = RuntimeHome::with_test_image();
    let script = "mkdir -p /x /y /z; \
        mount -o remount,rw /proc/sys && echo OPEN-remount-proc-sys; \
        mount -o remount,bind,rw /proc/sys && echo OPEN-remount-bind-proc-sys; \
        mount -o remount,rw /sys && echo OPEN-remount-sys; \
        umount /proc/sys && echo OPEN-umount-proc-sys; \
        umount -l /proc/sys && echo OPEN-umount-lazy-proc-sys; \
        umount /sys && echo OPEN-umount-sys; \
        mount -t proc proc /x && echo OPEN-new-procfs; \
        mount -t sysfs sysfs /y && echo OPEN-new-sysfs; \
        mount --bind /proc /z && echo OPEN-bare-bind-proc; \
        grep -E ' /proc/sys | /sys ' /proc/self/mountinfo | grep -c ' ro,'; \
        sh -c 'exec 3>>/proc/sys/kernel/core_pattern' && echo OPEN-writable-core-pattern; \
        mount -t tmpfs t /x && echo tmpfs-mounted; echo end";
    for (name, kind) in [("unpriv", DEFAULT), ("priv", PRIVILEGED)] {
        let mut args = vec!["-a", "create", "-m", "test", "-c", name, "-b"];
        args.extend_from_slice(kind);
        h.run_in(None, args).ok();
        let out = sh(&h, name, script);
        assert!(!out.contains("OPEN-"), "{name}: {out}");
        assert!(
            out.starts_with("2\n"),
            "{name}: both still read-only: {out}"
        );
        // What a system container needs still works where it is safe: an
        // unprivileged root mounts a tmpfs of its own; a privileged one is
        // refused every new file system (the mount guard).
        assert_eq!(out.contains("tmpfs-mounted"), name == "unpriv", "{out}");
        assert!(out.contains("end\n"), "{out}");
        h.run_in(None, ["-a", "kill", "-c", name]).ok();
    }
}

/// Puts the host's core_pattern back if a test changed it.
struct CorePattern(String);

impl CorePattern {
    const PATH: &'static str = "/proc/sys/kernel/core_pattern";

    fn save() -> Self {
        Self(std::fs::read_to_string(Self::PATH).expect("core_pattern"))
    }

    fn changed(&self) -> bool {
        std::fs::read_to_string(Self::PATH).ok().as_deref() != Some(self.0.as_str())
    }
}

impl Drop for CorePattern {
    fn drop(&mut self) {
        if self.changed() {
            let _ = std::fs::write(Self::PATH, self.0.trim_end());
        }
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_core_pattern_written_through_a_new_procfs_never_runs_on_the_host() {
    // The whole attack of the issue: a new procfs, `|script %p` into its
    // kernel/core_pattern, a crash; the host kernel would run the script
    // as host root. The marker file it would make must never appear.
    let h = RuntimeHome::with_test_image();
    let saved = CorePattern::save();
    let marker = h.home.scratch("pwn").join("pwned");
    for (name, kind) in [("unpriv", DEFAULT), ("priv", PRIVILEGED)] {
        let mut args = vec!["-a", "create", "-m", "test", "-c", name, "-b"];
        args.extend_from_slice(kind);
        h.run_in(None, args).ok();
        let upper = h.home.path().join("containers").join(name).join("rwlayer");
        let script = format!(
            "printf '#!/bin/sh\\ntouch {marker}\\n' > /pwn.sh; chmod 755 /pwn.sh; \
             mkdir -p /x; mount -t proc proc /x && echo OPEN-new-procfs; \
             echo '|{upper}/pwn.sh %p' > /x/sys/kernel/core_pattern && echo OPEN-core-pattern; \
             echo '|{upper}/pwn.sh %p' > /proc/sys/kernel/core_pattern && echo OPEN-proc-sys; \
             ulimit -c unlimited; sh -c 'kill -SEGV $$'; echo crashed",
            marker = marker.display(),
            upper = upper.display()
        );
        let out = sh(&h, name, &script);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let changed = saved.changed();
        assert!(!changed, "{name}: the host's core_pattern changed: {out}");
        assert!(!marker.exists(), "{name}: host ran the script: {out}");
        assert!(!out.contains("OPEN-"), "{name}: {out}");
        assert!(out.contains("crashed"), "{name}: {out}");
        h.run_in(None, ["-a", "kill", "-c", name]).ok();
    }
}

/// Inside `name`: mount the v1 devices hierarchy, allow loop-control in
/// whatever group shows as its root, then try to open a node of it.
fn lift_device_rules(h: &RuntimeHome, name: &str) -> String {
    sh(
        h,
        name,
        "mkdir -p /cg; if mount -t cgroup -o devices d /cg; then echo mounted; \
         find /cg -mindepth 1 -type d | wc -l; \
         echo 'c 10:237 rwm' > /cg/devices.allow && echo OPEN-allowed; fi; \
         mknod /tmp/lc c 10 237; sh -c 'exec 3</tmp/lc' && echo OPEN-opened; echo end",
    )
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn the_device_rules_cannot_be_lifted_from_inside_cgroup_v1() {
    // The container's cgroup namespace was rooted at the home's shared
    // devices group: mounting the hierarchy and writing devices.allow
    // opened a device in every container of the home.
    let h = RuntimeHome::with_test_image();
    let is_v1 = std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .any(|l| l.contains(" - cgroup ") && l.contains("devices"));
    assert!(is_v1, "this test needs the v1 devices hierarchy");
    let kinds: [(&str, &[&str]); 3] = [
        ("unpriv", DEFAULT),
        ("priv", PRIVILEGED),
        ("open", &["--userns", "off", "--seccomp", "off"]),
    ];
    for (name, kind) in kinds {
        let mut args = vec!["-a", "create", "-m", "test", "-c", name, "-b"];
        args.extend_from_slice(kind);
        h.run_in(None, args).ok();
    }
    h.run("-a create -m test -c second -b --userns off").ok();
    for (name, _) in kinds {
        let out = lift_device_rules(&h, name);
        assert!(!out.contains("OPEN-"), "{name}: {out}");
        assert!(out.contains("end\n"), "{name}: {out}");
        // The mount guard refuses the mount; without it (and for the
        // unprivileged root, in the cgroup namespace it owns) the mount
        // shows the container's own group: no other container's group
        // below it, and rules it cannot exceed.
        match name {
            "priv" => assert!(!out.contains("mounted"), "{out}"),
            "open" => assert!(out.starts_with("mounted\n0\n"), "{out}"),
            _ => assert!(
                !out.contains("mounted") || out.starts_with("mounted\n0\n"),
                "{out}"
            ),
        }
        let again = sh(
            &h,
            "second",
            "mknod /tmp/lc c 10 237; sh -c 'exec 3</tmp/lc' && echo OPEN",
        );
        assert!(!again.contains("OPEN"), "after {name}: {again}");
    }
    let pid = h.pid("open").expect("pid");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    assert!(
        cgroup
            .lines()
            .any(|l| l.ends_with(&format!(":devices:/{}/open", h.cgroup_parent))),
        "own devices group: {cgroup}"
    );
    for c in ["unpriv", "priv", "open", "second"] {
        h.run_in(None, ["-a", "kill", "-c", c]).ok();
    }
    assert!(h.cgroup_dirs().iter().all(|d| !d.join("open").exists()));
}

/// Host interfaces named `name`.
fn host_link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Removes a host interface a test made, if it is there.
struct HostLink(String);

impl Drop for HostLink {
    fn drop(&mut self) {
        if host_link_exists(&self.0) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).status();
        }
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_host_network_container_cannot_rewire_the_host() {
    // `ip link add … type bridge` inside a HOST-network container made it
    // on the host. Unprivileged: the host's network namespace is not its
    // own. Privileged: net_admin and net_raw are dropped, as Docker does,
    // unless `--cap-add` gives them back (and then it works: the docs say
    // what that means).
    let h = RuntimeHome::with_test_image();
    let link = format!("xdt{}", std::process::id() % 100_000_000);
    let _cleanup = HostLink(link.clone());
    let add = format!("ip link add {link} type bridge && echo added; echo end");
    let kinds: [(&str, &[&str]); 3] = [
        ("unpriv", DEFAULT),
        ("priv", PRIVILEGED),
        (
            "netadmin",
            &["--userns", "off", "--cap-add", "net_admin,net_raw"],
        ),
    ];
    for (name, kind) in kinds {
        let mut args = vec![
            "-a", "create", "-m", "test", "-c", name, "-b", "--net", "HOST",
        ];
        args.extend_from_slice(kind);
        h.run_in(None, args).ok();
        let out = sh(&h, name, &add);
        assert!(out.contains("end\n"), "{name}: {out}");
        let given_back = name == "netadmin";
        assert_eq!(out.contains("added"), given_back, "{name}: {out}");
        assert_eq!(host_link_exists(&link), given_back, "{name}: {out}");
        if given_back {
            Command::new("ip")
                .args(["link", "del", &link])
                .status()
                .expect("ip");
        }
        h.run_in(None, ["-a", "kill", "-c", name]).ok();
    }
    let info = h.run("-s info -c priv").ok().to_string();
    assert!(info.contains("privileged: yes"), "{info}");
}
