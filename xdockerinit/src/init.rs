//! The init loop: PID 1 of a container, after LXC's `initutils.c` and
//! systemd's `nspawn-stub-pid1.c`. One poll loop over a signalfd and the
//! listening session socket, reaping every child, starting the supervised
//! processes and starting them again by their policies
//! ([`crate::supervise`]), and the orderly stop: the services one by one in
//! reverse order, SIGTERM to every process, a grace period, SIGKILL, reap
//! until no child is left, write the exit record, exit. The same loop reads
//! the console log's sources ([`crate::log`]). A session connection is
//! handed at once to a helper process of its own ([`crate::session`]):
//! nothing a client does can hold this loop.

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::DirBuilderExt;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{getpid, Pid};

use crate::args::Args;
use crate::exit_record::{ExitRecord, ExitRecordError, ServiceRecord};
use crate::log::{Capture, LogError, LogFile, Stream};
use crate::process::{self, ChildStdio, Reaped};
use crate::protocol::{Message, Role};
use crate::session;
use crate::signals::Signals;
use crate::stdio::MainStdio;
use crate::supervise::{self, State, Supervisor};
use crate::user::{Launch, UserError};
use crate::ErrnoText;

/// Signals read from the signalfd per poll round at most.
const MAX_SIGNALS_PER_ROUND: usize = 64;

/// Connections accepted per poll round at most, so a flood of connections
/// cannot keep the loop from reaping.
const MAX_ACCEPTS_PER_ROUND: usize = 32;

/// Reads per source at the stop, before the last SIGKILL: what is already
/// in the pipes, not what a process still writing adds meanwhile.
const DRAIN_READS: usize = 32;

/// `--wait-attach`: how long the main process waits for its first client.
const ATTACH_WAIT: Duration = Duration::from_secs(5);

/// How long the end of a forced stop waits for the user's terminal or
/// pipe to take the last bytes of the main process's output.
const TEE_WAIT: Duration = Duration::from_millis(500);

/// Exit code recorded in `-e` mode if CMD's status were somehow never seen
/// (it cannot happen: CMD is our child and we reap until ECHILD).
pub const UNKNOWN_STATUS: i32 = 255;

/// The exit code of a main process that could not be started as asked
/// (its user does not exist): the shell's "cannot execute".
pub const CANNOT_RUN: i32 = 126;

/// What can go wrong in PID 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitError {
    /// Not PID 1: `kill(-1, ...)` would hit every process of the host.
    NotPid1 {
        /// Our PID.
        pid: i32,
    },
    /// The `--exit-fd` descriptor.
    ExitRecord(ExitRecordError),
    /// fd 0, 1 or 2 was closed and /dev/null could not take its place.
    StdFd {
        /// The descriptor.
        fd: RawFd,
        /// Why.
        source: Errno,
    },
    /// The `--session-fd` descriptor is unusable.
    SessionFd {
        /// The descriptor.
        fd: RawFd,
        /// Why.
        source: Errno,
    },
    /// A system call of the loop or its setup.
    Sys {
        /// What we were doing ("create the signalfd", "poll", ...).
        op: &'static str,
        /// Why.
        source: Errno,
    },
    /// execve of the shell failed in the main child (it exited with 127).
    Exec {
        /// The program.
        path: &'static str,
        /// Why.
        source: Errno,
    },
    /// `--user`/`--workdir` could not be used for the main process (that
    /// run ends with 126).
    User(UserError),
    /// The console log (init runs on without it, or loses records).
    Log(LogError),
    /// The main process's streams could not be captured: it gets init's
    /// own descriptors, and its output is not logged.
    Stdio {
        /// What we were doing.
        op: &'static str,
        /// Why.
        source: Errno,
    },
    /// kill(2) failed.
    Kill {
        /// The signal.
        signal: Signal,
        /// The target: -1 for every process, -PID for a process group,
        /// else a PID.
        target: i32,
        /// Why.
        source: Errno,
    },
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::NotPid1 { pid } => write!(
                f,
                "must run as pid 1 of a pid namespace (running as pid {pid}): \
                 its stop signals every process it can see"
            ),
            InitError::ExitRecord(e) => e.fmt(f),
            InitError::StdFd { fd, source } => {
                write!(f, "open /dev/null as fd {fd}: {}", ErrnoText(*source))
            }
            InitError::SessionFd { fd, source } => {
                write!(f, "--session-fd {fd}: {}", ErrnoText(*source))
            }
            InitError::Sys { op, source } => write!(f, "{op}: {}", ErrnoText(*source)),
            InitError::Exec { path, source } => {
                write!(f, "exec {path}: {}", ErrnoText(*source))
            }
            InitError::User(e) => write!(f, "start the main process: {e}"),
            InitError::Log(e) => e.fmt(f),
            InitError::Stdio { op, source } => write!(
                f,
                "capture the main process's output: {op}: {}",
                ErrnoText(*source)
            ),
            InitError::Kill {
                signal,
                target: -1,
                source,
            } => write!(
                f,
                "send {} to every process: {}",
                signal.as_str(),
                ErrnoText(*source)
            ),
            InitError::Kill {
                signal,
                target,
                source,
            } if *target < -1 => write!(
                f,
                "send {} to process group {}: {}",
                signal.as_str(),
                -target,
                ErrnoText(*source)
            ),
            InitError::Kill {
                signal,
                target,
                source,
            } => write!(
                f,
                "send {} to pid {target}: {}",
                signal.as_str(),
                ErrnoText(*source)
            ),
        }
    }
}

