//! `-a del_image -m NAME[:V]`: deletes an image version not in use (a
//! broken one with `-f`).

use anyhow::{bail, Result};

use super::{single_image, Ctx, Output};
use crate::cli::Args;
use crate::image::{ImageError, Pick};

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let image = single_image(args, "del_image")?;
    let _lock = ctx.images.lock(&image.name)?;
    let version = match ctx.images.resolve(&image, Pick::Only) {
        Ok(v) => v,
        // A broken version is no candidate of `resolve`: named exactly (or
        // the only directory there), it can still be removed.
        Err(e) => {
            let all = ctx.images.all_versions(&image.name)?;
            match (&image.version, all.as_slice()) {
                (Some(v), _) if all.contains(v) => v.clone(),
                (None, [only]) => only.clone(),
                _ => return Err(e.into()),
            }
        }
    };
    if let Some(reason) = ctx.images.inspect(&image.name, &version)?.broken {
        if !ctx.force {
            bail!(
                "image {}:{version} is broken ({reason}): del_image -f removes it",
                image.name
            );
        }
        crate::logging::warn(&format!(
            "deleting broken image {}:{version} ({reason}, -f)",
            image.name
        ));
    }
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
