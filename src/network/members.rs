//! Names within a user-defined network without a daemon on the host:
//! every member's `/etc/hosts` lists the other running members of its
//! network (container name and hostname at its VIP). The file is written
//! at boot with the rest of /etc, and rewritten in place in every running
//! member when a member boots or stops (and, after a `kill -9`, by the
//! next command's release). In place, not by rename: a program that
//! bind-mounts the file, or holds it open, keeps seeing the same inode.
//! Who is a running member is kept per network in the home
//! (`network/members/NAME`, under the home's network lock), so that a
//! boot reads one small file instead of every container's config.

use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;

use crate::fsutil::inroot::Root;

/// One running member of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub hostname: String,
    pub vip: Ipv4Addr,
}

/// A running member as registered: who it is and which process it runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub member: Member,
    pub pid: i32,
    pub start_time: u64,
}

impl Entry {
    fn line(&self) -> String {
        let m = &self.member;
        format!(
            "{}\t{}\t{}\t{}\t{}\n",
            m.name, m.hostname, m.vip, self.pid, self.start_time
        )
    }

    fn parse(line: &str) -> Option<Self> {
        let mut f = line.split('\t');
        let member = Member {
            name: f.next()?.to_string(),
            hostname: f.next()?.to_string(),
            vip: f.next()?.parse().ok()?,
        };
        Some(Self {
            member,
            pid: f.next()?.parse().ok()?,
            start_time: f.next()?.trim().parse().ok()?,
        })
    }

    /// Whether its process still runs (the same one: pid and start time).
    pub fn alive(&self, proc_root: &Path) -> bool {
        crate::container::state::process_start_time(proc_root, self.pid) == Some(self.start_time)
    }
}

/// The running members of one network, as a file of the home.
#[derive(Debug, Clone)]
pub struct Registry {
    path: PathBuf,
}

impl Registry {
    pub fn new(home_root: &Path, network: &str) -> Self {
        Self {
            path: home_root.join("network").join("members").join(network),
        }
    }

    /// Every entry (none when there is no file; bad lines are skipped).
    pub fn load(&self) -> Vec<Entry> {
        std::fs::read_to_string(&self.path)
            .map(|t| t.lines().filter_map(Entry::parse).collect())
            .unwrap_or_default()
    }

    /// Replaces the file (the caller holds the network lock); an empty
    /// list removes it.
    pub fn save(&self, entries: &[Entry]) -> std::io::Result<()> {
        if entries.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text: String = entries.iter().map(Entry::line).collect();
        crate::fsutil::atomic::write_atomic_volatile(&self.path, text.as_bytes(), 0o644)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// The `/etc/hosts` lines naming `members` but `except` (the container
/// the file is for), in name order.
pub fn lines(members: &[Member], except: &str) -> String {
    let mut sorted: Vec<&Member> = members.iter().filter(|m| m.name != except).collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::new();
    for m in sorted {
        if m.hostname == m.name {
            out.push_str(&format!("{}\t{}\n", m.vip, m.name));
        } else {
            out.push_str(&format!("{}\t{} {}\n", m.vip, m.name, m.hostname));
        }
    }
    out
}

/// The root of a registered member, opened while it is known alive (its
/// pid and start time checked after `/proc/PID` was opened: a reused pid
/// is never written to); None when it is gone.
pub fn open_root(entry: &Entry, proc_root: &Path) -> Option<Root> {
    Root::of_process(proc_root, entry.pid, || entry.alive(proc_root)).ok()
}

/// Rewrites `/etc/hosts` inside `root` in place (resolved inside it; only
/// a regular file is written).
pub fn write_hosts(root: &Root, text: &str) -> std::io::Result<()> {
    let fd = root
        .resolve(
            Path::new("/etc/hosts"),
            OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK,
        )
        .map_err(std::io::Error::from)?;
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(std::io::Error::from)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(std::io::Error::other("/etc/hosts is not a regular file"));
    }
    // Written over from the start, then cut to its length: no truncation
    // to zero first (it frees and reallocates the file's blocks, the
    // dearest part of the write), and a reader never finds it empty.
    let old_len = u64::try_from(st.st_size).unwrap_or(0);
    let mut file = std::fs::File::from(fd);
    file.write_all(text.as_bytes())?;
    let len = text.len() as u64;
    if old_len > len {
        file.set_len(len)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_round_trips_and_knows_the_living() {
        let dir = tempfile::tempdir().expect("tmp");
        let reg = Registry::new(dir.path(), "front");
        assert!(reg.load().is_empty());
        let me = Entry {
            member: Member {
                name: "web".into(),
                hostname: "web1".into(),
                vip: Ipv4Addr::new(10, 91, 0, 2),
            },
            pid: std::process::id() as i32,
            start_time: crate::container::state::process_start_time(
                Path::new("/proc"),
                std::process::id() as i32,
            )
            .expect("start time"),
        };
        let gone = Entry {
            pid: me.pid,
            start_time: me.start_time + 1,
            ..me.clone()
        };
        reg.save(&[me.clone(), gone.clone()]).expect("save");
        assert_eq!(reg.load(), vec![me.clone(), gone.clone()]);
        assert!(me.alive(Path::new("/proc")) && !gone.alive(Path::new("/proc")));
        reg.save(&[]).expect("empty");
        assert!(!dir.path().join("network/members/front").exists());
    }

    #[test]
    fn members_are_listed_by_name_and_hostname_but_the_reader() {
        let m = |name: &str, host: &str, last| Member {
            name: name.into(),
            hostname: host.into(),
            vip: Ipv4Addr::new(10, 91, 0, last),
        };
        let all = [m("web", "web", 3), m("db", "db1", 2), m("me", "me", 4)];
        assert_eq!(lines(&all, "me"), "10.91.0.2\tdb db1\n10.91.0.3\tweb\n");
        assert_eq!(lines(&[], "me"), "");
    }
}
