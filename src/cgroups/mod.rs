//! Control groups of containers: one small trait, with a cgroup v1 and a
//! cgroup v2 backend behind it, detected once per run (youki's
//! `CgroupManager`, LXC's `cgroup_ops`). The hierarchy root is a parameter so
//! that all logic runs on a temp dir in unit tests (Firecracker's
//! `MockCgroupFs`); the few places where the kernel acts on its own (mkdir
//! fills a directory with interface files, rmdir drops them, SIGKILL, the
//! time a freeze takes) sit behind [`KernelOps`].

mod detect;
pub mod devices;
#[cfg(test)]
mod mockfs;
mod v1;
mod v2;

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use xdockerinit::sys::{ErrnoText, IoText};

pub use detect::detect;
pub use v1::V1;
pub use v2::V2;

/// Where the cgroup hierarchy lives on every distribution we know.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
/// The cgroup under which every container gets its own group.
pub const DEFAULT_PARENT: &str = "xdocker";

/// How long `remove` waits for killed processes to leave the group.
const KILL_WAIT: Duration = Duration::from_secs(2);
/// How often and how long `remove` retries an rmdir that says EBUSY (the
/// kernel releases a killed task's cgroup reference a moment after it dies).
const RMDIR_TRIES: u32 = 20;
const RMDIR_PAUSE: Duration = Duration::from_millis(25);
/// Poll interval while waiting for a group to empty.
const POLL: Duration = Duration::from_millis(10);
/// How long a freeze may sleep in all while the kernel still says the
/// group is freezing (v2; v1 counts tries, see `v1::FREEZE_TRIES`).
const FREEZE_WAIT: Duration = Duration::from_secs(5);

/// The CFS period both backends use: 100 ms, the kernel default, so that
/// `cpu_quota_percent` percent of it is the quota in microseconds * 10.
pub const CPU_PERIOD_US: u64 = 100_000;

/// Resource limits of a container (from its config; all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// CPUs the container may run on (cpuset), e.g. `[0, 2, 3]`.
    pub cpus: Option<Vec<u32>>,
    /// CPU time per period in percent of one CPU (200 = two full CPUs).
    pub cpu_quota_percent: Option<u32>,
    /// Memory limit in bytes; swap is not granted on top of it.
    pub mem_limit_bytes: Option<u64>,
    /// Most processes (and threads) at once: a fork bomb stops there.
    #[serde(default)]
    pub pids_max: Option<u64>,
    /// Relative CPU weight against other groups when CPUs are busy, in v1
    /// `cpu.shares` units ([`CPU_SHARES_MIN`] to [`CPU_SHARES_MAX`]; the
    /// kernel's default is 1024); v2 gets [`shares_to_weight`] of it.
    #[serde(default)]
    pub cpu_shares: Option<u64>,
}

/// The range of v1 `cpu.shares` (the kernel's MIN_SHARES and MAX_SHARES).
pub const CPU_SHARES_MIN: u64 = 2;
pub const CPU_SHARES_MAX: u64 = 262_144;
/// What `cpu.shares` and `cpu.weight` hold when nothing is asked.
const CPU_SHARES_DEFAULT: u64 = 1024;
const CPU_WEIGHT_DEFAULT: u64 = 100;

/// v1 shares as a v2 `cpu.weight` (1 to 10000), converted as crun and
/// runc do: the ends of the two ranges meet (2 -> 1, 262144 -> 10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(CPU_SHARES_MIN, CPU_SHARES_MAX);
    1 + ((shares - 2) * 9999) / 262_142
}

/// Resource use of a group; `None` when the hierarchy does not account it
/// (controller not mounted or not enabled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Memory charged to the group, in bytes (page cache included).
    pub memory_bytes: Option<u64>,
    /// CPU time used by the group since it was created, in nanoseconds.
    pub cpu_nanos: Option<u64>,
    /// Processes (and threads) in the group now (`pids.current`).
    pub pids: Option<u64>,
}

/// What the freezer says of a group: `-s containers` shows a container
/// whose group is not thawed as PAUSED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    /// Its processes run (also: no freezer to freeze it with).
    Thawed,
    /// Asked to freeze, and some processes are not frozen yet.
    Freezing,
    /// Every process of the group and its sub-groups is frozen.
    Frozen,
}

