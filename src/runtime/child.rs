//! The child side of a boot, after clone3: builds the root filesystem of
//! the [`BootPlan`], joins the cgroup the parent made, sets up the network
//! inside, confines itself and executes xdockerinit. It never returns; a
//! failure goes to the parent as a [`ChildFailure`] (step, errno, detail).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use xdockerinit::sys;

use super::plan::{BootPlan, SeccompPlan};
use super::rootfs::{self, RootfsError};
use super::spawn::{ChildChannel, ChildFailure, ChildStep, ParentMessage};
use super::{caps, init_binary, seccomp, userns, GRACE_SECONDS};
use crate::cgroups::Cgroups;

/// The descriptors the child passes on to xdockerinit.
#[derive(Debug)]
pub struct ChildIo<'a> {
    pub init: File,
    pub init_path: &'a Path,
    pub exit_file: File,
    pub session: &'a std::os::unix::net::UnixListener,
}

/// What the parent made for the child before clone3: the user namespace
/// its root is confined to (None: root inside is host root) and the
/// seccomp program, so that the child only hands them to the kernel.
#[derive(Debug)]
pub struct Prepared<'a> {
    pub userns: Option<&'a userns::NsHolder>,
    pub seccomp: Option<Vec<libc::sock_filter>>,
}

impl Prepared<'_> {
    /// The seccomp program of `plan`, compiled at build time.
    pub fn seccomp_program(plan: &BootPlan) -> Option<Vec<libc::sock_filter>> {
        match plan.seccomp {
            SeccompPlan::Off => None,
            SeccompPlan::Default => Some(seccomp::program(false)),
            SeccompPlan::Privileged => Some(seccomp::program(true)),
        }
    }
}

type Step<T> = Result<T, ChildFailure>;

fn failed(step: ChildStep) -> impl FnOnce(String) -> ChildFailure {
    move |detail| ChildFailure::new(step, None, detail)
}

fn rootfs_failed(step: ChildStep) -> impl FnOnce(RootfsError) -> ChildFailure {
    move |e| {
        let errno = match &e {
            RootfsError::Sys { errno, .. } => Some(*errno),
            RootfsError::Refused { .. } => None,
        };
        ChildFailure::new(step, errno, e.to_string())
    }
}

fn sys_failed(step: ChildStep, what: String) -> impl FnOnce(Errno) -> ChildFailure {
    move |errno| {
        ChildFailure::new(
            step,
            Some(errno),
            format!("{what}: {}", sys::errno_text(errno)),
        )
    }
}

/// Until it executes xdockerinit the child dies with the parent: a killed
/// boot leaves no half-built container process behind (a parent that died
/// before this call closed the channel, which the child then reads).
fn die_with_parent() {
    let _ = sys::set_parent_death_signal(Some(Signal::SIGKILL));
}

/// Nothing to flush in this child.
fn exit_now() -> ! {
    sys::exit_now(1)
}

/// The child after clone3. The root filesystem is built while the parent
/// makes the cgroup, records the state and wires the network (two cores
/// work at once). Once the cgroup exists the child joins it by itself,
/// the fast way in (see `Cgroups::join_self`), while the host's tree is
/// still in reach and before the cgroup namespace is made. The network
/// inside and the exec wait for `Go`; a failure is reported then, so that
/// the parent never mistakes a child that died early for a failure of its
/// own.
pub fn run(
    mut channel: ChildChannel,
    cgroups: &dyn Cgroups,
    plan: &BootPlan,
    prepared: &Prepared<'_>,
    io: ChildIo<'_>,
) -> ! {
    die_with_parent();
    let mut cgroup_joined = false;
    let root = prepare_root(plan, prepared.userns, &io, &mut || {
        if !channel.wait_for(ParentMessage::CgroupReady) {
            exit_now();
        }
        cgroup_joined = true;
        cgroups
            .join_self(&plan.cgroup)
            .map_err(|e| ChildFailure::new(ChildStep::Cgroup, None, e.to_string()))
    });
    // Entering a user namespace changed the credentials, which clears the
    // parent-death signal: set again.
    die_with_parent();
    if (!cgroup_joined && !channel.wait_for(ParentMessage::CgroupReady))
        || !channel.wait_for(ParentMessage::Go)
    {
        exit_now();
    }
    let failure = match root.and_then(|init| {
        if let Some(inside) = plan.network.inside() {
            inside.configure().map_err(|e| {
                ChildFailure::new(ChildStep::Network, None, format!("network: {e}"))
            })?;
        }
        caps::restrict(&plan.drop_caps).map_err(failed(ChildStep::Confine))?;
        // Last: from here on every call the container makes is filtered.
        if let Some(program) = &prepared.seccomp {
            seccomp::load(program).map_err(failed(ChildStep::Confine))?;
        }
        Ok(exec_init(&init, &io, plan))
    }) {
        Ok(f) | Err(f) => f,
    };
    channel.fail(&failure);
    exit_now()
}

