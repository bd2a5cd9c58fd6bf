//! `-a destroy -c C [-h] [-f]`: removes a stopped container; `-h` shuts it
//! down first.

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::container::Status;
use crate::runtime::{RuntimeError, StopMode};

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-a destroy needs -c/--container");
    };
    if ctx.force && !ctx.runtime.containers.present(name) {
        // -f: a container that is already gone is what was asked for.
        return Ok(Output::Ok);
    }
    if args.shutdown {
        match ctx.runtime.stop(name, StopMode::Shutdown, false) {
            Ok(()) | Err(RuntimeError::NotRunning(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let _lock = ctx.runtime.containers.lock(name)?;
    if let Status::Running { pid } = ctx.runtime.containers.status(name)? {
        bail!("container {name} is running (pid {pid}): shut it down first, or use -h");
    }
    ctx.runtime.release(name)?;
    ctx.runtime.forget(name)?;
    ctx.runtime.containers.destroy(name)?;
    crate::logging::info(&format!("container {name}: destroyed"));
    Ok(Output::Ok)
}
