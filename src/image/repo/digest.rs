//! The content digest of an image: what makes pushing an unchanged image a
//! no-op. Two exports of one image differ in their compressed bytes (the
//! archive's manifest and checksum entries carry the time of the export),
//! so the repository keeps, next to the sha256 of the file, a digest of
//! what the archive carries: the manifest's name, version, base layers and
//! every entry of the layer as export writes it (path, type, owner, mode,
//! mtime in seconds, xattrs, link target or hard-link source, content).
//! A pulled image digests the same as the pushed one.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::fsutil::tree::{walk, WalkError};
use crate::image::archive::{hex, ArchiveManifest};

/// Why an image could not be digested.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Walk(#[from] WalkError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("the digest thread panicked")]
    Panicked,
}

/// Feeds one length-prefixed field, so no two trees share an encoding.
fn field(h: &mut Sha256, data: &[u8]) {
    h.update((data.len() as u64).to_le_bytes());
    h.update(data);
}

fn number(h: &mut Sha256, n: u64) {
    h.update(n.to_le_bytes());
}

/// sha256 (hex) over the manifest's identity and the layer at `layer`.
pub fn content_digest(layer: &Path, manifest: &ArchiveManifest) -> Result<String, DigestError> {
    let mut h = Sha256::new();
    field(&mut h, b"xdocker content digest 1");
    field(&mut h, manifest.name.as_bytes());
    field(&mut h, manifest.version.as_bytes());
    number(&mut h, manifest.base_layers.len() as u64);
    for b in &manifest.base_layers {
        field(&mut h, b.as_bytes());
    }
    // The metadata counts where an image has some (digests of images
    // without stay as they were).
    if !manifest.config.is_empty() {
        let text = serde_json::to_string(&manifest.config).unwrap_or_default();
        field(&mut h, b"config");
        field(&mut h, text.as_bytes());
    }
    let mut first: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut buf = vec![0u8; 1 << 20];
    for e in walk(layer)? {
        let path = layer.join(&e.rel);
        let io_err = |op| {
            let path = path.clone();
            move |source| DigestError::Io { op, path, source }
        };
        let ft = e.meta.file_type();
        // Sockets cannot be carried by tar: export skips them.
        if ft.is_socket() {
            continue;
        }
        field(&mut h, e.rel.as_os_str().as_bytes());
        let kind: &[u8] = if ft.is_dir() {
            b"d"
        } else if ft.is_file() {
            b"f"
        } else if ft.is_symlink() {
            b"l"
        } else if ft.is_char_device() {
            b"c"
        } else if ft.is_block_device() {
            b"b"
        } else {
            b"p"
        };
        field(&mut h, kind);
        number(&mut h, u64::from(e.meta.uid()));
        number(&mut h, u64::from(e.meta.gid()));
        number(&mut h, u64::from(e.meta.mode() & 0o7777));
        number(&mut h, e.meta.mtime() as u64);
        let mut names = match xattr::list(&path) {
            Ok(n) => n.collect::<Vec<_>>(),
            Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => Vec::new(),
            Err(e) => return Err(io_err("list xattrs of")(e)),
        };
        names.sort();
        number(&mut h, names.len() as u64);
        for name in names {
            let value = xattr::get(&path, &name)
                .map_err(io_err("read xattr of"))?
                .unwrap_or_default();
            field(&mut h, name.as_bytes());
            field(&mut h, &value);
        }
        if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(io_err("read link"))?;
            field(&mut h, target.as_os_str().as_bytes());
        } else if ft.is_char_device() || ft.is_block_device() {
            number(&mut h, e.meta.rdev());
        } else if ft.is_file() {
            let key = (e.meta.dev(), e.meta.ino());
            if let Some(src) = first.get(&key) {
                field(&mut h, b"hardlink");
                field(&mut h, src.as_os_str().as_bytes());
                continue;
            }
            if e.meta.nlink() > 1 {
                first.insert(key, e.rel.clone());
            }
            field(&mut h, b"data");
            number(&mut h, e.meta.len());
            let mut f: File = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
                .map_err(io_err("open"))?;
            let mut left = e.meta.len();
            while left > 0 {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = f.read(&mut buf[..want]).map_err(io_err("read"))?;
                if n == 0 {
                    return Err(io_err("read")(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while being read",
                    )));
                }
                h.update(&buf[..n]);
                left -= n as u64;
            }
        }
    }
    Ok(hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> ArchiveManifest {
        ArchiveManifest {
            format: 1,
            name: "a".to_string(),
            version: "1".to_string(),
            created: "now".to_string(),
            base_layers: Vec::new(),
            size: 0,
            config: Default::default(),
        }
    }

    #[test]
    fn digest_follows_content_not_creation_time() {
        let t = tempfile::tempdir().expect("tempdir");
        let l = t.path().join("l");
        fs::create_dir(&l).expect("mkdir");
        fs::write(l.join("f"), "one").expect("write");
        std::os::unix::fs::symlink("f", l.join("s")).expect("symlink");
        let m = manifest();
        let d1 = content_digest(&l, &m).expect("digest");
        let mut later = m.clone();
        later.created = "later".to_string();
        assert_eq!(content_digest(&l, &later).expect("digest"), d1);
        let mut other = m.clone();
        other.version = "2".to_string();
        assert_ne!(content_digest(&l, &other).expect("digest"), d1);
        // Rewriting the same bytes keeps the digest only with the same mtime.
        let mtime = fs::metadata(l.join("f"))
            .expect("stat")
            .modified()
            .expect("mtime");
        fs::write(l.join("f"), "two").expect("write");
        let f = File::options().write(true).open(l.join("f")).expect("open");
        f.set_modified(mtime).expect("set mtime");
        assert_ne!(content_digest(&l, &m).expect("digest"), d1);
        fs::write(l.join("f"), "one").expect("write");
        f.set_modified(mtime).expect("set mtime");
        assert_eq!(content_digest(&l, &m).expect("digest"), d1);
    }
}
