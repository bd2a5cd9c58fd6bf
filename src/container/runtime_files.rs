//! What xdocker itself puts into a container's writable layer at boot —
//! `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf` and the mount points
//! of volumes — belongs to the container, not to an image made from it:
//! [`strip`] takes it out of the layer before `to_image`, so that an image
//! made on one host boots cleanly on another (no old VIP in /etc/hosts,
//! no empty directories where another host's volumes were). [`planned`]
//! names the same paths without removing anything, for a copy that must
//! leave them out of a layer it may not change (a container's export).
//!
//! The layer is the container's, so hostile ground: every path is opened
//! one component at a time with `O_NOFOLLOW` below the layer's directory.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::ContainerConfig;
use crate::network::Net;

/// The /etc files xdocker writes into every container of network `net`
/// at every boot (a CUSTOM network's resolver is the user's).
pub fn etc_paths(net: &Net) -> &'static [&'static str] {
    match net {
        Net::Custom => &["/etc/hostname", "/etc/hosts"],
        Net::Host | Net::Bridge | Net::Named(_) => {
            &["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]
        }
    }
}

fn io_err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// The directory `rel` below `top`, every component opened without
/// following symlinks; None when a component is missing or not a
/// directory.
fn open_dir(top: &Path, rel: &Path) -> io::Result<Option<Dir>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut dir = Dir::open(top, flags, Mode::empty()).map_err(io_err)?;
    for c in rel.components() {
        let Component::Normal(name) = c else {
            continue;
        };
        dir = match Dir::openat(Some(dir.as_raw_fd()), name, flags, Mode::empty()) {
            Ok(d) => d,
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
    }
    Ok(Some(dir))
}

/// The file type (`S_IFMT` bits) and size of `name` in `dir`, not followed.
fn kind(dir: &Dir, name: &OsStr) -> io::Result<Option<(libc::mode_t, i64)>> {
    match fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some((st.st_mode & libc::S_IFMT, st.st_size))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(io_err(e)),
    }
}

