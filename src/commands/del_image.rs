//! `-a del_image -m NAME[:V]`: deletes an image version not in use.

use anyhow::Result;

use super::{single_image, Ctx, Output};
use crate::cli::Args;
use crate::image::{ImageError, Pick};

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let image = single_image(args, "del_image")?;
    let _lock = ctx.images.lock(&image.name)?;
    let version = ctx.images.resolve(&image, Pick::Only)?;
    let users = ctx.images.users(&image.name, &version)?;
    if !users.is_empty() {
        if !ctx.force {
            return Err(ImageError::InUse {
                image: format!("{}:{version}", image.name),
                containers: users.join(", "),
            }
            .into());
        }
        crate::logging::warn(&format!(
            "deleting image {}:{version} used by {} (-f)",
            image.name,
            users.join(", ")
        ));
    }
    ctx.images.delete(&image.name, &version)?;
    crate::logging::info(&format!("image {}:{version} deleted", image.name));
    Ok(Output::Ok)
}
