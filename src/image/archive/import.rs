//! Reading an `.xdockerimage` or a plain tar into an empty directory,
//! trusting nothing in it: see the module above for the rules.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::sys::stat::{self, Mode, SFlag};
use nix::sys::time::TimeSpec;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::pax::parse_pax;
use super::{
    clean_relative, decompressor, fs_err, hex, read_small, ArchiveChecksum, ArchiveError,
    ArchiveManifest, ImportSummary, BLOCK, CHECKSUM_ENTRY, COPY_BUF, FORMAT, LAYER_PREFIX,
    MANIFEST_ENTRY, MAX_META_LEN, XATTR_PAX_PREFIX,
};
use crate::progress::{Progress, ProgressReader};

/// sha256 of a stream, lagging one tar block behind: when the checksum
/// entry's header has just been read, the digest covers exactly the bytes
/// before that header.
#[derive(Debug)]
struct LagHash {
    hasher: Sha256,
    pending: Vec<u8>,
    total: u64,
}

impl LagHash {
    fn feed(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        let len = self.pending.len() + data.len();
        if len <= BLOCK {
            self.pending.extend_from_slice(data);
            return;
        }
        let to_hash = len - BLOCK;
        if to_hash <= self.pending.len() {
            self.hasher.update(&self.pending[..to_hash]);
            self.pending.drain(..to_hash);
            self.pending.extend_from_slice(data);
        } else {
            self.hasher.update(&self.pending);
            let from_data = to_hash - self.pending.len();
            self.hasher.update(&data[..from_data]);
            self.pending.clear();
            self.pending.extend_from_slice(&data[from_data..]);
        }
    }
}

struct LagHashReader<R> {
    inner: R,
    state: Rc<RefCell<LagHash>>,
}

impl<R: Read> Read for LagHashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.state.borrow_mut().feed(&buf[..n]);
        Ok(n)
    }
}

/// Picks the decompressor from the first bytes: zstd, gzip, or plain tar.
#[derive(Debug, Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Vec<(String, Vec<u8>)>,
}

/// The metadata of one real entry, extensions applied.
#[derive(Debug)]
struct EntryMeta {
    kind: EntryType,
    path: PathBuf,
    link: Option<PathBuf>,
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: u64,
    device: (u32, u32),
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Parses pax records (`"<len> <key>=<value>\n"`); values may hold any
/// byte, newlines included, so records are split by their length only.
fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    PathBuf::from(std::ffi::OsStr::from_bytes(&bytes[..end]))
}

fn pax_number(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    // mtime may carry a fraction: whole seconds are kept.
    text.split('.').next()?.parse().ok()
}

/// Reads an extension entry's data, bounded.
fn read_ext<R: Read>(entry: &mut tar::Entry<'_, R>, shown: &str) -> Result<Vec<u8>, ArchiveError> {
    if entry.size() > MAX_META_LEN {
        return Err(bad(shown, "extension header is too large"));
    }
    let mut data = Vec::new();
    entry
        .take(MAX_META_LEN)
        .read_to_end(&mut data)
        .map_err(ArchiveError::Read)?;
    Ok(data)
}

impl EntryMeta {
    fn new(header: &Header, pending: Pending) -> Result<Self, String> {
        let mut path = pending
            .long_name
            .map(|n| bytes_to_path(&n))
            .unwrap_or_else(|| bytes_to_path(&header.path_bytes()));
        let mut link = pending
            .long_link
            .map(|n| bytes_to_path(&n))
            .or_else(|| header.link_name_bytes().map(|b| bytes_to_path(&b)));
        // Some writers leave owner fields blank: that means 0, as for tar.
        let num = |r: std::io::Result<u64>, raw: &[u8], what: &str| match r {
            Ok(n) => Ok(n),
            Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
            Err(e) => Err(format!("{what}: {e}")),
        };
        let mut uid = num(header.uid(), &header.as_old().uid, "uid")?;
        let mut gid = num(header.gid(), &header.as_old().gid, "gid")?;
        let mut mtime = header.mtime().unwrap_or(0);
        let mut xattrs = Vec::new();
        for (key, value) in pending.pax {
            match key.as_str() {
                "path" => path = bytes_to_path(&value),
                "linkpath" => link = Some(bytes_to_path(&value)),
                "uid" => uid = pax_number(&value).ok_or("bad pax uid")?,
                "gid" => gid = pax_number(&value).ok_or("bad pax gid")?,
                "mtime" => mtime = pax_number(&value).unwrap_or(mtime),
                "size" => {
                    if pax_number(&value) != header.entry_size().ok() {
                        return Err("pax size records are not supported".to_string());
                    }
                }
                k => {
                    if let Some(name) = k.strip_prefix(XATTR_PAX_PREFIX) {
                        xattrs.push((name.to_string(), value));
                    }
                }
            }
        }
        Ok(Self {
            kind: header.entry_type(),
            path,
            link,
            uid: u32::try_from(uid).map_err(|_| "uid out of range")?,
            gid: u32::try_from(gid).map_err(|_| "gid out of range")?,
            mode: header.mode().map_err(|e| format!("mode: {e}"))? & 0o7777,
            mtime,
            device: (
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0),
            ),
            xattrs,
        })
    }
}

