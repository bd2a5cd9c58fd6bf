//! Image actions through the binary: `-s images`, install_test, version,
//! copy_image, del_image, failure cleanup and concurrent use.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::TestHome;

/// A small layer: two files of 100 and 23 bytes in a subdirectory.
fn fill(layer: &Path) {
    fs::create_dir_all(layer.join("etc")).expect("mkdir etc");
    fs::write(layer.join("etc/a"), [b'a'; 100]).expect("write a");
    fs::write(layer.join("etc/b"), [b'b'; 23]).expect("write b");
}

/// `NAME:VERSION` of every row of `-s images` (the header is checked).
fn listed(home: &TestHome) -> Vec<String> {
    let out = home.run("-s images").ok().to_string();
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(header, ["image_id", "version", "modify_datetime", "size"]);
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cells.len(), 4, "{l}");
            format!("{}:{}", cells[0], cells[1])
        })
        .collect()
}

/// After a failing command: no staging left and the listing unchanged.
#[track_caller]
fn assert_clean(home: &TestHome, images: &[&str]) {
    assert_eq!(
        home.staging_leftovers(),
        Vec::<String>::new(),
        "tmp/ is empty"
    );
    assert_eq!(listed(home), images);
}

fn json_images(home: &TestHome) -> Vec<serde_json::Value> {
    let out = home.run("-s images --json").ok().to_string();
    let value: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    value.as_array().expect("a JSON array").clone()
}

#[test]
fn empty_store_lists_only_the_header() {
    let home = TestHome::new();
    assert_eq!(
        home.run("-s images").ok(),
        "image_id  version  modify_datetime  size\n"
    );
    assert!(json_images(&home).is_empty());
}

#[test]
fn images_are_sorted_by_name_then_dotted_version() {
    let home = TestHome::new();
    for (name, version) in [
        ("web", "1.10.0"),
        ("web", "2"),
        ("web", "_"),
        ("web", "1.9.2"),
        ("app", "1"),
    ] {
        home.make_image(name, version, fill);
    }
    assert_eq!(
        listed(&home),
        ["app:1", "web:_", "web:1.9.2", "web:1.10.0", "web:2"]
    );
}

#[test]
fn hand_made_image_is_listed_with_its_size() {
    let home = TestHome::new();
    home.make_image("web", "1.0", fill);
    let out = home.run("-s images").ok().to_string();
    let row: Vec<&str> = out
        .lines()
        .nth(1)
        .expect("one row")
        .split_whitespace()
        .collect();
    assert_eq!((row[0], row[1], row[3]), ("web", "1.0", "123B"));
    chrono::NaiveDateTime::parse_from_str(row[2], "%Y-%m-%dT%H:%M:%S").expect("datetime");

    let rows = json_images(&home);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["image_id"], "web");
    assert_eq!(r["version"], "1.0");
    assert_eq!(r["size"].as_u64(), Some(123), "size is a number: {r}");
    assert_eq!(r["base_layers"], serde_json::json!([]));
    let when = r["modify_datetime"].as_str().expect("modify_datetime");
    chrono::NaiveDateTime::parse_from_str(when, "%Y-%m-%dT%H:%M:%S").expect("datetime");
}

