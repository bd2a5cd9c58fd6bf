//! `-a to_image` and `-a to_container` (SPEC §5): each consumes what it
//! converts, and says so.

use anyhow::{bail, Result};

use super::{args, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle::{self, ToContainerRequest};

/// `--from-container C --to-image NAME[:V] [--version V]`: the container's
/// writable layer becomes the image, recording the container's images as
/// its base layers.
pub fn to_image(ctx: &Ctx, args: &Args) -> Result<Output> {
    let done = lifecycle::to_image(&ctx.runtime, &args::to_image(args)?)?;
    Ok(Output::Done(format!(
        "container {} became image {} (the container is gone)",
        done.from, done.to
    )))
}

/// `--from-image NAME[:V] --to-container C [-m BASES] [create opts]`: the
/// image's layer becomes the writable layer of a new container stacked on
/// BASES (default: the base layers the image records).
pub fn to_container(ctx: &Ctx, args: &Args) -> Result<Output> {
    let (Some(from), Some(to)) = (&args.from_image, &args.to_container) else {
        bail!("-a to_container needs --from-image and --to-container");
    };
    let req = ToContainerRequest {
        image: from.clone(),
        container: to.clone(),
        bases: args.images.as_ref().map(|l| l.0.clone()),
        new: args::new_container(args)?,
    };
    let done = lifecycle::to_container(&ctx.runtime, &req)?;
    Ok(Output::Done(format!(
        "image {} became container {} (the image is gone)",
        done.from, done.to
    )))
}
