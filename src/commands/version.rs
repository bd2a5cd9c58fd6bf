//! `-a version -m NAME[:V] [--version NEW]`: renames an image version.

use anyhow::Result;

use super::{single_image, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle;
use crate::names::Version;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let image = single_image(args, "version")?;
    let to = args.version.clone().unwrap_or_else(Version::none);
    lifecycle::rename_version(&ctx.runtime, &image, &to)?;
    Ok(Output::Ok)
}
