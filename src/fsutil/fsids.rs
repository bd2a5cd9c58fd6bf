//! Acting on a `--userns` container's files as its root: host root sets
//! its filesystem ids to the container's root (setfsuid(2)), keeping its
//! capabilities (SECBIT_NO_SETUID_FIXUP). Through the idmapped upper layer
//! of such a container only ids of its range can own files, so that is how
//! overlayfs must be mounted (its mounter's ids create copied-up files and
//! whiteouts) and how putfile and rplfile create files in it.

use nix::errno::Errno;

use crate::container::config::UsernsIds;

fn set_securebits(bits: libc::c_ulong) -> Result<(), Errno> {
    // SAFETY: PR_SET_SECUREBITS takes an integer and changes only this
    // thread's credentials.
    let r = unsafe { libc::prctl(libc::PR_SET_SECUREBITS, bits, 0, 0, 0) };
    Errno::result(r).map(drop)
}

fn get_securebits() -> libc::c_ulong {
    // SAFETY: PR_GET_SECUREBITS reads this thread's securebits.
    let r = unsafe { libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0) };
    r.max(0) as libc::c_ulong
}

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
        let bits = get_securebits();
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
