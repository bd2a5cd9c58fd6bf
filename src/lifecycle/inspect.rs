//! What containers there are and how they are: the list (`-s containers`),
//! one container's config and live state (`-s info`), and the root of a
//! running one (`-s container_root`). Looking repairs leftovers of
//! containers found stopped, as every status lookup of the runtime does.
//! The supervised processes of a running container (main process,
//! services) are asked of its xdockerinit over the session socket.

use std::net::Ipv4Addr;

use serde::Serialize;

use super::LifecycleError;
use crate::container::{ContainerConfig, ContainerError, Status};
use crate::names::Name;
use crate::network::Net;
use crate::runtime::{Runtime, RuntimeError};
use xdockerinit::protocol::{ProcessStatus, Role};

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
    /// When the last run ended, once stopped (None: never run, or killed).
    pub exited_at: Option<std::time::SystemTime>,
    /// While running: when it booted (RFC 3339) and its `-e` command.
    pub booted_at: Option<String>,
    pub exec: Option<String>,
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
        let (exit_code, exited_at) = match (&config, status) {
            (Ok(_), Status::Stopped) => match rt.last_exit(&name) {
                Some(e) => (Some(e.record.code), e.at),
                None => (None, None),
            },
            _ => (None, None),
        };
        let state = match status {
            Status::Stopped => None,
            _ => rt.containers.run_state(&name).ok().flatten(),
        };
        out.push(Summary {
            name,
            status,
            config,
            netns,
            exit_code,
            exited_at,
            booted_at: state.as_ref().map(|s| s.booted_at.clone()),
            exec: state.and_then(|s| s.exec),
        });
    }
    Ok(out)
}

/// A supervised process (the `-e` main process or a boot service) as
/// `-s info` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Supervised {
    /// `main`, the service's name, or `boot.d/FILE` for the image's own.
    pub name: String,
    /// What it runs (None: not known any more, after the stop).
    pub command: Option<String>,
    /// Its restart policy.
    pub policy: String,
    /// `running`, `backoff` (waiting to start again), `exited` (for good);
    /// `stopped` with the container; `unknown` when its xdockerinit cannot
    /// tell (older than supervision, or at its process limit).
    pub state: String,
    pub pid: Option<i32>,
    /// Times it was started again in this run (or the last one).
    pub restarts: Option<u32>,
    /// Exit code of its last run.
    pub last_exit: Option<i32>,
    /// In `backoff`: milliseconds until it starts again.
    pub next_start_ms: Option<u32>,
}

impl Supervised {
    fn live(p: ProcessStatus) -> Self {
        Self {
            name: p.name,
            command: Some(String::from_utf8_lossy(&p.command).into_owned()),
            policy: p.policy,
            pid: p.pid,
            restarts: Some(p.restarts),
            last_exit: p.last_exit,
            next_start_ms: (p.state == "backoff").then_some(p.next_start_ms),
            state: p.state,
        }
    }

    /// A configured service, not asked of a running xdockerinit.
    fn configured(
        config: &ContainerConfig,
        service: &crate::container::Service,
        state: &str,
    ) -> Self {
        Self {
            name: service.name.to_string(),
            command: Some(service.command.clone()),
            policy: config.service_restart().to_string(),
            state: state.to_string(),
            pid: None,
            restarts: None,
            last_exit: None,
            next_start_ms: None,
        }
    }
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
    /// The restart policy of the `-e` main process (`--restart`; `no`
    /// unless set).
    pub main_restart: String,
    /// The restart policy of the services (`--restart`; `on-failure`
    /// unless set).
    pub service_restart: String,
    /// The `-e` main process: live while running; once stopped, its
    /// restarts and last exit code of the last run (when it was a `-e`
    /// run).
    pub main_process: Option<Supervised>,
    /// The boot services: live while running (the image's `boot.d` ones
    /// included), the configured ones otherwise.
    pub services: Vec<Supervised>,
    /// The console log (`-s logs`).
    pub log: LogInfo,
}

/// Where a container's console log is and how big.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogInfo {
    pub path: std::path::PathBuf,
    pub bytes: u64,
    pub files: usize,
    /// `[logs]` of xdocker.toml, as the next boot applies it.
    pub max_size: u64,
    pub max_files: u32,
}

