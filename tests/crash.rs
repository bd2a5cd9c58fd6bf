//! Fault injection: xdocker killed (SIGKILL) at every step of the
//! operations that move a user's data, then the next command. Each test
//! asserts what a user would see: the marker file survives in the
//! container or in the image, the next command succeeds, and nothing is
//! left in `tmp/` or `intents/`. Steps are hit with the test-only
//! `XDOCKER_TEST_CRASH_AT=POINT` (a SIGKILL at that point, see
//! src/crashpoint.rs); random-time kills cover what lies between.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{RuntimeHome, TestHome};

const TO_IMAGE: &[&str] = &[
    "to_image.recorded",
    "to_image.published",
    "to_image.moved",
    "to_image.measured",
    "to_image.destroyed",
];
const TO_CONTAINER: &[&str] = &[
    "to_container.recorded",
    "to_container.created",
    "to_container.moved",
    "to_container.deleted",
];

fn crash_at(h: &TestHome, point: &str, args: &[&str]) -> common::Run {
    h.run_with(None, args, &[("XDOCKER_TEST_CRASH_AT", OsStr::new(point))])
}

fn rwlayer(h: &TestHome, c: &str) -> PathBuf {
    h.path().join("containers").join(c).join("rwlayer")
}

/// Where the marker is now: in container `c` or in image `img:1`.
#[derive(Debug, PartialEq)]
enum Holder {
    Container,
    Image,
}

