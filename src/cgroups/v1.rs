//! cgroup v1 backend: one hierarchy per controller, each mounted at
//! `root/<controller>`, so every group exists once per controller and a pid
//! is moved into each (kernel Documentation/admin-guide/cgroup-v1/).
//! Controllers not mounted are skipped, unless a requested limit needs one.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    check_cpus, check_limits, check_name, collect_pids, devices, format_cpu_list, freeze_backoff,
    kill_all, kill_pids, make_dir, quota_us, read_optional, read_u64, read_value, remove_tree,
    removed_at_once, undo_created, write_value, CgroupError, Cgroups, FreezerState, KernelOps,
    Limits, Usage, CPU_PERIOD_US, CPU_SHARES_DEFAULT, FREEZE_WAIT,
};

/// The v1 controllers xdocker uses: cpu (CFS quota), cpuacct (CPU time),
/// cpuset (CPU list), memory (limit and usage), pids (for a later limit),
/// devices (which device nodes may be opened, see [`super::devices`]),
/// and systemd's hierarchies, which have no controller: a container must
/// leave the cgroup of whoever booted it there, or logging out of a
/// session (`KillUserProcesses`) or stopping the unit that ran the boot
/// kills it with everything else in that cgroup. That is `name=systemd`
/// (`systemd`) on a legacy host, and the cgroup v2 tree mounted at
/// `unified` on a hybrid one, where systemd finds a unit's processes.
/// The freezer pauses a container (`-a pause`); remove() still kills in a
/// loop, thawing a frozen group after the first SIGKILL.
const CONTROLLERS: [&str; 9] = [
    "cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "systemd", "unified",
];

/// The hierarchy of [`CONTROLLERS`] that is cgroup v2 (a hybrid host's):
/// it has no `tasks` file, a process joins it through `cgroup.procs`.
const UNIFIED: &str = "unified";

/// What `freezer.state` takes and says.
const THAWED: &str = "THAWED";
const FROZEN: &str = "FROZEN";
const FREEZING: &str = "FREEZING";
/// Every this many tries a group that will not freeze is thawed for
/// [`THAW_PAUSE`] before the next (runc: new processes keep appearing
/// otherwise, and a cgroup v1 may never freeze).
const THAW_EVERY: u32 = 50;
const THAW_PAUSE: Duration = Duration::from_millis(10);

/// One mounted v1 controller.
#[derive(Debug, Clone)]
struct Controller {
    name: &'static str,
    /// The mount point, symlinks resolved, so that co-mounted controllers
    /// ("cpu,cpuacct" with `cpu` and `cpuacct` as symlinks) share one entry.
    mount: PathBuf,
}

/// A controller's mount point with symlinks resolved. Only the co-mounted
/// controllers (`cpu` -> `cpu,cpuacct`) are symlinks: one readlink tells,
/// and only they pay for a full canonicalize.
fn resolve_mount(path: PathBuf) -> PathBuf {
    match fs::read_link(&path) {
        Ok(_) => fs::canonicalize(&path).unwrap_or(path),
        Err(_) => path,
    }
}

/// The cgroup v1 hierarchy at `root` with groups under `parent`.
#[derive(Debug)]
pub struct V1 {
    root: PathBuf,
    parent: String,
    controllers: Vec<Controller>,
    ops: KernelOps,
}

impl V1 {
    /// The v1 hierarchy at `root` (normally `/sys/fs/cgroup`); containers'
    /// groups go under `parent` in every controller.
    pub fn new(root: &Path, parent: &str) -> Result<Self, CgroupError> {
        Self::with_ops(root, parent, KernelOps::REAL)
    }

    pub(crate) fn with_ops(root: &Path, parent: &str, ops: KernelOps) -> Result<Self, CgroupError> {
        check_name("cgroup parent", parent)?;
        let controllers: Vec<Controller> = CONTROLLERS
            .iter()
            .filter_map(|&name| {
                let path = root.join(name);
                path.is_dir().then(|| Controller {
                    name,
                    mount: resolve_mount(path),
                })
            })
            .collect();
        if controllers.is_empty() {
            return Err(CgroupError::NoHierarchy {
                path: root.to_path_buf(),
            });
        }
        Ok(Self {
            root: root.to_path_buf(),
            parent: parent.to_string(),
            controllers,
            ops,
        })
    }

    fn controller(&self, name: &str) -> Option<&Controller> {
        self.controllers.iter().find(|c| c.name == name)
    }

    fn parent_dir(&self, c: &Controller) -> PathBuf {
        c.mount.join(&self.parent)
    }

    fn group_dir(&self, c: &Controller, name: &str) -> PathBuf {
        self.parent_dir(c).join(name)
    }

    /// The controllers with a mount point of their own (co-mounted ones
    /// once), so that each directory is visited once.
    fn distinct(&self) -> Vec<&Controller> {
        let mut seen = BTreeSet::new();
        self.controllers
            .iter()
            .filter(|c| seen.insert(c.mount.clone()))
            .collect()
    }

    /// The directories of the parent, one per mount point.
    fn parent_dirs(&self) -> Vec<PathBuf> {
        self.distinct()
            .into_iter()
            .map(|c| self.parent_dir(c))
            .collect()
    }

