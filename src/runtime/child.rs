//! The child side of a boot, after clone3: builds the root filesystem of
//! the [`BootPlan`], joins the cgroup the parent made, sets up the network
//! inside, confines itself and executes xdockerinit. It never returns; a
//! failure goes to the parent as a [`ChildFailure`] (step, errno, detail).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use xdockerinit::sys;

use super::plan::{BootPlan, SeccompPlan};
use super::rootfs::{self, RootfsError};
use super::spawn::{ChildChannel, ChildFailure, ChildStep, ParentMessage};
use super::{caps, init_binary, seccomp, userns, GRACE_SECONDS};
use crate::cgroups::{CgroupError, Cgroups};

/// The descriptors the child passes on to xdockerinit.
#[derive(Debug)]
pub struct ChildIo<'a> {
    pub init: File,
    pub init_path: &'a Path,
    pub exit_file: File,
    pub session: &'a std::os::unix::net::UnixListener,
    /// The console log's ring of files, in the order xdockerinit writes
    /// them (see `boot::open_log_files`).
    pub log_files: Vec<OwnedFd>,
    /// `-e`: xdocker's stdout and stderr when they are terminals, opened
    /// afresh non-blocking, so that xdockerinit's copy of the main
    /// process's output never makes PID 1 wait for a stalled terminal;
    /// they become xdockerinit's fds 1 and 2.
    pub terminals: [Option<OwnedFd>; 2],
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

/// An error of a step of the child: its message, and the errno of the
/// system call that failed (None: refused by xdocker itself), which
/// crosses the fork with it so that the parent can tell EPERM from ENOSPC.
trait StepError: std::fmt::Display {
    fn errno(&self) -> Option<Errno>;
}

fn errno_of(error: &std::io::Error) -> Option<Errno> {
    error.raw_os_error().map(Errno::from_raw)
}

impl StepError for RootfsError {
    fn errno(&self) -> Option<Errno> {
        match self {
            RootfsError::Sys { errno, .. } => Some(*errno),
            RootfsError::Refused { .. } => None,
        }
    }
}

impl StepError for CgroupError {
    /// Joining: ENOSPC for a v1 cpuset or memory group the child cannot be
    /// put in, for one.
    fn errno(&self) -> Option<Errno> {
        match self {
            CgroupError::AddPid { error, .. } => errno_of(error),
            _ => None,
        }
    }
}

impl StepError for caps::CapsError {
    fn errno(&self) -> Option<Errno> {
        errno_of(&self.error)
    }
}

impl StepError for seccomp::SeccompError {
    fn errno(&self) -> Option<Errno> {
        match self {
            seccomp::SeccompError::Load(error) => errno_of(error),
            seccomp::SeccompError::TooLong(_) => None,
        }
    }
}

impl StepError for userns::UsernsError {
    fn errno(&self) -> Option<Errno> {
        errno_of(&self.error)
    }
}

impl StepError for init_binary::InitBinaryError {
    fn errno(&self) -> Option<Errno> {
        match self {
            init_binary::InitBinaryError::View { error, .. }
            | init_binary::InitBinaryError::Io { source: error, .. } => errno_of(error),
            _ => None,
        }
    }
}

impl StepError for crate::network::inside::InsideError {
    fn errno(&self) -> Option<Errno> {
        self.raw_os_error().map(Errno::from_raw)
    }
}

/// The network step's failure: its errno, and `network: ` before the step.
fn network_failed(e: crate::network::inside::InsideError) -> ChildFailure {
    ChildFailure::new(ChildStep::Network, e.errno(), format!("network: {e}"))
}

