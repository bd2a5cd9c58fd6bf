//! The cgroups module against this machine's real hierarchy (root, but for
//! detecting which one is mounted): limits must bite (OOM kill, CPU
//! affinity, CFS throttling), remove() must kill leftovers and delete every
//! directory, and a freshly mounted cgroup2 hierarchy must work without
//! controllers. Every test uses its own parent group and removes it again,
//! even when it fails.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
use xdocker::cgroups::{detect, CgroupError, Cgroups, Limits, DEFAULT_ROOT, V2};

/// The v1 controllers the module uses (directories to check and clean up).
const V1_CONTROLLERS: [&str; 5] = ["cpu", "cpuacct", "cpuset", "memory", "pids"];

fn unique_parent() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "xdocker-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A backend on `root` with a parent of its own; on drop, removes the
/// groups it made and the parent in every controller.
struct Fixture {
    cg: Box<dyn Cgroups>,
    root: PathBuf,
    parent: String,
    names: Vec<String>,
}

impl Fixture {
    fn real() -> Self {
        Self::on(Path::new(DEFAULT_ROOT))
    }

    fn on(root: &Path) -> Self {
        let parent = unique_parent();
        let cg = detect(root, &parent).expect("detect");
        Self {
            cg,
            root: root.to_path_buf(),
            parent,
            names: Vec::new(),
        }
    }

    fn create(&mut self, name: &str, limits: &Limits) {
        self.names.push(name.to_string());
        self.cg
            .create(name, limits)
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
    }

    /// The group's directories: one per controller for v1.
    fn group_dirs(&self, name: &str) -> Vec<PathBuf> {
        if self.cg.version() == "v2" {
            return vec![self.root.join(&self.parent).join(name)];
        }
        V1_CONTROLLERS
            .iter()
            .map(|c| self.root.join(c).join(&self.parent).join(name))
            .filter(|d| d.parent().is_some_and(Path::is_dir))
            .collect()
    }

    /// The directory holding `file` of the group (v1: in `controller`).
    fn file(&self, controller: &str, name: &str, file: &str) -> PathBuf {
        let base = if self.cg.version() == "v2" {
            self.root.clone()
        } else {
            self.root.join(controller)
        };
        base.join(&self.parent).join(name).join(file)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.cg.remove(name);
        }
        let _ = fs::remove_dir(self.root.join(&self.parent));
        if let Ok(entries) = fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                let _ = fs::remove_dir(entry.path().join(&self.parent));
            }
        }
    }
}

/// A child process, killed and reaped when dropped.
struct Kid(Child);