/// True when some layer of `layers` has an entry at `rel`.
fn in_any(layers: &[PathBuf], rel: &Path) -> io::Result<bool> {
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Ok(true);
    };
    for layer in layers {
        if let Some(dir) = open_dir(layer, parent)? {
            if kind(&dir, name)?.is_some() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// True when directory `name` in `parent` holds nothing but `except`
/// (what was just removed, or would be).
fn is_empty_dir(parent: &Dir, name: &OsStr, except: Option<&OsStr>) -> io::Result<bool> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut dir =
        Dir::openat(Some(parent.as_raw_fd()), name, flags, Mode::empty()).map_err(io_err)?;
    for entry in dir.iter() {
        let entry = entry.map_err(io_err)?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." && except.map(OsStr::as_bytes) != Some(n) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Removes from the writable layer `upper` (stacked on `lowers`) what
/// xdocker wrote there for container `config`: its /etc files (whatever
/// is at their names but a directory; a lower layer's own file shows
/// again), and each volume's mount point and the directories made for it,
/// where they are empty and no lower layer has them. Returns the paths
/// removed (inside the container). Killed half-way, nothing is lost: the
/// next boot writes the files again.
pub fn strip(
    upper: &Path,
    lowers: &[PathBuf],
    config: &ContainerConfig,
) -> io::Result<Vec<PathBuf>> {
    find(upper, lowers, config, true)
}

/// The paths (inside the container) that [`strip`] would remove from
/// `upper`, in the order it would; nothing is removed.
pub fn planned(
    upper: &Path,
    lowers: &[PathBuf],
    config: &ContainerConfig,
) -> io::Result<Vec<PathBuf>> {
    find(upper, lowers, config, false)
}

/// [`strip`] (`remove`) or [`planned`].
fn find(
    upper: &Path,
    lowers: &[PathBuf],
    config: &ContainerConfig,
    remove: bool,
) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for path in etc_paths(&config.net) {
        let rel = Path::new(path.trim_start_matches('/'));
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            continue;
        };
        let Some(dir) = open_dir(upper, parent)? else {
            continue;
        };
        match kind(&dir, name)? {
            Some((k, _)) if k != libc::S_IFDIR => {
                if remove {
                    unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
                        .map_err(io_err)?;
                }
                removed.push(Path::new("/").join(rel));
            }
            _ => {}
        }
    }
    for volume in &config.volumes {
        let mut rel: PathBuf = volume
            .container
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        // The entry below `rel` that went (or would go) on the way up.
        let mut gone: Option<OsString> = None;
        while let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) {
            if in_any(lowers, &rel)? {
                break;
            }
            let Some(dir) = open_dir(upper, parent)? else {
                break;
            };
            let flag = match kind(&dir, name)? {
                Some((libc::S_IFDIR, _)) if is_empty_dir(&dir, name, gone.as_deref())? => {
                    UnlinkatFlags::RemoveDir
                }
                Some((libc::S_IFREG, 0)) => UnlinkatFlags::NoRemoveDir,
                _ => break,
            };
            if remove {
                unlinkat(Some(dir.as_raw_fd()), name, flag).map_err(io_err)?;
            }
            removed.push(Path::new("/").join(&rel));
            gone = Some(name.to_os_string());
            rel = parent.to_path_buf();
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::config::{LimitsConfig, SecurityConfig};
    use crate::container::Volume;
    use std::fs;

    fn config(net: Net, volumes: &[&str]) -> ContainerConfig {
        ContainerConfig {
            name: "web".into(),
            hostname: "web".into(),
            images: vec![],
            net,
            host_eth: None,
            vip: None,
            port_mappings: vec![],
            volumes: volumes
                .iter()
                .map(|v| Volume {
                    host: "/srv".into(),
                    container: (*v).into(),
                    read_only: false,
                })
                .collect(),
            limits: LimitsConfig::default(),
            autostart: None,
            restart: None,
            services: Vec::new(),
            security: SecurityConfig::default(),
            created: "now".into(),
            env: vec![],
            workdir: None,
            user: None,
            command: None,
            auto_remove: false,
            tty: false,
        }
    }

    #[test]
    fn run_time_files_and_empty_mount_points_go_and_the_users_files_stay() {
        let t = tempfile::tempdir().expect("tempdir");
        let (upper, lower) = (t.path().join("upper"), t.path().join("lower"));
        for d in ["etc", "srv/data/db", "opt/app", "home/me"] {
            fs::create_dir_all(upper.join(d)).expect("mkdir");
        }
        fs::create_dir_all(lower.join("srv")).expect("mkdir");
        fs::create_dir_all(lower.join("etc")).expect("mkdir");
        fs::write(lower.join("etc/hosts"), "the image's\n").expect("write");
        fs::write(upper.join("etc/hosts"), "10.0.0.2 web\n").expect("write");
        fs::write(upper.join("etc/hostname"), "web\n").expect("write");
        std::os::unix::fs::symlink("/run/resolv.conf", upper.join("etc/resolv.conf"))
            .expect("symlink");
        fs::write(upper.join("etc/motd"), "the user's\n").expect("write");
        fs::write(upper.join("home/me/notes"), "kept\n").expect("write");
        fs::write(upper.join("opt/app/x"), "not empty\n").expect("write");
        let c = config(Net::Bridge, &["/srv/data/db", "/opt/app", "/home/me/notes"]);
        let planned = planned(&upper, std::slice::from_ref(&lower), &c).expect("planned");
        assert!(upper.join("etc/hosts").exists(), "planned removes nothing");
        assert!(
            upper.join("srv/data/db").is_dir(),
            "planned removes nothing"
        );
        let mut removed = strip(&upper, std::slice::from_ref(&lower), &c).expect("strip");
        assert_eq!(planned, removed, "planned names what strip removes");
        removed.sort();
        assert_eq!(
            removed,
            [
                "/etc/hostname",
                "/etc/hosts",
                "/etc/resolv.conf",
                "/srv/data",
                "/srv/data/db"
            ]
            .map(PathBuf::from)
        );
        assert!(upper.join("srv").is_dir(), "/srv is the image's");
        assert!(upper.join("etc/motd").exists());
        assert!(
            upper.join("opt/app/x").exists(),
            "a mount point with files stays"
        );
        assert!(
            upper.join("home/me/notes").exists(),
            "a file with data stays"
        );
        assert!(lower.join("etc/hosts").exists());
        // Again: nothing more to do.
        assert!(strip(&upper, &[lower], &c).expect("strip").is_empty());
    }

    #[test]
    fn a_custom_containers_resolver_is_its_users_and_symlinks_are_never_followed() {
        let t = tempfile::tempdir().expect("tempdir");
        let upper = t.path().join("upper");
        let outside = t.path().join("outside");
        fs::create_dir_all(&outside).expect("mkdir");
        fs::write(outside.join("hosts"), "host file\n").expect("write");
        fs::create_dir_all(upper.join("srv")).expect("mkdir");
        std::os::unix::fs::symlink(&outside, upper.join("etc")).expect("symlink");
        std::os::unix::fs::symlink(&outside, upper.join("srv/mnt")).expect("symlink");
        let c = config(Net::Custom, &["/srv/mnt/hosts"]);
        assert!(strip(&upper, &[], &c).expect("strip").is_empty());
        assert!(outside.join("hosts").exists());
        fs::remove_file(upper.join("etc")).expect("rm");
        fs::create_dir_all(upper.join("etc")).expect("mkdir");
        fs::write(upper.join("etc/resolv.conf"), "nameserver 10.1.1.1\n").expect("write");
        assert_eq!(
            strip(&upper, &[], &c).expect("strip"),
            Vec::<PathBuf>::new()
        );
        assert!(upper.join("etc/resolv.conf").exists());
    }
}