fn failed<E: StepError>(step: ChildStep) -> impl FnOnce(E) -> ChildFailure {
    move |e| ChildFailure::new(step, e.errno(), e.to_string())
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

/// The child after clone3, in its order: the root filesystem is built
/// while the parent makes the cgroup, records the state and wires the
/// network (two cores work at once); once the parent says the cgroup
/// exists the child joins it by itself, the fast way in (see
/// `Cgroups::join_self`), while the host's tree is still in reach, then
/// enters the root (cgroup namespace, pivot_root, user namespace,
/// hostname). The network inside and the exec wait for `Go`; a failure of
/// any step is reported then, so that the parent never mistakes a child
/// that died early for a failure of its own.
pub fn run(
    mut channel: ChildChannel,
    cgroups: &dyn Cgroups,
    plan: &BootPlan,
    prepared: &Prepared<'_>,
    io: ChildIo<'_>,
) -> ! {
    die_with_parent();
    let built = build_root(plan, prepared.userns, &io);
    if !channel.wait_for(ParentMessage::CgroupReady) {
        exit_now();
    }
    let root = built.and_then(|built| {
        cgroups
            .join_self(&plan.cgroup)
            .map_err(failed(ChildStep::Cgroup))?;
        enter_root(plan, prepared.userns, built)
    });
    // Entering a user namespace changed the credentials, which clears the
    // parent-death signal: set again.
    die_with_parent();
    if !channel.wait_for(ParentMessage::Go) {
        exit_now();
    }
    let failure = match root.and_then(|(init, console)| {
        if let Some(inside) = plan.network.inside() {
            inside.configure().map_err(network_failed)?;
        }
        caps::restrict(&plan.drop_caps).map_err(failed(ChildStep::Confine))?;
        // Last: from here on every call the container makes is filtered.
        if let Some(program) = &prepared.seccomp {
            seccomp::load(program).map_err(failed(ChildStep::Confine))?;
        }
        Ok(exec_init(&init, &io, &console, plan))
    }) {
        Ok(f) | Err(f) => f,
    };
    channel.fail(&failure);
    exit_now()
}

/// What [`build_root`] made: xdockerinit as the container will execute it
/// (see `init_binary::read_only_view`) and the root filesystem, not
/// entered yet.
struct BuiltRoot {
    init: File,
    root: rootfs::Built,
}

/// The root filesystem, built in the host's view (mounts made private
/// first). A `--userns` container joins its network namespace first
/// (sysfs shows the one it is mounted in), and its layers are mapped to
/// its user namespace.
fn build_root(
    plan: &BootPlan,
    holder: Option<&userns::NsHolder>,
    io: &ChildIo<'_>,
) -> Step<BuiltRoot> {
    rootfs::make_private().map_err(failed(ChildStep::Prepare))?;
    let init =
        init_binary::read_only_view(&io.init, io.init_path).map_err(failed(ChildStep::Prepare))?;
    let userns = match holder {
        None => None,
        Some(h) => {
            if let Some(netns) = &h.netns {
                userns::join_netns(netns).map_err(failed(ChildStep::Userns))?;
            }
            Some(h.userns.as_fd())
        }
    };
    let root = rootfs::build(&plan.rootfs, userns).map_err(failed(ChildStep::Rootfs))?;
    Ok(BuiltRoot { init, root })
}

/// Into the built root, after the cgroup is joined: a privileged container
/// makes its cgroup namespace first (an unprivileged one makes it on
/// entering its user namespace, so that it owns it), then pivot_root and
/// the limits on /proc, the user namespace last, and the hostname.
/// Returns xdockerinit and the master of /dev/console's pty.
fn enter_root(
    plan: &BootPlan,
    holder: Option<&userns::NsHolder>,
    built: BuiltRoot,
) -> Step<(File, OwnedFd)> {
    let own_network = plan.network.netns().is_some();
    if holder.is_none() {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).map_err(sys_failed(
            ChildStep::Cgroup,
            "unshare cgroup namespace".to_string(),
        ))?;
    }
    rootfs::switch_root(&built.root.root).map_err(failed(ChildStep::SwitchRoot))?;
    rootfs::restrict_proc(own_network).map_err(failed(ChildStep::SwitchRoot))?;
    if let Some(h) = holder {
        userns::enter(&h.userns).map_err(failed(ChildStep::Userns))?;
    }
    let hostname = &plan.rootfs.hostname;
    nix::unistd::sethostname(hostname).map_err(sys_failed(
        ChildStep::Hostname,
        format!("sethostname {hostname}"),
    ))?;
    Ok((built.init, built.root.console))
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
fn exec_init(init: &File, io: &ChildIo<'_>, console: &OwnedFd, plan: &BootPlan) -> ChildFailure {
    match pass_descriptors_and_exec(init, io, console, plan) {
        Ok(never) => match never {},
        Err(f) => f,
    }
}

/// xdockerinit's numbered descriptors: the exit record, the session
/// socket, the console's pty master, then the log's files.
const EXIT_FD: RawFd = 3;
const SESSION_FD: RawFd = 4;
const CONSOLE_FD: RawFd = 5;
const FIRST_LOG_FD: RawFd = 6;

fn pass_descriptors_and_exec(
    init: &File,
    io: &ChildIo<'_>,
    console: &OwnedFd,
    plan: &BootPlan,
) -> Step<std::convert::Infallible> {
    let exec = plan.exec.as_deref();
    detach(exec.filter(|_| !plan.background))?;
    // The exit record is fd 3, the session socket fd 4, the console fd 5
    // and the log's files 6 on for xdockerinit; every other inherited fd
    // is closed at exec. Whichever of ours sits on one of these moves up
    // first, so no dup2 overwrites another one.
    let logs = RawFd::try_from(io.log_files.len()).unwrap_or(0);
    let last = CONSOLE_FD + logs;
    let above = |fd: RawFd| match fd {
        fd if (EXIT_FD..=last).contains(&fd) => {
            nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(last + 1))
        }
        _ => Ok(fd),
    };
    let pass = |what: &str| sys_failed(ChildStep::Descriptors, format!("pass {what}"));
    let init_fd = above(init.as_raw_fd()).map_err(pass("descriptors"))?;
    let exit_fd = above(io.exit_file.as_raw_fd()).map_err(pass("descriptors"))?;
    let session_fd = above(io.session.as_raw_fd()).map_err(pass("descriptors"))?;
    let console_fd = above(console.as_raw_fd()).map_err(pass("descriptors"))?;
    let log_fds = io
        .log_files
        .iter()
        .map(|f| above(f.as_raw_fd()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(pass("descriptors"))?;
    for (target, terminal) in (1..).zip(&io.terminals) {
        if let Some(t) = terminal {
            nix::unistd::dup2(t.as_raw_fd(), target).map_err(pass("the terminal"))?;
        }
    }
    nix::unistd::dup2(exit_fd, EXIT_FD).map_err(pass("exit record"))?;
    nix::unistd::dup2(session_fd, SESSION_FD).map_err(pass("session socket"))?;
    nix::unistd::dup2(console_fd, CONSOLE_FD).map_err(pass("console"))?;
    for (target, fd) in (FIRST_LOG_FD..).zip(&log_fds) {
        nix::unistd::dup2(*fd, target).map_err(pass("log files"))?;
    }
    let first_unpassed = u32::try_from(last + 1).unwrap_or(u32::MAX);
    sys::close_range_cloexec(first_unpassed).map_err(pass("descriptors"))?;
    let mut argv: Vec<CString> = [
        "xdockerinit".to_string(),
        "--exit-fd".to_string(),
        EXIT_FD.to_string(),
        "--session-fd".to_string(),
        SESSION_FD.to_string(),
        "--console-fd".to_string(),
        CONSOLE_FD.to_string(),
        "--grace".to_string(),
        GRACE_SECONDS.to_string(),
    ]
    .into_iter()
    .filter_map(|a| CString::new(a).ok())
    .collect();
    if logs > 0 {
        for arg in [
            "--log-fds".to_string(),
            format!("{FIRST_LOG_FD}-{last}"),
            "--log-max-size".to_string(),
            plan.logs.max_size.to_string(),
        ] {
            argv.extend(CString::new(arg).ok());
        }
    }
    for option in plan
        .supervision
        .init_args()
        .into_iter()
        .chain(plan.identity_args())
    {
        argv.push(CString::new(option.as_str()).map_err(|_| {
            ChildFailure::new(
                ChildStep::Exec,
                None,
                format!("xdockerinit option '{option}' contains a NUL byte"),
            )
        })?);
    }
    if plan.main_tty {
        argv.push(CString::from(c"--main-tty"));
    }
    if plan.wait_attach {
        argv.push(CString::from(c"--wait-attach"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_cgroup_join_reports_its_errno() {
        let f = failed(ChildStep::Cgroup)(CgroupError::AddPid {
            pid: 0,
            path: "/sys/fs/cgroup/cpuset/xdocker/web/cgroup.procs".into(),
            error: std::io::Error::from_raw_os_error(libc::ENOSPC),
        });
        assert_eq!((f.step, f.errno), (ChildStep::Cgroup, Some(Errno::ENOSPC)));
        assert_eq!(
            f.detail,
            "add pid 0 to /sys/fs/cgroup/cpuset/xdocker/web/cgroup.procs: no space left on device"
        );
    }

    #[test]
    fn the_network_steps_failure_crosses_with_its_errno() {
        use crate::network::inside::InsideError;
        let f = network_failed(InsideError::Step {
            step: "add VIP 10.0.0.2/24 to eth0".into(),
            source: std::io::Error::from_raw_os_error(libc::EEXIST),
        });
        assert_eq!(
            (f.step, f.errno, f.detail.as_str()),
            (
                ChildStep::Network,
                Some(Errno::EEXIST),
                "network: add VIP 10.0.0.2/24 to eth0: file exists"
            )
        );
        let f = network_failed(InsideError::NoInterface("eth0"));
        assert_eq!(
            (f.step, f.errno, f.detail.as_str()),
            (
                ChildStep::Network,
                None,
                "network: the container has no eth0"
            )
        );
    }

    #[test]
    fn every_steps_system_call_failure_crosses_with_its_errno() {
        let io = |n| std::io::Error::from_raw_os_error(n);
        let cases = [
            failed(ChildStep::Confine)(caps::CapsError {
                what: "drop capability sys_time".into(),
                error: io(libc::EPERM),
            }),
            failed(ChildStep::Confine)(seccomp::SeccompError::Load(io(libc::EINVAL))),
            failed(ChildStep::Userns)(userns::UsernsError {
                what: "setresuid".into(),
                error: io(libc::EPERM),
            }),
            failed(ChildStep::Prepare)(init_binary::InitBinaryError::View {
                op: "bind",
                path: "/usr/local/bin/xdockerinit".into(),
                error: io(libc::ENOENT),
            }),
            failed(ChildStep::Prepare)(init_binary::InitBinaryError::Replaced(
                "/usr/local/bin/xdockerinit".into(),
            )),
        ];
        let got: Vec<_> = cases
            .iter()
            .map(|f| (f.step, f.errno, f.detail.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    ChildStep::Confine,
                    Some(Errno::EPERM),
                    "drop capability sys_time: operation not permitted"
                ),
                (
                    ChildStep::Confine,
                    Some(Errno::EINVAL),
                    "load seccomp filter: invalid argument"
                ),
                (
                    ChildStep::Userns,
                    Some(Errno::EPERM),
                    "setresuid: operation not permitted"
                ),
                (
                    ChildStep::Prepare,
                    Some(Errno::ENOENT),
                    "bind xdockerinit /usr/local/bin/xdockerinit: no such file or directory"
                ),
                (
                    ChildStep::Prepare,
                    None,
                    "xdockerinit /usr/local/bin/xdockerinit was replaced while the container started"
                ),
            ]
        );
    }
}
