//! The new mount API calls that idmapped mounts and read-only volumes need
//! (open_tree(2), mount_setattr(2), move_mount(2); Linux 5.12+), which nix
//! 0.29 lacks.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

fn c_path(path: &Path) -> nix::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// A detached clone of the mount tree at `path` (OPEN_TREE_CLONE, not in
/// any mount table until [`move_mount`]), close-on-exec.
pub fn open_tree_clone(path: &Path) -> nix::Result<OwnedFd> {
    let c = c_path(path)?;
    // SAFETY: open_tree with a valid NUL-terminated path and integer
    // flags; it returns a new descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        )
    };
    let fd = Errno::result(fd)?;
    // SAFETY: a fresh descriptor from open_tree, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Makes the detached tree `tree` idmapped through the user namespace
/// `userns` (mount_setattr with MOUNT_ATTR_IDMAP).
pub fn set_idmap(tree: BorrowedFd<'_>, userns: BorrowedFd<'_>) -> nix::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let empty = c"";
    // SAFETY: mount_setattr on the tree by its descriptor (empty path),
    // reading a mount_attr of the size passed, which lives on our stack.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// Makes the mount `mount` (a descriptor of its root) and every mount
/// below it read-only (mount_setattr with MOUNT_ATTR_RDONLY and
/// AT_RECURSIVE), leaving its other flags (nosuid, nodev, noexec) as they
/// are.
pub fn set_read_only(mount: BorrowedFd<'_>) -> nix::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: mount_setattr on the mount by its descriptor (empty path),
    // reading a mount_attr of the size passed, which lives on our stack.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// Attaches the detached tree `tree` on the directory `target`.
pub fn move_mount(tree: BorrowedFd<'_>, target: &Path) -> nix::Result<()> {
    let c = c_path(target)?;
    let empty = c"";
    // SAFETY: move_mount from the tree's descriptor (empty path) onto a
    // valid NUL-terminated target path.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_nul_are_invalid() {
        assert_eq!(
            open_tree_clone(Path::new("a\0b")).err(),
            Some(Errno::EINVAL)
        );
    }

    #[test]
    fn only_the_root_of_a_mount_is_made_read_only() {
        // A directory that is not the root of a mount is refused (and
        // nothing changes), with CAP_SYS_ADMIN or without.
        let dir = tempfile::tempdir().expect("tempdir");
        let fd = std::fs::File::open(dir.path()).expect("open");
        let e = set_read_only(std::os::fd::AsFd::as_fd(&fd)).expect_err("not a mount");
        let want = if nix::unistd::geteuid().is_root() {
            Errno::EINVAL
        } else {
            Errno::EPERM
        };
        assert_eq!(e, want);
        std::fs::write(dir.path().join("still-writable"), "x").expect("write");
    }

    #[test]
    fn a_tree_is_cloned_with_cap_sys_admin_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        match open_tree_clone(dir.path()) {
            Ok(_) => assert!(nix::unistd::geteuid().is_root()),
            Err(e) => assert_eq!(e, Errno::EPERM),
        }
    }
}
