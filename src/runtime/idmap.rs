//! Idmapped mounts (mount_setattr(2) with MOUNT_ATTR_IDMAP, Linux 5.12+;
//! overlayfs accepts them as layers since 5.19): a clone of a directory
//! whose files, owned by 0..65535 on disk, show as the host ids of a user
//! namespace, and whose new files are stored with the ids as seen inside.
//! Image layers stay shared and unchanged on disk: nothing is chowned.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

fn c_path(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// A detached clone of the directory `path` (not yet in any mount table),
/// idmapped through the user namespace `userns`.
pub fn idmapped_clone(path: &Path, userns: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let c = c_path(path)?;
    // SAFETY: open_tree with a valid NUL-terminated path; it returns a new
    // descriptor or -1.
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
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let empty = c"";
    // SAFETY: mount_setattr on the detached tree by its descriptor (empty
    // path), with a mount_attr of the size passed.
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
    Errno::result(ret)?;
    Ok(tree)
}

/// Attaches a detached tree on the directory `target`.
pub fn attach(tree: &OwnedFd, target: &Path) -> Result<(), Errno> {
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
