//! `-a shutdown -c C` and `-a kill -c C` (a `--rm` container made by the
//! Docker-style `run` goes with its stop).

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::lifecycle::{self, StopRequest};
use crate::runtime::StopMode;

pub fn run(ctx: &Ctx, args: &Args, mode: StopMode) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("needs -c/--container");
    };
    let req = StopRequest {
        name: name.clone(),
        mode,
        wait: None,
        force: ctx.force,
    };
    lifecycle::stop(&ctx.runtime, &req)?;
    Ok(Output::Ok)
}
