//! `-a boot -c C [cgroup opts] [-t | -e CMD]`: cgroup options given here are
//! stored in the config and apply to this and every later boot; `-t`
//! attaches right after the boot.

use anyhow::{bail, Result};

use super::create::limits_from;
use super::{Ctx, Output};
use crate::cli::Args;
use crate::container::store::Unsynced;
use crate::names::Name;
use crate::runtime::BootOutcome;

/// Boots (a container `create` just made: `created`) and turns the
/// outcome into what the user sees.
pub fn boot_and_report(
    ctx: &Ctx,
    name: &Name,
    exec: Option<&str>,
    created: Option<Unsynced>,
) -> Result<Output> {
    let outcome = match created {
        Some(created) => ctx.runtime.boot_created(name, exec, created)?,
        None => ctx.runtime.boot(name, exec)?,
    };
    match outcome {
        BootOutcome::Detached { .. } => Ok(Output::Ok),
        BootOutcome::Exited { code } => Ok(Output::Exit(code)),
    }
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-a boot needs -c/--container");
    };
    if args.cpus.is_some()
        || args.cpu_quota.is_some()
        || args.mem_limit.is_some()
        || args.pids_limit.is_some()
    {
        let _lock = ctx.runtime.containers.lock(name)?;
        let mut config = ctx.runtime.containers.config(name)?;
        config.limits = limits_from(args, config.limits.clone())?;
        ctx.runtime.containers.save_config(&config)?;
    }
    if args.tty {
        return boot_and_attach(ctx, name, None);
    }
    boot_and_report(ctx, name, args.exec.as_deref(), None)
}

/// `-t`: boots, then attaches at once (the session socket listens from
/// before the container's first instruction, so there is no wait).
pub fn boot_and_attach(ctx: &Ctx, name: &Name, created: Option<Unsynced>) -> Result<Output> {
    match created {
        Some(created) => ctx.runtime.boot_created(name, None, created)?,
        None => ctx.runtime.boot(name, None)?,
    };
    super::attach::attach(ctx, name)
}