/// The root filesystem (ending with pivot_root and the limits on /proc),
/// the cgroup (`join_cgroup`, between the two) and its namespace, and the
/// hostname; returns xdockerinit as the container will execute it (see
/// `init_binary::read_only_view`). A `--userns` container joins its
/// network namespace first (sysfs shows the one it is mounted in), and its
/// user namespace last, making the namespaces it owns.
fn prepare_root(
    plan: &BootPlan,
    holder: Option<&userns::NsHolder>,
    io: &ChildIo<'_>,
    join_cgroup: &mut dyn FnMut() -> Step<()>,
) -> Step<File> {
    let own_network = plan.network.netns().is_some();
    rootfs::make_private().map_err(rootfs_failed(ChildStep::Prepare))?;
    let init =
        init_binary::read_only_view(&io.init, io.init_path).map_err(failed(ChildStep::Prepare))?;
    match holder {
        None => {
            let root =
                rootfs::build(&plan.rootfs, None).map_err(rootfs_failed(ChildStep::Rootfs))?;
            join_cgroup()?;
            nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).map_err(sys_failed(
                ChildStep::Cgroup,
                "unshare cgroup namespace".to_string(),
            ))?;
            rootfs::switch_root(&root).map_err(rootfs_failed(ChildStep::SwitchRoot))?;
            rootfs::restrict_proc(own_network).map_err(rootfs_failed(ChildStep::SwitchRoot))?;
        }
        Some(h) => {
            if let Some(netns) = &h.netns {
                userns::join_netns(netns).map_err(failed(ChildStep::Userns))?;
            }
            let root = rootfs::build(&plan.rootfs, Some(h.userns.as_fd()))
                .map_err(rootfs_failed(ChildStep::Rootfs))?;
            join_cgroup()?;
            rootfs::switch_root(&root).map_err(rootfs_failed(ChildStep::SwitchRoot))?;
            rootfs::restrict_proc(own_network).map_err(rootfs_failed(ChildStep::SwitchRoot))?;
            userns::enter(&h.userns).map_err(failed(ChildStep::Userns))?;
        }
    }
    let hostname = &plan.rootfs.hostname;
    nix::unistd::sethostname(hostname).map_err(sys_failed(
        ChildStep::Hostname,
        format!("sethostname {hostname}"),
    ))?;
    Ok(init)
}

/// A host container leaves the terminal and the session and process group
/// of whoever booted it (as `lxc-start -d` daemonizes): a Ctrl-C, a
/// SIGHUP of a closing terminal or `kill -TERM -PGID` of a script that
/// booted it must not reach it. `-e` keeps xdocker's stdio for CMD, and
/// its session: xdocker waits for it in the foreground.
fn detach(exec: Option<&str>) -> Step<()> {
    if exec.is_some() {
        return Ok(());
    }
    let null = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDWR,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys_failed(
        ChildStep::Descriptors,
        "open /dev/null".to_string(),
    ))?;
    for fd in 0..3 {
        let _ = nix::unistd::dup2(null, fd);
    }
    if null > 2 {
        let _ = nix::unistd::close(null);
    }
    nix::unistd::setsid().map_err(sys_failed(
        ChildStep::Descriptors,
        "leave the booter's session".to_string(),
    ))?;
    Ok(())
}

