//! `-a autostart`: boots every container flagged with `--autostart ORDER`,
//! lower orders first and names breaking ties (what the systemd unit runs at
//! host start, like `lxc-autostart`); `-h` shuts them down in the reverse
//! order; `-c C --autostart ORDER|off` sets or clears the flag.

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::container::Status;
use crate::names::Name;
use crate::runtime::StopMode;

/// The flagged containers in start order.
fn flagged(ctx: &Ctx) -> Result<Vec<Name>> {
    let mut found = Vec::new();
    for name in ctx.runtime.containers.names()? {
        match ctx.runtime.containers.config(&name) {
            Ok(config) => {
                if let Some(order) = config.autostart {
                    found.push((order, name));
                }
            }
            // A broken container never stops the others from starting.
            Err(e) => crate::logging::warn(&format!("autostart: skipped: {e}")),
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, n)| n).collect())
}

fn set_flag(ctx: &Ctx, name: &Name, args: &Args) -> Result<Output> {
    let Some(setting) = args.autostart else {
        bail!("-a autostart -c {name} needs --autostart ORDER|off");
    };
    let _lock = ctx.runtime.containers.lock(name)?;
    let mut config = ctx.runtime.containers.config(name)?;
    config.autostart = setting.order();
    ctx.runtime.containers.save_config(&config)?;
    crate::logging::info(&format!(
        "container {name}: autostart {}",
        config
            .autostart
            .map_or("off".to_string(), |o| format!("order {o}"))
    ));
    Ok(Output::Ok)
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    if let Some(name) = &args.container {
        return set_flag(ctx, name, args);
    }
    let mut order = flagged(ctx)?;
    if args.shutdown {
        order.reverse();
    }
    let mut report = String::new();
    let mut failed = Vec::new();
    for name in &order {
        let running = matches!(
            ctx.runtime.status_releasing_leftovers(name)?,
            Status::Running { .. }
        );
        let outcome = match (args.shutdown, running) {
            (false, true) | (true, false) => Ok(if running { "running" } else { "stopped" }),
            (false, false) => ctx.runtime.boot(name, None).map(|_| "booted"),
            (true, true) => ctx
                .runtime
                .stop(name, StopMode::Shutdown, ctx.force)
                .map(|_| "shut down"),
        };
        match outcome {
            Ok(what) => report.push_str(&format!("{name}: {what}\n")),
            Err(e) => {
                crate::logging::warn(&format!("autostart: {e}"));
                failed.push(format!("{name} ({e})"));
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "autostart: {} of {} containers failed: {}",
            failed.len(),
            order.len(),
            failed.join("; ")
        );
    }
    Ok(Output::Text(report))
}
