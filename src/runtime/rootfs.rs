//! The container's root filesystem, built by the child inside its own mount
//! namespace: overlay of the image layers with the writable layer on top,
//! volumes, /proc, read-only /sys, a private /dev with its own devpts, then
//! pivot_root. Nothing here propagates to the host's mount table: the first
//! step makes every mount private.
//!
//! Paths inside the container are never resolved on the host: each mount
//! target is opened component by component beneath the new root, refusing
//! symlinks (an image could carry `/dev -> /etc`), and the mount is made on
//! the opened directory through /proc/self/fd.

use std::ffi::OsStr;
use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fchmodat, makedev, mkdirat, mknodat, FchmodatFlags, Mode, SFlag};

use super::idmap;
use crate::container::config::UsernsIds;
use crate::container::Volume;
use crate::fsutil::fsids::AsContainerRoot;
use xdockerinit::sys::{openat2, ErrnoText};

/// Why the root filesystem could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{step} {path}: {}", ErrnoText(*.errno))]
    Sys {
        step: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    #[error("{what} {path}: {reason}")]
    Refused {
        what: &'static str,
        path: PathBuf,
        reason: &'static str,
    },
}

fn sys<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> RootfsError + 'a {
    move |errno| RootfsError::Sys {
        step,
        path: path.to_path_buf(),
        errno,
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct RootfsPlan {
    /// Image layers, bottom first.
    pub lowers: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
    /// Host sources bound at paths inside, read-only or not.
    pub volumes: Vec<Volume>,
    pub hostname: String,
    /// Files written into the container at every boot (path inside, content):
    /// /etc/hostname, /etc/hosts and (HOST, BRIDGE) /etc/resolv.conf.
    pub files: Vec<(PathBuf, String)>,
    /// `--userns`: the host ids of root inside.
    pub userns: Option<UsernsIds>,
}

/// Overlay's `lowerdir=` lists the top layer first; `:` and `,` and `\`
/// in paths are escaped as the kernel expects.
pub fn overlay_options(plan: &RootfsPlan) -> String {
    let esc = |p: &Path| {
        let s = p.to_string_lossy();
        s.replace('\\', "\\\\")
            .replace(':', "\\:")
            .replace(',', "\\,")
    };
    let lowers: Vec<String> = plan.lowers.iter().rev().map(|p| esc(p)).collect();
    format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        esc(&plan.upper),
        esc(&plan.work)
    )
}

/// Opens (creating missing directories, mode 0755) `rel` beneath `root`,
/// refusing symlinks and `..` anywhere on the way.
pub fn open_dir_beneath(
    root: &Path,
    rel: &Path,
    what: &'static str,
) -> Result<OwnedFd, RootfsError> {
    let how = || {
        OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_BENEATH)
    };
    let refused = |reason| RootfsError::Refused {
        what,
        path: Path::new("/").join(rel),
        reason,
    };
    // The root is ours (a directory of the home); only what lies beneath it
    // comes from images.
    let mut dir = xdockerinit::sys::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys("open", root))?;
    for c in rel.components() {
        let name: &OsStr = match c {
            Component::RootDir | Component::CurDir => continue,
            Component::Normal(n) => n,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(refused("'..' is not allowed"))
            }
        };
        let next = match openat2(dir.as_fd(), name, how()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                mkdirat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(0o755))
                    .map_err(sys("create directory", rel))?;
                openat2(dir.as_fd(), name, how()).map_err(sys("open", rel))?
            }
            Err(Errno::ELOOP) | Err(Errno::EXDEV) => {
                return Err(refused("is a symlink inside the container"))
            }
            Err(Errno::ENOTDIR) => {
                let is_link = nix::sys::stat::fstatat(
                    Some(dir.as_raw_fd()),
                    name,
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
                .unwrap_or(false);
                return Err(refused(if is_link {
                    "is a symlink inside the container"
                } else {
                    "is not a directory inside the container"
                }));
            }
            Err(e) => return Err(sys("open", rel)(e)),
        };
        dir = next;
    }
    Ok(dir)
}

