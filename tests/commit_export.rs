//! `-a commit` (a new image from a container that stays) and `-a export -c`
//! (a container's whole file system as one importable layer), on real
//! containers.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Desc, RuntimeHome};

/// Runs `script` in running container `c`; its output.
fn run(h: &RuntimeHome, c: &str, script: &str) -> String {
    h.run_in(None, ["-a", "run", "-c", c, "--cmd", script])
        .ok()
        .to_string()
}

/// The state letter of process `pid` (`S`, `R`, `T` for stopped...).
fn proc_state(pid: i32) -> char {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let (_, rest) = stat.rsplit_once(')').expect("comm");
    rest.trim_start().chars().next().expect("state")
}

/// The `-s images --json` entry of `image:version`.
fn image_json(h: &RuntimeHome, image: &str, version: &str) -> serde_json::Value {
    let text = h.run("-s images --json").ok().to_string();
    let all: Vec<serde_json::Value> = serde_json::from_str(&text).expect("json");
    all.into_iter()
        .find(|i| i["image_id"] == image && i["version"] == version)
        .unwrap_or_else(|| panic!("no image {image}:{version} in {text}"))
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn commit_copies_a_running_container_that_runs_on() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c src").ok();
    // xattrs set on the host, in the container's layer, before it boots.
    let rw = h.home.path().join("containers/src/rwlayer");
    fs::write(rw.join("xattrs"), "x\n").expect("write");
    xattr::set(rw.join("xattrs"), "user.origin", b"host").expect("user xattr");
    xattr::set(rw.join("xattrs"), "trusted.keep", b"t").expect("trusted xattr");
    h.run("-a boot -c src").ok();
    let pid = h.pid("src").expect("pid");
    run(
        &h,
        "src",
        "echo data > /root/data; chown 1234:5678 /root/data; ln /root/data /root/link; \
         mkfifo /root/fifo; rm /root/tpl.txt; rm -rf /home; mkdir /home; touch /home/new; \
         (while :; do echo x >> /root/busy; usleep 2000; done) >/dev/null 2>&1 &",
    );
    std::thread::sleep(Duration::from_millis(100));

    let out = h
        .run("-a commit --from-container src --to-image snap --version 1")
        .ok()
        .to_string();
    assert!(
        out.starts_with("OK: image snap:1 made from container src (paused "),
        "{out}"
    );
    assert!(out.trim_end().ends_with("the container stays"), "{out}");
    assert_eq!(h.pid("src"), Some(pid), "the same init runs on");
    let listed = h.run("-s containers").ok().to_string();
    assert!(listed.contains(&format!("RUNNING({pid})")), "{listed}");
    assert_ne!(proc_state(pid), 'T', "continued after the copy");

    // The image is a copy: what the container writes during and after
    // the commit stays out of it.
    let layer = h.home.layer("snap", "1");
    let busy = fs::read(layer.join("root/busy")).expect("busy").len();
    assert!(busy > 0);
    run(&h, "src", "echo after > /root/after");
    std::thread::sleep(Duration::from_millis(100));
    let now: usize = run(&h, "src", "wc -c < /root/busy")
        .trim()
        .parse()
        .expect("size");
    assert!(now > busy, "the writer runs on: {now} > {busy}");
    assert_eq!(fs::read(layer.join("root/busy")).expect("busy").len(), busy);
    assert!(!layer.join("root/after").exists());

    // Everything to_image keeps.
    let data = fs::symlink_metadata(layer.join("root/data")).expect("data");
    assert_eq!((data.uid(), data.gid()), (1234, 5678), "owner kept");
    let link = fs::symlink_metadata(layer.join("root/link")).expect("link");
    assert_eq!(data.ino(), link.ino(), "hard link kept");
    let fifo = fs::symlink_metadata(layer.join("root/fifo")).expect("fifo");
    assert!(fifo.file_type().is_fifo());
    let wh = fs::symlink_metadata(layer.join("root/tpl.txt")).expect("whiteout kept");
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert_eq!(
        xattr::get(layer.join("home"), "trusted.overlay.opaque").expect("xattr"),
        Some(b"y".to_vec()),
        "opaque directory kept"
    );
    assert_eq!(
        xattr::get(layer.join("xattrs"), "user.origin").expect("xattr"),
        Some(b"host".to_vec())
    );
    assert_eq!(
        xattr::get(layer.join("xattrs"), "trusted.keep").expect("xattr"),
        Some(b"t".to_vec())
    );
    // xdocker's run-time files stay out of the image, and in the container.
    for gone in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        assert!(
            fs::symlink_metadata(layer.join(gone)).is_err(),
            "{gone} went into the image"
        );
    }
    assert!(
        rw.join("etc/hosts").is_file(),
        "the container's layer keeps them"
    );
    let json = image_json(&h, "snap", "1");
    assert_eq!(json["base_layers"], serde_json::json!(["test:_"]), "{json}");

    // A second container from the new image sees the files.
    h.run("-a create -m snap:1 -c second").ok();
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "second",
            "-e",
            "cat /root/data /xattrs; ls -ln /root/data; ls /root/tpl.txt 2>&1; ls /home",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("data\nx\n"), "{r:?}");
    assert!(r.stdout.contains(" 1234 "), "owner: {r:?}");
    assert!(r.stdout.contains("No such file"), "whiteout: {r:?}");
    assert!(r.stdout.ends_with("\nnew\n"), "opaque /home: {r:?}");
    h.run("-a kill -c src").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn commit_refuses_in_one_line_and_a_killed_commit_leaves_no_image() {
    let h = RuntimeHome::with_test_image();
    let images = || h.run("-s images").ok().to_string();
    let before = images();
    h.run("-a commit --from-container ghost --to-image x")
        .fails(1, "container ghost not found");
    h.run("-a create -m test -c c").ok();
    h.run("-a commit --from-container c --to-image test")
        .fails(1, "image test:_ already exists");
    assert_eq!(images(), before, "nothing made");
    assert!(h.home.staging_leftovers().is_empty());

    // Killed after the copy: no image, the staging directory goes with the
    // next command, the container runs on.
    h.run("-a boot -c c").ok();
    let pid = h.pid("c").expect("pid");
    run(&h, "c", "echo kept > /root/f");
    let r = h.home.run_with(
        None,
        ["-a", "commit", "--from-container", "c", "--to-image", "x"],
        &[("XDOCKER_TEST_CRASH_AT", OsStr::new("commit.copied"))],
    );
    assert_eq!(r.code, -1, "killed: {r:?}");
    assert_eq!(images(), before, "no half image");
    assert!(h.home.staging_leftovers().is_empty());
    assert_ne!(proc_state(pid), 'T', "the container runs on");
    assert_eq!(run(&h, "c", "cat /root/f"), "kept\n");

    // One its user paused is copied as it is, and stays paused.
    h.run("-a pause -c c").ok();
    let out = h
        .run("-a commit --from-container c --to-image x --version frozen")
        .ok()
        .to_string();
    assert!(!out.contains("paused "), "{out}");
    let listed = h.run("-s containers").ok().to_string();
    assert!(listed.contains(&format!("PAUSED({pid})")), "{listed}");
    h.run("-a continue -c c").ok();

    // A stopped container is copied as it is, without a pause.
    h.run("-a shutdown -c c").ok();
    let out = h
        .run("-a commit --from-container c --to-image x")
        .ok()
        .to_string();
    assert!(
        out.starts_with("OK: image x:_ made from container c (") && !out.contains("paused"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(h.home.layer("x", "_").join("root/f")).expect("f"),
        "kept\n"
    );
    assert!(h.home.path().join("containers/c/rwlayer/root/f").is_file());
}

/// The container's own view of its file system (`/proc/PID/root`) as
/// [`common::snapshot`] describes a tree: the file systems mounted on it
/// (/proc, /sys, /dev) left out, owners as stored (its user namespace's
/// host ids `ids` taken off).
fn merged_view(pid: i32, ids: (u32, u32)) -> BTreeMap<String, Desc> {
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    let mut view = common::snapshot_pruned(&root, false, &mount_points(pid));
    for d in view.values_mut() {
        d.uid -= ids.0;
        d.gid -= ids.1;
    }
    view
}

/// Mount points in the container's mount namespace other than its root,
/// relative to it.
fn mount_points(pid: i32) -> Vec<PathBuf> {
    fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .expect("mountinfo")
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| *m != "/")
        .map(|m| PathBuf::from(m.trim_start_matches('/')))
        .collect()
}

