//! Writing an `.xdockerimage`: the layer walked in a stable order, each entry
//! with its owner, mode, xattrs and links, hashed and zstd-compressed.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::pax::pax_record;
use super::{
    fs_err, hex, ArchiveChecksum, ArchiveError, ArchiveManifest, ExportSummary, CHECKSUM_ENTRY,
    LAYER_PREFIX, MANIFEST_ENTRY, XATTR_PAX_PREFIX,
};
use crate::fsutil::tree::walk;
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

/// The xattrs of `path` as pax records (never following a symlink).
fn xattr_records(path: &Path) -> Result<Vec<u8>, ArchiveError> {
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
        if let Some(value) = xattr::get(path, &name).map_err(fs_err("read xattr of", path))? {
            out.extend(pax_record(&format!("{XATTR_PAX_PREFIX}{key}"), &value));
        }
    }
    Ok(out)
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
    let entries = walk(layer)?;
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
        let src = layer.join(&e.rel);
        let name = Path::new(LAYER_PREFIX).join(&e.rel);
        let ft = e.meta.file_type();
        if ft.is_socket() {
            crate::logging::warn(&format!("export: socket {} skipped", src.display()));
            summary.skipped_sockets += 1;
            continue;
        }
        let pax = xattr_records(&src)?;
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