/// Writes a regular file at `rel` beneath `root` (mode 0644, owned by
/// root) unless it already holds `data` (a reboot then writes nothing).
/// Whatever else is at that name (but a directory) is removed first, never
/// followed or opened: a symlink, a FIFO (opening it would block), or the
/// image's own file, which overlayfs would otherwise copy up, with an
/// fsync of its data, only for it to be overwritten.
fn write_file_beneath(root: &Path, rel: &Path, data: &[u8]) -> Result<(), RootfsError> {
    use std::io::{Read, Write};
    let parent = rel.parent().unwrap_or(Path::new("/"));
    let dir = open_dir_beneath(root, parent, "file")?;
    let name = rel.file_name().ok_or(RootfsError::Refused {
        what: "file",
        path: rel.to_path_buf(),
        reason: "has no file name",
    })?;
    let found = nix::sys::stat::fstatat(
        Some(dir.as_raw_fd()),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .ok();
    let kind = found.map(|st| st.st_mode & libc::S_IFMT);
    if kind == Some(libc::S_IFREG) && found.is_some_and(|st| st.st_size as usize == data.len()) {
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_BENEATH);
        if let Ok(fd) = openat2(dir.as_fd(), name, how) {
            let mut file = fs::File::from(fd);
            let mut now = Vec::with_capacity(data.len());
            if file.read_to_end(&mut now).is_ok() && now == data {
                return Ok(());
            }
        }
    }
    if kind.is_some_and(|k| k != libc::S_IFDIR) {
        nix::unistd::unlinkat(
            Some(dir.as_raw_fd()),
            name,
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        )
        .map_err(sys("replace", rel))?;
    }
    let how = OpenHow::new()
        .flags(
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        )
        .mode(Mode::from_bits_truncate(0o644))
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_BENEATH);
    let fd = openat2(dir.as_fd(), name, how).map_err(sys("create", rel))?;
    let mut file = fs::File::from(fd);
    file.write_all(data).map_err(|e| RootfsError::Sys {
        step: "write",
        path: rel.to_path_buf(),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })
}

/// `/proc/self/fd/N` of an open directory: a mount target that is exactly
/// the directory opened, not whatever its path resolves to now.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn mount_on(
    source: Option<&Path>,
    target: &OwnedFd,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    shown: &Path,
) -> Result<(), RootfsError> {
    mount(source, &fd_path(target), fstype, flags, data).map_err(sys("mount", shown))
}

/// Makes every mount of the child's new mount namespace private: nothing
/// mounted from here on reaches the host's mount table. The first step of
/// the child.
pub fn make_private() -> Result<(), RootfsError> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(sys("make private", Path::new("/")))
}

/// A root filesystem built: its top directory, for [`switch_root`], and
/// the master of its `/dev/console` pty.
#[derive(Debug)]
pub struct Built {
    pub root: PathBuf,
    pub console: OwnedFd,
}

/// Builds the root filesystem and returns its top directory, for
/// [`switch_root`], with its console. Runs in the child, in its new mount and PID namespaces
/// made private ([`make_private`]), as host root, before xdockerinit is
/// executed. With `userns` (the container's user namespace) the layers are
/// idmapped and every file is made as the container's root.
pub fn build(plan: &RootfsPlan, userns: Option<BorrowedFd<'_>>) -> Result<Built, RootfsError> {
    let (root, _ids) = match (userns, plan.userns) {
        (Some(ns), Some(ids)) => mount_idmapped_overlay(plan, ns, ids)?,
        _ => {
            mount_overlay(plan, &plan.merged)?;
            (plan.merged.clone(), None)
        }
    };
    let root = &root;
    for (inside, content) in &plan.files {
        // An image without /etc (a single static binary) gets none.
        let parent = inside.parent().unwrap_or(Path::new("/"));
        if let Err(RootfsError::Sys {
            errno: Errno::ENOENT,
            ..
        }) = open_dir_beneath(root, parent, "file")
        {
            continue;
        }
        write_file_beneath(root, inside, content.as_bytes())?;
    }

    for volume in &plan.volumes {
        bind_volume(root, volume)?;
    }

    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let proc_dir = open_dir_beneath(root, Path::new("proc"), "mount point")?;
    mount_on(
        Some(Path::new("proc")),
        &proc_dir,
        Some("proc"),
        nosuid,
        None,
        Path::new("/proc"),
    )?;
    let sys_dir = open_dir_beneath(root, Path::new("sys"), "mount point")?;
    mount_on(
        Some(Path::new("sysfs")),
        &sys_dir,
        Some("sysfs"),
        nosuid | MsFlags::MS_RDONLY,
        None,
        Path::new("/sys"),
    )?;
    let console = build_dev(root, plan.userns)?;
    Ok(Built {
        root: root.clone(),
        console,
    })
}

