//! Exact, symlink-safe copies of directory trees (image layers, container root
//! filesystems): ownership, modes, xattrs, hard links, device nodes, whiteouts and
//! nanosecond timestamps are preserved, and no symlink in `src` or `dst` is followed.
//!
//! A file's data is shared, not copied, where the file system has reflinks
//! (ioctl FICLONE: XFS, btrfs): copy on write, in constant time. Where it has
//! none (ext4, tmpfs), the first refusal switches them off for the rest of the
//! copy and the bytes are copied (`copy_file_range`, then read and write).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, DirBuilder, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::{self, FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::os::fd::AsFd;
use xdockerinit::sys::IoText;

/// Errors of copying a tree; each names the path and the operation.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A system call on the entry `src` (being copied to `dst`) failed.
    #[error("copy {} to {}: {op}: {}", .src.display(), .dst.display(), IoText(.error))]
    Io {
        src: PathBuf,
        dst: PathBuf,
        op: &'static str,
        error: io::Error,
    },
    /// Reading or writing the extended attribute `name` failed.
    #[error("copy {} to {}: {op} {}: {}", .src.display(), .dst.display(), .name.to_string_lossy(), IoText(.error))]
    Xattr {
        src: PathBuf,
        dst: PathBuf,
        op: &'static str,
        name: OsString,
        error: io::Error,
    },
    /// `dst` lies inside `src`, so the copy would never end.
    #[error("copy {} to {}: destination is inside the source", .src.display(), .dst.display())]
    IntoItself { src: PathBuf, dst: PathBuf },
}

/// Builds the `map_err` closure for an operation on the entry `src` -> `dst`.
fn ctx<'a, E: Into<io::Error>>(
    src: &'a Path,
    dst: &'a Path,
    op: &'static str,
) -> impl FnOnce(E) -> CopyError + 'a {
    move |error| CopyError::Io {
        src: src.to_path_buf(),
        dst: dst.to_path_buf(),
        op,
        error: error.into(),
    }
}

/// What a copy did, for logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub specials: u64,
    /// Bytes of regular files, shared or copied.
    pub bytes: u64,
    /// Of those, bytes shared by a reflink (none copied).
    pub reflinked: u64,
}

/// After a reflink was refused with `errno`: whether to try reflinks for the
/// next files of the same copy. Refusals that mean "not on these file systems"
/// switch them off; any other (a file the file system cannot share, say) only
/// makes this file a plain copy.
fn reflinks_after(errno: Errno) -> bool {
    !matches!(
        errno,
        Errno::EOPNOTSUPP | Errno::ENOTTY | Errno::EXDEV | Errno::ENOSYS
    )
}

/// Copies the tree at `src` to `dst` exactly: `dst` must not exist yet (error otherwise); its parent must exist.
///
/// `src` itself is never followed either: if it is a symlink, `dst` becomes the same
/// symlink. On error the partial copy is left in place for the caller to remove.
/// Without root, ownership can only be kept for the caller's own files and `trusted.*`
/// xattrs are invisible (so silently not copied).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<CopyStats, CopyError> {
    let mut copier = Copier {
        reflinks: true,
        ..Copier::default()
    };
    let mut stack = vec![Step::Copy(src.to_path_buf(), dst.to_path_buf())];
    while let Some(step) = stack.pop() {
        match step {
            Step::Copy(s, d) => copier.copy_entry(&s, &d, &mut stack)?,
            // Popped after everything pushed above it, i.e. after the directory's
            // contents, so their creation no longer changes its mtime.
            Step::FinishDir(s, d, meta) => set_metadata(&s, &d, &meta)?,
        }
    }
    Ok(copier.stats)
}

/// Depth-first work list entry.
enum Step {
    Copy(PathBuf, PathBuf),
    FinishDir(PathBuf, PathBuf, Box<Metadata>),
}

#[derive(Default)]
struct Copier {
    stats: CopyStats,
    /// (dev, ino) of multiply linked src entries -> the first dst path made for them.
    links: HashMap<(u64, u64), PathBuf>,
    /// (dev, ino) of the dst root directory, to stop a copy into itself.
    dst_root: Option<(u64, u64)>,
    /// Whether to try a reflink first (see [`reflinks_after`]).
    reflinks: bool,
}

