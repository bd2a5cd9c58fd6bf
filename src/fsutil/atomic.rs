//! Atomic replacement of small files (metadata, configs): write a temporary
//! sibling, fsync it, rename it over the target, fsync the directory, so a
//! crash leaves either the old or the new content, never a torn file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why an atomic write failed.
#[derive(Debug, thiserror::Error)]
#[error("write {path}: {step}: {source}")]
pub struct AtomicWriteError {
    pub path: PathBuf,
    pub step: &'static str,
    #[source]
    pub source: io::Error,
}

/// Replaces `path` with `data` atomically and durably; the file gets `mode`.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), AtomicWriteError> {
    write_replace(path, data, mode, true)
}

/// Replaces `path` atomically for concurrent readers, without waiting for
/// the disk: for run-time state that a host crash makes void anyway (a
/// reader must treat a damaged file as stale).
pub fn write_atomic_volatile(path: &Path, data: &[u8], mode: u32) -> Result<(), AtomicWriteError> {
    write_replace(path, data, mode, false)
}

fn write_replace(
    path: &Path,
    data: &[u8],
    mode: u32,
    durable: bool,
) -> Result<(), AtomicWriteError> {
    let err = |step, source| AtomicWriteError {
        path: path.to_path_buf(),
        step,
        source,
    };
    let dir = path
        .parent()
        .ok_or_else(|| err("find parent", io::ErrorKind::InvalidInput.into()))?;
    let file_name = path
        .file_name()
        .ok_or_else(|| err("find file name", io::ErrorKind::InvalidInput.into()))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(|e| err("create temporary file", e))?;
        f.write_all(data).map_err(|e| err("write", e))?;
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| err("chmod", e))?;
        if durable {
            f.sync_all().map_err(|e| err("fsync", e))?;
        }
        fs::rename(&tmp, path).map_err(|e| err("rename into place", e))?;
        if durable {
            sync_dir(dir).map_err(|e| err("fsync directory", e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Flushes a directory's entries (after a rename or create in it).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn replaces_content_and_sets_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.toml");
        write_atomic(&p, b"one", 0o600).expect("write");
        write_atomic(&p, b"two", 0o644).expect("write");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        assert_eq!(fs::metadata(&p).expect("stat").mode() & 0o777, 0o644);
        let names: Vec<_> = fs::read_dir(dir.path()).expect("ls").collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn missing_directory_is_reported_with_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("missing/a.toml");
        let e = write_atomic(&p, b"x", 0o644).unwrap_err();
        assert!(e.to_string().contains("missing/a.toml"), "{e}");
    }
}
