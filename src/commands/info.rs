//! `-s info -c C [--json]`: a container's whole config and its live state
//! (pid, uptime, cgroup memory and CPU use, addresses, ports), like
//! `docker inspect` / `lxc-info`; without `-c`, the home (`docker info`).

use anyhow::Result;
use serde::Serialize;

use super::{human_size, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle::{self, HomeNames, Inspection, Supervised};

/// `-s info`: the container's inspection and the home it lives in.
#[derive(Debug, Serialize)]
struct Info {
    #[serde(flatten)]
    inspection: Inspection,
    /// The home and the host-wide names it uses (derived from the home
    /// unless xdocker.toml sets them).
    home: HomeNames,
    /// A DHCP macvlan container's lease while it runs.
    dhcp_lease: Option<DhcpLease>,
}

/// A DHCP lease as `-s info` shows it.
#[derive(Debug, Serialize)]
struct DhcpLease {
    address: String,
    /// RFC 3339, local time.
    end: String,
}

fn dhcp_lease(ctx: &Ctx, name: &crate::names::Name, running: bool) -> Option<DhcpLease> {
    use xdockerinit::dhcp::LeaseFile;
    match ctx.runtime.dhcp_lease(name)? {
        LeaseFile::Bound {
            address,
            prefix,
            end,
            ..
        } if running => Some(DhcpLease {
            address: format!("{address}/{prefix}"),
            end: chrono::DateTime::from_timestamp(i64::try_from(end).unwrap_or(0), 0)?
                .with_timezone(&chrono::Local)
                .to_rfc3339(),
        }),
        _ => None,
    }
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

fn text(all: &Info) -> String {
    let (info, home) = (&all.inspection, &all.home);
    let c = &info.config;
    let limits = &c.limits;
    let volumes: Vec<String> = c.volumes.iter().map(|v| v.to_string()).collect();
    let addresses: Vec<String> = info.addresses.iter().map(|a| a.to_string()).collect();
    let lines: Vec<(&str, String)> = vec![
        ("container_id", info.container_id.clone()),
        ("status", info.status.clone()),
        ("image", c.images_text()),
        ("hostname", c.hostname.clone()),
        ("net", c.net.to_string()),
        ("netns", or_dash(info.netns.as_ref())),
        ("host_eth", or_dash(c.host_eth.as_ref())),
        ("vip", or_dash(c.vip)),
        (
            "dhcp_lease",
            or_dash(
                all.dhcp_lease
                    .as_ref()
                    .map(|l| format!("{} until {}", l.address, l.end)),
            ),
        ),
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
        ("cpu_shares", or_dash(limits.cpu_shares)),
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
        ("env", env(&c.env)),
        ("workdir", or_dash(c.workdir.as_ref())),
        ("user", or_dash(c.user.as_ref())),
        ("command", or_dash(c.command.as_ref())),
        ("tty", if c.tty { "yes (attach)" } else { "no" }.to_string()),
        (
            "auto_remove",
            if c.auto_remove { "yes (--rm)" } else { "no" }.to_string(),
        ),
        ("created", c.created.clone()),
        ("pid", or_dash(info.pid)),
        ("booted_at", or_dash(info.booted_at.as_ref())),
        ("uptime", or_dash(info.uptime_seconds.map(uptime))),
        ("exec", or_dash(info.exec.as_ref())),
        ("restart", restart(info)),
        (
            "main_process",
            or_dash(info.main_process.as_ref().map(process)),
        ),
        (
            "services",
            if info.services.is_empty() {
                "-".to_string()
            } else {
                info.services.len().to_string()
            },
        ),
        ("veth", or_dash(info.veth.as_ref())),
        ("addresses", list(&addresses)),
        ("memory", or_dash(info.memory_bytes.map(human_size))),
        (
            "cpu_time",
            or_dash(info.cpu_seconds.map(|s| format!("{s:.2}s"))),
        ),
        ("exit_code", or_dash(info.exit_code)),
        (
            "log",
            format!(
                "{} ({} in {} file{}; rotated at {}, {} files kept)",
                info.log.path.display(),
                human_size(info.log.bytes),
                info.log.files,
                if info.log.files == 1 { "" } else { "s" },
                human_size(info.log.max_size),
                info.log.max_files
            ),
        ),
        (
            "home",
            format!(
                "{} (cgroup parent {}, bridge {} {}, nft table {})",
                home.path.display(),
                home.cgroup_parent,
                home.bridge,
                home.subnet,
                home.nft_table
            ),
        ),
    ];
    let mut lines: Vec<(String, String)> =
        lines.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    // One line per service, right after the count.
    let at = lines
        .iter()
        .position(|(k, _)| k == "services")
        .map_or(lines.len(), |i| i + 1);
    let services = info.services.iter().map(|s| {
        let command = s.command.as_deref().unwrap_or("-");
        (
            format!("service {}", s.name),
            format!("{}; {command}", process(s)),
        )
    });
    lines.splice(at..at, services);
    lines
        .iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect::<String>()
}

/// `no (main process), on-failure (services)`.
fn restart(info: &Inspection) -> String {
    format!(
        "{} (main process), {} (services)",
        info.main_restart, info.service_restart
    )
}

/// `running, pid 12, restarts 2, last exit 1` (with the policy when it is
/// not the container's).
fn process(p: &Supervised) -> String {
    let mut text = p.state.clone();
    if let Some(ms) = p.next_start_ms {
        text.push_str(&format!(
            " (starts again in {:.1}s)",
            f64::from(ms) / 1000.0
        ));
    }
    if let Some(pid) = p.pid {
        text.push_str(&format!(", pid {pid}"));
    }
    text.push_str(&format!(
        ", restarts {}, last exit {}",
        or_dash(p.restarts),
        or_dash(p.last_exit)
    ));
    text
}

/// The variables, `KEY=VALUE` each on a line of its own, aligned after
/// `env: ` (values may hold spaces and commas), control characters escaped.
fn env(vars: &[crate::container::EnvVar]) -> String {
    if vars.is_empty() {
        return "-".into();
    }
    let lines: Vec<String> = vars
        .iter()
        .map(|v| crate::cli::escape_controls(&v.to_string()))
        .collect();
    lines.join("\n     ")
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
        return super::home_output::write(ctx, args.json);
    };
    let inspection = lifecycle::inspect(&ctx.runtime, name)?;
    let info = Info {
        dhcp_lease: dhcp_lease(ctx, name, inspection.pid.is_some()),
        inspection,
        home: HomeNames::of(&ctx.runtime),
    };
    if args.json {
        return Output::json(&info);
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

    #[test]
    fn variables_are_one_a_line_and_cannot_cut_it() {
        assert_eq!(env(&[]), "-");
        let vars: Vec<crate::container::EnvVar> = ["A=x, y", "B=two\nlines"]
            .iter()
            .map(|v| v.parse().expect("var"))
            .collect();
        assert_eq!(env(&vars), "A=x, y\n     B=two\\nlines");
    }
}
