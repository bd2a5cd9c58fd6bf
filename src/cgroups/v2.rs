//! cgroup v2 backend: one unified tree, where a group can use a controller
//! only when every ancestor lists it in `cgroup.subtree_control`
//! (Documentation/admin-guide/cgroup-v2.rst, "Enabling and Disabling").
//! Groups live at `root/parent/name`; `parent` holds no processes itself, as
//! the "no internal processes" rule asks of a group that delegates
//! controllers.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Instant;

use std::time::Duration;

use super::{
    check_cpus, check_limits, check_name, collect_pids, devices, format_cpu_list, freeze_backoff,
    kill_all, make_dir, quota_us, read_optional, read_value, remove_tree, removed_at_once,
    shares_to_weight, undo_created, write_value, CgroupError, Cgroups, FreezerState, KernelOps,
    Limits, Usage, CPU_PERIOD_US, CPU_WEIGHT_DEFAULT, FREEZE_WAIT, KILL_WAIT, POLL,
};

/// The controllers xdocker enables for its groups, in the order written.
const WANTED: [&str; 4] = ["cpu", "cpuset", "memory", "pids"];

/// The cgroup v2 hierarchy at `root` with groups under `parent`.
#[derive(Debug)]
pub struct V2 {
    root: PathBuf,
    parent: String,
    ops: KernelOps,
}

impl V2 {
    /// The v2 hierarchy mounted at `root` (normally `/sys/fs/cgroup`);
    /// containers' groups go under `root/parent`.
    pub fn new(root: &Path, parent: &str) -> Result<Self, CgroupError> {
        Self::with_ops(root, parent, KernelOps::REAL)
    }

    pub(crate) fn with_ops(root: &Path, parent: &str, ops: KernelOps) -> Result<Self, CgroupError> {
        check_name("cgroup parent", parent)?;
        Ok(Self {
            root: root.to_path_buf(),
            parent: parent.to_string(),
            ops,
        })
    }

    fn parent_dir(&self) -> PathBuf {
        self.root.join(&self.parent)
    }

    fn group_dir(&self, name: &str) -> PathBuf {
        self.parent_dir().join(name)
    }

