//! `-a to_image` and `-a to_container` (SPEC §5): layers are moved, never
//! copied, so nothing is lost (dotfiles, xattrs, overlay whiteouts, hard
//! links), and each conversion appears with one rename or not at all.

use anyhow::{bail, Result};

use super::create::{config_from, resolve_stack};
use super::{Ctx, Output};
use crate::cli::Args;
use crate::container::store::RWLAYER;
use crate::container::Status;
use crate::fsutil::tree::tree_size;
use crate::image::store::{new_meta, LAYER_DIR};
use crate::image::{ImageError, Pick};
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
    if ctx.images.versions(&to.name)?.contains(&version) {
        return Err(ImageError::Exists(format!("{}:{version}", to.name)).into());
    }
    let staging = ctx.images.home().staging("to_image")?;
    let layer = staging.path().join(LAYER_DIR);
    let rwlayer = ctx.runtime.containers.path(from, RWLAYER);
    ctx.runtime.containers.take_rwlayer(from, &layer)?;
    let mut meta = new_meta(0, &format!("to_image from container {from}"));
    meta.size = tree_size(&layer).unwrap_or(0);
    meta.base_layers = config.images.clone();
    if let Err(e) = ctx.images.place(staging.path(), &to.name, &version, meta) {
        // Give the layer back: the container is as it was.
        std::fs::rename(&layer, &rwlayer)?;
        return Err(e.into());
    }
    // The container's own files went into the image; what is left (config,
    // empty overlay dirs) goes.
    ctx.runtime.containers.destroy(from)?;
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
        None => entry.meta.base_layers.clone(),
    };
    if bases.is_empty() {
        bail!("image {image} records no base layers: name them with -m");
    }
    for b in &bases {
        let r: crate::names::ImageRef = b.parse()?;
        ctx.images.resolve(&r, Pick::Highest)?;
    }
    let _c = ctx.runtime.containers.lock(to)?;
    let (config, allocation_locks) = config_from(ctx, args, to, bases)?;
    ctx.runtime
        .containers
        .create(&config, Some(&entry.dir.join(LAYER_DIR)))?
        .sync()?;
    drop(allocation_locks);
    ctx.images.delete(&from.name, &version)?;
    crate::logging::info(&format!("image {image} turned into container {to}"));
    Ok(Output::Ok)
}
