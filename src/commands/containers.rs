//! `-s containers` and `-s container_root -c C`.

use anyhow::{bail, Result};
use serde::Serialize;

use super::{table, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle::{self, Summary};

#[derive(Serialize)]
struct Row {
    container_id: String,
    image: String,
    hostname: String,
    net: String,
    netns: String,
    vip: String,
    status: String,
    /// True without a user namespace: root inside is root on the host.
    privileged: bool,
    pid: Option<i32>,
    exit_code: Option<i32>,
    /// Why the container's config cannot be read; null when it can.
    broken: Option<String>,
    /// A running DHCP container's lease end (RFC 3339); its address is
    /// the vip.
    lease_end: Option<String>,
}

pub fn list(ctx: &Ctx, json: bool) -> Result<Output> {
    let rows: Vec<Row> = lifecycle::list(&ctx.runtime)?
        .into_iter()
        .map(|s| with_lease(ctx, row(s)))
        .collect();
    if json {
        return Output::json(&rows);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.container_id.clone(),
                r.image.clone(),
                r.hostname.clone(),
                r.net.clone(),
                r.netns.clone(),
                r.vip.clone(),
                r.status.clone(),
            ]
        })
        .collect();
    Ok(Output::Text(table(
        &[
            "container_id",
            "image",
            "hostname",
            "net",
            "netns",
            "vip",
            "status",
        ],
        &cells,
    )))
}

/// A running DHCP container shows its leased address as its vip.
fn with_lease(ctx: &Ctx, mut r: Row) -> Row {
    use xdockerinit::dhcp::LeaseFile;
    let dhcp = r.vip == "-" && r.pid.is_some() && r.net != "-" && r.netns != "-";
    let Some(name) = dhcp
        .then(|| crate::names::Name::parse_as("container name", &r.container_id).ok())
        .flatten()
    else {
        return r;
    };
    if let Some(LeaseFile::Bound { address, end, .. }) = ctx.runtime.dhcp_lease(&name) {
        r.vip = address.to_string();
        r.lease_end = chrono::DateTime::from_timestamp(i64::try_from(end).unwrap_or(0), 0)
            .map(|t| t.with_timezone(&chrono::Local).to_rfc3339());
    }
    r
}

/// One container as listed; one whose config cannot be read shows what
/// runs, the kernel's to say (status BROKEN, with its pid if it runs), and
/// why (in --json).
fn row(s: Summary) -> Row {
    let pid = s.status.pid();
    let dash = || "-".to_string();
    match s.config {
        Ok(config) => Row {
            container_id: s.name.to_string(),
            image: config.images_text(),
            hostname: config.hostname,
            net: config.net.to_string(),
            netns: s.netns.unwrap_or_else(dash),
            vip: config.vip.map(|v| v.to_string()).unwrap_or_else(dash),
            status: s.status.label(),
            privileged: config.security.userns.is_none(),
            pid,
            exit_code: s.exit_code,
            broken: None,
            lease_end: None,
        },
        Err(reason) => Row {
            container_id: s.name.to_string(),
            image: dash(),
            hostname: dash(),
            net: dash(),
            netns: dash(),
            vip: dash(),
            status: match pid {
                Some(pid) => format!("BROKEN({pid})"),
                None => "BROKEN".to_string(),
            },
            privileged: false,
            pid,
            exit_code: None,
            broken: Some(reason),
            lease_end: None,
        },
    }
}

pub fn root(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-s container_root needs -c/--container");
    };
    // The running container's own view of its root, through its init.
    let pid = lifecycle::running_pid(&ctx.runtime, name)?;
    if args.json {
        return Output::json(&serde_json::json!({
            "container_id": name.as_str(),
            "root": format!("/proc/{pid}/root"),
        }));
    }
    Ok(Output::Text(format!("/proc/{pid}/root\n")))
}
