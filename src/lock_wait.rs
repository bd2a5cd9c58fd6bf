//! Waiting for a lock another command holds. The lock is tried at once;
//! while it is busy, it is tried again with a growing pause (1 to 50 ms).
//! After a second the wait is said on stderr, naming the holder (its PID
//! and command line, found in /proc/locks). A holder that stays stopped
//! (SIGSTOP, a debugger) for [`STOPPED_LIMIT`] ends the wait with an error,
//! as does any wait past [`WAIT_LIMIT`]. `-f` never takes a lock from its
//! holder: a lock is only ever released by its holder's exit or unlock.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// How long a stopped holder is waited for.
pub const STOPPED_LIMIT: Duration = Duration::from_secs(5);
/// How long any holder is waited for.
pub const WAIT_LIMIT: Duration = Duration::from_secs(600);
/// When the wait is said.
const TELL_AFTER: Duration = Duration::from_secs(1);

/// Why the lock was not had.
#[derive(Debug)]
pub enum WaitError {
    /// Its holder did not let go: what the message says of it.
    Busy(String),
    Sys(Errno),
}

/// The process that holds a lock, as /proc shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub command: String,
    pub stopped: bool,
}

impl Holder {
    fn describe(&self) -> String {
        format!("pid {} ({})", self.pid, self.command)
    }
}

/// Takes the exclusive lock of `file`, waiting as the module says; `what`
/// names the object in messages ("image web").
pub fn exclusive(file: File, what: &str) -> Result<Flock<File>, WaitError> {
    let start = Instant::now();
    let mut file = file;
    let mut pause = Duration::from_millis(1);
    let mut told = false;
    let mut stopped_since: Option<Instant> = None;
    let id = file.metadata().map(|m| (m.dev(), m.ino())).ok();
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((f, Errno::EWOULDBLOCK)) => file = f,
            Err((_, errno)) => return Err(WaitError::Sys(errno)),
        }
        let waited = start.elapsed();
        if waited >= TELL_AFTER {
            let holder = id.and_then(|(dev, ino)| holder_of(dev, ino));
            if !told {
                told = true;
                let by = holder
                    .as_ref()
                    .map_or("another command".to_string(), Holder::describe);
                crate::logging::warn_user(&format!("waiting for {what}: locked by {by}"));
            }
            match &holder {
                Some(h) if h.stopped => {
                    let since = *stopped_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= STOPPED_LIMIT {
                        return Err(WaitError::Busy(format!(
                            "locked by {}, which is stopped (SIGSTOP?); gave up after {} s \
                             (SIGCONT it, or end it)",
                            h.describe(),
                            waited.as_secs()
                        )));
                    }
                }
                _ => stopped_since = None,
            }
            if waited >= WAIT_LIMIT {
                let by = holder.map_or("another command".to_string(), |h| h.describe());
                return Err(WaitError::Busy(format!(
                    "locked by {by}; gave up after {} s",
                    waited.as_secs()
                )));
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The holder of an flock on the file `(dev, ino)`, from /proc/locks.
fn holder_of(dev: u64, ino: u64) -> Option<Holder> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let pid = find_holder(&locks, dev, ino)?;
    let command = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let words: Vec<String> = c
                .split(|b| *b == 0)
                .filter(|w| !w.is_empty())
                .map(|w| crate::cli::escape_controls(&String::from_utf8_lossy(w)))
                .collect();
            words.join(" ")
        })
        .unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .unwrap_or("");
    Some(Holder {
        pid,
        command,
        stopped: state == "T" || state == "t",
    })
}

/// The PID of the FLOCK that holds `(dev, ino)` in the text of
/// /proc/locks (`1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`; the
/// device is `major:minor` in hex; waiters' lines carry `->`).
fn find_holder(locks: &str, dev: u64, ino: u64) -> Option<i32> {
    let want = format!("{:02x}:{:02x}:{ino}", libc::major(dev), libc::minor(dev));
    locks.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) != Some(&"FLOCK") || f.get(5) != Some(&want.as_str()) {
            return None;
        }
        f.get(4)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_is_found_by_device_and_inode_and_waiters_are_skipped() {
        let dev = libc::makedev(0xfd, 1);
        let text = "1: POSIX  ADVISORY  WRITE 11 fd:01:77 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF\n\
                    2: -> FLOCK  ADVISORY  WRITE 5555 fd:01:1234 0 EOF\n\
                    3: FLOCK  ADVISORY  WRITE 99 08:01:1234 0 EOF\n";
        assert_eq!(find_holder(text, dev, 1234), Some(4242));
        assert_eq!(find_holder(text, dev, 77), None, "a POSIX lock is not ours");
        assert_eq!(find_holder(text, libc::makedev(8, 1), 1234), Some(99));
        assert_eq!(find_holder(text, dev, 1), None);
    }

    #[test]
    fn a_lock_held_here_is_found_in_proc_locks() {
        let t = tempfile::NamedTempFile::new().expect("temp");
        let held = Flock::lock(t.reopen().expect("open"), FlockArg::LockExclusive).expect("lock");
        let m = t.as_file().metadata().expect("meta");
        let h = holder_of(m.dev(), m.ino()).expect("holder");
        assert_eq!(h.pid, std::process::id() as i32);
        assert!(!h.stopped);
        drop(held);
        assert_eq!(holder_of(m.dev(), m.ino()), None);
    }
}
