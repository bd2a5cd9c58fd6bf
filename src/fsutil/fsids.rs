//! Acting on a `--userns` container's files as its root: host root sets
//! its filesystem ids to the container's root (setfsuid(2)), keeping its
//! capabilities (SECBIT_NO_SETUID_FIXUP). Through the idmapped upper layer
//! of such a container only ids of its range can own files, so that is how
//! overlayfs must be mounted (its mounter's ids create copied-up files and
//! whiteouts) and how putfile and rplfile create files in it.

use nix::errno::Errno;
use xdockerinit::sys::{securebits, set_securebits};

use crate::container::config::UsernsIds;

/// Filesystem ids set to a container's root until dropped.
#[derive(Debug)]
pub struct AsContainerRoot {
    bits: libc::c_ulong,
}

/// SECBIT_NO_SETUID_FIXUP of <linux/securebits.h>: changing the
/// filesystem uid leaves the capabilities alone.
const NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;

impl AsContainerRoot {
    /// Takes the filesystem ids of root of the container whose ids start
    /// at `ids`; None (no user namespace): nothing changes.
    pub fn enter(ids: Option<UsernsIds>) -> Result<Option<Self>, Errno> {
        let Some(ids) = ids else {
            return Ok(None);
        };
        let bits = securebits().unwrap_or(0);
        set_securebits(bits | NO_SETUID_FIXUP)?;
        nix::unistd::setfsuid(nix::unistd::Uid::from_raw(ids.uid));
        nix::unistd::setfsgid(nix::unistd::Gid::from_raw(ids.gid));
        Ok(Some(Self { bits }))
    }
}

impl Drop for AsContainerRoot {
    fn drop(&mut self) {
        nix::unistd::setfsuid(nix::unistd::getuid());
        nix::unistd::setfsgid(nix::unistd::getgid());
        let _ = set_securebits(self.bits);
    }
}
