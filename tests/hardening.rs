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

use common::{require_root, RuntimeHome};

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
fn seccomp_refuses_calls_that_reach_the_host_kernel() {
    // Classes: shared kernel keyring (CVE-2016-0728), userfaultfd-assisted
    // kernel races, open_by_handle_at past mounts (CVE-2014-3519 "shocker"),
    // perf events, kexec and module loading.
    if !require_root("seccomp_refuses_calls_that_reach_the_host_kernel") {
        return;
    }
    let h = RuntimeHome::new();
    h.install_test();
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
fn cap_add_and_cap_drop_change_what_root_inside_keeps() {
    // Class: capabilities of root inside a container (mknod of devices,
    // raw sockets, the clock).
    if !require_root("cap_add_and_cap_drop_change_what_root_inside_keeps") {
        return;
    }
    let h = RuntimeHome::new();
    h.install_test();
    h.run("-a create -m test -c plain -b").ok();
    h.run("-a create -m test -c custom -b --cap-add SYS_TIME --cap-drop net_raw,CAP_MKNOD")
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