/// The invariants after a kill and one more command: exactly one of the
/// two holds the marker (and is listed), nothing is left over.
fn holder(h: &TestHome, c: &str, img: &str) -> Holder {
    let images = h.run("-s images").ok().to_string();
    let containers = h.run("-s containers").ok().to_string();
    let in_container = rwlayer(h, c).join("marker");
    let in_image = h.layer(img, "1").join("marker");
    let listed_c = containers.lines().any(|l| l.starts_with(&format!("{c} ")));
    let listed_i = images.lines().any(|l| l.starts_with(&format!("{img} ")));
    let found = match (in_container.exists(), in_image.exists()) {
        (true, false) => Holder::Container,
        (false, true) => Holder::Image,
        other => panic!("marker in container/image: {other:?}\n{containers}\n{images}"),
    };
    assert_eq!(
        std::fs::read_to_string(match found {
            Holder::Container => &in_container,
            Holder::Image => &in_image,
        })
        .expect("marker"),
        "precious\n"
    );
    assert_eq!(
        (listed_c, listed_i),
        (found == Holder::Container, found == Holder::Image),
        "listed as it is: {found:?}\n{containers}\n{images}"
    );
    assert_eq!(h.staging_leftovers(), Vec::<String>::new(), "tmp/ is empty");
    let intents: Vec<_> = std::fs::read_dir(h.path().join("intents"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(intents.is_empty(), "intents left: {intents:?}");
    found
}

fn container_with_marker(h: &RuntimeHome, c: &str) {
    h.run(&format!("-a create -m test -c {c}")).ok();
    let rw = rwlayer(&h.home, c);
    std::fs::write(rw.join("marker"), "precious\n").expect("marker");
    // Enough files that a random kill lands inside the moves and the walk.
    let many = rw.join("many");
    std::fs::create_dir(&many).expect("mkdir");
    for i in 0..300 {
        std::fs::write(many.join(format!("f{i}")), "x").expect("file");
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_killed_to_image_loses_nothing_at_any_step() {
    let h = RuntimeHome::with_test_image();
    for (i, point) in TO_IMAGE.iter().enumerate() {
        let (c, img) = (format!("c{i}"), format!("img{i}"));
        container_with_marker(&h, &c);
        let r = crash_at(
            &h.home,
            point,
            &[
                "-a",
                "to_image",
                "--from-container",
                &c,
                "--to-image",
                &img,
                "--version",
                "1",
            ],
        );
        assert_eq!(r.code, -1, "{point}: killed, not finished: {r:?}");
        let after = holder(&h.home, &c, &img);
        // Before the move the container keeps it; after, the image.
        let moved = TO_IMAGE
            .iter()
            .position(|p| *p == "to_image.moved")
            .expect("moved");
        let expected = if i < moved {
            Holder::Container
        } else {
            Holder::Image
        };
        assert_eq!(after, expected, "{point}");
        if after == Holder::Container {
            // Rolled back cleanly: the same command now works.
            h.run(&format!(
                "-a to_image --from-container {c} --to-image {img} --version 1"
            ))
            .ok();
            assert_eq!(holder(&h.home, &c, &img), Holder::Image, "{point}: retried");
        }
        let meta =
            std::fs::read_to_string(h.home.path().join(format!("images/{img}/1/image.toml")))
                .expect("image.toml");
        assert!(
            !meta.contains("size = 0\n"),
            "{point}: size measured: {meta}"
        );
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_killed_to_container_loses_nothing_at_any_step() {
    let h = RuntimeHome::with_test_image();
    for (i, point) in TO_CONTAINER.iter().enumerate() {
        let (c, img) = (format!("c{i}"), format!("img{i}"));
        container_with_marker(&h, &c);
        h.run(&format!(
            "-a to_image --from-container {c} --to-image {img} --version 1"
        ))
        .ok();
        let r = crash_at(
            &h.home,
            point,
            &[
                "-a",
                "to_container",
                "--from-image",
                &format!("{img}:1"),
                "--to-container",
                &c,
            ],
        );
        assert_eq!(r.code, -1, "{point}: killed, not finished: {r:?}");
        let after = holder(&h.home, &c, &img);
        let moved = TO_CONTAINER
            .iter()
            .position(|p| *p == "to_container.moved")
            .expect("moved");
        let expected = if i < moved {
            Holder::Image
        } else {
            Holder::Container
        };
        assert_eq!(after, expected, "{point}");
        if after == Holder::Image {
            h.run(&format!(
                "-a to_container --from-image {img}:1 --to-container {c}"
            ))
            .ok();
            assert_eq!(
                holder(&h.home, &c, &img),
                Holder::Container,
                "{point}: retried"
            );
        }
        // The container it became boots and shows the file.
        let r = h.run_in(None, ["-a", "boot", "-c", &c, "-e", "cat /marker"]);
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (0, "precious\n"),
            "{point}: {r:?}"
        );
    }
}

/// Runs xdocker with `args` and kills it after `delay`.
fn kill_after(h: &RuntimeHome, args: &[&str], delay: Duration) {
    let mut child = Command::new(common::bin())
        .args(args)
        .env("XDOCKER_HOME", h.home.path())
        .env("XDOCKER_SHARE_DIR", env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn xdocker");
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn kills_at_random_times_during_conversions_lose_nothing() {
    let h = RuntimeHome::with_test_image();
    container_with_marker(&h, "c");
    // How long one conversion takes here now (a loaded machine takes
    // several times longer): the kills spread over 0 to 1.5 times that, at
    // least 12 ms, so that they fall on both sides of the move.
    let timed = |line: &str| {
        let start = std::time::Instant::now();
        h.run(line).ok();
        start.elapsed()
    };
    let span = timed("-a to_image --from-container c --to-image img --version 1")
        .max(timed("-a to_container --from-image img:1 --to-container c"));
    let span_us = (span.as_micros() as u64 * 3 / 2).max(12_000);
    // A pseudo-random but reproducible spread of delays.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut delay = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Duration::from_micros(seed % span_us)
    };
    let mut seen = [0u32; 2];
    for _ in 0..24 {
        let to_image = holder(&h.home, "c", "img") == Holder::Container;
        let args: Vec<&str> = if to_image {
            vec![
                "-a",
                "to_image",
                "--from-container",
                "c",
                "--to-image",
                "img",
                "--version",
                "1",
            ]
        } else {
            vec![
                "-a",
                "to_container",
                "--from-image",
                "img:1",
                "--to-container",
                "c",
            ]
        };
        kill_after(&h, &args, delay());
        // `holder` runs the next command and checks everything.
        seen[usize::from(holder(&h.home, "c", "img") == Holder::Image)] += 1;
    }
    // The kills fell on both sides of the moves.
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn broken_containers_are_listed_as_such_and_never_hide_the_others() {
    let h = RuntimeHome::with_test_image();
    for c in ["good", "badcfg", "trunc", "badrun"] {
        h.run(&format!("-a create -m test -c {c}")).ok();
    }
    h.run("-a boot -c trunc").ok();
    h.run("-a boot -c badrun").ok();
    let dir = |c: &str| h.home.path().join("containers").join(c);
    std::fs::write(
        dir("badcfg").join("config.toml"),
        "name = \"badcfg\"\nimages = [",
    )
    .expect("w");
    std::fs::write(dir("badrun").join("config.toml"), "").expect("w");
    std::fs::create_dir(dir("nocfg")).expect("mkdir");
    // A state file cut short (a host crash while it was written).
    std::fs::write(dir("trunc").join("state.toml"), "pid = ").expect("w");
    let trunc_pid = h.pid("trunc");
    assert_eq!(trunc_pid, None, "the state no longer names it");

    let rows = h.run("-s containers").ok().to_string();
    let status = |c: &str| {
        rows.lines()
            .find(|l| l.starts_with(&format!("{c} ")))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("{c} not listed:\n{rows}"))
            .to_string()
    };
    assert_eq!(status("good"), "STOPPED");
    assert_eq!(status("badcfg"), "BROKEN");
    assert_eq!(status("nocfg"), "BROKEN");
    assert!(
        status("trunc").starts_with("RUNNING("),
        "the index says: {rows}"
    );
    assert!(
        status("badrun").starts_with("BROKEN("),
        "running, broken: {rows}"
    );
    let json: serde_json::Value =
        serde_json::from_str(h.run("-s containers --json").ok()).expect("json");
    let reason = |c: &str| {
        json.as_array()
            .expect("rows")
            .iter()
            .find(|r| r["container_id"] == c)
            .map(|r| r["broken"].clone())
            .expect("row")
    };
    assert!(
        reason("badcfg")
            .as_str()
            .is_some_and(|r| r.contains("config")),
        "{json}"
    );
    assert!(
        reason("nocfg")
            .as_str()
            .is_some_and(|r| r.contains("no config.toml")),
        "{json}"
    );
    assert!(reason("good").is_null());

    // What runs can be stopped, whatever its files say.
    let pid_of = |c: &str| {
        status(c)
            .trim_start_matches("RUNNING(")
            .trim_start_matches("BROKEN(")
            .trim_end_matches(')')
            .parse::<i32>()
            .expect("pid")
    };
    let (tp, bp) = (pid_of("trunc"), pid_of("badrun"));
    h.run("-a shutdown -c trunc").ok();
    h.run("-a kill -c badrun").ok();
    for pid in [tp, bp] {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists() || {
                let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                s.contains(") Z ")
            },
            "init {pid} still runs"
        );
    }
    assert!(
        h.cgroup_dirs().iter().all(|d| !d.join("trunc").exists()),
        "released"
    );
    // Broken ones can be destroyed, and their names taken again.
    for c in ["badcfg", "nocfg", "badrun"] {
        h.run(&format!("-a destroy -c {c}")).ok();
        assert!(!dir(c).exists(), "{c} destroyed");
    }
    h.run("-a create -m test -c nocfg").ok();
    let rows = h.run("-s containers").ok().to_string();
    assert!(!rows.contains("BROKEN"), "{rows}");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_broken_image_version_is_listed_and_del_image_f_removes_it() {
    let h = RuntimeHome::with_test_image();
    // No layer (what a killed to_container used to leave), and a manifest
    // that does not parse.
    let ghost = h.home.path().join("images/ghost/1");
    std::fs::create_dir_all(&ghost).expect("mkdir");
    std::fs::write(ghost.join("image.toml"), "name = \"ghost\"\n").expect("w");
    h.run("-a copy_image --from-image test --to-image bad:1")
        .ok();
    std::fs::write(h.home.path().join("images/bad/1/image.toml"), "size = [").expect("w");

    let rows = h.run("-s images").ok().to_string();
    for img in ["ghost", "bad"] {
        let line = rows
            .lines()
            .find(|l| l.starts_with(&format!("{img} ")))
            .unwrap_or_else(|| panic!("{img} not listed:\n{rows}"));
        assert!(line.ends_with("BROKEN"), "{line}");
    }
    assert!(rows.contains("test "), "the good one is listed too: {rows}");
    let json: serde_json::Value =
        serde_json::from_str(h.run("-s images --json").ok()).expect("json");
    let broken: Vec<_> = json
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| !r["broken"].is_null())
        .map(|r| r["image_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(broken, ["bad", "ghost"]);
    // Using one says why; removing needs -f; its name is free after.
    h.run("-a create -m bad:1 -c x")
        .fails(1, "image bad:1 is broken");
    h.run("-a del_image -m ghost:1")
        .fails(1, "image ghost:1 is broken (no layer directory (rlayer))");
    h.run("-a del_image -m ghost:1 -f").ok();
    h.run("-a del_image -m bad -f").ok();
    assert!(!h.home.path().join("images/ghost").exists());
    h.run("-a copy_image --from-image test --to-image ghost:1")
        .ok();
    let rows = h.run("-s images").ok().to_string();
    assert!(!rows.contains("BROKEN"), "{rows}");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_killed_export_leaves_no_file_behind() {
    let h = RuntimeHome::with_test_image();
    let out = h.home.scratch("out");
    let file = out.join("t.xdockerimage");
    let f = file.to_str().expect("utf-8");
    let entries = || {
        let mut v: Vec<String> = std::fs::read_dir(&out)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let r = crash_at(
        &h.home,
        "export.written",
        &["-a", "export", "-m", "test", "--image-file", f],
    );
    assert_eq!(r.code, -1, "killed: {r:?}");
    assert!(entries().is_empty(), "nothing left: {:?}", entries());
    h.run_in(None, ["-a", "export", "-m", "test", "--image-file", f])
        .ok();
    let first = std::fs::read(&file).expect("exported");
    // Replacing with -f and killed: the old file stays whole, nothing else.
    let r = crash_at(
        &h.home,
        "export.written",
        &["-a", "export", "-m", "test", "--image-file", f, "-f"],
    );
    assert_eq!(r.code, -1, "killed: {r:?}");
    assert_eq!(entries(), ["t.xdockerimage"]);
    assert_eq!(std::fs::read(&file).expect("still there"), first);
    h.run_in(
        None,
        ["-a", "export", "-m", "test", "--image-file", f, "-f"],
    )
    .ok();
    assert_eq!(entries(), ["t.xdockerimage"]);
    h.run_in(None, ["-a", "import", "--image-file", f, "-m", "back:1"])
        .ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn kills_at_random_times_of_the_other_operations_leave_whole_objects() {
    // create, destroy, copy_image, del_image, import and shutdown, each
    // killed at a random time: the next command lists every object whole
    // (an image with its files, a container that is not BROKEN) or not at
    // all, and nothing is left in tmp/.
    let h = RuntimeHome::with_test_image();
    let out = h.home.scratch("exp");
    let file = out.join("t.xdockerimage");
    h.run_in(
        None,
        [
            "-a",
            "export",
            "-m",
            "test",
            "--image-file",
            file.to_str().expect("utf-8"),
        ],
    )
    .ok();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut delay = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Duration::from_micros(seed % 8_000)
    };
    let whole = |h: &RuntimeHome| {
        let images = h.run("-s images").ok().to_string();
        assert!(!images.contains("BROKEN"), "{images}");
        for line in images.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert!(
                h.home.layer(f[0], f[1]).join("bin/busybox").exists(),
                "image {line} incomplete"
            );
        }
        let rows = h.run("-s containers").ok().to_string();
        assert!(!rows.contains("BROKEN"), "{rows}");
        assert_eq!(
            h.home.staging_leftovers(),
            Vec::<String>::new(),
            "tmp/ is empty"
        );
    };
    let f = file.to_str().expect("utf-8").to_string();
    for round in 0..6 {
        let c = format!("k{round}");
        let i = format!("cp{round}:1");
        let steps: Vec<Vec<String>> = vec![
            vec![
                "-a".into(),
                "create".into(),
                "-m".into(),
                "test".into(),
                "-c".into(),
                c.clone(),
            ],
            vec![
                "-a".into(),
                "destroy".into(),
                "-c".into(),
                c.clone(),
                "-f".into(),
            ],
            vec![
                "-a".into(),
                "copy_image".into(),
                "--from-image".into(),
                "test".into(),
                "--to-image".into(),
                i.clone(),
            ],
            vec![
                "-a".into(),
                "del_image".into(),
                "-m".into(),
                i.clone(),
                "-f".into(),
            ],
            vec![
                "-a".into(),
                "import".into(),
                "--image-file".into(),
                f.clone(),
                "-m".into(),
                format!("im{round}:1"),
            ],
        ];
        for step in &steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            kill_after(&h, &args, delay());
            whole(&h);
        }
        // shutdown killed half-way: the container ends up running or
        // stopped, and either way the next stop and boot work.
        h.run(&format!("-a destroy -c s{round} -h -f")).ok();
        h.run(&format!("-a create -m test -c s{round} -b")).ok();
        kill_after(&h, &["-a", "shutdown", "-c", &format!("s{round}")], delay());
        whole(&h);
        let r = h.run(&format!("-a kill -c s{round}"));
        assert!(r.code == 0 || r.stderr.contains("is not running"), "{r:?}");
        h.run(&format!("-a boot -c s{round}")).ok();
        h.run(&format!("-a kill -c s{round}")).ok();
    }
}
