//! Finding the xdockerinit binary the container will run as PID 1, and
//! checking that it is statically linked (the container's root filesystem
//! need not hold any libraries or loader).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use xdockerinit::sys::IoText;

/// Errors finding xdockerinit.
#[derive(Debug, thiserror::Error)]
pub enum InitBinaryError {
    #[error("{0}")]
    NotFound(String),
    #[error("xdockerinit {0} is not a statically linked ELF executable; build it with scripts/build_static_init.sh")]
    NotStatic(PathBuf),
    #[error("xdockerinit {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Making the read-only view failed (the errno is kept for the parent).
    #[error("{op} xdockerinit {}: {}", .path.display(), IoText(.error))]
    View {
        op: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("xdockerinit {} was replaced while the container started", .0.display())]
    Replaced(PathBuf),
}

/// Opens the xdockerinit to execute (close-on-exec; executed by fd).
pub fn open() -> Result<(PathBuf, File), InitBinaryError> {
    let path =
        crate::companion::find("XDOCKER_INIT", "xdockerinit").map_err(InitBinaryError::NotFound)?;
    let mut file = File::open(&path).map_err(|source| InitBinaryError::Io {
        path: path.clone(),
        source,
    })?;
    let mut head = vec![0u8; 4096];
    let n = file.read(&mut head).map_err(|source| InitBinaryError::Io {
        path: path.clone(),
        source,
    })?;
    head.truncate(n);
    if !is_static_elf(&head) {
        return Err(InitBinaryError::NotStatic(path));
    }
    // A fresh descriptor: the one above was read from.
    let file = File::open(&path).map_err(|source| InitBinaryError::Io {
        path: path.clone(),
        source,
    })?;
    Ok((path, file))
}

/// The binary the container executes, reopened through a read-only bind
/// mount of itself. Runs in the container's first process, in its private
/// mount namespace (nothing reaches the host's mount table), before
/// pivot_root detaches that mount from every tree: `/proc/1/exe` then
/// names a file on a read-only mount nobody can remount, so no root
/// inside can write the host's binary through it (CVE-2019-5736), on any
/// kernel, whether or not it keeps executed files busy (ETXTBSY).
pub fn read_only_view(init: &File, path: &Path) -> Result<File, InitBinaryError> {
    use nix::mount::{mount, MsFlags};
    use std::os::fd::AsRawFd;
    let fail = |op, error: std::io::Error| InitBinaryError::View {
        op,
        path: path.to_path_buf(),
        error,
    };
    mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| fail("bind", e.into()))?;
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| fail("make read-only", e.into()))?;
    let view = File::open(path).map_err(|e| fail("reopen", e))?;
    // The very file `open` checked (a bind source must be a path of this
    // mount namespace, not the descriptor opened before it was made).
    let id = |f: &File| {
        nix::sys::stat::fstat(f.as_raw_fd())
            .map(|st| (st.st_dev, st.st_ino))
            .ok()
    };
    match (id(init), id(&view)) {
        (Some(a), Some(b)) if a == b => Ok(view),
        _ => Err(InitBinaryError::Replaced(path.to_path_buf())),
    }
}

/// A 64-bit little-endian ELF whose program headers (within `head`) hold no
/// PT_INTERP, i.e. it needs no dynamic loader.
pub fn is_static_elf(head: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]) as usize;
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&head[o..o + 8]);
        u64::from_le_bytes(b) as usize
    };
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    if phentsize < 4 {
        return false;
    }
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        match head.get(o..o + 4) {
            Some(t) => u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != PT_INTERP,
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_binaries_are_recognised() {
        let mut head = vec![0u8; 4096];
        let n = File::open("/bin/sh")
            .and_then(|mut f| f.read(&mut head))
            .expect("read /bin/sh");
        assert!(!is_static_elf(&head[..n]), "/bin/sh is dynamic on Debian");
        assert!(!is_static_elf(b"#!/bin/sh\n"));
    }
}
