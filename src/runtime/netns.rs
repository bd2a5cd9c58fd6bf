//! Named network namespaces for CUSTOM (and later BRIDGE) containers:
//! `/run/netns/nns<10 hex>` bound to the container's namespace, the same
//! convention as `ip netns`, so `ip netns exec` works on it.

use std::fs;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use xdockerinit::sys::IoText;

/// Where `ip netns` keeps its names.
pub const NETNS_DIR: &str = "/run/netns";

/// Errors of naming a network namespace.
#[derive(Debug, thiserror::Error)]
#[error("network namespace {}: {step}: {}", .path.display(), IoText(.error))]
pub struct NetnsError {
    pub path: PathBuf,
    pub step: &'static str,
    /// Kept (not only its text), so that callers can tell the errno.
    pub error: std::io::Error,
}

/// `nns` + 10 hex digits of the MD5 of home and container name: the same
/// container name in two homes never shares a namespace name.
pub fn netns_name(home: &Path, container: &str) -> String {
    let mut h = Md5::new();
    h.update(home.as_os_str().as_encoded_bytes());
    h.update(b"/");
    h.update(container.as_bytes());
    let digest = crate::image::archive::hex(&h.finalize());
    format!("nns{}", &digest[..10])
}

/// Makes `dir` a shared mount point of its own, as `ip netns add` does.
/// Were it a plain directory, the first `ip netns add` would bind it onto
/// itself and hide every name bound before under that new mount, where
/// nothing could unmount them any more.
fn shared_mount_point(dir: &Path) -> nix::Result<()> {
    let share = || {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match share() {
        Err(nix::errno::Errno::EINVAL) => {
            mount(
                Some(dir),
                dir,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )?;
            share()
        }
        other => other,
    }
}

/// Binds the network namespace of `pid` to `/run/netns/NAME`.
pub fn bind(name: &str, pid: i32) -> Result<PathBuf, NetnsError> {
    let path = Path::new(NETNS_DIR).join(name);
    let err = |step, error: std::io::Error| NetnsError {
        path: path.clone(),
        step,
        error,
    };
    fs::create_dir_all(NETNS_DIR).map_err(|e| err("create directory", e))?;
    shared_mount_point(Path::new(NETNS_DIR)).map_err(|e| err("share", e.into()))?;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| err("create", e))?;
    let source = format!("/proc/{pid}/ns/net");
    if let Err(e) = mount(
        Some(source.as_str()),
        &path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        let _ = fs::remove_file(&path);
        return Err(err("bind", e.into()));
    }
    Ok(path)
}

/// Removes a name made by [`bind`]; a missing one is fine.
pub fn remove(name: &str) -> Result<(), NetnsError> {
    let path = Path::new(NETNS_DIR).join(name);
    if !path.exists() {
        return Ok(());
    }
    let _ = umount2(&path, MntFlags::MNT_DETACH);
    fs::remove_file(&path).map_err(|e| NetnsError {
        path: path.clone(),
        step: "remove",
        error: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(xdocker_not_root, ignore = "needs root")]
    fn the_names_directory_becomes_a_shared_mount_point_of_its_own() {
        crate::root_gate::needs_root();
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().join("netns");
        fs::create_dir(&dir).expect("mkdir");
        let shown = |d: &Path| {
            fs::read_to_string("/proc/self/mountinfo")
                .expect("mountinfo")
                .lines()
                .filter(|l| l.split(' ').nth(4) == Some(d.to_str().expect("utf8")))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        shared_mount_point(&dir).expect("first");
        shared_mount_point(&dir).expect("again: already one");
        let lines = shown(&dir);
        let _ = umount2(&dir, MntFlags::MNT_DETACH);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(" shared:"), "{lines:?}");
    }

    #[test]
    fn names_are_stable_short_and_per_home() {
        let a = netns_name(Path::new("/var/xdocker"), "web");
        assert_eq!(a, netns_name(Path::new("/var/xdocker"), "web"));
        assert_ne!(a, netns_name(Path::new("/tmp/other"), "web"));
        assert_eq!(a.len(), 13);
        assert!(a.starts_with("nns") && a[3..].chars().all(|c| c.is_ascii_hexdigit()));
    }
}