impl Copier {
    fn copy_entry(&mut self, s: &Path, d: &Path, stack: &mut Vec<Step>) -> Result<(), CopyError> {
        let meta = fs::symlink_metadata(s).map_err(ctx(s, d, "lstat"))?;
        let id = (meta.dev(), meta.ino());
        let ft = meta.file_type();
        if ft.is_dir() {
            if self.dst_root == Some(id) {
                return Err(CopyError::IntoItself {
                    src: s.to_path_buf(),
                    dst: d.to_path_buf(),
                });
            }
            // Owner-only until the contents are in; real mode set in post-order.
            DirBuilder::new()
                .mode(0o700)
                .create(d)
                .map_err(ctx(s, d, "mkdir"))?;
            if self.dst_root.is_none() {
                let made = fs::symlink_metadata(d).map_err(ctx(s, d, "lstat"))?;
                self.dst_root = Some((made.dev(), made.ino()));
            }
            self.stats.dirs += 1;
            stack.push(Step::FinishDir(s.into(), d.into(), Box::new(meta)));
            for entry in fs::read_dir(s).map_err(ctx(s, d, "read dir"))? {
                let name = entry.map_err(ctx(s, d, "read dir"))?.file_name();
                stack.push(Step::Copy(s.join(&name), d.join(&name)));
            }
            return Ok(());
        }
        if meta.nlink() > 1 {
            if let Some(first) = self.links.get(&id) {
                // linkat(2) without AT_SYMLINK_FOLLOW: links a symlink itself.
                fs::hard_link(first, d).map_err(ctx(s, d, "link"))?;
                self.stats.hardlinks += 1;
                return Ok(());
            }
            self.links.insert(id, d.to_path_buf());
        }
        if ft.is_file() {
            self.copy_file(s, d, &meta)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(s).map_err(ctx(s, d, "readlink"))?;
            std::os::unix::fs::symlink(&target, d).map_err(ctx(s, d, "symlink"))?;
            self.stats.symlinks += 1;
        } else {
            let kind = if ft.is_char_device() {
                SFlag::S_IFCHR
            } else if ft.is_block_device() {
                SFlag::S_IFBLK
            } else if ft.is_fifo() {
                SFlag::S_IFIFO
            } else if ft.is_socket() {
                SFlag::S_IFSOCK
            } else {
                return Err(ctx(s, d, "lstat")(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "unsupported file type",
                )));
            };
            // mknod(2) fails with EEXIST on any existing name, dangling symlinks included.
            stat::mknod(d, kind, Mode::S_IRUSR | Mode::S_IWUSR, meta.rdev())
                .map_err(ctx(s, d, "mknod"))?;
            self.stats.specials += 1;
        }
        set_metadata(s, d, &meta)
    }

    fn copy_file(&mut self, s: &Path, d: &Path, meta: &Metadata) -> Result<(), CopyError> {
        // O_NONBLOCK: should `s` have been swapped for a fifo since the lstat, the open
        // must not hang; the fstat check below then rejects it.
        let mut from = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(s)
            .map_err(ctx(s, d, "open"))?;
        let opened = from.metadata().map_err(ctx(s, d, "fstat"))?;
        if !opened.is_file() || (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
            return Err(ctx(s, d, "open")(io::Error::other(
                "file was replaced during the copy",
            )));
        }
        let mut to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(d)
            .map_err(ctx(s, d, "create"))?;
        self.stats.files += 1;
        if self.reflinks {
            match xdockerinit::sys::clone_file(to.as_fd(), from.as_fd()) {
                Ok(()) => {
                    self.stats.bytes += opened.len();
                    self.stats.reflinked += opened.len();
                    return Ok(());
                }
                Err(errno) => self.reflinks = reflinks_after(errno),
            }
        }
        // std::io::copy uses copy_file_range(2), then sendfile/read+write as fallbacks.
        self.stats.bytes += io::copy(&mut from, &mut to).map_err(ctx(s, d, "copy data"))?;
        Ok(())
    }
}