/// Reads an `.xdockerimage` (or, with `allow_plain`, a plain tar whose
/// entries are the root filesystem, as `docker export` writes) from `input`
/// and extracts its layer into the empty directory `layer`.
pub fn import<R: Read>(
    input: R,
    layer: &Path,
    allow_plain: bool,
    progress: &dyn Progress,
) -> Result<ImportSummary, ArchiveError> {
    let counted = ProgressReader::new(input, progress);
    let state = Rc::new(RefCell::new(LagHash {
        hasher: Sha256::new(),
        pending: Vec::with_capacity(2 * BLOCK),
        total: 0,
    }));
    let reader = LagHashReader {
        inner: decompressor(counted)?,
        state: Rc::clone(&state),
    };
    let mut archive = tar::Archive::new(reader);
    // Raw entries: extension headers are interpreted here, by length, not
    // by tar-rs (whose pax reader splits records at newlines, which binary
    // xattr values such as security.capability may contain).
    let entries = archive.entries().map_err(ArchiveError::Read)?.raw(true);
    let mut x = Extractor::new(layer);
    let mut manifest: Option<ArchiveManifest> = None;
    let mut checked = false;
    let mut first = true;
    let mut pending = Pending::default();

    for entry in entries {
        let mut entry = entry.map_err(ArchiveError::Read)?;
        let raw_name = bytes_to_path(&entry.header().path_bytes());
        let shown = raw_name.display().to_string();
        if checked {
            return Err(bad(&shown, "entry after the checksum"));
        }
        match entry.header().entry_type() {
            EntryType::XHeader => {
                let data = read_ext(&mut entry, &shown)?;
                pending.pax = parse_pax(&data).map_err(|r| bad(&shown, r))?;
                continue;
            }
            EntryType::XGlobalHeader => {
                read_ext(&mut entry, &shown)?;
                continue;
            }
            EntryType::GNULongName => {
                pending.long_name = Some(read_ext(&mut entry, &shown)?);
                continue;
            }
            EntryType::GNULongLink => {
                pending.long_link = Some(read_ext(&mut entry, &shown)?);
                continue;
            }
            _ => {}
        }
        let meta = EntryMeta::new(entry.header(), std::mem::take(&mut pending))
            .map_err(|r| bad(&shown, r))?;
        let shown = meta.path.display().to_string();
        if first {
            first = false;
            if meta.path == Path::new(MANIFEST_ENTRY) {
                let text = read_small(&mut entry, "manifest")?;
                let m: ArchiveManifest = toml::from_str(&text)
                    .map_err(|e| ArchiveError::Manifest(crate::config::toml_reason(&text, &e)))?;
                if m.format > FORMAT {
                    return Err(ArchiveError::Manifest(format!(
                        "format {} is newer than this xdocker understands ({FORMAT})",
                        m.format
                    )));
                }
                manifest = Some(m);
                continue;
            }
            if !allow_plain {
                return Err(ArchiveError::PlainNeedsName);
            }
        }
        let rel = match &manifest {
            Some(_) if meta.path == Path::new(CHECKSUM_ENTRY) => {
                let position = entry.raw_header_position();
                let (digest, hashed) = {
                    let s = state.borrow();
                    (hex(&s.hasher.clone().finalize()), s.total - BLOCK as u64)
                };
                if hashed != position {
                    return Err(bad(&shown, "checksum entry is not a plain tar header"));
                }
                let text = read_small(&mut entry, "checksum")?;
                let c: ArchiveChecksum = toml::from_str(&text)
                    .map_err(|e| ArchiveError::Manifest(crate::config::toml_reason(&text, &e)))?;
                if c.bytes != hashed || c.sha256 != digest {
                    return Err(ArchiveError::Checksum {
                        expected: c.sha256,
                        actual: digest,
                    });
                }
                checked = true;
                continue;
            }
            Some(_) => {
                let inside = meta
                    .path
                    .strip_prefix(LAYER_PREFIX)
                    .map_err(|_| bad(&shown, format!("not below {LAYER_PREFIX}/")))?;
                clean_relative(inside)
            }
            None => clean_relative(&meta.path),
        }
        .map_err(|reason| bad(&shown, reason))?;
        x.extract(&mut entry, &meta, &rel, &shown)?;
    }
    if manifest.is_some() && !checked {
        return Err(ArchiveError::Truncated("the checksum entry is missing"));
    }
    x.finish()?;
    Ok(ImportSummary {
        manifest,
        entries: x.entries,
        bytes: x.bytes,
    })
}

