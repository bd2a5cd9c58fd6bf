//! putfile, getfile and rplfile on real containers (root): round trips that
//! keep modes, owners and symlinks, atomic replacement, and every way a
//! symlink planted in the container could reach a host file (the source,
//! the destination, an intermediate directory, a template, an instance, a
//! link inside a copied tree), each checked against a host "victim".

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{Run, RuntimeHome};

/// A booted container of the test image: its home and its root as the
/// test reaches it (`/proc/PID/root`, for setting up and checking only).
struct Booted {
    h: RuntimeHome,
    name: String,
    root: PathBuf,
}

impl Booted {
    fn new(name: &str) -> Self {
        Self::with(name, &[])
    }

    /// A privileged container (`--userns off`): these tests prepare and
    /// check its files as host root through /proc/PID/root, which a
    /// container with a user namespace refuses (tests/userns.rs has the
    /// file commands of the default kind).
    fn with(name: &str, extra: &[&str]) -> Self {
        let h = RuntimeHome::new();
        h.install_test();
        let mut args = vec![
            "-a", "create", "-m", "test", "-c", name, "-b", "--userns", "off",
        ];
        args.extend_from_slice(extra);
        h.run_in(None, args).ok();
        let pid = h.pid(name).expect("booted container has a pid");
        let root = PathBuf::from(format!("/proc/{pid}/root"));
        Self {
            h,
            name: name.to_string(),
            root,
        }
    }

    /// A path inside the container, as the test (host) reaches it.
    fn inside(&self, ctr: &str) -> PathBuf {
        self.root.join(ctr.trim_start_matches('/'))
    }

    fn run(&self, args: &[&str]) -> Run {
        self.h.run_in(None, args)
    }

    fn put(&self, src: &Path, dst: &str) -> Run {
        let src = src.to_str().expect("utf8 path");
        self.run(&[
            "-a",
            "putfile",
            "-c",
            &self.name,
            "--src-file",
            src,
            "--dst-file",
            dst,
        ])
    }

    fn get(&self, src: &str, dst: &Path) -> Run {
        let dst = dst.to_str().expect("utf8 path");
        self.run(&[
            "-a",
            "getfile",
            "-c",
            &self.name,
            "--src-file",
            src,
            "--dst-file",
            dst,
        ])
    }

    fn rpl(&self, template: &str, mapping: &Path, instance: Option<&str>) -> Run {
        let mapping = mapping.to_str().expect("utf8 path");
        let mut args = vec![
            "-a",
            "rplfile",
            "-c",
            &self.name,
            "--template-file",
            template,
            "--mapping-file",
            mapping,
        ];
        if let Some(i) = instance {
            args.extend_from_slice(&["--instance-file", i]);
        }
        self.run(&args)
    }

    fn scratch(&self, name: &str) -> PathBuf {
        self.h.home.scratch(name)
    }
}

/// Everything a copy keeps about one entry.
#[derive(Debug, PartialEq)]
struct Entry {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    content: Option<Vec<u8>>,
    link: Option<PathBuf>,
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let p = root.join(&rel);
        let m = fs::symlink_metadata(&p).expect("lstat");
        let ft = m.file_type();
        if ft.is_dir() {
            for e in fs::read_dir(&p).expect("ls") {
                todo.push(rel.join(e.expect("entry").file_name()));
            }
        }
        out.insert(
            rel,
            Entry {
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                mtime: if ft.is_dir() { 0 } else { m.mtime() },
                content: ft.is_file().then(|| fs::read(&p).expect("read")),
                link: ft
                    .is_symlink()
                    .then(|| fs::read_link(&p).expect("readlink")),
            },
        );
    }
    out
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).expect("lstat").mode() & 0o7777
}