    /// The directories of `parent/name`, one per mount point. The devices
    /// controller too has a group per container: its cgroup namespace is
    /// rooted there, so root inside that mounts the devices hierarchy sees
    /// its own group, never the parent whose rules bind every container
    /// (a new group starts with the parent's rules and can never exceed
    /// them).
    fn dirs(&self, name: &str) -> Vec<PathBuf> {
        self.distinct()
            .into_iter()
            .map(|c| self.group_dir(c, name))
            .collect()
    }

    /// Where a container's processes go: its groups.
    fn join_dirs(&self, name: &str) -> Vec<PathBuf> {
        self.dirs(name)
    }

    fn existing_dirs(&self, name: &str) -> Vec<PathBuf> {
        self.dirs(name).into_iter().filter(|d| d.is_dir()).collect()
    }

    /// The freezer group of `name`: [`CgroupError::NoFreezer`] without
    /// the controller, [`CgroupError::Missing`] without the group (a
    /// container booted before xdocker gave each one a freezer group).
    fn freezer_dir(&self, name: &str) -> Result<PathBuf, CgroupError> {
        check_name("cgroup name", name)?;
        let Some(c) = self.controller("freezer") else {
            return Err(CgroupError::NoFreezer {
                path: self.root.join("freezer"),
            });
        };
        let dir = self.group_dir(c, name);
        if !dir.is_dir() {
            return Err(CgroupError::Missing { path: dir });
        }
        Ok(dir)
    }

    /// A frozen v1 task takes SIGKILL only once thawed: before `remove`
    /// kills, a frozen group gets its SIGKILLs first and is thawed then,
    /// so that none of its processes runs another instruction of its own.
    fn kill_frozen(&self, name: &str) -> Result<(), CgroupError> {
        let Some(c) = self.controller("freezer") else {
            return Ok(());
        };
        let dir = self.group_dir(c, name);
        let state = dir.join("freezer.state");
        match read_optional(&state)? {
            Some(s) if s != THAWED => {}
            _ => return Ok(()),
        }
        let mut pids = BTreeSet::new();
        collect_pids(&dir, &mut pids)?;
        kill_pids(&self.ops, &dir, &pids)?;
        write_value(&state, THAWED)
    }

    /// Everything of `create` after the checks; directories it makes are
    /// pushed to `created` so that the caller can undo them on failure.
    fn create_in(
        &self,
        name: &str,
        limits: &Limits,
        created: &mut Vec<PathBuf>,
    ) -> Result<(), CgroupError> {
        for dir in self.parent_dirs() {
            make_dir(&self.ops, &dir)?;
        }
        let cpuset = self.controller("cpuset");
        if let Some(c) = cpuset {
            // A new cpuset group starts with empty cpus and mems, and a
            // task cannot join it then (ENOSPC): copy the root's values
            // into our parent, unless someone set them already.
            let parent = self.parent_dir(c);
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if read_value(&parent.join(file))?.is_empty() {
                    write_value(&parent.join(file), &read_value(&c.mount.join(file))?)?;
                }
            }
            if let Some(cpus) = &limits.cpus {
                let effective = parent.join("cpuset.effective_cpus");
                let (path, available) = match read_optional(&effective)? {
                    Some(v) if !v.is_empty() => (effective, v),
                    _ => {
                        let path = parent.join("cpuset.cpus");
                        let v = read_value(&path)?;
                        (path, v)
                    }
                };
                check_cpus(cpus, &path, &available)?;
            }
        }

        if let Some(c) = self.controller("devices") {
            // The rules go on the parent, once: a new v1 group starts with
            // its parent's device list, so no boot pays for ~15 writes,
            // and no group below can ever allow more.
            let parent = self.parent_dir(c);
            let list = read_optional(&parent.join("devices.list"))?.unwrap_or_default();
            if list.is_empty() || list.lines().any(|l| l == "a *:* rwm") {
                // Deny all, then allow the list, one rule per write.
                write_value(&parent.join("devices.deny"), "a")?;
                for rule in devices::DEFAULT {
                    write_value(&parent.join("devices.allow"), &rule.v1_line())?;
                }
            }
        }

        let mut existed = Vec::new();
        for dir in self.dirs(name) {
            if make_dir(&self.ops, &dir)? {
                created.push(dir);
            } else {
                existed.push(dir);
            }
        }
        let mut pids = BTreeSet::new();
        for dir in &existed {
            collect_pids(dir, &mut pids)?;
        }
        if let (false, Some(dir)) = (pids.is_empty(), existed.first()) {
            return Err(CgroupError::InUse {
                path: dir.clone(),
                pids: pids.into_iter().collect(),
            });
        }

