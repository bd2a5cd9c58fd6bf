//! `-a to_image` and `-a to_container` (SPEC §5): the checks; the move
//! itself, safe against a kill at any point, is [`crate::conversion`].

use anyhow::{bail, Result};

use super::create::{config_from, resolve_stack};
use super::{Ctx, Output};
use crate::cli::Args;
use crate::container::Status;
use crate::image::Pick;
use crate::names::Version;

/// `--from-container C --to-image NAME[:V] [--version V]`: the container's
/// writable layer becomes the image, recording the container's images as
/// its base layers; the container is consumed.
pub fn to_image(ctx: &Ctx, args: &Args) -> Result<Output> {
    let (Some(from), Some(to)) = (&args.from_container, &args.to_image) else {
        bail!("-a to_image needs --from-container and --to-image");
    };
    let version = match (&to.version, &args.version) {
        (Some(a), Some(b)) if a != b => bail!("--to-image {to} and --version {b} disagree"),
        (Some(v), _) | (None, Some(v)) => v.clone(),
        (None, None) => Version::none(),
    };
    let _c = ctx.runtime.containers.lock(from)?;
    let config = ctx.runtime.containers.config(from)?;
    if let Status::Running { pid } = ctx.runtime.containers.status(from)? {
        bail!("container {from} is running (pid {pid}): shut it down first");
    }
    ctx.runtime.release(from)?;
    let _i = ctx.images.lock(&to.name)?;
    crate::conversion::to_image(&ctx.runtime, from, &config, &to.name, &version)?;
    crate::logging::info(&format!(
        "container {from} turned into image {}:{version}",
        to.name
    ));
    Ok(Output::Ok)
}

/// `--from-image NAME[:V] --to-container C [-m BASES] [create opts]`: the
/// image's layer becomes the writable layer of a new container stacked on
/// BASES (default: the base layers the image records); the image is
/// consumed.
pub fn to_container(ctx: &Ctx, args: &Args) -> Result<Output> {
    let (Some(from), Some(to)) = (&args.from_image, &args.to_container) else {
        bail!("-a to_container needs --from-image and --to-container");
    };
    let _i = ctx.images.lock(&from.name)?;
    let version = ctx.images.resolve(from, Pick::Only)?;
    let entry = ctx.images.entry(&from.name, &version)?;
    let image = format!("{}:{version}", from.name);
    let users = ctx.images.users(&from.name, &version)?;
    if !users.is_empty() {
        bail!(
            "image {image} is used by container {}: it cannot become a container",
            users.join(", ")
        );
    }
    let dependents = ctx.images.dependents(&from.name, &version)?;
    if !dependents.is_empty() {
        bail!(
            "image {image} is a base layer of {}: it cannot become a container",
            dependents.join(", ")
        );
    }
    let bases = match &args.images {
        Some(list) => resolve_stack(ctx, &list.0)?,
        None => entry
            .meta
            .base_layers
            .iter()
            .map(|b| b.parse())
            .collect::<Result<Vec<crate::names::ImageRef>, _>>()?,
    };
    if bases.is_empty() {
        bail!("image {image} records no base layers: name them with -m");
    }
    for b in &bases {
        ctx.images.resolve(b, Pick::Highest)?;
    }
    let _c = ctx.runtime.containers.lock(to)?;
    if ctx.runtime.containers.exists(to) {
        bail!("container {to} already exists");
    }
    let (config, allocation_locks) = config_from(ctx, args, to, bases)?;
    crate::conversion::to_container(&ctx.runtime, &from.name, &version, &config)?;
    drop(allocation_locks);
    crate::logging::info(&format!("image {image} turned into container {to}"));
    Ok(Output::Ok)
}
