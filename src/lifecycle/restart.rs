//! `restart`: a shutdown (grace period, then kill) and a boot with the
//! stored options, in one command. As `docker restart` does, a stopped
//! container is simply booted. Cgroup options given are stored, as `boot`
//! stores them; they and the next boot's plan are checked before anything
//! stops, so that a restart that cannot boot leaves the container running.
//! A container that ran one command (`-e CMD`) runs it again, waited for
//! as `boot -e` waits.

use std::path::Path;

use super::boot::{boot, BootRequest, Booted, Start};
use super::create::apply_limits;
use super::LifecycleError;
use crate::container::config::LimitsConfig;
use crate::container::Status;
use crate::names::Name;
use crate::runtime::{Runtime, RuntimeError, StopMode};

/// `restart`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartRequest {
    pub name: Name,
    /// Limits to store before the boot (empty: the stored ones apply).
    pub limits: LimitsConfig,
}

/// What `restart` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restarted {
    /// It ran (or was paused) and was shut down first.
    pub was_running: bool,
    /// How the boot went.
    pub booted: Booted,
}

/// Restarts container `name`.
pub fn restart(rt: &Runtime, req: RestartRequest) -> Result<Restarted, LifecycleError> {
    let name = &req.name;
    let mut config = rt.containers.config(name)?;
    config.limits = apply_limits(&req.limits, config.limits)?;
    // The command of a single-process container, while it runs.
    let exec = rt
        .containers
        .run_state(name)?
        .filter(|s| s.status(Path::new("/proc")) != Status::Stopped)
        .and_then(|s| s.exec);
    // What the boot will need (image layers, volume sources) is there.
    rt.plan_boot(name, &config, exec.as_deref().or(config.command.as_deref()))?;
    let was_running = match rt.stop(name, StopMode::Shutdown, false) {
        Ok(()) => true,
        Err(RuntimeError::NotRunning(_)) => false,
        Err(e) => return Err(e.into()),
    };
    let start = match exec {
        // The stored command runs in the background again.
        Some(cmd) if config.command.as_ref() != Some(&cmd) => Start::Exec(cmd),
        _ => Start::Detached,
    };
    let booted = boot(
        rt,
        BootRequest {
            limits: req.limits,
            ..BootRequest::stored(name.clone(), start)
        },
    )?;
    crate::logging::info(&format!("container {name}: restarted"));
    Ok(Restarted {
        was_running,
        booted,
    })
}
