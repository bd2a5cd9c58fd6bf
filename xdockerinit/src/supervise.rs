//! Supervision: the processes PID 1 keeps running — the `-e` main process
//! and the boot services (`--service NAME=CMD`, the executables of
//! `--boot-dir`) — with their restart policies (`no`, `on-failure[:N]`,
//! `always`, as Docker's `--restart`), the backoff between two starts
//! (100 ms doubling to 10 s, back to 100 ms after a run of 10 s, as
//! Docker's), and the order of the orderly stop (reverse start order).
//!
//! The bookkeeping here is pure (tested without root); the init loop
//! ([`crate::init`]) forks, reaps and signals. The two spawn functions
//! ([`spawn_main`], [`spawn_service`]) are the only places a supervised
//! process is started, first start and restarts alike.

use std::ffi::{CStr, CString, OsStr};
use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::process::{self, ChildStdio, Spawned};
use crate::protocol::{ProcessStatus, Role};
use crate::user::Launch;

/// The wait before the first restart.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(100);

/// The longest wait between two starts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// A run at least this long resets the wait to [`BACKOFF_FIRST`].
pub const STABLE_UPTIME: Duration = Duration::from_secs(10);

/// Where the output of services goes (O_NOCTTY: never a controlling
/// terminal); `/dev/null` when it cannot be opened.
pub const CONSOLE: &CStr = c"/dev/console";

/// When a process that ended is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Never.
    No,
    /// After a failure (an exit code other than 0, or a signal), at most
    /// N times when given.
    OnFailure(Option<u32>),
    /// After every end, 0 included.
    Always,
}

/// A restart policy that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

impl FromStr for RestartPolicy {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        match s {
            "no" => Ok(Self::No),
            "always" => Ok(Self::Always),
            "on-failure" => Ok(Self::OnFailure(None)),
            _ => match s.strip_prefix("on-failure:") {
                Some(n) => match n.parse::<u32>() {
                    Ok(max) if max >= 1 && n.bytes().all(|b| b.is_ascii_digit()) => {
                        Ok(Self::OnFailure(Some(max)))
                    }
                    _ => Err(PolicyError(format!(
                        "restart policy '{s}': '{n}' is not a restart count of 1 or more"
                    ))),
                },
                None => Err(PolicyError(format!(
                    "'{s}' is not a restart policy (no, on-failure[:N] or always)"
                ))),
            },
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::No => f.write_str("no"),
            Self::Always => f.write_str("always"),
            Self::OnFailure(None) => f.write_str("on-failure"),
            Self::OnFailure(Some(n)) => write!(f, "on-failure:{n}"),
        }
    }
}

impl RestartPolicy {
    /// Whether a process that ended with `code`, after `restarts` restarts
    /// so far, is started again.
    pub fn restarts_after(self, code: i32, restarts: u32) -> bool {
        match self {
            Self::No => false,
            Self::Always => true,
            Self::OnFailure(None) => code != 0,
            Self::OnFailure(Some(max)) => code != 0 && restarts < max,
        }
    }
}

/// The waits between starts: [`BACKOFF_FIRST`], doubling up to
/// [`BACKOFF_MAX`]; a run of [`STABLE_UPTIME`] or more starts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: BACKOFF_FIRST,
        }
    }
}

impl Backoff {
    /// The wait before starting again a process that ran for `uptime`.
    pub fn after_run(&mut self, uptime: Duration) -> Duration {
        if uptime >= STABLE_UPTIME {
            self.next = BACKOFF_FIRST;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        wait
    }
}

/// Where a supervised process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started yet.
    Idle,
    /// Running since `since`.
    Running {
        /// Its PID (and process group: it leads a session of its own).
        pid: Pid,
        /// When it was started.
        since: Instant,
    },
    /// Ended; started again at `until`.
    Backoff {
        /// When.
        until: Instant,
    },
    /// Ended for good (its policy, or the stop).
    Exited,
}

impl State {
    fn label(self) -> &'static str {
        match self {
            State::Idle => "starting",
            State::Backoff { .. } => "backoff",
            State::Running { .. } => "running",
            State::Exited => "exited",
        }
    }
}

