//! `top`: the processes of a running container, from its cgroup (every
//! process of the container is in it) and /proc: host PID, PID inside,
//! user id, command line.

use serde::Serialize;

use super::LifecycleError;
use crate::container::ContainerError;
use crate::names::Name;
use crate::runtime::{Runtime, RuntimeError};

/// One process of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    /// PID on the host.
    pub pid: i32,
    /// PID in the container's PID namespace (None when /proc cannot tell).
    pub container_pid: Option<i32>,
    /// Real user id on the host.
    pub uid: Option<u32>,
    /// The command line (the name in brackets when it has none).
    pub command: String,
}

/// The `NSpid` and `Uid` lines of `/proc/PID/status`: the PID in the
/// innermost namespace and the real uid.
fn parse_status(text: &str) -> (Option<i32>, Option<u32>) {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|rest| rest.split_whitespace().collect::<Vec<_>>())
    };
    let nspid = field("NSpid:").and_then(|v| v.last()?.parse().ok());
    let uid = field("Uid:").and_then(|v| v.first()?.parse().ok());
    (nspid, uid)
}

/// The processes of running container `name`, by PID.
pub fn top(rt: &Runtime, name: &Name) -> Result<Vec<Process>, LifecycleError> {
    if !rt.containers.exists(name) {
        return Err(ContainerError::NotFound(name.to_string()).into());
    }
    if rt.status_releasing_leftovers(name)?.pid().is_none() {
        return Err(RuntimeError::NotRunning(name.to_string()).into());
    }
    let pids = rt.pids(name)?;
    let mut out = Vec::new();
    for pid in pids {
        let dir = std::path::PathBuf::from(format!("/proc/{pid}"));
        // Gone meanwhile: not listed.
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue;
        };
        let (container_pid, uid) = parse_status(&status);
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let words: Vec<String> = cmdline
            .split(|&b| b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        let command = match words.is_empty() {
            false => words.join(" "),
            true => {
                let comm = status
                    .lines()
                    .find_map(|l| l.strip_prefix("Name:"))
                    .unwrap_or_default();
                format!("[{}]", comm.trim())
            }
        };
        out.push(Process {
            pid,
            container_pid,
            uid,
            command,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_gives_the_inner_pid_and_the_uid() {
        let text = "Name:\tsh\nUid:\t1000\t1000\t1000\t1000\nNSpid:\t4242\t7\n";
        assert_eq!(parse_status(text), (Some(7), Some(1000)));
        assert_eq!(parse_status("Name:\tx\n"), (None, None));
    }
}
