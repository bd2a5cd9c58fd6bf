//! `-a export -m NAME[:V] [--image-file F]`: writes `NAME[:V].xdockerimage`
//! as an unnamed file in the destination directory (O_TMPFILE), linked at
//! its name only when complete: a killed export leaves nothing. Where the
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
    let image = single_image(args, "export")?;
    let _lock = ctx.images.lock(&image.name)?;
    let version = ctx.images.resolve(&image, Pick::Highest)?;
    let entry = ctx.images.entry(&image.name, &version)?;
    let target = args
        .image_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_file_name(image.name.as_str(), &version)));
    if fs::symlink_metadata(&target).is_ok() && !ctx.force {
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
    let mut guard = RemoveOnDrop(named.then(|| tmp.clone()));
    let manifest = ArchiveManifest {
        format: FORMAT,
        name: image.name.to_string(),
        version: version.to_string(),
        created: entry.meta.created.clone(),
        base_layers: entry.meta.base_layers.clone(),
        size: entry.meta.size,
    };
    let bar = Bar::new(&format!("export {}:{version}", image.name), entry.meta.size);
    let summary = archive::export(
        &entry.dir.join(LAYER_DIR),
        &manifest,
        BufWriter::with_capacity(1 << 20, archive::Writeback::new(&file)),
        &bar,
    )
    .with_context(|| format!("export image {}:{version}", image.name))?;
    drop(bar);
    file.sync_all()
        .with_context(|| format!("fsync {}", target.display()))?;
    crate::crashpoint::hit("export.written");
    if !named {
        // Linked at its own name, or (replacing with -f) at the temporary
        // one, then renamed over the old file.
        let proc_fd = format!("/proc/self/fd/{}", file.as_raw_fd());
        let link = |at: &Path| {
            nix::unistd::linkat(
                None,
                Path::new(&proc_fd),
                None,
                at,
                nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
            )
        };
        match link(&target) {
            Ok(()) => {}
            Err(nix::errno::Errno::EEXIST) if ctx.force => {
                link(&tmp).with_context(|| format!("link {}", tmp.display()))?;
                guard.0 = Some(tmp.clone());
            }
            Err(e) => {
                return Err(e).with_context(|| format!("link {}", target.display()));
            }
        }
    }
    if guard.0.is_some() {
        fs::rename(&tmp, &target).with_context(|| format!("rename to {}", target.display()))?;
    }
    guard.0 = None;
    let _ = crate::fsutil::atomic::sync_dir(Path::new(&dir));
    crate::logging::info(&format!(
        "image {}:{version} exported to {} ({} entries, sha256 {})",
        image.name,
        target.display(),
        summary.entries,
        summary.sha256
    ));
    Ok(Output::Ok)
}
