//! The ssh image repository against a real OpenSSH server: each test starts
//! its own `sshd` on 127.0.0.1 with a private config, host key, client key
//! and known_hosts in a temp dir, and stops it (and every process it forked)
//! by PID at the end, even when the test fails.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::sshd::{keygen, pub_key, Sshd};
use common::{Run, TestHome};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

// ------------------------------------------------------------------ sshd

/// What the repository tests ask of the private sshd.
impl Sshd {
    /// `--srepo` for this server: the repository is an absolute path.
    fn srepo(&self) -> String {
        format!("root@127.0.0.1:{}{}", self.port, self.repo().display())
    }

    /// Files of the repository directory.
    fn files(&self) -> BTreeSet<String> {
        fs::read_dir(self.repo())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

// ------------------------------------------------------------------ running

/// Runs xdocker with `home`, the test's ssh dir, and no ssh-agent.
fn xd(home: &TestHome, sshd: &Sshd, args: &[&str]) -> Run {
    xd_env(home, &sshd.ssh_dir(), args)
}

fn xd_env(home: &TestHome, ssh_dir: &Path, args: &[&str]) -> Run {
    let out = command(home, ssh_dir, args).output().expect("run xdocker");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn command(home: &TestHome, ssh_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.args(args)
        .env("XDOCKER_HOME", home.path())
        .env_remove("xdocker_HOME")
        .env_remove("SSH_AUTH_SOCK")
        .env("XDOCKER_SSH_DIR", ssh_dir)
        .current_dir(home.path())
        .stdin(Stdio::null());
    cmd
}

fn log_of(home: &TestHome) -> String {
    fs::read_to_string(home.path().join("xdocker.log")).unwrap_or_default()
}

/// Rows of `-s ssearch` as `NAME:VERSION`.
fn listed(home: &TestHome, sshd: &Sshd) -> Vec<String> {
    let r = xd(home, sshd, &["-s", "ssearch", "--json"]);
    let v: serde_json::Value = serde_json::from_str(r.ok()).expect("json");
    v.as_array()
        .expect("array")
        .iter()
        .map(|row| {
            format!(
                "{}:{}",
                row["image_id"].as_str().expect("id"),
                row["version"].as_str().expect("v")
            )
        })
        .collect()
}

// ------------------------------------------------------------------ layers

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

/// A layer with owners, modes, links, xattrs and special files.
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
    fs::write(l.join("etc/ssh/key"), b"secret").expect("write");
    fs::set_permissions(l.join("etc/ssh/key"), fs::Permissions::from_mode(0o600)).expect("chmod");
    symlink("/etc/passwd", l.join("abs-link")).expect("symlink");
    symlink("../missing", l.join("etc/dangling")).expect("symlink");
    fs::write(l.join("usr/bin/a"), b"hard").expect("write");
    fs::hard_link(l.join("usr/bin/a"), l.join("etc/a-hardlink")).expect("link");
    nix::unistd::mkfifo(&l.join("fifo"), Mode::from_bits_truncate(0o640)).expect("mkfifo");
    mknod(
        &l.join("whiteout"),
        SFlag::S_IFCHR,
        Mode::empty(),
        makedev(0, 0),
    )
    .expect("whiteout");
    xattr::set(l.join("opaque"), "trusted.overlay.opaque", b"y").expect("xattr");
    xattr::set(l.join("usr/bin/big"), "user.note", b"binary\0value\n").expect("xattr");
    set_mtime(&l.join("usr/bin/big"), 1_000_000_000);
    set_mtime(&l.join("abs-link"), 1_100_000_000);
}

/// A small image `name:version` whose one file says `text`.
fn small_image(home: &TestHome, name: &str, version: &str, text: &str) {
    home.make_image(name, version, |l| {
        fs::write(l.join("hello"), text).expect("write");
    });
}

/// An image of `mb` MiB of random data (incompressible: the transfer takes a
/// moment even on loopback).
fn random_image(home: &TestHome, name: &str, version: &str, mb: usize) {
    home.make_image(name, version, |l| {
        let mut data = vec![0u8; mb << 20];
        fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut data))
            .expect("urandom");
        fs::write(l.join("random.bin"), &data).expect("write");
    });
}

