//! Files of a running container, copied to and from the host (`putfile`,
//! `getfile`, Docker's `cp`) or made from a template (`rplfile`): every container path is resolved inside the
//! container's root through its init's `/proc/PID/root`
//! ([`crate::fsutil::inroot`]), never on the host; files made in a
//! `--userns` container are made as its root.

use std::path::{Path, PathBuf};

use super::LifecycleError;
use crate::container::config::UsernsIds;
use crate::container::subids::IdShift;
use crate::container::ContainerError;
use crate::fsutil::copy::CopyStats;
use crate::fsutil::fsids::AsContainerRoot;
use crate::fsutil::inroot::{self, Direction, InRootError, Root, Source, Spot};
use crate::names::Name;
use crate::runtime::{Runtime, RuntimeError};
use crate::template;

/// The root of running (or paused) container `name`, and the host ids of
/// its root (`--userns`).
pub fn container_root(
    rt: &Runtime,
    name: &Name,
) -> Result<(Root, Option<UsernsIds>), LifecycleError> {
    if !rt.containers.exists(name) {
        return Err(ContainerError::NotFound(name.to_string()).into());
    }
    let ids = rt.containers.config(name)?.security.userns;
    // A paused container's files are there all the same: no process of
    // it takes part in a copy.
    let Some(pid) = rt.status_releasing_leftovers(name)?.pid() else {
        return Err(RuntimeError::NotRunning(name.to_string()).into());
    };
    let still_running = || {
        rt.status_releasing_leftovers(name)
            .is_ok_and(|s| s.pid() == Some(pid))
    };
    let root =
        Root::of_process(Path::new("/proc"), pid, still_running).map_err(|e| match e.errno() {
            Some(nix::errno::Errno::ENOENT | nix::errno::Errno::ESRCH) => {
                LifecycleError::from(RuntimeError::NotRunning(name.to_string()))
            }
            _ => LifecycleError::ContainerRoot {
                name: name.to_string(),
                source: e,
            },
        })?;
    Ok((root, ids))
}

/// Takes the ids of container `name`'s root (`--userns`) until dropped,
/// so that files made in it are its root's.
pub fn as_container_root(
    name: &Name,
    ids: Option<UsernsIds>,
) -> Result<Option<AsContainerRoot>, LifecycleError> {
    AsContainerRoot::enter(ids).map_err(|errno| LifecycleError::ContainerRootIds {
        name: name.to_string(),
        errno,
    })
}

fn in_container(name: &Name, op: &'static str) -> impl FnOnce(InRootError) -> LifecycleError {
    let name = name.to_string();
    move |source| LifecycleError::InContainer { name, op, source }
}

/// Copies host file or tree `src` to `dst` in running container `name`
/// (into `dst` when it is a directory).
pub fn put_file(
    rt: &Runtime,
    name: &Name,
    src: &Path,
    dst: &Path,
) -> Result<CopyStats, LifecycleError> {
    let (root, ids) = container_root(rt, name)?;
    let _as_root = as_container_root(name, ids)?;
    let stats = (|| {
        let source = Source::on_host(src)?;
        let spot = root.locate(dst)?;
        inroot::copy(&source, &spot, Direction::IntoContainer, IdShift(ids))
    })()
    .map_err(in_container(name, "putfile"))?;
    crate::logging::info(&format!(
        "container {name}: putfile {} -> {}: {stats:?}",
        src.display(),
        dst.display()
    ));
    Ok(stats)
}

/// Copies file or tree `src` of running container `name` to `dst` on the
/// host (into `dst` when it is a directory).
pub fn get_file(
    rt: &Runtime,
    name: &Name,
    src: &Path,
    dst: &Path,
) -> Result<CopyStats, LifecycleError> {
    let (root, ids) = container_root(rt, name)?;
    let stats = (|| {
        let source = Source::in_root(&root, src)?;
        let spot = Spot::on_host(dst)?;
        inroot::copy(&source, &spot, Direction::OutOfContainer, IdShift(ids))
    })()
    .map_err(in_container(name, "getfile"))?;
    crate::logging::info(&format!(
        "container {name}: getfile {} -> {}: {stats:?}",
        src.display(),
        dst.display()
    ));
    Ok(stats)
}

/// Largest template read from a container.
const TEMPLATE_LIMIT: u64 = 64 << 20;

/// The most a mapping file may hold.
const MAPPING_LIMIT: u64 = 16 << 20;

/// Reads a host mapping file: a regular file of at most [`MAPPING_LIMIT`]
/// bytes (a FIFO, a device such as /dev/zero, or a directory is refused
/// without blocking or reading it).
fn read_mapping(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("is not a regular file"));
    }
    if meta.len() > MAPPING_LIMIT {
        return Err(std::io::Error::other(format!(
            "is larger than {} MiB",
            MAPPING_LIMIT >> 20
        )));
    }
    let mut data = Vec::new();
    file.take(MAPPING_LIMIT + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAPPING_LIMIT {
        return Err(std::io::Error::other(format!(
            "is larger than {} MiB",
            MAPPING_LIMIT >> 20
        )));
    }
    Ok(data)
}