/// Owner, xattrs, mode, then times, in that order: chown clears setuid/setgid and
/// drops `security.capability`, and every step but the last may touch the ctime only.
fn set_metadata(s: &Path, d: &Path, meta: &Metadata) -> Result<(), CopyError> {
    let is_link = meta.file_type().is_symlink();
    std::os::unix::fs::lchown(d, Some(meta.uid()), Some(meta.gid()))
        .map_err(ctx(s, d, "lchown"))?;
    copy_xattrs(s, d, is_link)?;
    if !is_link {
        let mode = Mode::from_bits_truncate(meta.mode() & 0o7777);
        stat::fchmodat(None, d, mode, FchmodatFlags::NoFollowSymlink)
            .map_err(ctx(s, d, "chmod"))?;
    }
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec() as _);
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec() as _);
    let flag = UtimensatFlags::NoFollowSymlink;
    stat::utimensat(None, d, &atime, &mtime, flag).map_err(ctx(s, d, "utimensat"))
}

/// Copies every xattr. The xattr crate's `list`/`get`/`set` are llistxattr/lgetxattr/
/// lsetxattr (the `_deref` variants follow symlinks), so symlinks are never followed.
fn copy_xattrs(s: &Path, d: &Path, is_link: bool) -> Result<(), CopyError> {
    let err = |op, name: &OsString, error| CopyError::Xattr {
        src: s.to_path_buf(),
        dst: d.to_path_buf(),
        op,
        name: name.clone(),
        error,
    };
    for name in xattr::list(s).map_err(ctx(s, d, "list xattrs"))? {
        let Some(value) = xattr::get(s, &name).map_err(|e| err("get xattr", &name, e))? else {
            continue; // removed since the listing
        };
        if let Err(e) = xattr::set(d, &name, &value) {
            // The kernel refuses user.* on symlinks; nothing to copy then.
            let refused = matches!(e.raw_os_error(), Some(libc::EPERM | libc::EOPNOTSUPP));
            if !(is_link && refused && name.as_bytes().starts_with(b"user.")) {
                return Err(err("set xattr", &name, e));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed setup step should just fail the test
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::fs::Permissions;
    use std::os::unix::fs::{lchown, symlink, PermissionsExt};
    use std::os::unix::net::UnixListener;

    fn set_times(p: &Path, (a, a_ns): (i64, i64), (m, m_ns): (i64, i64)) {
        let (a, m) = (TimeSpec::new(a, a_ns), TimeSpec::new(m, m_ns));
        stat::utimensat(None, p, &a, &m, UtimensatFlags::NoFollowSymlink).unwrap();
    }

    fn mknod(p: &Path, kind: SFlag, major: u64, minor: u64) {
        stat::mknod(
            p,
            kind,
            Mode::from_bits_truncate(0o640),
            stat::makedev(major, minor),
        )
        .unwrap();
    }

    /// Everything `copy_tree` must preserve about one entry (no inode numbers).
    #[derive(Debug, PartialEq)]
    struct Entry {
        mode: u32,
        uid: u32,
        gid: u32,
        rdev: u64,
        size: u64,
        mtime: (i64, i64),
        /// Only for device nodes, fifos and sockets: read(2), getdents(2) and
        /// readlink(2) (in the copy or in `snapshot`) all move the atime.
        atime: Option<(i64, i64)>,
        content: Option<Vec<u8>>,
        link: Option<PathBuf>,
        xattrs: BTreeMap<OsString, Vec<u8>>,
    }

    fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
        let mut out = BTreeMap::new();
        let mut todo = vec![PathBuf::new()];
        while let Some(rel) = todo.pop() {
            let p = root.join(&rel);
            let m = fs::symlink_metadata(&p).unwrap();
            let ft = m.file_type();
            if ft.is_dir() {
                for e in fs::read_dir(&p).unwrap() {
                    todo.push(rel.join(e.unwrap().file_name()));
                }
            }
            let xattrs = xattr::list(&p)
                .unwrap()
                .map(|n| (n.clone(), xattr::get(&p, &n).unwrap().unwrap()))
                .collect();
            let quiet = !ft.is_dir() && !ft.is_file() && !ft.is_symlink();
            let entry = Entry {
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                rdev: m.rdev(),
                size: if ft.is_dir() { 0 } else { m.size() },
                mtime: (m.mtime(), m.mtime_nsec()),
                atime: quiet.then(|| (m.atime(), m.atime_nsec())),
                content: ft.is_file().then(|| fs::read(&p).unwrap()),
                link: ft.is_symlink().then(|| fs::read_link(&p).unwrap()),
                xattrs,
            };
            out.insert(rel, entry);
        }
        out
    }

    fn build_src(root: &Path) {
        let p = |rel: &str| root.join(rel);
        fs::create_dir_all(p("a/b/c")).unwrap();
        fs::write(p("a/b/c/deep.txt"), b"deep").unwrap();
        fs::write(p(".hidden"), b"dot").unwrap();
        fs::write(p("empty"), b"").unwrap();
        let big: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
        fs::write(p("big"), &big).unwrap();
        xattr::set(p("big"), "user.foo", b"bar").unwrap();
        fs::write(p("suid"), b"#!/bin/sh\n").unwrap();
        lchown(p("suid"), Some(1234), Some(5678)).unwrap();
        fs::set_permissions(p("suid"), Permissions::from_mode(0o4755)).unwrap();
        // VFS_CAP_REVISION_2 | effective, permitted = CAP_NET_RAW; chown would drop it.
        let cap = [
            1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        xattr::set(p("suid"), "security.capability", &cap).unwrap();
        fs::create_dir(p("tmp")).unwrap();
        fs::set_permissions(p("tmp"), Permissions::from_mode(0o1777)).unwrap();
        symlink("/etc/passwd", p("passwd")).unwrap();
        symlink("../nowhere", p("a/dangling")).unwrap();
        fs::write(p("a/link1"), b"shared").unwrap();
        fs::hard_link(p("a/link1"), p("a/b/link2")).unwrap();
        mknod(&p("fifo"), SFlag::S_IFIFO, 0, 0);
        set_times(&p("fifo"), (1_500_000_000, 42), (1_600_000_000, 7));
        drop(UnixListener::bind(p("sock")).unwrap());
        mknod(&p("null"), SFlag::S_IFCHR, 1, 3);
        mknod(&p("a/whiteout"), SFlag::S_IFCHR, 0, 0);
        mknod(&p("loop0"), SFlag::S_IFBLK, 7, 0);
        xattr::set(p("a"), "trusted.overlay.opaque", b"y").unwrap();
        set_times(&p("empty"), (1, 2), (1_000_000_000, 123_456_789));
        set_times(&p("a/b"), (3, 4), (1_234_567_890, 987_654_321));
    }

    #[test]
    #[cfg_attr(xdocker_not_root, ignore = "needs root")]
    fn copies_every_kind_of_entry_exactly() {
        crate::root_gate::needs_root();
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        fs::create_dir(&src).unwrap();
        build_src(&src);
        let before = snapshot(&src);
        let stats = copy_tree(&src, &dst).unwrap();

        let after = snapshot(&dst);
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>()
        );
        for (rel, want) in &before {
            assert_eq!(Some(want), after.get(rel), "entry {}", rel.display());
        }
        assert_eq!(snapshot(&src), before, "the source was modified");
        assert_eq!(before[Path::new("suid")].mode, 0o104_755);
        assert_eq!(before[Path::new("a/whiteout")].rdev, 0);
        assert_eq!(before[Path::new("big")].xattrs.len(), 1);
        assert_eq!(before[Path::new("suid")].xattrs.len(), 1);

        let ino = |p: PathBuf| fs::symlink_metadata(p).unwrap().ino();
        let (d1, d2) = (ino(dst.join("a/link1")), ino(dst.join("a/b/link2")));
        assert_eq!(d1, d2, "hard link pair not shared in dst");
        assert_ne!(d1, ino(src.join("a/link1")), "dst shares an inode with src");
        let expected = CopyStats {
            files: 6,
            dirs: 5,
            symlinks: 2,
            hardlinks: 1,
            specials: 5,
            bytes: (3 << 20) + 4 + 3 + 10 + 6,
            reflinked: stats.reflinked,
        };
        assert_eq!(stats, expected);
    }

    #[test]
    fn only_file_systems_without_reflinks_switch_them_off() {
        for no in [
            Errno::EOPNOTSUPP,
            Errno::ENOTTY,
            Errno::EXDEV,
            Errno::ENOSYS,
        ] {
            assert!(!reflinks_after(no), "{no}");
        }
        // One file that cannot be shared (unaligned, a swap file, immutable)
        // is copied, and the next ones are tried again.
        for file_only in [Errno::EINVAL, Errno::ETXTBSY, Errno::EPERM, Errno::EIO] {
            assert!(reflinks_after(file_only), "{file_only}");
        }
    }

    #[test]
    fn the_data_is_shared_where_reflinks_are_and_copied_elsewhere() {
        // /tmp here is ext4 and /dev/shm tmpfs: neither has reflinks.
        for dir in [std::env::temp_dir(), PathBuf::from("/dev/shm")] {
            let tmp = tempfile::tempdir_in(&dir).unwrap();
            let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
            fs::create_dir(&src).unwrap();
            let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
            fs::write(src.join("a"), &data).unwrap();
            fs::write(src.join("b"), b"small").unwrap();
            let stats = copy_tree(&src, &dst).unwrap();
            assert_eq!(fs::read(dst.join("a")).unwrap(), data);
            assert_eq!(fs::read(dst.join("b")).unwrap(), b"small");
            assert_eq!(stats.bytes, (1 << 20) + 5);
            let reflinks = fs::File::open(src.join("a")).and_then(|f| {
                let to = fs::File::create(tmp.path().join("probe"))?;
                xdockerinit::sys::clone_file(to.as_fd(), f.as_fd()).map_err(io::Error::from)
            });
            match reflinks {
                Ok(()) => assert_eq!(stats.reflinked, stats.bytes, "{}", dir.display()),
                Err(_) => assert_eq!(stats.reflinked, 0, "{}", dir.display()),
            }
        }
    }

    #[test]
    fn never_writes_through_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("keep"), b"orig").unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        fs::create_dir(&src).unwrap();
        symlink(outside.path(), src.join("evil")).unwrap();
        fs::write(src.join("file"), b"x").unwrap();

        copy_tree(&src, &dst).unwrap();
        let mut copied: Vec<_> = fs::read_dir(&dst)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        copied.sort();
        assert_eq!(copied, ["evil", "file"]);
        assert!(fs::symlink_metadata(dst.join("evil")).unwrap().is_symlink());
        assert_eq!(fs::read_link(dst.join("evil")).unwrap(), outside.path());
        let names: Vec<_> = fs::read_dir(outside.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["keep"]);
        assert_eq!(fs::read(outside.path().join("keep")).unwrap(), b"orig");

        // A dangling symlink as dst counts as existing and is not followed.
        let trap = tmp.path().join("trap");
        symlink(outside.path().join("new"), &trap).unwrap();
        assert!(copy_tree(&src, &trap).is_err());
        assert!(!outside.path().join("new").exists());
    }

    #[test]
    fn errors_name_the_path_and_the_operation() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("nope"), tmp.path().join("dst"));
        let err = copy_tree(&src, &dst).unwrap_err();
        assert!(matches!(&err, CopyError::Io { src: s, op: "lstat", .. } if *s == src));
        let want = format!(
            "copy {} to {}: lstat: no such file or directory",
            src.display(),
            dst.display()
        );
        assert_eq!(err.to_string(), want);
        assert!(!dst.exists());

        // An existing dst: here the tempdir itself.
        fs::create_dir(&src).unwrap();
        let err = copy_tree(&src, tmp.path()).unwrap_err();
        let CopyError::Io {
            dst: d,
            op: "mkdir",
            error,
            ..
        } = &err
        else {
            panic!("unexpected error {err:?}");
        };
        assert_eq!(
            (d.as_path(), error.kind()),
            (tmp.path(), io::ErrorKind::AlreadyExists)
        );
        let want = format!(
            "copy {} to {}: mkdir: file exists",
            src.display(),
            tmp.path().display()
        );
        assert_eq!(err.to_string(), want);
    }

    #[test]
    fn refuses_to_copy_into_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let dst = tmp.path().join("inside");
        let err = copy_tree(tmp.path(), &dst).unwrap_err();
        assert!(matches!(err, CopyError::IntoItself { .. }), "{err:?}");
    }
}
