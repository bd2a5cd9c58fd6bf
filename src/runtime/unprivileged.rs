//! Whether this host can run a home's containers unprivileged (with a user
//! namespace, the default): the kernel must let overlayfs take idmapped
//! layers (Linux 5.19) and the file systems of the image and container
//! directories must take idmapped mounts. Probed for real (a user
//! namespace and an idmapped clone of each directory) once per host boot
//! and pair of file systems; the answer is kept in
//! `XDOCKER_HOME/userns-support`, so a create pays two small reads.

#![deny(unsafe_code)]

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::errno::Errno;

use super::idmap;
use super::userns::NsHolder;
use crate::container::config::UsernsIds;
use crate::fsutil::atomic::write_atomic_volatile;

/// The file of a home that keeps the last probe's answer.
pub const PROBE_FILE: &str = "userns-support";

/// The first Linux release whose overlayfs takes idmapped layers.
const NEEDED: (u32, u32) = (5, 19);

/// `Ok` when containers of the home can have a user namespace; otherwise
/// why not, as a reason a warning can name. `ids` are host ids the probe's
/// user namespace maps (any slot of the home).
pub fn check(home: &Path, dirs: [&Path; 2], ids: UsernsIds) -> Result<(), String> {
    check_kernel(&kernel_release())?;
    let key = probe_key(dirs);
    let cache = home.join(PROBE_FILE);
    if let Some(answer) = key.as_deref().and_then(|k| cached(&cache, k)) {
        return answer;
    }
    let answer = probe(dirs, ids);
    if let Some(key) = key {
        let text = match &answer {
            Ok(()) => format!("{key}\nyes\n"),
            Err(reason) => format!("{key}\nno {reason}\n"),
        };
        // Only a cache: a failed write costs the next create a probe.
        let _ = write_atomic_volatile(&cache, text.as_bytes(), 0o644);
    }
    answer
}

/// The running kernel's release (`uname -r`).
fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| r.trim().to_string())
        .unwrap_or_default()
}

/// Refuses a release older than [`NEEDED`]; one it cannot read passes (the
/// probe and the boot still tell).
fn check_kernel(release: &str) -> Result<(), String> {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    if (major, minor) < NEEDED {
        return Err(format!(
            "Linux {release} cannot stack idmapped layers (overlayfs takes them since {}.{})",
            NEEDED.0, NEEDED.1
        ));
    }
    Ok(())
}

/// What the answer depends on: this boot of the host, and the file
/// systems of both directories. None when any is unknown (no caching).
fn probe_key(dirs: [&Path; 2]) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let mut key = format!("boot {}", boot.trim());
    for d in dirs {
        key.push_str(&format!(" dev {}", std::fs::metadata(d).ok()?.dev()));
    }
    Some(key)
}

/// The cached answer for `key`, if the file holds one.
fn cached(cache: &Path, key: &str) -> Option<Result<(), String>> {
    let text = std::fs::read_to_string(cache).ok()?;
    let (stored, answer) = text.split_once('\n')?;
    if stored != key {
        return None;
    }
    let answer = answer.trim_end();
    if answer == "yes" {
        return Some(Ok(()));
    }
    answer.strip_prefix("no ").map(|r| Err(r.to_string()))
}

/// The real test: a user namespace mapping `ids`, and an idmapped clone
/// of each directory through it (detached: nothing is mounted).
fn probe(dirs: [&Path; 2], ids: UsernsIds) -> Result<(), String> {
    let holder = NsHolder::create(ids, false).map_err(|e| format!("user namespaces: {e}"))?;
    for d in dirs {
        idmap::idmapped_clone(d, holder.userns.as_fd()).map_err(|errno| match errno {
            Errno::EINVAL | Errno::EOPNOTSUPP | Errno::ENOSYS => format!(
                "the file system of {} does not take idmapped mounts (ext4, xfs, btrfs and \
                 tmpfs do)",
                d.display()
            ),
            errno => format!("idmapped mount of {}: {}", d.display(), errno.desc()),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_before_5_19_are_refused_by_release() {
        assert!(check_kernel("5.15.0-91-generic").is_err());
        assert!(check_kernel("4.19.0").is_err());
        let why = check_kernel("5.10.0-28-amd64").expect_err("too old");
        assert!(
            why.contains("5.10.0-28-amd64") && why.contains("5.19"),
            "{why}"
        );
        assert!(check_kernel("5.19.0").is_ok());
        assert!(check_kernel("6.1.0-18-amd64").is_ok());
        assert!(check_kernel("6.18.44-fc-v1045").is_ok());
        assert!(check_kernel("weird").is_ok(), "unknown: the probe decides");
    }

    #[test]
    fn the_cache_answers_only_for_its_key() {
        let t = tempfile::tempdir().expect("tempdir");
        let f = t.path().join(PROBE_FILE);
        assert_eq!(cached(&f, "k"), None, "no file");
        std::fs::write(&f, "boot a dev 1 dev 2\nyes\n").expect("write");
        assert_eq!(cached(&f, "boot a dev 1 dev 2"), Some(Ok(())));
        assert_eq!(cached(&f, "boot b dev 1 dev 2"), None, "another boot");
        std::fs::write(&f, "k\nno the fs says no\n").expect("write");
        assert_eq!(cached(&f, "k"), Some(Err("the fs says no".to_string())));
        std::fs::write(&f, "k\ngarbage\n").expect("write");
        assert_eq!(cached(&f, "k"), None, "unreadable: probe again");
    }
}
