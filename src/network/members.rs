//! Names within a user-defined network without a daemon on the host:
//! every member's `/etc/hosts` lists the other running members of its
//! network (container name and hostname at its VIP). The file is written
//! at boot with the rest of /etc, and rewritten in place in every running
//! member when a member boots or stops (and, after a `kill -9`, by the
//! next command's release). In place, not by rename: a program that
//! bind-mounts the file, or holds it open, keeps seeing the same inode.

use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;

use nix::fcntl::OFlag;

use crate::fsutil::inroot::Root;

/// One running member of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub hostname: String,
    pub vip: Ipv4Addr,
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

/// Rewrites `/etc/hosts` of the container whose init is `pid` in place
/// (resolved inside its root; only a regular file is written).
pub fn write_hosts(
    pid: i32,
    still_running: impl FnOnce() -> bool,
    text: &str,
) -> std::io::Result<()> {
    let root = Root::of_process(Path::new("/proc"), pid, still_running)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
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
    let mut file = std::fs::File::from(fd);
    file.set_len(0)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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