impl std::error::Error for InitError {}

impl From<ExitRecordError> for InitError {
    fn from(e: ExitRecordError) -> Self {
        InitError::ExitRecord(e)
    }
}

/// Something worth telling the operator that does not stop init.
#[derive(Debug)]
pub enum Notice<'a> {
    /// A failure init carries on after.
    Error(&'a InitError),
    /// The grace period ended with processes left: they get SIGKILL.
    GraceExpired {
        /// The grace period, in seconds.
        grace_secs: u32,
    },
}

/// One fd of the poll set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Signals,
    /// The listening session socket.
    Sessions,
    /// A stream of the console log (its token).
    Log(usize),
}

/// What woke the loop up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// One signal read from the signalfd.
    Signal(libc::c_int),
    /// The grace period of the orderly stop is over.
    GraceOver,
    /// A client connected to the session socket.
    Connection,
    /// A supervised process is due to start (again).
    Due,
    /// The process being stopped on its own did not end in its share of
    /// the grace period: on to the next.
    StepOver,
    /// A captured stream can be read (or its copy written).
    Log(usize),
}

/// Where the container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// KILL at the deadline. While `step` is set, one supervised process
    /// (a PID) was sent TERM and is waited for until its time is up; then
    /// the next, and last TERM to everyone.
    Stopping {
        deadline: Instant,
        step: Option<(Pid, Instant)>,
    },
    /// No process is left, but the main process's last output has not
    /// reached the terminal or pipe it goes to: no deadline (as without
    /// the log, where the writer waited for its reader); a second
    /// SIGTERM/SIGINT or SIGKILL ends it.
    Draining,
}

/// What the loop does after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// No child left, or the grace period is over (or was cut short): KILL
    /// whatever remains, reap, record, exit.
    Finish,
}

/// PID 1, set up and ready to run.
#[derive(Debug)]
pub struct Init {
    grace_secs: u32,
    /// What every child starts with, TERM aside ([`process::base_env`]).
    env: Vec<CString>,
    exit_record: Option<ExitRecord>,
    signals: Signals,
    /// The listening session socket; closed when the stop begins.
    sessions: Option<OwnedFd>,
    /// The main process (`-e`) and the services.
    supervisor: Supervisor,
    /// The environment of the main process and of the services.
    main_env: Vec<CString>,
    service_env: Vec<CString>,
    /// Supervised processes still to stop one by one (see [`Phase`]).
    stop_queue: Vec<Pid>,
    phase: Phase,
    /// 128+signal of a second SIGTERM/SIGINT that cut the grace short.
    forced: Option<i32>,
    /// The console log and the streams it captures.
    capture: Capture,
    /// The main process's fds 0-2 (`-e`), made once and handed to every
    /// run of it.
    stdio: Option<MainStdio>,
    /// A failure of the log's setup, told when the loop starts.
    log_error: Option<LogError>,
    /// `--user` and `--workdir`: of the main process, and the sessions'
    /// defaults.
    session_defaults: session::Defaults,
    /// `--main-tty`: the main process on a terminal clients attach to.
    main_tty: bool,
    /// `--wait-attach`: nothing starts before the first client connected.
    wait_attach: bool,
}

/// Opens /dev/null for whichever of fds 0-2 is closed, so CMD has its three
/// standard streams and no later open (the signalfd) lands on one of them.
/// Rust's runtime would do this before `fn main`, but main.rs is `no_main`.
pub fn ensure_std_fds() -> Result<(), InitError> {
    for fd in 0..=2 {
        match nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD) {
            Err(Errno::EBADF) => {
                // open returns the lowest free descriptor: fd itself, since
                // the ones below it are open by now.
                let got = nix::fcntl::open(
                    c"/dev/null",
                    nix::fcntl::OFlag::O_RDWR,
                    nix::sys::stat::Mode::empty(),
                )
                .map_err(|source| InitError::StdFd { fd, source })?;
                if got != fd {
                    nix::unistd::dup2(got, fd).map_err(|source| InitError::StdFd { fd, source })?;
                    let _ = nix::unistd::close(got);
                }
            }
            _ => continue,
        }
    }
    Ok(())
}