impl fmt::Display for FreezerState {
    /// The v1 `freezer.state` word.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Thawed => "THAWED",
            Self::Freezing => "FREEZING",
            Self::Frozen => "FROZEN",
        })
    }
}

/// Errors of the cgroups module; each names the operation and the path.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A group or parent name that is not one plain path component.
    #[error("{what} '{name}' is not a plain directory name")]
    BadName { what: &'static str, name: String },
    /// A limit that can never be applied (0 % CPU, an empty CPU list).
    #[error("invalid limit: {reason}")]
    BadLimit { reason: String },
    /// statfs on the hierarchy root failed.
    #[error("detect cgroup hierarchy at {}: {}", .path.display(), IoText(.error))]
    Statfs { path: PathBuf, error: io::Error },
    /// Neither cgroup2 nor the v1 memory or cpu controller at `path`.
    #[error("no cgroup hierarchy at {}: neither cgroup2 nor a v1 memory or cpu controller", .path.display())]
    NoHierarchy { path: PathBuf },
    /// The group does not exist (in any controller, for v1).
    #[error("cgroup {} does not exist", .path.display())]
    Missing { path: PathBuf },
    /// mkdir of a group or of the parent failed.
    #[error("create cgroup {}: {}", .path.display(), IoText(.error))]
    Mkdir { path: PathBuf, error: io::Error },
    /// Reading an interface file (or listing a group) failed.
    #[error("read {}: {}", .path.display(), IoText(.error))]
    Read { path: PathBuf, error: io::Error },
    /// An interface file held something we cannot parse.
    #[error("read {}: unexpected content '{content}'", .path.display())]
    Parse { path: PathBuf, content: String },
    /// Writing a value (a limit, a controller list) failed.
    #[error("write '{value}' to {}: {}", .path.display(), IoText(.error))]
    Write {
        path: PathBuf,
        value: String,
        error: io::Error,
    },
    /// A limit was requested but its controller is not available.
    #[error("{limit} limit needs the {controller} cgroup controller, which {} does not offer", .path.display())]
    ControllerMissing {
        controller: &'static str,
        limit: &'static str,
        path: PathBuf,
    },
    /// A requested CPU is outside the parent's cpuset.
    #[error("cpu {cpu} is not available in {} (cpus {available})", .path.display())]
    CpuUnavailable {
        cpu: u32,
        path: PathBuf,
        available: String,
    },
    /// `create` found the group already holding processes.
    #[error("create cgroup {}: already in use by pids {pids:?}", .path.display())]
    InUse { path: PathBuf, pids: Vec<i32> },
    /// Writing the pid into `cgroup.procs` failed.
    #[error("add pid {pid} to {}: {}", .path.display(), IoText(.error))]
    AddPid {
        pid: i32,
        path: PathBuf,
        error: io::Error,
    },
    /// SIGKILL to a process of the group failed (other than "no such process").
    #[error("kill pid {pid} of cgroup {}: {}", .path.display(), ErrnoText(*.error))]
    Kill {
        pid: i32,
        path: PathBuf,
        error: Errno,
    },
    /// Processes survived SIGKILL for the whole wait (or one is ourselves).
    #[error("remove cgroup {}: pids {pids:?} still running after {waited_ms} ms", .path.display())]
    StillRunning {
        path: PathBuf,
        pids: Vec<i32>,
        waited_ms: u128,
    },
    /// Loading or attaching the v2 device program failed.
    #[error("limit devices of cgroup {}: {}", .path.display(), IoText(.error))]
    Devices { path: PathBuf, error: io::Error },
    /// rmdir of a group failed (after retrying EBUSY).
    #[error("remove cgroup {}: {}", .path.display(), IoText(.error))]
    Rmdir { path: PathBuf, error: io::Error },
    /// Freezing needs a freezer: v1's freezer controller, v2's
    /// `cgroup.freeze` (Linux 5.2).
    #[error("freeze cgroup {}: no freezer there (v1: the freezer controller; v2: cgroup.freeze, Linux 5.2)", .path.display())]
    NoFreezer { path: PathBuf },
    /// The kernel never said frozen; the group was thawed again.
    #[error("freeze cgroup {}: still {state} after {waited_ms} ms, thawed again", .path.display())]
    Freeze {
        path: PathBuf,
        state: FreezerState,
        waited_ms: u128,
    },
}