    /// Enables the wanted controllers that `available` offers and that are
    /// not enabled yet in `dir`'s subtree_control, in one write. Should the
    /// kernel refuse that write (e.g. +cpu with realtime tasks outside the
    /// root under CONFIG_RT_GROUP_SCHED), each is retried alone and only a
    /// controller in `needed` is an error: a container without limits must
    /// not fail for a controller it does not use.
    fn enable(&self, dir: &Path, available: &[String], needed: &[&str]) -> Result<(), CgroupError> {
        let path = dir.join("cgroup.subtree_control");
        let current = words(&read_value(&path)?);
        let missing: Vec<&str> = WANTED
            .into_iter()
            .filter(|c| available.iter().any(|a| a == c) && !current.iter().any(|e| e == c))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let all = missing
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        if write_value(&path, &all).is_ok() {
            return Ok(());
        }
        for c in missing {
            match write_value(&path, &format!("+{c}")) {
                Err(e) if needed.contains(&c) => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Everything of `create` after the name checks; a group directory it
    /// makes is pushed to `created` so that the caller can undo it.
    fn create_in(
        &self,
        name: &str,
        limits: &Limits,
        created: &mut Vec<PathBuf>,
    ) -> Result<(), CgroupError> {
        let needs = [
            (limits.cpus.is_some(), "cpuset", "cpu list"),
            (limits.cpu_quota_percent.is_some(), "cpu", "cpu quota"),
            (limits.cpu_shares.is_some(), "cpu", "cpu shares"),
            (limits.mem_limit_bytes.is_some(), "memory", "memory"),
            (limits.pids_max.is_some(), "pids", "pids"),
        ];
        let needed: Vec<&str> = needs.iter().filter(|n| n.0).map(|n| n.1).collect();
        let require = |dir: &Path| -> Result<Vec<String>, CgroupError> {
            let path = dir.join("cgroup.controllers");
            let available = words(&read_value(&path)?);
            for &(requested, controller, limit) in &needs {
                if requested && !available.iter().any(|a| a == controller) {
                    return Err(CgroupError::ControllerMissing {
                        controller,
                        limit,
                        path,
                    });
                }
            }
            Ok(available)
        };

        let available = require(&self.root)?;
        self.enable(&self.root, &available, &needed)?;
        let parent = self.parent_dir();
        make_dir(&self.ops, &parent)?;
        // Device access has no controller file on v2: an eBPF program, on
        // the parent once, binding every container's group below it.
        (self.ops.devices)(&parent, devices::DEFAULT).map_err(|error| CgroupError::Devices {
            path: parent.clone(),
            error,
        })?;
        let available = require(&parent)?;
        self.enable(&parent, &available, &needed)?;
        if let Some(cpus) = &limits.cpus {
            let path = parent.join("cpuset.cpus.effective");
            check_cpus(cpus, &path, &read_value(&path)?)?;
        }

        let group = self.group_dir(name);
        let new_group = make_dir(&self.ops, &group)?;
        if new_group {
            created.push(group.clone());
        } else {
            let mut pids = BTreeSet::new();
            collect_pids(&group, &mut pids)?;
            if !pids.is_empty() {
                return Err(CgroupError::InUse {
                    path: group,
                    pids: pids.into_iter().collect(),
                });
            }
        }
        let enabled = require(&group)?;
        let has = |c: &str| enabled.iter().any(|e| e == c);

        if has("cpu") {
            let quota = match limits.cpu_quota_percent {
                Some(percent) => quota_us(percent).to_string(),
                None => "max".to_string(),
            };
            write_value(&group.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
            // A new group starts at the default; a reused one is reset.
            let weight = match limits.cpu_shares {
                Some(shares) => Some(shares_to_weight(shares)),
                None if !new_group => Some(CPU_WEIGHT_DEFAULT),
                None => None,
            };
            if let Some(weight) = weight {
                write_value(&group.join("cpu.weight"), &weight.to_string())?;
            }
        }
        if has("memory") {
            let (max, swap) = match limits.mem_limit_bytes {
                Some(bytes) => (bytes.to_string(), "0"),
                None => ("max".to_string(), "max"),
            };
            write_value(&group.join("memory.max"), &max)?;
            // Without this the limit only pushes pages to swap; absent
            // when the kernel has no swap support (CONFIG_SWAP=n).
            let swap_max = group.join("memory.swap.max");
            if swap_max.exists() {
                write_value(&swap_max, swap)?;
            }
        }
        if has("pids") {
            let max = limits.pids_max.map_or("max".to_string(), |n| n.to_string());
            write_value(&group.join("pids.max"), &max)?;
        }
        if has("cpuset") {
            let path = group.join("cpuset.cpus");
            match &limits.cpus {
                Some(cpus) => write_value(&path, &format_cpu_list(cpus))?,
                // Empty means "the parent's"; a bare newline because a
                // zero-byte write never reaches the kernel.
                None if !read_value(&path)?.is_empty() => write_value(&path, "\n")?,
                None => {}
            }
        }
        Ok(())
    }

    /// The group's `cgroup.freeze`: [`CgroupError::Missing`] without the
    /// group, [`CgroupError::NoFreezer`] on a kernel before 5.2.
    fn freeze_file(&self, name: &str) -> Result<PathBuf, CgroupError> {
        check_name("cgroup name", name)?;
        let group = self.group_dir(name);
        let file = group.join("cgroup.freeze");
        if file.exists() {
            Ok(file)
        } else if group.is_dir() {
            Err(CgroupError::NoFreezer { path: group })
        } else {
            Err(CgroupError::Missing { path: group })
        }
    }

    /// True once `cgroup.events` says `frozen 1`: every process of the
    /// group and its sub-groups is frozen.
    fn frozen(&self, group: &Path) -> Result<bool, CgroupError> {
        let events = group.join("cgroup.events");
        let text = read_value(&events)?;
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix("frozen "))
            .ok_or_else(|| CgroupError::Parse {
                path: events.clone(),
                content: text.clone(),
            })?;
        Ok(value.trim() == "1")
    }

    /// True while the group or a descendant has a live process.
    fn populated(&self, group: &Path) -> Result<bool, CgroupError> {
        let events = group.join("cgroup.events");
        match read_optional(&events)? {
            Some(text) => {
                let value = text
                    .lines()
                    .find_map(|l| l.strip_prefix("populated "))
                    .ok_or_else(|| CgroupError::Parse {
                        path: events.clone(),
                        content: text.clone(),
                    })?;
                Ok(value.trim() != "0")
            }
            // The group is gone (or this is not cgroupfs): go by the pids.
            None => {
                let mut pids = BTreeSet::new();
                collect_pids(group, &mut pids)?;
                Ok(!pids.is_empty())
            }
        }
    }
}

/// The words of a controller list ("cpuset cpu io memory pids").
fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

impl Cgroups for V2 {
    fn create(&self, name: &str, limits: &Limits) -> Result<(), CgroupError> {
        check_name("cgroup name", name)?;
        check_limits(limits)?;
        let mut created = Vec::new();
        let result = self.create_in(name, limits, &mut created);
        if result.is_err() {
            undo_created(&self.ops, &created);
        }
        result
    }

    fn add_pid(&self, name: &str, pid: i32) -> Result<(), CgroupError> {
        check_name("cgroup name", name)?;
        let path = self.group_dir(name).join("cgroup.procs");
        // "0" would move the writer itself, i.e. xdocker.
        if pid <= 0 {
            return Err(CgroupError::AddPid {
                pid,
                path,
                error: io::Error::from_raw_os_error(libc::EINVAL),
            });
        }
        fs::write(&path, pid.to_string()).map_err(|error| CgroupError::AddPid { pid, path, error })
    }

    fn join_self(&self, name: &str) -> Result<(), CgroupError> {
        check_name("cgroup name", name)?;
        let path = self.group_dir(name).join("cgroup.procs");
        fs::write(&path, "0").map_err(|error| CgroupError::AddPid {
            pid: 0,
            path,
            error,
        })
    }

    fn pids(&self, name: &str) -> Result<Vec<i32>, CgroupError> {
        check_name("cgroup name", name)?;
        let group = self.group_dir(name);
        if !group.is_dir() {
            return Err(CgroupError::Missing { path: group });
        }
        let mut pids = BTreeSet::new();
        collect_pids(&group, &mut pids)?;
        Ok(pids.into_iter().collect())
    }

    fn remove(&self, name: &str) -> Result<(), CgroupError> {
        check_name("cgroup name", name)?;
        let group = self.group_dir(name);
        if removed_at_once(&self.ops, &group) {
            return Ok(());
        }
        // cgroup.kill (Linux 5.14) kills the whole subtree atomically, forks
        // included; before it, SIGKILL each pid until none is left.
        let kill = group.join("cgroup.kill");
        if kill.exists() {
            match write_value(&kill, "1") {
                Ok(()) => {}
                // Removed under us: nothing left to kill.
                Err(CgroupError::Write { error, .. })
                    if error.kind() == io::ErrorKind::NotFound =>
                {
                    return Ok(())
                }
                Err(e) => return Err(e),
            }
        } else {
            kill_all(&self.ops, std::slice::from_ref(&group))?;
        }
        let start = Instant::now();
        while self.populated(&group)? {
            if start.elapsed() >= KILL_WAIT {
                let mut pids = BTreeSet::new();
                collect_pids(&group, &mut pids)?;
                return Err(CgroupError::StillRunning {
                    path: group,
                    pids: pids.into_iter().collect(),
                    waited_ms: start.elapsed().as_millis(),
                });
            }
            thread::sleep(POLL);
        }
        remove_tree(&self.ops, &group)
    }

    fn usage(&self, name: &str) -> Result<Usage, CgroupError> {
        check_name("cgroup name", name)?;
        let group = self.group_dir(name);
        if !group.is_dir() {
            return Err(CgroupError::Missing { path: group });
        }
        let parse = |path: PathBuf, text: &str| -> Result<u64, CgroupError> {
            text.trim().parse().map_err(|_| CgroupError::Parse {
                path,
                content: text.to_string(),
            })
        };
        let current = group.join("memory.current");
        let memory_bytes = read_optional(&current)?
            .map(|t| parse(current.clone(), &t))
            .transpose()?;
        let stat = group.join("cpu.stat");
        let cpu_nanos = match read_optional(&stat)? {
            Some(text) => {
                let usec = text
                    .lines()
                    .find_map(|l| l.strip_prefix("usage_usec "))
                    .ok_or_else(|| CgroupError::Parse {
                        path: stat.clone(),
                        content: text.clone(),
                    })?;
                Some(parse(stat.clone(), usec)?.saturating_mul(1000))
            }
            None => None,
        };
        let pids_path = group.join("pids.current");
        let pids = read_optional(&pids_path)?
            .map(|t| parse(pids_path.clone(), &t))
            .transpose()?;
        Ok(Usage {
            pids,
            memory_bytes,
            cpu_nanos,
        })
    }

    /// `cgroup.freeze` = 1, then a look at `cgroup.events` until it says
    /// `frozen 1`, with pauses growing to 10 ms, [`FREEZE_WAIT`] of them
    /// at most (runc's `waitFrozen` polls alike; a process in an
    /// uninterruptible sleep is frozen only once it wakes). A group the
    /// kernel never reports frozen is thawed again.
    fn freeze(&self, name: &str) -> Result<(), CgroupError> {
        let file = self.freeze_file(name)?;
        let group = self.group_dir(name);
        write_value(&file, "1")?;
        crate::crashpoint::hit("pause.written");
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        let result = loop {
            match self.frozen(&group) {
                Ok(true) => break Ok(()),
                Ok(false) if waited < FREEZE_WAIT => {
                    attempt += 1;
                    let pause = freeze_backoff(attempt);
                    (self.ops.sleep)(pause);
                    waited += pause;
                }
                Ok(false) => {
                    break Err(CgroupError::Freeze {
                        path: group.clone(),
                        state: FreezerState::Freezing,
                        waited_ms: waited.as_millis(),
                    })
                }
                Err(e) => break Err(e),
            }
        };
        if result.is_err() {
            // The error says what went wrong; a failed thaw adds nothing.
            let _ = write_value(&file, "0");
        }
        result
    }

    fn thaw(&self, name: &str) -> Result<(), CgroupError> {
        match self.freeze_file(name) {
            Ok(file) => write_value(&file, "0"),
            // Nothing can be frozen without the file.
            Err(CgroupError::NoFreezer { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn freezer_state(&self, name: &str) -> Result<FreezerState, CgroupError> {
        let file = match self.freeze_file(name) {
            Ok(file) => file,
            Err(CgroupError::NoFreezer { .. }) => return Ok(FreezerState::Thawed),
            Err(e) => return Err(e),
        };
        Ok(
            match (
                read_value(&file)?.as_str(),
                self.frozen(&self.group_dir(name))?,
            ) {
                ("0", _) => FreezerState::Thawed,
                (_, true) => FreezerState::Frozen,
                (_, false) => FreezerState::Freezing,
            },
        )
    }

    fn version(&self) -> &'static str {
        "v2"
    }
}

#[cfg(test)]
mod tests {
    use super::super::mockfs;
    use super::*;

    /// A v2 root as the kernel shows it, offering `controllers`.
    fn root(controllers: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::write(p.join("cgroup.controllers"), format!("{controllers}\n")).unwrap();
        fs::write(p.join("cgroup.subtree_control"), "").unwrap();
        fs::write(p.join("cgroup.procs"), "1\n").unwrap();
        fs::write(p.join("cpuset.cpus.effective"), "0-1\n").unwrap();
        dir
    }

    fn v2(root: &Path) -> V2 {
        V2::with_ops(root, "xd", mockfs::OPS).unwrap()
    }

    fn content(path: PathBuf) -> String {
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    const ALL: &str = "cpuset cpu io memory pids";

    fn limited() -> Limits {
        Limits {
            cpus: Some(vec![0]),
            cpu_quota_percent: Some(25),
            mem_limit_bytes: Some(64 << 20),
            pids_max: Some(100),
            cpu_shares: Some(512),
        }
    }

    #[test]
    fn create_enables_controllers_and_writes_every_limit() {
        let r = root(ALL);
        let cg = v2(r.path());
        cg.create("web", &limited()).unwrap();
        let p = r.path();
        assert_eq!(
            content(p.join("cgroup.subtree_control")),
            "+cpu +cpuset +memory +pids"
        );
        assert_eq!(
            content(p.join("xd/cgroup.subtree_control")),
            "+cpu +cpuset +memory +pids"
        );
        assert_eq!(content(p.join("xd/web/cpu.max")), "25000 100000");
        // 512 shares as crun converts them.
        assert_eq!(content(p.join("xd/web/cpu.weight")), "20");
        assert_eq!(content(p.join("xd/web/memory.max")), "67108864");
        assert_eq!(content(p.join("xd/web/memory.swap.max")), "0");
        assert_eq!(content(p.join("xd/web/cpuset.cpus")), "0");
        assert_eq!(content(p.join("xd/web/pids.max")), "100");
        // The device program was attached to the group, with the list.
        assert!(content(p.join("xd/devices.bpf")).starts_with("c *:* m\nb *:* m\nc 1:3 rwm"));
        assert_eq!(cg.version(), "v2");
    }

    #[test]
    fn no_limits_means_max() {
        let r = root(ALL);
        let cg = v2(r.path());
        cg.create("web", &Limits::default()).unwrap();
        let g = r.path().join("xd/web");
        assert_eq!(content(g.join("cpu.max")), "max 100000");
        // A new group has the kernel's default weight: nothing written.
        assert_eq!(content(g.join("cpu.weight")), "100\n");
        assert_eq!(content(g.join("memory.max")), "max");
        assert_eq!(content(g.join("memory.swap.max")), "max");
        assert_eq!(content(g.join("cpuset.cpus")), "");
    }

    #[test]
    fn create_again_reuses_an_empty_group_and_reapplies() {
        let r = root(ALL);
        let cg = v2(r.path());
        cg.create("web", &limited()).unwrap();
        let g = r.path().join("xd/web");
        assert_eq!(content(g.join("cpu.weight")), "20");
        cg.create("web", &Limits::default()).unwrap();
        assert_eq!(content(g.join("cpu.max")), "max 100000");
        assert_eq!(content(g.join("cpu.weight")), "100");
        assert_eq!(content(g.join("memory.max")), "max");
        assert_eq!(content(g.join("memory.swap.max")), "max");
        assert_eq!(content(g.join("cpuset.cpus")).trim(), "");
    }

    #[test]
    fn create_refuses_a_group_with_processes() {
        let r = root(ALL);
        let cg = v2(r.path());
        cg.create("web", &Limits::default()).unwrap();
        fs::write(r.path().join("xd/web/cgroup.procs"), "4242\n").unwrap();
        let err = cg.create("web", &Limits::default()).unwrap_err();
        assert!(
            matches!(&err, CgroupError::InUse { pids, .. } if pids == &[4242]),
            "{err}"
        );
    }

    #[test]
    fn enabled_controllers_are_not_written_again() {
        let r = root(ALL);
        fs::write(
            r.path().join("cgroup.subtree_control"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        let cg = v2(r.path());
        cg.create("web", &limited()).unwrap();
        assert_eq!(
            content(r.path().join("cgroup.subtree_control")),
            "cpuset cpu io memory pids\n"
        );
    }

    #[test]
    fn an_unavailable_controller_is_skipped_unless_a_limit_needs_it() {
        let r = root("cpuset cpu io pids");
        let cg = v2(r.path());
        let err = cg
            .create(
                "web",
                &Limits {
                    mem_limit_bytes: Some(1 << 20),
                    ..Limits::default()
                },
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "memory limit needs the memory cgroup controller, which {} does not offer",
                r.path().join("cgroup.controllers").display()
            )
        );
        assert!(!r.path().join("xd").exists());

        cg.create("web", &Limits::default()).unwrap();
        assert_eq!(
            content(r.path().join("cgroup.subtree_control")),
            "+cpu +cpuset +pids"
        );
        assert!(!r.path().join("xd/web/memory.max").exists());
    }

    #[test]
    fn a_cpu_outside_the_parent_is_refused() {
        let r = root(ALL);
        let cg = v2(r.path());
        let err = cg
            .create(
                "web",
                &Limits {
                    cpus: Some(vec![1, 2]),
                    ..Limits::default()
                },
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cpu 2 is not available in {} (cpus 0-1)",
                r.path().join("xd/cpuset.cpus.effective").display()
            )
        );
        assert!(!r.path().join("xd/web").exists());
    }

    #[test]
    fn add_pid_and_pids() {
        let r = root(ALL);
        let cg = v2(r.path());
        cg.create("web", &Limits::default()).unwrap();
        cg.add_pid("web", 4242).unwrap();
        assert_eq!(content(r.path().join("xd/web/cgroup.procs")), "4242");
        (mockfs::OPS.mkdir)(&r.path().join("xd/web/sub")).unwrap();
        fs::write(r.path().join("xd/web/sub/cgroup.procs"), "17\n").unwrap();
        assert_eq!(cg.pids("web").unwrap(), vec![17, 4242]);
        assert!(matches!(cg.pids("db"), Err(CgroupError::Missing { .. })));
        assert!(matches!(
            cg.add_pid("web", -1),
            Err(CgroupError::AddPid { pid: -1, .. })
        ));
        let err = cg.add_pid("db", 4242).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "add pid 4242 to {}: no such file or directory",
                r.path().join("xd/db/cgroup.procs").display()
            )
        );
    }

    #[test]
    fn remove_deletes_the_group_and_sub_groups_and_keeps_the_parent() {
        let r = root(ALL);
        let cg = v2(r.path());
        cg.create("web", &Limits::default()).unwrap();
        (mockfs::OPS.mkdir)(&r.path().join("xd/web/init.scope")).unwrap();
        cg.remove("web").unwrap();
        assert!(!r.path().join("xd/web").exists());
        assert!(r.path().join("xd").is_dir());
        cg.remove("web").unwrap();
    }

    #[test]
    fn remove_without_cgroup_kill_kills_pid_by_pid() {
        let r = root(ALL);
        let cg = v2(r.path());
        cg.create("web", &Limits::default()).unwrap();
        fs::remove_file(r.path().join("xd/web/cgroup.kill")).unwrap();
        cg.remove("web").unwrap();
        assert!(!r.path().join("xd/web").exists());
    }

    #[test]
    fn usage_reads_memory_current_and_cpu_stat() {
        let r = root(ALL);
        let cg = v2(r.path());
        cg.create("web", &Limits::default()).unwrap();
        let g = r.path().join("xd/web");
        fs::write(g.join("memory.current"), "8192\n").unwrap();
        fs::write(g.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").unwrap();
        assert_eq!(
            cg.usage("web").unwrap(),
            Usage {
                memory_bytes: Some(8192),
                cpu_nanos: Some(1_500_000),
                pids: None,
            }
        );
        fs::remove_file(g.join("memory.current")).unwrap();
        assert_eq!(cg.usage("web").unwrap().memory_bytes, None);
        assert!(matches!(cg.usage("db"), Err(CgroupError::Missing { .. })));
    }

    #[test]
    fn freeze_waits_for_frozen_in_cgroup_events_and_thaw_writes_zero() {
        let r = root(ALL);
        let cg = v2(r.path());
        cg.create("web", &Limits::default()).unwrap();
        let g = r.path().join("xd/web");
        assert_eq!(cg.freezer_state("web").unwrap(), FreezerState::Thawed);
        // The kernel's answer once every process is frozen.
        fs::write(g.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        cg.freeze("web").unwrap();
        assert_eq!(content(g.join("cgroup.freeze")), "1");
        assert_eq!(cg.freezer_state("web").unwrap(), FreezerState::Frozen);
        // Asked to freeze, not all frozen yet.
        fs::write(g.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        assert_eq!(cg.freezer_state("web").unwrap(), FreezerState::Freezing);
        cg.thaw("web").unwrap();
        assert_eq!(content(g.join("cgroup.freeze")), "0");
        assert_eq!(cg.freezer_state("web").unwrap(), FreezerState::Thawed);
    }

    #[test]
    fn a_group_never_reported_frozen_is_thawed_again() {
        let r = root(ALL);
        let cg = v2(r.path());
        cg.create("web", &Limits::default()).unwrap();
        let err = cg.freeze("web").unwrap_err();
        let g = r.path().join("xd/web");
        assert!(
            err.to_string().starts_with(&format!(
                "freeze cgroup {}: still FREEZING after ",
                g.display()
            )),
            "{err}"
        );
        assert_eq!(content(g.join("cgroup.freeze")), "0");
    }

    #[test]
    fn without_cgroup_freeze_nothing_is_frozen_and_freeze_says_why() {
        let r = root(ALL);
        let cg = v2(r.path());
        cg.create("web", &Limits::default()).unwrap();
        fs::remove_file(r.path().join("xd/web/cgroup.freeze")).unwrap();
        assert_eq!(cg.freezer_state("web").unwrap(), FreezerState::Thawed);
        cg.thaw("web").unwrap();
        assert!(matches!(
            cg.freeze("web"),
            Err(CgroupError::NoFreezer { .. })
        ));
        assert!(matches!(cg.freeze("db"), Err(CgroupError::Missing { .. })));
        assert!(matches!(cg.thaw("db"), Err(CgroupError::Missing { .. })));
    }
}
