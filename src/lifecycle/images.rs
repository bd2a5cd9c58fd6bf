//! Images as a whole: copied under another name (`copy_image`, Docker's
//! `tag`), deleted (`del_image`, `rmi`), written to an `.xdockerimage`
//! file (`export`, `save`; a container's whole file system too) and read
//! back (`import`, `load`). Files are written unnamed in their directory
//! (O_TMPFILE) and linked at their name only when complete: a killed
//! export leaves nothing; where the file system has no O_TMPFILE, a
//! temporary name is used and renamed, and temporary files of exports
//! whose process is gone are removed first. Nothing imported becomes
//! visible unless the whole archive checked out. Crash point (see
//! [`crate::crashpoint`]): `export.written`.

use std::fs::{self, OpenOptions};
use std::io::BufWriter;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::export::export_container;
use super::LifecycleError;
use crate::container::Status;
use crate::fsutil::tree::tree_size;
use crate::home::{LockKind, ObjectLock};
use crate::image::archive::{self, ArchiveManifest, ExportSummary, ImportSummary};
use crate::image::store::{new_meta, parse_stored_name, LAYER_DIR};
use crate::image::{ImageError, ImageUser, Pick};
use crate::names::{ImageRef, Name, Version};
use crate::progress::Progress;
use crate::runtime::Runtime;

/// Makes the progress report of a transfer, given what it is and its
/// total bytes (the command layer draws a bar, or not).
pub type ProgressFor<'a> = &'a dyn Fn(&str, u64) -> Box<dyn Progress>;

/// Copies image `from` (its highest version when open) to `to` (version
/// `_` when open); `force` replaces an existing target. Returns both
/// versions.
pub fn copy_image(
    rt: &Runtime,
    from: &ImageRef,
    to: &ImageRef,
    force: bool,
) -> Result<(Version, Version), LifecycleError> {
    let images = &rt.images;
    // Two names are locked in name order, so two crossing copies cannot
    // wait for each other forever.
    let (first, second) = if from.name <= to.name {
        (&from.name, &to.name)
    } else {
        (&to.name, &from.name)
    };
    let _a = images.lock(first)?;
    let _b = if first == second {
        None
    } else {
        Some(images.lock(second)?)
    };
    let from_version = images.resolve(from, Pick::Highest)?;
    let to_version = to.version_or_none();
    if from.name == to.name && from_version == to_version {
        return Err(LifecycleError::CopyOntoItself {
            image: format!("{}:{from_version}", from.name),
        });
    }
    images.copy((&from.name, &from_version), (&to.name, &to_version), force)?;
    crate::logging::info(&format!(
        "image {}:{from_version} copied to {}:{to_version}",
        from.name, to.name
    ));
    Ok((from_version, to_version))
}

/// Deletes image version `image` (its only version when open) when no
/// container uses it; `force`: also a broken one, or one only stopped
/// containers use. An image under a running container is never deleted:
/// its files would vanish beneath the container.
pub fn delete_image(
    rt: &Runtime,
    image: &ImageRef,
    force: bool,
) -> Result<Version, LifecycleError> {
    refuse_build_cache(image)?;
    let images = &rt.images;
    let _lock = images.lock(&image.name)?;
    let version = match images.resolve(image, Pick::Only) {
        Ok(v) => v,
        // A broken version is no candidate of `resolve`: named exactly (or
        // the only directory there), it can still be removed.
        Err(e) => {
            let all = images.all_versions(&image.name)?;
            match (&image.version, all.as_slice()) {
                (Some(v), _) if all.contains(v) => v.clone(),
                (None, [only]) => only.clone(),
                _ => return Err(e.into()),
            }
        }
    };
    if let Some(reason) = images.inspect(&image.name, &version)?.broken {
        if !force {
            return Err(LifecycleError::ImageBroken {
                image: format!("{}:{version}", image.name),
                reason,
            });
        }
        crate::logging::warn(&format!(
            "deleting broken image {}:{version} ({reason}, -f)",
            image.name
        ));
    }
    let users = images.users(&image.name, &version)?;
    // The users' locks are held until the image is gone, so none of them
    // boots on it meanwhile; one that is locked now (booting, stopping)
    // counts as running.
    let (running, _held) = running_users(rt, &users)?;
    if !running.is_empty() {
        return Err(ImageError::InUseRunning {
            image: format!("{}:{version}", image.name),
            containers: running.join(", "),
        }
        .into());
    }
    if !users.is_empty() {
        if !force {
            return Err(ImageError::InUse {
                image: format!("{}:{version}", image.name),
                containers: crate::image::user_list(&users),
            }
            .into());
        }
        crate::logging::warn(&format!(
            "deleting image {}:{version} used by stopped container {} (-f)",
            image.name,
            crate::image::user_list(&users)
        ));
    }
    images.delete(&image.name, &version)?;
    crate::logging::info(&format!("image {}:{version} deleted", image.name));
    Ok(version)
}

