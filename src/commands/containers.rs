//! `-s containers` and `-s container_root -c C`.

use anyhow::{bail, Result};
use serde::Serialize;

use super::{table, Ctx, Output};
use crate::cli::Args;
use crate::container::Status;

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
}

pub fn list(ctx: &Ctx, json: bool) -> Result<Output> {
    let rt = &ctx.runtime;
    let mut rows = Vec::new();
    for name in rt.containers.names()? {
        let status = rt.status_releasing_leftovers(&name)?;
        let config = match rt.containers.config(&name) {
            Ok(c) => c,
            // One bad entry never hides the others: listed as BROKEN (the
            // reason in --json), destroy removes it.
            Err(e) => {
                rows.push(broken_row(&name, status, e.to_string()));
                continue;
            }
        };
        let net = format!("{:?}", config.net).to_uppercase();
        let netns = match config.net {
            crate::network::Net::Host => "-".to_string(),
            _ => rt.netns_name(&name),
        };
        rows.push(Row {
            container_id: name.to_string(),
            image: config.images_text(),
            hostname: config.hostname,
            net,
            netns,
            vip: config
                .vip
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into()),
            status: status.label(),
            privileged: config.security.userns.is_none(),
            pid: match status {
                Status::Running { pid } => Some(pid),
                Status::Stopped => None,
            },
            exit_code: match status {
                Status::Running { .. } => None,
                Status::Stopped => rt.exit_code(&name),
            },
            broken: None,
        });
    }
    if json {
        return Ok(Output::Text(serde_json::to_string_pretty(&rows)? + "\n"));
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

/// The row of a container whose config cannot be read: what runs is still
/// the kernel's to say (status BROKEN, with its pid if it runs).
fn broken_row(name: &crate::names::Name, status: Status, reason: String) -> Row {
    let dash = || "-".to_string();
    Row {
        container_id: name.to_string(),
        image: dash(),
        hostname: dash(),
        net: dash(),
        netns: dash(),
        vip: dash(),
        status: match status {
            Status::Running { pid } => format!("BROKEN({pid})"),
            Status::Stopped => "BROKEN".to_string(),
        },
        privileged: false,
        pid: match status {
            Status::Running { pid } => Some(pid),
            Status::Stopped => None,
        },
        exit_code: None,
        broken: Some(reason),
    }
}

pub fn root(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-s container_root needs -c/--container");
    };
    if !ctx.runtime.containers.exists(name) {
        bail!("container {name} not found");
    }
    match ctx.runtime.status_releasing_leftovers(name)? {
        // The running container's own view of its root, through its init.
        Status::Running { pid } if args.json => Ok(Output::Text(
            serde_json::to_string_pretty(&serde_json::json!({
                "container_id": name.as_str(),
                "root": format!("/proc/{pid}/root"),
            }))? + "\n",
        )),
        Status::Running { pid } => Ok(Output::Text(format!("/proc/{pid}/root\n"))),
        Status::Stopped => bail!("container {name} is not running"),
    }
}
