//! Files of a running container, read and written from the host without
//! ever leaving the container's root. The container is hostile ground: any
//! path in it may be, or become at any moment, a symlink to `/`, to
//! `/etc/shadow` or to `../../..`. cocker's putfile/getfile/rplfile joined
//! the container path onto its root directory and let the host resolve it,
//! so a symlink planted in the container read or wrote host files (the same
//! class as CVE-2019-14271, `docker cp`, and CVE-2018-15664).
//!
//! Here every container path is resolved by the kernel with `openat2(2)`
//! and `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` on a descriptor of the
//! container's root: absolute symlinks and `..` stay inside it, and
//! `/proc/N/root`-style magic links are refused. Everything after that is
//! done with `*at` calls on directory descriptors, one name at a time:
//! `O_NOFOLLOW` opens, `O_EXCL` creates, `renameat` replacements. Inside a
//! tree being copied, symlinks are copied as symlinks and never followed.
//!
//! The host side of a copy is trusted (the administrator names it), but is
//! written the same way, so nothing read from the container can redirect a
//! write on the host either.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::fcntl::{self, AtFlags, OFlag, OpenHow, RenameFlags, ResolveFlag};
use nix::sys::stat::{self, FileStat, Mode, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{self, Gid, Uid, UnlinkatFlags};

use xdockerinit::sys::{open, openat, openat2, ErrnoText};

use super::copy::CopyStats;
use crate::container::subids::IdShift;

/// Symlinks followed on the way to one path, as the kernel allows (MAXSYMLINKS).
const MAX_LINKS: usize = 40;
/// Directory levels a copy descends. Each level holds two or three
/// descriptors, so this stays well below the usual limit of 1024.
pub const MAX_DEPTH: usize = 200;

/// Which side of the copy a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Container,
    Host,
}

/// A path as messages show it: container paths as they are (the message
/// names the container), host paths with `host ` before them.
struct Shown<'a>(&'a Side, &'a Path);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Side::Container => write!(f, "{}", self.1.display()),
            Side::Host => write!(f, "host {}", self.1.display()),
        }
    }
}

/// Errors of working on container files; each names the path and the reason.
#[derive(Debug, thiserror::Error)]
pub enum InRootError {
    #[error("{op} {}: {}", Shown(.side, .path), ErrnoText(*.errno))]
    Sys {
        op: &'static str,
        side: Side,
        path: PathBuf,
        errno: Errno,
    },
    #[error("{}: {reason}", Shown(.side, .path))]
    Refused {
        side: Side,
        path: PathBuf,
        reason: String,
    },
}

impl InRootError {
    /// The errno of a failed system call, if that is what this is.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            InRootError::Sys { errno, .. } => Some(*errno),
            InRootError::Refused { .. } => None,
        }
    }
}

fn sys<'a>(op: &'static str, side: Side, path: &'a Path) -> impl FnOnce(Errno) -> InRootError + 'a {
    move |errno| InRootError::Sys {
        op,
        side,
        path: path.to_path_buf(),
        errno,
    }
}