/// The users that run now (or are busy: their lock is held by another
/// command), and the locks of the others.
fn running_users(
    rt: &Runtime,
    users: &[ImageUser],
) -> Result<(Vec<String>, Vec<ObjectLock>), LifecycleError> {
    let mut running = Vec::new();
    let mut held = Vec::new();
    for user in users {
        let name = Name::parse_as("container name", &user.name)?;
        match rt
            .containers
            .home()
            .try_lock(LockKind::Container, &name)
            .map_err(crate::container::ContainerError::from)?
        {
            Some(lock) => held.push(lock),
            None => {
                running.push(format!("{user} (busy)"));
                continue;
            }
        }
        // Paused counts: its processes still have the layers open.
        // The runtime's status: the kernel's freezer says paused.
        match rt.status(&name)? {
            Status::Running { .. } => running.push(user.to_string()),
            Status::Paused { .. } => running.push(format!("{user} (paused)")),
            Status::Stopped => {}
        }
    }
    Ok((running, held))
}

/// Renames image version `image` (its only version when open) to `to`;
/// refused for a build-cache layer and while a container's config names
/// the version. Returns the old version.
pub fn rename_version(
    rt: &Runtime,
    image: &ImageRef,
    to: &Version,
) -> Result<Version, LifecycleError> {
    refuse_build_cache(image)?;
    let images = &rt.images;
    let _lock = images.lock(&image.name)?;
    let from = images.resolve(image, Pick::Only)?;
    if &from == to {
        return Err(LifecycleError::SameVersion {
            image: format!("{}:{from}", image.name),
            version: to.to_string(),
        });
    }
    let users = images.users(&image.name, &from)?;
    if !users.is_empty() {
        return Err(ImageError::InUseRename {
            image: format!("{}:{from}", image.name),
            containers: crate::image::user_list(&users),
        }
        .into());
    }
    images.rename_version(&image.name, &from, to)?;
    crate::logging::info(&format!(
        "image {}:{from} renamed to {}:{to}",
        image.name, image.name
    ));
    Ok(from)
}

/// The image `-a install_test` builds.
pub const TEST_IMAGE: &str = "test";

/// Builds image `test:version` with the shipped
/// `scripts/xdocker_install_test.sh` (busybox, or host binaries) in a
/// staging directory; `force` replaces an existing version.
pub fn install_test(rt: &Runtime, version: &Version, force: bool) -> Result<(), LifecycleError> {
    let images = &rt.images;
    let name: Name = TEST_IMAGE.parse()?;
    let script = crate::shipped::find(Path::new("scripts/xdocker_install_test.sh"))?;
    let _lock = images.lock(&name)?;
    if images.versions(&name)?.contains(version) && !force {
        return Err(ImageError::Exists(format!("{name}:{version}")).into());
    }
    let staging = images.stage("install_test")?;
    let layer = staging.path().join(LAYER_DIR);
    // The path goes to the script as one argument, never through a shell.
    let out = std::process::Command::new(&script)
        .arg(&layer)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| LifecycleError::RunScript {
            path: script.clone(),
            source,
        })?;
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        crate::logging::debug(&format!("install_test: {line}"));
    }
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(LifecycleError::ScriptFailed {
            image: format!("{name}:{version}"),
            path: script,
            last: stderr.lines().last().unwrap_or("no message").to_string(),
        });
    }
    let size = tree_size(&layer).map_err(ImageError::from)?;
    images.commit(
        staging,
        &name,
        version,
        new_meta(size, "install_test"),
        force,
    )?;
    crate::logging::info(&format!("image {name}:{version} built by install_test"));
    Ok(())
}

/// The default file name: `NAME:V.xdockerimage`, `NAME.xdockerimage` for `_`.
pub fn default_file_name(name: &str, version: &Version) -> String {
    if version.is_none() {
        format!("{name}.xdockerimage")
    } else {
        format!("{name}:{version}.xdockerimage")
    }
}

/// An image file written.
#[derive(Debug, Clone)]
pub struct Exported {
    /// Its name.
    pub target: PathBuf,
    pub summary: ExportSummary,
    /// A running container's export: how long it was paused for the copy
    /// of its writable layer.
    pub paused: Option<Duration>,
}