/// Closes every inherited descriptor from 3 up except those in `keep` (the
/// exit fd and the session socket; a session helper keeps its connection).
/// A descriptor leaked by the host side would otherwise be reachable from
/// the container, through CMD or /proc/1/fd (runc's CVE-2024-21626 was a
/// leaked host directory fd). Nothing in this process owns them yet: this
/// runs before init opens anything. Best effort: a failure leaves them open.
pub fn close_inherited_fds(keep: &[RawFd]) {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd >= 3)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut ranges = Vec::with_capacity(keep.len() + 1);
    let mut first = 3u32;
    for fd in keep {
        if fd > first {
            ranges.push((first, fd - 1));
        }
        first = fd.saturating_add(1);
    }
    ranges.push((first, u32::MAX));
    for (first, last) in ranges {
        if first > last {
            continue;
        }
        // SAFETY: close_range takes no pointers; the descriptors in the
        // range are owned by nothing in this process (see above).
        let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
        if ret == 0 {
            continue;
        }
        // Kernels before 5.9: close what /proc lists, after the listing's
        // own descriptor is gone.
        let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        let fds: Vec<u32> = dir
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        for fd in fds {
            if (first..=last).contains(&fd) {
                if let Ok(fd) = RawFd::try_from(fd) {
                    let _ = nix::unistd::close(fd);
                }
            }
        }
    }
}

/// Takes the `--session-fd` descriptor: close-on-exec (no process of the
/// container may inherit it) and non-blocking (accept never sleeps in the
/// loop). It must be a listening socket.
fn adopt_session_socket(fd: RawFd) -> Result<OwnedFd, InitError> {
    let err = |source| InitError::SessionFd { fd, source };
    // SAFETY: fcntl and getsockopt on a descriptor number with valid out
    // pointers; a descriptor that is not open fails with EBADF.
    unsafe {
        if libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) < 0 {
            return Err(err(Errno::last()));
        }
        let mut listening: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        if libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut listening as *mut libc::c_int).cast(),
            &mut len,
        ) < 0
        {
            return Err(err(Errno::last()));
        }
        if listening == 0 {
            return Err(err(Errno::EINVAL));
        }
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(err(Errno::last()));
        }
    }
    // SAFETY: the host handed us this descriptor by the --session-fd
    // contract and nothing in this process has claimed it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The console log: its ring of files (when given) and the console pty's
/// master as its first source. A failure leaves init without a log (told
/// when the loop starts), never without a container.
fn open_capture(
    log_files: Vec<OwnedFd>,
    max_size: u64,
    console: Option<OwnedFd>,
) -> (Capture, Option<LogError>) {
    let mut error = None;
    let log = match log_files.is_empty() {
        true => None,
        false => match LogFile::open(log_files, max_size) {
            Ok(log) => Some(log),
            Err(e) => {
                error = Some(e);
                None
            }
        },
    };
    let mut capture = Capture::new(log);
    if let Some(master) = console {
        // A slave of our own: without one open the master reads EIO.
        let added = crate::sys::open_pty_slave(master.as_fd())
            .map_err(|(op, source)| LogError { op, source })
            .and_then(|slave| capture.add(Stream::Console, master, true, Some(slave), None));
        if let Err(e) = added {
            error = error.or(Some(e));
        }
    }
    (capture, error)
}

