//! Hostile and impossible values, as a user would type them: one error
//! line naming the object and the reason, a non-zero exit, nothing made,
//! and no command that blocks or eats memory.

mod common;

use std::time::{Duration, Instant};

use common::{RuntimeHome, TestHome};

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn limits_the_host_cannot_apply_are_refused_at_create() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c x --pids-limit 99999999999")
        .fails(2, "more processes than the kernel allows (4194304)");
    h.run("-a create -m test -c x --cpus 99").fails(
        1,
        "cpu 99 is not available in /sys/devices/system/cpu/online",
    );
    h.run("-a create -m test -c x --mem-limit 9999999999999G")
        .fails(2, "more than the kernel takes");
    assert!(!h.home.path().join("containers/x").exists(), "nothing made");
    // The largest values the kernel takes work, in any unit.
    h.run("-a create -m test -c big --mem-limit 1T --pids-limit 4194304 --cpus 0")
        .ok();
    let r = h.run_in(None, ["-a", "boot", "-c", "big", "-e", "echo ran"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "ran\n"), "{r:?}");
    // boot with cgroup options checks the same way, and changes nothing.
    h.run("-a boot -c big --cpus 0-99")
        .fails(1, "is not available in /sys/devices/system/cpu/online");
    let info = h.run("-s info -c big").ok().to_string();
    assert!(info.contains("cpus: 0\n"), "{info}");
}

#[test]
fn a_name_with_control_characters_is_escaped_in_the_one_error_line() {
    let h = TestHome::new();
    let r = h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "evil\nxdocker: OK\u{1b}[2J",
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "one line: {r:?}");
    assert!(!r.stderr.trim_end().chars().any(char::is_control), "{r:?}");
    assert!(r.stderr.contains("evil\\nxdocker: OK"), "{r:?}");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn rplfile_refuses_mapping_files_that_are_not_small_regular_files() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c t -b").ok();
    h.run_in(
        None,
        [
            "-a",
            "run",
            "-c",
            "t",
            "--cmd",
            "echo 'x=${K}' > /etc/x.tpl",
        ],
    )
    .ok();
    let fifo = h.home.scratch("m").join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("fifo");
    let rpl = |mapping: &str| {
        let start = Instant::now();
        let r = h.run_in(
            None,
            [
                "-a",
                "rplfile",
                "-c",
                "t",
                "--template-file",
                "/etc/x.tpl",
                "--mapping-file",
                mapping,
            ],
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no blocking: {r:?}"
        );
        r
    };
    rpl("/dev/zero").fails(1, "mapping file /dev/zero: is not a regular file");
    rpl(fifo.to_str().expect("utf-8")).fails(
        1,
        &format!("mapping file {}: is not a regular file", fifo.display()),
    );
    let big = h.home.scratch("m").join("big");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(17 << 20))
        .expect("sparse big file");
    rpl(big.to_str().expect("utf-8")).fails(
        1,
        &format!("mapping file {}: is larger than 16 MiB", big.display()),
    );
    let good = h.home.scratch("m").join("good");
    std::fs::write(&good, "${K} v\n").expect("write");
    rpl(good.to_str().expect("utf-8")).ok();
    let out = h.run_in(None, ["-a", "run", "-c", "t", "--cmd", "cat /etc/x"]);
    assert_eq!(out.ok(), "x=v\n");
    h.run("-a kill -c t").ok();
}

/// Holds the lock file `path` with util-linux `flock` for `secs`.
fn hold_lock(path: &std::path::Path, secs: &str) -> std::process::Child {
    let child = std::process::Command::new("flock")
        .arg("-x")
        .arg(path)
        .args(["sleep", secs])
        .spawn()
        .expect("flock (package util-linux)");
    // Until it holds it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .contains(&format!(" {} ", child.id()))
    {
        assert!(Instant::now() < deadline, "flock never took the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_lock_held_by_a_stopped_process_is_named_and_given_up_on() {
    let h = RuntimeHome::with_test_image();
    let lock = h.home.path().join("locks/image.test");
    // A holder that lets go after a while: waited for, and said so.
    let mut holder = hold_lock(&lock, "1.5");
    let r = h.run("-a copy_image --from-image test --to-image copy:1");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "xdocker: warning: waiting for image test: locked by pid {} (flock -x",
            holder.id()
        )),
        "{r:?}"
    );
    let _ = holder.wait();
    // A holder that stays stopped: named, and given up on.
    let mut holder = hold_lock(&lock, "60");
    let pid = nix::unistd::Pid::from_raw(holder.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).expect("stop");
    let start = Instant::now();
    let r = h.run("-a del_image -m test");
    let waited = start.elapsed();
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
    let _ = holder.wait();
    assert_eq!(r.code, 1, "{r:?}");
    let last = r.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("xdocker: error: image test is busy: locked by pid")
            && last.contains("which is stopped"),
        "{r:?}"
    );
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(20),
        "{waited:?}"
    );
    assert!(h.home.layer("test", "_").is_dir(), "nothing deleted");
}
