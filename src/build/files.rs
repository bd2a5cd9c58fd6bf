//! COPY and ADD: which files a step takes (from the build context, without
//! what the ignore file leaves out, or from an earlier stage's or an
//! image's layers), and writing them into the step's new layer: owners
//! 0:0 or `--chown`'s, modes kept or `--chmod`'s, times kept, symlinks as
//! symlinks, destinations resolved inside the image (symlinks of the image
//! followed inside its root, never out of it; nothing is ever written
//! through a symlink on the host). ADD unpacks local tar archives
//! (plain, gzip, zstd, xz, bzip2) with the hardened reader of `import`.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::ignore::{is_glob, match_parts, Ignore};
use super::layers::{self, LayersError};
use crate::fsutil::tree::{walk, TreeEntry, WalkError};
use crate::image::archive::flatten::{flatten, is_whiteout};

/// Why a COPY or ADD failed.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error(
        "{0}: no such file or directory in the build context (or left out by the ignore file)"
    )]
    NotInContext(String),
    #[error("{0}: no such file or directory in the source")]
    NotInSource(String),
    #[error("{0}: the source is outside the build context")]
    OutsideContext(String),
    #[error("more than one source: the destination {0} must be a directory (end it with /)")]
    DestNotDir(String),
    #[error("{path}: not a directory in the image")]
    ParentNotDir { path: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Walk(#[from] WalkError),
    #[error(transparent)]
    Layers(#[from] LayersError),
    #[error("unpack {path}: {reason}")]
    Unpack { path: PathBuf, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FilesError + '_ {
    move |source| FilesError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where sources come from.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// The build context and its ignore rules.
    Context { dir: &'a Path, ignore: &'a Ignore },
    /// The merged view of layers (COPY --from).
    Layers(&'a [PathBuf]),
}

/// One file to write: its path below the destination (empty: the
/// destination itself), where to read it, its lstat there, and whether
/// its owner is kept (entries of an unpacked archive) or reset.
#[derive(Debug)]
pub struct Entry {
    pub sub: PathBuf,
    pub host: PathBuf,
    pub meta: Metadata,
    pub keep_owner: bool,
    /// Its extended attributes are copied too (files of an image or an
    /// archive; never `trusted.overlay.*`), not those of the context.
    pub xattrs: bool,
}

/// What a source names: a directory (its contents are copied into the
/// destination) or anything else (copied as the destination, or into it).
#[derive(Debug)]
struct Matched {
    /// Its path in the origin (context or image), relative.
    rel: PathBuf,
    host: PathBuf,
    meta: Metadata,
}

/// Cleans a source to a relative path, refusing to leave the root.
fn clean_source(raw: &str) -> Result<PathBuf, FilesError> {
    let mut out = PathBuf::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir if !out.pop() => {
                return Err(FilesError::OutsideContext(raw.to_string()));
            }
            _ => {}
        }
    }
    Ok(out)
}

fn parts(p: &Path) -> Vec<String> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// The files of a step's sources, with the destination they go to below
/// `dest` (decided here: a directory when it ends with `/`, when there
/// are several sources, or when `dest_is_dir` says the image has one).
/// Returns the entries and whether the destination is a directory.
pub fn collect(
    origin: Origin<'_>,
    sources: &[String],
    dest: &str,
    dest_is_dir: bool,
) -> Result<(Vec<Entry>, bool), FilesError> {
    let mut matched = Vec::new();
    let mut view: Option<Vec<TreeEntry>> = None;
    for raw in sources {
        let clean = clean_source(raw)?;
        let mut found = match origin {
            Origin::Context { dir, ignore } => context_matches(dir, ignore, raw, &clean)?,
            Origin::Layers(layers) => {
                if view.is_none() {
                    view = Some(
                        flatten(layers, &Default::default())?
                            .into_iter()
                            .map(|m| TreeEntry {
                                rel: m.entry.rel.clone(),
                                meta: m.entry.meta,
                            })
                            .collect(),
                    );
                }
                layer_matches(layers, view.as_deref().unwrap_or_default(), raw, &clean)?
            }
        };
        matched.append(&mut found);
    }
    let into_dir = dest.ends_with('/') || matched.len() > 1 || dest_is_dir;
    if sources.len() > 1 && !dest.ends_with('/') && !dest_is_dir {
        return Err(FilesError::DestNotDir(dest.to_string()));
    }
    let mut entries = Vec::new();
    let is_dir_dest = into_dir || matched.iter().any(|m| m.meta.is_dir());
    for m in matched {
        if m.meta.is_dir() {
            entries.extend(dir_entries(origin, &m)?);
        } else {
            let sub = match into_dir {
                true => PathBuf::from(m.rel.file_name().unwrap_or_default()),
                false => PathBuf::new(),
            };
            entries.push(Entry {
                sub,
                host: m.host,
                meta: m.meta,
                keep_owner: false,
                xattrs: matches!(origin, Origin::Layers(_)),
            });
        }
    }
    Ok((entries, is_dir_dest))
}

fn context_matches(
    dir: &Path,
    ignore: &Ignore,
    raw: &str,
    clean: &Path,
) -> Result<Vec<Matched>, FilesError> {
    if is_glob(raw) {
        let pattern = parts(clean);
        let mut out = Vec::new();
        for e in walk(dir)? {
            if e.rel.as_os_str().is_empty() || ignore.ignored(&e.rel) {
                continue;
            }
            if match_parts(&pattern, &parts(&e.rel)) {
                // Below a matched directory: copied with it.
                if out.iter().any(|m: &Matched| e.rel.starts_with(&m.rel)) {
                    continue;
                }
                out.push(Matched {
                    host: dir.join(&e.rel),
                    rel: e.rel,
                    meta: e.meta,
                });
            }
        }
        if out.is_empty() {
            return Err(FilesError::NotInContext(raw.to_string()));
        }
        return Ok(out);
    }
    if !clean.as_os_str().is_empty() && ignore.ignored(clean) {
        return Err(FilesError::NotInContext(raw.to_string()));
    }
    // Symlinks of the context are followed inside it only, as Docker
    // follows them: an absolute target starts at the context's root and
    // `..` stops there, so nothing outside the context is ever read.
    let context = [dir.to_path_buf()];
    let rel = layers::resolve(&context, &format!("/{}", clean.display()), true)?;
    if !rel.as_os_str().is_empty() && ignore.ignored(&rel) {
        return Err(FilesError::NotInContext(raw.to_string()));
    }
    match layers::lookup(&context, &rel)? {
        Some((_, meta)) => Ok(vec![Matched {
            // A file keeps the name it was given; a directory's contents
            // are judged by the ignore file where they are.
            rel: match meta.is_dir() {
                true => rel.clone(),
                false => clean.to_path_buf(),
            },
            host: dir.join(&rel),
            meta,
        }]),
        None => Err(FilesError::NotInContext(raw.to_string())),
    }
}

fn layer_matches(
    layers: &[PathBuf],
    view: &[TreeEntry],
    raw: &str,
    clean: &Path,
) -> Result<Vec<Matched>, FilesError> {
    let pick = |rel: &Path| -> Result<Option<Matched>, FilesError> {
        Ok(layers::lookup(layers, rel)?.map(|(i, meta)| Matched {
            rel: rel.to_path_buf(),
            host: layers[i].join(rel),
            meta,
        }))
    };
    if is_glob(raw) {
        let pattern = parts(clean);
        let mut out: Vec<Matched> = Vec::new();
        for e in view {
            if !e.rel.as_os_str().is_empty()
                && match_parts(&pattern, &parts(&e.rel))
                && !out.iter().any(|m| e.rel.starts_with(&m.rel))
            {
                out.extend(pick(&e.rel)?);
            }
        }
        return match out.is_empty() {
            true => Err(FilesError::NotInSource(raw.to_string())),
            false => Ok(out),
        };
    }
    let rel = layers::resolve(layers, &format!("/{}", clean.display()), true)?;
    match pick(&rel)? {
        Some(m) => Ok(vec![m]),
        None => Err(FilesError::NotInSource(raw.to_string())),
    }
}

/// A directory source's contents (not the directory itself: its mode
/// goes to the destination directory), ignored files left out.
fn dir_entries(origin: Origin<'_>, m: &Matched) -> Result<Vec<Entry>, FilesError> {
    let mut out = Vec::new();
    match origin {
        Origin::Context { ignore, .. } => {
            for e in walk(&m.host)? {
                let in_context = m.rel.join(&e.rel);
                if !e.rel.as_os_str().is_empty() && ignore.ignored(&in_context) {
                    continue;
                }
                out.push(Entry {
                    host: m.host.join(&e.rel),
                    sub: e.rel,
                    meta: e.meta,
                    keep_owner: false,
                    xattrs: false,
                });
            }
        }
        Origin::Layers(layers) => {
            let below: Vec<PathBuf> = layers.iter().map(|l| l.join(&m.rel)).collect();
            let present: Vec<PathBuf> = below.into_iter().filter(|p| p.is_dir()).collect();
            for merged in flatten(&present, &Default::default())? {
                out.push(Entry {
                    host: present[merged.layer].join(&merged.entry.rel),
                    sub: merged.entry.rel,
                    meta: merged.entry.meta,
                    keep_owner: false,
                    xattrs: true,
                });
            }
        }
    }
    Ok(out)
}

/// How the entries are written.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    /// The new layer (empty at first).
    pub layer: &'a Path,
    /// The layers below it, bottom first.
    pub lowers: &'a [PathBuf],
    /// `--chown` resolved.
    pub owner: Option<(u32, u32)>,
    pub chmod: Option<u32>,
}

/// Writes `entries` below `dest` (absolute in the image) into the new
/// layer. Returns the number of entries written.
pub fn write(place: Placement<'_>, dest: &str, entries: &[Entry]) -> Result<u64, FilesError> {
    let mut stack: Vec<PathBuf> = place.lowers.to_vec();
    stack.push(place.layer.to_path_buf());
    let mut resolved: HashMap<PathBuf, PathBuf> = HashMap::new();
    let dest = dest.trim_end_matches('/');
    let mut count = 0;
    let mut dirs = Vec::new();
    // Files linked more than once among the sources: linked again.
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for e in entries {
        let full = match e.sub.as_os_str().is_empty() {
            true => PathBuf::from(if dest.is_empty() { "/" } else { dest }),
            false => Path::new(dest).join(&e.sub),
        };
        let name = full.file_name().map(PathBuf::from);
        let parent = full.parent().unwrap_or(Path::new("/")).to_path_buf();
        let parent_rel = match resolved.get(&parent) {
            Some(r) => r.clone(),
            None => {
                let r = layers::resolve(&stack, &parent.to_string_lossy(), true)?;
                ensure_dirs(place, &r)?;
                resolved.insert(parent.clone(), r.clone());
                r
            }
        };
        let rel = match &name {
            Some(n) => parent_rel.join(n),
            None => parent_rel.clone(),
        };
        let target = place.layer.join(&rel);
        let (uid, gid) = match (place.owner, e.keep_owner) {
            (Some(ids), _) => ids,
            (None, true) => (e.meta.uid(), e.meta.gid()),
            (None, false) => (0, 0),
        };
        let ft = e.meta.file_type();
        let mode = match place.chmod {
            Some(m) if !ft.is_symlink() => m,
            _ => e.meta.mode() & 0o7777,
        };
        if ft.is_dir() && e.sub.as_os_str().is_empty() {
            // A destination directory the image has keeps its owner and
            // mode (`COPY . /` must not give / the context's).
            if let Some((mode, uid, gid)) = layers::dir_owner_mode(place.lowers, &rel)? {
                if fs::symlink_metadata(&target).is_err() {
                    fs::create_dir(&target).map_err(io_err(&target))?;
                }
                std::os::unix::fs::lchown(&target, Some(uid), Some(gid))
                    .map_err(io_err(&target))?;
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                    .map_err(io_err(&target))?;
                resolved.insert(full.clone(), rel.clone());
                count += 1;
                continue;
            }
        }
        if ft.is_dir() {
            match fs::symlink_metadata(&target) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    remove_any(&target)?;
                    fs::create_dir(&target).map_err(io_err(&target))?;
                }
                Err(_) => fs::create_dir(&target).map_err(io_err(&target))?,
            }
            // The directory has the source's mode after its contents.
            dirs.push((
                target.clone(),
                e.host.clone(),
                e.xattrs,
                mode,
                uid,
                gid,
                e.meta.mtime(),
                e.meta.mtime_nsec(),
            ));
            // Later entries below it resolve to it.
            resolved.insert(full.clone(), rel.clone());
            count += 1;
            continue;
        }
        if fs::symlink_metadata(&target).is_ok() {
            remove_any(&target)?;
        }
        if ft.is_file() && e.meta.nlink() > 1 {
            match links.get(&(e.meta.dev(), e.meta.ino())) {
                Some(first) => {
                    fs::hard_link(first, &target).map_err(io_err(&target))?;
                    count += 1;
                    continue;
                }
                None => {
                    links.insert((e.meta.dev(), e.meta.ino()), target.clone());
                }
            }
        }
        if ft.is_symlink() {
            let to = fs::read_link(&e.host).map_err(io_err(&e.host))?;
            std::os::unix::fs::symlink(&to, &target).map_err(io_err(&target))?;
        } else if ft.is_file() {
            copy_file(&e.host, &target)?;
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                .map_err(io_err(&target))?;
        } else if is_whiteout(&e.meta)
            || ft.is_char_device()
            || ft.is_block_device()
            || ft.is_fifo()
        {
            let kind = if ft.is_fifo() {
                nix::sys::stat::SFlag::S_IFIFO
            } else if ft.is_block_device() {
                nix::sys::stat::SFlag::S_IFBLK
            } else {
                nix::sys::stat::SFlag::S_IFCHR
            };
            nix::sys::stat::mknod(
                &target,
                kind,
                nix::sys::stat::Mode::from_bits_truncate(mode),
                e.meta.rdev(),
            )
            .map_err(|errno| io_err(&target)(errno.into()))?;
        } else {
            // Sockets are not carried.
            continue;
        }
        std::os::unix::fs::lchown(&target, Some(uid), Some(gid)).map_err(io_err(&target))?;
        if e.xattrs {
            // After the chown, which clears security.capability.
            copy_xattrs(&e.host, &target)?;
        }
        if !ft.is_symlink() && place.chmod.is_none() && mode & 0o7000 != 0 {
            // chown clears setuid/setgid: set the mode again.
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                .map_err(io_err(&target))?;
        }
        set_times(&target, e.meta.mtime(), e.meta.mtime_nsec())?;
        count += 1;
    }
    for (dir, host, xattrs, mode, uid, gid, secs, nsecs) in dirs.into_iter().rev() {
        std::os::unix::fs::lchown(&dir, Some(uid), Some(gid)).map_err(io_err(&dir))?;
        if xattrs {
            copy_xattrs(&host, &dir)?;
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).map_err(io_err(&dir))?;
        set_times(&dir, secs, nsecs)?;
    }
    Ok(count)
}