fn refused(side: Side, path: &Path, reason: impl Into<String>) -> InRootError {
    InRootError::Refused {
        side,
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn errno_of(e: &io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

fn fstat_fd(fd: BorrowedFd<'_>) -> nix::Result<FileStat> {
    stat::fstat(fd.as_raw_fd())
}

fn kind(st: &FileStat) -> libc::mode_t {
    st.st_mode & libc::S_IFMT
}

fn is_dir(st: &FileStat) -> bool {
    kind(st) == libc::S_IFDIR
}

fn kind_name(st: &FileStat) -> &'static str {
    match kind(st) {
        libc::S_IFREG => "regular file",
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "symlink",
        libc::S_IFCHR => "character device",
        libc::S_IFBLK => "block device",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "file of unknown type",
    }
}

/// The last component of a path when it is a name (not `/`, `.` or `..`).
fn last_name(path: &Path) -> Option<OsString> {
    match path.components().next_back() {
        Some(Component::Normal(n)) => Some(n.to_os_string()),
        _ => None,
    }
}

/// A path relative to the root for openat2 (absolute paths would also be
/// taken relative to the root with RESOLVE_IN_ROOT; this keeps it explicit).
fn relative(path: &Path) -> &Path {
    let rel = path.strip_prefix("/").unwrap_or(path);
    if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    }
}

/// Opens one directory entry `name` of `dir` as a directory: never a
/// symlink (O_NOFOLLOW), never anything but a directory (O_DIRECTORY is
/// checked before the open, so no device is ever opened).
fn open_child_dir(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<OwnedFd> {
    debug_assert!(!name.as_bytes().contains(&b'/'));
    openat(
        dir.as_fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<Option<FileStat>> {
    match stat::fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// chown that tolerates a destination that cannot hold the owner (a volume
/// on a filesystem without owners, an unmapped id): owners are kept "when
/// the destination allows".
fn tolerate_chown(r: nix::Result<()>) -> nix::Result<()> {
    match r {
        Err(Errno::EPERM | Errno::EINVAL | Errno::EOPNOTSUPP) => Ok(()),
        other => other,
    }
}

static TEMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh hidden name for a temporary entry in a directory.
fn temp_name() -> OsString {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    OsString::from(format!(
        ".xdocker-tmp.{}.{n}.{nanos:08x}",
        std::process::id()
    ))
}

/// Creates a new file `name` in `dir` (never an existing name, never
/// through a symlink), owner-only until its metadata is set.
fn create_excl(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<File> {
    openat(
        dir.as_fd(),
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map(File::from)
}

/// Creates a temporary file in `dir`: its name and the open file.
fn create_temp(dir: BorrowedFd<'_>) -> nix::Result<(OsString, File)> {
    for _ in 0..100 {
        let name = temp_name();
        match create_excl(dir, &name) {
            Ok(f) => return Ok((name, f)),
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Errno::EEXIST)
}

/// Removes `name` in `dir` and everything below it, by descriptor, never
/// following a symlink. Best effort: it cleans up after a failed copy.
fn remove_tree_at(dir: BorrowedFd<'_>, name: &OsStr, depth: usize) {
    match unistd::unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir) {
        Err(Errno::EISDIR) if depth < MAX_DEPTH + 8 => {}
        _ => return,
    }
    if let Ok(sub) = open_child_dir(dir, name) {
        for child in list_dir(sub.as_fd()).unwrap_or_default() {
            remove_tree_at(sub.as_fd(), &child, depth + 1);
        }
    }
    let _ = unistd::unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::RemoveDir);
}

/// The names in a directory (without `.` and `..`), sorted. The listing is
/// read through the descriptor's /proc magic link, which leads to exactly
/// that directory (nix's `dir` feature is not enabled in this workspace).
fn list_dir(dir: BorrowedFd<'_>) -> nix::Result<Vec<OsString>> {
    let path = format!("/proc/self/fd/{}", dir.as_raw_fd());
    let io_err = |e: io::Error| errno_of(&e);
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io_err)? {
        names.push(entry.map_err(io_err)?.file_name());
    }
    names.sort();
    Ok(names)
}

/// Opens for reading the very file an `O_PATH` descriptor refers to, which
/// must be a regular file (checked on the descriptor first, so a fifo or a
/// device is never opened).
fn reopen_file(fd: BorrowedFd<'_>, st: &FileStat) -> nix::Result<File> {
    if kind(st) != libc::S_IFREG {
        return Err(Errno::EINVAL);
    }
    // The /proc magic link leads to exactly the file the descriptor holds.
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let file = open(
        path.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .map(File::from)?;
    let now = fstat_fd(file.as_fd())?;
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) || kind(&now) != libc::S_IFREG {
        return Err(Errno::ESTALE);
    }
    Ok(file)
}

/// A container's root directory, the anchor of every container path.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    /// A root from an open directory descriptor.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self { fd }
    }

    /// The root directory of process `pid` as `proc` (normally `/proc`)
    /// shows it. `/proc/PID` is opened first and `still_running` asked
    /// after that: if it says the recorded process still runs, the open
    /// directory is that process's (a directory of an exited process stays
    /// empty, whoever gets the PID next), so its `root` is the container's.
    pub fn of_process(
        proc: &Path,
        pid: i32,
        still_running: impl FnOnce() -> bool,
    ) -> Result<Self, InRootError> {
        let dir_path = proc.join(pid.to_string());
        let dir = open(
            &dir_path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(sys("open", Side::Host, &dir_path))?;
        if !still_running() {
            return Err(sys("open", Side::Host, &dir_path)(Errno::ESRCH));
        }
        let root_path = dir_path.join("root");
        // `root` is a magic link to the process's root: followed on purpose.
        let fd = openat(
            dir.as_fd(),
            "root",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(sys("open", Side::Host, &root_path))?;
        Ok(Self { fd })
    }

    /// Opens `path` resolved inside the root: every symlink on the way,
    /// the last one included, is resolved as the container sees it, `..`
    /// never climbs above the root, magic links are refused.
    pub fn resolve(&self, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        // EAGAIN: a rename raced with a `..` step; the kernel asks to retry.
        let mut result = Err(Errno::EAGAIN);
        for _ in 0..64 {
            result = openat2(self.fd.as_fd(), relative(path), how);
            if !matches!(result, Err(Errno::EAGAIN)) {
                break;
            }
        }
        result
    }

    /// Where `path` is or would be created: its directory (resolved inside
    /// the root) and its name there. A final symlink is followed, inside the
    /// root, like `cp` writes through one, so `name` is never a symlink when
    /// the spot was found.
    pub fn locate(&self, path: &Path) -> Result<Spot, InRootError> {
        let side = Side::Container;
        let mut text = path.to_path_buf();
        for _ in 0..=MAX_LINKS {
            let shown = if text == path {
                path.to_path_buf()
            } else {
                PathBuf::from(format!("{} -> {}", path.display(), text.display()))
            };
            let Some(name) = last_name(&text) else {
                let dir = self
                    .resolve(&text, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                    .map_err(sys("open directory", side, &shown))?;
                let st = fstat_fd(dir.as_fd()).map_err(sys("stat", side, &shown))?;
                return Ok(Spot {
                    dir,
                    name: None,
                    stat: Some(st),
                    shown,
                    side,
                });
            };
            let parent = text.parent().unwrap_or(Path::new("/")).to_path_buf();
            let dir = self
                .resolve(&parent, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                .map_err(sys("open directory of", side, &shown))?;
            match lstat_at(dir.as_fd(), &name).map_err(sys("stat", side, &shown))? {
                Some(st) if kind(&st) == libc::S_IFLNK => {
                    let target = fcntl::readlinkat(Some(dir.as_raw_fd()), name.as_os_str())
                        .map_err(sys("read link", side, &shown))?;
                    // Relative targets are relative to the link's directory,
                    // which is what resolving `parent` gives again.
                    text = parent.join(target);
                }
                stat => {
                    return Ok(Spot {
                        dir,
                        name: Some(name),
                        stat,
                        shown,
                        side,
                    })
                }
            }
        }
        Err(sys("resolve", side, path)(Errno::ELOOP))
    }

    /// Reads a regular file of the container (symlinks resolved inside
    /// the root), at most `limit` bytes: its content and its metadata.
    pub fn read_file(&self, path: &Path, limit: u64) -> Result<(Vec<u8>, FileStat), InRootError> {
        let src = Source::in_root(self, path)?;
        if kind(&src.st) != libc::S_IFREG {
            return Err(refused(
                src.side,
                path,
                format!("is a {}, not a regular file", kind_name(&src.st)),
            ));
        }
        let file = reopen_file(src.fd.as_fd(), &src.st).map_err(sys("open", src.side, path))?;
        let mut data = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut data)
            .map_err(|e| sys("read", src.side, path)(errno_of(&e)))?;
        if data.len() as u64 > limit {
            return Err(refused(
                src.side,
                path,
                format!("is larger than {limit} bytes"),
            ));
        }
        Ok((data, src.st))
    }
}

/// What is copied: an `O_PATH` descriptor on it (nothing is opened for
/// reading before its type is known), its metadata, its name.
#[derive(Debug)]
pub struct Source {
    fd: OwnedFd,
    st: FileStat,
    /// The last name of the path given, used inside a destination directory.
    name: Option<OsString>,
    shown: PathBuf,
    side: Side,
}

impl Source {
    /// A container path, resolved inside the root (a final symlink too: a
    /// link `/root/evil -> /etc/shadow` gives the container's shadow file).
    pub fn in_root(root: &Root, path: &Path) -> Result<Self, InRootError> {
        let side = Side::Container;
        let fd = root
            .resolve(path, OFlag::O_PATH)
            .map_err(sys("open", side, path))?;
        Self::new(fd, path, side)
    }

    /// A host path, resolved as any host tool would (trusted).
    pub fn on_host(path: &Path) -> Result<Self, InRootError> {
        let side = Side::Host;
        let fd = open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(sys("open", side, path))?;
        Self::new(fd, path, side)
    }

    fn new(fd: OwnedFd, path: &Path, side: Side) -> Result<Self, InRootError> {
        let st = fstat_fd(fd.as_fd()).map_err(sys("stat", side, path))?;
        Ok(Self {
            fd,
            st,
            name: last_name(path),
            shown: path.to_path_buf(),
            side,
        })
    }

    /// The source's metadata.
    pub fn stat(&self) -> &FileStat {
        &self.st
    }
}

/// Where something is written: a directory descriptor and a name in it
/// (`None` when the path names a directory itself, like `/` or `x/..`).
#[derive(Debug)]
pub struct Spot {
    dir: OwnedFd,
    name: Option<OsString>,
    /// What is there now (never a symlink when found by [`Root::locate`]).
    stat: Option<FileStat>,
    shown: PathBuf,
    side: Side,
}

impl Spot {
    /// A host path, resolved as any host tool would (trusted): an existing
    /// directory is the spot itself, an existing file is found through
    /// its symlinks, a new name is made in its (existing) directory.
    pub fn on_host(path: &Path) -> Result<Self, InRootError> {
        let side = Side::Host;
        let open_dir = |p: &Path| {
            let p = if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            };
            open(
                p,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
        };
        let real = match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                let dir = open_dir(path).map_err(sys("open directory", side, path))?;
                let st = fstat_fd(dir.as_fd()).map_err(sys("stat", side, path))?;
                return Ok(Self {
                    dir,
                    name: None,
                    stat: Some(st),
                    shown: path.to_path_buf(),
                    side,
                });
            }
            Ok(_) => {
                std::fs::canonicalize(path).map_err(|e| sys("resolve", side, path)(errno_of(&e)))?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_path_buf(),
            Err(e) => return Err(sys("stat", side, path)(errno_of(&e))),
        };
        let Some(name) = last_name(&real) else {
            return Err(sys("open", side, path)(Errno::ENOENT));
        };
        let parent = real.parent().unwrap_or(Path::new("/"));
        let dir = open_dir(parent).map_err(sys("open directory of", side, path))?;
        let stat = lstat_at(dir.as_fd(), &name).map_err(sys("stat", side, path))?;
        Ok(Self {
            dir,
            name: Some(name),
            stat,
            shown: path.to_path_buf(),
            side,
        })
    }

    /// What is at the spot now, if anything.
    pub fn stat(&self) -> Option<&FileStat> {
        self.stat.as_ref()
    }

    /// Replaces (or creates) the file at the spot with `data` atomically:
    /// a temporary file in the same directory, owner, mode, fsync, then
    /// renamed over the name, and the directory synced. Refuses to replace
    /// a directory.
    pub fn replace_file(
        &self,
        data: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<(), InRootError> {
        let (side, shown) = (self.side, self.shown.as_path());
        let Some(name) = &self.name else {
            return Err(refused(side, shown, "is a directory"));
        };
        if let Some(st) = &self.stat {
            if is_dir(st) {
                return Err(refused(side, shown, "is a directory"));
            }
        }
        let dir = self.dir.as_fd();
        let (tmp, mut file) =
            create_temp(dir).map_err(sys("create a temporary file for", side, shown))?;
        let result = (|| {
            file.write_all(data)
                .map_err(|e| sys("write", side, shown)(errno_of(&e)))?;
            tolerate_chown(unistd::fchown(
                file.as_raw_fd(),
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
            ))
            .map_err(sys("chown", side, shown))?;
            stat::fchmod(file.as_raw_fd(), Mode::from_bits_truncate(mode & 0o7777))
                .map_err(sys("chmod", side, shown))?;
            file.sync_all()
                .map_err(|e| sys("fsync", side, shown)(errno_of(&e)))?;
            fcntl::renameat(
                Some(dir.as_raw_fd()),
                tmp.as_os_str(),
                Some(dir.as_raw_fd()),
                name.as_os_str(),
            )
            .map_err(sys("rename into place", side, shown))
        })();
        if result.is_err() {
            let _ = unistd::unlinkat(
                Some(dir.as_raw_fd()),
                tmp.as_os_str(),
                UnlinkatFlags::NoRemoveDir,
            );
            return result;
        }
        unistd::fsync(dir.as_raw_fd()).map_err(sys("fsync directory of", side, shown))
    }
}

/// Which way a copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// putfile: host -> container.
    IntoContainer,
    /// getfile: container -> host.
    OutOfContainer,
}

/// Copies `src` to `dst` like `cp -r` keeping modes, owners and times:
///
/// * `dst` an existing directory: the copy is made inside it under the
///   source's name;
/// * a file replaces an existing file atomically (temporary + rename);
/// * a new directory is built under a temporary name and renamed into
///   place when complete (a failed copy leaves nothing behind);
/// * a directory onto an existing directory merges into it, each file
///   replaced atomically, existing directories keeping their metadata;
/// * symlinks inside the tree are copied as symlinks, verbatim;
/// * device nodes, fifos and sockets are refused (on either side), as is a
///   directory onto a file or a file onto a directory;
/// * hard links are copied as separate files, xattrs are not copied;
/// * out of a container, setuid and setgid bits of files are dropped: a
///   container must not hand the host a setuid-root program.
///
/// `ids` maps owners across a container's user namespace (`--userns`):
/// root's files put into it are owned by its root, and its root's files
/// taken out of it by host root.
pub fn copy(
    src: &Source,
    dst: &Spot,
    direction: Direction,
    ids: IdShift,
) -> Result<CopyStats, InRootError> {
    let mut c = Copier {
        stats: CopyStats::default(),
        direction,
        ids,
        dst_side: dst.side,
        src_side: src.side,
        dst_root: None,
        depth: 0,
    };
    let into_dir = match (&dst.name, &dst.stat) {
        (None, _) => true,
        (Some(_), Some(st)) => is_dir(st),
        (Some(_), None) => false,
    };
    if into_dir {
        let Some(name) = &src.name else {
            return Err(refused(
                src.side,
                &src.shown,
                format!(
                    "has no name to create inside {}; give the full destination path",
                    Shown(&dst.side, &dst.shown)
                ),
            ));
        };
        let inside = match &dst.name {
            None => dst
                .dir
                .try_clone()
                .map_err(|e| sys("open", dst.side, &dst.shown)(errno_of(&e)))?,
            Some(n) => open_child_dir(dst.dir.as_fd(), n).map_err(sys(
                "open directory",
                dst.side,
                &dst.shown,
            ))?,
        };
        let dpath = dst.shown.join(name);
        c.put(
            &src.fd,
            &src.st,
            &src.shown,
            inside.as_fd(),
            name,
            &dpath,
            false,
        )?;
    } else {
        let Some(name) = &dst.name else {
            return Err(refused(dst.side, &dst.shown, "is not a directory"));
        };
        c.put(
            &src.fd,
            &src.st,
            &src.shown,
            dst.dir.as_fd(),
            name,
            &dst.shown,
            false,
        )?;
    }
    Ok(c.stats)
}

struct Copier {
    stats: CopyStats,
    direction: Direction,
    ids: IdShift,
    src_side: Side,
    dst_side: Side,
    /// (dev, ino) of the topmost directory written, to stop a copy into itself.
    dst_root: Option<(u64, u64)>,
    depth: usize,
}

impl Copier {
    /// Puts the entry `src` (an O_PATH descriptor) at `dir`/`name`.
    /// `fresh`: `dir` was made by this copy, so `name` cannot exist yet.
    #[allow(clippy::too_many_arguments)]
    fn put(
        &mut self,
        src: &OwnedFd,
        st: &FileStat,
        spath: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        dpath: &Path,
        fresh: bool,
    ) -> Result<(), InRootError> {
        match kind(st) {
            libc::S_IFREG => self.put_file(src, st, spath, dir, name, dpath, fresh),
            libc::S_IFLNK => self.put_link(src, st, spath, dir, name, dpath, fresh),
            libc::S_IFDIR => self.put_dir(src, st, spath, dir, name, dpath, fresh),
            _ => Err(refused(
                self.src_side,
                spath,
                format!(
                    "is a {}; only files, directories and symlinks are copied",
                    kind_name(st)
                ),
            )),
        }
    }

    /// What is at `dir`/`name` now, for a copy onto it.
    fn existing(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        dpath: &Path,
    ) -> Result<Option<FileStat>, InRootError> {
        lstat_at(dir, name).map_err(sys("stat", self.dst_side, dpath))
    }

    fn mode_of(&self, st: &FileStat) -> Mode {
        let mut mode = st.st_mode & 0o7777;
        if self.direction == Direction::OutOfContainer && kind(st) == libc::S_IFREG {
            mode &= !(libc::S_ISUID | libc::S_ISGID);
        }
        Mode::from_bits_truncate(mode)
    }

    /// The owner of the copy of a file owned as `st` says.
    fn owner(&self, st: &FileStat) -> (Option<Uid>, Option<Gid>) {
        let ids = (st.st_uid, st.st_gid);
        let (uid, gid) = match self.direction {
            Direction::IntoContainer => self.ids.into_container(ids),
            Direction::OutOfContainer => self.ids.out_of_container(ids),
        };
        (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
    }

    /// Owner, then mode (chown clears setuid), then times, on an open file
    /// or directory.
    fn set_meta(&self, fd: BorrowedFd<'_>, st: &FileStat, dpath: &Path) -> Result<(), InRootError> {
        let side = self.dst_side;
        let (uid, gid) = self.owner(st);
        tolerate_chown(unistd::fchown(fd.as_raw_fd(), uid, gid))
            .map_err(sys("chown", side, dpath))?;
        stat::fchmod(fd.as_raw_fd(), self.mode_of(st)).map_err(sys("chmod", side, dpath))?;
        let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
        let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
        stat::futimens(fd.as_raw_fd(), &atime, &mtime).map_err(sys("set times of", side, dpath))
    }

    #[allow(clippy::too_many_arguments)]
    fn put_file(
        &mut self,
        src: &OwnedFd,
        st: &FileStat,
        spath: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        dpath: &Path,
        fresh: bool,
    ) -> Result<(), InRootError> {
        let side = self.dst_side;
        if side == Side::Host {
            // A container's file may not fill the host's disk: what it
            // really holds (its holes stay holes) must fit in what is free.
            let need = u64::try_from(st.st_blocks).unwrap_or(0).saturating_mul(512);
            let free = nix::sys::statvfs::fstatvfs(dir)
                .map(|v| v.blocks_available().saturating_mul(v.fragment_size()))
                .map_err(sys("check free space for", side, dpath))?;
            if need > free {
                return Err(refused(
                    side,
                    dpath,
                    format!(
                        "needs {need} bytes of disk and only {free} are free on the host's file \
                         system"
                    ),
                ));
            }
        }
        let mut from = reopen_file(src.as_fd(), st).map_err(sys("open", self.src_side, spath))?;
        let mut write = |this: &mut Self, to: &mut File, sync: bool| -> Result<(), InRootError> {
            let n = crate::fsutil::sparse::copy(&mut from, to).map_err(|e| InRootError::Sys {
                op: "copy data to",
                side,
                path: dpath.to_path_buf(),
                errno: errno_of(&e),
            })?;
            this.set_meta(to.as_fd(), st, dpath)?;
            if sync {
                to.sync_all()
                    .map_err(|e| sys("fsync", side, dpath)(errno_of(&e)))?;
            }
            this.stats.bytes += n;
            this.stats.files += 1;
            Ok(())
        };
        if fresh {
            let mut to = create_excl(dir, name).map_err(sys("create", side, dpath))?;
            return write(self, &mut to, false);
        }
        if let Some(old) = self.existing(dir, name, dpath)? {
            if is_dir(&old) {
                return Err(refused(
                    side,
                    dpath,
                    "is a directory; a file cannot replace it",
                ));
            }
        }
        let (tmp, mut to) =
            create_temp(dir).map_err(sys("create a temporary file for", side, dpath))?;
        let result = write(self, &mut to, true).and_then(|()| {
            fcntl::renameat(
                Some(dir.as_raw_fd()),
                tmp.as_os_str(),
                Some(dir.as_raw_fd()),
                name,
            )
            .map_err(sys("rename into place", side, dpath))
        });
        if result.is_err() {
            let _ = unistd::unlinkat(
                Some(dir.as_raw_fd()),
                tmp.as_os_str(),
                UnlinkatFlags::NoRemoveDir,
            );
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn put_link(
        &mut self,
        src: &OwnedFd,
        st: &FileStat,
        spath: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        dpath: &Path,
        fresh: bool,
    ) -> Result<(), InRootError> {
        let side = self.dst_side;
        // readlinkat on the O_PATH descriptor of the link itself, empty name.
        let target = fcntl::readlinkat(Some(src.as_raw_fd()), "").map_err(sys(
            "read link",
            self.src_side,
            spath,
        ))?;
        let make = |at: &OsStr| -> Result<(), InRootError> {
            unistd::symlinkat(target.as_os_str(), Some(dir.as_raw_fd()), at).map_err(sys(
                "create symlink",
                side,
                dpath,
            ))?;
            let (uid, gid) = self.owner(st);
            tolerate_chown(unistd::fchownat(
                Some(dir.as_raw_fd()),
                at,
                uid,
                gid,
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ))
            .map_err(sys("chown", side, dpath))?;
            let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
            let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
            stat::utimensat(
                Some(dir.as_raw_fd()),
                at,
                &atime,
                &mtime,
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(sys("set times of", side, dpath))
        };
        if fresh {
            make(name)?;
        } else {
            if let Some(old) = self.existing(dir, name, dpath)? {
                if is_dir(&old) {
                    return Err(refused(
                        side,
                        dpath,
                        "is a directory; a symlink cannot replace it",
                    ));
                }
            }
            let tmp = temp_name();
            let result = make(&tmp).and_then(|()| {
                fcntl::renameat(
                    Some(dir.as_raw_fd()),
                    tmp.as_os_str(),
                    Some(dir.as_raw_fd()),
                    name,
                )
                .map_err(sys("rename into place", side, dpath))
            });
            if result.is_err() {
                let _ = unistd::unlinkat(
                    Some(dir.as_raw_fd()),
                    tmp.as_os_str(),
                    UnlinkatFlags::NoRemoveDir,
                );
                return result;
            }
        }
        self.stats.symlinks += 1;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn put_dir(
        &mut self,
        src: &OwnedFd,
        st: &FileStat,
        spath: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        dpath: &Path,
        fresh: bool,
    ) -> Result<(), InRootError> {
        let side = self.dst_side;
        if self.dst_root == Some((st.st_dev, st.st_ino)) {
            return Err(refused(
                side,
                dpath,
                format!("is inside the source {}", Shown(&self.src_side, spath)),
            ));
        }
        if self.depth >= MAX_DEPTH {
            return Err(refused(
                self.src_side,
                spath,
                format!("is more than {MAX_DEPTH} directories deep"),
            ));
        }
        if fresh {
            stat::mkdirat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(0o700))
                .map_err(sys("create directory", side, dpath))?;
            let made = open_child_dir(dir, name).map_err(sys("open directory", side, dpath))?;
            self.fill(src, spath, &made, dpath, true)?;
            self.set_meta(made.as_fd(), st, dpath)?;
            self.stats.dirs += 1;
            return Ok(());
        }
        match self.existing(dir, name, dpath)? {
            Some(old) if is_dir(&old) => {
                // Merge, like `cp -r` into an existing directory: it keeps
                // its own owner and mode.
                let there =
                    open_child_dir(dir, name).map_err(sys("open directory", side, dpath))?;
                self.mark_root(&there, dpath)?;
                self.fill(src, spath, &there, dpath, false)
            }
            Some(old) => Err(refused(
                side,
                dpath,
                format!("is a {}; a directory cannot replace it", kind_name(&old)),
            )),
            None => {
                // Built under a temporary name, renamed into place complete.
                let tmp = temp_name();
                stat::mkdirat(
                    Some(dir.as_raw_fd()),
                    tmp.as_os_str(),
                    Mode::from_bits_truncate(0o700),
                )
                .map_err(sys("create directory", side, dpath))?;
                let result = (|| {
                    let made =
                        open_child_dir(dir, &tmp).map_err(sys("open directory", side, dpath))?;
                    self.mark_root(&made, dpath)?;
                    self.fill(src, spath, &made, dpath, true)?;
                    self.set_meta(made.as_fd(), st, dpath)?;
                    unistd::syncfs(made.as_raw_fd()).map_err(sys("sync", side, dpath))?;
                    fcntl::renameat2(
                        Some(dir.as_raw_fd()),
                        tmp.as_os_str(),
                        Some(dir.as_raw_fd()),
                        name,
                        RenameFlags::RENAME_NOREPLACE,
                    )
                    .map_err(sys("rename into place", side, dpath))?;
                    self.stats.dirs += 1;
                    Ok(())
                })();
                if result.is_err() {
                    remove_tree_at(dir, &tmp, 0);
                }
                result
            }
        }
    }

    fn mark_root(&mut self, dir: &OwnedFd, dpath: &Path) -> Result<(), InRootError> {
        if self.dst_root.is_none() {
            let st = fstat_fd(dir.as_fd()).map_err(sys("stat", self.dst_side, dpath))?;
            self.dst_root = Some((st.st_dev, st.st_ino));
        }
        Ok(())
    }

    /// Copies the entries of the source directory into `into`.
    fn fill(
        &mut self,
        src: &OwnedFd,
        spath: &Path,
        into: &OwnedFd,
        dpath: &Path,
        fresh: bool,
    ) -> Result<(), InRootError> {
        let names = list_dir(src.as_fd()).map_err(sys("read directory", self.src_side, spath))?;
        self.depth += 1;
        for name in names {
            let (sp, dp) = (spath.join(&name), dpath.join(&name));
            // O_PATH | O_NOFOLLOW: a symlink is opened as itself, nothing is
            // opened for reading before its type is known.
            let child = match openat(
                src.as_fd(),
                name.as_os_str(),
                OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => continue, // removed since the listing
                Err(e) => return Err(sys("open", self.src_side, &sp)(e)),
            };
            let st = fstat_fd(child.as_fd()).map_err(sys("stat", self.src_side, &sp))?;
            self.put(&child, &st, &sp, into.as_fd(), &name, &dp, fresh)?;
        }
        self.depth -= 1;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    fn root_of(dir: &Path) -> Root {
        let fd = open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        Root::from_fd(fd)
    }

    /// A fake container root with hostile links, next to a host "victim".
    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let host = tmp.path().join("host");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("data/sub")).unwrap();
        fs::create_dir_all(&host).unwrap();
        fs::write(root.join("etc/secret"), b"container secret").unwrap();
        fs::write(host.join("secret"), b"host secret").unwrap();
        fs::write(root.join("data/sub/f"), b"f").unwrap();
        symlink(host.join("secret"), root.join("abs")).unwrap();
        symlink("../../../../../../../../..", root.join("up")).unwrap();
        symlink(&host, root.join("hostdir")).unwrap();
        (tmp, root, host)
    }

    #[test]
    fn resolution_stays_in_the_root() {
        let (_tmp, root, host) = setup();
        let r = root_of(&root);
        // Absolute link to a host path: resolved in the root, where it is missing.
        let e = r.read_file(Path::new("/abs"), 1 << 20).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENOENT), "{e}");
        // `..` never climbs out.
        let (data, _) = r.read_file(Path::new("/up/etc/secret"), 1 << 20).unwrap();
        assert_eq!(data, b"container secret");
        let (data, _) = r
            .read_file(Path::new("../../../etc/secret"), 1 << 20)
            .unwrap();
        assert_eq!(data, b"container secret");
        // Once the host path exists in the root too, that one is used.
        let inside = root.join(host.strip_prefix("/").unwrap());
        fs::create_dir_all(&inside).unwrap();
        fs::write(inside.join("secret"), b"copy in the root").unwrap();
        let (data, _) = r.read_file(Path::new("/abs"), 1 << 20).unwrap();
        assert_eq!(data, b"copy in the root");
        assert_eq!(fs::read(host.join("secret")).unwrap(), b"host secret");
        let e = r.read_file(Path::new("/data"), 1 << 20).unwrap_err();
        assert!(
            e.to_string().contains("is a directory, not a regular file"),
            "{e}"
        );
        let e = r.read_file(Path::new("/data/sub/f"), 0).unwrap_err();
        assert!(e.to_string().contains("larger than 0 bytes"), "{e}");
    }

    #[test]
    fn locate_follows_final_links_inside_the_root() {
        let (_tmp, root, host) = setup();
        let r = root_of(&root);
        // /abs -> <host>/secret: its directory does not exist in the root.
        let e = r.locate(Path::new("/abs")).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENOENT), "{e}");
        assert!(e.to_string().contains("/abs -> "), "{e}");
        // Through an intermediate link to a host directory: same.
        let e = r.locate(Path::new("/hostdir/new")).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENOENT), "{e}");
        let spot = r.locate(Path::new("/up/etc/secret")).unwrap();
        spot.replace_file(b"new", 0o640, 0, 0).unwrap();
        assert_eq!(fs::read(root.join("etc/secret")).unwrap(), b"new");
        let m = fs::metadata(root.join("etc/secret")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(fs::read(host.join("secret")).unwrap(), b"host secret");
        let names: Vec<_> = fs::read_dir(root.join("etc")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
        // A loop of links.
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        let e = r.locate(Path::new("/loop1")).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ELOOP), "{e}");
        // `/` has no name: it is a directory spot.
        let spot = r.locate(Path::new("/")).unwrap();
        assert!(spot.name.is_none());
        assert!(spot.replace_file(b"x", 0o644, 0, 0).is_err());
    }

    #[test]
    fn copies_into_and_out_of_a_root() {
        let (tmp, root, host) = setup();
        let r = root_of(&root);
        let src = tmp.path().join("tree");
        fs::create_dir_all(src.join("a/b")).unwrap();
        fs::write(src.join("a/b/file"), b"deep").unwrap();
        fs::set_permissions(src.join("a/b/file"), fs::Permissions::from_mode(0o751)).unwrap();
        symlink("/", src.join("a/slash")).unwrap();
        fs::set_permissions(src.join("a"), fs::Permissions::from_mode(0o711)).unwrap();

        // Into the root: a new directory.
        let stats = copy(
            &Source::on_host(&src).unwrap(),
            &r.locate(Path::new("/data/tree")).unwrap(),
            Direction::IntoContainer,
            IdShift::default(),
        )
        .unwrap();
        assert_eq!((stats.files, stats.dirs, stats.symlinks), (1, 3, 1));
        let got = root.join("data/tree");
        assert_eq!(fs::read(got.join("a/b/file")).unwrap(), b"deep");
        assert_eq!(
            fs::metadata(got.join("a/b/file")).unwrap().mode() & 0o7777,
            0o751
        );
        assert_eq!(fs::metadata(got.join("a")).unwrap().mode() & 0o7777, 0o711);
        assert_eq!(fs::read_link(got.join("a/slash")).unwrap(), Path::new("/"));

        // Into an existing directory (through a link inside the root).
        symlink("/data", root.join("datalink")).unwrap();
        copy(
            &Source::on_host(&src.join("a/b/file")).unwrap(),
            &r.locate(Path::new("/datalink")).unwrap(),
            Direction::IntoContainer,
            IdShift::default(),
        )
        .unwrap();
        assert_eq!(fs::read(root.join("data/file")).unwrap(), b"deep");

        // Out of the root, a tree holding `up` and `hostdir` links: copied
        // as links, the host tree is not walked.
        let out = tmp.path().join("out");
        copy(
            &Source::in_root(&r, Path::new("/")).unwrap(),
            &Spot::on_host(&out).unwrap(),
            Direction::OutOfContainer,
            IdShift::default(),
        )
        .unwrap();
        assert_eq!(fs::read_link(out.join("hostdir")).unwrap(), host);
        assert!(fs::symlink_metadata(out.join("up")).unwrap().is_symlink());
        assert_eq!(fs::read(out.join("data/tree/a/b/file")).unwrap(), b"deep");
        assert_eq!(fs::read(host.join("secret")).unwrap(), b"host secret");

        // A file onto a directory and a directory onto a file are refused.
        let e = copy(
            &Source::on_host(&src.join("a/b/file")).unwrap(),
            &r.locate(Path::new("/data/tree/a/b")).unwrap(),
            Direction::IntoContainer,
            IdShift::default(),
        );
        assert!(
            e.is_ok(),
            "a file into an existing directory goes inside it"
        );
        let e = copy(
            &Source::on_host(&src).unwrap(),
            &r.locate(Path::new("/data/file")).unwrap(),
            Direction::IntoContainer,
            IdShift::default(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("a directory cannot replace it"),
            "{e}"
        );
    }

    #[test]
    fn refuses_special_files_and_copies_into_itself() {
        let (tmp, root, _host) = setup();
        let r = root_of(&root);
        nix::unistd::mkfifo(&root.join("data/fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        let out = tmp.path().join("out");
        let e = copy(
            &Source::in_root(&r, Path::new("/data")).unwrap(),
            &Spot::on_host(&out).unwrap(),
            Direction::OutOfContainer,
            IdShift::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/data/fifo: is a fifo"), "{e}");
        assert!(!out.exists(), "a failed copy leaves nothing behind");
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 2, "{leftovers:?}");
        fs::remove_file(root.join("data/fifo")).unwrap();

        // A directory copied into itself stops instead of recursing.
        let e = copy(
            &Source::on_host(&root.join("data")).unwrap(),
            &r.locate(Path::new("/data/sub")).unwrap(),
            Direction::IntoContainer,
            IdShift::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("is inside the source"), "{e}");
        assert!(!root.join("data/sub/data").exists());
    }

    #[test]
    fn setuid_bits_do_not_leave_a_container() {
        let (tmp, root, _host) = setup();
        let r = root_of(&root);
        fs::write(root.join("data/suid"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(root.join("data/suid"), fs::Permissions::from_mode(0o6755)).unwrap();
        let out = tmp.path().join("suid");
        copy(
            &Source::in_root(&r, Path::new("/data/suid")).unwrap(),
            &Spot::on_host(&out).unwrap(),
            Direction::OutOfContainer,
            IdShift::default(),
        )
        .unwrap();
        assert_eq!(fs::metadata(&out).unwrap().mode() & 0o7777, 0o755);
        // The other way the host is trusted: kept.
        fs::set_permissions(&out, fs::Permissions::from_mode(0o4755)).unwrap();
        copy(
            &Source::on_host(&out).unwrap(),
            &r.locate(Path::new("/data/suid2")).unwrap(),
            Direction::IntoContainer,
            IdShift::default(),
        )
        .unwrap();
        let m = fs::metadata(root.join("data/suid2")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o4755);
    }
}