/// A host tree with nested directories, modes, owners and symlinks.
fn host_tree(dir: &Path) {
    fs::create_dir_all(dir.join("a/b/c")).expect("mkdir");
    fs::write(dir.join("a/b/c/deep.txt"), "deep\n").expect("write");
    fs::write(dir.join("run.sh"), "#!/bin/sh\necho hi\n").expect("write");
    fs::write(dir.join("empty"), "").expect("write");
    fs::write(dir.join(".hidden"), "dot").expect("write");
    fs::set_permissions(dir.join("run.sh"), fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::set_permissions(
        dir.join("a/b/c/deep.txt"),
        fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    lchown(dir.join("a/b/c/deep.txt"), Some(1234), Some(5678)).expect("chown");
    lchown(dir.join("a/b"), Some(42), Some(43)).expect("chown");
    fs::set_permissions(dir.join("a/b"), fs::Permissions::from_mode(0o750)).expect("chmod");
    symlink("b/c/deep.txt", dir.join("a/rel-link")).expect("symlink");
    symlink("/etc/passwd", dir.join("abs-link")).expect("symlink");
    symlink("/", dir.join("slash")).expect("symlink");
    lchown(dir.join("abs-link"), Some(7), Some(8)).expect("chown");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn putfile_and_getfile_round_trips() {
    common::needs_root();
    let c = Booted::new("trip");
    let src = c.scratch("src").join("tree");
    host_tree(&src);
    let want = snapshot(&src);

    // A directory to a new path: created with everything in it.
    assert_eq!(c.put(&src, "/root/tree").ok(), "OK\n");
    assert_eq!(snapshot(&c.inside("/root/tree")), want);
    // Symlinks went in as symlinks: the container's `slash` is its own `/`.
    assert_eq!(
        fs::read_link(c.inside("/root/tree/slash")).expect("link"),
        Path::new("/")
    );

    // Into an existing directory: like `cp -r src dir/`.
    fs::create_dir_all(c.inside("/srv")).expect("mkdir");
    c.put(&src, "/srv").ok();
    assert_eq!(snapshot(&c.inside("/srv/tree")), want);
    // Again onto the same place: merged, files replaced, nothing doubled.
    fs::write(c.inside("/srv/tree/only-in-container"), "keep").expect("write");
    c.put(&src, "/srv").ok();
    assert!(!c.inside("/srv/tree/tree").exists());
    assert_eq!(
        fs::read(c.inside("/srv/tree/only-in-container")).expect("read"),
        b"keep"
    );
    fs::remove_file(c.inside("/srv/tree/only-in-container")).expect("rm");
    assert_eq!(snapshot(&c.inside("/srv/tree")), want);

    // And back out: the same tree on the host.
    let out = c.scratch("out");
    assert_eq!(c.get("/root/tree", &out.join("copy")).ok(), "OK\n");
    assert_eq!(snapshot(&out.join("copy")), want);
    // Into an existing host directory.
    c.get("/root/tree", &out).ok();
    assert_eq!(snapshot(&out.join("tree")), want);

    // Single files, both ways, keeping mode and owner.
    let file = c.scratch("single").join("conf");
    fs::write(&file, "x = 1\n").expect("write");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o604)).expect("chmod");
    lchown(&file, Some(1000), Some(100)).expect("chown");
    c.put(&file, "/etc/app.conf").ok();
    let m = fs::metadata(c.inside("/etc/app.conf")).expect("stat");
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o604, 1000, 100));
    c.put(&file, "/tmp").ok();
    assert_eq!(fs::read(c.inside("/tmp/conf")).expect("read"), b"x = 1\n");
    let back = out.join("app.conf");
    c.get("/etc/app.conf", &back).ok();
    assert_eq!(fs::read(&back).expect("read"), b"x = 1\n");
    let m = fs::metadata(&back).expect("stat");
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o604, 1000, 100));

    // Errors: one line naming the container, the path and the reason.
    let line = c
        .get("/no/such", &out.join("x"))
        .fails(
            1,
            "container trip: getfile: open /no/such: no such file or directory",
        )
        .to_string();
    assert!(!out.join("x").exists(), "{line}");
    c.put(&c.scratch("nothing").join("missing"), "/root/x")
        .fails(1, "missing: no such file or directory");
    c.put(&src, "/root/missing-dir/tree")
        .fails(1, "/root/missing-dir/tree: no such file or directory");
    c.put(&src, "/etc/app.conf").fails(
        1,
        "/etc/app.conf: is a regular file; a directory cannot replace it",
    );
    c.put(&file, "/root/tree/a").ok(); // into the directory
    fs::create_dir(c.inside("/root/tree/conf-dir")).expect("mkdir");
    fs::create_dir(c.inside("/root/tree/conf-dir/conf")).expect("mkdir");
    c.put(&file, "/root/tree/conf-dir").fails(
        1,
        "/root/tree/conf-dir/conf: is a directory; a file cannot replace it",
    );
    // Device nodes never leave the container, alone or inside a tree.
    c.get("/dev/null", &out.join("null"))
        .fails(1, "/dev/null: is a character device");
    c.get("/dev", &out.join("dev"))
        .fails(1, "/dev/console: is a character device");
    assert!(!out.join("null").exists() && !out.join("dev").exists());
    let leftovers: Vec<_> = fs::read_dir(&out)
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n.to_string_lossy().starts_with(".xdocker-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A stopped container is refused, a missing one is not found.
    c.run(&["-a", "shutdown", "-c", "trip"]).ok();
    c.put(&file, "/root/x")
        .fails(1, "container trip is not running");
    c.get("/etc/passwd", &out.join("p"))
        .fails(1, "container trip is not running");
    c.rpl("/root/tpl.txt", &file, Some("/root/x"))
        .fails(1, "container trip is not running");
    c.run(&[
        "-a",
        "putfile",
        "-c",
        "nope",
        "--src-file",
        "/etc/hostname",
        "--dst-file",
        "/x",
    ])
    .fails(1, "container nope not found");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn overwrites_replace_atomically() {
    common::needs_root();
    let c = Booted::new("atomic");
    let dir = c.scratch("files");
    let (old, new) = (dir.join("old"), dir.join("new"));
    fs::write(&old, "old content that is longer\n").expect("write");
    fs::write(&new, "new\n").expect("write");
    c.put(&old, "/root/f").ok();
    // A reader holding the old file, and a hard link to it, keep the old
    // content: the new file was renamed over the name, not written into.
    let mut reader = fs::File::open(c.inside("/root/f")).expect("open");
    fs::hard_link(c.inside("/root/f"), c.inside("/root/f.link")).expect("link");
    let ino = fs::metadata(c.inside("/root/f")).expect("stat").ino();
    c.put(&new, "/root/f").ok();
    assert_eq!(fs::read(c.inside("/root/f")).expect("read"), b"new\n");
    assert_ne!(fs::metadata(c.inside("/root/f")).expect("stat").ino(), ino);
    let mut seen = String::new();
    reader.read_to_string(&mut seen).expect("read");
    assert_eq!(seen, "old content that is longer\n");
    assert_eq!(
        fs::read(c.inside("/root/f.link")).expect("read"),
        b"old content that is longer\n"
    );
    // Same on the host side of getfile.
    let host = dir.join("host-copy");
    fs::write(&host, "previous host content, long\n").expect("write");
    let mut host_reader = fs::File::open(&host).expect("open");
    c.get("/root/f", &host).ok();
    assert_eq!(fs::read(&host).expect("read"), b"new\n");
    let mut seen = String::new();
    host_reader.read_to_string(&mut seen).expect("read");
    assert_eq!(seen, "previous host content, long\n");
    // No temporary file left on either side.
    for d in [c.inside("/root"), dir.clone()] {
        let tmp: Vec<_> = fs::read_dir(&d)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("xdocker-tmp"))
            .collect();
        assert!(tmp.is_empty(), "{}: {tmp:?}", d.display());
    }
}