/// One cgroup hierarchy (v1 or v2) with its parent group.
pub trait Cgroups: fmt::Debug {
    /// Creates the cgroup `parent/name` (creating `parent` when missing),
    /// applies `limits`. Idempotent for an existing empty group (leftover of
    /// a crash): reuse it, re-apply limits; a group with processes is
    /// [`CgroupError::InUse`].
    fn create(&self, name: &str, limits: &Limits) -> Result<(), CgroupError>;
    /// Moves `pid` into the group (every controller for v1).
    fn add_pid(&self, name: &str, pid: i32) -> Result<(), CgroupError>;
    /// Moves the calling (single-threaded) process into the group. Used by
    /// the container's first process itself: on v1, a process moving itself
    /// through `tasks` costs well under a millisecond, while another process
    /// writing its pid to `cgroup.procs` waits ~12 ms for an RCU grace period.
    fn join_self(&self, name: &str) -> Result<(), CgroupError>;
    /// Pids in the group and its descendants, sorted (for status, and to
    /// kill leftovers); [`CgroupError::Missing`] when there is no group.
    fn pids(&self, name: &str) -> Result<Vec<i32>, CgroupError>;
    /// Kills everything left in the group (SIGKILL; v2: `cgroup.kill` when
    /// present), waits up to ~2 s until it is empty, then removes the group
    /// directories (all controllers for v1). A missing group is Ok.
    fn remove(&self, name: &str) -> Result<(), CgroupError>;
    /// Memory use and CPU time of the group.
    fn usage(&self, name: &str) -> Result<Usage, CgroupError>;
    /// Freezes every process of the group and its sub-groups, and returns
    /// once the kernel says they are all frozen (a bounded wait); when it
    /// never does, the group is thawed again and the error says so.
    /// Crash point (see [`crate::crashpoint`]): `pause.written`, right
    /// after the kernel was first asked to freeze.
    fn freeze(&self, name: &str) -> Result<(), CgroupError>;
    /// Thaws the group (a thawed group stays as it is).
    fn thaw(&self, name: &str) -> Result<(), CgroupError>;
    /// What the kernel says of the group's freezer now.
    fn freezer_state(&self, name: &str) -> Result<FreezerState, CgroupError>;
    /// Which hierarchy this is ("v1"/"v2"), for messages and logs.
    fn version(&self) -> &'static str;
}

/// The actions where the kernel does more than a plain file system would:
/// `mkdir` in cgroupfs creates the interface files, `rmdir` removes a
/// directory that still lists them, SIGKILL ends processes. The real
/// implementation is [`KernelOps::REAL`]; unit tests use a fake that plays
/// the kernel on a temp dir and never signals anything.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KernelOps {
    pub mkdir: fn(&Path) -> io::Result<()>,
    pub rmdir: fn(&Path) -> io::Result<()>,
    pub kill: fn(i32) -> Result<(), Errno>,
    /// v2: makes sure a device program of these rules is attached to a group.
    pub devices: fn(&Path, &[devices::Rule]) -> io::Result<()>,
    /// Waits while the kernel freezes a group (the fake kernel freezes at
    /// once, or never: its tests need not wait).
    pub sleep: fn(Duration),
}

impl KernelOps {
    pub(crate) const REAL: KernelOps = KernelOps {
        mkdir: real_mkdir,
        rmdir: real_rmdir,
        kill: real_kill,
        devices: devices::ensure_v2,
        sleep: thread::sleep,
    };
}

fn real_mkdir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o755).create(path)
}

fn real_rmdir(path: &Path) -> io::Result<()> {
    fs::remove_dir(path)
}

fn real_kill(pid: i32) -> Result<(), Errno> {
    signal::kill(Pid::from_raw(pid), Signal::SIGKILL)
}

