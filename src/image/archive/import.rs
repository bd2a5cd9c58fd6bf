//! Reading an `.xdockerimage` or a plain tar into an empty directory,
//! trusting nothing in it: see the module above for the rules.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};

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
use crate::progress::Progress;

/// Decompressed bytes of the tar stream, in `CHUNK`-sized pieces (only the
/// last one, or one cut short by a read error, is shorter).
const CHUNK: usize = 1 << 20;
/// Chunks decompressed ahead of the extraction.
const DEPTH: usize = 4;

/// One piece of the decompressed tar stream.
struct Chunk {
    /// `CHUNK` bytes long; the first `len` are stream data.
    data: Vec<u8>,
    len: usize,
    /// Offset of `data[0]` in the stream.
    start: u64,
    /// sha256 of the stream bytes before `start`.
    hash_before: Sha256,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.start + self.len as u64
    }
}

/// Counts the bytes read from the (compressed) input, for the progress bar
/// that the extraction thread draws.
struct CountingReader<'c, R> {
    inner: R,
    count: &'c AtomicU64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Runs on its own thread: decompresses `input` into chunks and hashes them,
/// so that both overlap with the file creation of the extraction. Stops at
/// the end of the stream, after sending a read error, or when the receiver
/// is gone (the extraction ended or failed).
fn decode_chunks(
    mut input: impl Read,
    tx: &SyncSender<io::Result<Chunk>>,
    recycled: &Receiver<Vec<u8>>,
) {
    let mut hasher = Sha256::new();
    let mut start = 0u64;
    loop {
        let mut data = recycled.try_recv().unwrap_or_else(|_| vec![0; CHUNK]);
        let mut len = 0;
        let mut failed = None;
        while len < CHUNK {
            match input.read(&mut data[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if len > 0 {
            let hash_before = hasher.clone();
            hasher.update(&data[..len]);
            let chunk = Chunk {
                data,
                len,
                start,
                hash_before,
            };
            start += len as u64;
            if tx.send(Ok(chunk)).is_err() {
                return;
            }
        }
        if let Some(e) = failed {
            let _ = tx.send(Err(e));
            return;
        }
        if len < CHUNK {
            return;
        }
    }
}

/// The chunk the tar reader is in. Tar headers start at multiples of
/// `BLOCK`, and every chunk but the last is `CHUNK` long, a multiple of
/// `BLOCK`: a header never straddles two chunks.
#[derive(Default)]
struct Window {
    cur: Option<Chunk>,
    /// Read position in `cur`.
    pos: usize,
}

const _: () = assert!(CHUNK % BLOCK == 0);

impl Window {
    /// Stream bytes handed to the tar reader so far.
    fn consumed(&self) -> u64 {
        self.cur.as_ref().map_or(0, |c| c.start + self.pos as u64)
    }

    /// sha256 (hex) of the stream bytes before offset `at`, if `at` lies in
    /// the current chunk.
    fn digest_before(&self, at: u64) -> Option<String> {
        let c = self
            .cur
            .as_ref()
            .filter(|c| c.start <= at && at <= c.end())?;
        let mut h = c.hash_before.clone();
        h.update(&c.data[..usize::try_from(at - c.start).ok()?]);
        Some(hex(&h.finalize()))
    }
}

/// The tar reader's side of the channel.
struct ChunkReader<'a> {
    rx: Receiver<io::Result<Chunk>>,
    recycle: Sender<Vec<u8>>,
    window: Rc<RefCell<Window>>,
    /// A read error was returned: never report a clean end after it.
    failed: bool,
    progress: Reporter<'a>,
}

impl<'a> ChunkReader<'a> {
    /// Reads the chunks `decode_chunks` sends on `rx`, handing their buffers
    /// back on `recycle`; `read` counts the input bytes for `progress`.
    fn new(
        rx: Receiver<io::Result<Chunk>>,
        recycle: Sender<Vec<u8>>,
        window: &Rc<RefCell<Window>>,
        read: &'a AtomicU64,
        progress: &'a dyn Progress,
    ) -> Self {
        Self {
            rx,
            recycle,
            window: Rc::clone(window),
            failed: false,
            progress: Reporter {
                read,
                reported: 0,
                progress,
            },
        }
    }
}

/// Hands the input bytes the decoding thread has read to the progress bar.
struct Reporter<'a> {
    read: &'a AtomicU64,
    reported: u64,
    progress: &'a dyn Progress,
}

impl Reporter<'_> {
    fn report(&mut self) {
        let read = self.read.load(Ordering::Relaxed);
        if read > self.reported {
            self.progress.advance(read - self.reported);
            self.reported = read;
        }
    }
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut w = self.window.borrow_mut();
        loop {
            if let Some(c) = &w.cur {
                let left = &c.data[w.pos..c.len];
                if !left.is_empty() {
                    let n = left.len().min(buf.len());
                    buf[..n].copy_from_slice(&left[..n]);
                    w.pos += n;
                    return Ok(n);
                }
            }
            if self.failed {
                return Err(io::Error::other("the archive could not be read"));
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    if let Some(old) = w.cur.replace(chunk) {
                        let _ = self.recycle.send(old.data);
                    }
                    w.pos = 0;
                    self.progress.report();
                }
                Ok(Err(e)) => {
                    self.failed = true;
                    self.progress.report();
                    return Err(e);
                }
                Err(_) => {
                    self.progress.report();
                    return Ok(0);
                }
            }
        }
    }
}