/// Attack class: symlinks planted by root inside redirect a host-side copy
/// to host files (CVE-2014-6407/CVE-2019-14271 `docker cp` class).
#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn hostile_symlinks_never_reach_the_host() {
    common::needs_root();
    let c = Booted::new("hostile");
    let out = c.scratch("out");
    let victims = c.scratch("victims");
    let host_shadow = fs::read("/etc/shadow").unwrap_or_default();
    let host_hostname = fs::read("/etc/hostname").unwrap_or_default();

    // (1) getfile source: an absolute link to /etc/shadow is the container's.
    fs::write(c.inside("/etc/shadow"), "root:container-shadow-marker:::\n").expect("write");
    symlink("/etc/shadow", c.inside("/root/evil")).expect("symlink");
    c.get("/root/evil", &out.join("shadow")).ok();
    let got = fs::read(out.join("shadow")).expect("read");
    assert_eq!(got, b"root:container-shadow-marker:::\n");
    assert_ne!(got, host_shadow);
    // ... and an absolute link to a host-only path does not exist inside.
    let secret = victims.join("secret");
    fs::write(&secret, "HOST SECRET").expect("write");
    symlink(&secret, c.inside("/root/evil2")).expect("symlink");
    c.get("/root/evil2", &out.join("secret"))
        .fails(1, "open /root/evil2: no such file or directory");
    assert!(!out.join("secret").exists());

    // (2) getfile source through a `..` link: climbs to the container's root only.
    fs::write(c.inside("/etc/hostname"), "container-hostname-marker\n").expect("write");
    symlink("../../../../..", c.inside("/root/up")).expect("symlink");
    c.get("/root/up/etc/hostname", &out.join("hostname")).ok();
    let got = fs::read(out.join("hostname")).expect("read");
    assert_eq!(got, b"container-hostname-marker\n");
    assert_ne!(got, host_hostname);
    c.get("/root/up/../../../etc/hostname", &out.join("hostname2"))
        .ok();
    assert_eq!(fs::read(out.join("hostname2")).expect("read"), got);

    // Magic links of the container's /proc are refused, never followed.
    symlink("/proc/1/root/etc/hostname", c.inside("/root/magic")).expect("symlink");
    c.get("/root/magic", &out.join("magic"))
        .fails(1, "open /root/magic: too many symbolic links");
    assert!(!out.join("magic").exists());

    // (3) putfile destination: a link to a host file.
    let victim = victims.join("victim");
    fs::write(&victim, "original").expect("write");
    symlink(&victim, c.inside("/root/dst")).expect("symlink");
    let payload = c.scratch("payload").join("p");
    fs::write(&payload, "PAYLOAD").expect("write");
    c.put(&payload, "/root/dst").fails(
        1,
        &format!(
            "open directory of /root/dst -> {}: no such file or directory",
            victim.display()
        ),
    );
    assert_eq!(fs::read(&victim).expect("read"), b"original");
    // Once the same path exists inside, the write lands there, still not on the host.
    let victims_inside = c.inside(victims.to_str().expect("utf8"));
    fs::create_dir_all(&victims_inside).expect("mkdir inside");
    c.put(&payload, "/root/dst").ok();
    assert_eq!(
        fs::read(victims_inside.join("victim")).expect("read"),
        b"PAYLOAD"
    );
    assert_eq!(fs::read(&victim).expect("read"), b"original");
    assert!(fs::symlink_metadata(c.inside("/root/dst"))
        .expect("lstat")
        .is_symlink());
    // Remove that inside copy again (the whole test home path), so that
    // the host paths below do not exist inside the container.
    fs::remove_dir_all(c.inside(c.h.home.path().to_str().expect("utf8"))).expect("rm inside");

    // (4) an intermediate directory: /root/dir -> <host dir>, then /root/dir/x.
    let host_dir = c.scratch("hostdir");
    symlink(&host_dir, c.inside("/root/dir")).expect("symlink");
    c.put(&payload, "/root/dir/x").fails(
        1,
        "open directory of /root/dir/x: no such file or directory",
    );
    c.put(&payload, "/root/dir").fails(
        1,
        &format!(
            "open directory of /root/dir -> {}: no such file or directory",
            host_dir.display()
        ),
    );
    let src_tree = c.scratch("tree-src");
    fs::write(src_tree.join("t"), "t").expect("write");
    c.put(&src_tree, "/root/dir/sub").fails(
        1,
        "open directory of /root/dir/sub: no such file or directory",
    );
    assert_eq!(
        fs::read_dir(&host_dir).expect("ls").count(),
        0,
        "nothing in the host dir"
    );
    c.put(&payload, "/proc/1/cwd/x")
        .fails(1, "/proc/1/cwd/x: too many symbolic links");
    // A `..` path in the destination stays inside as well.
    c.put(&payload, "/root/../../../../x").ok();
    assert_eq!(fs::read(c.inside("/x")).expect("read"), b"PAYLOAD");

    // (5) rplfile: a template linked to a host file is not read, an
    // instance linked to a host file is not written.
    let mapping = c.scratch("map").join("m");
    fs::write(&mapping, "${LEAF} leaf\nHOST x\n").expect("write");
    symlink(&secret, c.inside("/root/t.tpl")).expect("symlink");
    c.rpl("/root/t.tpl", &mapping, None).fails(
        1,
        "container hostile: rplfile: open /root/t.tpl: no such file or directory",
    );
    assert!(!c.inside("/root/t").exists());
    symlink(&victim, c.inside("/root/inst")).expect("symlink");
    c.rpl("/root/tpl.txt", &mapping, Some("/root/inst")).fails(
        1,
        &format!(
            "open directory of /root/inst -> {}: no such file or directory",
            victim.display()
        ),
    );
    assert_eq!(fs::read(&victim).expect("read"), b"original");
    assert_eq!(fs::read(&secret).expect("read"), b"HOST SECRET");

    // (6) getfile of a tree holding a link to `/` copies the link only.
    fs::create_dir(c.inside("/root/tree")).expect("mkdir");
    fs::write(c.inside("/root/tree/f"), "f").expect("write");
    symlink("/", c.inside("/root/tree/slash")).expect("symlink");
    symlink("../../../../../..", c.inside("/root/tree/up")).expect("symlink");
    symlink(&host_dir, c.inside("/root/tree/hostdir")).expect("symlink");
    c.get("/root/tree", &out.join("tree")).ok();
    let mut names: Vec<String> = fs::read_dir(out.join("tree"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["f", "hostdir", "slash", "up"]);
    assert_eq!(
        fs::read_link(out.join("tree/slash")).expect("link"),
        Path::new("/")
    );
    assert_eq!(
        fs::read_link(out.join("tree/hostdir")).expect("link"),
        host_dir
    );
    // And putfile of a host tree with such links into the container: links stay links.
    c.put(&out.join("tree"), "/root/tree-again").ok();
    assert!(fs::symlink_metadata(c.inside("/root/tree-again/slash"))
        .expect("lstat")
        .is_symlink());
    assert_eq!(fs::read_dir(&host_dir).expect("ls").count(), 0);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn putfile_reaches_volumes_inside_the_container() {
    common::needs_root();
    let h_share = tempfile::tempdir().expect("tempdir");
    let share = h_share.path().to_path_buf();
    let spec = format!("{}:/srv/data", share.display());
    let c = Booted::with("vols", &["--volume", &spec]);
    let file = c.scratch("f").join("in.txt");
    fs::write(&file, "into the volume\n").expect("write");
    c.put(&file, "/srv/data").ok();
    assert_eq!(
        fs::read(share.join("in.txt")).expect("read"),
        b"into the volume\n"
    );
    fs::write(share.join("from-host"), "out").expect("write");
    let back = c.scratch("back").join("from-host");
    c.get("/srv/data/from-host", &back).ok();
    assert_eq!(fs::read(&back).expect("read"), b"out");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn rplfile_instantiates_templates_inside() {
    common::needs_root();
    let c = Booted::new("tpl");
    let maps = c.scratch("maps");
    let mapping = maps.join("leaf.map");
    fs::write(
        &mapping,
        "# the test image's template\n${LEAF} a value with spaces\n",
    )
    .expect("write");

    // The test image's /root/tpl.txt, into a new instance: the template's mode.
    assert_eq!(
        c.rpl("/root/tpl.txt", &mapping, Some("/root/tpl.json"))
            .ok(),
        "OK\n"
    );
    assert_eq!(
        fs::read_to_string(c.inside("/root/tpl.json")).expect("read"),
        "{ \"leaf\":\"a value with spaces\" }\n"
    );
    assert_eq!(
        mode(&c.inside("/root/tpl.json")),
        mode(&c.inside("/root/tpl.txt"))
    );
    // The template is untouched.
    assert_eq!(
        fs::read_to_string(c.inside("/root/tpl.txt")).expect("read"),
        "{ \"leaf\":\"${LEAF}\" }\n"
    );

    // An existing, longer instance: truncated, keeps its mode and owner.
    let inst = c.inside("/root/inst.json");
    fs::write(&inst, "x".repeat(4096)).expect("write");
    fs::set_permissions(&inst, fs::Permissions::from_mode(0o600)).expect("chmod");
    lchown(&inst, Some(33), Some(44)).expect("chown");
    c.rpl("/root/tpl.txt", &mapping, Some("/root/inst.json"))
        .ok();
    assert_eq!(
        fs::read_to_string(&inst).expect("read"),
        "{ \"leaf\":\"a value with spaces\" }\n"
    );
    let m = fs::metadata(&inst).expect("stat");
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o600, 33, 44));

    // One pass, longest key first, values holding keys are not rescanned.
    fs::write(
        c.inside("/etc/app.conf.tpl"),
        "host=$HOST port=${PORT} hostname=$HOSTNAME self=${SELF}\n",
    )
    .expect("write");
    fs::set_permissions(
        c.inside("/etc/app.conf.tpl"),
        fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    let map2 = maps.join("app.map");
    fs::write(
        &map2,
        "$HOST db.local\n$HOSTNAME web 1\n${PORT}\n${SELF} [${SELF}]\n",
    )
    .expect("write");
    // Default instance: the template without .tpl.
    c.rpl("/etc/app.conf.tpl", &map2, None).ok();
    assert_eq!(
        fs::read_to_string(c.inside("/etc/app.conf")).expect("read"),
        "host=db.local port= hostname=web 1 self=[${SELF}]\n"
    );
    assert_eq!(mode(&c.inside("/etc/app.conf")), 0o640);

    // Refusals: a bad mapping names its line; a directory as instance.
    // (No .tpl and no --instance-file: in place, tests/new_user.rs.)
    let bad = maps.join("bad.map");
    fs::write(&bad, "A 1\n\nA 2\n").expect("write");
    c.rpl("/root/tpl.txt", &bad, Some("/root/x"))
        .fails(1, "line 3: key A is already defined on line 1");
    c.rpl("/root/tpl.txt", &mapping, Some("/root"))
        .fails(1, "/root: is a directory");
    c.rpl("/root/none.tpl", &mapping, None)
        .fails(1, "open /root/none.tpl: no such file or directory");
    assert!(!c.inside("/root/none").exists());
}

/// Attack class: a directory swapped for a symlink while the host copies
/// (CVE-2018-15664, the `docker cp` symlink-exchange race).
#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_directory_swapped_for_a_symlink_mid_copy_never_reaches_the_host() {
    common::needs_root();
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let c = Booted::new("race");
    let host_dir = c.scratch("race-host");
    fs::write(host_dir.join("secret"), "HOST SECRET").expect("write");
    let base = c.inside("/root");
    fs::create_dir(base.join("d")).expect("mkdir");
    fs::write(base.join("d/f"), "container file").expect("write");
    symlink(&host_dir, base.join("l")).expect("symlink");
    let payload = c.scratch("payload").join("x");
    fs::write(&payload, "PAYLOAD").expect("write");
    let out = c.scratch("out");

    // A process of the container (here: the test, through its root) keeps
    // exchanging the directory `d` and the symlink `l` to a host directory.
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        let (d, l) = (base.join("d"), base.join("l"));
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                nix::fcntl::renameat2(None, &d, None, &l, nix::fcntl::RenameFlags::RENAME_EXCHANGE)
                    .expect("exchange");
                swaps += 1;
            }
            swaps
        })
    };
    let mut succeeded = 0;
    for i in 0..30 {
        // Either lands in the container's directory or fails: never the host's.
        let runs = [
            c.put(&payload, "/root/d/x"),
            c.put(&payload, &format!("/root/d/sub{i}")),
            c.get("/root/d", &out.join(format!("copy{i}"))),
            c.get("/root/d/f", &out.join(format!("f{i}"))),
        ];
        succeeded += runs.iter().filter(|r| r.code == 0).count();
    }
    assert!(succeeded > 0, "some copies ran while `d` was the directory");
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    assert!(swaps > 0);

    let names: Vec<_> = fs::read_dir(&host_dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["secret"], "nothing written into the host directory");
    assert_eq!(
        fs::read(host_dir.join("secret")).expect("read"),
        b"HOST SECRET"
    );
    // Nothing copied out holds the host's file.
    let mut todo = vec![out.clone()];
    while let Some(p) = todo.pop() {
        let m = fs::symlink_metadata(&p).expect("lstat");
        if m.is_dir() {
            for e in fs::read_dir(&p).expect("ls") {
                todo.push(e.expect("entry").path());
            }
        } else if m.is_file() {
            assert_ne!(
                fs::read(&p).expect("read"),
                b"HOST SECRET",
                "{}",
                p.display()
            );
        }
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn sparse_files_keep_their_holes_and_getfile_never_fills_the_host_disk() {
    common::needs_root();
    use std::os::unix::fs::MetadataExt;
    let c = Booted::new("sparse");
    // 2 GiB long, 8 bytes of data: a container could fill the host's disk
    // with it if the holes were filled in.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = fs::File::create(c.inside("/big.sparse")).expect("create");
        f.write_all(b"head").expect("write");
        f.seek(SeekFrom::Start(1 << 30)).expect("seek");
        f.write_all(b"tail").expect("write");
        f.set_len(2 << 30).expect("len");
    }
    let out = c.scratch("sparse");
    c.get("/big.sparse", &out.join("big")).ok();
    let m = fs::metadata(out.join("big")).expect("got");
    assert_eq!(m.len(), 2 << 30);
    assert!(
        m.blocks() * 512 < 1 << 20,
        "{} bytes on disk",
        m.blocks() * 512
    );
    c.put(&out.join("big"), "/back.sparse").ok();
    let m = fs::metadata(c.inside("/back.sparse")).expect("put");
    assert_eq!(m.len(), 2 << 30);
    assert!(
        m.blocks() * 512 < 1 << 20,
        "{} bytes on disk",
        m.blocks() * 512
    );
    // A file with more data than the host's file system has free is
    // refused before a byte is written (a 1 MiB tmpfs here).
    fs::write(c.inside("/dense"), vec![7u8; 4 << 20]).expect("dense");
    let small = c.scratch("small");
    nix::mount::mount(
        Some("tmpfs"),
        &small,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .expect("tmpfs");
    let r = c.get("/dense", &small.join("dense"));
    let _ = nix::mount::umount2(&small, nix::mount::MntFlags::MNT_DETACH);
    r.fails(1, "are free on the host's file system");
}
