//! `-a copy_image --from-image NAME[:V] --to-image NAME[:V]`: an exact copy.

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::lifecycle;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let (Some(from), Some(to)) = (&args.from_image, &args.to_image) else {
        bail!("-a copy_image needs --from-image and --to-image");
    };
    lifecycle::copy_image(&ctx.runtime, from, to, ctx.force)?;
    Ok(Output::Ok)
}