/// Refuses anything but one plain path component: the caller validates
/// names already, but a `/` or `..` here would escape the hierarchy.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), CgroupError> {
    if name.is_empty()
        || name == "."
        || name.contains("..")
        || name.contains('/')
        || name.contains('\0')
    {
        return Err(CgroupError::BadName {
            what,
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Limits the kernel would reject with a bare EINVAL, refused with a reason.
pub(crate) fn check_limits(limits: &Limits) -> Result<(), CgroupError> {
    if limits.cpu_quota_percent == Some(0) {
        return Err(CgroupError::BadLimit {
            reason: "cpu quota must be at least 1 percent".to_string(),
        });
    }
    if limits.cpus.as_ref().is_some_and(|c| c.is_empty()) {
        return Err(CgroupError::BadLimit {
            reason: "cpu list is empty".to_string(),
        });
    }
    if limits.pids_max == Some(0) {
        return Err(CgroupError::BadLimit {
            reason: "pids limit must be at least 1".to_string(),
        });
    }
    if limits.mem_limit_bytes == Some(0) {
        return Err(CgroupError::BadLimit {
            reason: "memory limit must be more than 0 bytes".to_string(),
        });
    }
    if let Some(shares) = limits
        .cpu_shares
        .filter(|s| !(CPU_SHARES_MIN..=CPU_SHARES_MAX).contains(s))
    {
        return Err(CgroupError::BadLimit {
            reason: format!("cpu shares {shares} is not {CPU_SHARES_MIN} to {CPU_SHARES_MAX}"),
        });
    }
    Ok(())
}

/// The quota in microseconds per [`CPU_PERIOD_US`] for `percent` of one CPU.
pub(crate) fn quota_us(percent: u32) -> u64 {
    u64::from(percent) * CPU_PERIOD_US / 100
}

/// Reads an interface file, trimmed.
pub(crate) fn read_value(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|error| CgroupError::Read {
            path: path.to_path_buf(),
            error,
        })
}

/// Reads an interface file that may not exist (`None` then).
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// Reads a number from an interface file.
pub(crate) fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let text = read_value(path)?;
    text.parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        content: text,
    })
}

/// Writes `value` to an interface file in one write(2), as cgroupfs wants.
pub(crate) fn write_value(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(|error| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.trim().to_string(),
        error,
    })
}

/// Creates one directory; `Ok(true)` when it was created, `Ok(false)` when
/// it already existed.
pub(crate) fn make_dir(ops: &KernelOps, path: &Path) -> Result<bool, CgroupError> {
    match (ops.mkdir)(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(false),
        Err(error) => Err(CgroupError::Mkdir {
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// Parses the kernel's CPU list format ("0-3,5,7-8"; empty = none).
pub(crate) fn parse_cpu_list(text: &str) -> Option<BTreeSet<u32>> {
    let mut cpus = BTreeSet::new();
    for part in text.trim().split(',').filter(|p| !p.trim().is_empty()) {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => {
                cpus.insert(part.parse().ok()?);
            }
        }
    }
    Some(cpus)
}

/// Formats CPUs in the kernel's list format, ranges compressed: [0,1,2,5] ->
/// "0-2,5".
pub(crate) fn format_cpu_list(cpus: &[u32]) -> String {
    let set: BTreeSet<u32> = cpus.iter().copied().collect();
    let mut parts = Vec::new();
    let mut iter = set.into_iter().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

/// Where the kernel lists the CPUs that are online.
pub const ONLINE_CPUS: &str = "/sys/devices/system/cpu/online";

/// Checks that every requested CPU is online on this host (at create, so
/// that a list that cannot work is refused before it is stored).
pub fn check_online_cpus(cpus: &[u32]) -> Result<(), CgroupError> {
    let path = Path::new(ONLINE_CPUS);
    let online = read_value(path)?;
    check_cpus(cpus, path, &online)
}

/// Checks that every requested CPU is in `available` (read from `path`).
pub(crate) fn check_cpus(cpus: &[u32], path: &Path, available: &str) -> Result<(), CgroupError> {
    let set = parse_cpu_list(available).ok_or_else(|| CgroupError::Parse {
        path: path.to_path_buf(),
        content: available.to_string(),
    })?;
    match cpus.iter().find(|c| !set.contains(c)) {
        Some(&cpu) => Err(CgroupError::CpuUnavailable {
            cpu,
            path: path.to_path_buf(),
            available: available.to_string(),
        }),
        None => Ok(()),
    }
}

/// Adds the pids of `dir` and of its descendant groups to `out`; a group
/// that vanished meanwhile counts as empty.
pub(crate) fn collect_pids(dir: &Path, out: &mut BTreeSet<i32>) -> Result<(), CgroupError> {
    let procs = dir.join("cgroup.procs");
    if let Some(text) = read_optional(&procs)? {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let pid = line.trim().parse().map_err(|_| CgroupError::Parse {
                path: procs.clone(),
                content: line.to_string(),
            })?;
            out.insert(pid);
        }
    }
    for child in child_groups(dir)? {
        collect_pids(&child, out)?;
    }
    Ok(())
}

/// The sub-groups of `dir` (a container may create its own, e.g. systemd).
fn child_groups(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let read_err = |error| CgroupError::Read {
        path: dir.to_path_buf(),
        error,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_err(e)),
    };
    let mut children = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_err)?;
        if entry.file_type().map_err(read_err)?.is_dir() {
            children.push(entry.path());
        }
    }
    Ok(children)
}

