//! `-a copy_image --from-image NAME[:V] --to-image NAME[:V]`: an exact copy.

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::image::Pick;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let (Some(from), Some(to)) = (&args.from_image, &args.to_image) else {
        bail!("-a copy_image needs --from-image and --to-image");
    };
    // Two names are locked in name order, so two crossing copies cannot
    // wait for each other forever.
    let (first, second) = if from.name <= to.name {
        (&from.name, &to.name)
    } else {
        (&to.name, &from.name)
    };
    let _a = ctx.images.lock(first)?;
    let _b = if first == second {
        None
    } else {
        Some(ctx.images.lock(second)?)
    };
    let from_version = ctx.images.resolve(from, Pick::Highest)?;
    let to_version = to.version_or_none();
    if from.name == to.name && from_version == to_version {
        bail!(
            "image {}:{from_version} cannot be copied onto itself",
            from.name
        );
    }
    ctx.images.copy(
        (&from.name, &from_version),
        (&to.name, &to_version),
        ctx.force,
    )?;
    crate::logging::info(&format!(
        "image {}:{from_version} copied to {}:{to_version}",
        from.name, to.name
    ));
    Ok(Output::Ok)
}
