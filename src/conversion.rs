//! Turning a stopped container into an image and an image into a container
//! (SPEC §5): the layer is moved, never copied, with one rename into a
//! place that already exists, so it is always exactly one of the two
//! objects' layer and never in a staging directory. An intent record
//! ([`crate::intent`]) says what is under way; after a kill at any point,
//! [`finish_interrupted`] (run by the next command) rolls back what had
//! not moved yet and finishes what had: every file of the layer is in the
//! container or in the image, never lost.
//!
//! On an error the layer is never deleted either: a rename that reports a
//! failure is not trusted (the layer is looked for, and moved back when it
//! did move), what was made for the move is removed only when its layer
//! directory is empty, and the error says where the layer is.
//!
//! Crash points (for the fault-injection tests, [`crate::crashpoint`]):
//! `to_image.recorded`, `to_image.published`, `to_image.moved`,
//! `to_image.measured`, `to_image.destroyed`, `to_container.recorded`,
//! `to_container.created`, `to_container.moved`, `to_container.deleted`.
//! Failure points ([`crate::crashpoint::fail`]): `to_image.move` and
//! `to_container.move` (the rename reports a failure after it moved the
//! layer), `to_image.move_back` and `to_container.move_back` (moving it
//! back fails), `to_image.undo` and `to_container.undo` (removing the
//! empty image or container made for the move fails).

use std::io;
use std::path::{Path, PathBuf};

use crate::container::store::RWLAYER;
use crate::container::{ContainerConfig, ContainerError};
use crate::crashpoint::{fail, hit};
use crate::fsutil::tree::tree_size;
use crate::home::LockKind;
use crate::image::store::new_meta;
use crate::image::ImageError;
use crate::intent::{self, Held, Intent, Op};
use crate::names::{Name, NameError, Version};
use crate::runtime::Runtime;
use xdockerinit::sys::io_text;

/// Errors of a conversion.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    #[error("container {0} has no writable layer")]
    NoRwLayer(String),
    #[error("image {0} has no layer")]
    NoLayer(String),
    /// The move of the layer failed; `outcome` says where the layer is.
    #[error("{object}: move {}: {source}: {outcome}", .path.display())]
    Move {
        object: String,
        path: PathBuf,
        #[source]
        source: io::Error,
        outcome: String,
    },
    /// A step after the move failed: the layer is in its new place.
    #[error(
        "{source}: the layer is in {holder}, and the next xdocker command finishes the conversion"
    )]
    Unfinished {
        holder: String,
        #[source]
        source: Box<ConversionError>,
    },
    #[error("container {container}: remove run-time files: {source}")]
    RuntimeFiles {
        container: String,
        #[source]
        source: io::Error,
    },
    #[error("neither the {0} nor the {1} is there")]
    LayerGone(&'static str, &'static str),
    #[error(transparent)]
    Intent(io::Error),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Name(#[from] NameError),
}

/// True for an empty directory (a layer nothing was moved into).
fn empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

/// True where no layer is: an empty directory, or nothing.
fn no_layer_at(path: &Path) -> bool {
    empty_dir(path) || !path.exists()
}

/// Where the layer is after a move that reported a failure.
#[derive(Debug)]
enum Left {
    /// Where it was: nothing moved, or it was moved back.
    Source { moved_back: bool },
    /// Where it was to go: it moved although the rename reported a
    /// failure, and moving it back failed (this error).
    Target(io::Error),
    /// In neither place: nothing is removed.
    Neither,
}

/// A move that reported a failure, and where the layer is now.
#[derive(Debug)]
struct MoveFailed {
    error: io::Error,
    left: Left,
}

/// Moves directory `from` onto `to` (an empty directory) with one rename.
/// A rename that reports a failure may still have moved it (a retransmitted
/// rename over NFS answers ENOENT), so the layer is looked for, and moved
/// back when it is at `to`. `fail` injects failures: `OP.move` after the
/// rename, `OP.move_back` before the rename back.
fn move_layer(
    from: &Path,
    to: &Path,
    op: &str,
    fail: &dyn Fn(&str) -> io::Result<()>,
) -> Result<(), MoveFailed> {
    let moved = std::fs::rename(from, to).and_then(|()| fail(&format!("{op}.move")));
    let Err(error) = moved else {
        return Ok(());
    };
    let left = if from.is_dir() {
        Left::Source { moved_back: false }
    } else if to.is_dir() {
        match fail(&format!("{op}.move_back")).and_then(|()| std::fs::rename(to, from)) {
            Ok(()) => Left::Source { moved_back: true },
            Err(back) => Left::Target(back),
        }
    } else {
        Left::Neither
    };
    Err(MoveFailed { error, left })
}

/// The two places of a move, as the error names them.
struct Places<'a> {
    /// `container web`, `image web:1.0`.
    source: &'a str,
    target: &'a str,
    /// `empty image web:1.0`: what was made for the move.
    made: &'a str,
    to: &'a Path,
}