#[test]
fn stray_file_in_images_does_not_break_the_listing() {
    let home = TestHome::new();
    home.make_image("web", "1", fill);
    fs::write(home.path().join("images/README"), "notes").expect("write");
    assert_eq!(listed(&home), ["web:1"]);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn install_test_builds_a_runnable_image() {
    common::needs_root();
    let home = TestHome::new();
    assert_eq!(home.run("-a install_test").ok(), "OK\n");
    assert_eq!(listed(&home), ["test:_"]);
    let layer = home.layer("test", "_");
    assert!(fs::symlink_metadata(layer.join("bin/sh")).is_ok(), "bin/sh");
    assert_eq!(
        fs::read_to_string(layer.join("root/tpl.txt")).expect("tpl.txt"),
        "{ \"leaf\":\"${LEAF}\" }\n"
    );
    let out = Command::new("chroot")
        .arg(&layer)
        .args(["/bin/sh", "-c", "echo hello"])
        .output()
        .expect("run chroot");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn install_test_versions_and_replacing() {
    common::needs_root();
    let home = TestHome::new();
    home.run("-a install_test").ok();
    home.run("-a install_test --version 1.0").ok();
    assert_eq!(listed(&home), ["test:_", "test:1.0"]);

    home.run("-a install_test")
        .fails(1, "image test:_ already exists");
    assert_clean(&home, &["test:_", "test:1.0"]);

    let marker = home.layer("test", "_").join("marker");
    fs::write(&marker, "old").expect("marker");
    home.run("-a install_test -f").ok();
    assert!(!marker.exists(), "-f replaced the old version");
    assert!(home.layer("test", "_").join("root/tpl.txt").is_file());
    assert_clean(&home, &["test:_", "test:1.0"]);
}

#[test]
fn version_renames_an_image_version() {
    let home = TestHome::new();
    home.make_image("test", "1.0", fill);
    assert_eq!(
        home.run("-a version -m test:1.0 --version 2.0").ok(),
        "OK\n"
    );
    assert_eq!(listed(&home), ["test:2.0"]);
    assert_eq!(
        fs::read(home.layer("test", "2.0").join("etc/b")).expect("moved layer"),
        [b'b'; 23]
    );
    // No --version means `_`.
    home.run("-a version -m test:2.0").ok();
    assert_eq!(listed(&home), ["test:_"]);
}

#[test]
fn version_refuses_an_existing_target_and_several_versions() {
    let home = TestHome::new();
    home.make_image("web", "1", |l| fs::write(l.join("v"), "1").expect("write"));
    home.make_image("web", "2", |l| fs::write(l.join("v"), "2").expect("write"));
    home.run("-a version -m web:1 --version 2")
        .fails(1, "image web:2 already exists");
    assert_clean(&home, &["web:1", "web:2"]);
    assert_eq!(
        fs::read_to_string(home.layer("web", "2").join("v")).expect("v"),
        "2"
    );

    home.run("-a version -m web --version 3").fails(
        1,
        "image web has several versions (1, 2): name one as web:VERSION",
    );
    assert_clean(&home, &["web:1", "web:2"]);
}

/// The refusal above advises `-f`; following that advice must not give the
/// same refusal again.
#[test]
fn version_onto_existing_does_not_advise_a_useless_f() {
    let home = TestHome::new();
    home.make_image("web", "1", fill);
    home.make_image("web", "2", fill);
    let r = home.run("-a version -m web:1 --version 2 -f");
    if r.code != 0 {
        assert!(!r.stderr.contains("use -f"), "-f was given: {r:?}");
    }
}

/// Builds a layer with every kind of entry an exact copy must keep.
fn special_layer(layer: &Path) {
    let file = layer.join("suid");
    fs::write(&file, "#!/bin/sh\n").expect("write");
    std::os::unix::fs::chown(&file, Some(1234), Some(5678)).expect("chown");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o4755)).expect("chmod");
    symlink("suid", layer.join("link")).expect("symlink");
    fs::write(layer.join("h1"), "linked").expect("write");
    fs::hard_link(layer.join("h1"), layer.join("h2")).expect("link");
    nix::unistd::mkfifo(
        &layer.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .expect("mkfifo");
    nix::sys::stat::mknod(
        &layer.join("whiteout"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        nix::sys::stat::makedev(0, 0),
    )
    .expect("mknod");
    fs::create_dir(layer.join("opaque")).expect("mkdir");
    xattr::set(layer.join("opaque"), "trusted.overlay.opaque", b"y").expect("xattr");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn copy_image_is_exact() {
    common::needs_root();
    let home = TestHome::new();
    home.make_image("src", "1", special_layer);
    assert_eq!(
        home.run("-a copy_image --from-image src:1 --to-image dst:2")
            .ok(),
        "OK\n"
    );
    assert_eq!(listed(&home), ["dst:2", "src:1"]);
    let (from, to) = (home.layer("src", "1"), home.layer("dst", "2"));
    let meta = |p: &Path| fs::symlink_metadata(p).expect("lstat");

    let (s, d) = (meta(&from.join("suid")), meta(&to.join("suid")));
    assert_eq!((d.uid(), d.gid(), d.mode()), (1234, 5678, s.mode()));
    assert_eq!(d.mode() & 0o7777, 0o4755);
    assert_eq!((d.mtime(), d.mtime_nsec()), (s.mtime(), s.mtime_nsec()));

    assert!(meta(&to.join("link")).file_type().is_symlink());
    assert_eq!(
        fs::read_link(to.join("link")).expect("readlink"),
        Path::new("suid")
    );

    let (h1, h2) = (meta(&to.join("h1")), meta(&to.join("h2")));
    assert_eq!(h1.ino(), h2.ino(), "hard links stay linked");
    assert_eq!(h1.nlink(), 2);
    assert_ne!(h1.ino(), meta(&from.join("h1")).ino(), "a copy, not a link");

    let fifo = meta(&to.join("fifo"));
    assert_eq!(fifo.mode(), meta(&from.join("fifo")).mode());
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fifo.file_type()));

    let wh = meta(&to.join("whiteout"));
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &wh.file_type()
    ));
    assert_eq!(wh.rdev(), 0);

    assert_eq!(
        xattr::get(to.join("opaque"), "trusted.overlay.opaque").expect("getxattr"),
        Some(b"y".to_vec())
    );
    assert_eq!(home.staging_leftovers(), Vec::<String>::new());
}