/// The instance of a template when `--instance-file` is not given (SPEC
/// §6): `X.tpl` gives `X`; any other template is instantiated in place, as
/// the original tool does (atomically, keeping its mode and owner).
fn default_instance(template: &Path) -> PathBuf {
    let stem = template
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".tpl"))
        .filter(|s| !s.is_empty());
    match stem {
        Some(stem) => template.with_file_name(stem),
        None => template.to_path_buf(),
    }
}

/// Instantiates template `template` of running container `name` with the
/// rules of host file `mapping` into `instance` (SPEC §6; default: see
/// [`default_instance`]), atomically: an existing instance keeps its mode
/// and owner, a new one gets the template's. Both container paths are
/// resolved inside the container, as its root.
pub fn rpl_file(
    rt: &Runtime,
    name: &Name,
    template: &Path,
    mapping: &Path,
    instance: Option<&Path>,
) -> Result<(), LifecycleError> {
    let instance = instance.map_or_else(|| default_instance(template), Path::to_path_buf);
    let (root, ids) = container_root(rt, name)?;
    let text = read_mapping(mapping).map_err(|error| LifecycleError::MappingRead {
        name: name.to_string(),
        path: mapping.to_path_buf(),
        error,
    })?;
    let rules = template::parse_mapping(&text).map_err(|source| LifecycleError::MappingParse {
        name: name.to_string(),
        path: mapping.to_path_buf(),
        source,
    })?;
    let count = rules.len();
    let _as_root = as_container_root(name, ids)?;
    (|| {
        let (text, tpl) = root.read_file(template, TEMPLATE_LIMIT)?;
        let out = template::instantiate(&text, &rules);
        let spot = root.locate(&instance)?;
        // An existing instance keeps its mode and owner; a new one gets the
        // template's.
        let from = match spot.stat() {
            Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => *st,
            Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                return Err(InRootError::Refused {
                    side: inroot::Side::Container,
                    path: instance.clone(),
                    reason: "is a directory".into(),
                })
            }
            Some(_) => {
                return Err(InRootError::Refused {
                    side: inroot::Side::Container,
                    path: instance.clone(),
                    reason: "is not a regular file".into(),
                })
            }
            None => tpl,
        };
        spot.replace_file(&out, from.st_mode, from.st_uid, from.st_gid)
    })()
    .map_err(in_container(name, "rplfile"))?;
    crate::logging::info(&format!(
        "container {name}: rplfile {} -> {} with {count} rules from {}",
        template.display(),
        instance.display(),
        mapping.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;
    use std::error::Error as _;

    #[test]
    fn a_container_root_error_keeps_its_cause_and_lowercase_words() {
        let e = LifecycleError::ContainerRoot {
            name: "web".into(),
            source: InRootError::Sys {
                op: "open",
                side: inroot::Side::Container,
                path: "/".into(),
                errno: Errno::EACCES,
            },
        };
        let cause = e.source().and_then(|s| s.downcast_ref::<InRootError>());
        assert_eq!(cause.and_then(InRootError::errno), Some(Errno::EACCES));
        let e = LifecycleError::ContainerRootIds {
            name: "web".into(),
            errno: Errno::EPERM,
        };
        assert_eq!(
            e.to_string(),
            "container web: take the ids of its root: operation not permitted"
        );
    }

    #[test]
    fn mapping_files_must_be_small_regular_files() {
        let t = tempfile::tempdir().expect("tempdir");
        let ok = t.path().join("m");
        std::fs::write(&ok, "K=V\n").expect("write");
        assert_eq!(read_mapping(&ok).expect("read"), b"K=V\n");
        let e = read_mapping(Path::new("/dev/zero")).expect_err("device");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let fifo = t.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("fifo");
        let e = read_mapping(&fifo).expect_err("fifo, without blocking");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(read_mapping(t.path()).is_err(), "a directory");
        let big = t.path().join("big");
        let f = std::fs::File::create(&big).expect("create");
        f.set_len(MAPPING_LIMIT + 1).expect("truncate");
        let e = read_mapping(&big).expect_err("too big");
        assert!(e.to_string().contains("larger than 16 MiB"), "{e}");
    }

    #[test]
    fn instance_is_the_template_without_tpl_or_the_template_itself() {
        let d = |p: &str| default_instance(Path::new(p));
        assert_eq!(d("/etc/app.conf.tpl"), PathBuf::from("/etc/app.conf"));
        assert_eq!(d("rel/x.tpl"), PathBuf::from("rel/x"));
        // Without the suffix: the template itself, in place.
        assert_eq!(d("/etc/app.conf"), PathBuf::from("/etc/app.conf"));
        assert_eq!(d("/etc/.tpl"), PathBuf::from("/etc/.tpl"));
        assert_eq!(d("/"), PathBuf::from("/"));
    }
}
