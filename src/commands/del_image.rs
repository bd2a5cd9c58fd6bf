//! `-a del_image -m NAME[:V]`: deletes an image version not in use (a
//! broken one with `-f`). `-f` overrides the check for stopped containers
//! only: an image under a running container is never deleted, its files
//! would vanish beneath the container.

use anyhow::Result;

use super::{single_image, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let image = single_image(args, "del_image")?;
    lifecycle::delete_image(&ctx.runtime, &image, ctx.force)?;
    Ok(Output::Ok)
}
