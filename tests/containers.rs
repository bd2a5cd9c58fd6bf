//! Real containers (root): lifecycle, single-process mode, isolation of
//! writes, leftovers after kill -9, limits that bite, bad inputs that leave
//! nothing behind.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{mounts_below, netns_names, RuntimeHome};

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
}

fn containers_row(h: &RuntimeHome, name: &str) -> String {
    let out = h.run("-s containers").ok().to_string();
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{out}"))
        .to_string()
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn lifecycle_create_boot_shutdown_destroy() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c life --host life-host").ok();
    let row = containers_row(&h, "life");
    assert!(
        row.contains("test:_") && row.contains("life-host") && row.ends_with("STOPPED"),
        "{row}"
    );
    assert_eq!(
        h.run("-s containers").ok().lines().next(),
        Some("container_id  image   hostname   net   netns  vip  status")
    );

    h.run("-a boot -c life").ok();
    let pid = h.pid("life").expect("state has the pid");
    assert!(alive(pid), "xdockerinit keeps running after xdocker exited");
    assert!(containers_row(&h, "life").ends_with(&format!("RUNNING({pid})")));
    // It is PID 1 of its own namespace, with its own hostname and root.
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let nspid = status
        .lines()
        .find(|l| l.starts_with("NSpid:"))
        .expect("NSpid");
    assert!(nspid.split_whitespace().last() == Some("1"), "{nspid}");
    let root = h.run("-s container_root -c life").ok().trim().to_string();
    assert_eq!(root, format!("/proc/{pid}/root"));
    assert!(Path::new(&root).join("bin/busybox").exists());
    assert!(
        Path::new(&root).join("proc/1/status").exists(),
        "/proc is mounted"
    );
    assert!(Path::new(&root).join("dev/pts/ptmx").exists(), "own devpts");
    assert!(Path::new(&root).join("dev/null").exists());
    let uts = std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-u", "hostname"])
        .output()
        .expect("nsenter");
    assert_eq!(String::from_utf8_lossy(&uts.stdout).trim(), "life-host");
    // Nothing of the container is in the host's mount table.
    let cdir = h.home.path().join("containers/life");
    assert!(mounts_below(&cdir).is_empty(), "{:?}", mounts_below(&cdir));
    assert!(!h.cgroup_dirs().is_empty());

    h.run("-a boot -c life")
        .fails(1, "container life is running");
    h.run("-a destroy -c life").fails(
        1,
        &format!("container life is running (pid {pid}): shut it down first, or use -h"),
    );
    h.run("-a vip -c life --vip 10.1.1.1").fails(
        1,
        &format!("container life is running (pid {pid}): shut it down before changing it"),
    );

    let t = Instant::now();
    h.run("-a shutdown -c life").ok();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "orderly stop is quick for an idle host"
    );
    assert!(!alive(pid));
    assert!(containers_row(&h, "life").ends_with("STOPPED"));
    assert!(!h.home.path().join("containers/life/state.toml").exists());
    for d in h.cgroup_dirs() {
        assert!(!d.join("life").exists(), "cgroup {} removed", d.display());
    }
    h.run("-a shutdown -c life").fails(1, "is not running");
    h.run("-a shutdown -c life -f").ok();
    h.run("-a destroy -c life").ok();
    assert!(!cdir.exists());
    h.run("-a destroy -c life")
        .fails(1, "container life not found");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn single_process_mode_returns_the_exit_code() {
    let h = RuntimeHome::with_test_image();
    let r = h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "once",
            "-b",
            "-e",
            "echo out; echo err >&2; exit 7",
        ],
    );
    assert_eq!(r.code, 7, "{r:?}");
    assert_eq!(r.stdout, "out\n");
    assert_eq!(r.stderr, "err\n");
    let json = h.run("-s containers --json").ok().to_string();
    assert!(
        json.contains("\"exit_code\": 7") && json.contains("\"status\": \"STOPPED\""),
        "{json}"
    );
    let r = h.run_in(None, ["-a", "boot", "-c", "once", "-e", "kill -9 $$"]);
    assert_eq!(r.code, 137, "{r:?}");
    assert!(h.cgroup_dirs().iter().all(|d| !d.join("once").exists()));
    h.run("-a destroy -c once").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn containers_from_one_image_keep_separate_writes() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c a").ok();
    h.run("-a create -m test -c b").ok();
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "a",
            "-e",
            "echo from-a > /etc/motd; rm /root/tpl.txt",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "b",
            "-e",
            "cat /etc/motd 2>&1; cat /root/tpl.txt",
        ],
    );
    assert!(!r.stdout.contains("from-a"), "{r:?}");
    assert!(
        r.stdout.contains("${LEAF}"),
        "b still sees the image's file: {r:?}"
    );
    let rw_a = h.home.path().join("containers/a/rwlayer");
    assert_eq!(
        fs::read_to_string(rw_a.join("etc/motd")).expect("motd"),
        "from-a\n"
    );
    // The deletion is a whiteout in a's writable layer; the image is intact.
    let wh = fs::symlink_metadata(rw_a.join("root/tpl.txt")).expect("whiteout");
    use std::os::unix::fs::FileTypeExt;
    assert!(wh.file_type().is_char_device());
    assert!(h.home.layer("test", "_").join("root/tpl.txt").exists());
    assert!(!h.home.path().join("containers/b/rwlayer/etc/motd").exists());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn kill_9_of_init_is_seen_and_released_by_the_next_command() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c victim --net CUSTOM").ok();
    h.run("-a boot -c victim").ok();
    let pid = h.pid("victim").expect("pid");
    let ns = containers_row(&h, "victim")
        .split_whitespace()
        .nth(4)
        .expect("netns column")
        .to_string();
    assert!(ns.starts_with("nns") && netns_names().contains(&ns), "{ns}");
    let links = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "ip", "-o", "link"])
        .output()
        .expect("ip netns exec");
    let links = String::from_utf8_lossy(&links.stdout);
    assert_eq!(links.lines().count(), 1, "only lo: {links}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(containers_row(&h, "victim").ends_with("STOPPED"));
    assert!(!netns_names().contains(&ns), "netns released");
    assert!(
        h.cgroup_dirs().iter().all(|d| !d.join("victim").exists()),
        "cgroup released"
    );
    h.run("-a destroy -c victim").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn any_command_releases_killed_containers_also_in_a_home_without_index() {
    common::needs_root();
    let h = RuntimeHome::new();
    h.install_test();
    for c in ["k1", "k2", "up"] {
        h.run(&format!("-a create -m test -c {c} --net CUSTOM"))
            .ok();
        h.run(&format!("-a boot -c {c}")).ok();
    }
    let lo = std::process::Command::new("nsenter")
        .args([
            "-t",
            &h.pid("up").expect("pid").to_string(),
            "-n",
            "ip",
            "-o",
            "link",
            "show",
            "lo",
        ])
        .output()
        .expect("nsenter");
    assert!(
        String::from_utf8_lossy(&lo.stdout).contains(",UP"),
        "lo is up in CUSTOM"
    );
    let index = h.home.path().join("running");
    let indexed = |c: &str| fs::symlink_metadata(index.join(c)).is_ok();
    let kill9 = |c: &str| {
        let pid = h.pid(c).expect("pid");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let released = |c: &str| {
        !h.home
            .path()
            .join(format!("containers/{c}/state.toml"))
            .exists()
            && !indexed(c)
            && h.cgroup_dirs().iter().all(|d| !d.join(c).exists())
    };
    // A command that looks at no container still releases the killed one.
    kill9("k1");
    h.run("-s images").ok();
    assert!(released("k1"));
    assert!(indexed("up") && !released("up"));
    // A home from before the index: it is rebuilt from the state files,
    // and what was killed meanwhile is released.
    kill9("k2");
    fs::remove_dir_all(&index).expect("remove index");
    h.run("-s images").ok();
    assert!(released("k2"));
    assert!(indexed("up"), "the running one is indexed again");
    assert!(containers_row(&h, "up").contains("RUNNING"));
    h.run("-a kill -c up").ok();
    assert!(released("up"));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn destroy_with_h_shuts_down_first() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c d -b").ok();
    let pid = h.pid("d").expect("pid");
    h.run("-a destroy -c d").fails(
        1,
        &format!("container d is running (pid {pid}): shut it down first, or use -h"),
    );
    h.run("-a destroy -c d -h").ok();
    assert!(!alive(pid));
    assert!(!h.home.path().join("containers/d").exists());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn bad_inputs_leave_nothing_behind() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m nope -c x")
        .fails(1, "image nope not found");
    assert!(!h.home.path().join("containers/x").exists());
    h.run("-a create -m test -c dup").ok();
    h.run("-a create -m test -c dup")
        .fails(1, "container dup already exists");
    h.run("-a create -m test -c v --volume /nonexistent/src:/data")
        .fails(1, "volume source /nonexistent/src does not exist");
    // A volume source that vanished after create: boot refuses, nothing left.
    let src = h.home.scratch("vol");
    h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "v2",
            "--volume",
            &format!("{}:/data", src.display()),
        ],
    )
    .ok();
    fs::remove_dir(&src).expect("rmdir");
    h.run("-a boot -c v2").fails(
        1,
        &format!(
            "container v2: volume source {} does not exist",
            src.display()
        ),
    );
    // An image deleted under a stopped container: boot refuses.
    h.run("-a copy_image --from-image test --to-image gone:1")
        .ok();
    h.run("-a create -m gone:1 -c orphan").ok();
    h.run("-a del_image -m gone:1 -f").ok();
    h.run("-a boot -c orphan")
        .fails(1, "image gone:1 not found");
    // A hostile image: /proc is a symlink to a host directory (the runc
    // CVE-2019-16884 / CVE-2019-19921 class: mounts redirected by symlinks).
    h.run("-a copy_image --from-image test --to-image evil:1")
        .ok();
    let l = h.home.layer("evil", "1");
    fs::remove_dir_all(l.join("proc")).ok();
    std::os::unix::fs::symlink("/etc", l.join("proc")).expect("symlink");
    h.run("-a create -m evil:1 -c evil --net CUSTOM").ok();
    h.run("-a boot -c evil")
        .fails(1, "/proc: is a symlink inside the container");
    // (other tests make and remove netns names meanwhile: look for ours)
    let evil_ns = containers_row(&h, "evil")
        .split_whitespace()
        .nth(4)
        .expect("netns column")
        .to_string();
    assert!(
        !netns_names().contains(&evil_ns),
        "a failed boot leaves no netns"
    );
    assert!(fs::read_dir("/etc").is_ok());
    for c in ["v2", "orphan", "evil", "dup"] {
        assert!(!h
            .home
            .path()
            .join("containers")
            .join(c)
            .join("state.toml")
            .exists());
        assert!(
            h.cgroup_dirs().iter().all(|d| !d.join(c).exists()),
            "{c}: cgroup left"
        );
    }
    assert!(mounts_below(h.home.path()).is_empty());
    assert!(h.home.staging_leftovers().is_empty());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn volumes_are_bind_mounted_inside() {
    // Volumes are not idmapped (as in LXC and Docker's userns-remap): an
    // unprivileged container sees the host's owners as they are, so root
    // inside writes where its own host uid may, a privileged one anywhere.
    let h = RuntimeHome::with_test_image();
    let src = h.home.scratch("share");
    fs::write(src.join("in.txt"), "from host\n").expect("write");
    let volume = format!("{}:/srv/data", src.display());
    for (name, kind) in [("vol", "on"), ("pvol", "off")] {
        h.run_in(
            None,
            [
                "-a", "create", "-m", "test", "-c", name, "--volume", &volume, "--userns", kind,
            ],
        )
        .ok();
    }
    let write = |name: &str, file: &str| {
        h.run_in(
            None,
            [
                "-a",
                "boot",
                "-c",
                name,
                "-e",
                &format!("cat /srv/data/in.txt; echo back > /srv/data/{file}"),
            ],
        )
    };
    // The host's root owns the directory: readable, not writable inside.
    let r = write("vol", "out.txt");
    assert_eq!((r.code, r.stdout.as_str()), (1, "from host\n"), "{r:?}");
    assert!(r.stderr.contains("Permission denied"), "{r:?}");
    // Given to the container's root (its host uid and gid, from -s info).
    let info: serde_json::Value =
        serde_json::from_str(h.run("-s info -c vol --json").ok()).expect("json");
    let ids = &info["config"]["security"]["userns"];
    let (uid, gid) = (
        ids["uid"].as_u64().expect("uid"),
        ids["gid"].as_u64().expect("gid"),
    );
    std::os::unix::fs::chown(&src, Some(uid as u32), Some(gid as u32)).expect("chown");
    let r = write("vol", "out.txt");
    assert_eq!((r.code, r.stdout.as_str()), (0, "from host\n"), "{r:?}");
    assert_eq!(
        fs::read_to_string(src.join("out.txt")).expect("out"),
        "back\n"
    );
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(src.join("out.txt")).expect("out");
    assert_eq!(
        u64::from(meta.uid()),
        uid,
        "written as the container's root"
    );
    // A privileged container's root is the host's.
    std::os::unix::fs::chown(&src, Some(0), Some(0)).expect("chown");
    let r = write("pvol", "priv.txt");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(fs::metadata(src.join("priv.txt")).expect("priv").uid(), 0);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn memory_and_cpu_limits_bite() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c mem --mem-limit 64M").ok();
    // Command substitution keeps all of it in the shell's memory.
    let hog = |mb: u32| format!("x=$(head -c {mb}m /dev/zero | tr '\\0' a); echo survived");
    let r = h.run_in(None, ["-a", "boot", "-c", "mem", "-e", &hog(200)]);
    assert_eq!(r.code, 137, "the 200M allocation is killed: {r:?}");
    assert!(!r.stdout.contains("survived"));
    let r = h.run_in(None, ["-a", "boot", "-c", "mem", "-e", &hog(20)]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "survived\n"),
        "within the limit: {r:?}"
    );

    // 25% of one CPU: a busy loop gets at most about a quarter of the time.
    h.run("-a create -m test -c quota --cpu-quota 25%").ok();
    let busy = "sh -c 'while :; do :; done' & p=$!; sleep 2; \
                set -- $(cat /proc/$p/stat); kill $p; echo ticks=$(( ${14} + ${15} ))";
    let r = h.run_in(None, ["-a", "boot", "-c", "quota", "-e", busy]);
    let ticks: u64 = r
        .stdout
        .trim()
        .strip_prefix("ticks=")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{r:?}"));
    // 2 s at 100 ticks/s = 200 ticks of one CPU; 25% is 50.
    assert!(ticks <= 70, "quota caps the loop: {ticks} ticks in 2 s");
    assert!(ticks >= 20, "the loop did run: {ticks}");

    h.run("-a create -m test -c pin").ok();
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "pin",
            "--cpus",
            "0",
            "-e",
            "grep Cpus_allowed_list /proc/self/status",
        ],
    );
    assert_eq!(r.stdout.split_whitespace().last(), Some("0"), "{r:?}");
    // Stored: the next boot without --cpus is still pinned.
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "pin",
            "-e",
            "grep Cpus_allowed_list /proc/self/status",
        ],
    );
    assert_eq!(r.stdout.split_whitespace().last(), Some("0"), "{r:?}");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn concurrent_boots_of_one_container_exactly_one_wins() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c race").ok();
    let results: Vec<common::Run> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| h.run("-a boot -c race")))
            .collect();
        handles
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect()
    });
    let ok = results.iter().filter(|r| r.code == 0).count();
    assert_eq!(ok, 1, "{results:?}");
    for r in results.iter().filter(|r| r.code != 0) {
        r.fails(1, "container race is running");
    }
    h.run("-a kill -c race").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn to_image_and_to_container_move_layers_without_loss() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c edit").ok();
    let script = "echo v1 > /etc/app.conf; echo hidden > /root/.dot; rm /root/tpl.txt; \
                  mkdir -p /opt/d; echo x > /opt/d/a; ln /opt/d/a /opt/d/b; rm -rf /home; mkdir /home; touch /home/new";
    let r = h.run_in(None, ["-a", "boot", "-c", "edit", "-e", script]);
    assert_eq!(r.code, 0, "{r:?}");
    h.run("-a boot -c edit").ok();
    let pid = h.pid("edit").expect("pid");
    h.run("-a to_image --from-container edit --to-image app --version 1.0")
        .fails(
            1,
            &format!("container edit is running (pid {pid}): shut it down first"),
        );
    h.run("-a shutdown -c edit").ok();
    h.run("-a to_image --from-container edit --to-image app --version 1.0")
        .ok();
    assert!(
        !h.home.path().join("containers/edit").exists(),
        "the container is consumed"
    );
    let layer = h.home.layer("app", "1.0");
    assert_eq!(
        fs::read_to_string(layer.join("root/.dot")).expect("dotfile"),
        "hidden\n"
    );
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let wh = fs::symlink_metadata(layer.join("root/tpl.txt")).expect("whiteout kept");
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert_eq!(
        fs::metadata(layer.join("opt/d/a")).expect("a").ino(),
        fs::metadata(layer.join("opt/d/b")).expect("b").ino(),
        "hard link kept"
    );
    assert_eq!(
        xattr::get(layer.join("home"), "trusted.overlay.opaque").expect("xattr"),
        Some(b"y".to_vec()),
        "opaque directory kept"
    );
    let json = h.run("-s images --json").ok().to_string();
    assert!(
        json.contains("\"base_layers\": [\n      \"test:_\"\n    ]"),
        "{json}"
    );

    // Stacked on its base, the image shows the edits (whiteout applied).
    h.run("-a create -m app:1.0 -c svc").ok();
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "svc",
            "-e",
            "cat /etc/app.conf; ls /root/tpl.txt 2>&1; ls /home",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("v1\n"), "{r:?}");
    assert!(r.stdout.contains("No such file"), "{r:?}");
    assert!(r.stdout.ends_with("new\n"), "opaque /home: {r:?}");
    h.run("-a to_container --from-image app:1.0 --to-container again")
        .fails(1, "is used by container svc");
    h.run("-a destroy -c svc").ok();

    // Back to a container for more editing: the layer moves again.
    h.run("-a to_container --from-image app:1.0 --to-container again")
        .ok();
    assert!(
        !h.home.path().join("images/app/1.0").exists(),
        "the image is consumed"
    );
    let rw = h.home.path().join("containers/again/rwlayer");
    assert_eq!(
        fs::read_to_string(rw.join("etc/app.conf")).expect("conf"),
        "v1\n"
    );
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "again",
            "-e",
            "cat /etc/app.conf /root/.dot",
        ],
    );
    assert_eq!(r.stdout, "v1\nhidden\n", "{r:?}");
    h.run("-a to_image --from-container again --to-image test")
        .fails(1, "image test:_ already exists");
    assert!(
        h.home
            .path()
            .join("containers/again/rwlayer/etc/app.conf")
            .exists(),
        "nothing lost on failure"
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn orphans_are_reaped_inside_a_container() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c reap").ok();
    // 100 children orphaned at once (their parent subshell exits), each
    // exiting soon after: they become children of xdockerinit.
    let script = "for i in $(seq 100); do (sleep 0.2 &) ; done; sleep 1; \
                  echo zombies=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l)";
    let r = h.run_in(None, ["-a", "boot", "-c", "reap", "-e", script]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.trim(), "zombies=0", "{r:?}");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn kill_9_of_xdocker_mid_run_leaves_the_truth_behind() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c orphaned").ok();
    let mut xdocker = std::process::Command::new(common::bin())
        .args(["-a", "boot", "-c", "orphaned", "-e", "sleep 2"])
        .env("XDOCKER_HOME", h.home.path())
        .env("XDOCKER_INIT", common::static_init())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn xdocker");
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.pid("orphaned").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = h.pid("orphaned").expect("booted");
    xdocker.kill().expect("kill -9 xdocker");
    xdocker.wait().expect("reap xdocker");
    // The container outlives the command that waited for it...
    assert!(containers_row(&h, "orphaned").ends_with(&format!("RUNNING({pid})")));
    // ...and once its command ends, the next command sees it stopped and
    // releases what it held.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(containers_row(&h, "orphaned").ends_with("STOPPED"));
    assert!(h.cgroup_dirs().iter().all(|d| !d.join("orphaned").exists()));
    assert!(!h
        .home
        .path()
        .join("containers/orphaned/state.toml")
        .exists());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn inside_view_is_a_small_host() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c view --host view-1").ok();
    let script = "hostname; tr '\\0' ' ' < /proc/1/cmdline; echo; \
                  ls /dev | tr '\\n' ' '; echo; \
                  touch /sys/x 2>/dev/null && echo sys-writable || echo sys-ro; \
                  ls /proc | grep -c '^[0-9]'; \
                  readlink /dev/ptmx; \
                  stat -c %a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty | tr '\\n' ' '; echo; \
                  cat /etc/hostname; grep view-1 /etc/hosts";
    let r = h.run_in(None, ["-a", "boot", "-c", "view", "-e", script]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "view-1");
    assert!(
        lines[1].starts_with("xdockerinit --exit-fd 3"),
        "PID 1 is xdockerinit: {}",
        lines[1]
    );
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "console", "ptmx", "pts", "shm",
    ] {
        assert!(
            lines[2].split_whitespace().any(|d| d == dev),
            "/dev/{dev}: {}",
            lines[2]
        );
    }
    assert_eq!(lines[3], "sys-ro");
    let procs: u32 = lines[4].parse().expect("count");
    assert!(
        procs <= 6,
        "only the container's processes are visible: {procs}"
    );
    assert_eq!(lines[5], "pts/ptmx");
    // Writable by every user (apt drops to _apt and writes /dev/null):
    // mknod's mode is cut by the umask unless set again.
    assert_eq!(lines[6].trim_end(), "666 666 666 666 666 666");
    // Its own name resolves (sudo, hostname -f), on any network.
    assert_eq!(lines[7], "view-1");
    assert_eq!(lines[8], "127.0.1.1\tview-1");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn etc_files_replace_whatever_the_image_has_at_their_names() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c odd").ok();
    // What an image could carry there: a FIFO (opening it for writing
    // would block the boot) and a symlink to a host file.
    let etc = h.home.path().join("containers/odd/rwlayer/etc");
    fs::create_dir_all(&etc).expect("mkdir");
    nix::unistd::mkfifo(
        &etc.join("hosts"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .expect("mkfifo");
    let host_file = h.home.scratch("host").join("hostname");
    fs::write(&host_file, "host's own\n").expect("write");
    std::os::unix::fs::symlink(&host_file, etc.join("hostname")).expect("symlink");
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "odd",
            "-e",
            "stat -c %F /etc/hosts /etc/hostname; cat /etc/hostname",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "regular file\nregular file\nodd\n");
    assert_eq!(
        fs::read_to_string(&host_file).expect("read"),
        "host's own\n"
    );
    h.run("-a destroy -c odd").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn destroy_never_deletes_through_a_live_mount() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c held").ok();
    let precious = h.home.scratch("precious");
    fs::write(precious.join("data"), "keep").expect("write");
    let merged = h.home.path().join("containers/held/merged");
    nix::mount::mount(
        Some(&precious),
        &merged,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .expect("bind");
    let r = h.run("-a destroy -c held");
    let _ = nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH);
    r.fails(
        1,
        &format!(
            "container held: {} is still mounted; refusing to delete through a live mount",
            merged.display()
        ),
    );
    assert_eq!(
        fs::read_to_string(precious.join("data")).expect("kept"),
        "keep"
    );
    assert!(h.home.path().join("containers/held/config.toml").exists());
    h.run("-a destroy -c held").ok();
}

