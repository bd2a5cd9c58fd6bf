//! Images to and from an ssh repository (`-a spush`, `-a spull`): the
//! local side of [`crate::image::repo`], with the image's lock and a
//! staging directory, so that a pull appears with one rename or not at all.

use super::{LifecycleError, ProgressFor};
use crate::fsutil::tree::tree_size;
use crate::image::archive::ArchiveManifest;
use crate::image::repo::{PushOutcome, Repo, RepoSpec, SshOptions};
use crate::image::store::{new_meta, LAYER_DIR};
use crate::image::{ImageError, Pick};
use crate::names::ImageRef;
use crate::runtime::Runtime;

/// Uploads image `image` (its highest version when open) to the repository
/// `spec`; `force` replaces a different file of the same version there.
/// The image's lock is held for the whole upload: the layer must not change.
pub fn push_image(
    rt: &Runtime,
    image: &ImageRef,
    spec: &RepoSpec,
    force: bool,
    progress: ProgressFor<'_>,
) -> Result<PushOutcome, LifecycleError> {
    let images = &rt.images;
    let _lock = images.lock(&image.name)?;
    let version = images.resolve(image, Pick::Highest)?;
    let entry = images.entry(&image.name, &version)?;
    let repo = Repo::connect(spec, &SshOptions::from_env())?;
    let manifest = ArchiveManifest::of(&entry);
    let bar = progress(&format!("spush {}:{version}", image.name), entry.meta.size);
    let outcome = repo.push(&entry.dir.join(LAYER_DIR), &manifest, force, bar.as_ref())?;
    drop(bar);
    match &outcome {
        PushOutcome::Unchanged { file, content } => crate::logging::info(&format!(
            "image {}:{version}: ssh repository {} already has {file} with the same content (digest {content}): nothing pushed",
            image.name,
            repo.label()
        )),
        PushOutcome::Pushed {
            file,
            bytes,
            sha256,
            replaced,
            ..
        } => crate::logging::info(&format!(
            "image {}:{version} pushed to ssh repository {} as {file} ({bytes} bytes, sha256 {sha256}{})",
            image.name,
            repo.label(),
            if *replaced { ", replacing the old one" } else { "" }
        )),
    }
    Ok(outcome)
}

/// Downloads image `image` (the repository's highest version when open)
/// from the repository `spec`; `force` replaces the local version.
pub fn pull_image(
    rt: &Runtime,
    image: &ImageRef,
    spec: &RepoSpec,
    force: bool,
    progress: ProgressFor<'_>,
) -> Result<(), LifecycleError> {
    let images = &rt.images;
    let repo = Repo::connect(spec, &SshOptions::from_env())?;
    let found = repo.resolve(image)?;
    let label = found.label();
    // Refuse before transferring; the commit checks again under the lock.
    if !force && images.versions(&found.name)?.contains(&found.version) {
        return Err(ImageError::Exists(label).into());
    }
    let staging = images.stage("spull")?;
    let layer = staging.path().join(LAYER_DIR);
    let bar = progress(&format!("spull {label}"), found.size);
    let summary = repo.pull(&found, &layer, bar.as_ref())?;
    drop(bar);
    let size = tree_size(&layer).map_err(ImageError::from)?;
    let mut meta = new_meta(size, &format!("spull from {}", repo.label()));
    meta.created = summary.manifest.created.clone();
    meta.base_layers = summary.manifest.base_layers.clone();
    meta.config = summary.manifest.config.clone();
    let _lock = images.lock(&found.name)?;
    images.commit(staging, &found.name, &found.version, meta, force)?;
    crate::logging::info(&format!(
        "image {label} pulled from ssh repository {} ({} bytes, sha256 {}{}, {} entries)",
        repo.label(),
        summary.bytes,
        summary.sha256,
        if summary.sidecar_checked {
            ""
        } else {
            ", no sidecar: archive checksum only"
        },
        summary.entries
    ));
    Ok(())
}