#[test]
fn copy_image_refuses_existing_itself_and_missing() {
    let home = TestHome::new();
    home.make_image("src", "1", fill);
    home.make_image("dst", "1", |l| {
        fs::write(l.join("old"), "x").expect("write")
    });
    let all = ["dst:1", "src:1"];

    home.run("-a copy_image --from-image src:1 --to-image dst:1")
        .fails(1, "image dst:1 already exists");
    assert_clean(&home, &all);
    assert!(home.layer("dst", "1").join("old").exists(), "left alone");

    home.run("-a copy_image --from-image src:1 --to-image src:1")
        .fails(1, "cannot be copied onto itself");
    assert_clean(&home, &all);

    home.run("-a copy_image --from-image nope --to-image x")
        .fails(1, "image nope not found");
    assert_clean(&home, &all);

    home.run("-a copy_image --from-image src:1 --to-image dst:1 -f")
        .ok();
    assert!(!home.layer("dst", "1").join("old").exists(), "replaced");
    assert!(home.layer("dst", "1").join("etc/a").is_file());
    assert_clean(&home, &all);
}

#[test]
fn del_image_deletes_versions_then_the_name() {
    let home = TestHome::new();
    home.make_image("web", "1", fill);
    home.make_image("web", "2", fill);
    home.run("-a del_image -m web")
        .fails(1, "image web has several versions (1, 2)");
    assert_clean(&home, &["web:1", "web:2"]);

    assert_eq!(home.run("-a del_image -m web:1").ok(), "OK\n");
    assert_eq!(listed(&home), ["web:2"]);
    assert!(home.path().join("images/web").is_dir(), "web:2 is left");
    home.run("-a del_image -m web").ok();
    assert!(listed(&home).is_empty());
    assert!(!home.path().join("images/web").exists(), "name dir gone");

    home.run("-a del_image -m web:1")
        .fails(1, "image web:1 not found");
    assert_clean(&home, &[]);
}

#[test]
fn del_image_refuses_an_image_in_use_unless_forced() {
    let home = TestHome::new();
    home.make_image("web", "1", fill);
    let c = home.path().join("containers/C");
    fs::create_dir_all(&c).expect("mkdir");
    fs::write(c.join("config.toml"), "images = [\"web:1\"]\n").expect("config");
    home.run("-a del_image -m web:1")
        .fails(1, "image web:1 is used by container C");
    assert_clean(&home, &["web:1"]);
    home.run("-a del_image -m web:1 -f").ok();
    assert_clean(&home, &[]);
}

#[test]
fn concurrent_copies_and_deletes_all_succeed() {
    let home = TestHome::new();
    home.make_image("src", "1", fill);
    for k in 1..=4 {
        home.make_image("other", &k.to_string(), fill);
    }
    let mut lines: Vec<String> = (1..=8)
        .map(|n| format!("-a copy_image --from-image src:1 --to-image dst:{n}"))
        .collect();
    // Each of these deletes an `other` version and copies it back.
    lines.extend((1..=4).map(|k| format!("del+copy {k}")));
    std::thread::scope(|s| {
        let home = &home;
        let handles: Vec<_> = lines
            .iter()
            .map(|line| {
                s.spawn(move || match line.strip_prefix("del+copy ") {
                    None => vec![home.run(line)],
                    Some(k) => vec![
                        home.run(&format!("-a del_image -m other:{k}")),
                        home.run(&format!(
                            "-a copy_image --from-image src:1 --to-image other:{k}"
                        )),
                    ],
                })
            })
            .collect();
        for h in handles {
            for r in h.join().expect("thread") {
                assert_eq!(r.ok(), "OK\n");
            }
        }
    });
    let mut want: Vec<String> = (1..=8).map(|n| format!("dst:{n}")).collect();
    want.extend((1..=4).map(|k| format!("other:{k}")));
    want.push("src:1".to_string());
    assert_clean(&home, &want.iter().map(String::as_str).collect::<Vec<_>>());
    for n in 1..=8 {
        let copied = home.layer("dst", &n.to_string()).join("etc/a");
        assert_eq!(fs::read(copied).expect("copy"), [b'a'; 100]);
    }
}

/// Copies of distinct images run side by side (no shared image lock), so
/// their staging directories are created while other commands start up.
#[test]
fn parallel_copies_of_distinct_images_all_succeed() {
    let home = TestHome::new();
    for k in 0..16 {
        home.make_image(&format!("s{k}"), "1", fill);
    }
    for round in 1..=4 {
        std::thread::scope(|s| {
            let home = &home;
            let handles: Vec<_> = (0..16)
                .map(|k| {
                    s.spawn(move || {
                        home.run(&format!(
                            "-a copy_image --from-image s{k}:1 --to-image d{k}:{round}"
                        ))
                    })
                })
                .collect();
            for h in handles {
                assert_eq!(h.join().expect("thread").ok(), "OK\n");
            }
        });
    }
    assert_eq!(listed(&home).len(), 16 * 5);
    assert_eq!(home.staging_leftovers(), Vec::<String>::new());
}