/// Binds a volume's host source at its path inside `root` (recursively:
/// mounts below the source come along). A read-only volume is then made
/// read-only with everything below it (mount_setattr, which keeps the
/// source's nosuid, nodev and noexec flags). Root inside cannot undo
/// that: an unprivileged container has no rights over this mount
/// namespace (owned by the host's user namespace; one it makes of its own
/// gets the mount locked read-only by the kernel), and the seccomp mount
/// guard of a privileged one refuses remounts and mount_setattr.
fn bind_volume(root: &Path, volume: &Volume) -> Result<(), RootfsError> {
    let (host, inside) = (&volume.host, &volume.container);
    let meta = fs::metadata(host).map_err(|e| RootfsError::Sys {
        step: "volume source",
        path: host.clone(),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    let file_in = |parent: &OwnedFd, flags: OFlag| {
        let name = inside.file_name().ok_or(RootfsError::Refused {
            what: "volume target",
            path: inside.clone(),
            reason: "has no file name",
        })?;
        // openat2 takes a mode only with O_CREAT.
        let mode = if flags.contains(OFlag::O_CREAT) {
            0o644
        } else {
            0
        };
        let how = OpenHow::new()
            .flags(flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
            .mode(Mode::from_bits_truncate(mode))
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_BENEATH);
        openat2(parent.as_fd(), name, how).map_err(sys("create", inside))
    };
    let parent = || {
        open_dir_beneath(
            root,
            inside.parent().unwrap_or(Path::new("/")),
            "volume target",
        )
    };
    let target = if meta.is_dir() {
        open_dir_beneath(root, inside, "volume target")?
    } else {
        file_in(&parent()?, OFlag::O_CREAT | OFlag::O_WRONLY)?
    };
    mount_on(
        Some(host),
        &target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
        inside,
    )?;
    if volume.read_only {
        // Opened again: the descriptor from before is the directory (or
        // file) under the new mount, this one is the mount itself.
        let mounted = if meta.is_dir() {
            open_dir_beneath(root, inside, "volume target")?
        } else {
            file_in(&parent()?, OFlag::O_PATH)?
        };
        xdockerinit::sys::set_read_only(mounted.as_fd()).map_err(sys("make read-only", inside))?;
    }
    Ok(())
}

/// Makes `root` (from [`build`]) the root of this mount namespace; the
/// host's tree is gone from it afterwards.
pub fn switch_root(root: &Path) -> Result<(), RootfsError> {
    // pivot_root(".", ".") stacks the old root under the new one; unmounting
    // it leaves only the container's tree (pivot_root(2), "new_root and
    // put_old may be the same directory").
    nix::unistd::chdir(root).map_err(sys("chdir", root))?;
    nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root", root))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("detach old root", Path::new("/")))?;
    nix::unistd::chdir("/").map_err(sys("chdir", Path::new("/")))?;
    Ok(())
}

fn mount_overlay(plan: &RootfsPlan, target: &Path) -> Result<(), RootfsError> {
    let options = overlay_options(plan);
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(sys("mount overlay on", target))
}

/// The overlay of a `--userns` container: idmapped clones of the image
/// layers and of the container directory (holding the writable layer and
/// overlay's workdir) are attached on a staging tmpfs over `merged`, and
/// the overlay is mounted at `merged/root` with the container root's
/// filesystem ids, which stay set (returned) while the rest of the tree is
/// made. pivot_root later drops the staging tmpfs with the old root.
fn mount_idmapped_overlay(
    plan: &RootfsPlan,
    userns: BorrowedFd<'_>,
    ids: UsernsIds,
) -> Result<(PathBuf, Option<AsContainerRoot>), RootfsError> {
    let refused = |path: &Path, reason| RootfsError::Refused {
        what: "container directory",
        path: path.to_path_buf(),
        reason,
    };
    let dir = plan
        .upper
        .parent()
        .filter(|d| Some(*d) == plan.work.parent())
        .ok_or_else(|| {
            refused(
                &plan.upper,
                "the writable layer and workdir differ in parent",
            )
        })?;
    let name_in_dir = |p: &Path| {
        p.file_name()
            .map(PathBuf::from)
            .ok_or_else(|| refused(p, "has no file name"))
    };
    // Cloned before the staging tmpfs covers `merged`, inside `dir`.
    let clone = |p: &Path| {
        idmap::idmapped_clone(p, userns).map_err(|errno| match errno {
            Errno::EINVAL | Errno::EOPNOTSUPP => RootfsError::Refused {
                what: "idmapped mount of",
                path: p.to_path_buf(),
                reason: "not supported by this kernel or filesystem (Linux 5.19 or later with \
                         ext4, xfs, btrfs or tmpfs is needed for --userns)",
            },
            errno => sys("idmapped mount of", p)(errno),
        })
    };
    let dir_tree = clone(dir)?;
    let lower_trees = plan
        .lowers
        .iter()
        .map(|l| clone(l))
        .collect::<Result<Vec<_>, _>>()?;
    let staging = &plan.merged;
    mount(
        Some("tmpfs"),
        staging,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755,size=16k"),
    )
    .map_err(sys("mount staging tmpfs on", staging))?;
    let make_dir = |p: &Path| fs::create_dir(p).map_err(|e| sys("create", p)(io_errno(&e)));
    let rw = staging.join("rw");
    make_dir(&rw)?;
    idmap::attach(&dir_tree, &rw).map_err(sys("attach idmapped", dir))?;
    let mut staged = RootfsPlan {
        lowers: Vec::new(),
        upper: rw.join(name_in_dir(&plan.upper)?),
        work: rw.join(name_in_dir(&plan.work)?),
        ..plan.clone()
    };
    for (i, (tree, layer)) in lower_trees.iter().zip(&plan.lowers).enumerate() {
        let at = staging.join(format!("l{i}"));
        make_dir(&at)?;
        idmap::attach(tree, &at).map_err(sys("attach idmapped", layer))?;
        staged.lowers.push(at);
    }
    let root = staging.join("root");
    make_dir(&root)?;
    let as_root = AsContainerRoot::enter(Some(ids)).map_err(sys("take the ids of", &root))?;
    mount_overlay(&staged, &root).map_err(|e| match e {
        RootfsError::Sys {
            errno: Errno::EINVAL,
            path,
            ..
        } => RootfsError::Refused {
            what: "mount overlay on",
            path,
            reason: "overlayfs refused the idmapped layers (Linux 5.19 or later is needed \
                     for --userns)",
        },
        e => e,
    })?;
    Ok((root, as_root))
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Files of /proc that tell about or act on the host: covered by /dev/null.
const PROC_MASKED_FILES: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/latency_stats",
    "/proc/timer_stats",
];
/// Directories of /proc about host hardware: covered by an empty read-only tmpfs.
const PROC_MASKED_DIRS: &[&str] = &["/proc/acpi", "/proc/scsi", "/proc/asound"];
/// Parts of /proc that set the host kernel: read-only.
const PROC_READ_ONLY: &[&str] = &[
    "/proc/sys",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sysrq-trigger",
];

/// Leaves /proc to the container the way Docker and LXC's `proc:mixed`
/// do: host-wide files masked, `/proc/sys` and the other kernel knobs
/// read-only, except `/proc/sys/net` when the container has a network
/// namespace of its own (those settings are its own). Runs in the child
/// after pivot_root, on the /proc it mounted itself.
pub fn restrict_proc(own_network: bool) -> Result<(), RootfsError> {
    let proc_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let exists = |p: &str| fs::symlink_metadata(p).is_ok();
    for f in PROC_MASKED_FILES.iter().filter(|f| exists(f)) {
        mount(
            Some("/dev/null"),
            *f,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(sys("mask", Path::new(f)))?;
    }
    for d in PROC_MASKED_DIRS.iter().filter(|d| exists(d)) {
        mount(
            Some("tmpfs"),
            *d,
            Some("tmpfs"),
            proc_flags | MsFlags::MS_RDONLY,
            Some("size=0"),
        )
        .map_err(sys("mask", Path::new(d)))?;
    }
    let bind_self = |p: &str, read_only: bool| {
        mount(
            Some(p),
            p,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(sys("bind", Path::new(p)))?;
        let ro = if read_only {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
        mount(
            None::<&str>,
            p,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | proc_flags | ro,
            None::<&str>,
        )
        .map_err(sys("remount", Path::new(p)))
    };
    for p in PROC_READ_ONLY.iter().filter(|p| exists(p)) {
        bind_self(p, true)?;
    }
    if own_network && exists("/proc/sys/net") {
        bind_self("/proc/sys/net", false)?;
    }
    Ok(())
}

/// A private /dev: tmpfs with the usual nodes, a new devpts instance and
/// its ptmx, the console (its pty master is returned), shm, and the
/// /proc/self/fd links.
fn build_dev(root: &Path, userns: Option<UsernsIds>) -> Result<OwnedFd, RootfsError> {
    let dev = open_dir_beneath(root, Path::new("dev"), "mount point")?;
    // Options naming ids are read in the host's user namespace: a
    // `--userns` container's tty group 5 is its gid base + 5.
    let (owner, tty_gid) = match userns {
        Some(ids) => (format!(",uid={},gid={}", ids.uid, ids.gid), ids.gid + 5),
        None => (String::new(), 5),
    };
    mount_on(
        Some(Path::new("tmpfs")),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(&format!("mode=755,size=65536k{owner}")),
        Path::new("/dev"),
    )?;
    // The fd now names the directory under the new tmpfs only after a
    // reopen: open the mounted /dev again through the same safe walk.
    let dev = open_dir_beneath(root, Path::new("dev"), "mount point")?;
    let d = dev.as_raw_fd();
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        mknodat(
            Some(d),
            name,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(major, minor),
        )
        .map_err(sys("mknod", &Path::new("/dev").join(name)))?;
        // mknod applies the umask (0666 would become 0644 and non-root
        // users such as apt's _apt could not write /dev/null).
        fchmodat(
            Some(d),
            name,
            Mode::from_bits_truncate(0o666),
            FchmodatFlags::NoFollowSymlink,
        )
        .map_err(sys("chmod", &Path::new("/dev").join(name)))?;
    }
    let pts = open_dir_beneath(root, Path::new("dev/pts"), "mount point")?;
    mount_on(
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(&format!(
            "newinstance,ptmxmode=0666,mode=0620,gid={tty_gid}"
        )),
        Path::new("/dev/pts"),
    )?;
    let console = make_console(root, &dev)?;
    let shm = open_dir_beneath(root, Path::new("dev/shm"), "mount point")?;
    mount_on(
        Some(Path::new("tmpfs")),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(&format!("mode=1777,size=65536k{owner}")),
        Path::new("/dev/shm"),
    )?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        nix::unistd::symlinkat(target, Some(d), link)
            .map_err(sys("symlink", &Path::new("/dev").join(link)))?;
    }
    Ok(console)
}

/// `/dev/console`: the slave of a new pty of the container's own devpts,
/// bind-mounted on an empty file, as LXC makes its console. What anything
/// writes there (a host container's services, `echo x > /dev/console`)
/// is read from the master, which is returned for xdockerinit to log
/// (`--console-fd`). The slave belongs to whoever opened it (root inside,
/// also with `--userns`: the fs ids are the container root's by then),
/// mode 0600 as a console's.
fn make_console(root: &Path, dev: &OwnedFd) -> Result<OwnedFd, RootfsError> {
    let shown = Path::new("/dev/console");
    // Reopened: the descriptor from before the mount names the directory
    // under it.
    let pts = open_dir_beneath(root, Path::new("dev/pts"), "mount point")?;
    let master = xdockerinit::sys::openat(
        pts.as_fd(),
        "ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys("open", Path::new("/dev/pts/ptmx")))?;
    let slave = xdockerinit::sys::open_pty_slave(master.as_fd()).map_err(|(step, errno)| {
        RootfsError::Sys {
            step,
            path: shown.to_path_buf(),
            errno,
        }
    })?;
    nix::sys::stat::fchmod(slave.as_raw_fd(), Mode::from_bits_truncate(0o600))
        .map_err(sys("chmod", shown))?;
    let target = xdockerinit::sys::openat(
        dev.as_fd(),
        "console",
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(sys("create", shown))?;
    mount(
        Some(&fd_path(&slave)),
        &fd_path(&target),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(sys("mount the console pty on", shown))?;
    Ok(master)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_lists_the_top_layer_first_and_escapes() {
        let plan = RootfsPlan {
            lowers: vec!["/i/base".into(), "/i/a:b,c".into()],
            upper: "/c/rw".into(),
            work: "/c/work".into(),
            merged: "/c/merged".into(),
            volumes: vec![],
            hostname: "h".into(),
            files: vec![],
            userns: None,
        };
        assert_eq!(
            overlay_options(&plan),
            "lowerdir=/i/a\\:b\\,c:/i/base,upperdir=/c/rw,workdir=/c/work"
        );
    }

    #[test]
    fn targets_are_opened_beneath_the_root_without_symlinks() {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path().join("root");
        fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::os::unix::fs::symlink("/etc", root.join("dev")).expect("symlink");
        std::os::unix::fs::symlink("../..", root.join("etc/up")).expect("symlink");
        assert!(open_dir_beneath(&root, Path::new("/data/deep"), "t").is_ok());
        assert!(
            root.join("data/deep").is_dir(),
            "missing directories are created"
        );
        for bad in ["/dev", "/dev/pts", "/etc/up/x", "/../x"] {
            let e = open_dir_beneath(&root, Path::new(bad), "volume target");
            assert!(e.is_err(), "{bad}");
        }
        assert!(!t.path().join("x").exists());
        let e = open_dir_beneath(&root, Path::new("/dev"), "volume target").expect_err("symlink");
        assert_eq!(
            e.to_string(),
            "volume target /dev: is a symlink inside the container"
        );
    }
}
