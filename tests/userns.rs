//! `--userns`: root inside a container is an unprivileged host id from the
//! home's range, the image layers stay shared and unchanged on disk
//! (idmapped mounts, nothing chowned), and files crossing the namespace
//! (putfile, getfile, rplfile, to_image) keep the owners seen inside.

mod common;

use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::Path;

use common::RuntimeHome;

/// The output of `CMD` run by root inside `c`.
fn inside(h: &RuntimeHome, c: &str, cmd: &str) -> String {
    h.run_in(None, ["-a", "run", "-c", c, "--cmd", cmd])
        .ok()
        .trim()
        .to_string()
}

/// The first (real) id of `field` (Uid, Gid) of a host process.
fn host_id(pid: i32, field: &str) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in status of {pid}"))
}

fn owner(path: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.gid())
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn root_inside_is_an_unprivileged_host_id_and_layers_stay_shared() {
    // Class: root in a container being root on the host, which every
    // breakout of the CVE-2019-5736 kind relies on; containers sharing a
    // host uid.
    let h = RuntimeHome::with_test_image();
    h.set_userns_range("1100000:131072");
    let layer_passwd = h.home.layer("test", "_").join("etc/passwd");
    let before = std::fs::metadata(&layer_passwd).expect("layer file");
    let host_name = nix::unistd::gethostname().expect("hostname");

    h.run("-a create -m test -c one --userns on --net CUSTOM -b")
        .ok();
    h.run("-a create -m test -c two --userns on -b").ok();
    let (one, two) = (h.pid("one").expect("pid"), h.pid("two").expect("pid"));

    // On the host each init runs as its own slot of unprivileged ids.
    assert_eq!(
        (host_id(one, "Uid"), host_id(one, "Gid")),
        (1100000, 1100000)
    );
    assert_eq!(
        (host_id(two, "Uid"), host_id(two, "Gid")),
        (1165536, 1165536)
    );
    let map = std::fs::read_to_string(format!("/proc/{one}/uid_map")).expect("uid_map");
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "1100000", "65536"]
    );
    // Inside it is root, and the image's files are root's.
    assert_eq!(
        inside(&h, "one", "id -u; id -g; stat -c %u:%g /etc/passwd /bin"),
        "0\n0\n0:0\n0:0"
    );
    let info = h.run("-s info -c one").ok().to_string();
    assert!(
        info.contains("userns: uid 1100000, gid 1100000 (+65536)\n"),
        "{info}"
    );
    let list = h.run("-s containers").ok().to_string();
    for c in ["one", "two"] {
        let row = list.lines().find(|l| l.starts_with(c)).expect("listed");
        assert!(row.contains("RUNNING("), "{list}");
    }

    // What root inside writes is stored as root's on disk: the writable
    // layer can become an image like any other.
    inside(
        &h,
        "one",
        "echo made > /made && mkdir /made-dir && rm /etc/group && echo done",
    );
    let rw = h.home.path().join("containers/one/rwlayer");
    assert_eq!(owner(&rw.join("made")), (0, 0));
    assert_eq!(owner(&rw.join("made-dir")), (0, 0));
    let whiteout = std::fs::symlink_metadata(rw.join("etc/group")).expect("whiteout");
    assert_eq!((whiteout.rdev(), whiteout.uid()), (0, 0));
    assert!(h.home.layer("test", "_").join("etc/group").exists());
    // The shared image layer was never chowned nor touched.
    let after = std::fs::metadata(&layer_passwd).expect("layer file");
    assert_eq!((after.uid(), after.ctime()), (0, before.ctime()));
    assert_ne!(inside(&h, "two", "wc -l < /etc/group"), "0");

    // Its namespaces are its own: the hostname, the network (CUSTOM), a
    // tmpfs of its own; the host's are untouched.
    assert_eq!(inside(&h, "one", "hostname renamed && hostname"), "renamed");
    assert_eq!(nix::unistd::gethostname().expect("hostname"), host_name);
    assert_eq!(
        inside(
            &h,
            "one",
            "ip addr add 10.99.0.1/32 dev lo && ip -4 -o addr show dev lo | grep -c 10.99.0.1"
        ),
        "1"
    );
    assert_eq!(
        inside(&h, "one", "mount -t tmpfs t /mnt && echo mounted"),
        "mounted"
    );
    // ... but what xdocker mounted before it entered its namespace is
    // locked: a masked /proc file stays masked.
    assert_eq!(
        inside(
            &h,
            "one",
            "umount /proc/timer_list 2>/dev/null; umount -l /proc/sys 2>/dev/null; \
             wc -c < /proc/timer_list; touch /proc/sys/kernel/x 2>/dev/null || echo ro"
        ),
        "0\nro"
    );

    let netns = info
        .lines()
        .find_map(|l| l.strip_prefix("netns: "))
        .expect("netns line")
        .to_string();
    assert!(common::netns_names().contains(&netns), "{info}");
    h.run("-a kill -c one").ok();
    h.run("-a kill -c two").ok();
    // The namespaces made for it went with it.
    assert!(!common::netns_names().contains(&netns));
    assert!(common::mounts_below(h.home.path()).is_empty());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn root_inside_has_no_power_over_host_files() {
    // Class: host files reached through a volume; planting a setuid-root
    // program for the host (the second half of most breakouts).
    let h = RuntimeHome::with_test_image();
    h.set_userns_range("1300000:65536");
    let host_dir = h.home.scratch("hostroot");
    std::fs::create_dir_all(&host_dir).expect("mkdir");
    std::fs::set_permissions(&host_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let secret = host_dir.join("secret");
    std::fs::write(&secret, "host secret\n").expect("write");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let shared = h.home.scratch("shared");
    std::fs::create_dir_all(&shared).expect("mkdir");
    chown(&shared, Some(1300000), Some(1300000)).expect("chown");

    h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "guest",
            "--userns",
            "on",
            "--volume",
            &format!("{}:/host", host_dir.display()),
            "--volume",
            &format!("{}:/shared", shared.display()),
            "-b",
        ],
    )
    .ok();
    // Host root's files are nobody's inside, and closed to root there.
    assert_eq!(
        inside(&h, "guest", "stat -c %u:%g /host/secret"),
        "65534:65534"
    );
    assert_eq!(
        inside(
            &h,
            "guest",
            "cat /host/secret 2>/dev/null || echo denied; touch /host/new 2>/dev/null || echo denied"
        ),
        "denied\ndenied"
    );
    assert!(!host_dir.join("new").exists());
    // A "setuid root" program made inside is the container's root's on the
    // host, not host root's.
    inside(
        &h,
        "guest",
        "cp /bin/busybox /shared/suid && chmod 4755 /shared/suid && echo ok",
    );
    let planted = std::fs::metadata(shared.join("suid")).expect("planted");
    assert_eq!(planted.uid(), 1300000);
    // Device nodes cannot be made, whatever the capabilities.
    assert_eq!(
        inside(
            &h,
            "guest",
            "mknod /tmp/disk b 8 0 2>/dev/null || echo refused"
        ),
        "refused"
    );
    h.run("-a kill -c guest").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn files_cross_the_namespace_with_the_owners_seen_inside() {
    let h = RuntimeHome::with_test_image();
    h.set_userns_range("1400000:65536");
    h.run("-a create -m test -c f --userns on -b").ok();
    let files = h.home.scratch("files");

    // putfile: host owners become the same owners inside.
    let conf = files.join("app.conf");
    std::fs::write(&conf, "x=1\n").expect("write");
    chown(&conf, Some(1000), Some(1000)).expect("chown");
    let tree = files.join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("mkdir");
    std::fs::write(tree.join("sub/file"), "f\n").expect("write");
    for (src, dst) in [(&conf, "/etc/app.conf"), (&tree, "/opt/tree")] {
        h.run_in(
            None,
            [
                "-a",
                "putfile",
                "-c",
                "f",
                "--src-file",
                src.to_str().expect("utf-8"),
                "--dst-file",
                dst,
            ],
        )
        .ok();
    }
    assert_eq!(
        inside(
            &h,
            "f",
            "stat -c %u:%g /etc/app.conf /opt/tree /opt/tree/sub/file"
        ),
        "1000:1000\n0:0\n0:0"
    );
    let rw = h.home.path().join("containers/f/rwlayer");
    assert_eq!(owner(&rw.join("etc/app.conf")), (1000, 1000));
    assert_eq!(owner(&rw.join("opt/tree/sub/file")), (0, 0));

    // Host root itself has no id inside: it cannot create files through
    // /proc/PID/root (existing ones it may edit).
    let pid = h.pid("f").expect("pid");
    let e = std::fs::write(format!("/proc/{pid}/root/host-made"), "x")
        .expect_err("host root created a file inside");
    assert_eq!(e.raw_os_error(), Some(libc::EOVERFLOW), "{e}");
    std::fs::write(format!("/proc/{pid}/root/etc/app.conf"), "x=2\n").expect("edit");
    assert_eq!(inside(&h, "f", "cat /etc/app.conf"), "x=2");

    // getfile: owners inside become the same owners on the host.
    inside(
        &h,
        "f",
        "echo u > /home-file && chown 1001:1002 /home-file && echo ok",
    );
    for (src, name, want) in [
        ("/etc/passwd", "passwd", (0, 0)),
        ("/home-file", "home-file", (1001, 1002)),
    ] {
        let dst = files.join(name);
        h.run_in(
            None,
            [
                "-a",
                "getfile",
                "-c",
                "f",
                "--src-file",
                src,
                "--dst-file",
                dst.to_str().expect("utf-8"),
            ],
        )
        .ok();
        assert_eq!(owner(&dst), want, "{src}");
    }

    // rplfile: a new instance is made as the template's owner inside.
    inside(&h, "f", "echo 'port=@PORT@' > /etc/svc.conf.tpl && echo ok");
    let map = files.join("svc.map");
    std::fs::write(&map, "@PORT@ 8080\n").expect("write");
    h.run_in(
        None,
        [
            "-a",
            "rplfile",
            "-c",
            "f",
            "--template-file",
            "/etc/svc.conf.tpl",
            "--mapping-file",
            map.to_str().expect("utf-8"),
        ],
    )
    .ok();
    assert_eq!(
        inside(&h, "f", "cat /etc/svc.conf; stat -c %u:%g /etc/svc.conf"),
        "port=8080\n0:0"
    );

    // to_image: the layer is an ordinary one, owned as seen inside; a
    // container without --userns made from it sees the same owners.
    h.run("-a shutdown -c f").ok();
    h.run("-a to_image --from-container f --to-image fimg").ok();
    let layer = h.home.layer("fimg", "_");
    assert_eq!(owner(&layer.join("etc/app.conf")), (1000, 1000));
    assert_eq!(owner(&layer.join("home-file")), (1001, 1002));
    h.run("-a to_container --from-image fimg --to-container plain -m test")
        .ok();
    h.run("-a boot -c plain").ok();
    assert_eq!(
        inside(&h, "plain", "stat -c %u:%g /etc/app.conf /etc/svc.conf"),
        "1000:1000\n0:0"
    );
    h.run("-a kill -c plain").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn userns_ids_come_from_a_checked_range_one_slot_per_container() {
    let h = RuntimeHome::with_test_image();
    let toml = h.home.path().join("xdocker.toml");
    let base = std::fs::read_to_string(&toml).expect("read");

    // A bad range names the file and the setting; nothing is created.
    std::fs::write(&toml, format!("{base}[userns]\nrange = \"0:65536\"\n")).expect("write");
    h.run("-a create -m test -c a --userns on").fails(
        1,
        "xdocker.toml: [userns] range: \"0:65536\" starts at host id 0 (root)",
    );
    assert!(!h.home.path().join("containers/a").exists());

    // One slot: the second container is refused until the first is gone.
    std::fs::write(
        &toml,
        format!("{base}[userns]\nrange = \"1500000:65536\"\n"),
    )
    .expect("write");
    h.run("-a create -m test -c a --userns on").ok();
    h.run("-a create -m test -c b --userns on")
        .fails(1, "container b: --userns: no free ids left");
    assert!(!h.home.path().join("containers/b").exists());
    // Containers without a user namespace need no ids.
    h.run("-a create -m test -c c").ok();
    h.run("-a destroy -c a").ok();
    h.run("-a create -m test -c b --userns on -b").ok();
    let pid = h.pid("b").expect("pid");
    assert_eq!(host_id(pid, "Uid"), 1500000);
    h.run("-a kill -c b").ok();
}
