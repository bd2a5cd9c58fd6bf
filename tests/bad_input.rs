//! Hostile and impossible values, as a user would type them: one error
//! line naming the object and the reason, a non-zero exit, nothing made,
//! and no command that blocks or eats memory.

mod common;

use std::time::{Duration, Instant};

use common::{RuntimeHome, TestHome};

#[test]
fn limits_the_host_cannot_apply_are_refused_at_create() {
    let Some(h) =
        RuntimeHome::with_test_image("limits_the_host_cannot_apply_are_refused_at_create")
    else {
        return;
    };
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
        .fails(1, "is not available");
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
fn rplfile_refuses_mapping_files_that_are_not_small_regular_files() {
    let Some(h) = RuntimeHome::with_test_image(
        "rplfile_refuses_mapping_files_that_are_not_small_regular_files",
    ) else {
        return;
    };
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
    rpl(fifo.to_str().expect("utf-8")).fails(1, "is not a regular file");
    let big = h.home.scratch("m").join("big");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(17 << 20))
        .expect("sparse big file");
    rpl(big.to_str().expect("utf-8")).fails(1, "is larger than 16 MiB");
    let good = h.home.scratch("m").join("good");
    std::fs::write(&good, "${K} v\n").expect("write");
    rpl(good.to_str().expect("utf-8")).ok();
    let out = h.run_in(None, ["-a", "run", "-c", "t", "--cmd", "cat /etc/x"]);
    assert_eq!(out.ok(), "x=v\n");
    h.run("-a kill -c t").ok();
}