/// Writes image `image` (its highest version when open) to `target`
/// (default: [`default_file_name`]); `force` replaces an existing file.
pub fn export_image(
    rt: &Runtime,
    image: &ImageRef,
    target: Option<PathBuf>,
    force: bool,
    progress: ProgressFor<'_>,
) -> Result<Exported, LifecycleError> {
    let images = &rt.images;
    let _lock = images.lock(&image.name)?;
    let version = images.resolve(image, Pick::Highest)?;
    let entry = images.entry(&image.name, &version)?;
    let target =
        target.unwrap_or_else(|| PathBuf::from(default_file_name(image.name.as_str(), &version)));
    let out = ImageFile::create(target, force)?;
    let manifest = ArchiveManifest::of(&entry);
    let label = format!("{}:{version}", image.name);
    let bar = progress(&format!("export {label}"), entry.meta.size);
    let summary = archive::export(
        &entry.dir.join(LAYER_DIR),
        &manifest,
        out.writer(),
        bar.as_ref(),
    )
    .map_err(|source| LifecycleError::ExportImage {
        image: label.clone(),
        source,
    })?;
    drop(bar);
    let target = out.finish(force)?;
    crate::logging::info(&format!(
        "image {label} exported to {} ({} entries, sha256 {})",
        target.display(),
        summary.entries,
        summary.sha256
    ));
    Ok(Exported {
        target,
        summary,
        paused: None,
    })
}

/// Writes container `name`'s whole file system, as one layer, to `target`
/// (default: `C.xdockerimage`); `force` replaces an existing file. A
/// running container is paused for the copy of its writable layer.
pub fn export_container_file(
    rt: &Runtime,
    name: &Name,
    target: Option<PathBuf>,
    force: bool,
    progress: ProgressFor<'_>,
) -> Result<Exported, LifecycleError> {
    let target =
        target.unwrap_or_else(|| PathBuf::from(default_file_name(name.as_str(), &Version::none())));
    let out = ImageFile::create(target, force)?;
    let listed = export_container(rt, name)?;
    let paused = listed.paused;
    let bar = progress(&format!("export container {name}"), listed.manifest().size);
    let summary = listed.write(out.writer(), bar.as_ref())?;
    drop(bar);
    let target = out.finish(force)?;
    crate::logging::info(&format!(
        "container {name} exported to {} ({} entries, sha256 {})",
        target.display(),
        summary.entries,
        summary.sha256
    ));
    Ok(Exported {
        target,
        summary,
        paused,
    })
}

/// An image read from a file.
#[derive(Debug, Clone)]
pub struct Imported {
    pub name: Name,
    pub version: Version,
    pub summary: ImportSummary,
}

/// Imports `.xdockerimage` file `path` (under the name it records, or
/// `given`), or a plain tarball (`docker export`) named with `given`;
/// `force` replaces an existing version.
pub fn import_image(
    rt: &Runtime,
    path: &Path,
    given: Option<&ImageRef>,
    force: bool,
    progress: ProgressFor<'_>,
) -> Result<Imported, LifecycleError> {
    let images = &rt.images;
    let failed = |source| LifecycleError::Import {
        path: path.to_path_buf(),
        source,
    };
    // Refuse an existing target before reading the whole archive: the name
    // is given, or in the manifest at the start of an .xdockerimage.
    let early = match given {
        Some(g) => Some((g.name.to_string(), g.version_or_none().to_string())),
        None => archive::open_archive(path)
            .ok()
            .and_then(|(f, _)| archive::read_manifest(f).ok())
            .map(|m| (m.name, m.version)),
    };
    if let Some((name, version)) = early {
        let exists = match (name.parse(), version.parse::<Version>()) {
            (Ok(n), Ok(v)) => images.versions(&n)?.contains(&v),
            _ => false,
        };
        if exists && !force {
            return Err(ImageError::Exists(format!("{name}:{version}")).into());
        }
    }
    let (file, len) = archive::open_archive(path).map_err(failed)?;
    let staging = images.stage("import")?;
    let bar = progress(&format!("import {}", path.display()), len);
    let summary = archive::import(
        std::io::BufReader::with_capacity(1 << 20, file),
        &staging.path().join(LAYER_DIR),
        given.is_some(),
        bar.as_ref(),
    )
    .map_err(failed)?;
    drop(bar);
    let (name, version, mut meta) = match (given, &summary.manifest) {
        (Some(g), m) => {
            let mut meta = new_meta(0, "import");
            if let Some(m) = m {
                meta.base_layers = m.base_layers.clone();
                meta.config = m.config.clone();
            }
            (g.name.clone(), g.version_or_none(), meta)
        }
        (None, Some(m)) => {
            let name = parse_stored_name(&path.display().to_string(), &m.name)?;
            let version: Version =
                m.version
                    .parse()
                    .map_err(|_| LifecycleError::ImportManifest {
                        path: path.to_path_buf(),
                        reason: format!("manifest version '{}' is not a version", m.version),
                    })?;
            let mut meta = new_meta(0, "import");
            meta.created = m.created.clone();
            meta.base_layers = m.base_layers.clone();
            meta.config = m.config.clone();
            (name, version, meta)
        }
        (None, None) => {
            return Err(LifecycleError::ImportManifest {
                path: path.to_path_buf(),
                reason: "no manifest and no name given".to_string(),
            })
        }
    };
    meta.size = tree_size(&staging.path().join(LAYER_DIR)).map_err(ImageError::from)?;
    let _lock = images.lock(&name)?;
    images.commit(staging, &name, &version, meta, force)?;
    crate::logging::info(&format!(
        "image {name}:{version} imported from {} ({} entries, {} bytes)",
        path.display(),
        summary.entries,
        summary.bytes
    ));
    Ok(Imported {
        name,
        version,
        summary,
    })
}