/// Creates the entries of one archive below `root`, refusing any that would
/// reach outside it.
struct Extractor {
    root: PathBuf,
    /// Directories this import created (relative); only these may be parents.
    dirs: HashSet<PathBuf>,
    /// Non-directories this import created; only these may be hard-link targets.
    files: HashSet<PathBuf>,
    /// Directory mtimes, applied last (creating children changes them).
    dir_times: Vec<(PathBuf, u64)>,
    buf: Vec<u8>,
    entries: u64,
    bytes: u64,
}

fn bad(entry: &str, reason: impl Into<String>) -> ArchiveError {
    ArchiveError::BadEntry {
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

impl Extractor {
    fn new(root: &Path) -> Self {
        let mut dirs = HashSet::new();
        dirs.insert(PathBuf::new());
        Self {
            root: root.to_path_buf(),
            dirs,
            files: HashSet::new(),
            dir_times: Vec::new(),
            buf: vec![0; COPY_BUF],
            entries: 0,
            bytes: 0,
        }
    }

    /// Makes sure every ancestor of `rel` is a directory this import made,
    /// creating missing ones (as `tar` does for archives without them).
    fn ensure_parents(&mut self, rel: &Path, shown: &str) -> Result<(), ArchiveError> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        if self.dirs.contains(parent) {
            return Ok(());
        }
        let mut at = PathBuf::new();
        for c in parent.components() {
            at.push(c);
            if self.dirs.contains(&at) {
                continue;
            }
            if self.files.contains(&at) {
                return Err(bad(shown, format!("{} is not a directory", at.display())));
            }
            let full = self.root.join(&at);
            fs::DirBuilder::new()
                .mode(0o755)
                .create(&full)
                .map_err(fs_err("create directory", &full))?;
            self.dirs.insert(at.clone());
        }
        Ok(())
    }

    fn extract<R: Read>(
        &mut self,
        entry: &mut R,
        meta: &EntryMeta,
        rel: &Path,
        shown: &str,
    ) -> Result<(), ArchiveError> {
        let (kind, uid, gid, mode, mtime) = (meta.kind, meta.uid, meta.gid, meta.mode, meta.mtime);
        let xattrs = &meta.xattrs;
        let full = self.root.join(rel);
        self.entries += 1;

        if rel.as_os_str().is_empty() {
            // The layer root itself.
            if !kind.is_dir() {
                return Err(bad(shown, "the image root must be a directory"));
            }
            self.set_attrs(&full, uid, gid, Some(mode), xattrs, shown)?;
            self.dir_times.push((full, mtime));
            return Ok(());
        }
        self.ensure_parents(rel, shown)?;
        // A later entry may replace an earlier one (tar semantics), but never a
        // directory, and the old entry is unlinked, never written through.
        if self.dirs.contains(rel) {
            if kind.is_dir() {
                self.set_attrs(&full, uid, gid, Some(mode), xattrs, shown)?;
                self.dir_times.push((full, mtime));
                return Ok(());
            }
            return Err(bad(shown, "replaces a directory"));
        }
        if self.files.remove(rel) {
            fs::remove_file(&full).map_err(fs_err("replace", &full))?;
        }

        match kind {
            EntryType::Directory => {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&full)
                    .map_err(fs_err("create directory", &full))?;
                self.dirs.insert(rel.to_path_buf());
                self.set_attrs(&full, uid, gid, Some(mode), xattrs, shown)?;
                self.dir_times.push((full, mtime));
                return Ok(());
            }
            EntryType::Regular | EntryType::Continuous => {
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&full)
                    .map_err(fs_err("create", &full))?;
                loop {
                    let n = entry.read(&mut self.buf).map_err(ArchiveError::Read)?;
                    if n == 0 {
                        break;
                    }
                    f.write_all(&self.buf[..n])
                        .map_err(fs_err("write", &full))?;
                    self.bytes += n as u64;
                }
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid))
                    .map_err(fs_err("chown", &full))?;
                f.set_permissions(fs::Permissions::from_mode(mode))
                    .map_err(fs_err("chmod", &full))?;
                self.set_xattrs(&full, xattrs, shown)?;
                let t = TimeSpec::new(i64::try_from(mtime).unwrap_or(0), 0);
                stat::futimens(std::os::fd::AsRawFd::as_raw_fd(&f), &t, &t)
                    .map_err(|e| fs_err("set times of", &full)(e.into()))?;
            }
            EntryType::Symlink => {
                let target = meta
                    .link
                    .as_ref()
                    .filter(|t| !t.as_os_str().is_empty())
                    .ok_or_else(|| bad(shown, "symlink without a target"))?;
                // The target is stored verbatim: it is resolved inside the
                // container, never by xdocker on the host.
                std::os::unix::fs::symlink(target, &full).map_err(fs_err("symlink", &full))?;
                self.set_attrs(&full, uid, gid, None, xattrs, shown)?;
                self.set_mtime(&full, mtime)?;
            }
            EntryType::Link => {
                let target = meta
                    .link
                    .as_ref()
                    .filter(|t| !t.as_os_str().is_empty())
                    .ok_or_else(|| bad(shown, "hard link without a target"))?;
                let target = self.link_target(target).map_err(|r| bad(shown, r))?;
                if !self.files.contains(&target) {
                    return Err(bad(
                        shown,
                        format!(
                            "hard link to {} which is not an earlier file of the image",
                            target.display()
                        ),
                    ));
                }
                let src = self.root.join(&target);
                fs::hard_link(&src, &full).map_err(fs_err("hard link", &full))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (sflag, dev) = match kind {
                    EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    _ => {
                        let (major, minor) = meta.device;
                        let flag = if kind == EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        };
                        (flag, stat::makedev(u64::from(major), u64::from(minor)))
                    }
                };
                stat::mknod(&full, sflag, Mode::from_bits_truncate(0o600), dev)
                    .map_err(|e| fs_err("mknod", &full)(e.into()))?;
                self.set_attrs(&full, uid, gid, Some(mode), xattrs, shown)?;
                self.set_mtime(&full, mtime)?;
            }
            other => {
                return Err(bad(shown, format!("unsupported entry type {other:?}")));
            }
        }
        self.files.insert(rel.to_path_buf());
        Ok(())
    }

    /// A hard-link target must be a clean path inside the image; archives
    /// name it either with or without the `rlayer/` prefix of the entries.
    fn link_target(&self, target: &Path) -> Result<PathBuf, &'static str> {
        let cleaned = clean_relative(target)?;
        if !self.files.contains(&cleaned) {
            if let Ok(inside) = cleaned.strip_prefix(LAYER_PREFIX) {
                return Ok(inside.to_path_buf());
            }
        }
        Ok(cleaned)
    }

    /// Owner first (chown clears setuid and file capabilities), then mode,
    /// then xattrs.
    fn set_attrs(
        &self,
        full: &Path,
        uid: u32,
        gid: u32,
        mode: Option<u32>,
        xattrs: &[(String, Vec<u8>)],
        shown: &str,
    ) -> Result<(), ArchiveError> {
        std::os::unix::fs::lchown(full, Some(uid), Some(gid)).map_err(fs_err("chown", full))?;
        if let Some(mode) = mode {
            fs::set_permissions(full, fs::Permissions::from_mode(mode))
                .map_err(fs_err("chmod", full))?;
        }
        self.set_xattrs(full, xattrs, shown)
    }

    fn set_xattrs(
        &self,
        full: &Path,
        xattrs: &[(String, Vec<u8>)],
        shown: &str,
    ) -> Result<(), ArchiveError> {
        for (name, value) in xattrs {
            if let Err(e) = xattr::set(full, name, value) {
                // Overlay metadata is what makes a layer a layer: losing it
                // would resurrect deleted files. Others (e.g. security.selinux
                // from another host) are reported and skipped.
                if name.starts_with("trusted.overlay.") {
                    return Err(bad(shown, format!("set xattr {name}: {e}")));
                }
                crate::logging::warn(&format!("import: {shown}: xattr {name} skipped: {e}"));
            }
        }
        Ok(())
    }

    fn set_mtime(&self, full: &Path, mtime: u64) -> Result<(), ArchiveError> {
        let t = TimeSpec::new(i64::try_from(mtime).unwrap_or(0), 0);
        stat::utimensat(None, full, &t, &t, stat::UtimensatFlags::NoFollowSymlink)
            .map_err(|e| fs_err("set times of", full)(e.into()))
    }

    /// Applies directory times, deepest first.
    fn finish(&mut self) -> Result<(), ArchiveError> {
        let mut times = std::mem::take(&mut self.dir_times);
        times.sort_by(|a, b| b.0.cmp(&a.0));
        for (dir, mtime) in times {
            self.set_mtime(&dir, mtime)?;
        }
        Ok(())
    }
}
