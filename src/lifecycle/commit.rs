//! `commit`: a new image from a container's changes while the container
//! stays (`docker commit`), and the consistent copy of a container's
//! writable layer that it and a running container's export are made of.
//!
//! The copy is [`copy_tree`]'s exact one (owners, modes, xattrs with
//! overlay's opaque markers, whiteouts, hard links, devices, fifos,
//! sockets), sharing data by reflink where the file system has them. It is
//! built in a staging directory of the home and appears as an image with
//! one rename ([`crate::image::ImageStore::commit`]); killed before that,
//! the next command removes the staging directory and no image appears.
//! A running container is paused for the copy (the cgroup freezer, as
//! `-a pause`) and continued after it, so the image is one moment of its
//! file system; a stopped one, or one its user paused, is copied as it is. The container's lock is held throughout: it can neither boot,
//! stop nor change meanwhile.
//!
//! Crash point ([`crate::crashpoint`]): `commit.copied` (the layer copied,
//! the container continued, the image not yet there).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::LifecycleError;
use crate::container::store::RWLAYER;
use crate::container::{ContainerConfig, Status};
use crate::conversion::ConversionError;
use crate::fsutil::copy::{copy_tree, CopyStats};
use crate::fsutil::tree::tree_size;
use crate::home::Staging;
use crate::image::store::{new_meta, LAYER_DIR};
use crate::image::ImageError;
use crate::names::{Name, Version};
use crate::runtime::{Runtime, RuntimeError};

/// `commit`: container `container`'s changes become image `image:version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    pub container: Name,
    pub image: Name,
    pub version: Version,
}

/// What a commit made, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// `web:2.0`.
    pub image: String,
    /// How long the running container was paused for the copy; None for
    /// a stopped one, or one its user had paused (it stays paused).
    pub paused: Option<Duration>,
    pub copy: CopyStats,
    /// xdocker's run-time files left out of the image (paths inside).
    pub left_out: Vec<PathBuf>,
}

/// A copy of a container's writable layer in a staging directory of the
/// home (`LAYER_DIR` below it), removed when dropped.
#[derive(Debug)]
pub(super) struct Snapshot {
    pub staging: Staging,
    pub paused: Option<Duration>,
    pub copy: CopyStats,
}

impl Snapshot {
    /// The copied layer.
    pub fn layer(&self) -> PathBuf {
        self.staging.path().join(LAYER_DIR)
    }
}

/// Copies the writable layer of container `name` (whose lock the caller
/// holds, with `status` read under it) into a new staging directory
/// `purpose.*`; a running container is paused for the copy (one its user
/// paused stays paused).
pub(super) fn snapshot(
    rt: &Runtime,
    name: &Name,
    status: Status,
    purpose: &str,
) -> Result<Snapshot, LifecycleError> {
    let rwlayer = rt.containers.path(name, RWLAYER);
    if !rwlayer.is_dir() {
        return Err(ConversionError::NoRwLayer(name.to_string()).into());
    }
    let staging = rt
        .images
        .home()
        .staging(purpose)
        .map_err(ImageError::from)?;
    let to = staging.path().join(LAYER_DIR);
    let (copied, paused) = match status {
        Status::Running { .. } => {
            let guard = pause_for_copy(rt, name)?;
            let copied = copy_tree(&rwlayer, &to);
            (copied, Some(guard.resume()?))
        }
        // Paused by its user, it stays paused; stopped, it stays stopped.
        Status::Paused { .. } | Status::Stopped => (copy_tree(&rwlayer, &to), None),
    };
    let copy = copied.map_err(|source| LifecycleError::CopyLayer {
        container: name.to_string(),
        source,
    })?;
    Ok(Snapshot {
        staging,
        paused,
        copy,
    })
}

/// The layer directories of the container's images, bottom first; an
/// image that is gone is an error naming it.
pub(super) fn image_layers(
    rt: &Runtime,
    config: &ContainerConfig,
) -> Result<Vec<PathBuf>, LifecycleError> {
    config
        .images
        .iter()
        .map(|r| {
            let layer = rt.images.layer_dir(&r.name, &r.version_or_none());
            match layer.is_dir() {
                true => Ok(layer),
                false => Err(ImageError::NotFound(r.to_string()).into()),
            }
        })
        .collect()
}

/// A new image from the container's changes; the container stays as it
/// is (running, it is paused for the copy only).
pub fn commit(rt: &Runtime, req: &CommitRequest) -> Result<Committed, LifecycleError> {
    let (from, to, version) = (&req.container, &req.image, &req.version);
    let _c = rt.containers.lock(from)?;
    let config = rt.containers.config(from)?;
    let _i = rt.images.lock(to)?;
    let image = format!("{to}:{version}");
    if rt.images.all_versions(to)?.contains(version) {
        return Err(LifecycleError::CommitTargetExists { image });
    }
    let lowers = image_layers(rt, &config)?;
    let status = rt.status(from)?;
    let snap = snapshot(rt, from, status, "commit")?;
    crate::crashpoint::hit("commit.copied");
    let layer = snap.layer();
    // Stripped from the copy, never from the container's own layer.
    let left_out =
        crate::container::runtime_files::strip(&layer, &lowers, &config).map_err(|source| {
            ConversionError::RuntimeFiles {
                container: from.to_string(),
                source,
            }
        })?;
    let mut meta = new_meta(
        tree_size(&layer).map_err(ImageError::from)?,
        &format!("commit from container {from}"),
    );
    meta.base_layers = config.images.iter().map(ToString::to_string).collect();
    meta.config = config.image_config(rt.images.top_config(&config.images));
    rt.images.commit(snap.staging, to, version, meta, false)?;
    crate::logging::info(&format!(
        "container {from} committed to image {image} ({} files, {} bytes, {} reflinked{})",
        snap.copy.files,
        snap.copy.bytes,
        snap.copy.reflinked,
        match snap.paused {
            Some(d) => format!(", paused {} ms", d.as_millis()),
            None => String::new(),
        }
    ));
    Ok(Committed {
        image,
        paused: snap.paused,
        copy: snap.copy,
        left_out,
    })
}

/// A running container held still for a copy of its layer by the cgroup
/// freezer (as `-a pause` holds it); continued by [`Paused::resume`], or
/// when dropped (an error on the way). A commit killed meanwhile leaves
/// it PAUSED, as `-s containers` shows: `-a continue` lets it go on.
#[derive(Debug)]
pub(super) struct Paused<'a> {
    rt: &'a Runtime,
    name: &'a Name,
    since: Instant,
    resumed: bool,
}

impl Paused<'_> {
    /// Continues the container; returns how long it was paused. One that
    /// stopped meanwhile (its init killed) has nothing to continue.
    pub fn resume(mut self) -> Result<Duration, LifecycleError> {
        self.resumed = true;
        match self.rt.thaw(self.name) {
            Ok(_) | Err(RuntimeError::NotRunning(_)) => Ok(self.since.elapsed()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        if !self.resumed {
            let _ = self.rt.thaw(self.name);
        }
    }
}

/// Pauses running container `name` (the caller holds its lock) for a copy
/// of its layer.
fn pause_for_copy<'a>(rt: &'a Runtime, name: &'a Name) -> Result<Paused<'a>, LifecycleError> {
    let since = Instant::now();
    rt.freeze(name)?;
    Ok(Paused {
        rt,
        name,
        since,
        resumed: false,
    })
}
