//! Turning a stopped container into an image and an image into a container
//! (SPEC §5): the layer is moved, never copied, with one rename into a
//! place that already exists, so it is always exactly one of the two
//! objects' layer and never in a staging directory. An intent record
//! ([`crate::intent`]) says what is under way; after a kill at any point,
//! [`finish_interrupted`] (run by the next command) rolls back what had
//! not moved yet and finishes what had: every file of the layer is in the
//! container or in the image, never lost.
//!
//! Crash points (for the fault-injection tests, [`crate::crashpoint`]):
//! `to_image.recorded`, `to_image.published`, `to_image.moved`,
//! `to_image.measured`, `to_image.destroyed`, `to_container.recorded`,
//! `to_container.created`, `to_container.moved`, `to_container.deleted`.

use std::path::Path;

use anyhow::{bail, Result};

use crate::container::store::RWLAYER;
use crate::container::ContainerConfig;
use crate::crashpoint::hit;
use crate::fsutil::tree::tree_size;
use crate::home::LockKind;
use crate::image::store::new_meta;
use crate::image::ImageError;
use crate::intent::{self, Intent, Op};
use crate::names::{Name, Version};
use crate::runtime::Runtime;

/// True for an empty directory (a layer nothing was moved into).
fn empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

/// The writable layer of stopped container `from` becomes the new image
/// `to:version`, recording the container's images as its base layers; the
/// container is consumed. The caller holds the container's lock and the
/// image's lock and has released what the container held.
pub fn to_image(
    rt: &Runtime,
    from: &Name,
    config: &ContainerConfig,
    to: &Name,
    version: &Version,
) -> Result<()> {
    let images = &rt.images;
    if images.all_versions(to)?.contains(version) {
        return Err(ImageError::Exists(format!("{to}:{version}")).into());
    }
    let rwlayer = rt.containers.path(from, RWLAYER);
    if !rwlayer.is_dir() {
        bail!("container {from} has no writable layer");
    }
    // xdocker's own run-time files are the container's, not the image's.
    let lowers: Vec<_> = config
        .images
        .iter()
        .map(|r| images.layer_dir(&r.name, &r.version_or_none()))
        .collect();
    crate::container::runtime_files::strip(&rwlayer, &lowers, config)
        .map_err(|e| anyhow::anyhow!("container {from}: remove run-time files: {e}"))?;
    let record = intent::begin(
        images.home(),
        &Intent {
            op: Op::ToImage,
            container: from.to_string(),
            image: to.to_string(),
            version: version.to_string(),
        },
    )?;
    hit("to_image.recorded");
    // The image appears first, with an empty layer that the container's
    // then replaces in one rename.
    let mut meta = new_meta(0, &format!("to_image from container {from}"));
    meta.base_layers = config.images.iter().map(ToString::to_string).collect();
    let staging = images.stage("to_image")?;
    if let Err(e) = images.commit(staging, to, version, meta.clone(), false) {
        record.finish()?;
        return Err(e.into());
    }
    hit("to_image.published");
    let layer = images.layer_dir(to, version);
    if let Err(e) = std::fs::rename(&rwlayer, &layer) {
        images.delete(to, version)?;
        record.finish()?;
        bail!("container {from}: move {}: {e}", rwlayer.display());
    }
    hit("to_image.moved");
    // From here on the image holds the data: an error leaves the record
    // for the next command, which finishes the job.
    meta.size = tree_size(&layer).unwrap_or(0);
    images.write_meta(to, version, &meta)?;
    hit("to_image.measured");
    // The container's own files went into the image; what is left (config,
    // empty overlay dirs) goes.
    rt.containers.destroy(from)?;
    hit("to_image.destroyed");
    record.finish()?;
    Ok(())
}

