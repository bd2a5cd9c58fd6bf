//! `-a version -m NAME[:V] [--version NEW]`: renames an image version.

use anyhow::{bail, Result};

use super::{refuse_build_cache, single_image, Ctx, Output};
use crate::cli::Args;
use crate::image::Pick;
use crate::names::Version;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let image = single_image(args, "version")?;
    refuse_build_cache(&image)?;
    let _lock = ctx.images.lock(&image.name)?;
    let from = ctx.images.resolve(&image, Pick::Only)?;
    let to = args.version.clone().unwrap_or_else(Version::none);
    if from == to {
        bail!("image {}:{from} already has version {to}", image.name);
    }
    let users = ctx.images.users(&image.name, &from)?;
    if !users.is_empty() {
        return Err(crate::image::ImageError::InUseRename {
            image: format!("{}:{from}", image.name),
            containers: users.join(", "),
        }
        .into());
    }
    ctx.images.rename_version(&image.name, &from, &to)?;
    crate::logging::info(&format!(
        "image {}:{from} renamed to {}:{to}",
        image.name, image.name
    ));
    Ok(Output::Ok)
}
