//! `autostart`: the containers flagged with an order boot at host start,
//! lower orders first and names breaking ties (what the systemd unit runs,
//! like `lxc-autostart`), and shut down in the reverse order; one that
//! fails never stops the others.

use super::LifecycleError;
use crate::names::Name;
use crate::runtime::{Runtime, RuntimeError, StopMode};

/// What happened to each flagged container, in order: `booted`,
/// `running` (already), `shut down`, `stopped` (already).
pub type AutostartReport = Vec<(Name, &'static str)>;

/// Sets (`Some(order)`) or clears container `name`'s flag.
pub fn set_autostart(rt: &Runtime, name: &Name, order: Option<u32>) -> Result<(), LifecycleError> {
    let _lock = rt.containers.lock(name)?;
    let mut config = rt.containers.config(name)?;
    config.autostart = order;
    rt.containers.save_config(&config)?;
    crate::logging::info(&format!(
        "container {name}: autostart {}",
        order.map_or("off".to_string(), |o| format!("order {o}"))
    ));
    Ok(())
}

/// The flagged containers in start order.
fn flagged(rt: &Runtime) -> Result<Vec<Name>, LifecycleError> {
    let mut found = Vec::new();
    for name in rt.containers.names()? {
        match rt.containers.config(&name) {
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

/// Boots every flagged container that is stopped (`shutdown`: shuts down
/// every one that runs, in the reverse order). An error names each
/// container that failed.
pub fn autostart(
    rt: &Runtime,
    shutdown: bool,
    force: bool,
) -> Result<AutostartReport, LifecycleError> {
    let mut order = flagged(rt)?;
    if shutdown {
        order.reverse();
    }
    let mut report = Vec::new();
    let mut failed = Vec::new();
    for name in &order {
        // Paused counts as running: booted, and shut down by `-h`.
        let running = rt.status_releasing_leftovers(name)?.pid().is_some();
        let outcome = match (shutdown, running) {
            (false, true) | (true, false) => Ok(if running { "running" } else { "stopped" }),
            // A Docker-style container's stored command runs again.
            (false, false) => rt
                .containers
                .config(name)
                .map_err(RuntimeError::from)
                .and_then(|c| match c.command {
                    Some(cmd) => rt.boot_background(name, &cmd, None),
                    None => rt.boot(name, None),
                })
                .map(|_| "booted"),
            (true, true) => rt
                .stop(name, StopMode::Shutdown, force)
                .map(|_| "shut down"),
        };
        match outcome {
            Ok(what) => report.push((name.clone(), what)),
            Err(e) => {
                crate::logging::warn(&format!("autostart: {e}"));
                failed.push(format!("{name} ({e})"));
            }
        }
    }
    if !failed.is_empty() {
        return Err(LifecycleError::Autostart {
            failed: failed.len(),
            total: order.len(),
            list: failed.join("; "),
        });
    }
    Ok(report)
}