/// The uncompressed tar of an .xdockerimage without its two metadata entries'
/// headers that carry the export time: the manifest's header block and the
/// trailing checksum entry. What remains is the same for two exports of one
/// image.
fn stable_tar(file: &Path) -> Vec<u8> {
    let data = zstd::decode_all(fs::File::open(file).expect("open")).expect("zstd");
    let mut at = 0;
    let mut checksum_at = None;
    while at + 512 <= data.len() {
        let h = &data[at..at + 512];
        if h.iter().all(|b| *b == 0) {
            break;
        }
        let name_end = h[..100].iter().position(|b| *b == 0).unwrap_or(100);
        if &h[..name_end] == b"xdocker-checksum.toml" {
            checksum_at = Some(at);
            break;
        }
        let size_field = std::str::from_utf8(&h[124..136])
            .expect("size")
            .trim_matches(|c: char| c == '\0' || c == ' ');
        let size = u64::from_str_radix(size_field, 8).expect("octal size") as usize;
        at += 512 + size.div_ceil(512) * 512;
    }
    data[512..checksum_at.expect("checksum entry")].to_vec()
}

// ------------------------------------------------------------------ tests

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn round_trip_search_and_saved_repository() {
    common::needs_root();
    let sshd = Sshd::start();
    let src = TestHome::new();
    src.make_image("rich", "1.0", fill_rich_layer);
    small_image(&src, "db", "2.0", "db");

    // No repository saved and none given: one clear line.
    xd(&src, &sshd, &["-s", "ssearch"]).fails(1, "no ssh repository: give --srepo");
    // Given once, saved; later commands use it.
    let srepo = sshd.srepo();
    xd(
        &src,
        &sshd,
        &["-a", "spush", "-m", "rich:1.0", "--srepo", &srepo],
    )
    .ok();
    let toml = fs::read_to_string(src.path().join("xdocker.toml")).expect("config");
    assert!(toml.contains(&format!("srepo = \"{srepo}\"")), "{toml}");
    xd(&src, &sshd, &["-a", "spush", "-m", "db:2.0"]).ok();
    assert_eq!(
        sshd.files(),
        BTreeSet::from(
            [
                "db:2.0.xdockerimage",
                "db:2.0.xdockerimage.sha256",
                "rich:1.0.xdockerimage",
                "rich:1.0.xdockerimage.sha256",
            ]
            .map(String::from)
        )
    );

    // ssearch: the table of -s images, sorted by name; --match filters.
    let table = xd(&src, &sshd, &["-s", "ssearch"]).ok().to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["image_id", "version", "modify_datetime", "size"]);
    assert!(
        lines[1].starts_with("db ") && lines[2].starts_with("rich "),
        "{table}"
    );
    let size = fs::metadata(sshd.repo().join("db:2.0.xdockerimage"))
        .expect("stat")
        .len();
    // (a small image: its size in bytes, with the unit)
    assert!(lines[1].ends_with(&format!(" {size}B")), "{table}");
    let only = xd(&src, &sshd, &["-s", "ssearch", "--match", "ric"])
        .ok()
        .to_string();
    assert_eq!(only.lines().count(), 2, "{only}");
    assert!(
        only.lines().nth(1).is_some_and(|l| l.starts_with("rich ")),
        "{only}"
    );
    let none = xd(&src, &sshd, &["-s", "ssearch", "--match", "nothing"])
        .ok()
        .to_string();
    assert_eq!(none.lines().count(), 1, "{none}");
    let json: serde_json::Value =
        serde_json::from_str(xd(&src, &sshd, &["-s", "ssearch", "--json"]).ok()).expect("json");
    assert_eq!(json[0]["image_id"], "db");
    assert_eq!(json[0]["size"], size);

    // Pull into an empty home: the same tree, the same archive content.
    let dst = TestHome::new();
    xd(
        &dst,
        &sshd,
        &["-a", "spull", "-m", "rich:1.0", "--srepo", &srepo],
    )
    .ok();
    assert_eq!(
        common::snapshot(&src.layer("rich", "1.0"), true),
        common::snapshot(&dst.layer("rich", "1.0"), true)
    );
    assert!(
        dst.staging_leftovers().is_empty(),
        "{:?}",
        dst.staging_leftovers()
    );
    let scratch = src.scratch("exports");
    let (a, b) = (
        scratch.join("a.xdockerimage"),
        scratch.join("b.xdockerimage"),
    );
    for (h, f) in [(&src, &a), (&dst, &b)] {
        let mut args: Vec<&OsStr> = ["-a", "export", "-m", "rich:1.0", "--image-file"]
            .into_iter()
            .map(OsStr::new)
            .collect();
        args.push(f.as_os_str());
        h.run_in(None, args).ok();
    }
    let (ta, tb) = (stable_tar(&a), stable_tar(&b));
    assert!(ta == tb, "re-exports differ");
    let meta = fs::read_to_string(dst.path().join("images/rich/1.0/image.toml")).expect("meta");
    assert!(meta.contains("spull from"), "{meta}");
    // Pulling it again needs -f; with -f it is replaced.
    xd(&dst, &sshd, &["-a", "spull", "-m", "rich:1.0"])
        .fails(1, "image rich:1.0 already exists (use -f");
    xd(&dst, &sshd, &["-a", "spull", "-m", "rich:1.0", "-f"]).ok();
    xd(&dst, &sshd, &["-a", "spull", "-m", "nothere"]).fails(1, "image nothere not found");
    // Pushing the pulled image back is a no-op: the content is the same.
    let before = fs::metadata(sshd.repo().join("rich:1.0.xdockerimage")).expect("stat");
    xd(&dst, &sshd, &["-a", "spush", "-m", "rich:1.0"]).ok();
    let after = fs::metadata(sshd.repo().join("rich:1.0.xdockerimage")).expect("stat");
    assert_eq!(
        before.ino(),
        after.ino(),
        "the repository file was not replaced"
    );
    assert!(log_of(&dst).contains("nothing pushed"));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn highest_version_no_op_and_force() {
    common::needs_root();
    let sshd = Sshd::start();
    let src = TestHome::new();
    small_image(&src, "web", "1.9.2", "old");
    small_image(&src, "web", "1.10.0", "new");
    small_image(&src, "web", "_", "none");
    let srepo = sshd.srepo();
    for v in ["web:1.9.2", "web:1.10.0", "web:_"] {
        xd(&src, &sshd, &["-a", "spush", "-m", v, "--srepo", &srepo]).ok();
    }
    assert!(sshd.repo().join("web.xdockerimage").is_file());
    assert_eq!(listed(&src, &sshd), ["web:_", "web:1.9.2", "web:1.10.0"]);

    // spull without a version takes the highest.
    let dst = TestHome::new();
    xd(
        &dst,
        &sshd,
        &["-a", "spull", "-m", "web", "--srepo", &srepo],
    )
    .ok();
    assert_eq!(
        fs::read_to_string(dst.layer("web", "1.10.0").join("hello")).expect("read"),
        "new"
    );
    assert!(!dst.path().join("images/web/1.9.2").exists());

    // The same image again: a no-op (the file stays, nothing is rewritten).
    let file = sshd.repo().join("web:1.9.2.xdockerimage");
    let before = fs::metadata(&file).expect("stat");
    let r = xd(&src, &sshd, &["-a", "spush", "-m", "web:1.9.2"]);
    assert_eq!(r.ok(), "OK\n");
    let after = fs::metadata(&file).expect("stat");
    assert_eq!((before.ino(), before.mtime()), (after.ino(), after.mtime()));
    assert!(log_of(&src).contains("nothing pushed"));

    // A different image under the same version needs -f.
    fs::write(src.layer("web", "1.9.2").join("hello"), "changed").expect("write");
    xd(&src, &sshd, &["-a", "spush", "-m", "web:1.9.2"])
        .fails(1, "image web:1.9.2 already in the repository (use -f)");
    assert_eq!(fs::metadata(&file).expect("stat").ino(), before.ino());
    xd(&src, &sshd, &["-a", "spush", "-m", "web:1.9.2", "-f"]).ok();
    assert_ne!(fs::metadata(&file).expect("stat").ino(), before.ino());
    let other = TestHome::new();
    xd(
        &other,
        &sshd,
        &["-a", "spull", "-m", "web:1.9.2", "--srepo", &srepo],
    )
    .ok();
    assert_eq!(
        fs::read_to_string(other.layer("web", "1.9.2").join("hello")).expect("read"),
        "changed"
    );
    // Nothing but images and sidecars is left in the repository.
    assert!(
        sshd.files().iter().all(|f| !f.starts_with('.')),
        "{:?}",
        sshd.files()
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn host_keys_and_client_keys_are_checked() {
    common::needs_root();
    let sshd = Sshd::start();
    let home = TestHome::new();
    small_image(&home, "web", "1", "x");
    let srepo = sshd.srepo();
    let push = ["-a", "spush", "-m", "web:1", "--srepo", srepo.as_str()];
    let host = format!("[127.0.0.1]:{}", sshd.port);

    // Unknown host key: an empty known_hosts, then none at all.
    let empty = home.scratch("empty-ssh");
    fs::copy(sshd.ssh_dir().join("id_ed25519"), empty.join("id_ed25519")).expect("copy key");
    fs::write(empty.join("known_hosts"), "").expect("write");
    let line = xd_env(&home, &empty, &push)
        .fails(1, &format!("host key of {host}"))
        .to_string();
    let known_hosts = empty.join("known_hosts");
    assert!(
        line.contains(&format!(
            "is not in {}: refusing to connect",
            known_hosts.display()
        )),
        "{line}"
    );
    fs::remove_file(&known_hosts).expect("rm");
    xd_env(&home, &empty, &push).fails(
        1,
        &format!(
            "is not in {} (which does not exist): refusing to connect",
            known_hosts.display()
        ),
    );
    assert!(
        sshd.files().is_empty(),
        "nothing transferred: {:?}",
        sshd.files()
    );

    // Changed host key: known_hosts names another key for this host (and
    // the right key only for port 22, which must not count for this port).
    let changed = home.scratch("changed-ssh");
    fs::copy(
        sshd.ssh_dir().join("id_ed25519"),
        changed.join("id_ed25519"),
    )
    .expect("copy key");
    keygen(&changed.join("other_host"));
    fs::write(
        changed.join("known_hosts"),
        format!(
            "127.0.0.1 {}\n{host} {}\n",
            pub_key(&sshd.dir.path().join("host_ed25519")),
            pub_key(&changed.join("other_host"))
        ),
    )
    .expect("write");
    let line = xd_env(&home, &changed, &push)
        .fails(1, &format!("host key of {host}"))
        .to_string();
    assert!(
        line.contains("does not match") && line.contains("known_hosts"),
        "{line}"
    );
    assert!(sshd.files().is_empty());

    // Wrong client key.
    let wrong = home.scratch("wrong-ssh");
    fs::copy(
        sshd.ssh_dir().join("known_hosts"),
        wrong.join("known_hosts"),
    )
    .expect("copy");
    keygen(&wrong.join("id_ed25519"));
    xd_env(&home, &wrong, &push).fails(1, "authentication as root failed");
    // An encrypted key is named.
    fs::remove_file(wrong.join("id_ed25519")).expect("rm");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "passphrase", "-f"])
        .arg(wrong.join("id_ed25519"))
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success());
    xd_env(&home, &wrong, &push).fails(1, "id_ed25519 is encrypted (use ssh-agent)");
    assert!(sshd.files().is_empty());

    // The right keys work.
    xd(&home, &sshd, &push).ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn junk_in_the_repository_is_ignored() {
    common::needs_root();
    let sshd = Sshd::start();
    let home = TestHome::new();
    small_image(&home, "web", "1.0", "x");
    xd(
        &home,
        &sshd,
        &["-a", "spush", "-m", "web:1.0", "--srepo", &sshd.srepo()],
    )
    .ok();
    let r = sshd.repo();
    for f in [
        "README",
        "web:_.xdockerimage",
        "..xdockerimage",
        "-x.xdockerimage",
        "bad name:1.xdockerimage",
        "web:1:2.xdockerimage",
        "db:1.0.xdockerimage.sha256",
        ".web:2.0.xdockerimage.tmp.0123456789abcdef",
    ] {
        fs::write(r.join(f), "junk").expect("junk");
    }
    fs::create_dir(r.join("sub:1.xdockerimage")).expect("mkdir");
    symlink("/etc/passwd", r.join("link:1.xdockerimage")).expect("symlink");
    symlink("../..", r.join("up:1.xdockerimage")).expect("symlink");
    assert_eq!(listed(&home, &sshd), ["web:1.0"]);
    for missing in ["link:1", "sub:1", "up:1", "db:1.0"] {
        xd(&home, &sshd, &["-a", "spull", "-m", missing])
            .fails(1, &format!("image {missing} not found"));
    }
    // A young temporary file (maybe a push in progress) is left alone.
    small_image(&home, "db", "1", "y");
    xd(&home, &sshd, &["-a", "spush", "-m", "db:1"]).ok();
    assert!(r
        .join(".web:2.0.xdockerimage.tmp.0123456789abcdef")
        .exists());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn corrupted_repository_file_is_refused() {
    common::needs_root();
    let sshd = Sshd::start();
    let src = TestHome::new();
    random_image(&src, "web", "1", 2);
    let srepo = sshd.srepo();
    xd(
        &src,
        &sshd,
        &["-a", "spush", "-m", "web:1", "--srepo", &srepo],
    )
    .ok();
    let file = sshd.repo().join("web:1.xdockerimage");
    let mut data = fs::read(&file).expect("read");
    let at = data.len() / 2;
    data[at] ^= 0x40;
    fs::write(&file, &data).expect("write");
    let dst = TestHome::new();
    xd(
        &dst,
        &sshd,
        &["-a", "spull", "-m", "web:1", "--srepo", &srepo],
    )
    .fails(1, "web:1.xdockerimage: archive checksum mismatch");
    assert!(!dst.path().join("images/web").exists());
    assert!(
        dst.staging_leftovers().is_empty(),
        "{:?}",
        dst.staging_leftovers()
    );
    // A truncated file (its sidecar says otherwise) is refused before reading.
    data[at] ^= 0x40;
    fs::write(&file, &data[..data.len() - 100]).expect("write");
    xd(&dst, &sshd, &["-a", "spull", "-m", "web:1"]).fails(1, "web:1.xdockerimage is corrupted");
    assert!(!dst.path().join("images/web").exists());
    assert!(dst.staging_leftovers().is_empty());
}

/// Waits until `pred` holds, polling fast; false after `secs`.
fn wait_for(secs: u64, mut pred: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if pred() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn dropped_connection_leaves_nothing_on_either_side() {
    common::needs_root();
    let mut sshd = Sshd::start();
    let home = TestHome::new();
    random_image(&home, "big", "1", 160);
    let srepo = sshd.srepo();

    // Push, and kill sshd once the upload is under way.
    let push = command(
        &home,
        &sshd.ssh_dir(),
        &["-a", "spush", "-m", "big:1", "--srepo", &srepo],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn spush");
    let repo = sshd.repo();
    let temp_with_data = || {
        fs::read_dir(&repo)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.file_name().to_string_lossy().contains(".tmp.")
                    && e.metadata().is_ok_and(|m| m.len() > 0)
            })
    };
    assert!(wait_for(60, temp_with_data), "the upload never started");
    sshd.stop();
    let out = push.wait_with_output().expect("wait spush");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the push must fail: {stderr}");
    assert!(
        stderr.starts_with("xdocker: error: ssh repository"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(home.staging_leftovers().is_empty());

    // The server kept the temp file (the client could not remove it); it is
    // never listed, and a later push removes it once it is stale (> 1 h).
    sshd.spawn();
    let temps: Vec<String> = sshd
        .files()
        .into_iter()
        .filter(|f| f.starts_with('.'))
        .collect();
    assert!(!temps.is_empty(), "{:?}", sshd.files());
    assert!(!sshd.files().iter().any(|f| f.ends_with(".xdockerimage")));
    assert!(listed(&home, &sshd).is_empty());
    for t in &temps {
        set_mtime(&repo.join(t), chrono::Utc::now().timestamp() - 7200);
    }
    small_image(&home, "small", "1", "s");
    xd(&home, &sshd, &["-a", "spush", "-m", "small:1"]).ok();
    assert!(
        sshd.files().iter().all(|f| !f.starts_with('.')),
        "stale temps removed: {:?}",
        sshd.files()
    );
    assert!(log_of(&home).contains("removed stale"));

    // Pull, and kill sshd once the download is under way.
    xd(&home, &sshd, &["-a", "spush", "-m", "big:1"]).ok();
    let dst = TestHome::new();
    let pull = command(
        &dst,
        &sshd.ssh_dir(),
        &["-a", "spull", "-m", "big:1", "--srepo", &srepo],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn spull");
    let staged = dst.path().join("tmp");
    let extracting = || {
        fs::read_dir(&staged)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.path().is_dir()
                    && fs::metadata(e.path().join("rlayer/random.bin")).is_ok_and(|m| m.len() > 0)
            })
    };
    assert!(wait_for(60, extracting), "the download never started");
    sshd.stop();
    let out = pull.wait_with_output().expect("wait spull");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the pull must fail: {stderr}");
    assert!(
        stderr.starts_with("xdocker: error: ssh repository"),
        "{stderr}"
    );
    assert!(!dst.path().join("images/big").exists());
    assert!(
        dst.staging_leftovers().is_empty(),
        "{:?}",
        dst.staging_leftovers()
    );
}
