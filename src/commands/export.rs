//! `-a export -m NAME[:V] [--image-file F]`: writes `NAME[:V].xdockerimage`
//! (`-c C`: the container's whole file system as `C.xdockerimage`, see
//! [`crate::lifecycle::export_container`]) as an unnamed file in the
//! destination directory (O_TMPFILE), linked at its name only when
//! complete: a killed export leaves nothing. Where the
//! file system has no O_TMPFILE, a temporary name is used and renamed, and
//! temporary files of exports whose process is gone are removed first.
//! Crash point (see [`crate::crashpoint`]): `export.written`.

use std::fs::{self, OpenOptions};
use std::io::BufWriter;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::progress_bar::Bar;
use super::{single_image, Ctx, Output};
use crate::cli::Args;
use crate::image::archive::{self, ArchiveManifest, FORMAT};
use crate::image::store::LAYER_DIR;
use crate::image::Pick;
use crate::lifecycle;
use crate::names::{Name, Version};

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

/// The default file name: `NAME:V.xdockerimage`, `NAME.xdockerimage` for `_`.
pub fn default_file_name(name: &str, version: &crate::names::Version) -> String {
    if version.is_none() {
        format!("{name}.xdockerimage")
    } else {
        format!("{name}:{version}.xdockerimage")
    }
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    match &args.container {
        Some(name) => container(ctx, args, name),
        None => image(ctx, args),
    }
}

/// `-m NAME[:V]`: the image's layer.
fn image(ctx: &Ctx, args: &Args) -> Result<Output> {
    let image = single_image(args, "export")?;
    let _lock = ctx.images.lock(&image.name)?;
    let version = ctx.images.resolve(&image, Pick::Highest)?;
    let entry = ctx.images.entry(&image.name, &version)?;
    let target = args
        .image_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_file_name(image.name.as_str(), &version)));
    let out = ArchiveFile::create(target, ctx.force)?;
    let manifest = ArchiveManifest {
        format: FORMAT,
        name: image.name.to_string(),
        version: version.to_string(),
        created: entry.meta.created.clone(),
        base_layers: entry.meta.base_layers.clone(),
        size: entry.meta.size,
        config: entry.meta.config.clone(),
    };
    let bar = Bar::new(&format!("export {}:{version}", image.name), entry.meta.size);
    let summary = archive::export(&entry.dir.join(LAYER_DIR), &manifest, out.writer(), &bar)
        .with_context(|| format!("export image {}:{version}", image.name))?;
    drop(bar);
    let target = out.finish(ctx.force)?;
    crate::logging::info(&format!(
        "image {}:{version} exported to {} ({} entries, sha256 {})",
        image.name,
        target.display(),
        summary.entries,
        summary.sha256
    ));
    Ok(Output::Ok)
}

/// `-c C`: the container's whole file system as one layer.
fn container(ctx: &Ctx, args: &Args, name: &Name) -> Result<Output> {
    let target = args
        .image_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_file_name(name.as_str(), &Version::none())));
    let out = ArchiveFile::create(target, ctx.force)?;
    let listed = lifecycle::export_container(&ctx.runtime, name)?;
    let paused = listed.paused;
    let bar = Bar::new(&format!("export container {name}"), listed.manifest().size);
    let summary = listed.write(out.writer(), &bar)?;
    drop(bar);
    let target = out.finish(ctx.force)?;
    crate::logging::info(&format!(
        "container {name} exported to {} ({} entries, sha256 {})",
        target.display(),
        summary.entries,
        summary.sha256
    ));
    Ok(Output::Done(match paused {
        Some(d) => format!(
            "container {name} exported to {} (paused {} ms for a copy of its layer)",
            target.display(),
            d.as_millis()
        ),
        None => format!("container {name} exported to {}", target.display()),
    }))
}

/// A new archive file: written unnamed (or under a temporary name), and
/// linked at its name by [`ArchiveFile::finish`] only when complete.
struct ArchiveFile {
    file: fs::File,
    target: PathBuf,
    dir: PathBuf,
    tmp: PathBuf,
    /// Made under the temporary name (no O_TMPFILE here).
    named: bool,
    guard: RemoveOnDrop,
}

impl ArchiveFile {
    /// Refuses an existing `target` unless `force`, then opens the file.
    fn create(target: PathBuf, force: bool) -> Result<Self> {
        if fs::symlink_metadata(&target).is_ok() && !force {
            bail!(
                "image file {} already exists (use -f to replace it)",
                target.display()
            );
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = target
            .file_name()
            .with_context(|| format!("image file {} has no file name", target.display()))?;
        let tmp = dir.join(format!(
            ".{}.tmp.{}",
            file_name.to_string_lossy(),
            std::process::id()
        ));
        let (file, named) = match open_unnamed(&dir) {
            Ok(f) => (f, false),
            Err(_) => {
                remove_stale_temps(&dir, &file_name.to_string_lossy());
                let f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&tmp)
                    .with_context(|| format!("create {}", tmp.display()))?;
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
    fn finish(mut self, force: bool) -> Result<PathBuf> {
        let (target, tmp) = (&self.target, &self.tmp);
        self.file
            .sync_all()
            .with_context(|| format!("fsync {}", target.display()))?;
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
            };
            match link(target) {
                Ok(()) => {}
                Err(nix::errno::Errno::EEXIST) if force => {
                    link(tmp).with_context(|| format!("link {}", tmp.display()))?;
                    self.guard.0 = Some(tmp.clone());
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("link {}", target.display()));
                }
            }
        }
        if self.guard.0.is_some() {
            fs::rename(tmp, target).with_context(|| format!("rename to {}", target.display()))?;
        }
        self.guard.0 = None;
        let _ = crate::fsutil::atomic::sync_dir(&self.dir);
        Ok(self.target.clone())
    }
}
