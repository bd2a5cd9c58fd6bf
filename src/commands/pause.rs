//! `-a pause -c C` and `-a continue -c C`.

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::lifecycle;

pub fn pause(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-a pause needs -c/--container");
    };
    lifecycle::pause(&ctx.runtime, name)?;
    Ok(Output::Ok)
}

pub fn resume(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-a continue needs -c/--container");
    };
    lifecycle::resume(&ctx.runtime, name)?;
    Ok(Output::Ok)
}