impl Init {
    /// Takes over the process as PID 1: adopts the exit fd and the session
    /// socket (close-on-exec first of all), closes any other inherited fd,
    /// opens fds 0-2, names the process, blocks the signals and opens the
    /// signalfd. Nothing is started yet.
    pub fn setup(args: Args) -> Result<Init, InitError> {
        let pid = getpid().as_raw();
        if pid != 1 {
            return Err(InitError::NotPid1 { pid });
        }
        let exit_record = match args.exit_fd {
            // SAFETY: the host handed us this descriptor by the --exit-fd
            // contract and nothing in this process has claimed it: this is
            // the first thing init does after parsing its arguments.
            Some(fd) => Some(unsafe { ExitRecord::adopt(fd) }?),
            None => None,
        };
        let sessions = match args.session_fd {
            Some(fd) => Some(adopt_session_socket(fd)?),
            None => None,
        };
        let log_range: Vec<RawFd> = args
            .log_fds
            .map(|(first, last)| (first..=last).collect())
            .unwrap_or_default();
        let keep: Vec<RawFd> = [args.exit_fd, args.session_fd, args.console_fd]
            .into_iter()
            .flatten()
            .chain(log_range.iter().copied())
            .collect();
        close_inherited_fds(&keep);
        // SAFETY: the host handed us these descriptors by the --console-fd
        // and --log-fds contract; nothing in this process has claimed them,
        // and descriptors given to two options are refused by the parser.
        let (console, log_files): (Option<OwnedFd>, Vec<OwnedFd>) = unsafe {
            (
                args.console_fd.map(|fd| OwnedFd::from_raw_fd(fd)),
                log_range
                    .into_iter()
                    .map(|fd| OwnedFd::from_raw_fd(fd))
                    .collect(),
            )
        };
        // Close-on-exec before anything can be started (the log files are
        // made so by LogFile::open).
        if let Some(fd) = &console {
            let _ = nix::fcntl::fcntl(
                fd.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
        }
        ensure_std_fds()?;
        let (mut capture, log_error) = open_capture(log_files, args.log_max_size, console);
        capture.note(&match &args.command {
            Some(command) => format!("boot -e {}", command.to_string_lossy()),
            None => "boot".to_string(),
        });
        // fexecve names the process after the fd ("3"); ps and the host's
        // status want "xdockerinit".
        nix::sys::prctl::set_name(c"xdockerinit").map_err(|source| InitError::Sys {
            op: "set the process name",
            source,
        })?;
        // Not dumpable: /proc/1/fd (the host's exit record and session
        // socket), /proc/1/mem and ptrace of init need CAP_SYS_PTRACE, which
        // containers do not get by default. Commands started later are
        // dumpable again (execve resets it).
        nix::sys::prctl::set_dumpable(false).map_err(|source| InitError::Sys {
            op: "make init not dumpable",
            source,
        })?;
        let signals =
            Signals::block_and_open().map_err(|(op, source)| InitError::Sys { op, source })?;
        // The image's services first (resolved here, inside the
        // container), then the container's own.
        let mut services = args
            .boot_dir
            .as_deref()
            .map(supervise::boot_dir_services)
            .unwrap_or_default();
        services.extend(args.services);
        let main = args.command.map(|command| (command, args.restart));
        // Docker's `run -w` makes the working directory when it is missing.
        if let Some(dir) = &args.workdir {
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir);
        }
        let term = std::env::var_os("TERM");
        let env = process::base_env(args.pass_env.then(|| std::env::vars_os().collect()));
        Ok(Init {
            grace_secs: args.grace_secs,
            env: env.clone(),
            exit_record,
            signals,
            sessions,
            supervisor: Supervisor::new(services, args.service_restart, main),
            main_env: process::child_env(&env, term.as_deref()),
            service_env: process::child_env(&env, None),
            stop_queue: Vec::new(),
            phase: Phase::Running,
            forced: None,
            capture,
            stdio: None,
            log_error,
            session_defaults: session::Defaults {
                user: args.user,
                workdir: args.workdir,
            },
            main_tty: args.main_tty,
            wait_attach: args.wait_attach,
        })
    }

    /// Runs until the container stops; returns the exit code, already
    /// recorded. `notify` hears about failures init survives. An `Err` is a
    /// failure of the loop itself: no record is written, and the kernel
    /// kills what is left of the namespace when PID 1 exits.
    pub fn run(mut self, notify: &mut dyn FnMut(Notice<'_>)) -> Result<i32, InitError> {
        if let Some(e) = self.log_error.take() {
            notify(Notice::Error(&InitError::Log(e)));
        }
        // The main process's streams, once for all its runs.
        if self.supervisor.main().is_some() {
            let prepared = match self.main_tty {
                true => MainStdio::prepare_terminal(&mut self.capture),
                false => MainStdio::prepare(&mut self.capture),
            };
            match prepared {
                Ok(stdio) => {
                    for note in stdio.notes() {
                        self.capture.note(note);
                    }
                    self.stdio = Some(stdio);
                }
                Err((op, source)) => notify(Notice::Error(&InitError::Stdio { op, source })),
            }
        }
        if self.wait_attach && self.capture.terminal().is_some() {
            self.wait_for_attach(notify);
        }
        // The services, then the main process.
        if self.start_due(notify)? == Flow::Finish {
            return Ok(self.finish(notify));
        }
        'lp: loop {
            for event in self.wait()? {
                if self.handle(event, notify)? == Flow::Finish {
                    break 'lp;
                }
            }
        }
        Ok(self.finish(notify))
    }

