//! `-a shutdown -c C` and `-a kill -c C`.

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::runtime::StopMode;

pub fn run(ctx: &Ctx, args: &Args, mode: StopMode) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("needs -c/--container");
    };
    ctx.runtime.stop(name, mode, ctx.force)?;
    Ok(Output::Ok)
}