/// Image `from:version`'s layer becomes the writable layer of the new
/// container `config` (the image is consumed). The caller holds both
/// locks, checked that nothing uses the image, and holds the allocation
/// locks of `config` (VIP, ids) until this returns.
pub fn to_container(
    rt: &Runtime,
    from: &Name,
    version: &Version,
    config: &ContainerConfig,
) -> Result<()> {
    let name = Name::parse_as("container name", &config.name)?;
    let layer = rt.images.layer_dir(from, version);
    if !layer.is_dir() {
        bail!("image {from}:{version} has no layer");
    }
    let record = intent::begin(
        rt.images.home(),
        &Intent {
            op: Op::ToContainer,
            container: name.to_string(),
            image: from.to_string(),
            version: version.to_string(),
        },
    )?;
    hit("to_container.recorded");
    if let Err(e) = rt.containers.create(config, None).and_then(|c| c.sync()) {
        record.finish()?;
        return Err(e.into());
    }
    hit("to_container.created");
    let rwlayer = rt.containers.path(&name, RWLAYER);
    if let Err(e) = std::fs::rename(&layer, &rwlayer) {
        rt.containers.destroy(&name)?;
        record.finish()?;
        bail!("image {from}:{version}: move {}: {e}", layer.display());
    }
    hit("to_container.moved");
    rt.images.delete(from, version)?;
    hit("to_container.deleted");
    record.finish()?;
    Ok(())
}

/// Finishes or rolls back every conversion whose command was killed (run
/// by each command before it looks at images or containers). A record
/// whose objects another command holds now is left for a later one.
pub fn finish_interrupted(rt: &Runtime) {
    for orphan in intent::orphans(rt.images.home()) {
        let i = &orphan.intent;
        let (Ok(container), Ok(image), Ok(version)) = (
            Name::parse_as("container name", &i.container),
            Name::parse_as("image name", &i.image),
            i.version.parse::<Version>(),
        ) else {
            crate::logging::warn(&format!("intent record with bad names left alone: {i:?}"));
            continue;
        };
        let home = rt.images.home();
        let (Ok(Some(_c)), Ok(Some(_i))) = (
            home.try_lock(LockKind::Container, &container),
            home.try_lock(LockKind::Image, &image),
        ) else {
            continue;
        };
        if !intent::still_there(&orphan.held) {
            continue;
        }
        let done = match i.op {
            Op::ToImage => recover_to_image(rt, &container, &image, &version),
            Op::ToContainer => recover_to_container(rt, &container, &image, &version),
        };
        match done {
            Ok(what) => {
                crate::logging::warn(&format!(
                    "{:?} {container} / {image}:{version} was interrupted: {what}",
                    i.op
                ));
                let _ = orphan.held.finish();
            }
            Err(e) => crate::logging::warn(&format!(
                "{:?} {container} / {image}:{version} was interrupted and could not be \
                 finished yet: {e}",
                i.op
            )),
        }
    }
}

fn recover_to_image(
    rt: &Runtime,
    container: &Name,
    image: &Name,
    version: &Version,
) -> Result<&'static str> {
    let rwlayer = rt.containers.path(container, RWLAYER);
    let layer = rt.images.layer_dir(image, version);
    if rwlayer.is_dir() {
        // Killed before the move: the image (if it appeared) is empty.
        if rt.images.dir(image, version).is_dir() && (empty_dir(&layer) || !layer.exists()) {
            rt.images.delete(image, version)?;
        }
        return Ok("rolled back, the container is as it was");
    }
    if !layer.is_dir() {
        bail!("neither the container's writable layer nor the image's layer is there");
    }
    let mut meta = rt.images.entry(image, version)?.meta;
    meta.size = tree_size(&layer).unwrap_or(0);
    rt.images.write_meta(image, version, &meta)?;
    if rt.containers.exists(container) {
        rt.containers.destroy(container)?;
    }
    Ok("finished, the image holds the layer")
}

fn recover_to_container(
    rt: &Runtime,
    container: &Name,
    image: &Name,
    version: &Version,
) -> Result<&'static str> {
    let rwlayer = rt.containers.path(container, RWLAYER);
    let layer = rt.images.layer_dir(image, version);
    if layer.is_dir() {
        // Killed before the move: a container made for it is empty.
        if rt.containers.exists(container) && (empty_dir(&rwlayer) || !rwlayer.exists()) {
            rt.containers.destroy(container)?;
        }
        return Ok("rolled back, the image is as it was");
    }
    if !rwlayer.is_dir() {
        bail!("neither the image's layer nor the container's writable layer is there");
    }
    if rt.images.dir(image, version).exists() {
        rt.images.delete(image, version)?;
    }
    Ok("finished, the container holds the layer")
}