    /// `--wait-attach`: waits for the first session client (the booting
    /// xdocker, attaching at once), at most [`ATTACH_WAIT`], and hands it
    /// to its helper with the main terminal's pipe before anything
    /// starts: all of the main process's output, and its exit code, reach
    /// that client. A signal ends the wait (it is handled in the loop).
    fn wait_for_attach(&mut self, notify: &mut dyn FnMut(Notice<'_>)) {
        let Some(listener) = self.sessions.as_ref() else {
            return;
        };
        let mut fds = [
            crate::sys::pollfd(listener.as_fd(), libc::POLLIN),
            crate::sys::pollfd(self.signals.as_fd(), libc::POLLIN),
        ];
        let ms = i32::try_from(ATTACH_WAIT.as_millis()).unwrap_or(i32::MAX);
        if matches!(crate::sys::poll(&mut fds, ms), Ok(n) if n > 0) && fds[0].revents != 0 {
            self.on_connection(notify);
        }
    }

    /// The poll set: one entry per source, in the same order as the sources.
    fn sources(&self) -> Vec<(Source, RawFd, libc::c_short)> {
        let mut sources = vec![(
            Source::Signals,
            self.signals.as_fd().as_raw_fd(),
            libc::POLLIN,
        )];
        if let Some(listener) = &self.sessions {
            sources.push((Source::Sessions, listener.as_raw_fd(), libc::POLLIN));
        }
        for i in self.capture.interests() {
            sources.push((Source::Log(i.token), i.fd, i.events));
        }
        sources
    }

    /// Sleeps in poll until a source is ready or the grace period ends, and
    /// turns what is ready into events.
    fn wait(&mut self) -> Result<Vec<Event>, InitError> {
        let sources = self.sources();
        let mut fds: Vec<libc::pollfd> = sources
            .iter()
            .map(|&(_, fd, events)| libc::pollfd {
                fd,
                events,
                revents: 0,
            })
            .collect();
        let wake = match self.phase {
            Phase::Running => self.supervisor.next_due(),
            Phase::Stopping { deadline, step } => {
                Some(step.map_or(deadline, |(_, until)| until.min(deadline)))
            }
            Phase::Draining => None,
        };
        let timeout = match wake {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                // Rounded up, so the time has come when poll times out.
                let ms = left.as_micros().div_ceil(1000);
                i32::try_from(ms).unwrap_or(i32::MAX)
            }
        };
        // SAFETY: fds is a valid array of fds.len() pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            return match Errno::last() {
                Errno::EINTR => Ok(Vec::new()),
                source => Err(InitError::Sys { op: "poll", source }),
            };
        }
        let mut events = Vec::new();
        for (pfd, &(source, _, _)) in fds.iter().zip(&sources) {
            if pfd.revents == 0 {
                continue;
            }
            match source {
                Source::Signals => {
                    // Drain: several signals may be pending at once. Bounded,
                    // so a process sending signals in a loop cannot keep us
                    // here: what is left is read on the next round.
                    for _ in 0..MAX_SIGNALS_PER_ROUND {
                        let next = self.signals.next().map_err(|source| InitError::Sys {
                            op: "read the signalfd",
                            source,
                        })?;
                        match next {
                            Some(signo) => events.push(Event::Signal(signo)),
                            None => break,
                        }
                    }
                }
                Source::Sessions => events.push(Event::Connection),
                Source::Log(token) => events.push(Event::Log(token)),
            }
        }
        // Checked even when signals came in, so a stream of them cannot
        // hold the grace period open (or a restart back). Signals go
        // first: a last SIGCHLD may still end the stop in time.
        let now = Instant::now();
        match self.phase {
            Phase::Running => {
                if self.supervisor.next_due().is_some_and(|at| at <= now) {
                    events.push(Event::Due);
                }
            }
            Phase::Stopping { deadline, step } => {
                if now >= deadline {
                    events.push(Event::GraceOver);
                } else if step.is_some_and(|(_, until)| now >= until) {
                    events.push(Event::StepOver);
                }
            }
            Phase::Draining => {}
        }
        Ok(events)
    }

    fn handle(
        &mut self,
        event: Event,
        notify: &mut dyn FnMut(Notice<'_>),
    ) -> Result<Flow, InitError> {
        match event {
            Event::GraceOver => {
                notify(Notice::GraceExpired {
                    grace_secs: self.grace_secs,
                });
                Ok(Flow::Finish)
            }
            Event::Connection => {
                self.on_connection(notify);
                Ok(Flow::Continue)
            }
            Event::Due => match self.phase {
                Phase::Running => self.start_due(notify),
                Phase::Stopping { .. } | Phase::Draining => Ok(Flow::Continue),
            },
            Event::Log(token) => {
                self.capture.ready(token);
                match self.phase {
                    Phase::Draining if self.capture.flushed() => Ok(Flow::Finish),
                    _ => Ok(Flow::Continue),
                }
            }
            Event::Signal(libc::SIGWINCH) => {
                if let Some(stdio) = &self.stdio {
                    stdio.window_changed();
                }
                Ok(Flow::Continue)
            }
            Event::StepOver => self.next_stop_step(notify),
            Event::Signal(libc::SIGCHLD) => self.on_child(notify),
            Event::Signal(signo @ (libc::SIGTERM | libc::SIGINT)) => match self.phase {
                Phase::Running => self.begin_stop(notify),
                Phase::Stopping { .. } | Phase::Draining => {
                    // A second request: do not wait out the grace period.
                    self.forced = Some(128 + signo);
                    Ok(Flow::Finish)
                }
            },
            Event::Signal(signo @ (libc::SIGHUP | libc::SIGUSR1 | libc::SIGUSR2)) => {
                self.forward(signo, notify);
                Ok(Flow::Continue)
            }
            // SIGPWR and anything else: nothing to do.
            Event::Signal(_) => Ok(Flow::Continue),
        }
    }

    /// Hands each pending connection to a helper process of its own.
    fn on_connection(&mut self, notify: &mut dyn FnMut(Notice<'_>)) {
        let Some(listener) = self.sessions.as_ref() else {
            return;
        };
        for _ in 0..MAX_ACCEPTS_PER_ROUND {
            let conn = match crate::sys::accept(listener.as_fd()) {
                Ok(Some(conn)) => conn,
                Ok(None) => return,
                Err(source) => {
                    // EMFILE, ENOBUFS...: the client is left in the backlog
                    // and retried on the next round.
                    notify(Notice::Error(&InitError::Sys {
                        op: "accept a session",
                        source,
                    }));
                    return;
                }
            };
            // Init's copy of the connection closes when `conn` drops here;
            // the helper has its own, and its own copy of the supervisor
            // to report from.
            let supervisor = &self.supervisor;
            let status = || Message::Status(supervisor.report(Instant::now()));
            // The main process's terminal, should the client ask for it.
            let attach = match self.capture.terminal().map(|t| t.connect()) {
                Some(Ok(ends)) => Some(ends),
                Some(Err(source)) => {
                    notify(Notice::Error(&InitError::Sys {
                        op: "share the main process's terminal",
                        source,
                    }));
                    None
                }
                None => None,
            };
            let shared = attach.is_some();
            let forked =
                session::spawn_helper(conn, &self.env, &self.session_defaults, &status, attach);
            if shared {
                if let Some(t) = self.capture.terminal() {
                    t.forked(forked.as_ref().ok().copied());
                }
            }
            if let Err(source) = forked {
                notify(Notice::Error(&InitError::Sys {
                    op: "fork a session helper",
                    source,
                }));
            }
        }
    }

    /// Starts every supervised process that is due: at boot the services
    /// and then the main process, later those whose wait is over. A main
    /// process that cannot be started the first time is a failure of init
    /// (as before supervision); later, a failed start counts as a failed
    /// run. `Finish` when nothing is left to wait for.
    fn start_due(&mut self, notify: &mut dyn FnMut(Notice<'_>)) -> Result<Flow, InitError> {
        for index in self.supervisor.due(Instant::now()) {
            let Some(p) = self.supervisor.get(index) else {
                continue;
            };
            let (role, first) = (p.role, p.state == State::Idle);
            if role == Role::Main && !first {
                self.capture.note(&format!(
                    "restart -e (restart {}, the last run ended with exit code {})",
                    p.restarts,
                    p.last_exit.unwrap_or(UNKNOWN_STATUS)
                ));
            }
            let spawned = match role {
                Role::Main => {
                    let stdio = self
                        .stdio
                        .as_ref()
                        .map_or(ChildStdio::Inherit, |s| ChildStdio::Fds(*s.fds()));
                    let defaults = &self.session_defaults;
                    // The user is looked up at every start: the image's
                    // passwd may have changed since the last one.
                    match Launch::prepare(defaults.user.as_deref(), defaults.workdir.as_deref()) {
                        Ok(launch) => {
                            let env = launch.env_with_home(&self.main_env);
                            supervise::spawn_main(&p.command, &env, stdio, &launch)
                        }
                        Err(e) => {
                            notify(Notice::Error(&InitError::User(e)));
                            self.supervisor
                                .start_refused(index, CANNOT_RUN, Instant::now());
                            continue;
                        }
                    }
                }
                Role::Service => {
                    supervise::spawn_service(&p.command, &self.service_env, self.capture.console())
                }
            };
            match spawned {
                Ok(spawned) => {
                    self.supervisor.started(index, spawned.pid, Instant::now());
                    if let Some(source) = spawned.exec_error {
                        notify(Notice::Error(&InitError::Exec {
                            path: "/bin/sh",
                            source,
                        }));
                    }
                }
                Err((op, source)) if role == Role::Main && first => {
                    return Err(InitError::Sys { op, source });
                }
                Err((op, source)) => {
                    notify(Notice::Error(&InitError::Sys { op, source }));
                    self.supervisor.start_failed(index, Instant::now());
                }
            }
        }
        if self.supervisor.main_done() {
            return self.begin_stop(notify);
        }
        Ok(Flow::Continue)
    }

    /// SIGCHLD: reap everything that ended (a supervised process gets its
    /// restart scheduled). In `-e` mode the end for good of CMD starts the
    /// orderly stop; while stopping, the end of the process stopped on its
    /// own moves on to the next, and the last child ends the stop.
    fn on_child(&mut self, notify: &mut dyn FnMut(Notice<'_>)) -> Result<Flow, InitError> {
        let children_left = self.reap_ready()?;
        match self.phase {
            Phase::Running if self.supervisor.main_done() => self.begin_stop(notify),
            Phase::Stopping { .. } if !children_left => Ok(self.children_gone()),
            Phase::Stopping {
                step: Some((pid, _)),
                ..
            } if !self.supervisor.is_running(pid) => self.next_stop_step(notify),
            _ => Ok(Flow::Continue),
        }
    }

    /// Reaps every child that has ended; tells whether children are left.
    fn reap_ready(&mut self) -> Result<bool, InitError> {
        loop {
            match process::reap(false).map_err(|source| InitError::Sys {
                op: "wait for children",
                source,
            })? {
                Reaped::Child { pid, code } => self.note_exit(pid, code),
                Reaped::NoneReady => return Ok(true),
                Reaped::NoChildren => return Ok(false),
            }
        }
    }

    fn note_exit(&mut self, pid: Pid, code: i32) {
        let main = self.supervisor.main().and_then(|m| m.pid()) == Some(pid);
        if main && self.capture.terminal().is_some() {
            // What the main process wrote last reaches the attached
            // clients before its exit code.
            self.capture.drain(DRAIN_READS);
            if let Some(t) = self.capture.terminal() {
                t.exited(code);
            }
        }
        if let Some(t) = self.capture.terminal() {
            t.reaped(pid);
        }
        self.supervisor.exited(pid, code, Instant::now());
    }

    /// The orderly stop: nothing is started any more; the supervised
    /// processes are stopped one by one in reverse start order (when there
    /// are services), then everything else (see [`Self::next_stop_step`]),
    /// within the grace period.
    fn begin_stop(&mut self, notify: &mut dyn FnMut(Notice<'_>)) -> Result<Flow, InitError> {
        // No new sessions in a stopping container: once the host's copy is
        // gone too, a client's connect is refused.
        self.sessions = None;
        self.stop_queue = self.supervisor.stop();
        let grace = Duration::from_secs(u64::from(self.grace_secs));
        self.phase = Phase::Stopping {
            deadline: Instant::now() + grace,
            step: None,
        };
        self.next_stop_step(notify)
    }

    /// The next step of the stop: TERM (and CONT) to the process group of
    /// the next supervised process still running, waited for up to its
    /// share of the grace period left; after the last one, SIGTERM to every
    /// process of the namespace (kill(-1) spares PID 1), then SIGCONT so
    /// that stopped processes act on it (as systemd does), then wait for
    /// them until the deadline.
    fn next_stop_step(&mut self, notify: &mut dyn FnMut(Notice<'_>)) -> Result<Flow, InitError> {
        let Phase::Stopping { deadline, .. } = self.phase else {
            return Ok(Flow::Continue);
        };
        while !self.stop_queue.is_empty() {
            let pid = self.stop_queue.remove(0);
            if !self.supervisor.is_running(pid) {
                continue;
            }
            self.kill_group(pid, Signal::SIGTERM, notify);
            self.kill_group(pid, Signal::SIGCONT, notify);
            let left = self.stop_queue.len() + 1;
            let until = supervise::stop_step_deadline(Instant::now(), deadline, left);
            self.phase = Phase::Stopping {
                deadline,
                step: Some((pid, until)),
            };
            return Ok(Flow::Continue);
        }
        self.phase = Phase::Stopping {
            deadline,
            step: None,
        };
        self.kill_all(Signal::SIGTERM, notify);
        self.kill_all(Signal::SIGCONT, notify);
        // Nothing may be left (host mode with no processes): no need to wait.
        if self.reap_ready()? {
            Ok(Flow::Continue)
        } else {
            Ok(self.children_gone())
        }
    }

    /// The stop has no process left: done once the main process's output
    /// has reached its reader, else [`Phase::Draining`] until it has.
    fn children_gone(&mut self) -> Flow {
        if self.capture.flushed() {
            Flow::Finish
        } else {
            self.phase = Phase::Draining;
            Flow::Continue
        }
    }

    /// A signal to the process group `pid` leads (a supervised process
    /// leads a session of its own), so that what it started gets it too.
    fn kill_group(&self, pid: Pid, signal: Signal, notify: &mut dyn FnMut(Notice<'_>)) {
        match kill(Pid::from_raw(-pid.as_raw()), signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(source) => notify(Notice::Error(&InitError::Kill {
                signal,
                target: -pid.as_raw(),
                source,
            })),
        }
    }

    /// `-e` mode: pass HUP/USR1/USR2 on to CMD (a reload request meant for
    /// the service). Host mode has no one to pass them to.
    fn forward(&mut self, signo: libc::c_int, notify: &mut dyn FnMut(Notice<'_>)) {
        let Some(pid) = self.supervisor.main().and_then(|m| m.pid()) else {
            return;
        };
        let Ok(signal) = Signal::try_from(signo) else {
            return;
        };
        match kill(pid, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(source) => notify(Notice::Error(&InitError::Kill {
                signal,
                target: pid.as_raw(),
                source,
            })),
        }
    }

    fn kill_all(&self, signal: Signal, notify: &mut dyn FnMut(Notice<'_>)) {
        match kill(Pid::from_raw(-1), signal) {
            // ESRCH: no process but us.
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(source) => notify(Notice::Error(&InitError::Kill {
                signal,
                target: -1,
                source,
            })),
        }
    }

    /// SIGKILL to whatever is left (processes that are not our children,
    /// such as ones entered with setns, included), reap until ECHILD, write
    /// the record.
    fn finish(&mut self, notify: &mut dyn FnMut(Notice<'_>)) -> i32 {
        // What the processes wrote before they are killed is logged.
        self.capture.drain(DRAIN_READS);
        self.kill_all(Signal::SIGKILL, notify);
        loop {
            match process::reap(true) {
                Ok(Reaped::Child { pid, code }) => self.note_exit(pid, code),
                Ok(Reaped::NoChildren) => break,
                // Blocking wait: NoneReady does not happen; loop anyway.
                Ok(Reaped::NoneReady) => continue,
                Err(source) => {
                    notify(Notice::Error(&InitError::Sys {
                        op: "wait for children",
                        source,
                    }));
                    break;
                }
            }
        }
        let main = self.supervisor.main();
        let code = match main {
            Some(m) => m.last_exit.unwrap_or(UNKNOWN_STATUS),
            None => self.forced.unwrap_or(0),
        };
        let restarts = main.map(|m| m.restarts);
        let services: Vec<ServiceRecord> = (0..self.supervisor.len())
            .filter_map(|i| self.supervisor.get(i))
            .filter(|p| p.role == Role::Service)
            .map(|p| ServiceRecord {
                name: p.name.clone(),
                restarts: p.restarts,
                last_exit: p.last_exit,
            })
            .collect();
        // The log is whole before the exit record says the container
        // stopped (and before `-s logs --follow` sees init end).
        self.capture
            .finish(&format!("stop: exit code {code}"), TEE_WAIT);
        if let Some(stdio) = self.stdio.as_mut() {
            stdio.restore();
        }
        if let Some(record) = &self.exit_record {
            if let Err(e) = record.write(code, restarts, &services) {
                notify(Notice::Error(&InitError::ExitRecord(e)));
            }
        }
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_run_unless_pid_1() {
        // The test process is not PID 1: setup must stop before touching
        // the exit fd or the signal mask.
        let args = Args {
            exit_fd: Some(999_999),
            ..Args::default()
        };
        let err = Init::setup(args).unwrap_err();
        assert!(matches!(err, InitError::NotPid1 { .. }), "{err:?}");
        assert!(err
            .to_string()
            .starts_with("must run as pid 1 of a pid namespace"));
    }

    #[test]
    fn messages() {
        let e = InitError::Kill {
            signal: Signal::SIGTERM,
            target: -1,
            source: Errno::EPERM,
        };
        assert_eq!(
            e.to_string(),
            "send SIGTERM to every process: operation not permitted"
        );
        let e = InitError::Exec {
            path: "/bin/sh",
            source: Errno::ENOENT,
        };
        assert_eq!(e.to_string(), "exec /bin/sh: no such file or directory");
        let e = InitError::Sys {
            op: "poll",
            source: Errno::EINVAL,
        };
        assert_eq!(e.to_string(), "poll: invalid argument");
    }
}