/// After a failed move: what was made for it goes when the layer is back
/// (only when its layer directory is empty), the intent record goes when
/// nothing is left to do, and the outcome says where the layer is.
fn after_failed_move(
    record: Held,
    left: &Left,
    places: &Places<'_>,
    undo_point: &str,
    undo: impl FnOnce() -> Result<(), ConversionError>,
) -> String {
    let Places {
        source,
        target,
        made,
        to,
    } = places;
    let back = match left {
        Left::Source { moved_back: false } => format!("the layer stays in {source}"),
        Left::Source { moved_back: true } => format!("the layer was moved back to {source}"),
        Left::Target(e) => {
            drop(record); // for the next command, which finishes the move
            return format!(
                "moving it back failed too ({}); the layer is kept in {target} at {}, and the \
                 next xdocker command finishes the conversion",
                io_text(e),
                to.display()
            );
        }
        Left::Neither => {
            drop(record);
            return format!(
                "the layer is in neither {source} nor {target} now: nothing was removed"
            );
        }
    };
    let undone = if no_layer_at(to) {
        fail(undo_point)
            .map_err(|e| io_text(&e))
            .and_then(|()| undo().map_err(|e| e.to_string()))
    } else {
        Err(format!("{} is not empty", to.display()))
    };
    match undone {
        Ok(()) => {
            close(record);
            back
        }
        // The record stays: the next command removes it.
        Err(e) => {
            format!("{back}; the {made} is left for the next xdocker command to remove ({e})")
        }
    }
}

