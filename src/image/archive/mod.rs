//! The `.xdockerimage` format and its reader and writer.
//!
//! A file is a tar stream compressed with zstd (gzip accepted on import):
//! 1. `xdocker-manifest.toml`: format, name, version, created, base layers, size;
//! 2. the layer below `rlayer/`: numeric owners, modes, mtimes, xattrs as
//!    `SCHILY.xattr.*` pax records (as GNU tar `--xattrs` writes them, so
//!    `trusted.overlay.*` survives), hard links, device nodes, fifos;
//! 3. `xdocker-checksum.toml`: sha256 and length of every tar byte before it,
//!    manifest included. A single pass cannot know the digest up front, so it
//!    trails; import verifies it before anything becomes visible.
//!
//! Import never trusts the archive: entry paths must be relative without
//! `..`, nothing is ever written through a symlink (each parent must be a
//! directory this import created), hard links must point at a file this
//! import created, and the caller extracts into a staging directory that is
//! discarded unless the whole archive checked out.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::tree::WalkError;

mod export;
pub mod flatten;
mod import;
mod pax;

pub use export::{export, export_merged, Writeback};
pub use import::import;

/// Version of the archive layout written by this xdocker.
pub const FORMAT: u32 = 1;
/// First entry of an `.xdockerimage`.
pub const MANIFEST_ENTRY: &str = "xdocker-manifest.toml";
/// Last entry of an `.xdockerimage`.
pub const CHECKSUM_ENTRY: &str = "xdocker-checksum.toml";
/// Directory of the layer inside the archive.
pub const LAYER_PREFIX: &str = "rlayer";

pub(crate) const BLOCK: usize = 512;
pub(crate) const MAX_META_LEN: u64 = 1 << 20;
pub(crate) const XATTR_PAX_PREFIX: &str = "SCHILY.xattr.";
pub(crate) const COPY_BUF: usize = 1 << 20;

/// Errors of reading or writing an archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{op} {path}: {source}")]
    Fs {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("read archive: {0}")]
    Read(#[source] io::Error),
    #[error("write archive: {0}")]
    Write(#[source] io::Error),
    #[error("archive entry {entry}: {reason}")]
    BadEntry { entry: String, reason: String },
    #[error("archive is truncated or incomplete: {0}")]
    Truncated(&'static str),
    #[error("archive checksum mismatch: recorded {expected}, content has {actual}")]
    Checksum { expected: String, actual: String },
    #[error("archive manifest: {0}")]
    Manifest(String),
    #[error(
        "archive has no xdocker manifest: a plain tar (docker export) needs the image name from -m"
    )]
    PlainNeedsName,
    #[error(transparent)]
    Walk(#[from] WalkError),
}

pub(crate) fn fs_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ArchiveError + 'a {
    move |source| ArchiveError::Fs {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The first entry of an `.xdockerimage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveManifest {
    pub format: u32,
    pub name: String,
    pub version: String,
    pub created: String,
    #[serde(default)]
    pub base_layers: Vec<String>,
    /// Apparent size of the layer in bytes.
    pub size: u64,
    /// The image's metadata (recipe builds); absent when empty, so such
    /// archives stay readable by older xdockers.
    #[serde(default, skip_serializing_if = "crate::image::ImageConfig::is_empty")]
    pub config: crate::image::ImageConfig,
}

impl ArchiveManifest {
    /// The manifest of a stored image version, as an export file or the
    /// ssh repository carries it.
    pub fn of(entry: &crate::image::ImageEntry) -> Self {
        Self {
            format: FORMAT,
            name: entry.name.to_string(),
            version: entry.version.to_string(),
            created: entry.meta.created.clone(),
            base_layers: entry.meta.base_layers.clone(),
            size: entry.meta.size,
            config: entry.meta.config.clone(),
        }
    }
}

/// The last entry of an `.xdockerimage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArchiveChecksum {
    pub(crate) sha256: String,
    pub(crate) bytes: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// sha256 of the tar bytes before the checksum entry (hex).
    pub sha256: String,
    pub entries: u64,
    /// Sockets cannot be carried by tar; they are skipped (as GNU tar does).
    pub skipped_sockets: u64,
}

/// What an import read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// `None` for a plain tar (docker export).
    pub manifest: Option<ArchiveManifest>,
    pub entries: u64,
    pub bytes: u64,
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Picks the decompressor from the first bytes: zstd, gzip, or plain tar.
pub(crate) fn decompressor<'a, R: Read + Send + 'a>(
    input: R,
) -> Result<Box<dyn Read + Send + 'a>, ArchiveError> {
    let mut br = BufReader::with_capacity(COPY_BUF, input);
    let magic = br.fill_buf().map_err(ArchiveError::Read)?;
    if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(
            zstd::Decoder::with_buffer(br).map_err(ArchiveError::Read)?,
        ))
    } else if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(br)))
    } else if magic.is_empty() {
        Err(ArchiveError::Truncated("the file is empty"))
    } else {
        Ok(Box::new(br))
    }
}

/// Checks an entry path: relative, no `..`; returns it without `.` parts.
pub(crate) fn clean_relative(raw: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err("path contains '..'"),
            Component::RootDir | Component::Prefix(_) => return Err("path is absolute"),
        }
    }
    Ok(out)
}

/// Reads a small metadata entry, bounded.
pub(crate) fn read_small<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    what: &str,
) -> Result<String, ArchiveError> {
    if entry.size() > MAX_META_LEN {
        return Err(ArchiveError::Manifest(format!("{what} is too large")));
    }
    let mut text = String::new();
    entry
        .take(MAX_META_LEN)
        .read_to_string(&mut text)
        .map_err(ArchiveError::Read)?;
    Ok(text)
}

/// Reads only the manifest at the start of an archive (for listings).
pub fn read_manifest<R: Read + Send>(input: R) -> Result<ArchiveManifest, ArchiveError> {
    let mut archive = tar::Archive::new(decompressor(input)?);
    let mut entries = archive.entries().map_err(ArchiveError::Read)?;
    let mut entry = entries
        .next()
        .ok_or(ArchiveError::Truncated("no entries"))?
        .map_err(ArchiveError::Read)?;
    if entry.path().map_err(ArchiveError::Read)? != Path::new(MANIFEST_ENTRY) {
        return Err(ArchiveError::Manifest(
            "the first entry is not the manifest".to_string(),
        ));
    }
    let text = read_small(&mut entry, "manifest")?;
    toml::from_str(&text).map_err(|e| ArchiveError::Manifest(crate::config::toml_reason(&text, &e)))
}

/// Opens an archive file for import.
pub fn open_archive(path: &Path) -> Result<(File, u64), ArchiveError> {
    let f = File::open(path).map_err(fs_err("open", path))?;
    let meta = f.metadata().map_err(fs_err("stat", path))?;
    if !meta.is_file() {
        return Err(ArchiveError::Fs {
            op: "open",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    Ok((f, meta.len()))
}