/// Makes the directories of `rel` in the new layer that it lacks, each
/// with the mode and owner the image has there (0755 root for new ones).
/// Refuses a non-directory of the image on the way.
pub fn ensure_dirs(place: Placement<'_>, rel: &Path) -> Result<(), FilesError> {
    let mut path = PathBuf::new();
    for part in rel.components() {
        path.push(part);
        let host = place.layer.join(&path);
        match fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => {
                return Err(FilesError::ParentNotDir {
                    path: format!("/{}", path.display()),
                })
            }
            Err(_) => {}
        }
        let (mode, uid, gid) = match layers::lookup(place.lowers, &path)? {
            Some((_, m)) if m.is_dir() => (m.mode() & 0o7777, m.uid(), m.gid()),
            Some(_) => {
                return Err(FilesError::ParentNotDir {
                    path: format!("/{}", path.display()),
                })
            }
            None => match place.owner {
                Some((u, g)) => (0o755, u, g),
                None => (0o755, 0, 0),
            },
        };
        fs::create_dir(&host).map_err(io_err(&host))?;
        std::os::unix::fs::lchown(&host, Some(uid), Some(gid)).map_err(io_err(&host))?;
        fs::set_permissions(&host, fs::Permissions::from_mode(mode)).map_err(io_err(&host))?;
    }
    Ok(())
}