        if let Some(c) = cpuset {
            let (parent, group) = (self.parent_dir(c), self.group_dir(c, name));
            let cpus = match &limits.cpus {
                Some(cpus) => format_cpu_list(cpus),
                None => read_value(&parent.join("cpuset.cpus"))?,
            };
            write_value(&group.join("cpuset.cpus"), &cpus)?;
            let mems = read_value(&parent.join("cpuset.mems"))?;
            write_value(&group.join("cpuset.mems"), &mems)?;
        }
        if let Some(c) = self.controller("cpu") {
            let group = self.group_dir(c, name);
            write_value(&group.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
            let quota = match limits.cpu_quota_percent {
                Some(percent) => quota_us(percent).to_string(),
                None => "-1".to_string(),
            };
            write_value(&group.join("cpu.cfs_quota_us"), &quota)?;
            // A new group starts at the default; a reused one is reset.
            let shares = match limits.cpu_shares {
                Some(shares) => Some(shares),
                None if existed.contains(&group) => Some(CPU_SHARES_DEFAULT),
                None => None,
            };
            if let Some(shares) = shares {
                write_value(&group.join("cpu.shares"), &shares.to_string())?;
            }
        }
        if let Some(c) = self.controller("memory") {
            let group = self.group_dir(c, name);
            let limit = match limits.mem_limit_bytes {
                Some(bytes) => bytes.to_string(),
                None => "-1".to_string(),
            };
            // memory+swap must stay >= memory: lift it first, then set the
            // memory limit, then pin memory+swap to it so that the limit
            // cannot be dodged by swapping. Without swap accounting
            // (swapaccount=0, no CONFIG_MEMCG_SWAP) the file is absent.
            let memsw = c.mount.join("memory.memsw.limit_in_bytes").exists();
            if memsw {
                write_memsw(&group, "-1")?;
            }
            write_value(&group.join("memory.limit_in_bytes"), &limit)?;
            if memsw && limits.mem_limit_bytes.is_some() {
                write_memsw(&group, &limit)?;
            }
        }
        if let Some(c) = self.controller("pids") {
            let max = limits.pids_max.map_or("max".to_string(), |n| n.to_string());
            write_value(&self.group_dir(c, name).join("pids.max"), &max)?;
        }
        Ok(())
    }
}

/// Freezes the v1 group whose `freezer.state` is at `path`, as runc's
/// `FreezerGroup.Set` does: write FROZEN, read back; FREEZING (a task in
/// the middle of a fork, or new processes appearing) means write FROZEN
/// again, which makes the kernel try the group's tasks again, after a
/// pause growing to 10 ms; every [`THAW_EVERY`] tries thaw for
/// [`THAW_PAUSE`]. After [`FREEZE_WAIT`] of pauses it gives up, and a
/// group left FREEZING or FROZEN is thawed again: a container is never
/// left half frozen. `write`, `read` and `sleep` are the file and the
/// clock, so that the tests can play a kernel that is slow to freeze.
fn freeze_v1(
    path: &Path,
    write: &mut dyn FnMut(&str) -> Result<(), CgroupError>,
    read: &mut dyn FnMut() -> Result<String, CgroupError>,
    sleep: &mut dyn FnMut(Duration),
) -> Result<(), CgroupError> {
    let mut waited = Duration::ZERO;
    let mut pause = |d: Duration, waited: &mut Duration| {
        if !d.is_zero() {
            sleep(d);
            *waited += d;
        }
    };
    let mut attempt = || -> Result<(), CgroupError> {
        let mut tries = 0u32;
        loop {
            if tries % THAW_EVERY == THAW_EVERY - 1 {
                write(THAWED)?;
                pause(THAW_PAUSE, &mut waited);
            }
            write(FROZEN)?;
            if tries == 0 {
                crate::crashpoint::hit("pause.written");
            }
            let state = read()?;
            match state.as_str() {
                FROZEN => return Ok(()),
                FREEZING if waited < FREEZE_WAIT => {
                    tries += 1;
                    pause(freeze_backoff(tries), &mut waited);
                }
                FREEZING => {
                    return Err(CgroupError::Freeze {
                        path: path.parent().unwrap_or(path).to_path_buf(),
                        state: FreezerState::Freezing,
                        waited_ms: waited.as_millis(),
                    })
                }
                // THAWED: thawed by someone else meanwhile.
                _ => {
                    return Err(CgroupError::Parse {
                        path: path.to_path_buf(),
                        content: state,
                    })
                }
            }
        }
    };
    let result = attempt();
    if result.is_err() {
        // The error says what went wrong; a failed thaw adds nothing to it.
        let _ = write(THAWED);
    }
    result
}

