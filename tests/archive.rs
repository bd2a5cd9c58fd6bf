//! Export and import through the real binary: exact round trips, interop with
//! tar/zstd, and refusal of truncated, corrupted and hostile archives
//! (nothing written outside the image, nothing left behind).

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::{snapshot, TestHome};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

fn set_mtime(p: &Path, secs: i64) {
    let t = nix::sys::time::TimeSpec::new(secs, 0);
    nix::sys::stat::utimensat(
        None,
        p,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .expect("utimensat");
}

/// A layer with every kind of entry an OS image or an overlay upper layer has.
fn fill_rich_layer(l: &Path) {
    fs::create_dir_all(l.join("etc/ssh")).expect("mkdir");
    fs::create_dir_all(l.join("usr/bin")).expect("mkdir");
    fs::create_dir_all(l.join("opaque/sub")).expect("mkdir");
    fs::write(l.join(".hidden"), b"dotfile").expect("write");
    fs::write(l.join("empty"), b"").expect("write");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(l.join("usr/bin/big"), &big).expect("write");
    fs::write(l.join("usr/bin/suid"), b"#!/bin/sh\n").expect("write");
    std::os::unix::fs::lchown(l.join("usr/bin/suid"), Some(1234), Some(5678)).expect("chown");
    fs::set_permissions(l.join("usr/bin/suid"), fs::Permissions::from_mode(0o4755)).expect("chmod");
    fs::create_dir(l.join("tmp")).expect("mkdir");
    fs::set_permissions(l.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod");
    fs::write(l.join("etc/ssh/key"), b"secret").expect("write");
    fs::set_permissions(l.join("etc/ssh/key"), fs::Permissions::from_mode(0o600)).expect("chmod");
    symlink("/etc/passwd", l.join("abs-link")).expect("symlink");
    symlink("../missing", l.join("etc/dangling")).expect("symlink");
    fs::write(l.join("usr/bin/a"), b"hard").expect("write");
    fs::hard_link(l.join("usr/bin/a"), l.join("etc/a-hardlink")).expect("link");
    let long = "d".repeat(120);
    fs::create_dir_all(l.join(&long)).expect("mkdir long");
    fs::write(l.join(&long).join("f".repeat(150)), b"long name").expect("write long");
    nix::unistd::mkfifo(&l.join("fifo"), Mode::from_bits_truncate(0o640)).expect("mkfifo");
    mknod(
        &l.join("whiteout"),
        SFlag::S_IFCHR,
        Mode::empty(),
        makedev(0, 0),
    )
    .expect("whiteout");
    mknod(
        &l.join("null"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(1, 3),
    )
    .expect("mknod");
    mknod(
        &l.join("loop0"),
        SFlag::S_IFBLK,
        Mode::from_bits_truncate(0o660),
        makedev(7, 0),
    )
    .expect("mknod");
    xattr::set(l.join("opaque"), "trusted.overlay.opaque", b"y").expect("xattr");
    xattr::set(l.join("usr/bin/big"), "user.note", b"binary\0value\n").expect("xattr");
    xattr::set(
        l.join("usr/bin/suid"),
        "security.capability",
        &[
            1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    )
    .expect("capability xattr");
    set_mtime(&l.join("usr/bin/big"), 1_000_000_000);
    set_mtime(&l.join("abs-link"), 1_100_000_000);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn export_import_round_trip_is_exact() {
    common::needs_root();
    let h = TestHome::new();
    h.make_image("rich", "1.0", fill_rich_layer);
    let before = snapshot(&h.layer("rich", "1.0"), false);
    let out = h.scratch("out");
    h.run_in(Some(&out), ["-a", "export", "-m", "rich:1.0"])
        .ok();
    let file = out.join("rich:1.0.xdockerimage");
    assert!(file.is_file(), "default file name NAME:V.xdockerimage");
    // Exporting again refuses to overwrite; -f replaces.
    h.run_in(Some(&out), ["-a", "export", "-m", "rich:1.0"])
        .fails(1, "image file rich:1.0.xdockerimage already exists");
    h.run_in(Some(&out), ["-a", "export", "-m", "rich:1.0", "-f"])
        .ok();
    h.run("-a del_image -m rich:1.0").ok();
    h.run_in(
        None,
        ["-a", "import", "--image-file", file.to_str().expect("utf8")],
    )
    .ok();
    let after = snapshot(&h.layer("rich", "1.0"), false);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (k, v) in &before {
        assert_eq!(Some(v), after.get(k), "entry {k}");
    }
    // Importing over an existing version needs -f.
    h.run_in(
        None,
        ["-a", "import", "--image-file", file.to_str().expect("utf8")],
    )
    .fails(1, "image rich:1.0 already exists");
    assert!(h.staging_leftovers().is_empty());
    // The same file under another name with -m.
    h.run_in(
        None,
        [
            "-a",
            "import",
            "--image-file",
            file.to_str().expect("utf8"),
            "-m",
            "other:2",
        ],
    )
    .ok();
    assert_eq!(snapshot(&h.layer("other", "2"), false), before);
}

#[test]
fn archive_is_a_standard_tar_zst() {
    let h = TestHome::new();
    h.make_image("std", "_", |l| {
        fs::write(l.join("hello"), b"world").expect("write");
    });
    let out = h.scratch("out");
    h.run_in(Some(&out), ["-a", "export", "-m", "std"]).ok();
    let file = out.join("std.xdockerimage");
    let listing = Command::new("sh")
        .arg("-c")
        .arg("zstd -dc \"$1\" | tar -tf -")
        .arg("sh")
        .arg(&file)
        .output()
        .expect("zstd | tar");
    assert!(listing.status.success(), "{listing:?}");
    let names = String::from_utf8_lossy(&listing.stdout);
    let names: Vec<&str> = names.lines().collect();
    assert_eq!(names.first(), Some(&"xdocker-manifest.toml"));
    assert_eq!(names.last(), Some(&"xdocker-checksum.toml"));
    assert!(names.contains(&"rlayer/hello"), "{names:?}");
    // Recompressed with gzip, it still imports (the checksum is of the tar).
    let gz = out.join("std.tar.gz");
    let st = Command::new("sh")
        .arg("-c")
        .arg("zstd -dc \"$1\" | gzip -c > \"$2\"")
        .arg("sh")
        .arg(&file)
        .arg(&gz)
        .status()
        .expect("recompress");
    assert!(st.success());
    h.run_in(
        None,
        [
            "-a",
            "import",
            "--image-file",
            gz.to_str().expect("utf8"),
            "-m",
            "gz:1",
        ],
    )
    .ok();
    assert_eq!(
        fs::read(h.layer("gz", "1").join("hello")).expect("read"),
        b"world"
    );
}

fn decompress(file: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    zstd::Decoder::new(fs::File::open(file).expect("open"))
        .expect("decoder")
        .read_to_end(&mut out)
        .expect("decompress");
    out
}

fn compress(data: &[u8], file: &Path) {
    let mut enc = zstd::Encoder::new(fs::File::create(file).expect("create"), 3).expect("enc");
    enc.write_all(data).expect("write");
    enc.finish().expect("finish");
}

/// Runs an import that must fail; checks one clear line, no image, no staging.
#[track_caller]
fn refused(h: &TestHome, file: &Path, name: Option<&str>, needle: &str) {
    let mut args = vec!["-a", "import", "--image-file", file.to_str().expect("utf8")];
    if let Some(n) = name {
        args.extend(["-m", n]);
    }
    let before = h.run("-s images").ok().to_string();
    h.run_in(None, args).fails(1, needle);
    assert_eq!(h.run("-s images").ok(), before, "no image appears");
    assert!(
        h.staging_leftovers().is_empty(),
        "staging left: {:?}",
        h.staging_leftovers()
    );
}

#[test]
fn truncated_and_corrupted_archives_leave_nothing() {
    let h = TestHome::new();
    h.make_image("img", "1", |l| {
        let data: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
        fs::write(l.join("data"), &data).expect("write");
        fs::write(l.join("small"), b"abc").expect("write");
    });
    let out = h.scratch("out");
    h.run_in(Some(&out), ["-a", "export", "-m", "img:1"]).ok();
    let good = out.join("img:1.xdockerimage");
    h.run("-a del_image -m img:1").ok();

    let bytes = fs::read(&good).expect("read");
    let cut = out.join("cut.xdockerimage");
    fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    refused(&h, &cut, None, "read archive: incomplete frame");

    let empty = out.join("empty.xdockerimage");
    fs::write(&empty, b"").expect("write");
    refused(
        &h,
        &empty,
        None,
        "archive is truncated or incomplete: the file is empty",
    );

    // Content changed but recompressed cleanly: only the checksum can tell.
    let mut tar = decompress(&good);
    let at = tar
        .windows(3)
        .position(|w| w == b"abc")
        .expect("find content");
    tar[at] = b'X';
    let tampered = out.join("tampered.xdockerimage");
    compress(&tar, &tampered);
    refused(&h, &tampered, None, "checksum mismatch");

    // The tar cut before its checksum entry.
    let tar = decompress(&good);
    let no_sum = out.join("nosum.xdockerimage");
    let pos = tar
        .windows(b"xdocker-checksum.toml".len())
        .position(|w| w == b"xdocker-checksum.toml")
        .expect("checksum entry");
    compress(&tar[..pos], &no_sum);
    refused(
        &h,
        &no_sum,
        None,
        "archive is truncated or incomplete: the checksum entry is missing",
    );

    // A plain tar without manifest needs -m.
    let plain = out.join("plain.tar");
    plain_tar(&plain, &[Entry::file("a", b"x")]);
    refused(&h, &plain, None, "needs the image name from -m");
}

/// One entry of a hand-made tar, with raw names so hostile ones can be made.
struct Entry {
    name: Vec<u8>,
    kind: tar::EntryType,
    link: Vec<u8>,
    data: Vec<u8>,
}

impl Entry {
    fn file(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.into(),
            kind: tar::EntryType::Regular,
            link: Vec::new(),
            data: data.to_vec(),
        }
    }
    fn dir(name: &str) -> Self {
        Self {
            name: name.into(),
            kind: tar::EntryType::Directory,
            link: Vec::new(),
            data: Vec::new(),
        }
    }
    fn symlink(name: &str, target: &str) -> Self {
        Self {
            name: name.into(),
            kind: tar::EntryType::Symlink,
            link: target.into(),
            data: Vec::new(),
        }
    }
    fn hardlink(name: &str, target: &str) -> Self {
        Self {
            name: name.into(),
            kind: tar::EntryType::Link,
            link: target.into(),
            data: Vec::new(),
        }
    }
}

/// Writes a plain (docker export style) tar with raw header names.
fn plain_tar(path: &Path, entries: &[Entry]) {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_ustar();
        {
            let raw = h.as_old_mut();
            raw.name[..e.name.len()].copy_from_slice(&e.name);
            raw.linkname[..e.link.len()].copy_from_slice(&e.link);
        }
        h.set_entry_type(e.kind);
        h.set_mode(if e.kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(e.data.len() as u64);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    fs::write(path, out).expect("write tar");
}

/// Attack class: path traversal by archive entries ("zip slip";
/// CVE-2014-9356/CVE-2014-9357 `docker load` class): absolute names, `..`,
/// links pointing out, entries through earlier symlinks.
#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn hostile_archives_never_touch_the_host() {
    common::needs_root();
    let h = TestHome::new();
    let out = h.scratch("hostile");
    let victim_dir = h.scratch("victim");
    let victim = victim_dir.join("file");
    fs::write(&victim, b"original").expect("write");
    let v = victim_dir.to_str().expect("utf8").to_string();
    let vf = victim.to_str().expect("utf8").to_string();

    let cases: Vec<(&str, Vec<Entry>, &str)> = vec![
        (
            "absolute",
            vec![Entry::file(&format!("{v}/abs"), b"pwn")],
            "path is absolute",
        ),
        (
            "dotdot",
            vec![Entry::file("a/../../escape", b"pwn")],
            "'..'",
        ),
        (
            "through-symlink-dir",
            vec![Entry::symlink("s", &v), Entry::file("s/pwned", b"pwn")],
            "is not a directory",
        ),
        (
            "through-relative-symlink",
            vec![
                Entry::dir("d"),
                Entry::symlink("d/up", "../../../.."),
                Entry::file("d/up/pwned", b"pwn"),
            ],
            "is not a directory",
        ),
        (
            "hardlink-absolute",
            vec![Entry::hardlink("h", &vf)],
            "path is absolute",
        ),
        (
            "hardlink-dotdot",
            vec![Entry::hardlink("h", "../../file")],
            "'..'",
        ),
        (
            "hardlink-not-earlier",
            vec![Entry::hardlink("h", "etc/shadow")],
            "not an earlier file",
        ),
        (
            "hardlink-through-symlink",
            vec![Entry::symlink("s", &v), Entry::hardlink("h", "s/file")],
            "not an earlier file",
        ),
    ];
    for (name, entries, needle) in cases {
        let file = out.join(format!("{name}.tar"));
        plain_tar(&file, &entries);
        refused(&h, &file, Some(&format!("evil-{name}:1")), needle);
        assert_eq!(fs::read(&victim).expect("victim"), b"original", "{name}");
        let names: Vec<_> = fs::read_dir(&victim_dir)
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            names.len(),
            1,
            "{name}: nothing created next to the victim: {names:?}"
        );
    }
    assert!(!h.path().join("escape").exists() && !out.join("escape").exists());

    // A file entry over an earlier symlink replaces the link, never writes
    // through it.
    let file = out.join("replace-symlink.tar");
    plain_tar(&file, &[Entry::symlink("s", &vf), Entry::file("s", b"new")]);
    h.run_in(
        None,
        [
            "-a",
            "import",
            "--image-file",
            file.to_str().expect("utf8"),
            "-m",
            "ok:1",
        ],
    )
    .ok();
    assert_eq!(fs::read(&victim).expect("victim"), b"original");
    assert_eq!(
        fs::read(h.layer("ok", "1").join("s")).expect("read"),
        b"new"
    );
}

#[test]
fn entries_outside_the_layer_in_an_xdockerimage_are_refused() {
    let h = TestHome::new();
    h.make_image("x", "1", |l| fs::write(l.join("f"), b"1").expect("write"));
    let out = h.scratch("out");
    h.run_in(Some(&out), ["-a", "export", "-m", "x:1"]).ok();
    let good = out.join("x:1.xdockerimage");
    // Rename rlayer/f to zlayer/f in the tar: same length, fix the header sum.
    let mut tar = decompress(&good);
    let pos = tar
        .windows(8)
        .position(|w| w == b"rlayer/f")
        .expect("entry");
    let header_start = pos - pos % 512;
    tar[pos] = b'z';
    let mut h2 = tar::Header::new_old();
    h2.as_mut_bytes()
        .copy_from_slice(&tar[header_start..header_start + 512]);
    h2.set_cksum();
    tar[header_start..header_start + 512].copy_from_slice(h2.as_bytes());
    let bad = out.join("bad.xdockerimage");
    compress(&tar, &bad);
    refused(&h, &bad, Some("y:1"), "not below rlayer/");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn docker_export_tarballs_import_with_a_name() {
    common::needs_root();
    let h = TestHome::new();
    let out = h.scratch("docker");
    // Shaped like `docker export`: no leading ./, dirs, a symlink, a hard link.
    let entries = vec![
        Entry::file(".dockerenv", b""),
        Entry::dir("bin/"),
        Entry::file("bin/busybox", b"\x7fELF"),
        Entry::hardlink("bin/sh", "bin/busybox"),
        Entry::symlink("bin/ls", "busybox"),
        Entry::dir("etc/"),
        Entry::file("etc/hostname", b"box\n"),
    ];
    let tar = out.join("rootfs.tar");
    plain_tar(&tar, &entries);
    h.run_in(
        None,
        [
            "-a",
            "import",
            "--image-file",
            tar.to_str().expect("utf8"),
            "-m",
            "dock:1",
        ],
    )
    .ok();
    let l = h.layer("dock", "1");
    assert_eq!(fs::read(l.join("etc/hostname")).expect("read"), b"box\n");
    assert_eq!(
        fs::read_link(l.join("bin/ls")).expect("link"),
        Path::new("busybox")
    );
    assert_eq!(
        fs::metadata(l.join("bin/sh")).expect("stat").ino(),
        fs::metadata(l.join("bin/busybox")).expect("stat").ino()
    );
    // The same as .tar.gz.
    let gz = out.join("rootfs.tar.gz");
    let st = Command::new("gzip")
        .arg("-k")
        .arg(&tar)
        .status()
        .expect("gzip");
    assert!(st.success());
    h.run_in(
        None,
        [
            "-a",
            "import",
            "--image-file",
            gz.to_str().expect("utf8"),
            "-m",
            "dock:2",
        ],
    )
    .ok();
    assert_eq!(snapshot(&h.layer("dock", "2"), false), snapshot(&l, false));
    let images = h.run("-s images").ok().to_string();
    assert!(
        images.contains("dock") && images.lines().count() == 3,
        "{images}"
    );
}
