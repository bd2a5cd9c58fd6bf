//! Idmapped mounts (mount_setattr(2) with MOUNT_ATTR_IDMAP, Linux 5.12+;
//! overlayfs accepts them as layers since 5.19): a clone of a directory
//! whose files, owned by 0..65535 on disk, show as the host ids of a user
//! namespace, and whose new files are stored with the ids as seen inside.
//! Image layers stay shared and unchanged on disk: nothing is chowned.

#![deny(unsafe_code)]

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use xdockerinit::sys;

/// A detached clone of the directory `path` (not yet in any mount table),
/// idmapped through the user namespace `userns`.
pub fn idmapped_clone(path: &Path, userns: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let tree = sys::open_tree_clone(path)?;
    sys::set_idmap(tree.as_fd(), userns)?;
    Ok(tree)
}

/// Attaches a detached tree on the directory `target`.
pub fn attach(tree: &OwnedFd, target: &Path) -> Result<(), Errno> {
    sys::move_mount(tree.as_fd(), target)
}