/// Removes a half-written file unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// An unnamed file in `dir` (O_TMPFILE), mode 0644.
fn open_unnamed(dir: &Path) -> std::io::Result<fs::File> {
    OpenOptions::new()
        .write(true)
        .mode(0o644)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(dir)
}

/// Removes `.NAME.tmp.PID` files in `dir` whose PID runs no more (left by
/// an export that was killed, where O_TMPFILE is not there).
fn remove_stale_temps(dir: &Path, file_name: &str) {
    let prefix = format!(".{file_name}.tmp.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            crate::logging::warn(&format!(
                "removing {} left by an interrupted export",
                e.path().display()
            ));
            let _ = fs::remove_file(e.path());
        }
    }
}

fn file_error(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LifecycleError {
    let path = path.to_path_buf();
    move |source| LifecycleError::ImageFileIo { op, path, source }
}

/// A new image file: written unnamed (or under a temporary name), and
/// linked at its name by [`ImageFile::finish`] only when complete.
struct ImageFile {
    file: fs::File,
    target: PathBuf,
    dir: PathBuf,
    tmp: PathBuf,
    /// Made under the temporary name (no O_TMPFILE here).
    named: bool,
    guard: RemoveOnDrop,
}

impl ImageFile {
    /// Refuses an existing `target` unless `force`, then opens the file.
    fn create(target: PathBuf, force: bool) -> Result<Self, LifecycleError> {
        if fs::symlink_metadata(&target).is_ok() && !force {
            return Err(LifecycleError::ImageFileExists { path: target });
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(file_name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return Err(LifecycleError::ImageFileName { path: target });
        };
        let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
        let (file, named) = match open_unnamed(&dir) {
            Ok(f) => (f, false),
            Err(_) => {
                remove_stale_temps(&dir, &file_name);
                let f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&tmp)
                    .map_err(file_error("create", &tmp))?;
                (f, true)
            }
        };
        let guard = RemoveOnDrop(named.then(|| tmp.clone()));
        Ok(Self {
            file,
            target,
            dir,
            tmp,
            named,
            guard,
        })
    }

    /// Where the archive is written.
    fn writer(&self) -> impl std::io::Write + '_ {
        BufWriter::with_capacity(1 << 20, archive::Writeback::new(&self.file))
    }

    /// Makes the written file durable and links it at its name (with
    /// `force`, over an old one); returns the name.
    fn finish(mut self, force: bool) -> Result<PathBuf, LifecycleError> {
        let (target, tmp) = (&self.target, &self.tmp);
        self.file.sync_all().map_err(file_error("fsync", target))?;
        crate::crashpoint::hit("export.written");
        if !self.named {
            // Linked at its own name, or (replacing with -f) at the temporary
            // one, then renamed over the old file.
            let proc_fd = format!("/proc/self/fd/{}", self.file.as_raw_fd());
            let link = |at: &Path| {
                nix::unistd::linkat(
                    None,
                    Path::new(&proc_fd),
                    None,
                    at,
                    nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
                )
                .map_err(std::io::Error::from)
            };
            match link(target) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && force => {
                    link(tmp).map_err(file_error("link", tmp))?;
                    self.guard.0 = Some(tmp.clone());
                }
                Err(e) => return Err(file_error("link", target)(e)),
            }
        }
        if self.guard.0.is_some() {
            fs::rename(tmp, target).map_err(file_error("rename to", target))?;
        }
        self.guard.0 = None;
        let _ = crate::fsutil::atomic::sync_dir(&self.dir);
        Ok(self.target.clone())
    }
}

/// The build cache's layers are not images to rename or delete one by
/// one (`-a prune_build_cache` removes them).
fn refuse_build_cache(image: &ImageRef) -> Result<(), LifecycleError> {
    if image.name.as_str() == crate::image::store::BUILD_CACHE_IMAGE {
        return Err(LifecycleError::BuildCacheLayer {
            image: image.to_string(),
        });
    }
    Ok(())
}
