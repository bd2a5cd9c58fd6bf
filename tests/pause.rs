//! Pause, continue and restart against real containers (root), default
//! (unprivileged) and `--userns off`: a ticker stops while its container
//! is paused and goes on after continue, the status is the kernel's
//! freezer's word (also after a `kill -9` of xdocker mid-pause, and when
//! someone thaws by hand), sessions are refused at once, kill, shutdown
//! and destroy -h of a paused container leave nothing behind, restart
//! keeps the options; and the freezer of the cgroups module on this
//! machine's v1 hierarchy and on a fresh cgroup2 mount.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{mounts_below, netns_names, Run, RuntimeHome};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use xdocker::cgroups::{detect, Cgroups, FreezerState, Limits, DEFAULT_ROOT};

/// A pause, a continue, a refused session: each well within this.
const QUICK: Duration = Duration::from_secs(2);

/// Appends a line to /tmp/ticks every 10 ms, in the background.
const TICKER: &str =
    "i=0; (while :; do i=$((i+1)); echo $i >> /tmp/ticks; sleep 0.01; done) >/dev/null 2>&1 &";

fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

fn status_of(h: &RuntimeHome, name: &str) -> String {
    let out = h.run("-s containers").ok().to_string();
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no row for {name} in:\n{out}"))
        .to_string()
}

/// Runs xdocker with `args` (not split), timing it.
fn timed(h: &RuntimeHome, args: &[&str]) -> (Run, Duration) {
    let start = Instant::now();
    let run = h.run_in(None, args);
    (run, start.elapsed())
}

/// A home with a running container `name` made with `opts`, its ticker
/// going; returns the home and the pid of its init.
fn ticking(name: &str, opts: &[&str]) -> (RuntimeHome, i32) {
    let h = RuntimeHome::with_test_image();
    let mut create = vec!["-a", "create", "-m", "test", "-c", name, "-b"];
    create.extend_from_slice(opts);
    h.run_in(None, &create).ok();
    h.run_in(None, ["-a", "run", "-c", name, "--cmd", TICKER])
        .ok();
    let pid = h.pid(name).expect("booted");
    let deadline = Instant::now() + Duration::from_secs(5);
    while ticks(pid) < 3 {
        assert!(Instant::now() < deadline, "the ticker never ticked");
        sleep(Duration::from_millis(20));
    }
    (h, pid)
}