/// Copies the extended attributes of `from` to `to` (neither followed),
/// but overlayfs's own (`trusted.overlay.*`: they would change what the
/// layer means to the overlay). A file system without xattrs has none.
fn copy_xattrs(from: &Path, to: &Path) -> Result<(), FilesError> {
    let names = match xattr::list(from) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(()),
        Err(e) => return Err(io_err(from)(e)),
    };
    for name in names {
        if name.to_string_lossy().starts_with("trusted.overlay.") {
            continue;
        }
        if let Some(value) = xattr::get(from, &name).map_err(io_err(from))? {
            xattr::set(to, &name, &value).map_err(io_err(to))?;
        }
    }
    Ok(())
}

fn remove_any(path: &Path) -> Result<(), FilesError> {
    let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
    match meta.is_dir() {
        true => fs::remove_dir_all(path),
        false => fs::remove_file(path),
    }
    .map_err(io_err(path))
}

/// Copies a regular file's bytes (never following a symlink at either end).
fn copy_file(from: &Path, to: &Path) -> Result<(), FilesError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut src = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(from)
        .map_err(io_err(from))?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(io_err(to))?;
    crate::fsutil::sparse::copy(&mut src, &mut dst).map_err(io_err(to))?;
    Ok(())
}

fn set_times(path: &Path, secs: i64, nsecs: i64) -> Result<(), FilesError> {
    let t = nix::sys::time::TimeSpec::new(secs, nsecs);
    nix::sys::stat::utimensat(
        None,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|errno| io_err(path)(errno.into()))
}