impl Kid {
    fn spawn(script: &str) -> Self {
        let child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        Self(child)
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Lets a child blocked in `read x` go on.
    fn release(&mut self) {
        let stdin = self.0.stdin.as_mut().expect("stdin");
        stdin.write_all(b"go\n").expect("write to child");
        stdin.flush().expect("flush");
    }

    fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// utime + stime of `pid` in seconds, from /proc/PID/stat (proc(5)).
fn cpu_seconds(pid: i32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the ")" closing comm: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / clock_ticks()
}

/// Idle time of all CPUs together, in seconds, from /proc/stat (proc(5)).
fn idle_seconds() -> f64 {
    let stat = fs::read_to_string("/proc/stat").expect("read /proc/stat");
    let cpu = stat.lines().next().expect("cpu line");
    let fields: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().expect("cpu field"))
        .collect();
    // idle + iowait
    (fields[3] + fields[4]) as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions and only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    hz as f64
}

/// The share of one CPU `pid` used over `window`, in percent.
fn cpu_percent(pid: i32, window: Duration) -> f64 {
    let (t0, c0) = (Instant::now(), cpu_seconds(pid));
    thread::sleep(window);
    let (t1, c1) = (Instant::now(), cpu_seconds(pid));
    (c1 - c0) / (t1 - t0).as_secs_f64() * 100.0
}

fn is_sigkill(status: ExitStatus) -> bool {
    // sh reports a child killed by signal 9 as exit code 128 + 9.
    status.signal() == Some(9) || status.code() == Some(137)
}

#[test]
fn detect_matches_the_mounted_hierarchy() {
    let fx = Fixture::real();
    let pure_v2 = statfs(DEFAULT_ROOT).expect("statfs").filesystem_type() == CGROUP2_SUPER_MAGIC;
    assert_eq!(fx.cg.version(), if pure_v2 { "v2" } else { "v1" });
    // This machine is hybrid: v1 controllers plus an empty unified tree.
    if Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        assert_eq!(fx.cg.version(), "v1");
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn memory_limit_bites() {
    common::needs_root();
    let mut fx = Fixture::real();
    let limits = Limits {
        mem_limit_bytes: Some(64 << 20),
        ..Limits::default()
    };
    fx.create("oom", &limits);
    let limit_file = if fx.cg.version() == "v2" {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    let limit = fs::read_to_string(fx.file("memory", "oom", limit_file)).expect("read limit");
    assert_eq!(limit.trim(), "67108864");

    // tail keeps a "line" without newline whole: 200 MiB, 3 times the limit.
    let mut kid = Kid::spawn("read x; head -c 200M /dev/zero | tail");
    fx.cg.add_pid("oom", kid.pid()).expect("add_pid");
    kid.release();
    let status = kid
        .wait_for(Duration::from_secs(30))
        .expect("the child ran 30 s: the memory limit does not bite");
    assert!(
        is_sigkill(status),
        "not killed by the OOM killer: {status:?}"
    );

    // The kernel's own word that the limit, not something else, killed it.
    // (memory.failcnt is no proof on v1: with memory.memsw.limit_in_bytes
    // pinned to the limit, 6.x kernels count the failure nowhere.)
    let (file, key) = if fx.cg.version() == "v2" {
        ("memory.events", "oom_kill ")
    } else {
        ("memory.oom_control", "oom_kill ")
    };
    let text = fs::read_to_string(fx.file("memory", "oom", file)).expect("read oom counter");
    let kills: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .expect("oom_kill line")
        .trim()
        .parse()
        .expect("oom_kill count");
    assert!(kills >= 1, "{file}: {text}");
    fx.cg.remove("oom").expect("remove");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn cpu_list_sets_the_affinity() {
    common::needs_root();
    let mut fx = Fixture::real();
    fx.create(
        "pinned",
        &Limits {
            cpus: Some(vec![0]),
            ..Limits::default()
        },
    );
    let kid = Kid::spawn("exec sleep 5");
    fx.cg.add_pid("pinned", kid.pid()).expect("add_pid");
    let status = fs::read_to_string(format!("/proc/{}/status", kid.pid())).expect("status");
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list");
    assert_eq!(allowed.trim(), "0");
    fx.cg.remove("pinned").expect("remove");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_cpu_that_does_not_exist_is_refused() {
    common::needs_root();
    let mut fx = Fixture::real();
    let err = fx
        .cg
        .create(
            "nocpu",
            &Limits {
                cpus: Some(vec![4095]),
                ..Limits::default()
            },
        )
        .expect_err("cpu 4095 accepted");
    fx.names.push("nocpu".to_string());
    assert!(
        matches!(err, CgroupError::CpuUnavailable { cpu: 4095, .. }),
        "{err}"
    );
    for dir in fx.group_dirs("nocpu") {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn cpu_quota_throttles() {
    common::needs_root();
    let mut fx = Fixture::real();
    fx.create(
        "quota",
        &Limits {
            cpu_quota_percent: Some(25),
            ..Limits::default()
        },
    );
    fx.create("free", &Limits::default());
    let limited = Kid::spawn("while :; do :; done");
    let control = Kid::spawn("while :; do :; done");
    fx.cg
        .add_pid("quota", limited.pid())
        .expect("add_pid quota");
    fx.cg.add_pid("free", control.pid()).expect("add_pid free");

    // Both at once, and the whole machine's idle time over the same window:
    // an unlimited busy loop must use at least 80 % of a CPU, unless the
    // machine had no CPU to spare (others' load is no failure of ours).
    let sampler = {
        let pid = control.pid();
        thread::spawn(move || cpu_percent(pid, Duration::from_secs(2)))
    };
    let idle_before = idle_seconds();
    let used = cpu_percent(limited.pid(), Duration::from_secs(2));
    let idle = (idle_seconds() - idle_before) / 2.0 * 100.0;
    let free = sampler.join().expect("sampler");
    assert!(used <= 35.0, "25 % quota, used {used:.1} %");
    assert!(
        free > 80.0 || idle < 20.0,
        "no quota, used only {free:.1} % with {idle:.1} % of a CPU idle"
    );
    let stat = fs::read_to_string(fx.file("cpu", "quota", "cpu.stat")).expect("cpu.stat");
    let throttled: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .expect("nr_throttled")
        .trim()
        .parse()
        .expect("nr_throttled count");
    // A loop that got less than its quota (a busy machine) is never
    // throttled; one that got close to it must have been.
    assert!(
        throttled > 0 || used < 20.0,
        "used {used:.1} % but never throttled: {stat}"
    );
    let (file, want) = if fx.cg.version() == "v2" {
        ("cpu.max", "25000 100000")
    } else {
        ("cpu.cfs_quota_us", "25000")
    };
    let quota = fs::read_to_string(fx.file("cpu", "quota", file)).expect("read quota");
    assert_eq!(quota.trim(), want);

    let usage = fx.cg.usage("quota").expect("usage");
    let nanos = usage.cpu_nanos.expect("cpu accounting");
    assert!(nanos > 100_000_000, "cpu usage {nanos} ns");
    fx.cg.remove("quota").expect("remove quota");
    fx.cg.remove("free").expect("remove free");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn remove_kills_leftovers_and_deletes_every_directory() {
    common::needs_root();
    let mut fx = Fixture::real();
    fx.create("left", &Limits::default());
    let mut a = Kid::spawn("exec sleep 100");
    let mut b = Kid::spawn("exec sleep 100");
    let mut c = Kid::spawn("exec sleep 100");
    for kid in [&a, &b, &c] {
        fx.cg.add_pid("left", kid.pid()).expect("add_pid");
    }
    let mut want = vec![a.pid(), b.pid(), c.pid()];
    want.sort();
    assert_eq!(fx.cg.pids("left").expect("pids"), want);

    // A sub-group with a process in it, as systemd in a container makes.
    let dirs = fx.group_dirs("left");
    let sub = dirs[0].join("init.scope");
    fs::create_dir(&sub).expect("mkdir sub-group");
    fs::write(sub.join("cgroup.procs"), c.pid().to_string()).expect("move into sub-group");
    assert_eq!(fx.cg.pids("left").expect("pids"), want);

    let usage = fx.cg.usage("left").expect("usage");
    assert!(usage.memory_bytes.is_some(), "{usage:?}");

    // The creation is idempotent only for an empty group.
    let err = fx
        .cg
        .create("left", &Limits::default())
        .expect_err("reused a busy group");
    assert!(matches!(err, CgroupError::InUse { .. }), "{err}");

    fx.cg.remove("left").expect("remove");
    for kid in [&mut a, &mut b, &mut c] {
        let status = kid.wait_for(Duration::from_secs(5)).expect("still running");
        assert_eq!(status.signal(), Some(9), "{status:?}");
    }
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    assert!(matches!(
        fx.cg.pids("left"),
        Err(CgroupError::Missing { .. })
    ));
    fx.cg.remove("left").expect("remove a missing group");
}

/// A private cgroup2 mount, unmounted when dropped (lazily, so that a
/// failing test cannot leave it busy).
struct Cgroup2Mount {
    dir: tempfile::TempDir,
}

impl Cgroup2Mount {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        mount(
            Some("none"),
            dir.path(),
            Some("cgroup2"),
            MsFlags::empty(),
            None::<&str>,
        )
        .expect("mount cgroup2");
        Self { dir }
    }
}

impl Drop for Cgroup2Mount {
    fn drop(&mut self) {
        let _ = umount2(self.dir.path(), MntFlags::MNT_DETACH);
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn v2_on_a_fresh_cgroup2_mount() {
    common::needs_root();
    let mnt = Cgroup2Mount::new();
    let mut fx = Fixture::on(mnt.dir.path());
    assert_eq!(fx.cg.version(), "v2");
    // V2::new directly is what detect() picked.
    V2::new(mnt.dir.path(), &fx.parent).expect("V2::new");

    let available = fs::read_to_string(mnt.dir.path().join("cgroup.controllers")).expect("read");
    if !available.split_whitespace().any(|c| c == "memory") {
        // Hybrid: memory is bound to v1, so a memory limit is refused.
        let err = fx
            .cg
            .create(
                "box",
                &Limits {
                    mem_limit_bytes: Some(64 << 20),
                    ..Limits::default()
                },
            )
            .expect_err("memory limit without the memory controller");
        assert!(
            matches!(
                err,
                CgroupError::ControllerMissing {
                    controller: "memory",
                    ..
                }
            ),
            "{err}"
        );
    }

    fx.create("box", &Limits::default());
    let mut kid = Kid::spawn("exec sleep 100");
    fx.cg.add_pid("box", kid.pid()).expect("add_pid");
    assert_eq!(fx.cg.pids("box").expect("pids"), vec![kid.pid()]);
    let membership = fs::read_to_string(format!("/proc/{}/cgroup", kid.pid())).expect("cgroup");
    let want = format!("0::/{}/box", fx.parent);
    assert!(membership.lines().any(|l| l == want), "{membership}");
    assert!(fx.cg.usage("box").expect("usage").cpu_nanos.is_some());

    fx.cg.remove("box").expect("remove");
    let status = kid.wait_for(Duration::from_secs(5)).expect("still running");
    assert_eq!(status.signal(), Some(9), "{status:?}");
    let parent = mnt.dir.path().join(&fx.parent);
    assert!(!parent.join("box").exists());
    drop(fx);
    assert!(!parent.exists(), "the fixture left {}", parent.display());
}
