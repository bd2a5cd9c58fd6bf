//! Whether a container runs is asked of the kernel: the state file records
//! the PID of its init and that process's start time, so a PID reused by
//! another process never counts as the container (crun `status.c`); whether
//! it is paused, of its cgroup's freezer (`Runtime::status`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::toml_reason;
use crate::fsutil::atomic::{write_atomic_volatile, AtomicWriteError};

/// Errors of the state file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container state {path}: {reason}")]
    Bad { path: PathBuf, reason: String },
    #[error("container state {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
}

/// `containers/C/state.toml`, written when a boot succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// Host PID of xdockerinit.
    pub pid: i32,
    /// Start time of that process, clock ticks after boot (/proc/PID/stat field 22).
    pub start_time: u64,
    pub booted_at: String,
    /// Named network namespace (CUSTOM/BRIDGE), to remove at stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    /// Veth and NAT rules of a BRIDGE container, to remove at stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<crate::network::BridgeState>,
    /// Cgroup name of this run, to remove at stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// The main command in single-process mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<String>,
    /// That command runs on a terminal xdockerinit keeps, which clients
    /// attach to (xdockerinit `--main-tty`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub main_tty: bool,
}

/// What the kernel says about a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running {
        pid: i32,
    },
    /// Its init runs, and its cgroup's freezer is frozen (or freezing):
    /// none of its processes gets the CPU until it is continued.
    Paused {
        pid: i32,
    },
    Stopped,
}

impl Status {
    /// `RUNNING(pid)`, `PAUSED(pid)` or `STOPPED`, as `-s containers`
    /// shows it.
    pub fn label(&self) -> String {
        match self {
            Status::Running { pid } => format!("RUNNING({pid})"),
            Status::Paused { pid } => format!("PAUSED({pid})"),
            Status::Stopped => "STOPPED".to_string(),
        }
    }

    /// The pid of its init, running or paused.
    pub fn pid(&self) -> Option<i32> {
        match self {
            Status::Running { pid } | Status::Paused { pid } => Some(*pid),
            Status::Stopped => None,
        }
    }

    /// Only a stopped container may boot, be changed or be destroyed.
    pub fn can_boot(&self) -> bool {
        *self == Status::Stopped
    }

    /// Same rule as booting: a running (or paused) container is never
    /// destroyed.
    pub fn can_destroy(&self) -> bool {
        *self == Status::Stopped
    }

    /// `attach` and `run` need processes that run: a paused container
    /// would take the connection and never answer.
    pub fn can_session(&self) -> bool {
        matches!(self, Status::Running { .. })
    }

    /// Only a running container can be paused.
    pub fn can_pause(&self) -> bool {
        matches!(self, Status::Running { .. })
    }

    /// Only a paused container can be continued.
    pub fn can_continue(&self) -> bool {
        matches!(self, Status::Paused { .. })
    }
}

/// Start time of `pid` (field 22 of /proc/PID/stat), or None when it is gone.
pub fn process_start_time(proc_root: &Path, pid: i32) -> Option<u64> {
    use std::io::Read;
    // One read: every command checks each running container this way.
    let mut file = std::fs::File::open(proc_root.join(pid.to_string()).join("stat")).ok()?;
    let mut buf = [0u8; 1024];
    let n = file.read(&mut buf).ok()?;
    let stat = if n < buf.len() {
        String::from_utf8_lossy(&buf[..n]).into_owned()
    } else {
        let mut rest = String::new();
        file.read_to_string(&mut rest).ok()?;
        String::from_utf8_lossy(&buf).into_owned() + &rest
    };
    // The command name is in parentheses and may hold spaces or ')': the
    // fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    // rest starts at field 3 (state); start time is field 22.
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?;
    if *state == "Z" || *state == "X" {
        return None;
    }
    fields.get(22 - 3)?.parse().ok()
}

impl RunState {
    /// Reads the state file; None when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        match std::fs::read_to_string(path) {
            // A damaged state file (host crash while it was written) names
            // no live process: it reads as a stopped container's leftover.
            Ok(text) => Ok(Some(toml::from_str(&text).unwrap_or_else(|e| {
                crate::logging::warn(&format!(
                    "container state {}: {}: treated as stopped",
                    path.display(),
                    toml_reason(&text, &e)
                ));
                Self {
                    pid: 0,
                    start_time: 0,
                    booted_at: String::new(),
                    netns: None,
                    bridge: None,
                    cgroup: None,
                    exec: None,
                    main_tty: false,
                }
            }))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes the state atomically but not durably: after a host crash the
    /// processes it names are gone anyway, and a damaged file reads as stale.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let text = toml::to_string_pretty(self).map_err(|e| StateError::Bad {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        write_atomic_volatile(path, text.as_bytes(), 0o644)?;
        Ok(())
    }

    /// The truth: running only if the recorded process still exists with
    /// the recorded start time.
    pub fn status(&self, proc_root: &Path) -> Status {
        match process_start_time(proc_root, self.pid) {
            Some(t) if t == self.start_time => Status::Running { pid: self.pid },
            _ => Status::Stopped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_proc(pid: i32, stat: &str) -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join(pid.to_string());
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::write(d.join("stat"), stat).expect("write");
        t
    }

    fn stat_line(comm: &str, state: &str, start: u64) -> String {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime cutime cstime priority nice threads
        // itrealvalue starttime ...
        format!(
            "42 ({comm}) {state} 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {start} 1000 50"
        )
    }

    #[test]
    fn start_time_is_read_past_odd_command_names() {
        let p = fake_proc(42, &stat_line("a) b (c", "S", 98765));
        assert_eq!(process_start_time(p.path(), 42), Some(98765));
        assert_eq!(process_start_time(p.path(), 43), None);
        let z = fake_proc(42, &stat_line("init", "Z", 98765));
        assert_eq!(
            process_start_time(z.path(), 42),
            None,
            "a zombie is not running"
        );
    }

    #[test]
    fn reused_pid_is_not_running() {
        let p = fake_proc(42, &stat_line("sh", "S", 555));
        let mut s = RunState {
            pid: 42,
            start_time: 555,
            booted_at: String::new(),
            netns: None,
            bridge: None,
            cgroup: None,
            exec: None,
            main_tty: false,
        };
        assert_eq!(s.status(p.path()), Status::Running { pid: 42 });
        s.start_time = 554;
        assert_eq!(s.status(p.path()), Status::Stopped);
        assert_eq!(Status::Running { pid: 42 }.label(), "RUNNING(42)");
        assert!(!Status::Running { pid: 1 }.can_destroy());
    }

    #[test]
    fn a_paused_container_is_neither_stopped_nor_open_for_sessions() {
        let paused = Status::Paused { pid: 42 };
        let running = Status::Running { pid: 42 };
        assert_eq!(paused.label(), "PAUSED(42)");
        assert_eq!(paused.pid(), Some(42));
        assert_eq!(Status::Stopped.pid(), None);
        assert!(!paused.can_boot() && !paused.can_destroy());
        assert!(!paused.can_session() && running.can_session());
        assert!(running.can_pause() && !paused.can_pause() && !Status::Stopped.can_pause());
        assert!(paused.can_continue() && !running.can_continue());
        assert!(!Status::Stopped.can_continue());
    }

    #[test]
    fn own_process_is_running() {
        let me = std::process::id() as i32;
        let t = process_start_time(Path::new("/proc"), me).expect("own stat");
        assert!(t > 0);
    }
}