/// SIGKILLs every process in `dirs` (and their sub-groups) until none is
/// left or [`KILL_WAIT`] is over. Without a freezer (v1) or `cgroup.kill`
/// a forking process can race us, hence the loop rather than one pass.
pub(crate) fn kill_all(ops: &KernelOps, dirs: &[PathBuf]) -> Result<(), CgroupError> {
    let start = Instant::now();
    loop {
        let mut pids = BTreeSet::new();
        for dir in dirs {
            collect_pids(dir, &mut pids)?;
        }
        if pids.is_empty() {
            return Ok(());
        }
        let path = dirs.first().cloned().unwrap_or_default();
        if start.elapsed() >= KILL_WAIT {
            return Err(CgroupError::StillRunning {
                path,
                pids: pids.into_iter().collect(),
                waited_ms: start.elapsed().as_millis(),
            });
        }
        kill_pids(ops, &path, &pids)?;
        thread::sleep(POLL);
    }
}

/// SIGKILLs each of `pids` (found in the group at `path`) once.
pub(crate) fn kill_pids(
    ops: &KernelOps,
    path: &Path,
    pids: &BTreeSet<i32>,
) -> Result<(), CgroupError> {
    let me = std::process::id() as i32;
    // Never signal ourselves (someone moved us in) nor kill(0)/kill(-1),
    // which would hit our process group or every process.
    for &pid in pids.iter().filter(|&&p| p > 0 && p != me) {
        match (ops.kill)(pid) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(error) => {
                return Err(CgroupError::Kill {
                    pid,
                    path: path.to_path_buf(),
                    error,
                })
            }
        }
    }
    Ok(())
}

/// The pause before the next look at a freezing group: none for the
/// first, then doubling from 10 µs up to 10 ms. An idle container is
/// frozen before the first look; a busy one within a few.
pub(crate) fn freeze_backoff(attempt: u32) -> Duration {
    match attempt {
        0 => Duration::ZERO,
        n => Duration::from_micros(10 << (n - 1).min(10)).min(Duration::from_millis(10)),
    }
}

