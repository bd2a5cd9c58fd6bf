//! What containers there are and how they are: the list (`-s containers`),
//! one container's config and live state (`-s info`), and the root of a
//! running one (`-s container_root`). Looking repairs leftovers of
//! containers found stopped, as every status lookup of the runtime does.

use std::net::Ipv4Addr;

use serde::Serialize;

use super::LifecycleError;
use crate::container::{ContainerConfig, ContainerError, Status};
use crate::names::Name;
use crate::network::Net;
use crate::runtime::{Runtime, RuntimeError};

/// One container of the list.
#[derive(Debug)]
pub struct Summary {
    pub name: Name,
    pub status: Status,
    /// Why the config cannot be read: the container is broken (destroy
    /// removes it).
    pub config: Result<ContainerConfig, String>,
    /// Its named network namespace (CUSTOM, BRIDGE).
    pub netns: Option<String>,
    /// The exit code of its last run, once stopped.
    pub exit_code: Option<i32>,
}

/// Every container, sorted by name; one bad entry never hides the others.
pub fn list(rt: &Runtime) -> Result<Vec<Summary>, LifecycleError> {
    let mut out = Vec::new();
    for name in rt.containers.names()? {
        let status = rt.status_releasing_leftovers(&name)?;
        let config = rt.containers.config(&name).map_err(|e| e.to_string());
        let netns = match &config {
            Ok(c) if c.net != Net::Host => Some(rt.netns_name(&name)),
            _ => None,
        };
        let exit_code = match (&config, status) {
            (Ok(_), Status::Stopped) => rt.exit_code(&name),
            _ => None,
        };
        out.push(Summary {
            name,
            status,
            config,
            netns,
            exit_code,
        });
    }
    Ok(out)
}

/// Everything `-s info` knows; `--json` prints exactly this.
#[derive(Debug, Serialize)]
pub struct Inspection {
    pub container_id: String,
    pub status: String,
    /// True without a user namespace: root inside is root on the host.
    pub privileged: bool,
    pub config: ContainerConfig,
    /// Named network namespace (CUSTOM, BRIDGE).
    pub netns: Option<String>,
    /// Only while running.
    pub pid: Option<i32>,
    pub booted_at: Option<String>,
    pub uptime_seconds: Option<i64>,
    /// The main command of a single-process container.
    pub exec: Option<String>,
    /// Host end of the veth (BRIDGE).
    pub veth: Option<String>,
    /// IPv4 addresses of the container's own network namespace.
    pub addresses: Vec<Ipv4Addr>,
    pub memory_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    /// Exit code of the last run, once stopped.
    pub exit_code: Option<i32>,
}

/// A container's whole config and its live state.
pub fn inspect(rt: &Runtime, name: &Name) -> Result<Inspection, LifecycleError> {
    if !rt.containers.exists(name) {
        return Err(ContainerError::NotFound(name.to_string()).into());
    }
    let config = rt.containers.config(name)?;
    let status = rt.status_releasing_leftovers(name)?;
    let netns = (config.net != Net::Host).then(|| rt.netns_name(name));
    let mut info = Inspection {
        container_id: name.to_string(),
        status: status.label(),
        privileged: config.security.userns.is_none(),
        netns,
        pid: None,
        booted_at: None,
        uptime_seconds: None,
        exec: None,
        veth: None,
        addresses: Vec::new(),
        memory_bytes: None,
        cpu_seconds: None,
        exit_code: None,
        config,
    };
    match status {
        Status::Stopped => info.exit_code = rt.exit_code(name),
        Status::Running { pid } | Status::Paused { pid } => {
            info.pid = Some(pid);
            if let Some(state) = rt.containers.run_state(name)? {
                info.uptime_seconds = chrono::DateTime::parse_from_rfc3339(&state.booted_at)
                    .ok()
                    .map(|t| {
                        (chrono::Local::now().fixed_offset() - t)
                            .num_seconds()
                            .max(0)
                    });
                info.booted_at = Some(state.booted_at);
                info.exec = state.exec;
                info.veth = state.bridge.map(|b| b.veth);
            }
            if info.config.net != Net::Host {
                let trie = std::fs::read_to_string(format!("/proc/{pid}/net/fib_trie"))
                    .unwrap_or_default();
                info.addresses = crate::network::local_addresses(&trie);
            }
            let usage = rt.usage(name).unwrap_or_default();
            info.memory_bytes = usage.memory_bytes;
            info.cpu_seconds = usage.cpu_nanos.map(|n| n as f64 / 1e9);
        }
    }
    Ok(info)
}

/// The pid of running (or paused) container `name`'s init, whose `/proc/PID/root` is
/// the container's own view of its root.
pub fn running_pid(rt: &Runtime, name: &Name) -> Result<i32, LifecycleError> {
    if !rt.containers.exists(name) {
        return Err(ContainerError::NotFound(name.to_string()).into());
    }
    // A paused container's root is there all the same.
    rt.status_releasing_leftovers(name)?
        .pid()
        .ok_or_else(|| RuntimeError::NotRunning(name.to_string()).into())
}