/// Extension records that apply to the next real entry of a raw tar stream
/// (GNU long names, pax headers).
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

/// A path from header bytes, up to the first NUL.
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
pub fn import<R: Read + Send>(
    input: R,
    layer: &Path,
    allow_plain: bool,
    progress: &dyn Progress,
) -> Result<ImportSummary, ArchiveError> {
    let read = AtomicU64::new(0);
    let decoded = decompressor(CountingReader {
        inner: input,
        count: &read,
    })?;
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel(DEPTH);
        let (recycle, recycled) = channel();
        let worker = s.spawn(move || decode_chunks(decoded, &tx, &recycled));
        let window = Rc::new(RefCell::new(Window::default()));
        let reader = ChunkReader::new(rx, recycle, &window, &read, progress);
        // Returns having dropped the reader, which stops the worker.
        let result = extract_stream(reader, &window, layer, allow_plain);
        let joined = worker.join();
        match (result, joined) {
            (Ok(_), Err(_)) => Err(ArchiveError::Read(io::Error::other(
                "the decompression thread panicked",
            ))),
            (result, _) => result,
        }
    })
}

/// Extracts the tar stream `reader` delivers; `window` is the reader's, for
/// the checksum.
fn extract_stream(
    reader: ChunkReader<'_>,
    window: &RefCell<Window>,
    layer: &Path,
    allow_plain: bool,
) -> Result<ImportSummary, ArchiveError> {
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
                let hashed = entry.raw_header_position();
                let digest = {
                    let w = window.borrow();
                    // The reader stands right after this header, so the
                    // digest covers exactly the bytes before it.
                    if w.consumed().checked_sub(BLOCK as u64) != Some(hashed) {
                        return Err(bad(&shown, "checksum entry is not a plain tar header"));
                    }
                    w.digest_before(hashed)
                        .ok_or_else(|| bad(&shown, "checksum entry is not a plain tar header"))?
                };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    /// Deterministic bytes that don't repeat with any short period.
    fn stream(len: usize) -> Vec<u8> {
        let mut x = 0x9e37_79b9_u32;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect()
    }

    fn sha(data: &[u8]) -> String {
        hex(&Sha256::digest(data))
    }

    /// Runs `decode_chunks` on `input` and hands the reader to `body`.
    fn with_reader<R: Read + Send>(input: R, body: impl FnOnce(ChunkReader<'_>, &RefCell<Window>)) {
        let read = AtomicU64::new(0);
        std::thread::scope(|s| {
            let (tx, rx) = sync_channel(DEPTH);
            let (recycle, recycled) = channel();
            s.spawn(move || decode_chunks(input, &tx, &recycled));
            let window = Rc::new(RefCell::new(Window::default()));
            let reader = ChunkReader::new(rx, recycle, &window, &read, &NoProgress);
            body(reader, &window);
        });
    }

    #[test]
    fn chunks_deliver_the_stream_and_the_digest_of_any_recent_prefix() {
        let data = stream(2 * CHUNK + 5000);
        with_reader(&data[..], |mut r, window| {
            let mut got = Vec::new();
            let mut buf = [0u8; BLOCK];
            loop {
                let n = r.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let at = got.len() as u64;
                let w = window.borrow();
                assert_eq!(w.consumed(), at);
                // Header-sized steps around the chunk boundaries, as the
                // checksum check uses them.
                let near = |b: u64| at + 2 * BLOCK as u64 >= b && at <= b + 2 * BLOCK as u64;
                if near(CHUNK as u64) || near(2 * CHUNK as u64) || at == data.len() as u64 {
                    let before = at - BLOCK as u64;
                    let pos = usize::try_from(before).expect("usize");
                    assert_eq!(w.digest_before(before), Some(sha(&data[..pos])), "at {at}");
                }
            }
            assert!(got == data, "the stream came through changed");
            let w = window.borrow();
            assert_eq!(
                w.digest_before(2 * CHUNK as u64 - 1),
                None,
                "older chunks are not kept"
            );
        });
    }

    /// Fails after `ok` bytes.
    struct Failing<'d> {
        data: &'d [u8],
        ok: usize,
    }

    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.ok).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.ok -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_comes_after_the_bytes_before_it_and_stays() {
        let data = stream(CHUNK + 1000);
        let input = Failing {
            data: &data,
            ok: CHUNK + 700,
        };
        with_reader(input, |mut r, _| {
            let mut got = Vec::new();
            let err = r.read_to_end(&mut got).expect_err("must fail");
            assert_eq!(err.to_string(), "disk on fire");
            assert_eq!(got.len(), CHUNK + 700);
            let mut buf = [0u8; 16];
            assert!(r.read(&mut buf).is_err(), "no clean end after an error");
        });
    }

    /// An `.xdockerimage` tar (uncompressed) whose checksum entry starts at
    /// byte `at` of the stream; `corrupt` flips a content byte after the
    /// checksum was computed.
    fn archive_with_checksum_at(at: usize, corrupt: bool) -> Vec<u8> {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        let entry = |path: &str, size: usize| {
            let mut h = Header::new_ustar();
            h.set_entry_type(EntryType::Regular);
            h.set_path(path).expect("path");
            h.set_mode(0o644);
            h.set_uid(u64::from(uid));
            h.set_gid(u64::from(gid));
            h.set_size(size as u64);
            h.set_cksum();
            h
        };
        let padded = |n: usize| n.div_ceil(BLOCK) * BLOCK;
        let manifest = ArchiveManifest {
            format: FORMAT,
            name: "t".to_string(),
            version: "1".to_string(),
            created: "2024-01-01T00:00:00+00:00".to_string(),
            base_layers: Vec::new(),
            size: 0,
            config: Default::default(),
        };
        let append = |tar: &mut Vec<u8>, h: &Header, data: &[u8]| {
            tar.extend_from_slice(h.as_bytes());
            tar.extend_from_slice(data);
            tar.resize(padded(tar.len()), 0);
        };
        let text = toml::to_string(&manifest).expect("toml");
        let mut tar = Vec::new();
        append(
            &mut tar,
            &entry(MANIFEST_ENTRY, text.len()),
            text.as_bytes(),
        );
        let size = at - 2 * BLOCK - padded(text.len());
        append(&mut tar, &entry("rlayer/f", size), &stream(size));
        assert_eq!(tar.len(), at);
        let checksum = ArchiveChecksum {
            sha256: sha(&tar),
            bytes: at as u64,
        };
        if corrupt {
            tar[at - 1] ^= 1;
        }
        let text = toml::to_string(&checksum).expect("toml");
        append(
            &mut tar,
            &entry(CHECKSUM_ENTRY, text.len()),
            text.as_bytes(),
        );
        tar.resize(tar.len() + 2 * BLOCK, 0);
        tar
    }

    #[test]
    fn the_checksum_is_checked_wherever_its_header_falls() {
        for at in [
            4 * BLOCK,
            CHUNK - BLOCK,
            CHUNK,
            CHUNK + BLOCK,
            2 * CHUNK - BLOCK,
        ] {
            let t = tempfile::tempdir().expect("tempdir");
            let layer = t.path().join("layer");
            fs::create_dir(&layer).expect("mkdir");
            let data = archive_with_checksum_at(at, false);
            let summary = import(&data[..], &layer, false, &NoProgress)
                .unwrap_or_else(|e| panic!("checksum at {at}: {e}"));
            assert_eq!(summary.entries, 1);
            let len = fs::metadata(layer.join("f")).expect("stat").len();
            assert_eq!(summary.bytes, len);

            let t = tempfile::tempdir().expect("tempdir");
            let layer = t.path().join("layer");
            fs::create_dir(&layer).expect("mkdir");
            let data = archive_with_checksum_at(at, true);
            match import(&data[..], &layer, false, &NoProgress) {
                Err(ArchiveError::Checksum { .. }) => {}
                other => panic!("corrupt, checksum at {at}: {other:?}"),
            }
        }
    }
}