/// Executes xdockerinit with its descriptors; returns only on failure,
/// with the reason.
fn exec_init(init: &File, io: &ChildIo<'_>, plan: &BootPlan) -> ChildFailure {
    match pass_descriptors_and_exec(init, io, plan) {
        Ok(never) => match never {},
        Err(f) => f,
    }
}

fn pass_descriptors_and_exec(
    init: &File,
    io: &ChildIo<'_>,
    plan: &BootPlan,
) -> Step<std::convert::Infallible> {
    let exec = plan.exec.as_deref();
    detach(exec)?;
    // The exit record is fd 3 and the session socket fd 4 for xdockerinit;
    // every other inherited fd is closed at exec. Whichever of ours sits on
    // 3 or 4 moves up first, so neither dup2 overwrites another one.
    let above_4 = |fd: RawFd| match fd {
        3 | 4 => nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(5)),
        _ => Ok(fd),
    };
    let pass = |what: &str| sys_failed(ChildStep::Descriptors, format!("pass {what}"));
    let init_fd = above_4(init.as_raw_fd()).map_err(pass("descriptors"))?;
    let exit_fd = above_4(io.exit_file.as_raw_fd()).map_err(pass("descriptors"))?;
    let session_fd = above_4(io.session.as_raw_fd()).map_err(pass("descriptors"))?;
    nix::unistd::dup2(exit_fd, 3).map_err(pass("exit record"))?;
    nix::unistd::dup2(session_fd, 4).map_err(pass("session socket"))?;
    sys::close_range_cloexec(5).map_err(pass("descriptors"))?;
    let mut argv = vec![
        CString::from(c"xdockerinit"),
        CString::from(c"--exit-fd"),
        CString::from(c"3"),
        CString::from(c"--session-fd"),
        CString::from(c"4"),
        CString::from(c"--grace"),
    ];
    argv.push(CString::new(GRACE_SECONDS.to_string()).unwrap_or_default());
    for option in &plan.supervision.init_args() {
        argv.push(CString::new(option.as_str()).map_err(|_| {
            ChildFailure::new(
                ChildStep::Exec,
                None,
                format!("xdockerinit option '{option}' contains a NUL byte"),
            )
        })?);
    }
    if let Some(cmd) = exec {
        argv.push(CString::from(c"-e"));
        argv.push(CString::new(cmd).map_err(|_| {
            ChildFailure::new(
                ChildStep::Exec,
                None,
                "the command contains a NUL byte".to_string(),
            )
        })?);
    }
    // The container's environment (see `plan::init_env`), which
    // `--pass-env` has xdockerinit give every process it starts; TERM is
    // the booting terminal's (for `-e`) unless the container sets one.
    argv.push(CString::from(c"--pass-env"));
    let mut env = plan
        .env
        .iter()
        .map(|e| CString::new(e.as_str()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            ChildFailure::new(
                ChildStep::Exec,
                None,
                "a variable contains a NUL byte".to_string(),
            )
        })?;
    let has_term = plan.env.iter().any(|e| e.starts_with("TERM="));
    if let Some(term) = std::env::var_os("TERM")
        .filter(|_| !has_term)
        .and_then(|t| CString::new(format!("TERM={}", t.to_string_lossy())).ok())
    {
        env.push(term);
    }
    // xdockerinit outlives xdocker (the state file is on disk: the parent
    // wrote it before `Go`).
    let _ = sys::set_parent_death_signal(None);
    nix::unistd::fexecve(init_fd, &argv, &env).map_err(sys_failed(
        ChildStep::Exec,
        "execute xdockerinit".to_string(),
    ))
}
