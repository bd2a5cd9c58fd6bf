//! The index of containers that may be running: `XDOCKER_HOME/running/NAME`,
//! a symlink to `PID:START_TIME:MNTNS`, made at boot before the state file
//! and removed at release after it (so a state file always has its entry).
//! Every command looks for stopped containers to release; with the index
//! that costs two readlinks per running container (the entry and
//! `/proc/PID/ns/mnt`) instead of reading every container's state and
//! `/proc/PID/stat` (~20 µs each).

use std::io;
use std::path::{Path, PathBuf};

use super::state::process_start_time;
use crate::names::Name;

/// The `running/` directory of a home.
#[derive(Debug, Clone)]
pub struct RunningIndex {
    dir: PathBuf,
}

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub pid: i32,
    pub start_time: u64,
    /// Inode of the init's mount namespace (0: unknown).
    pub mntns: u64,
}

/// The inode of the mount namespace of `pid`, from `/proc/PID/ns/mnt`;
/// `None` once the process exited (a zombie has no namespaces left).
pub fn mount_namespace(proc_root: &Path, pid: i32) -> Option<u64> {
    let link = std::fs::read_link(proc_root.join(pid.to_string()).join("ns/mnt")).ok()?;
    link.to_str()?
        .strip_prefix("mnt:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

impl Mark {
    /// The entry of a `--rm` container that stopped and was released but
    /// not yet removed: whichever command released it (a listing, a
    /// status), the next command's [`crate::runtime::Runtime::release_stale`]
    /// finds it here and hands it on for removal.
    pub const REMOVAL_PENDING: Mark = Mark {
        pid: 0,
        start_time: 0,
        mntns: 0,
    };

    fn text(&self) -> String {
        format!("{}:{}:{}", self.pid, self.start_time, self.mntns)
    }

    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let mark = Self {
            pid: parts.next()?.parse().ok()?,
            start_time: parts.next()?.parse().ok()?,
            mntns: parts.next().map_or(Some(0), |n| n.parse().ok())?,
        };
        parts.next().is_none().then_some(mark)
    }

    /// True while the recorded init runs. With its mount namespace known,
    /// that process must still be in it: an exited one (even a zombie) has
    /// none, and a reused PID is another process in another namespace
    /// (unless both the PID and the namespace's inode number were
    /// recycled); otherwise its start time is compared. The
    /// authoritative check before acting on a container stays
    /// `RunState::status` (start time).
    pub fn alive(&self, proc_root: &Path) -> bool {
        if self.pid <= 0 {
            return false;
        }
        if self.mntns != 0 {
            return mount_namespace(proc_root, self.pid) == Some(self.mntns);
        }
        process_start_time(proc_root, self.pid) == Some(self.start_time)
    }
}

impl RunningIndex {
    pub fn new(home_root: &Path) -> Self {
        Self {
            dir: home_root.join("running"),
        }
    }

    /// False for a home made before the index existed (see [`Self::create`]).
    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// Makes the directory (for a home whose entries were just rebuilt).
    pub fn create(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)
    }

    /// Records (or replaces) the entry of `name`.
    pub fn mark(&self, name: &Name, mark: Mark) -> io::Result<()> {
        self.create()?;
        let path = self.dir.join(name.as_str());
        let tmp = self.dir.join(format!(".{}.{}", name, std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(mark.text(), &tmp)?;
        std::fs::rename(&tmp, &path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// Removes the entry of `name`; a missing one is fine.
    pub fn unmark(&self, name: &Name) -> io::Result<()> {
        match std::fs::remove_file(self.dir.join(name.as_str())) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The mark of `name`, if it has a readable entry.
    pub fn get(&self, name: &Name) -> Option<Mark> {
        let target = std::fs::read_link(self.dir.join(name.as_str())).ok()?;
        target.to_str().and_then(Mark::parse)
    }

    /// Every entry: the name and its mark (`None` when unreadable).
    pub fn entries(&self) -> io::Result<Vec<(Name, Option<Mark>)>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry?;
            let Some(name) = entry
                .file_name()
                .to_str()
                .and_then(|s| Name::parse_as("container name", s).ok())
            else {
                continue;
            };
            let mark = std::fs::read_link(entry.path())
                .ok()
                .and_then(|t| t.to_str().and_then(Mark::parse));
            out.push((name, mark));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_roundtrip_and_unmark_is_idempotent() {
        let t = tempfile::tempdir().expect("tempdir");
        let idx = RunningIndex::new(t.path());
        assert!(!idx.exists());
        assert!(idx.entries().expect("entries").is_empty());
        let web = Name::parse_as("container name", "web").expect("name");
        let m = Mark {
            pid: 42,
            start_time: 777,
            mntns: 4026531836,
        };
        idx.mark(&web, m).expect("mark");
        idx.mark(&web, m).expect("mark again replaces");
        assert_eq!(
            idx.entries().expect("entries"),
            vec![(web.clone(), Some(m))]
        );
        idx.unmark(&web).expect("unmark");
        idx.unmark(&web).expect("unmark again");
        assert!(idx.entries().expect("entries").is_empty());
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_or_namespace_is_not() {
        let proc = Path::new("/proc");
        let pid = std::process::id() as i32;
        let start_time = process_start_time(proc, pid).expect("own start");
        let mntns = mount_namespace(proc, pid).expect("own mount namespace");
        let m = |start_time, mntns| Mark {
            pid,
            start_time,
            mntns,
        };
        assert!(m(start_time, mntns).alive(proc));
        assert!(m(start_time, 0).alive(proc), "old entries: start time");
        assert!(!m(start_time + 1, 0).alive(proc));
        assert!(!m(start_time, mntns + 1).alive(proc));
        let none = Mark {
            pid: 0,
            start_time: 0,
            mntns: 0,
        };
        assert!(!none.alive(proc));
        let old = Mark {
            pid: 1,
            start_time: 2,
            mntns: 0,
        };
        assert_eq!(Mark::parse("1:2"), Some(old));
        assert_eq!(Mark::parse("1:2:3:4"), None);
    }
}