/// A container's whole config and its live state.
pub fn inspect(rt: &Runtime, name: &Name) -> Result<Inspection, LifecycleError> {
    if !rt.containers.exists(name) {
        return Err(ContainerError::NotFound(name.to_string()).into());
    }
    let config = rt.containers.config(name)?;
    let status = rt.status_releasing_leftovers(name)?;
    let netns = (config.net != Net::Host).then(|| rt.netns_name(name));
    let log_path = rt.containers.path(name, crate::container::store::LOG_DIR);
    let (bytes, files) = crate::container::logs::usage(&log_path);
    let log = LogInfo {
        path: log_path,
        bytes,
        files,
        max_size: rt.config.logs.max_size.0,
        max_files: rt.config.logs.max_files,
    };
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
        log,
        main_restart: config.main_restart().to_string(),
        service_restart: config.service_restart().to_string(),
        main_process: None,
        services: Vec::new(),
        config,
    };
    match status {
        Status::Stopped => {
            let last = rt.last_exit(name).map(|e| e.record);
            info.exit_code = last.as_ref().map(|r| r.code);
            let services = last.as_ref().map_or(&[][..], |r| &r.services[..]);
            info.services = stopped_services(&info.config, services);
            let restarts = last.as_ref().and_then(|r| r.restarts);
            info.main_process = restarts.map(|restarts| Supervised {
                name: "main".into(),
                command: None,
                policy: info.main_restart.clone(),
                state: "stopped".into(),
                pid: None,
                restarts: Some(restarts),
                last_exit: info.exit_code,
                next_start_ms: None,
            });
        }
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
            // A paused xdockerinit cannot answer: no wait for it.
            let live = match status {
                Status::Running { .. } => live_status(rt, name),
                _ => None,
            };
            match live {
                Some(list) => {
                    for p in list {
                        match p.role {
                            Role::Main => info.main_process = Some(Supervised::live(p)),
                            Role::Service => info.services.push(Supervised::live(p)),
                        }
                    }
                }
                None => {
                    let state = match status {
                        Status::Paused { .. } => "paused",
                        _ => "unknown",
                    };
                    info.services = configured_services(&info.config, state);
                }
            }
            let usage = rt.usage(name).unwrap_or_default();
            info.memory_bytes = usage.memory_bytes;
            info.cpu_seconds = usage.cpu_nanos.map(|n| n as f64 / 1e9);
        }
    }
    Ok(info)
}

/// The services of a stopped container in their start order: the image's
/// `boot.d` ones, then the configured ones, with how their last run ended where the exit
/// record has it (a service added since that run has no figures yet).
fn stopped_services(
    config: &ContainerConfig,
    last: &[xdockerinit::exit_record::ServiceRecord],
) -> Vec<Supervised> {
    let with_record = |mut s: Supervised, r: &xdockerinit::exit_record::ServiceRecord| {
        s.restarts = Some(r.restarts);
        s.last_exit = r.last_exit;
        s
    };
    let mut out = Vec::new();
    for r in last.iter().filter(|r| r.name.starts_with(BOOT_DIR_PREFIX)) {
        let s = Supervised {
            name: r.name.clone(),
            command: None,
            policy: config.service_restart().to_string(),
            state: "stopped".into(),
            pid: None,
            restarts: None,
            last_exit: None,
            next_start_ms: None,
        };
        out.push(with_record(s, r));
    }
    for service in &config.services {
        let s = Supervised::configured(config, service, "stopped");
        out.push(match last.iter().find(|r| r.name == s.name) {
            Some(r) => with_record(s, r),
            None => s,
        });
    }
    out
}

/// How xdockerinit names an image's own services (`boot.d/FILE`).
const BOOT_DIR_PREFIX: &str = "boot.d/";

/// The configured services, in `state`.
fn configured_services(config: &ContainerConfig, state: &str) -> Vec<Supervised> {
    config
        .services
        .iter()
        .map(|s| Supervised::configured(config, s, state))
        .collect()
}

/// How long `-s info` waits for a running xdockerinit's answers.
const STATUS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// What the xdockerinit of running container `name` supervises; None when
/// it cannot tell (stopping, older than supervision, at its process
/// limit: a session needs a process) or does not answer in time.
fn live_status(rt: &Runtime, name: &Name) -> Option<Vec<ProcessStatus>> {
    let path = rt.containers.path(name, crate::session::SOCKET_FILE);
    crate::session::Client::connect_within(&path, STATUS_TIMEOUT)
        .ok()?
        .status(STATUS_TIMEOUT)
        .ok()?
}

/// The pid of running (or paused) container `name`'s init, whose
/// `/proc/PID/root` is the container's own view of its root.
pub fn running_pid(rt: &Runtime, name: &Name) -> Result<i32, LifecycleError> {
    if !rt.containers.exists(name) {
        return Err(ContainerError::NotFound(name.to_string()).into());
    }
    // A paused container's root is there all the same.
    rt.status_releasing_leftovers(name)?
        .pid()
        .ok_or_else(|| RuntimeError::NotRunning(name.to_string()).into())
}
