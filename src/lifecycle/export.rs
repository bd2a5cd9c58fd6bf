//! A container's export (`-a export -c C`, like `docker export`): its
//! whole file system — the image layers and its writable layer merged,
//! whiteouts and opaque directories applied ([`flatten`]) — as a
//! single-layer `.xdockerimage` that `import` takes: named after the
//! container, version `_`, no base layers.
//!
//! A running container is exported from a copy of its writable layer made
//! while it was paused ([`super::commit`]'s): the archive is one moment of
//! its file system, and the container is paused only for the copy, not for
//! the compression (`docker export` reads a running container live, files
//! changing under it). A stopped one is read in place, its lock held until
//! the archive is written. xdocker's run-time files (/etc/hostname,
//! /etc/hosts, /etc/resolv.conf, empty volume mount points) are left out
//! as `commit` and `to_image` leave them out: the image's own show.
//! Volumes are not part of the container's file system and are not
//! exported.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::commit::{image_layers, snapshot, Snapshot};
use super::LifecycleError;
use crate::container::store::RWLAYER;
use crate::container::Status;
use crate::conversion::ConversionError;
use crate::home::ObjectLock;
use crate::image::archive::flatten::{flatten, merged_size, MergedEntry};
use crate::image::archive::{self, ArchiveError, ArchiveManifest, ExportSummary, FORMAT};
use crate::names::{Name, Version};
use crate::progress::Progress;
use crate::runtime::Runtime;

/// A container's file system, listed and ready to be written
/// ([`ContainerExport::write`]).
#[derive(Debug)]
pub struct ContainerExport {
    container: Name,
    manifest: ArchiveManifest,
    /// The image layers, then the writable layer or its copy.
    layers: Vec<PathBuf>,
    entries: Vec<MergedEntry>,
    /// How long the running container was paused for the copy of its
    /// layer; None for a stopped one.
    pub paused: Option<Duration>,
    /// The copy of a running container's layer.
    _snapshot: Option<Snapshot>,
    /// A stopped container's lock.
    _lock: Option<ObjectLock>,
}

impl ContainerExport {
    /// The manifest the archive starts with: the container's name, version
    /// `_`, no base layers, the merged size.
    pub fn manifest(&self) -> &ArchiveManifest {
        &self.manifest
    }

    /// Writes the `.xdockerimage` stream to `out`.
    pub fn write<W: Write>(
        self,
        out: W,
        progress: &dyn Progress,
    ) -> Result<ExportSummary, LifecycleError> {
        let container = self.container.to_string();
        archive::export_merged(&self.layers, self.entries, &self.manifest, out, progress)
            .map_err(|source| LifecycleError::Export { container, source })
    }
}

/// Lists container `name`'s file system for an export; a running
/// container is paused for the copy of its writable layer.
pub fn export_container(rt: &Runtime, name: &Name) -> Result<ContainerExport, LifecycleError> {
    let lock = rt.containers.lock(name)?;
    let config = rt.containers.config(name)?;
    let mut layers = image_layers(rt, &config)?;
    let lowers = layers.clone();
    let (upper, snap, lock) = match rt.status(name)? {
        status @ (Status::Running { .. } | Status::Paused { .. }) => {
            let snap = snapshot(rt, name, status, "export")?;
            // The copy is ours: the container may stop or change now.
            drop(lock);
            (snap.layer(), Some(snap), None)
        }
        Status::Stopped => {
            let rwlayer = rt.containers.path(name, RWLAYER);
            if !rwlayer.is_dir() {
                return Err(ConversionError::NoRwLayer(name.to_string()).into());
            }
            (rwlayer, None, Some(lock))
        }
    };
    let runtime_files = |source| -> LifecycleError {
        ConversionError::RuntimeFiles {
            container: name.to_string(),
            source,
        }
        .into()
    };
    let hidden: HashSet<PathBuf> =
        crate::container::runtime_files::planned(&upper, &lowers, &config)
            .map_err(runtime_files)?
            .into_iter()
            .map(|p| p.strip_prefix("/").map(Path::to_path_buf).unwrap_or(p))
            .collect();
    layers.push(upper);
    let entries = flatten(&layers, &hidden).map_err(|e| LifecycleError::Export {
        container: name.to_string(),
        source: ArchiveError::from(e),
    })?;
    let manifest = ArchiveManifest {
        format: FORMAT,
        name: name.to_string(),
        version: Version::none().to_string(),
        created: chrono::Local::now().to_rfc3339(),
        base_layers: Vec::new(),
        size: merged_size(&entries),
        config: Default::default(),
    };
    Ok(ContainerExport {
        container: name.clone(),
        manifest,
        layers,
        entries,
        paused: snap.as_ref().and_then(|s| s.paused),
        _snapshot: snap,
        _lock: lock,
    })
}