/// The capability sets of a process as `/proc/PID/status` shows them.
fn cap_sets(status: &str) -> std::collections::HashMap<String, u64> {
    status
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(":\t")?;
            k.starts_with("Cap")
                .then(|| (k.to_string(), u64::from_str_radix(v.trim(), 16).ok()))
                .and_then(|(k, v)| Some((k, v?)))
        })
        .collect()
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn root_inside_cannot_touch_the_host_kernel_clock_or_modules() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c caps").ok();
    h.run("-a boot -c caps").ok();
    let pid = h.pid("caps").expect("pid");
    let dropped = [16u32, 17, 19, 22, 25, 30, 32, 33, 34, 35, 38, 39];
    let kept = [0u32, 1, 6, 7, 12, 21]; // chown, dac_override, setgid, setuid, net_admin, sys_admin
    let check = |what: &str, status: &str| {
        let sets = cap_sets(status);
        let bnd = sets["CapBnd"];
        for c in dropped {
            assert_eq!(
                bnd & (1 << c),
                0,
                "{what}: capability {c} in the bounding set"
            );
            assert_eq!(
                sets["CapEff"] & (1 << c),
                0,
                "{what}: capability {c} effective"
            );
        }
        for c in kept {
            assert_ne!(bnd & (1 << c), 0, "{what}: capability {c} kept");
        }
        assert_eq!(sets["CapInh"], 0, "{what}: inheritable");
        assert_eq!(sets["CapAmb"], 0, "{what}: ambient");
    };
    // xdockerinit, and a command of a session.
    check(
        "init",
        &fs::read_to_string(format!("/proc/{pid}/status")).expect("status"),
    );
    let inside = h
        .run_in(
            None,
            ["-a", "run", "-c", "caps", "--cmd", "cat /proc/self/status"],
        )
        .ok()
        .to_string();
    check("session", &inside);

    // Setting the clock is refused inside (CAP_SYS_TIME), and the host's
    // clock is not moved.
    let before = std::time::SystemTime::now();
    let r = h.run_in(
        None,
        ["-a", "run", "-c", "caps", "--cmd", "date -s 2001-01-01"],
    );
    // (busybox date reports the refusal but exits 0)
    assert!(r.stderr.contains("Operation not permitted"), "{r:?}");
    let year_2020 = std::time::UNIX_EPOCH + Duration::from_secs(1_577_836_800);
    assert!(std::time::SystemTime::now() > year_2020.max(before - Duration::from_secs(1)));
    h.run("-a kill -c caps").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn proc_is_masked_and_kernel_knobs_are_read_only() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c hostnet").ok();
    h.run("-a create -m test -c ownnet --net CUSTOM").ok();
    h.run("-a boot -c hostnet").ok();
    h.run("-a boot -c ownnet").ok();
    let run = |c: &str, cmd: &str| h.run_in(None, ["-a", "run", "-c", c, "--cmd", cmd]);
    // Host-wide files read as empty.
    for c in ["hostnet", "ownnet"] {
        // (kcore may be missing altogether: this VM's kernel has none)
        let r = run(
            c,
            "cat /proc/kcore 2>/dev/null | wc -c; cat /proc/keys | wc -c; ls /proc/acpi 2>/dev/null | wc -l",
        );
        assert_eq!(
            r.ok().split_whitespace().collect::<Vec<_>>(),
            ["0", "0", "0"],
            "{c}"
        );
        // Writing the value a kernel knob already has would change nothing
        // even if it went through; it must be refused all the same.
        let r = run(c, "cat /proc/sys/kernel/pid_max > /proc/sys/kernel/pid_max");
        assert!(r.stderr.contains("Read-only file system"), "{c}: {r:?}");
        let r = run(
            c,
            "cat /proc/sys/vm/overcommit_memory > /proc/sys/vm/overcommit_memory",
        );
        assert!(r.stderr.contains("Read-only file system"), "{c}: {r:?}");
        assert!(
            run(c, "[ -w /proc/sysrq-trigger ]").code != 0,
            "{c}: sysrq-trigger writable"
        );
        // Reading stays possible.
        run(c, "cat /proc/sys/kernel/ostype").ok();
    }
    // Network settings: the host's stay read-only in a HOST container, a
    // container with its own netns may set its own.
    let r = run(
        "hostnet",
        "cat /proc/sys/net/ipv4/ip_forward > /proc/sys/net/ipv4/ip_forward",
    );
    assert!(r.stderr.contains("Read-only file system"), "{r:?}");
    run(
        "ownnet",
        "echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward",
    )
    .ok();
    h.run("-a kill -c hostnet").ok();
    h.run("-a kill -c ownnet").ok();
}
