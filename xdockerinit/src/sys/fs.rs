//! Opens that return owned descriptors (nix 0.29's `open`, `openat` and
//! `openat2` return bare numbers), the write-back hint of
//! sync_file_range(2) and the reflink of ioctl FICLONE, which nix lacks.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{OFlag, OpenHow};
use nix::sys::stat::Mode;
use nix::NixPath;

/// Takes ownership of a descriptor that an open just returned.
fn owned(fd: nix::Result<RawFd>) -> nix::Result<OwnedFd> {
    // SAFETY: only called on the result of an open(2)-family call of this
    // module: a fresh descriptor that nothing else owns or closes.
    fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// open(2).
pub fn open<P: ?Sized + NixPath>(path: &P, flags: OFlag, mode: Mode) -> nix::Result<OwnedFd> {
    owned(nix::fcntl::open(path, flags, mode))
}

/// openat(2) relative to the directory `dir`.
pub fn openat<P: ?Sized + NixPath>(
    dir: BorrowedFd<'_>,
    path: &P,
    flags: OFlag,
    mode: Mode,
) -> nix::Result<OwnedFd> {
    owned(nix::fcntl::openat(Some(dir.as_raw_fd()), path, flags, mode))
}

/// openat2(2) relative to the directory `dir` (Linux 5.6+), with its
/// `RESOLVE_*` limits.
pub fn openat2<P: ?Sized + NixPath>(
    dir: BorrowedFd<'_>,
    path: &P,
    how: OpenHow,
) -> nix::Result<OwnedFd> {
    owned(nix::fcntl::openat2(dir.as_raw_fd(), path, how))
}

/// Starts write-back of the bytes `[from, from + len)` of `fd`
/// (sync_file_range(2) with SYNC_FILE_RANGE_WRITE) without waiting for
/// it: a head start for a later fsync, which reports the real errors.
pub fn start_writeback(fd: BorrowedFd<'_>, from: i64, len: i64) -> nix::Result<()> {
    // SAFETY: sync_file_range takes only integers; `fd` is open while
    // borrowed.
    let r =
        unsafe { libc::sync_file_range(fd.as_raw_fd(), from, len, libc::SYNC_FILE_RANGE_WRITE) };
    nix::errno::Errno::result(r).map(drop)
}

/// Makes `dst` share `src`'s data blocks (ioctl FICLONE, a reflink):
/// copy on write, no bytes copied. Both are regular files on one file
/// system that has reflinks (XFS, btrfs, bcachefs); elsewhere the kernel
/// answers EOPNOTSUPP, EXDEV, ENOTTY or EINVAL and nothing changed.
pub fn clone_file(dst: BorrowedFd<'_>, src: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: FICLONE takes the source descriptor as its integer argument
    // and touches no memory of ours; both descriptors are open while
    // borrowed.
    let r = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
    nix::errno::Errno::result(r).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;
    use nix::fcntl::ResolveFlag;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn opens_return_owned_descriptors() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("f"), b"data").expect("write");
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).expect("symlink");
        let d = open(
            dir.path(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .expect("open dir");
        let f = openat(
            d.as_fd(),
            "f",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .expect("openat");
        assert_eq!(
            std::fs::read_to_string(format!("/proc/self/fd/{}", f.as_raw_fd())).ok(),
            Some("data".into())
        );
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
        assert!(openat2(d.as_fd(), "f", how).is_ok());
        assert_eq!(openat2(d.as_fd(), "link", how).err(), Some(Errno::ELOOP));
        assert_eq!(
            open("/no/such/xd", OFlag::O_RDONLY, Mode::empty()).err(),
            Some(Errno::ENOENT)
        );
    }

    #[test]
    fn a_clone_where_the_file_system_has_no_reflinks_changes_nothing() {
        // tmpfs has no reflinks: the kernel says so and leaves dst alone.
        let dir = std::path::Path::new("/dev/shm");
        let mut src = tempfile::tempfile_in(dir).expect("tempfile");
        src.write_all(b"data").expect("write");
        let dst = tempfile::tempfile_in(dir).expect("tempfile");
        let e = clone_file(dst.as_fd(), src.as_fd()).expect_err("tmpfs has no reflinks");
        assert!(
            matches!(
                e,
                Errno::EOPNOTSUPP | Errno::EXDEV | Errno::ENOTTY | Errno::EINVAL
            ),
            "{e}"
        );
        assert_eq!(dst.metadata().expect("fstat").len(), 0);
    }

    #[test]
    fn writeback_is_started_on_a_file() {
        let mut file = tempfile::tempfile().expect("tempfile");
        file.write_all(&[1u8; 8192]).expect("write");
        assert_eq!(start_writeback(file.as_fd(), 0, 8192), Ok(()));
    }
}