/// Writes `memory.memsw.limit_in_bytes`, tolerating a file that is absent
/// or not writable (memsw is a bonus: without it swap is merely unlimited).
fn write_memsw(group: &Path, value: &str) -> Result<(), CgroupError> {
    match write_value(&group.join("memory.memsw.limit_in_bytes"), value) {
        Err(CgroupError::Write { error, .. })
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

impl Cgroups for V1 {
    fn create(&self, name: &str, limits: &Limits) -> Result<(), CgroupError> {
        check_name("cgroup name", name)?;
        check_limits(limits)?;
        let needs = [
            (limits.cpus.is_some(), "cpuset", "cpu list"),
            (limits.cpu_quota_percent.is_some(), "cpu", "cpu quota"),
            (limits.cpu_shares.is_some(), "cpu", "cpu shares"),
            (limits.mem_limit_bytes.is_some(), "memory", "memory"),
            (limits.pids_max.is_some(), "pids", "pids"),
        ];
        for (requested, controller, limit) in needs {
            if requested && self.controller(controller).is_none() {
                return Err(CgroupError::ControllerMissing {
                    controller,
                    limit,
                    path: self.root.join(controller),
                });
            }
        }
        let mut created = Vec::new();
        let result = self.create_in(name, limits, &mut created);
        if result.is_err() {
            undo_created(&self.ops, &created);
        }
        result
    }

    fn add_pid(&self, name: &str, pid: i32) -> Result<(), CgroupError> {
        check_name("cgroup name", name)?;
        for dir in self.join_dirs(name) {
            let path = dir.join("cgroup.procs");
            // "0" would move the writer itself, i.e. xdocker.
            if pid <= 0 {
                return Err(CgroupError::AddPid {
                    pid,
                    path,
                    error: io::Error::from_raw_os_error(libc::EINVAL),
                });
            }
            fs::write(&path, pid.to_string()).map_err(|error| CgroupError::AddPid {
                pid,
                path,
                error,
            })?;
        }
        Ok(())
    }

    fn join_self(&self, name: &str) -> Result<(), CgroupError> {
        check_name("cgroup name", name)?;
        for c in self.distinct() {
            let file = if c.name == UNIFIED {
                "cgroup.procs"
            } else {
                "tasks"
            };
            let path = self.group_dir(c, name).join(file);
            fs::write(&path, "0").map_err(|error| CgroupError::AddPid {
                pid: 0,
                path,
                error,
            })?;
        }
        Ok(())
    }

    fn pids(&self, name: &str) -> Result<Vec<i32>, CgroupError> {
        check_name("cgroup name", name)?;
        let dirs = self.existing_dirs(name);
        if dirs.is_empty() {
            return Err(CgroupError::Missing {
                path: self.dirs(name).swap_remove(0),
            });
        }
        let mut pids = BTreeSet::new();
        for dir in &dirs {
            collect_pids(dir, &mut pids)?;
        }
        Ok(pids.into_iter().collect())
    }

    fn remove(&self, name: &str) -> Result<(), CgroupError> {
        check_name("cgroup name", name)?;
        let dirs: Vec<PathBuf> = self
            .dirs(name)
            .into_iter()
            .filter(|d| !removed_at_once(&self.ops, d))
            .collect();
        if !dirs.is_empty() {
            self.kill_frozen(name)?;
        }
        kill_all(&self.ops, &dirs)?;
        for dir in &dirs {
            remove_tree(&self.ops, dir)?;
        }
        Ok(())
    }

    fn usage(&self, name: &str) -> Result<Usage, CgroupError> {
        check_name("cgroup name", name)?;
        if self.existing_dirs(name).is_empty() {
            return Err(CgroupError::Missing {
                path: self.dirs(name).swap_remove(0),
            });
        }
        let read = |controller: &str, file: &str| {
            self.controller(controller)
                .map(|c| read_u64(&self.group_dir(c, name).join(file)))
                .transpose()
        };
        Ok(Usage {
            memory_bytes: read("memory", "memory.usage_in_bytes")?,
            cpu_nanos: read("cpuacct", "cpuacct.usage")?,
            pids: match self.controller("pids") {
                Some(c) => read_optional(&self.group_dir(c, name).join("pids.current"))?
                    .and_then(|t| t.trim().parse().ok()),
                None => None,
            },
        })
    }

    fn freeze(&self, name: &str) -> Result<(), CgroupError> {
        let path = self.freezer_dir(name)?.join("freezer.state");
        let sleep = self.ops.sleep;
        freeze_v1(
            &path,
            &mut |value| write_value(&path, value),
            &mut || read_value(&path),
            &mut |d| sleep(d),
        )
    }

    fn thaw(&self, name: &str) -> Result<(), CgroupError> {
        match self.freezer_dir(name) {
            Ok(dir) => write_value(&dir.join("freezer.state"), THAWED),
            // Nothing can be frozen without the controller.
            Err(CgroupError::NoFreezer { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn freezer_state(&self, name: &str) -> Result<FreezerState, CgroupError> {
        let path = match self.freezer_dir(name) {
            Ok(dir) => dir.join("freezer.state"),
            Err(CgroupError::NoFreezer { .. }) => return Ok(FreezerState::Thawed),
            Err(e) => return Err(e),
        };
        match read_value(&path)?.as_str() {
            THAWED => Ok(FreezerState::Thawed),
            FREEZING => Ok(FreezerState::Freezing),
            FROZEN => Ok(FreezerState::Frozen),
            other => Err(CgroupError::Parse {
                content: other.to_string(),
                path,
            }),
        }
    }

    fn version(&self) -> &'static str {
        "v1"
    }
}

#[cfg(test)]
mod tests {
    use super::super::mockfs;
    use super::*;

    /// A v1 root as the kernel shows it: one directory per controller with
    /// the files of a root group that we read.
    fn root(controllers: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for &c in controllers {
            let mount = dir.path().join(c);
            fs::create_dir(&mount).unwrap();
            fs::write(mount.join("cgroup.procs"), "1\n").unwrap();
            match c {
                "cpuset" => {
                    fs::write(mount.join("cpuset.cpus"), "0-1\n").unwrap();
                    fs::write(mount.join("cpuset.mems"), "0\n").unwrap();
                }
                "memory" => {
                    fs::write(mount.join("memory.limit_in_bytes"), "9223372036854771712\n")
                        .unwrap();
                    fs::write(
                        mount.join("memory.memsw.limit_in_bytes"),
                        "9223372036854771712\n",
                    )
                    .unwrap();
                }
                _ => {}
            }
        }
        dir
    }

    const ALL: [&str; 7] = [
        "cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer",
    ];

    fn v1(root: &Path) -> V1 {
        V1::with_ops(root, "xd", mockfs::OPS).unwrap()
    }

    fn content(path: PathBuf) -> String {
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn create_writes_every_limit() {
        let r = root(&ALL);
        let cg = v1(r.path());
        let limits = Limits {
            cpus: Some(vec![0]),
            cpu_quota_percent: Some(25),
            mem_limit_bytes: Some(64 << 20),
            pids_max: Some(100),
            cpu_shares: Some(512),
        };
        cg.create("web", &limits).unwrap();
        let p = r.path();
        assert_eq!(content(p.join("cpu/xd/web/cpu.shares")), "512");
        // The parent got the root's cpuset, the group the requested CPU.
        assert_eq!(content(p.join("cpuset/xd/cpuset.cpus")), "0-1");
        assert_eq!(content(p.join("cpuset/xd/cpuset.mems")), "0");
        assert_eq!(content(p.join("cpuset/xd/web/cpuset.cpus")), "0");
        assert_eq!(content(p.join("cpuset/xd/web/cpuset.mems")), "0");
        assert_eq!(content(p.join("cpu/xd/web/cpu.cfs_period_us")), "100000");
        assert_eq!(content(p.join("cpu/xd/web/cpu.cfs_quota_us")), "25000");
        assert_eq!(
            content(p.join("memory/xd/web/memory.limit_in_bytes")),
            "67108864"
        );
        assert_eq!(
            content(p.join("memory/xd/web/memory.memsw.limit_in_bytes")),
            "67108864"
        );
        assert_eq!(content(p.join("pids/xd/web/pids.max")), "100");
        assert!(p.join("cpuacct/xd/web").is_dir());
        // Devices: everything denied, then the list allowed, on the parent
        // (the kernel copies it into each new group; the fake file keeps
        // the last write).
        assert_eq!(content(p.join("devices/xd/devices.deny")), "a");
        let last = super::devices::DEFAULT.last().expect("rules").v1_line();
        assert_eq!(content(p.join("devices/xd/devices.allow")), last);
        // A group of its own below the rules: its cgroup namespace is
        // rooted there, never at the parent every container shares.
        assert!(p.join("devices/xd/web").is_dir());
        // Once the parent lists the rules, nothing is written again.
        fs::write(p.join("devices/xd/devices.list"), "c 1:3 rwm\n").unwrap();
        fs::write(p.join("devices/xd/devices.deny"), "").unwrap();
        cg.create("other", &limits).unwrap();
        assert_eq!(content(p.join("devices/xd/devices.deny")), "");
        assert_eq!(cg.version(), "v1");
    }

    #[test]
    fn no_limits_means_unlimited_and_the_parents_cpus() {
        let r = root(&ALL);
        let cg = v1(r.path());
        cg.create("web", &Limits::default()).unwrap();
        let p = r.path();
        assert_eq!(content(p.join("cpuset/xd/web/cpuset.cpus")), "0-1");
        assert_eq!(content(p.join("cpu/xd/web/cpu.cfs_quota_us")), "-1");
        // A new group has the kernel's default shares: nothing written.
        assert!(!p.join("cpu/xd/web/cpu.shares").exists());
        assert_eq!(content(p.join("memory/xd/web/memory.limit_in_bytes")), "-1");
        // memsw lifted, and not pinned without a memory limit.
        assert_eq!(
            content(p.join("memory/xd/web/memory.memsw.limit_in_bytes")),
            "-1"
        );
    }

    #[test]
    fn create_again_reuses_an_empty_group_and_reapplies() {
        let r = root(&ALL);
        let cg = v1(r.path());
        let limited = Limits {
            cpus: Some(vec![1]),
            cpu_quota_percent: Some(50),
            mem_limit_bytes: Some(1 << 30),
            pids_max: None,
            cpu_shares: Some(2048),
        };
        cg.create("web", &limited).unwrap();
        let p = r.path();
        assert_eq!(content(p.join("cpu/xd/web/cpu.shares")), "2048");
        cg.create("web", &Limits::default()).unwrap();
        assert_eq!(content(p.join("cpuset/xd/web/cpuset.cpus")), "0-1");
        assert_eq!(content(p.join("cpu/xd/web/cpu.cfs_quota_us")), "-1");
        assert_eq!(content(p.join("cpu/xd/web/cpu.shares")), "1024");
        assert_eq!(content(p.join("memory/xd/web/memory.limit_in_bytes")), "-1");
    }

    #[test]
    fn cpu_shares_need_the_cpu_controller() {
        let r = root(&["memory"]);
        let limits = Limits {
            cpu_shares: Some(512),
            ..Limits::default()
        };
        let err = v1(r.path()).create("web", &limits).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cpu shares limit needs the cpu cgroup controller"),
            "{err}"
        );
        assert!(!r.path().join("memory/xd/web").exists());
    }

    #[test]
    fn create_refuses_a_group_with_processes() {
        let r = root(&ALL);
        let cg = v1(r.path());
        cg.create("web", &Limits::default()).unwrap();
        fs::write(r.path().join("memory/xd/web/cgroup.procs"), "4242\n").unwrap();
        let err = cg.create("web", &Limits::default()).unwrap_err();
        assert!(
            matches!(&err, CgroupError::InUse { pids, .. } if pids == &[4242]),
            "{err}"
        );
    }

    #[test]
    fn missing_controllers_are_skipped_unless_a_limit_needs_them() {
        let r = root(&["cpu", "memory"]);
        let cg = v1(r.path());
        cg.create("web", &Limits::default()).unwrap();
        assert!(!r.path().join("cpuset").exists());
        let err = cg
            .create(
                "db",
                &Limits {
                    cpus: Some(vec![0]),
                    ..Limits::default()
                },
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                CgroupError::ControllerMissing {
                    controller: "cpuset",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "cpu list limit needs the cpuset cgroup controller, which {} does not offer",
                r.path().join("cpuset").display()
            )
        );
        assert!(!r.path().join("cpu/xd/db").exists());
    }

    #[test]
    fn memsw_is_not_written_without_swap_accounting() {
        let r = root(&["memory"]);
        fs::remove_file(r.path().join("memory/memory.memsw.limit_in_bytes")).unwrap();
        let cg = v1(r.path());
        let limits = Limits {
            mem_limit_bytes: Some(64 << 20),
            ..Limits::default()
        };
        cg.create("web", &limits).unwrap();
        assert!(!r
            .path()
            .join("memory/xd/web/memory.memsw.limit_in_bytes")
            .exists());
    }

    #[test]
    fn a_cpu_outside_the_parent_is_refused_and_nothing_is_left() {
        let r = root(&ALL);
        let cg = v1(r.path());
        let limits = Limits {
            cpus: Some(vec![0, 7]),
            ..Limits::default()
        };
        let err = cg.create("web", &limits).unwrap_err();
        assert!(
            matches!(err, CgroupError::CpuUnavailable { cpu: 7, .. }),
            "{err}"
        );
        for c in ALL {
            assert!(!r.path().join(c).join("xd/web").exists(), "{c}");
        }
    }

    /// Plays the kernel, except that a new memory group gets a directory
    /// where `memory.limit_in_bytes` should be, so writing the limit fails.
    fn mkdir_breaking_memory(path: &Path) -> io::Result<()> {
        (mockfs::OPS.mkdir)(path)?;
        if path.ends_with("memory/xd/web") {
            fs::create_dir(path.join("memory.limit_in_bytes"))?;
        }
        Ok(())
    }

    #[test]
    fn a_failed_limit_undoes_the_new_group_and_keeps_the_error() {
        let r = root(&ALL);
        let ops = KernelOps {
            mkdir: mkdir_breaking_memory,
            ..mockfs::OPS
        };
        let cg = V1::with_ops(r.path(), "xd", ops).unwrap();
        let err = cg.create("web", &Limits::default()).unwrap_err();
        let path = r.path().join("memory/xd/web/memory.limit_in_bytes");
        assert_eq!(
            err.to_string(),
            format!("write '-1' to {}: is a directory", path.display())
        );
        for c in ["cpu", "cpuacct", "cpuset", "pids"] {
            assert!(!r.path().join(c).join("xd/web").exists(), "{c}");
        }
    }

    /// The mock's root for `kill_emptying`: a kill there empties every
    /// group's process list, as the kernel does once the process is gone.
    static KILL_ROOT: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    static KILLED: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

    fn kill_emptying(pid: i32) -> Result<(), nix::errno::Errno> {
        KILLED.lock().unwrap().push(pid);
        if let Some(root) = KILL_ROOT.lock().unwrap().as_ref() {
            for c in ALL {
                let _ = fs::write(root.join(c).join("xd/web/cgroup.procs"), "");
            }
        }
        Ok(())
    }

    #[test]
    fn remove_kills_what_is_left_before_it_removes_and_an_empty_group_goes_at_once() {
        let r = root(&ALL);
        *KILL_ROOT.lock().unwrap() = Some(r.path().to_path_buf());
        let ops = KernelOps {
            kill: kill_emptying,
            ..mockfs::OPS
        };
        let cg = V1::with_ops(r.path(), "xd", ops).unwrap();
        cg.create("web", &Limits::default()).unwrap();
        cg.remove("web").unwrap();
        assert!(KILLED.lock().unwrap().is_empty(), "an empty group: no kill");
        cg.create("web", &Limits::default()).unwrap();
        fs::write(r.path().join("memory/xd/web/cgroup.procs"), "4242\n").unwrap();
        cg.remove("web").unwrap();
        assert_eq!(*KILLED.lock().unwrap(), vec![4242]);
        for c in ALL {
            assert!(!r.path().join(c).join("xd/web").exists(), "{c}");
        }
    }

    #[test]
    fn a_hybrid_host_s_unified_tree_is_joined_too() {
        // systemd of a hybrid host finds a unit's (a session's) processes
        // in the v2 tree at `unified`: the container leaves the booter's
        // group there as well, through cgroup.procs (v2 has no tasks).
        let r = root(&["pids", "systemd", "unified"]);
        let cg = v1(r.path());
        cg.create("web", &Limits::default()).unwrap();
        cg.join_self("web").unwrap();
        assert_eq!(content(r.path().join("unified/xd/web/cgroup.procs")), "0");
        assert!(!r.path().join("unified/xd/web/tasks").exists());
        for c in ["pids", "systemd"] {
            assert_eq!(content(r.path().join(c).join("xd/web/tasks")), "0", "{c}");
        }
        fs::write(r.path().join("unified/xd/web/cgroup.procs"), "").unwrap();
        for c in ["pids", "systemd"] {
            fs::remove_file(r.path().join(c).join("xd/web/tasks")).unwrap();
        }
        cg.remove("web").unwrap();
        assert!(!r.path().join("unified/xd/web").exists());
    }

    #[test]
    fn add_pid_writes_every_controller_and_pids_reads_them() {
        let r = root(&ALL);
        let cg = v1(r.path());
        cg.create("web", &Limits::default()).unwrap();
        cg.add_pid("web", 4242).unwrap();
        for c in ALL {
            assert_eq!(
                content(r.path().join(c).join("xd/web/cgroup.procs")),
                "4242"
            );
        }
        assert_eq!(cg.pids("web").unwrap(), vec![4242]);
        assert!(matches!(
            cg.add_pid("web", 0),
            Err(CgroupError::AddPid { pid: 0, .. })
        ));
        assert!(matches!(cg.pids("nope"), Err(CgroupError::Missing { .. })));
    }

    #[test]
    fn remove_deletes_every_controller_dir_and_sub_groups() {
        let r = root(&ALL);
        let cg = v1(r.path());
        cg.create("web", &Limits::default()).unwrap();
        // A group the container made inside its own (systemd does).
        (mockfs::OPS.mkdir)(&r.path().join("memory/xd/web/init.scope")).unwrap();
        cg.remove("web").unwrap();
        for c in ALL {
            assert!(!r.path().join(c).join("xd/web").exists(), "{c}");
            assert!(r.path().join(c).join("xd").is_dir(), "{c}");
        }
        cg.remove("web").unwrap();
    }

    #[test]
    fn usage_reads_memory_and_cpuacct() {
        let r = root(&ALL);
        let cg = v1(r.path());
        cg.create("web", &Limits::default()).unwrap();
        fs::write(
            r.path().join("memory/xd/web/memory.usage_in_bytes"),
            "4096\n",
        )
        .unwrap();
        fs::write(r.path().join("cpuacct/xd/web/cpuacct.usage"), "123456789\n").unwrap();
        assert_eq!(
            cg.usage("web").unwrap(),
            Usage {
                memory_bytes: Some(4096),
                cpu_nanos: Some(123_456_789),
                pids: None,
            }
        );
        let only_cpu = root(&["cpu"]);
        let cg = v1(only_cpu.path());
        cg.create("web", &Limits::default()).unwrap();
        assert_eq!(cg.usage("web").unwrap(), Usage::default());
    }

    #[test]
    fn bad_names_never_touch_the_file_system() {
        let r = root(&ALL);
        let cg = v1(r.path());
        for bad in ["../etc", "a/b", ".."] {
            assert!(matches!(
                cg.create(bad, &Limits::default()),
                Err(CgroupError::BadName { .. })
            ));
            assert!(matches!(cg.remove(bad), Err(CgroupError::BadName { .. })));
        }
        assert!(matches!(
            V1::new(r.path(), "a/b"),
            Err(CgroupError::BadName { .. })
        ));
        assert!(!r.path().join("cpu/xd").exists());
    }

    #[test]
    fn freeze_and_thaw_write_the_freezer_state_and_read_it_back() {
        let r = root(&ALL);
        let cg = v1(r.path());
        cg.create("web", &Limits::default()).unwrap();
        let state = r.path().join("freezer/xd/web/freezer.state");
        assert_eq!(cg.freezer_state("web").unwrap(), FreezerState::Thawed);
        cg.freeze("web").unwrap();
        assert_eq!(content(state.clone()), "FROZEN");
        assert_eq!(cg.freezer_state("web").unwrap(), FreezerState::Frozen);
        // What the kernel says is what counts, whoever wrote it.
        fs::write(&state, "FREEZING\n").unwrap();
        assert_eq!(cg.freezer_state("web").unwrap(), FreezerState::Freezing);
        cg.thaw("web").unwrap();
        assert_eq!(content(state.clone()), "THAWED");
        assert_eq!(cg.freezer_state("web").unwrap(), FreezerState::Thawed);
        fs::write(&state, "MELTING\n").unwrap();
        assert!(matches!(
            cg.freezer_state("web"),
            Err(CgroupError::Parse { .. })
        ));
    }

    #[test]
    fn without_the_freezer_controller_nothing_is_frozen_and_freeze_says_why() {
        let r = root(&["cpu", "memory"]);
        let cg = v1(r.path());
        cg.create("web", &Limits::default()).unwrap();
        assert_eq!(cg.freezer_state("web").unwrap(), FreezerState::Thawed);
        cg.thaw("web").unwrap();
        let err = cg.freeze("web").unwrap_err();
        assert!(matches!(err, CgroupError::NoFreezer { .. }), "{err}");
        assert!(err.to_string().starts_with(&format!(
            "freeze cgroup {}: no freezer there",
            r.path().join("freezer").display()
        )));
        // A group booted without a freezer group of its own.
        let r = root(&ALL);
        let cg = v1(r.path());
        assert!(matches!(cg.freeze("db"), Err(CgroupError::Missing { .. })));
        assert!(matches!(
            cg.freezer_state("db"),
            Err(CgroupError::Missing { .. })
        ));
    }

    /// A kernel that answers FREEZING `slow` times before FROZEN (never,
    /// with `u32::MAX`), a file that records every write and a clock that
    /// records every pause.
    fn play_freeze(slow: u32) -> (Result<(), CgroupError>, Vec<String>, Vec<Duration>) {
        let writes = std::cell::RefCell::new(Vec::new());
        let mut sleeps = Vec::new();
        let mut reads = 0u32;
        let result = freeze_v1(
            Path::new("/cg/freezer/xd/web/freezer.state"),
            &mut |v| {
                writes.borrow_mut().push(v.to_string());
                Ok(())
            },
            &mut || {
                reads += 1;
                let last = writes.borrow().last().cloned().unwrap_or_default();
                Ok(if last == THAWED {
                    THAWED.to_string()
                } else if reads > slow {
                    FROZEN.to_string()
                } else {
                    FREEZING.to_string()
                })
            },
            &mut |d| sleeps.push(d),
        );
        (result, writes.into_inner(), sleeps)
    }

    #[test]
    fn an_idle_group_freezes_with_one_write_and_no_pause() {
        let (result, writes, sleeps) = play_freeze(0);
        result.unwrap();
        assert_eq!(writes, vec![FROZEN]);
        assert!(sleeps.is_empty());
    }

    #[test]
    fn freezing_is_retried_by_writing_frozen_again() {
        let (result, writes, sleeps) = play_freeze(3);
        result.unwrap();
        assert_eq!(writes, vec![FROZEN; 4]);
        // Pauses grow from 10 µs.
        assert_eq!(
            sleeps,
            [10, 20, 40].map(Duration::from_micros).to_vec(),
            "{sleeps:?}"
        );
        // Past THAW_EVERY tries: a thaw, a pause, and FROZEN again.
        let (result, writes, _) = play_freeze(60);
        result.unwrap();
        assert_eq!(writes.iter().filter(|w| *w == THAWED).count(), 1);
        assert_eq!(writes[THAW_EVERY as usize - 1], THAWED);
        assert_eq!(writes.last().map(String::as_str), Some(FROZEN));
    }

    #[test]
    fn a_group_that_never_freezes_is_thawed_again_after_a_bounded_wait() {
        let (result, writes, sleeps) = play_freeze(u32::MAX);
        let err = result.unwrap_err();
        assert!(
            matches!(
                err,
                CgroupError::Freeze {
                    state: FreezerState::Freezing,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("freeze cgroup /cg/freezer/xd/web: still FREEZING after ")
                && err.to_string().ends_with(" ms, thawed again"),
            "{err}"
        );
        assert_eq!(writes.last().map(String::as_str), Some(THAWED));
        let total: Duration = sleeps.iter().sum();
        assert!(total >= FREEZE_WAIT, "{total:?}");
        assert!(total < FREEZE_WAIT + Duration::from_millis(50), "{total:?}");
    }

    /// The freezer state of the group at the moment of each kill.
    static STATE_AT_KILL: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    static FROZEN_ROOT: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

    fn kill_noting_the_state(_pid: i32) -> Result<(), nix::errno::Errno> {
        if let Some(root) = FROZEN_ROOT.lock().unwrap().as_ref() {
            let state = root.join("freezer/xd/web/freezer.state");
            STATE_AT_KILL
                .lock()
                .unwrap()
                .push(fs::read_to_string(&state).unwrap_or_default());
            // The thawed process dies: every group empties.
            if fs::read_to_string(&state).is_ok_and(|s| s.trim() == THAWED) {
                for c in ALL {
                    let _ = fs::write(root.join(c).join("xd/web/cgroup.procs"), "");
                }
            }
        }
        Ok(())
    }

    #[test]
    fn remove_of_a_frozen_group_kills_before_it_thaws() {
        let r = root(&ALL);
        *FROZEN_ROOT.lock().unwrap() = Some(r.path().to_path_buf());
        let ops = KernelOps {
            kill: kill_noting_the_state,
            ..mockfs::OPS
        };
        let cg = V1::with_ops(r.path(), "xd", ops).unwrap();
        cg.create("web", &Limits::default()).unwrap();
        cg.add_pid("web", 4242).unwrap();
        cg.freeze("web").unwrap();
        cg.remove("web").unwrap();
        let states = STATE_AT_KILL.lock().unwrap().clone();
        assert_eq!(states.first().map(|s| s.trim()), Some(FROZEN), "{states:?}");
        assert!(
            states.iter().skip(1).all(|s| s.trim() == THAWED),
            "{states:?}"
        );
        for c in ALL {
            assert!(!r.path().join(c).join("xd/web").exists(), "{c}");
        }
    }
}
