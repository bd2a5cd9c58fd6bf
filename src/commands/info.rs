//! `-s info -c C [--json]`: a container's whole config and its live state
//! (pid, uptime, cgroup memory and CPU use, addresses, ports), like
//! `docker inspect` / `lxc-info`.

use std::net::Ipv4Addr;

use anyhow::{bail, Result};
use serde::Serialize;

use super::{human_size, Ctx, Output};
use crate::cli::Args;
use crate::container::{ContainerConfig, Status};
use crate::names::Name;
use crate::network::Net;

/// Everything `-s info` knows; `--json` prints exactly this.
#[derive(Debug, Serialize)]
struct Info {
    container_id: String,
    status: String,
    /// True without a user namespace: root inside is root on the host.
    privileged: bool,
    config: ContainerConfig,
    /// Named network namespace (CUSTOM, BRIDGE).
    netns: Option<String>,
    /// Only while running.
    pid: Option<i32>,
    booted_at: Option<String>,
    uptime_seconds: Option<i64>,
    /// The main command of a single-process container.
    exec: Option<String>,
    /// Host end of the veth (BRIDGE).
    veth: Option<String>,
    /// IPv4 addresses of the container's own network namespace.
    addresses: Vec<Ipv4Addr>,
    memory_bytes: Option<u64>,
    cpu_seconds: Option<f64>,
    /// Exit code of the last run, once stopped.
    exit_code: Option<i32>,
    /// The home and the host-wide names it uses (derived from the home
    /// unless xdocker.toml sets them).
    home: HomeNames,
}

#[derive(Debug, Serialize)]
struct HomeNames {
    path: std::path::PathBuf,
    cgroup_root: std::path::PathBuf,
    cgroup_parent: String,
    bridge: String,
    subnet: String,
    nft_table: String,
}

impl HomeNames {
    fn of(ctx: &Ctx) -> Self {
        let (net, cg) = (&ctx.config.network, &ctx.config.cgroups);
        Self {
            path: ctx.home.root().to_path_buf(),
            cgroup_root: cg.root.clone(),
            cgroup_parent: cg.parent.clone(),
            bridge: net.bridge.clone(),
            subnet: net.subnet.clone(),
            nft_table: net.nft_table.clone(),
        }
    }
}

fn gather(ctx: &Ctx, name: &Name) -> Result<Info> {
    let rt = &ctx.runtime;
    if !rt.containers.exists(name) {
        bail!("container {name} not found");
    }
    let config = rt.containers.config(name)?;
    let status = rt.status_releasing_leftovers(name)?;
    let netns = (config.net != Net::Host).then(|| rt.netns_name(name));
    let mut info = Info {
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
        home: HomeNames::of(ctx),
    };
    match status {
        Status::Stopped => info.exit_code = rt.exit_code(name),
        Status::Running { pid } => {
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

fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(",")
    }
}

fn text(info: &Info) -> String {
    let c = &info.config;
    let limits = &c.limits;
    let volumes: Vec<String> = c
        .volumes
        .iter()
        .map(|v| format!("{}:{}", v.host.display(), v.container.display()))
        .collect();
    let addresses: Vec<String> = info.addresses.iter().map(|a| a.to_string()).collect();
    let lines: Vec<(&str, String)> = vec![
        ("container_id", info.container_id.clone()),
        ("status", info.status.clone()),
        ("image", c.images_text()),
        ("hostname", c.hostname.clone()),
        ("net", format!("{:?}", c.net).to_uppercase()),
        ("netns", or_dash(info.netns.as_ref())),
        ("host_eth", or_dash(c.host_eth.as_ref())),
        ("vip", or_dash(c.vip)),
        (
            "port_mappings",
            list(
                &c.port_mappings
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>(),
            ),
        ),
        ("volumes", list(&volumes)),
        (
            "cpus",
            or_dash(
                limits
                    .cpus
                    .as_ref()
                    .map(|l| l.iter().map(u32::to_string).collect::<Vec<_>>().join(",")),
            ),
        ),
        (
            "cpu_quota",
            or_dash(limits.cpu_quota_percent.map(|p| format!("{p}%"))),
        ),
        ("mem_limit", or_dash(limits.mem_limit_bytes.map(human_size))),
        ("pids_limit", or_dash(limits.pids_limit)),
        ("autostart", or_dash(c.autostart)),
        (
            "seccomp",
            if c.security.seccomp { "on" } else { "off" }.to_string(),
        ),
        ("cap_add", list(&c.security.cap_add)),
        ("cap_drop", list(&c.security.cap_drop)),
        (
            "privileged",
            if info.privileged {
                "yes (root inside is root on the host)"
            } else {
                "no"
            }
            .to_string(),
        ),
        (
            "userns",
            or_dash(
                c.security
                    .userns
                    .map(|u| format!("uid {}, gid {} (+65536)", u.uid, u.gid)),
            ),
        ),
        ("created", c.created.clone()),
        ("pid", or_dash(info.pid)),
        ("booted_at", or_dash(info.booted_at.as_ref())),
        ("uptime", or_dash(info.uptime_seconds.map(uptime))),
        ("exec", or_dash(info.exec.as_ref())),
        ("veth", or_dash(info.veth.as_ref())),
        ("addresses", list(&addresses)),
        ("memory", or_dash(info.memory_bytes.map(human_size))),
        (
            "cpu_time",
            or_dash(info.cpu_seconds.map(|s| format!("{s:.2}s"))),
        ),
        ("exit_code", or_dash(info.exit_code)),
        (
            "home",
            format!(
                "{} (cgroup parent {}, bridge {} {}, nft table {})",
                info.home.path.display(),
                info.home.cgroup_parent,
                info.home.bridge,
                info.home.subnet,
                info.home.nft_table
            ),
        ),
    ];
    lines
        .iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect::<String>()
}

/// `3d 04:05:06`, `04:05:06`.
fn uptime(secs: i64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-s info needs -c/--container");
    };
    let info = gather(ctx, name)?;
    if args.json {
        return Ok(Output::Text(serde_json::to_string_pretty(&info)? + "\n"));
    }
    Ok(Output::Text(text(&info)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_like_a_clock() {
        assert_eq!(uptime(0), "00:00:00");
        assert_eq!(uptime(3661), "01:01:01");
        assert_eq!(uptime(2 * 86400 + 59), "2d 00:00:59");
    }
}