/// Lines the ticker wrote so far, seen through the container's root.
fn ticks(pid: i32) -> usize {
    fs::read_to_string(format!("/proc/{pid}/root/tmp/ticks"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// The kernel's own file of a container's freezer: v1 `freezer.state`, v2
/// `cgroup.freeze`.
fn freezer_file(h: &RuntimeHome, name: &str) -> PathBuf {
    let v1 = Path::new("/sys/fs/cgroup/freezer")
        .join(&h.cgroup_parent)
        .join(name)
        .join("freezer.state");
    if v1.exists() {
        return v1;
    }
    Path::new(DEFAULT_ROOT)
        .join(&h.cgroup_parent)
        .join(name)
        .join("cgroup.freeze")
}

/// Every pid in the container's cgroup, from the kernel.
fn cgroup_pids(h: &RuntimeHome, name: &str) -> Vec<i32> {
    let procs = freezer_file(h, name).with_file_name("cgroup.procs");
    fs::read_to_string(&procs)
        .unwrap_or_else(|e| panic!("{}: {e}", procs.display()))
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn pause_and_continue(userns: &[&str]) {
    let (h, pid) = ticking("frost", userns);
    let (r, took) = timed(&h, &["-a", "pause", "-c", "frost"]);
    r.ok();
    assert!(took < QUICK, "pause took {took:?}");
    assert_eq!(status_of(&h, "frost"), format!("PAUSED({pid})"));
    let info = h.run("-s info -c frost").ok().to_string();
    assert!(
        info.lines()
            .any(|l| l.starts_with("status") && l.ends_with(&format!("PAUSED({pid})"))),
        "{info}"
    );
    let json: serde_json::Value =
        serde_json::from_str(h.run("-s info -c frost --json").ok()).expect("json");
    assert_eq!(json["status"], format!("PAUSED({pid})"));
    assert_eq!(json["pid"], pid);
    let list: serde_json::Value =
        serde_json::from_str(h.run("-s containers --json").ok()).expect("json");
    assert_eq!(list[0]["status"], format!("PAUSED({pid})"));

    // Nothing ticks while paused.
    let before = ticks(pid);
    sleep(Duration::from_millis(400));
    assert_eq!(ticks(pid), before, "the ticker went on while paused");

    // Sessions are refused at once, with what to do.
    let needle = "container frost is paused";
    for args in [
        &["-a", "run", "-c", "frost", "--cmd", "true"][..],
        &["-a", "attach", "-c", "frost"][..],
    ] {
        let (r, took) = timed(&h, args);
        r.fails(1, needle);
        assert!(r.stderr.contains("-a continue -c frost"), "{r:?}");
        assert!(took < QUICK, "{args:?} took {took:?}");
    }
    h.run("-a pause -c frost")
        .fails(1, &format!("container frost is already paused (pid {pid})"));
    // Its root is still there to look at.
    h.run("-s container_root -c frost").ok();

    let (r, took) = timed(&h, &["-a", "continue", "-c", "frost"]);
    r.ok();
    assert!(took < QUICK, "continue took {took:?}");
    assert_eq!(status_of(&h, "frost"), format!("RUNNING({pid})"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while ticks(pid) <= before + 2 {
        assert!(Instant::now() < deadline, "the ticker did not go on");
        sleep(Duration::from_millis(20));
    }
    h.run("-a continue -c frost").fails(
        1,
        &format!("container frost is not paused (it is running, pid {pid})"),
    );
    h.run("-a run -c frost --cmd true").ok();
    h.run("-a shutdown -c frost").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn pause_stops_every_process_and_continue_lets_them_go_on() {
    pause_and_continue(&[]);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn pause_and_continue_a_privileged_container() {
    pause_and_continue(&["--userns", "off"]);
}

/// Stops a paused container with `stop` (xdocker's arguments, `C` for
/// the container), then checks that nothing of it is left.
fn stop_paused(userns: &[&str], stop: &[&str]) {
    let mut opts = vec!["--net", "CUSTOM"];
    opts.extend_from_slice(userns);
    let (h, pid) = ticking("icy", &opts);
    h.run("-a pause -c icy").ok();
    let pids = cgroup_pids(&h, "icy");
    assert!(pids.len() >= 2, "init and the ticker at least: {pids:?}");
    let netns = h.run("-s info -c icy --json").ok().to_string();
    let netns: serde_json::Value = serde_json::from_str(&netns).expect("json");
    let netns = netns["netns"].as_str().expect("netns").to_string();
    assert!(netns_names().contains(&netns));

    let args: Vec<&str> = stop
        .iter()
        .map(|a| if *a == "C" { "icy" } else { a })
        .collect();
    let (r, took) = timed(&h, &args);
    r.ok();
    assert!(took < Duration::from_secs(5), "{stop:?} took {took:?}");
    for p in &pids {
        assert!(
            !alive(*p),
            "{stop:?}: pid {p} of the paused container lives on"
        );
    }
    assert!(!alive(pid));
    for d in h.cgroup_dirs() {
        assert!(!d.join("icy").exists(), "{stop:?}: {} left", d.display());
    }
    assert!(!netns_names().contains(&netns), "{stop:?}: netns left");
    let cdir = h.home.path().join("containers/icy");
    assert!(mounts_below(&cdir).is_empty(), "{:?}", mounts_below(&cdir));
    if stop.contains(&"destroy") {
        assert!(!cdir.exists());
    } else {
        assert_eq!(status_of(&h, "icy"), "STOPPED");
        // It boots again, and runs.
        h.run("-a boot -c icy").ok();
        h.run("-a run -c icy --cmd true").ok();
        h.run("-a kill -c icy").ok();
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn kill_shutdown_and_destroy_h_of_a_paused_container_leave_nothing() {
    for stop in [
        &["-a", "kill", "-c", "C"][..],
        &["-a", "shutdown", "-c", "C"][..],
        &["-a", "destroy", "-h", "-c", "C"][..],
    ] {
        stop_paused(&[], stop);
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn kill_shutdown_and_destroy_h_of_a_paused_privileged_container_leave_nothing() {
    for stop in [
        &["-a", "kill", "-c", "C"][..],
        &["-a", "shutdown", "-c", "C"][..],
        &["-a", "destroy", "-h", "-c", "C"][..],
    ] {
        stop_paused(&["--userns", "off"], stop);
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn the_status_is_the_kernels_freezer_also_after_kill_9_mid_pause() {
    let (h, pid) = ticking("truth", &[]);
    let file = freezer_file(&h, "truth");
    let (thawed, frozen) = if file.ends_with("freezer.state") {
        ("THAWED", "FROZEN")
    } else {
        ("0", "1")
    };
    // xdocker killed right after it asked the kernel to freeze: the kernel
    // froze it, and that is what every command says.
    let r = h.home.run_with(
        None,
        ["-a", "pause", "-c", "truth"],
        &[
            ("XDOCKER_INIT", common::static_init().as_os_str()),
            ("XDOCKER_TEST_CRASH_AT", OsStr::new("pause.written")),
        ],
    );
    assert_ne!(r.code, 0, "{r:?}");
    assert_eq!(status_of(&h, "truth"), format!("PAUSED({pid})"));
    h.run("-a continue -c truth").ok();
    assert_eq!(status_of(&h, "truth"), format!("RUNNING({pid})"));

    // Frozen or thawed by hand: the status follows.
    h.run("-a pause -c truth").ok();
    fs::write(&file, thawed).expect("thaw by hand");
    assert_eq!(status_of(&h, "truth"), format!("RUNNING({pid})"));
    h.run("-a run -c truth --cmd true").ok();
    fs::write(&file, frozen).expect("freeze by hand");
    assert_eq!(status_of(&h, "truth"), format!("PAUSED({pid})"));
    h.run("-a continue -c truth").ok();
    h.run("-a kill -c truth").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn pause_and_continue_refuse_what_they_cannot_do_in_one_line() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c still").ok();
    h.run("-a pause -c still")
        .fails(1, "container still is not running");
    h.run("-a continue -c still")
        .fails(1, "container still is not running");
    h.run("-a pause -c nope")
        .fails(1, "container nope not found");
    h.run("-a continue -c nope")
        .fails(1, "container nope not found");
    h.run("-a restart -c nope")
        .fails(1, "container nope not found");
    h.run("-a pause").fails(2, "-a pause needs -c/--container");
    h.run("-a continue -c still --cpus 0")
        .fails(2, "--cpus does not apply to -a continue");
    h.run("-a restart -c still --vip 10.0.0.9")
        .fails(2, "--vip does not apply to -a restart");
    h.run("-a restart -c still --cpus 99999")
        .fails(2, "CPU list");
    h.run("-a boot -c still").ok();
    let pid = h.pid("still").expect("booted");
    h.run("-a continue -c still").fails(
        1,
        &format!("container still is not paused (it is running, pid {pid})"),
    );
    // A restart whose options cannot work leaves it running.
    h.run("-a restart -c still --cpus 4095")
        .fails(1, "cpu 4095");
    assert_eq!(status_of(&h, "still"), format!("RUNNING({pid})"));
    h.run("-a kill -c still").ok();
    assert!(h.cgroup_dirs().iter().all(|d| !d.join("still").exists()));
}

fn read(path: PathBuf) -> String {
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

fn restart_keeps_the_options(userns: &[&str]) {
    let h = RuntimeHome::with_test_image();
    let mut create = vec![
        "-a",
        "create",
        "-m",
        "test",
        "-c",
        "again",
        "--host",
        "again-host",
        "--mem-limit",
        "64M",
        "--pids-limit",
        "50",
        "-b",
    ];
    create.extend_from_slice(userns);
    h.run_in(None, &create).ok();
    let first = h.pid("again").expect("booted");
    h.run_in(None, ["-a", "run", "-c", "again", "--cmd", "touch /kept"])
        .ok();

    h.run("-a restart -c again").ok();
    let second = h.pid("again").expect("restarted");
    assert_ne!(first, second);
    assert!(!alive(first) && alive(second));
    assert_eq!(status_of(&h, "again"), format!("RUNNING({second})"));
    let inside = h
        .run_in(
            None,
            ["-a", "run", "-c", "again", "--cmd", "hostname; ls /kept"],
        )
        .ok()
        .to_string();
    assert_eq!(inside, "again-host\n/kept\n");
    let v1 = Path::new("/sys/fs/cgroup/memory").exists();
    let memory = match v1 {
        true => format!(
            "/sys/fs/cgroup/memory/{}/again/memory.limit_in_bytes",
            h.cgroup_parent
        ),
        false => format!("/sys/fs/cgroup/{}/again/memory.max", h.cgroup_parent),
    };
    let pids = match v1 {
        true => format!("/sys/fs/cgroup/pids/{}/again/pids.max", h.cgroup_parent),
        false => format!("/sys/fs/cgroup/{}/again/pids.max", h.cgroup_parent),
    };
    assert_eq!(read(memory.clone().into()), (64u64 << 20).to_string());
    assert_eq!(read(pids.clone().into()), "50");

    // Cgroup options given are stored, and apply to this boot and later.
    h.run("-a pause -c again").ok();
    h.run("-a restart -c again --pids-limit 60").ok();
    let third = h.pid("again").expect("restarted");
    assert!(!alive(second) && alive(third));
    assert_eq!(status_of(&h, "again"), format!("RUNNING({third})"));
    assert_eq!(read(pids.clone().into()), "60");
    assert_eq!(read(memory.into()), (64u64 << 20).to_string());
    let info = h.run("-s info -c again --json").ok().to_string();
    let info: serde_json::Value = serde_json::from_str(&info).expect("json");
    assert_eq!(info["config"]["limits"]["pids_limit"], 60);

    // A stopped container is booted.
    h.run("-a shutdown -c again").ok();
    h.run("-a restart -c again").ok();
    let fourth = h.pid("again").expect("booted by restart");
    assert_eq!(status_of(&h, "again"), format!("RUNNING({fourth})"));
    assert_eq!(read(pids.into()), "60");
    h.run("-a destroy -h -c again").ok();
    assert!(h.cgroup_dirs().iter().all(|d| !d.join("again").exists()));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn restart_shuts_down_and_boots_with_the_stored_options() {
    restart_keeps_the_options(&[]);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn restart_of_a_privileged_container() {
    restart_keeps_the_options(&["--userns", "off"]);
}

/// xdocker with the test home and the static init, as a `Command`.
fn xdocker(h: &RuntimeHome) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.env("XDOCKER_HOME", h.home.path())
        .env("XDOCKER_INIT", common::static_init())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn restart_of_a_single_process_container_runs_its_command_again() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c once").ok();
    // The first run marks its file system and waits; the second finds
    // the mark and ends at once.
    let cmd = "[ -e /ran ] && exit 7; touch /ran; sleep 60";
    let first: Child = xdocker(&h)
        .args(["-a", "boot", "-c", "once", "-e", cmd])
        .spawn()
        .expect("spawn boot -e");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !h.home.path().join("containers/once/rwlayer/ran").exists() {
        assert!(Instant::now() < deadline, "the first run never started");
        sleep(Duration::from_millis(20));
    }
    let r = h.run("-a restart -c once");
    assert_eq!(r.code, 7, "the command ran again, waited for: {r:?}");
    // The first boot's waiter ends without an error of the second's.
    let out = first.wait_with_output().expect("first boot");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(status_of(&h, "once"), "STOPPED");
    assert!(h.cgroup_dirs().iter().all(|d| !d.join("once").exists()));
}

// ---- the cgroups module's freezer on this machine's kernel

fn unique_parent() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "xdocker-test-pause-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A child process, killed and reaped when dropped.
struct Kid(Child);

impl Kid {
    fn spawn(script: &str) -> Self {
        Self(
            Command::new("sh")
                .args(["-c", script])
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn sh"),
        )
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// A busy loop and a loop that forks all the time (what makes a v1 group
/// FREEZING for a while) in group `box` of `cg`: frozen, nothing of them
/// runs; thawed, they go on; removed while frozen, they die.
fn freeze_for_real(cg: &dyn Cgroups, root: &Path, parent: &str) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cg.create("box", &Limits::default()).expect("create");
        let busy = Kid::spawn("while :; do :; done");
        let forking = Kid::spawn("while :; do /bin/true; done");
        cg.add_pid("box", busy.pid()).expect("add busy");
        cg.add_pid("box", forking.pid()).expect("add forking");
        assert_eq!(
            cg.freezer_state("box").expect("state"),
            FreezerState::Thawed
        );
        for _ in 0..5 {
            let start = Instant::now();
            cg.freeze("box").expect("freeze");
            assert!(start.elapsed() < QUICK, "freeze took {:?}", start.elapsed());
            assert_eq!(
                cg.freezer_state("box").expect("state"),
                FreezerState::Frozen
            );
            let before = cpu_ticks(busy.pid());
            sleep(Duration::from_millis(300));
            assert_eq!(
                cpu_ticks(busy.pid()),
                before,
                "the busy loop ran while frozen"
            );
            cg.thaw("box").expect("thaw");
            assert_eq!(
                cg.freezer_state("box").expect("state"),
                FreezerState::Thawed
            );
        }
        let before = cpu_ticks(busy.pid());
        sleep(Duration::from_millis(300));
        assert!(
            cpu_ticks(busy.pid()) > before,
            "the busy loop did not go on"
        );

        cg.freeze("box").expect("freeze");
        cg.remove("box").expect("remove a frozen group");
        let mut kids = [busy, forking];
        for kid in &mut kids {
            let deadline = Instant::now() + Duration::from_secs(5);
            let status = loop {
                if let Some(s) = kid.0.try_wait().expect("try_wait") {
                    break s;
                }
                assert!(Instant::now() < deadline, "pid {} survived", kid.pid());
                sleep(Duration::from_millis(20));
            };
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "{status:?}");
        }
    }));
    let _ = cg.remove("box");
    if let Ok(entries) = fs::read_dir(root) {
        for entry in entries.flatten() {
            let _ = fs::remove_dir(entry.path().join(parent));
        }
    }
    let _ = fs::remove_dir(root.join(parent));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn the_freezer_on_this_machines_hierarchy() {
    common::needs_root();
    let parent = unique_parent();
    let cg = detect(Path::new(DEFAULT_ROOT), &parent).expect("detect");
    freeze_for_real(cg.as_ref(), Path::new(DEFAULT_ROOT), &parent);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn the_freezer_on_a_fresh_cgroup2_mount() {
    common::needs_root();
    let dir = tempfile::tempdir().expect("tempdir");
    mount(
        Some("none"),
        dir.path(),
        Some("cgroup2"),
        MsFlags::empty(),
        None::<&str>,
    )
    .expect("mount cgroup2");
    let parent = unique_parent();
    let result = std::panic::catch_unwind(|| {
        let cg = detect(dir.path(), &parent).expect("detect");
        assert_eq!(cg.version(), "v2");
        freeze_for_real(cg.as_ref(), dir.path(), &parent);
    });
    let _ = umount2(dir.path(), MntFlags::MNT_DETACH);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