/// Removes the intent record of an operation that is complete or undone;
/// where that fails, the next command finds nothing to do and removes it.
fn close(record: Held) {
    if let Err(e) = record.finish() {
        crate::logging::warn(&e.to_string());
    }
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
) -> Result<(), ConversionError> {
    let images = &rt.images;
    let image = format!("{to}:{version}");
    if images.all_versions(to)?.contains(version) {
        return Err(ImageError::Exists(image).into());
    }
    let rwlayer = rt.containers.path(from, RWLAYER);
    if !rwlayer.is_dir() {
        return Err(ConversionError::NoRwLayer(from.to_string()));
    }
    // xdocker's own run-time files are the container's, not the image's.
    let lowers: Vec<_> = config
        .images
        .iter()
        .map(|r| images.layer_dir(&r.name, &r.version_or_none()))
        .collect();
    crate::container::runtime_files::strip(&rwlayer, &lowers, config).map_err(|source| {
        ConversionError::RuntimeFiles {
            container: from.to_string(),
            source,
        }
    })?;
    let record = intent::begin(
        images.home(),
        &Intent {
            op: Op::ToImage,
            container: from.to_string(),
            image: to.to_string(),
            version: version.to_string(),
        },
    )
    .map_err(ConversionError::Intent)?;
    hit("to_image.recorded");
    // The image appears first, with an empty layer that the container's
    // then replaces in one rename.
    let mut meta = new_meta(0, &format!("to_image from container {from}"));
    meta.base_layers = config.images.iter().map(ToString::to_string).collect();
    meta.config = config.image_config(images.top_config(&config.images));
    let staging = images.stage("to_image")?;
    if let Err(e) = images.commit(staging, to, version, meta.clone(), false) {
        close(record);
        return Err(e.into());
    }
    hit("to_image.published");
    let layer = images.layer_dir(to, version);
    if let Err(failed) = move_layer(&rwlayer, &layer, "to_image", &fail) {
        let places = Places {
            source: &format!("container {from}"),
            target: &format!("image {image}"),
            made: &format!("empty image {image}"),
            to: &layer,
        };
        let outcome = after_failed_move(record, &failed.left, &places, "to_image.undo", || {
            Ok(images.delete(to, version)?)
        });
        return Err(ConversionError::Move {
            object: format!("container {from}"),
            path: rwlayer,
            source: failed.error,
            outcome,
        });
    }
    hit("to_image.moved");
    // From here on the image holds the data: an error leaves the record
    // for the next command, which finishes the job.
    let unfinished = |e: ConversionError| ConversionError::Unfinished {
        holder: format!("image {image}"),
        source: Box::new(e),
    };
    meta.size = tree_size(&layer).unwrap_or(0);
    images
        .write_meta(to, version, &meta)
        .map_err(|e| unfinished(e.into()))?;
    hit("to_image.measured");
    // The container's own files went into the image; what is left (config,
    // empty overlay dirs) goes.
    rt.containers
        .destroy(from)
        .map_err(|e| unfinished(e.into()))?;
    hit("to_image.destroyed");
    close(record);
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
) -> Result<(), ConversionError> {
    let name = Name::parse_as("container name", &config.name)?;
    let image = format!("{from}:{version}");
    let layer = rt.images.layer_dir(from, version);
    if !layer.is_dir() {
        return Err(ConversionError::NoLayer(image));
    }
    let record = intent::begin(
        rt.images.home(),
        &Intent {
            op: Op::ToContainer,
            container: name.to_string(),
            image: from.to_string(),
            version: version.to_string(),
        },
    )
    .map_err(ConversionError::Intent)?;
    hit("to_container.recorded");
    if let Err(e) = rt.containers.create(config, None).and_then(|c| c.sync()) {
        close(record);
        return Err(e.into());
    }
    hit("to_container.created");
    let rwlayer = rt.containers.path(&name, RWLAYER);
    if let Err(failed) = move_layer(&layer, &rwlayer, "to_container", &fail) {
        let places = Places {
            source: &format!("image {image}"),
            target: &format!("container {name}"),
            made: &format!("empty container {name}"),
            to: &rwlayer,
        };
        let outcome = after_failed_move(record, &failed.left, &places, "to_container.undo", || {
            Ok(rt.containers.destroy(&name)?)
        });
        return Err(ConversionError::Move {
            object: format!("image {image}"),
            path: layer,
            source: failed.error,
            outcome,
        });
    }
    hit("to_container.moved");
    rt.images
        .delete(from, version)
        .map_err(|e| ConversionError::Unfinished {
            holder: format!("container {name}"),
            source: Box::new(e.into()),
        })?;
    hit("to_container.deleted");
    close(record);
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
) -> Result<&'static str, ConversionError> {
    let rwlayer = rt.containers.path(container, RWLAYER);
    let layer = rt.images.layer_dir(image, version);
    if rwlayer.is_dir() {
        // Killed before the move: the image (if it appeared) is empty.
        if rt.images.dir(image, version).is_dir() && no_layer_at(&layer) {
            rt.images.delete(image, version)?;
        }
        return Ok("rolled back, the container is as it was");
    }
    if !layer.is_dir() {
        return Err(ConversionError::LayerGone(
            "container's writable layer",
            "image's layer",
        ));
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
) -> Result<&'static str, ConversionError> {
    let rwlayer = rt.containers.path(container, RWLAYER);
    let layer = rt.images.layer_dir(image, version);
    if layer.is_dir() {
        // Killed before the move: a container made for it is empty.
        if rt.containers.exists(container) && no_layer_at(&rwlayer) {
            rt.containers.destroy(container)?;
        }
        return Ok("rolled back, the image is as it was");
    }
    if !rwlayer.is_dir() {
        return Err(ConversionError::LayerGone(
            "image's layer",
            "container's writable layer",
        ));
    }
    if rt.images.dir(image, version).exists() {
        rt.images.delete(image, version)?;
    }
    Ok("finished, the container holds the layer")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer with a file, and an empty directory to move it onto.
    fn layer_and_place() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().expect("tempdir");
        let (from, to) = (t.path().join("rwlayer"), t.path().join("rlayer"));
        std::fs::create_dir(&from).expect("mkdir");
        std::fs::write(from.join("marker"), "precious").expect("write");
        std::fs::create_dir(&to).expect("mkdir");
        (t, from, to)
    }

    /// Fails the points listed.
    fn failing(points: &'static [&'static str]) -> impl Fn(&str) -> io::Result<()> {
        move |p| match points.contains(&p) {
            true => Err(io::Error::other(format!("injected failure at {p}"))),
            false => Ok(()),
        }
    }

    #[test]
    fn a_move_puts_the_layer_in_place() {
        let (_t, from, to) = layer_and_place();
        move_layer(&from, &to, "op", &failing(&[])).expect("move");
        assert!(!from.exists());
        assert!(to.join("marker").is_file());
    }

    #[test]
    fn a_rename_that_fails_leaves_the_layer_where_it_was() {
        let (_t, from, to) = layer_and_place();
        std::fs::write(to.join("other"), "x").expect("write"); // ENOTEMPTY
        let failed = move_layer(&from, &to, "op", &failing(&[])).expect_err("fails");
        assert!(matches!(failed.left, Left::Source { moved_back: false }));
        assert!(from.join("marker").is_file());
    }

    #[test]
    fn a_layer_moved_despite_the_error_is_moved_back() {
        let (_t, from, to) = layer_and_place();
        let failed = move_layer(&from, &to, "op", &failing(&["op.move"])).expect_err("fails");
        assert_eq!(failed.error.to_string(), "injected failure at op.move");
        assert!(matches!(failed.left, Left::Source { moved_back: true }));
        assert!(from.join("marker").is_file());
        assert!(no_layer_at(&to), "nothing left at the target");
    }

    #[test]
    fn when_moving_back_fails_too_the_layer_stays_at_the_target() {
        let (_t, from, to) = layer_and_place();
        let failed = move_layer(&from, &to, "op", &failing(&["op.move", "op.move_back"]))
            .expect_err("fails");
        let Left::Target(back) = &failed.left else {
            panic!("{failed:?}");
        };
        assert_eq!(back.to_string(), "injected failure at op.move_back");
        assert!(to.join("marker").is_file(), "kept, not removed");
        assert!(
            !no_layer_at(&to),
            "what was made for the move is not undone"
        );
    }
}