/// Removes `dir` and its sub-groups, deepest first. ENOENT is success;
/// EBUSY (a task not yet released after SIGKILL) is retried briefly.
/// One rmdir: true when `dir` is gone (or was not there). Once a container
/// stopped its group is usually empty and has no sub-groups, and this is
/// all removal takes; false sends the caller the long way ([`kill_all`],
/// [`remove_tree`]), which also reports what refused.
pub(crate) fn removed_at_once(ops: &KernelOps, dir: &Path) -> bool {
    match (ops.rmdir)(dir) {
        Ok(()) => true,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

pub(crate) fn remove_tree(ops: &KernelOps, dir: &Path) -> Result<(), CgroupError> {
    for child in child_groups(dir)? {
        remove_tree(ops, &child)?;
    }
    let mut tries = 0;
    loop {
        match (ops.rmdir)(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < RMDIR_TRIES => {
                tries += 1;
                thread::sleep(RMDIR_PAUSE);
            }
            Err(error) => {
                return Err(CgroupError::Rmdir {
                    path: dir.to_path_buf(),
                    error,
                })
            }
        }
    }
}

/// Best-effort removal of directories this call created before it failed;
/// the original error is what the caller reports, so failures here are
/// dropped on purpose.
pub(crate) fn undo_created(ops: &KernelOps, created: &[PathBuf]) {
    for dir in created.iter().rev() {
        let _ = (ops.rmdir)(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_slash_or_dotdot_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "x..y", "/abs", "a\0b"] {
            assert!(
                matches!(
                    check_name("cgroup name", bad),
                    Err(CgroupError::BadName { .. })
                ),
                "{bad:?}"
            );
        }
        for good in ["web", "web-1", "a.b", "x=y", "A_9"] {
            check_name("cgroup name", good).unwrap();
        }
    }

    #[test]
    fn cpu_lists_round_trip() {
        assert_eq!(format_cpu_list(&[0]), "0");
        assert_eq!(format_cpu_list(&[5, 0, 1, 2, 2, 7, 8]), "0-2,5,7-8");
        let set = parse_cpu_list("0-2,5,7-8\n").unwrap();
        assert_eq!(set.into_iter().collect::<Vec<_>>(), vec![0, 1, 2, 5, 7, 8]);
        assert_eq!(parse_cpu_list("").unwrap().len(), 0);
        assert!(parse_cpu_list("3-1").is_none());
        assert!(parse_cpu_list("x").is_none());
    }

    #[test]
    fn cpu_check_names_the_missing_cpu() {
        let err = check_cpus(&[0, 3], Path::new("/cg/cpuset.cpus"), "0-1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cpu 3 is not available in /cg/cpuset.cpus (cpus 0-1)"
        );
        check_cpus(&[1], Path::new("/x"), "0-1").unwrap();
    }

    #[test]
    fn impossible_limits_are_refused() {
        let bad = [
            Limits {
                cpu_quota_percent: Some(0),
                ..Limits::default()
            },
            Limits {
                cpus: Some(vec![]),
                ..Limits::default()
            },
            Limits {
                mem_limit_bytes: Some(0),
                ..Limits::default()
            },
            Limits {
                cpu_shares: Some(1),
                ..Limits::default()
            },
            Limits {
                cpu_shares: Some(CPU_SHARES_MAX + 1),
                ..Limits::default()
            },
        ];
        for limits in bad {
            assert!(matches!(
                check_limits(&limits),
                Err(CgroupError::BadLimit { .. })
            ));
        }
        let e = check_limits(&Limits {
            cpu_shares: Some(1),
            ..Limits::default()
        })
        .expect_err("1 share");
        assert_eq!(
            e.to_string(),
            "invalid limit: cpu shares 1 is not 2 to 262144"
        );
        assert_eq!(quota_us(25), 25_000);
        assert_eq!(quota_us(250), 250_000);
    }

    #[test]
    fn shares_convert_to_weights_as_crun_does() {
        // crun's table (`convert_shares_to_weight`): the ends meet, the
        // default of v1 is not the default of v2.
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(4096), 157);
        for s in [2, 3, 100, 1024, 100_000, 262_144] {
            assert!((1..=10_000).contains(&shares_to_weight(s)), "{s}");
        }
    }

    #[test]
    fn messages_are_lowercase_and_name_the_path() {
        let err = CgroupError::Write {
            path: PathBuf::from("/cg/cpu.max"),
            value: "0 100000".to_string(),
            error: io::Error::from_raw_os_error(libc::EINVAL),
        };
        assert_eq!(
            err.to_string(),
            "write '0 100000' to /cg/cpu.max: invalid argument"
        );
    }

    #[test]
    fn limits_read_from_toml() {
        let limits: Limits = toml::from_str("cpus = [0, 1]\nmem_limit_bytes = 67108864\n").unwrap();
        assert_eq!(limits.cpus, Some(vec![0, 1]));
        assert_eq!(limits.mem_limit_bytes, Some(67_108_864));
        assert_eq!(limits.cpu_quota_percent, None);
    }

    proptest::proptest! {
        #[test]
        fn cpu_list_format_parses_back(cpus in proptest::collection::vec(0u32..256, 1..40)) {
            let text = format_cpu_list(&cpus);
            let back = parse_cpu_list(&text).unwrap();
            let want: BTreeSet<u32> = cpus.into_iter().collect();
            proptest::prop_assert_eq!(back, want);
        }
    }
}
