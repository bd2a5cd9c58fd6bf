//! Writing an `.xdockerimage`: the layer walked in a stable order, each entry
//! with its owner, mode, xattrs and links, hashed and zstd-compressed; or
//! the merged view of stacked layers ([`super::flatten`]) as one layer.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};

use nix::sys::stat;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::flatten::MergedEntry;
use super::pax::pax_record;
use super::{
    fs_err, hex, ArchiveChecksum, ArchiveError, ArchiveManifest, ExportSummary, CHECKSUM_ENTRY,
    LAYER_PREFIX, MANIFEST_ENTRY, XATTR_PAX_PREFIX,
};
use crate::fsutil::tree::{TreeEntry, WalkError};
use crate::progress::Progress;

/// Hashes and counts every byte written through it.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads exactly `left` bytes from a file that must not shrink meanwhile.
struct ExactReader<'p, P: ?Sized> {
    file: File,
    left: u64,
    progress: &'p P,
}

impl<P: Progress + ?Sized> Read for ExactReader<'_, P> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being exported",
            ));
        }
        self.left -= n as u64;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// The prefix of overlayfs's own xattrs (opaque markers, redirects).
const OVERLAY_XATTRS: &str = "trusted.overlay.";

/// The xattrs of `path` as pax records (never following a symlink). For a
/// merged view (`merged`), overlayfs's own xattrs are left out, as the
/// merged view of a mount hides them; a redirect or metacopy marker, whose
/// meaning lies in other layers, is refused.
fn xattr_records(path: &Path, merged: bool) -> Result<Vec<u8>, ArchiveError> {
    let mut out = Vec::new();
    let names = match xattr::list(path) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(out),
        Err(e) => return Err(fs_err("list xattrs of", path)(e)),
    };
    for name in names {
        let Some(key) = name.to_str() else {
            return Err(ArchiveError::BadEntry {
                entry: path.display().to_string(),
                reason: "xattr name is not UTF-8".to_string(),
            });
        };
        if merged {
            if let Some(what) = key.strip_prefix(OVERLAY_XATTRS) {
                if what == "redirect" || what == "metacopy" {
                    return Err(ArchiveError::BadEntry {
                        entry: path.display().to_string(),
                        reason: format!(
                            "it uses overlayfs's {what} (xattr {key}), which an export \
                             cannot flatten"
                        ),
                    });
                }
                continue;
            }
        }
        if let Some(value) = xattr::get(path, &name).map_err(fs_err("read xattr of", path))? {
            out.extend(pax_record(&format!("{XATTR_PAX_PREFIX}{key}"), &value));
        }
    }
    Ok(out)
}

/// Lists `root` in the order of `fsutil::tree::walk` (pre-order, each
/// directory's entries sorted by name, symlinks never followed), sending
/// each entry as soon as it is known, so that archiving overlaps with the
/// walk. Stops after an error or when the receiver is gone.
fn walk_to(root: &Path, tx: &Sender<Result<TreeEntry, WalkError>>) {
    let err = |path: &Path, source| WalkError {
        path: path.to_path_buf(),
        source,
    };
    let meta = match fs::symlink_metadata(root) {
        Ok(m) => m,
        Err(e) => {
            let _ = tx.send(Err(err(root, e)));
            return;
        }
    };
    // Entries still to send, the next one last.
    let mut stack = vec![TreeEntry {
        rel: PathBuf::new(),
        meta,
    }];
    while let Some(e) = stack.pop() {
        let mut children = Vec::new();
        if e.meta.is_dir() {
            let dir = root.join(&e.rel);
            let listed = fs::read_dir(&dir).and_then(|entries| {
                for entry in entries {
                    let entry = entry?;
                    // lstat, relative to the directory.
                    let meta = entry.metadata()?;
                    children.push(TreeEntry {
                        rel: e.rel.join(entry.file_name()),
                        meta,
                    });
                }
                Ok(())
            });
            if let Err(source) = listed {
                let _ = tx.send(Err(err(&dir, source)));
                return;
            }
            children.sort_by(|a, b| b.rel.cmp(&a.rel));
        }
        if tx.send(Ok(e)).is_err() {
            return;
        }
        stack.append(&mut children);
    }
}