/// The host ids of root inside container `c` (0, 0 when privileged).
fn userns_ids(h: &RuntimeHome, c: &str) -> (u32, u32) {
    let info = h.run(&format!("-s info -c {c}")).ok().to_string();
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("userns: uid "))
        .unwrap_or("0, gid 0 ");
    let (uid, rest) = line.split_once(", gid ").expect("userns line");
    let gid = rest.split_whitespace().next().expect("gid");
    (uid.parse().expect("uid"), gid.parse().expect("gid number"))
}

/// Entries below `prefix` (and `prefix` itself) of a description.
fn without(view: &mut BTreeMap<String, Desc>, prefixes: &[PathBuf]) {
    view.retain(|k, _| !prefixes.iter().any(|p| Path::new(k).starts_with(p)));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_containers_export_imported_again_equals_its_merged_tree() {
    let h = RuntimeHome::with_test_image();
    // A middle layer with a file and a directory the top layer deletes
    // and makes opaque.
    h.run("-a create -m test -c base").ok();
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "base",
            "-e",
            "mkdir -p /opt/mid/keep; echo mid > /opt/mid/gone; echo kept > /opt/mid/keep/f; \
             echo old > /home/old",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    h.run("-a commit --from-container base --to-image mid --version 1")
        .ok();
    h.run("-a create -m mid:1 -c top").ok();
    h.run("-a boot -c top").ok();
    let pid = h.pid("top").expect("pid");
    run(
        &h,
        "top",
        "rm /opt/mid/gone /root/tpl.txt; rm -rf /home; mkdir /home; echo new > /home/new; \
         echo more >> /etc/profile; echo f > /opt/f; ln /opt/f /opt/g; ln -s /etc/passwd /opt/s; \
         chown 1234:5678 /opt/f; mkfifo /opt/fifo",
    );

    let out_dir = h.home.scratch("out");
    let out = h
        .run_in(Some(&out_dir), ["-a", "export", "-c", "top"])
        .ok()
        .to_string();
    assert!(
        out.starts_with("OK: container top exported to top.xdockerimage (paused "),
        "{out}"
    );
    assert_eq!(h.pid("top"), Some(pid), "the container runs on");
    assert_ne!(proc_state(pid), 'T');
    let file = out_dir.join("top.xdockerimage");
    h.run_in(
        None,
        [
            "-a",
            "import",
            "--image-file",
            file.to_str().expect("utf-8"),
        ],
    )
    .ok();
    let json = image_json(&h, "top", "_");
    assert_eq!(json["base_layers"], serde_json::json!([]), "{json}");

    // The imported layer is the container's merged tree.
    let mut imported = common::snapshot(&h.home.layer("top", "_"), false);
    let mut merged = merged_view(pid, userns_ids(&h, "top"));
    let mounted = mount_points(pid);
    without(&mut imported, &mounted);
    // xdocker's run-time files: the container sees xdocker's, the export
    // has the image's.
    let run_time = ["etc/hosts", "etc/hostname", "etc/resolv.conf"].map(PathBuf::from);
    let image_hosts = fs::read(h.home.layer("test", "_").join("etc/hosts")).expect("hosts");
    assert_eq!(imported["etc/hosts"].content, image_hosts);
    assert!(!imported.contains_key("etc/resolv.conf"));
    without(&mut imported, &run_time);
    without(&mut merged, &run_time);
    for gone in ["opt/mid/gone", "root/tpl.txt", "home/old"] {
        assert!(!imported.contains_key(gone), "{gone} is deleted");
    }
    assert!(imported.contains_key("opt/mid/keep/f"));
    assert_eq!(imported["opt/f"].same_inode_as, "opt/f");
    assert_eq!(imported["opt/g"].same_inode_as, "opt/f");
    assert_eq!((imported["opt/f"].uid, imported["opt/f"].gid), (1234, 5678));
    assert_eq!(
        imported.keys().collect::<Vec<_>>(),
        merged.keys().collect::<Vec<_>>()
    );
    for (path, want) in &merged {
        assert_eq!(imported.get(path), Some(want), "{path}");
    }

    // import takes it as an image of its own, without base layers.
    h.run("-a create -m top -c again").ok();
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "again",
            "-e",
            "cat /home/new /opt/mid/keep/f; ls /opt/mid",
        ],
    );
    assert_eq!(r.stdout, "new\nkept\nkeep\n", "{r:?}");

    // Stopped, the container is read in place: the same tree.
    h.run("-a shutdown -c top").ok();
    let stopped = out_dir.join("stopped.xdockerimage");
    let out = h
        .run_in(
            None,
            [
                "-a",
                "export",
                "-c",
                "top",
                "--image-file",
                stopped.to_str().expect("utf-8"),
            ],
        )
        .ok()
        .to_string();
    assert!(!out.contains("paused"), "{out}");
    h.run_in(
        None,
        [
            "-a",
            "import",
            "--image-file",
            stopped.to_str().expect("utf-8"),
            "-m",
            "stopped:1",
        ],
    )
    .ok();
    let mut again = common::snapshot(&h.home.layer("stopped", "1"), false);
    without(&mut again, &mounted);
    without(&mut again, &run_time);
    assert_eq!(again, imported);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_containers_export_refuses_in_one_line_and_leaves_nothing() {
    let h = RuntimeHome::with_test_image();
    let out_dir = h.home.scratch("out");
    h.run_in(Some(&out_dir), ["-a", "export", "-c", "ghost"])
        .fails(1, "container ghost not found");
    assert_eq!(fs::read_dir(&out_dir).expect("dir").count(), 0);
    h.run("-a create -m test -c c").ok();
    fs::write(out_dir.join("c.xdockerimage"), "mine").expect("write");
    h.run_in(Some(&out_dir), ["-a", "export", "-c", "c"])
        .fails(1, "image file c.xdockerimage already exists (use -f");
    assert_eq!(
        fs::read(out_dir.join("c.xdockerimage")).expect("kept"),
        b"mine"
    );
    h.run_in(Some(&out_dir), ["-a", "export", "-c", "c", "-f"])
        .ok();
    h.run("-a export").fails(2, "-a export needs -m/--image");
    h.run("-a export -m test -c c").fails(2, "not both");
    assert!(h.home.staging_leftovers().is_empty());
}