/// A boot service as given: `--service NAME=CMD` or a file of the boot
/// directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// `NAME`, or `boot.d/FILE`.
    pub name: String,
    /// Run through `/bin/sh -c`.
    pub command: CString,
}

impl ServiceSpec {
    /// `NAME=CMD`: NAME is what comes before the first `=`.
    pub fn parse(text: &[u8]) -> Option<ServiceSpec> {
        let at = text.iter().position(|&b| b == b'=')?;
        let (name, command) = (&text[..at], &text[at + 1..]);
        if name.is_empty() || command.is_empty() {
            return None;
        }
        Some(ServiceSpec {
            name: std::str::from_utf8(name).ok()?.to_string(),
            command: CString::new(command).ok()?,
        })
    }
}

/// The executables of `dir`, in name order (bytewise), as services named
/// `boot.d/FILE`: regular files (symlinks followed) with an execute bit;
/// dotfiles, directories and other files are skipped. A missing or
/// unreadable directory has none. The path is resolved inside the
/// container, where init runs. Each runs through the shell quoted, so
/// any file name works.
pub fn boot_dir_services(dir: &Path) -> Vec<ServiceSpec> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<std::ffi::OsString> = entries
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| !n.as_bytes().starts_with(b"."))
        .filter(|n| {
            std::fs::metadata(dir.join(n))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    names
        .iter()
        .filter_map(|n| {
            let command = CString::new(shell_quote(&dir.join(n).into_os_string())).ok()?;
            Some(ServiceSpec {
                name: format!("boot.d/{}", n.to_string_lossy()),
                command,
            })
        })
        .collect()
}

/// `'...'` for the shell, a quote inside written `'\''`; a path of plain
/// characters stays as it is (and is then executed without the shell).
fn shell_quote(path: &OsStr) -> Vec<u8> {
    let bytes = path.as_bytes();
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"/._-+,:@%".contains(b);
    if !bytes.is_empty() && bytes.iter().all(plain) {
        return bytes.to_vec();
    }
    let mut out = vec![b'\''];
    for &b in bytes {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// One supervised process.
#[derive(Debug, Clone)]
pub struct Supervised {
    /// The main process or a service.
    pub role: Role,
    /// `main`, or the service's name.
    pub name: String,
    /// Run through `/bin/sh -c`.
    pub command: CString,
    /// When it is started again.
    pub policy: RestartPolicy,
    /// Where it is.
    pub state: State,
    /// How many times it was started again (or tried to be).
    pub restarts: u32,
    /// The exit code of its last run.
    pub last_exit: Option<i32>,
    backoff: Backoff,
}

impl Supervised {
    fn new(role: Role, name: String, command: CString, policy: RestartPolicy) -> Self {
        Self {
            role,
            name,
            command,
            policy,
            state: State::Idle,
            restarts: 0,
            last_exit: None,
            backoff: Backoff::default(),
        }
    }

    /// Its PID while it runs.
    pub fn pid(&self) -> Option<Pid> {
        match self.state {
            State::Running { pid, .. } => Some(pid),
            _ => None,
        }
    }
}

/// Which supervised process a child was, and what comes next for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Its index (see [`Supervisor::get`]).
    pub index: usize,
    /// The main process or a service.
    pub role: Role,
    /// Started again at this time; None: ended for good.
    pub restart_at: Option<Instant>,
}

/// Every supervised process, in start order: the services (boot directory
/// first, then `--service` in the order given), the main process last.
#[derive(Debug, Clone, Default)]
pub struct Supervisor {
    procs: Vec<Supervised>,
    /// The orderly stop has begun: nothing is started any more.
    stopping: bool,
}

impl Supervisor {
    /// The services with `service_policy`, then the main process with its
    /// own policy.
    pub fn new(
        services: Vec<ServiceSpec>,
        service_policy: RestartPolicy,
        main: Option<(CString, RestartPolicy)>,
    ) -> Self {
        let mut procs: Vec<Supervised> = services
            .into_iter()
            .map(|s| Supervised::new(Role::Service, s.name, s.command, service_policy))
            .collect();
        if let Some((command, policy)) = main {
            procs.push(Supervised::new(Role::Main, "main".into(), command, policy));
        }
        Self {
            procs,
            stopping: false,
        }
    }

    /// How many processes are supervised.
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    /// True when nothing is supervised.
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// The process at `index` (start order).
    pub fn get(&self, index: usize) -> Option<&Supervised> {
        self.procs.get(index)
    }

    /// The main process, when there is one.
    pub fn main(&self) -> Option<&Supervised> {
        self.procs.iter().find(|p| p.role == Role::Main)
    }

    /// Whether `pid` is a supervised process still running.
    pub fn is_running(&self, pid: Pid) -> bool {
        self.procs.iter().any(|p| p.pid() == Some(pid))
    }

    /// Whether there are services.
    pub fn has_services(&self) -> bool {
        self.procs.iter().any(|p| p.role == Role::Service)
    }

    /// The main process exists and ended for good: the container stops.
    pub fn main_done(&self) -> bool {
        self.main().is_some_and(|m| m.state == State::Exited)
    }

    /// The process at `index` was started as `pid`.
    pub fn started(&mut self, index: usize, pid: Pid, now: Instant) {
        if let Some(p) = self.procs.get_mut(index) {
            p.state = State::Running { pid, since: now };
        }
    }

    /// The process at `index` could not be started (fork failed): tried
    /// again after a wait if its policy allows, as if it had failed.
    pub fn start_failed(&mut self, index: usize, now: Instant) -> Option<Instant> {
        self.end(index, 1, Duration::ZERO, now)
    }

    /// The process at `index` was not started for a reason of its own (its
    /// user does not exist): a run that ended with `code`.
    pub fn start_refused(&mut self, index: usize, code: i32, now: Instant) -> Option<Instant> {
        if let Some(p) = self.procs.get_mut(index) {
            p.last_exit = Some(code);
        }
        self.end(index, code, Duration::ZERO, now)
    }

    /// Child `pid` ended with `code`: which supervised process it was
    /// (None: another child, an orphan or a session helper).
    pub fn exited(&mut self, pid: Pid, code: i32, now: Instant) -> Option<Ended> {
        let index = self.procs.iter().position(|p| p.pid() == Some(pid))?;
        let State::Running { since, .. } = self.procs[index].state else {
            return None;
        };
        self.procs[index].last_exit = Some(code);
        let uptime = now.saturating_duration_since(since);
        let restart_at = self.end(index, code, uptime, now);
        Some(Ended {
            index,
            role: self.procs[index].role,
            restart_at,
        })
    }

    /// Ends a run; returns when it starts again.
    fn end(&mut self, index: usize, code: i32, uptime: Duration, now: Instant) -> Option<Instant> {
        let stopping = self.stopping;
        let p = self.procs.get_mut(index)?;
        if stopping || !p.policy.restarts_after(code, p.restarts) {
            p.state = State::Exited;
            return None;
        }
        p.restarts += 1;
        let until = now + p.backoff.after_run(uptime);
        p.state = State::Backoff { until };
        Some(until)
    }

    /// The processes due to start at `now`: never started, or at the end
    /// of their wait.
    pub fn due(&self, now: Instant) -> Vec<usize> {
        if self.stopping {
            return Vec::new();
        }
        (0..self.procs.len())
            .filter(|&i| match self.procs[i].state {
                State::Idle => true,
                State::Backoff { until } => until <= now,
                _ => false,
            })
            .collect()
    }

    /// The next end of a wait, for the poll timeout.
    pub fn next_due(&self) -> Option<Instant> {
        if self.stopping {
            return None;
        }
        self.procs
            .iter()
            .filter_map(|p| match p.state {
                State::Backoff { until } => Some(until),
                State::Idle => Some(Instant::now()),
                _ => None,
            })
            .min()
    }

    /// The orderly stop begins: nothing starts any more. Returns the
    /// running processes to stop one by one, in reverse start order (the
    /// main process first, then the services, last started first); empty
    /// without services, where everything gets TERM at once as before.
    pub fn stop(&mut self) -> Vec<Pid> {
        self.stopping = true;
        for p in &mut self.procs {
            if matches!(p.state, State::Backoff { .. } | State::Idle) {
                p.state = State::Exited;
            }
        }
        if !self.has_services() {
            return Vec::new();
        }
        self.procs
            .iter()
            .rev()
            .filter_map(Supervised::pid)
            .collect()
    }

    /// What `Status` reports.
    pub fn report(&self, now: Instant) -> Vec<ProcessStatus> {
        self.procs
            .iter()
            .map(|p| ProcessStatus {
                role: p.role,
                name: p.name.clone(),
                command: p.command.as_bytes().to_vec(),
                policy: p.policy.to_string(),
                state: p.state.label().to_string(),
                pid: p.pid().map(Pid::as_raw),
                restarts: p.restarts,
                last_exit: p.last_exit,
                next_start_ms: match p.state {
                    State::Backoff { until } => {
                        let ms = until.saturating_duration_since(now).as_millis();
                        u32::try_from(ms).unwrap_or(u32::MAX)
                    }
                    _ => 0,
                },
            })
            .collect()
    }
}

/// When the next process of a one-by-one stop must have ended: an equal
/// share of what is left of the grace period for each of the `left`
/// processes and for the TERM to everything that follows them.
pub fn stop_step_deadline(now: Instant, deadline: Instant, left: usize) -> Instant {
    let share = deadline.saturating_duration_since(now) / (left as u32 + 1);
    now + share
}

/// Starts the `-e` main process (first start and restarts): through
/// `/bin/sh -c` with `stdio` as its fds 0-2 (the ones
/// [`crate::stdio::MainStdio`] made once for every run, logged and copied
/// to init's own; `Inherit` only when they could not be made). The one
/// place where the main process is spawned.
pub fn spawn_main(
    command: &CStr,
    env: &[CString],
    stdio: ChildStdio,
    launch: &Launch,
) -> Result<Spawned, (&'static str, Errno)> {
    process::spawn_shell(command, env, stdio, launch)
}

/// Starts a boot service: through `/bin/sh -c`, stdin `/dev/null`,
/// stdout and stderr on the console: `console`, the console pty's slave
/// init holds (see [`crate::log::Capture::console`]: no path looked up in
/// the container's tree, which could hold a FIFO there), else [`CONSOLE`]
/// opened (`/dev/null` when it cannot be), in a session of its own.
pub fn spawn_service(
    command: &CStr,
    env: &[CString],
    console: Option<BorrowedFd<'_>>,
) -> Result<Spawned, (&'static str, Errno)> {
    let open = |path: &CStr, flags: OFlag| {
        crate::sys::open(path, flags | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| ("open the service's standard streams", e))
    };
    let null_in: OwnedFd = open(c"/dev/null", OFlag::O_RDONLY)?;
    if let Some(console) = console {
        let fds = [
            null_in.as_raw_fd(),
            console.as_raw_fd(),
            console.as_raw_fd(),
        ];
        return process::spawn_shell(command, env, ChildStdio::Fds(fds), &Launch::default());
    }
    let out: OwnedFd = match open(CONSOLE, OFlag::O_WRONLY | OFlag::O_NOCTTY) {
        Ok(fd) => fd,
        Err(_) => open(c"/dev/null", OFlag::O_WRONLY)?,
    };
    let fds = [null_in.as_raw_fd(), out.as_raw_fd(), out.as_raw_fd()];
    process::spawn_shell(command, env, ChildStdio::Fds(fds), &Launch::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn policies_parse_and_print_as_written() {
        for text in ["no", "always", "on-failure", "on-failure:3", "on-failure:1"] {
            let p: RestartPolicy = text.parse().expect(text);
            assert_eq!(p.to_string(), text);
        }
        assert_eq!(
            "on-failure:5".parse(),
            Ok(RestartPolicy::OnFailure(Some(5)))
        );
        for (bad, needle) in [
            ("sometimes", "'sometimes' is not a restart policy"),
            ("on-failure:x", "'x' is not a restart count of 1 or more"),
            ("on-failure:0", "'0' is not a restart count"),
            ("on-failure:", "'' is not a restart count"),
            ("on-failure:+3", "'+3' is not a restart count"),
            ("Always", "is not a restart policy"),
            ("", "is not a restart policy"),
        ] {
            let e = bad.parse::<RestartPolicy>().expect_err(bad);
            assert!(e.to_string().contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn who_is_restarted() {
        use RestartPolicy::*;
        assert!(!No.restarts_after(1, 0));
        assert!(Always.restarts_after(0, 1000));
        assert!(OnFailure(None).restarts_after(137, 1000));
        assert!(!OnFailure(None).restarts_after(0, 0));
        assert!(OnFailure(Some(3)).restarts_after(1, 2));
        assert!(!OnFailure(Some(3)).restarts_after(1, 3));
    }

    #[test]
    fn backoff_doubles_to_ten_seconds_and_resets_after_a_long_run() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..10)
            .map(|_| b.after_run(ms(5)).as_millis() as u64)
            .collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
        assert_eq!(b.after_run(STABLE_UPTIME), BACKOFF_FIRST);
        assert_eq!(b.after_run(ms(9_999)), ms(200));
    }

    fn supervisor(policy: RestartPolicy) -> Supervisor {
        Supervisor::new(
            vec![
                ServiceSpec::parse(b"db=sleep 100").unwrap(),
                ServiceSpec::parse(b"web=httpd -f").unwrap(),
            ],
            RestartPolicy::OnFailure(None),
            Some((CString::new("exit 1").unwrap(), policy)),
        )
    }

    #[test]
    fn on_failure_n_gives_exactly_n_restarts() {
        let mut s = supervisor(RestartPolicy::OnFailure(Some(3)));
        let t0 = Instant::now();
        let main = 2;
        let mut now = t0;
        let mut waits = Vec::new();
        for run in 0..4 {
            assert!(s.due(now).contains(&main), "run {run}");
            let pid = Pid::from_raw(100 + run);
            s.started(main, pid, now);
            assert_eq!(s.get(main).unwrap().pid(), Some(pid));
            let ended = s.exited(pid, 1, now + ms(1)).expect("main");
            assert_eq!(ended.role, Role::Main);
            match ended.restart_at {
                Some(at) => {
                    waits.push((at - (now + ms(1))).as_millis());
                    now = at;
                }
                None => assert_eq!(run, 3, "ended for good after 3 restarts"),
            }
        }
        assert_eq!(waits, [100, 200, 400]);
        let main_proc = s.get(main).unwrap();
        assert_eq!(main_proc.restarts, 3);
        assert_eq!(main_proc.last_exit, Some(1));
        assert!(s.main_done());
        assert!(s.due(now + BACKOFF_MAX).iter().all(|&i| i != main));
    }

    #[test]
    fn always_restarts_a_clean_exit_and_no_restarts_nothing() {
        let mut s = supervisor(RestartPolicy::Always);
        let now = Instant::now();
        // Services not started yet are due at once.
        assert!(s.next_due().is_some_and(|t| t <= Instant::now()));
        s.started(0, Pid::from_raw(5), now);
        s.started(1, Pid::from_raw(6), now);
        s.started(2, Pid::from_raw(7), now);
        assert_eq!(s.next_due(), None);
        let ended = s.exited(Pid::from_raw(7), 0, now).unwrap();
        assert!(ended.restart_at.is_some());
        assert!(!s.main_done());
        assert_eq!(s.next_due().map(|t| t - now), Some(BACKOFF_FIRST));
        let mut s = supervisor(RestartPolicy::No);
        s.started(2, Pid::from_raw(7), now);
        assert_eq!(s.exited(Pid::from_raw(7), 1, now).unwrap().restart_at, None);
        assert!(s.main_done());
        // A child nobody supervises.
        assert_eq!(s.exited(Pid::from_raw(99), 0, now), None);
    }

    #[test]
    fn services_start_first_and_stop_in_reverse_order() {
        let mut s = supervisor(RestartPolicy::No);
        let now = Instant::now();
        assert_eq!(s.due(now), [0, 1, 2]);
        for i in 0..3 {
            s.started(i, Pid::from_raw(10 + i as i32), now);
        }
        // web is waiting for its restart when the stop begins.
        let web = s.exited(Pid::from_raw(11), 1, now).unwrap();
        assert_eq!((web.index, web.role), (1, Role::Service));
        assert!(web.restart_at.is_some());
        let order = s.stop();
        assert_eq!(order, [Pid::from_raw(12), Pid::from_raw(10)]);
        // Nothing restarts during the stop, and the wait is cancelled.
        assert_eq!(s.get(1).unwrap().state, State::Exited);
        assert!(s.due(now + BACKOFF_MAX).is_empty());
        assert_eq!(s.next_due(), None);
        assert_eq!(
            s.exited(Pid::from_raw(10), 143, now).unwrap().restart_at,
            None
        );
    }

    #[test]
    fn without_services_the_stop_is_all_at_once() {
        let mut s = Supervisor::new(
            vec![],
            RestartPolicy::Always,
            Some((CString::new("x").unwrap(), RestartPolicy::Always)),
        );
        s.started(0, Pid::from_raw(5), Instant::now());
        assert!(s.stop().is_empty());
    }

    #[test]
    fn the_report_names_state_pid_restarts_and_last_exit() {
        let mut s = supervisor(RestartPolicy::OnFailure(Some(3)));
        let now = Instant::now();
        s.started(0, Pid::from_raw(10), now);
        s.started(2, Pid::from_raw(12), now);
        s.exited(Pid::from_raw(12), 1, now);
        let report = s.report(now);
        assert_eq!(report.len(), 3);
        assert_eq!(report[0].name, "db");
        assert_eq!(report[0].state, "running");
        assert_eq!(report[0].pid, Some(10));
        assert_eq!(report[0].policy, "on-failure");
        assert_eq!(report[2].role, Role::Main);
        assert_eq!(report[2].state, "backoff");
        assert_eq!(report[2].restarts, 1);
        assert_eq!(report[2].last_exit, Some(1));
        assert_eq!(report[2].next_start_ms, 100);
        assert_eq!(report[2].policy, "on-failure:3");
    }

    #[test]
    fn a_failed_start_counts_as_a_failed_run() {
        let mut s = supervisor(RestartPolicy::OnFailure(Some(1)));
        let now = Instant::now();
        assert!(s.start_failed(2, now).is_some());
        assert_eq!(s.start_failed(2, now), None);
        assert!(s.main_done());
    }

    #[test]
    fn each_stop_step_gets_a_share_of_the_grace_period() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(9);
        assert_eq!(
            stop_step_deadline(now, deadline, 2),
            now + Duration::from_secs(3)
        );
        assert_eq!(stop_step_deadline(now, now, 3), now);
    }

    #[test]
    fn service_specs() {
        let s = ServiceSpec::parse(b"web=httpd -f -p 8080 a=b").unwrap();
        assert_eq!(s.name, "web");
        assert_eq!(s.command.as_bytes(), b"httpd -f -p 8080 a=b");
        for bad in [&b"web"[..], b"=cmd", b"web=", b""] {
            assert_eq!(ServiceSpec::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_boot_directory_runs_executables_in_name_order() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, mode: u32| {
            let p = dir.path().join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        file("20-web", 0o755);
        file("10-db", 0o700);
        file("15-notes", 0o644);
        file(".hidden", 0o755);
        file("30 it's", 0o755);
        std::fs::create_dir(dir.path().join("25-dir")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("10-db"), dir.path().join("12-link")).unwrap();
        let got = boot_dir_services(dir.path());
        let names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "boot.d/10-db",
                "boot.d/12-link",
                "boot.d/20-web",
                "boot.d/30 it's"
            ]
        );
        let d = dir.path().display();
        assert_eq!(got[0].command.to_str().unwrap(), format!("{d}/10-db"));
        assert_eq!(
            got[3].command.to_str().unwrap(),
            format!("'{d}/30 it'\\''s'")
        );
        assert!(boot_dir_services(&dir.path().join("none")).is_empty());
    }
}
