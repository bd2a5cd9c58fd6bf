//! `top CONTAINER`: the processes of a running container.

use anyhow::Result;

use crate::commands::{table, Ctx, Output};
use crate::docker_cli::ContainerArg;
use crate::lifecycle;

pub fn run(ctx: &Ctx, a: &ContainerArg) -> Result<Output> {
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
    let rows: Vec<Vec<String>> = lifecycle::top(&ctx.runtime, &a.container)?
        .into_iter()
        .map(|p| {
            vec![
                p.pid.to_string(),
                dash(p.container_pid.map(|n| n.to_string())),
                dash(p.uid.map(|n| n.to_string())),
                p.command,
            ]
        })
        .collect();
    Ok(Output::Text(table(&["PID", "CPID", "UID", "CMD"], &rows)))
}
