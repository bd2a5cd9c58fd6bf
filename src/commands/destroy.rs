//! `-a destroy -c C [-h] [-f]`: removes a stopped container; `-h` shuts it
//! down first.

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::lifecycle::{self, DestroyRequest};

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-a destroy needs -c/--container");
    };
    let req = DestroyRequest {
        name: name.clone(),
        shutdown: args.shutdown,
        force: ctx.force,
    };
    lifecycle::destroy(&ctx.runtime, &req)?;
    Ok(Output::Ok)
}