/// The compression of a file, when it is a tar archive ADD unpacks:
/// gzip, zstd, xz, bzip2, or a plain tar ("ustar" at byte 257).
pub fn archive_kind(path: &Path) -> Result<Option<&'static str>, FilesError> {
    let mut head = [0u8; 262];
    let mut file = fs::File::open(path).map_err(io_err(path))?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]).map_err(io_err(path))? {
            0 => break,
            k => n += k,
        }
    }
    let head = &head[..n];
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if head.starts_with(b"BZh") {
        Some("bzip2")
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some("tar")
    } else {
        None
    })
}

/// Unpacks archive `path` into the empty directory `into` and returns its
/// entries (owners kept) for [`write`].
pub fn unpack(path: &Path, into: &Path) -> Result<Vec<Entry>, FilesError> {
    let file = fs::File::open(path).map_err(io_err(path))?;
    let buffered = io::BufReader::new(file);
    // gzip and zstd are the import reader's own; xz and bzip2 are
    // unpacked here first.
    let reader: Box<dyn Read + Send> = match archive_kind(path)? {
        Some("xz") => Box::new(xz2::read::XzDecoder::new_multi_decoder(buffered)),
        Some("bzip2") => Box::new(bzip2::read::MultiBzDecoder::new(buffered)),
        _ => Box::new(buffered),
    };
    crate::image::archive::import(reader, into, true, &crate::progress::NoProgress).map_err(
        |e| FilesError::Unpack {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    )?;
    Ok(walk(into)?
        .into_iter()
        .filter(|e| !e.rel.as_os_str().is_empty())
        .map(|e| Entry {
            host: into.join(&e.rel),
            sub: e.rel,
            meta: e.meta,
            keep_owner: true,
            xattrs: true,
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sources_stay_in_the_context() {
        let t = tempfile::tempdir().unwrap();
        let ctx = t.path().join("ctx");
        fs::create_dir_all(ctx.join("d")).unwrap();
        fs::write(ctx.join("d/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", ctx.join("out")).unwrap();
        let ignore = Ignore::default();
        let origin = Origin::Context {
            dir: &ctx,
            ignore: &ignore,
        };
        let err = |src: &str| {
            collect(origin, &[src.to_string()], "/x", false)
                .unwrap_err()
                .to_string()
        };
        // A symlink leads inside the context only: /etc is ctx/etc here.
        assert_eq!(
            err("out/passwd"),
            "out/passwd: no such file or directory in the build context (or left out by the ignore file)"
        );
        assert_eq!(
            err("../ctx/d/f/../../../x"),
            "../ctx/d/f/../../../x: the source is outside the build context"
        );
        assert_eq!(
            err("missing"),
            "missing: no such file or directory in the build context (or left out by the ignore file)"
        );
        // A symlink inside the context is followed: its target's content,
        // under the name given.
        std::os::unix::fs::symlink("d/f", ctx.join("link")).unwrap();
        std::os::unix::fs::symlink("/d/../../../d", ctx.join("dirlink")).unwrap();
        let (entries, into_dir) = collect(origin, &["link".to_string()], "/x/", false).unwrap();
        assert!(into_dir && entries.len() == 1 && entries[0].meta.is_file());
        assert_eq!(entries[0].sub, Path::new("link"));
        let (entries, _) = collect(
            origin,
            &["dirlink".to_string(), "link".to_string()],
            "/x/",
            false,
        )
        .unwrap();
        let subs: Vec<_> = entries
            .iter()
            .map(|e| e.sub.display().to_string())
            .collect();
        assert_eq!(subs, ["", "f", "link"]);
        assert_eq!(
            collect(origin, &["d".to_string(), "link".to_string()], "/x", false)
                .unwrap_err()
                .to_string(),
            "more than one source: the destination /x must be a directory (end it with /)"
        );
    }

    #[test]
    #[cfg_attr(xdocker_not_root, ignore = "needs root")]
    fn hard_links_stay_links_and_image_xattrs_come_along() {
        use std::os::unix::fs::MetadataExt;
        crate::root_gate::needs_root(); // entries are written owned by 0:0
        let t = tempfile::tempdir().unwrap();
        let from = t.path().join("from");
        fs::create_dir_all(from.join("d")).unwrap();
        fs::write(from.join("d/a"), "x").unwrap();
        fs::hard_link(from.join("d/a"), from.join("d/b")).unwrap();
        let xattrs_here = xattr::set(from.join("d/a"), "user.origin", b"image").is_ok();
        let _ = xattr::set(from.join("d"), "trusted.overlay.opaque", b"y");
        let layer = t.path().join("layer");
        fs::create_dir(&layer).unwrap();
        let origin_layers = [from.clone()];
        let (entries, _) = collect(
            Origin::Layers(&origin_layers),
            &["/d".to_string()],
            "/e/",
            false,
        )
        .unwrap();
        let place = Placement {
            layer: &layer,
            lowers: &[],
            owner: None,
            chmod: None,
        };
        write(place, "/e/", &entries).unwrap();
        let (a, b) = (
            fs::metadata(layer.join("e/a")).unwrap(),
            fs::metadata(layer.join("e/b")).unwrap(),
        );
        assert_eq!(a.ino(), b.ino(), "one file, linked twice");
        assert_eq!((a.uid(), a.gid()), (0, 0));
        if xattrs_here {
            assert_eq!(
                xattr::get(layer.join("e/a"), "user.origin")
                    .unwrap()
                    .as_deref(),
                Some(&b"image"[..])
            );
        }
        assert_eq!(
            xattr::get(layer.join("e"), "trusted.overlay.opaque").unwrap(),
            None
        );
    }

    #[test]
    #[cfg_attr(xdocker_not_root, ignore = "needs root")]
    fn an_existing_destination_directory_keeps_the_images_mode() {
        use std::os::unix::fs::PermissionsExt;
        crate::root_gate::needs_root(); // entries are written owned by 0:0
        let t = tempfile::tempdir().unwrap();
        let ctx = t.path().join("ctx");
        fs::create_dir(&ctx).unwrap();
        fs::write(ctx.join("f"), "x").unwrap();
        fs::set_permissions(&ctx, fs::Permissions::from_mode(0o700)).unwrap();
        let lower = t.path().join("lower");
        fs::create_dir_all(lower.join("srv")).unwrap();
        fs::set_permissions(&lower, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(lower.join("srv"), fs::Permissions::from_mode(0o750)).unwrap();
        let ignore = Ignore::default();
        let origin = Origin::Context {
            dir: &ctx,
            ignore: &ignore,
        };
        let cases = [
            ("/", "", 0o755),
            ("/srv/", "srv", 0o750),
            ("/new/", "new", 0o700),
        ];
        for (n, (dest, rel, mode)) in cases.into_iter().enumerate() {
            let layer = t.path().join(format!("layer{n}"));
            fs::create_dir(&layer).unwrap();
            fs::set_permissions(&layer, fs::Permissions::from_mode(0o711)).unwrap();
            let (entries, _) = collect(origin, &[".".to_string()], dest, false).unwrap();
            let lowers = [lower.clone()];
            let place = Placement {
                layer: &layer,
                lowers: &lowers,
                owner: None,
                chmod: None,
            };
            write(place, dest, &entries).unwrap();
            let got = fs::metadata(layer.join(rel)).unwrap().permissions().mode() & 0o7777;
            assert_eq!(got, mode, "{dest}");
            assert_eq!(fs::read_to_string(layer.join(rel).join("f")).unwrap(), "x");
        }
    }
}