fn append_bytes<W: Write>(b: &mut tar::Builder<W>, path: &str, data: &[u8]) -> io::Result<()> {
    let mut h = Header::new_ustar();
    h.set_entry_type(EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(data.len() as u64);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    b.append_data(&mut h, path, data)
}

/// Writes the layer at `layer` as an `.xdockerimage` stream to `out`,
/// compressed with zstd on all cores.
pub fn export<W: Write>(
    layer: &Path,
    manifest: &ArchiveManifest,
    out: W,
    progress: &dyn Progress,
) -> Result<ExportSummary, ArchiveError> {
    std::thread::scope(|s| {
        // Unbounded: the walk never waits for the archive (which holds no
        // more than the whole listing, as a walk into a Vec would).
        let (tx, entries) = channel();
        let walker = s.spawn(move || walk_to(layer, &tx));
        let layers = [layer.to_path_buf()];
        let entries = entries.into_iter().map(|e| e.map(|e| (0, e)));
        let archived = archive_entries(&layers, false, manifest, entries, out, progress);
        // The walk ends when the entries run out, or when `archive_entries`
        // returned early and dropped the receiver.
        match (archived, walker.join()) {
            (Ok(_), Err(_)) => Err(ArchiveError::Write(io::Error::other(
                "the tree walk panicked",
            ))),
            (archived, _) => archived,
        }
    })
}

/// Writes the merged view `entries` of `layers` (bottom first, as
/// [`super::flatten::flatten`] listed it) as one layer: an `.xdockerimage`
/// stream to `out`, like [`export`].
pub fn export_merged<W: Write>(
    layers: &[PathBuf],
    entries: Vec<MergedEntry>,
    manifest: &ArchiveManifest,
    out: W,
    progress: &dyn Progress,
) -> Result<ExportSummary, ArchiveError> {
    let entries = entries.into_iter().map(|m| Ok((m.layer, m.entry)));
    archive_entries(layers, true, manifest, entries, out, progress)
}

/// Writes the archive of `entries`, each an entry of one of `layers` (an
/// index into it), a merged view's (`merged`) or a layer's walk.
fn archive_entries<W: Write>(
    layers: &[PathBuf],
    merged: bool,
    manifest: &ArchiveManifest,
    entries: impl Iterator<Item = Result<(usize, TreeEntry), WalkError>>,
    out: W,
    progress: &dyn Progress,
) -> Result<ExportSummary, ArchiveError> {
    progress.set_total(manifest.size);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut encoder = zstd::Encoder::new(out, 3).map_err(ArchiveError::Write)?;
    encoder
        .multithread(u32::try_from(threads).unwrap_or(1))
        .map_err(ArchiveError::Write)?;
    let mut b = tar::Builder::new(HashWriter {
        inner: encoder,
        hasher: Sha256::new(),
        bytes: 0,
    });
    let manifest_text =
        toml::to_string(manifest).map_err(|e| ArchiveError::Manifest(e.to_string()))?;
    append_bytes(&mut b, MANIFEST_ENTRY, manifest_text.as_bytes()).map_err(ArchiveError::Write)?;

    let mut first_link: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut summary = ExportSummary {
        sha256: String::new(),
        entries: 0,
        skipped_sockets: 0,
    };
    for e in entries {
        let (layer, e) = e?;
        let src = layers[layer].join(&e.rel);
        let name = Path::new(LAYER_PREFIX).join(&e.rel);
        let ft = e.meta.file_type();
        if ft.is_socket() {
            crate::logging::warn(&format!("export: socket {} skipped", src.display()));
            summary.skipped_sockets += 1;
            continue;
        }
        let pax = xattr_records(&src, merged)?;
        if !pax.is_empty() {
            let mut h = Header::new_ustar();
            h.set_entry_type(EntryType::XHeader);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_size(pax.len() as u64);
            h.set_path("PaxHeader").map_err(ArchiveError::Write)?;
            h.set_cksum();
            b.append(&h, pax.as_slice()).map_err(ArchiveError::Write)?;
        }
        let mut h = Header::new_gnu();
        h.set_metadata_in_mode(&e.meta, tar::HeaderMode::Complete);
        h.set_mode(e.meta.mode() & 0o7777);
        h.set_size(0);
        let written = if ft.is_file() {
            let key = (e.meta.dev(), e.meta.ino());
            match first_link.get(&key) {
                Some(target) if e.meta.nlink() > 1 => {
                    h.set_entry_type(EntryType::Link);
                    b.append_link(&mut h, &name, target)
                }
                _ => {
                    if e.meta.nlink() > 1 {
                        first_link.insert(key, name.clone());
                    }
                    let file = OpenOptions::new()
                        .read(true)
                        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                        .open(&src)
                        .map_err(fs_err("open", &src))?;
                    h.set_size(e.meta.len());
                    let reader = ExactReader {
                        file,
                        left: e.meta.len(),
                        progress,
                    };
                    b.append_data(&mut h, &name, reader)
                }
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(&src).map_err(fs_err("read link", &src))?;
            b.append_link(&mut h, &name, &target)
        } else {
            if ft.is_char_device() || ft.is_block_device() {
                let rdev = e.meta.rdev();
                h.set_device_major(stat::major(rdev) as u32)
                    .and_then(|()| h.set_device_minor(stat::minor(rdev) as u32))
                    .map_err(ArchiveError::Write)?;
            }
            b.append_data(&mut h, &name, io::empty())
        };
        written.map_err(|e| ArchiveError::Fs {
            op: "archive",
            path: src.clone(),
            source: e,
        })?;
        summary.entries += 1;
    }

    let hw = b.get_mut();
    let digest = hw.hasher.clone().finalize();
    summary.sha256 = hex(&digest);
    let checksum = ArchiveChecksum {
        sha256: summary.sha256.clone(),
        bytes: hw.bytes,
    };
    let text = toml::to_string(&checksum).map_err(|e| ArchiveError::Manifest(e.to_string()))?;
    append_bytes(&mut b, CHECKSUM_ENTRY, text.as_bytes()).map_err(ArchiveError::Write)?;
    let hw = b.into_inner().map_err(ArchiveError::Write)?;
    let mut out = hw.inner.finish().map_err(ArchiveError::Write)?;
    out.flush().map_err(ArchiveError::Write)?;
    Ok(summary)
}

/// Bytes written between two writeback starts.
const WRITEBACK_EVERY: u64 = 8 << 20;

/// A [`Write`] for a new archive file, written from its start: every few
/// MiB it asks the kernel to start writing back what it wrote
/// (`sync_file_range`), so that the fsync that makes the file durable has
/// little left to do. The archive then reaches the disk while it is still
/// being compressed. Buffer it (e.g. `BufWriter`): writes go straight to the
/// file.
#[derive(Debug)]
pub struct Writeback<'f> {
    file: &'f File,
    written: u64,
    started: u64,
}

impl<'f> Writeback<'f> {
    /// Wraps `file`, which is written from offset 0.
    pub fn new(file: &'f File) -> Self {
        Self {
            file,
            written: 0,
            started: 0,
        }
    }
}

impl Write for Writeback<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut file = self.file;
        let n = file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_EVERY {
            if let (Ok(from), Ok(len)) = (
                i64::try_from(self.started),
                i64::try_from(self.written - self.started),
            ) {
                // Only a head start: the caller's fsync reports real errors,
                // so the result is not looked at.
                let _ = xdockerinit::sys::start_writeback(self.file.as_fd(), from, len);
            }
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::tree::walk;
    use std::os::unix::fs::symlink;

    #[test]
    fn the_streamed_walk_lists_like_fsutil_walk() {
        let t = tempfile::tempdir().expect("tempdir");
        let r = t.path();
        for d in ["b/c/d", "a", "b/e", "z.d", "b-", "b.x"] {
            fs::create_dir_all(r.join(d)).expect("mkdir");
        }
        for f in ["b/c/d/f", "b/c/1", "b/e/2", "a/3", "top", "b-/4", "z.d/5"] {
            fs::write(r.join(f), f).expect("write");
        }
        symlink("b", r.join("link-to-dir")).expect("symlink");
        symlink("missing", r.join("b/dangling")).expect("symlink");

        let (tx, rx) = channel();
        walk_to(r, &tx);
        drop(tx);
        let streamed: Vec<(PathBuf, u64, bool)> = rx
            .into_iter()
            .map(|e| {
                let e = e.expect("walk");
                (e.rel, e.meta.ino(), e.meta.file_type().is_symlink())
            })
            .collect();
        let listed: Vec<(PathBuf, u64, bool)> = walk(r)
            .expect("walk")
            .into_iter()
            .map(|e| (e.rel, e.meta.ino(), e.meta.file_type().is_symlink()))
            .collect();
        assert_eq!(streamed, listed);
        assert_eq!(streamed.len(), 18); // the root, 8 directories, 7 files, 2 symlinks
    }

    #[test]
    #[cfg_attr(xdocker_not_root, ignore = "needs root")]
    fn a_merged_view_drops_overlays_xattrs_and_refuses_its_redirects() {
        crate::root_gate::needs_root(); // trusted.* xattrs
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("d");
        fs::create_dir(&d).expect("mkdir");
        xattr::set(&d, "trusted.overlay.opaque", b"y").expect("xattr");
        xattr::set(&d, "user.kept", b"1").expect("xattr");
        let layer = xattr_records(&d, false).expect("records");
        let merged = xattr_records(&d, true).expect("records");
        let text = |r: &[u8]| String::from_utf8_lossy(r).into_owned();
        assert!(text(&layer).contains("SCHILY.xattr.trusted.overlay.opaque=y"));
        assert!(text(&layer).contains("SCHILY.xattr.user.kept=1"));
        assert!(
            !text(&merged).contains("trusted.overlay"),
            "{}",
            text(&merged)
        );
        assert!(text(&merged).contains("SCHILY.xattr.user.kept=1"));
        xattr::set(&d, "trusted.overlay.redirect", b"/elsewhere").expect("xattr");
        let e = xattr_records(&d, true).expect_err("refused");
        assert!(e.to_string().contains("uses overlayfs's redirect"), "{e}");
        assert!(
            xattr_records(&d, false).is_ok(),
            "a layer keeps it as it is"
        );
    }

    #[test]
    fn a_missing_root_is_a_walk_error() {
        let t = tempfile::tempdir().expect("tempdir");
        let (tx, rx) = channel();
        walk_to(&t.path().join("nope"), &tx);
        drop(tx);
        let got: Vec<_> = rx.into_iter().collect();
        assert!(matches!(got.as_slice(), [Err(WalkError { .. })]));
    }

    #[test]
    fn writeback_writes_everything_in_order() {
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("f");
        let file = File::create(&path).expect("create");
        let piece: Vec<u8> = (0..=250u8).cycle().take(3 << 20).collect();
        let mut w = io::BufWriter::with_capacity(1 << 20, Writeback::new(&file));
        for _ in 0..7 {
            w.write_all(&piece).expect("write");
        }
        w.flush().expect("flush");
        drop(w);
        file.sync_all().expect("fsync");
        let back = fs::read(&path).expect("read");
        assert_eq!(back.len(), 7 * piece.len());
        assert!(back.chunks(piece.len()).all(|c| c == piece.as_slice()));
    }
}
