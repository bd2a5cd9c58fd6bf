//! The command line of xdockerinit, parsed without side effects: it is the
//! contract with the host side (`xdocker -a boot`), so it is small, strict
//! (unknown or repeated options are refused) and unit tested.

use std::ffi::{CString, OsString};
use std::fmt;
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use crate::supervise::{RestartPolicy, ServiceSpec};

use crate::log::{DEFAULT_MAX_SIZE, MAX_MAX_FILES, MIN_MAX_SIZE};

/// Grace period of the orderly stop when `--grace` is not given.
pub const DEFAULT_GRACE_SECS: u32 = 10;

/// One option of the command line. The parser below accepts exactly these
/// (a unit test checks it); `--help` and the SYNOPSIS and OPTIONS sections of
/// `man/xdockerinit.8` are made from this table (tests/shipped.rs checks the
/// shipped page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// `-e`, `-v`.
    pub short: Option<&'static str>,
    /// `--exit-fd`.
    pub long: Option<&'static str>,
    /// The value's placeholder, for options that take one.
    pub value: Option<&'static str>,
    /// One line for `--help`.
    pub help: &'static str,
    /// The manual's paragraph (roff).
    pub manual: &'static str,
}

/// Every option, in the order `--help` and the manual list them.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        short: None,
        long: Some("--exit-fd"),
        value: Some("N"),
        help: "write `exit_code=<N>` into this open file when stopping",
        manual: "A writable file (N >= 3) where, when the container stops, the line\n\
.B exit_code=N\n\
is written. xdocker passes the container's\n\
.I exit\n\
file. An empty file means init did not stop on its own (it was killed).",
    },
    OptionSpec {
        short: None,
        long: Some("--session-fd"),
        value: Some("N"),
        help: "serve sessions on this listening unix socket",
        manual: "A listening unix stream socket (N >= 3, not the exit fd) that xdocker\n\
created at\n\
.I XDOCKER_HOME/containers/C/session.sock\n\
before the container existed, in a host directory the container cannot see.\n\
It is made close\\-on\\-exec and non\\-blocking; the session protocol is\n\
defined in the xdockerinit crate\n\
.RB ( protocol.rs ).",
    },
    OptionSpec {
        short: None,
        long: Some("--grace"),
        value: Some("SECONDS"),
        help: "grace period between TERM and KILL (default 10)",
        manual: "Grace period between TERM and KILL (default 10).",
    },
    OptionSpec {
        short: None,
        long: Some("--log-fds"),
        value: Some("FIRST-LAST"),
        help: "write the console log into these open files, a ring",
        manual: "The files of the console log: descriptors FIRST to LAST (or one,\n\
.BR N ;\n\
at most 100), regular files of the host opened for appending, in the order\n\
they are written: xdocker passes\n\
.IR XDOCKER_HOME/containers/C/log/console.N ,\n\
the one written last first. No directory of the host is handed to the\n\
container (a directory descriptor would be a way out of it,\n\
CVE\\-2024\\-21626): when a record would take the file being written past\n\
.BR \\-\\-log\\-max\\-size ,\n\
init goes on with the next descriptor of the ring, truncated to nothing.\n\
The log is what the main process of\n\
.B \\-e\n\
writes on stdout and stderr and what is written to\n\
.I /dev/console\n\
(see\n\
.BR \\-\\-console\\-fd ),\n\
one record per line:\n\
.I TIME STREAM F|P TEXT\n\
(the CRI log format: RFC 3339 UTC time with nanoseconds; stream\n\
.BR stdout ,\n\
.BR stderr ,\n\
.B console\n\
or\n\
.B xdocker\n\
for init's own records, a\n\
.B boot\n\
marker at every boot and a\n\
.B stop\n\
record with the exit code; F ends a line, P is a piece of a longer one).\n\
Lines are read without blocking the writer; when the disk is full records\n\
are dropped and counted, never waited for.",
    },
    OptionSpec {
        short: None,
        long: Some("--log-max-size"),
        value: Some("BYTES"),
        help: "go on with the next log file before one grows past BYTES (default 10M)",
        manual: "Go on with the next file of\n\
.B \\-\\-log\\-fds\n\
before a record would take the one being written past BYTES (at least\n\
65536; default 10485760): the log never takes more than BYTES times the\n\
number of files. Needs\n\
.BR \\-\\-log\\-fds .",
    },
    OptionSpec {
        short: None,
        long: Some("--console-fd"),
        value: Some("N"),
        help: "log what is written to /dev/console (this pty master)",
        manual: "The master (N >= 3) of the pty whose slave xdocker mounted on the\n\
container's\n\
.IR /dev/console .\n\
Init keeps a slave open (so the master never reads end of file), reads the\n\
master and logs its lines as stream\n\
.BR console .",
    },
    OptionSpec {
        short: Some("-e"),
        long: None,
        value: Some("CMD"),
        help: "run CMD as the main process; stop when it exits",
        manual: "Single\\-process mode: run\n\
.B /bin/sh \\-c\n\
.I CMD\n\
as the main child with a clean environment (see\n\
.BR \\-\\-pass\\-env ).\n\
A CMD of plain words (letters,\n\
digits, spaces and\n\
.BR /._\\-+,:@%= ;\n\
no quoting, expansion, redirection or leading assignment, and not a shell\n\
keyword or builtin) is executed directly, found in PATH as the shell would\n\
(the shell would end by executing it anyway); if that fails, the shell runs\n\
it. When CMD exits, the rest of the\n\
container is stopped, CMD's status (its exit code, or 128+signal) is\n\
recorded and xdockerinit exits with it. HUP, USR1 and USR2 are forwarded to\n\
CMD.",
    },
    OptionSpec {
        short: None,
        long: Some("--restart"),
        value: Some("POLICY"),
        help: "restart CMD: no (default), on-failure[:N] or always",
        manual: "With\n\
.BR \\-e :\n\
when CMD ends, start it again:\n\
.B no\n\
(the default: the container stops),\n\
.BR on\\-failure [: \\fIN\\fP]\n\
(after an exit code other than 0 or a signal; at most N times when given)\n\
or\n\
.B always\n\
(after an exit 0 too). The wait between two starts is 100 ms, doubling\n\
up to 10 s, and back to 100 ms after a run of 10 s or more. Nothing is\n\
restarted once the orderly stop has begun; the recorded exit code is\n\
CMD's last one, and the exit record gets a line\n\
.BR restarts=N .",
    },
    OptionSpec {
        short: None,
        long: Some("--service"),
        value: Some("NAME=CMD"),
        help: "start CMD as boot service NAME (repeatable)",
        manual: "A boot service (repeatable; NAME is what comes before the first\n\
.BR = ):\n\
CMD runs through\n\
.B /bin/sh \\-c\n\
in a session of its own, stdin\n\
.IR /dev/null ,\n\
stdout and stderr on\n\
.I /dev/console\n\
(opened write\\-only, without becoming a controlling terminal;\n\
.I /dev/null\n\
if it cannot be opened), with the clean environment of CMD. Services\n\
start before CMD, those of\n\
.B \\-\\-boot\\-dir\n\
first, then these in the order given; they are restarted by the policy of\n\
.BR \\-\\-service\\-restart .\n\
At the orderly stop CMD and then the services, last started first, get\n\
TERM (and CONT) one by one, to their process group, each waited for up to\n\
an equal share of what is left of the grace period; then everything gets\n\
TERM as without services. The exit record gets a line\n\
.BI service= \"RESTARTS LAST_EXIT NAME\"\n\
for each service.",
    },
    OptionSpec {
        short: None,
        long: Some("--service-restart"),
        value: Some("POLICY"),
        help: "restart policy of the services (default on-failure)",
        manual: "The restart policy of every service, as for\n\
.B \\-\\-restart\n\
(default\n\
.BR on\\-failure ).",
    },
    OptionSpec {
        short: None,
        long: Some("--boot-dir"),
        value: Some("DIR"),
        help: "start the executables of DIR as services, in name order",
        manual: "Every executable regular file of DIR (an absolute path inside the\n\
container; symlinks are followed; dotfiles are skipped), in byte order of\n\
their names, is a service named\n\
.BR boot.d/ \\fIFILE\\fP,\n\
started before those of\n\
.BR \\-\\-service .\n\
xdocker passes\n\
.IR /etc/xdocker/boot.d .\n\
A missing directory has none.",
    },
    OptionSpec {
        short: None,
        long: Some("--pass-env"),
        value: None,
        help: "give the processes started this environment, not a clean one",
        manual: "Every process xdockerinit starts (CMD of\n\
.BR \\-e ,\n\
and the commands of sessions) gets xdockerinit's own environment instead of\n\
the clean one (PATH, HOME=/root, container=xdocker), TERM aside: a\n\
terminal session gets the client's TERM, a session with pipes none, CMD\n\
xdockerinit's. Programs are looked up in its PATH. xdocker passes it with\n\
the container's variables\n\
.RB ( \\-\\-env )\n\
over the clean ones; its values reach the processes byte for byte.",
    },
    OptionSpec {
        short: None,
        long: Some("--main-tty"),
        value: None,
        help: "with -e: CMD on a terminal of its own that clients attach to",
        manual: "With\n\
.BR \\-e :\n\
CMD gets a pseudo\\-terminal of its own as stdin, stdout and stderr (its\n\
controlling terminal; its output logged as stdout), whatever\n\
xdockerinit's own descriptors are. xdockerinit keeps it for the whole\n\
boot: any number of session clients attach to it and leave again\n\
(session protocol 4,\n\
.BR AttachMain ),\n\
each getting the last few KiB of output first, then the output as it\n\
comes, and, when CMD ends, its exit code.",
    },
    OptionSpec {
        short: None,
        long: Some("--wait-attach"),
        value: None,
        help: "with --main-tty: start CMD once a session client connected",
        manual: "With\n\
.BR \\-\\-main\\-tty :\n\
start CMD (and the services) only once the first session client connected\n\
(xdocker boots so when it attaches at once, so that it sees all of CMD's\n\
output however short its life), or after 5 seconds, or at a signal.",
    },
    OptionSpec {
        short: None,
        long: Some("--dhcp"),
        value: Some("HOSTNAME"),
        help: "take eth0's address from DHCP first, renew it, release it at the stop",
        manual: "Before anything is started, take a lease for\n\
.I eth0\n\
from the LAN's DHCP server (HOSTNAME sent as option 12), set its address,\n\
the default route and\n\
.I /etc/resolv.conf\n\
from it, and write it to\n\
.IR /etc/xdocker/dhcp.lease ;\n\
renew it at T1 and T2 for as long as the container runs, and release it at\n\
the orderly stop. No lease within the\n\
.B \\-\\-dhcp\\-timeout\n\
is an error (written to the lease file as\n\
.BR error= ).",
    },
    OptionSpec {
        short: None,
        long: Some("--dhcp-timeout"),
        value: Some("SECONDS"),
        help: "how long --dhcp waits for a lease (default 10)",
        manual: "How long\n\
.B \\-\\-dhcp\n\
waits for a lease at the start (default 10 seconds).",
    },
    OptionSpec {
        short: None,
        long: Some("--user"),
        value: Some("USER[:GROUP]"),
        help: "run CMD and the sessions as this user (NAME, UID, NAME:GROUP, UID:GID)",
        manual: "Run CMD of\n\
.B \\-e\n\
and the commands of sessions (unless a session names its own) as this\n\
user: a name or UID, with a group name or GID after a colon. Names are\n\
looked up in the container's\n\
.I /etc/passwd\n\
and\n\
.I /etc/group\n\
when the process starts; a UID that passwd lacks is used as is, with\n\
group 0. Without a group the supplementary groups are those of\n\
.I /etc/group\n\
that list the user; HOME, unless set, is the user's home. The services\n\
run as root. A user that cannot be found ends that start of CMD with\n\
exit code 126.",
    },
    OptionSpec {
        short: None,
        long: Some("--workdir"),
        value: Some("DIR"),
        help: "start CMD and the sessions in DIR (made at start when missing)",
        manual: "The working directory of CMD and of the sessions (unless a session\n\
names its own; without one a session starts in the user's home). An\n\
absolute path of the container, made (mode 0755, owned by root) at start\n\
when it does not exist.",
    },
    OptionSpec {
        short: Some("-v"),
        long: Some("--version"),
        value: None,
        help: "print the version",
        manual: "Print\n\
.B xdockerinit v<version>\n\
and exit.",
    },
    OptionSpec {
        short: Some("-h"),
        long: Some("--help"),
        value: None,
        help: "print this help",
        manual: "Print a summary of the options and exit.",
    },
];

impl OptionSpec {
    /// `-v` and `-h`: a form of the command line of their own, not an
    /// option of a run.
    pub fn is_mode(&self) -> bool {
        matches!(self.long, Some("--version" | "--help"))
    }

    /// `-v, --version`, `--grace SECONDS`.
    pub fn spelling(&self) -> String {
        let names: Vec<&str> = self.short.iter().chain(self.long.iter()).copied().collect();
        match self.value {
            Some(v) => format!("{} {v}", names.join(", ")),
            None => names.join(", "),
        }
    }
}

/// Usage text, printed by `--help`.
pub fn usage() -> String {
    let mut out = String::from("usage: xdockerinit");
    for o in OPTIONS.iter().filter(|o| !o.is_mode()) {
        out.push_str(&format!(" [{}]", o.spelling()));
    }
    out.push_str(
        "\n       xdockerinit -v | --version\n\n\
         PID 1 of an xdocker container: reaps orphans, turns SIGTERM/SIGINT into an\n\
         orderly stop (TERM to all, grace period, KILL).\n\n",
    );
    let width = OPTIONS
        .iter()
        .map(|o| o.spelling().len())
        .max()
        .unwrap_or(0);
    for o in OPTIONS {
        out.push_str(&format!("  {:<width$}  {}\n", o.spelling(), o.help));
    }
    out.pop();
    out
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// `-v`/`--version`.
    Version,
    /// `-h`/`--help`.
    Help,
    /// Run as PID 1 (boxed: the arguments are large beside the others).
    Run(Box<Args>),
}

/// Options of a run as PID 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// `--exit-fd N`: where the exit record goes (always >= 3).
    pub exit_fd: Option<RawFd>,
    /// `--session-fd N`: the listening session socket (always >= 3, never
    /// the exit fd).
    pub session_fd: Option<RawFd>,
    /// `--grace SECONDS`.
    pub grace_secs: u32,
    /// `-e CMD`: single-process mode when set.
    pub command: Option<CString>,
    /// `--console-fd N`: the master of /dev/console's pty.
    pub console_fd: Option<RawFd>,
    /// `--log-fds FIRST-LAST`: the console log's files, in the order they
    /// are written (the current one first).
    pub log_fds: Option<(RawFd, RawFd)>,
    /// `--log-max-size BYTES`.
    pub log_max_size: u64,
    /// `--restart POLICY`: of CMD (only with `-e`).
    pub restart: RestartPolicy,
    /// `--service NAME=CMD`, in the order given.
    pub services: Vec<ServiceSpec>,
    /// `--service-restart POLICY`.
    pub service_restart: RestartPolicy,
    /// `--boot-dir DIR`.
    pub boot_dir: Option<PathBuf>,
    /// `--pass-env`: children get xdockerinit's environment (TERM aside).
    pub pass_env: bool,
    /// `--main-tty`: CMD on a pty of its own that clients attach to.
    pub main_tty: bool,
    /// `--wait-attach`: CMD starts once the first client connected.
    pub wait_attach: bool,
    /// `--dhcp HOSTNAME`: take, renew and release eth0's lease.
    pub dhcp: Option<String>,
    /// `--dhcp-timeout SECONDS`.
    pub dhcp_timeout_secs: u32,
    /// `--user USER[:GROUP]`: of CMD and the sessions.
    pub user: Option<String>,
    /// `--workdir DIR`: of CMD and the sessions.
    pub workdir: Option<String>,
}

/// The restart policy of services when `--service-restart` is not given.
pub const DEFAULT_SERVICE_RESTART: RestartPolicy = RestartPolicy::OnFailure(None);

impl Default for Args {
    fn default() -> Self {
        Args {
            exit_fd: None,
            session_fd: None,
            grace_secs: DEFAULT_GRACE_SECS,
            command: None,
            console_fd: None,
            log_fds: None,
            log_max_size: DEFAULT_MAX_SIZE,
            restart: RestartPolicy::No,
            services: Vec::new(),
            service_restart: DEFAULT_SERVICE_RESTART,
            boot_dir: None,
            pass_env: false,
            main_tty: false,
            wait_attach: false,
            dhcp: None,
            dhcp_timeout_secs: crate::dhcp::DEFAULT_TIMEOUT_SECS,
            user: None,
            workdir: None,
        }
    }
}

/// A command line that is not the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// An option (or a stray argument) we do not know.
    Unknown(String),
    /// An option given without its value.
    MissingValue(&'static str),
    /// An option given twice.
    Repeated(&'static str),
    /// `--exit-fd`/`--session-fd` that is not a number.
    BadFd(&'static str, String),
    /// `--exit-fd`/`--session-fd` naming stdin, stdout or stderr.
    StandardFd(&'static str, RawFd),
    /// `--session-fd` and `--exit-fd` naming the same descriptor.
    SameFd(RawFd),
    /// `--grace` that is not a whole number of seconds.
    BadGrace(String),
    /// Two descriptor options naming the same descriptor.
    FdTaken {
        /// The option given second.
        opt: &'static str,
        /// The option that has it.
        other: &'static str,
        /// The descriptor.
        fd: RawFd,
    },
    /// `--log-max-size` that is not a number of bytes of at least 64 KiB.
    BadLogSize(String),
    /// `--log-fds` that is not `FIRST-LAST` (>= 3, at most 100 files).
    BadLogFds(String),
    /// `--log-max-size` without `--log-fds`.
    NeedsLogFds(&'static str),
    /// `-e ''`.
    EmptyCommand,
    /// `-e` with a NUL byte (cannot come from argv, kept for totality).
    NulInCommand,
    /// `--restart`/`--service-restart` that is not a policy.
    BadPolicy(&'static str, String),
    /// `--restart` without `-e`.
    RestartWithoutCommand,
    /// `--service` that is not `NAME=CMD`.
    BadService(String),
    /// Two services of one name.
    ServiceTwice(String),
    /// `--boot-dir` that is not an absolute path.
    BadBootDir(String),
    /// `--user` or `--workdir` that cannot be.
    User(&'static str, crate::user::UserError),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Unknown(arg) if arg.starts_with('-') => {
                write!(f, "unknown option '{arg}' (see --help)")
            }
            ArgsError::Unknown(arg) => write!(f, "unexpected argument '{arg}' (see --help)"),
            ArgsError::MissingValue(opt) => write!(f, "{opt} needs a value"),
            ArgsError::Repeated(opt) => write!(f, "{opt} given twice"),
            ArgsError::BadFd(opt, value) => {
                write!(f, "{opt}: '{value}' is not a file descriptor number")
            }
            ArgsError::StandardFd(opt, fd) => write!(
                f,
                "{opt}: {fd} is a standard stream, give a descriptor of 3 or more"
            ),
            ArgsError::SameFd(fd) => {
                write!(f, "--session-fd: {fd} is the exit fd too, give another one")
            }
            ArgsError::BadGrace(value) => {
                write!(f, "--grace: '{value}' is not a whole number of seconds")
            }
            ArgsError::FdTaken { opt, other, fd } => {
                write!(f, "{opt}: {fd} is given to {other} too, give another one")
            }
            ArgsError::BadLogSize(value) => write!(
                f,
                "--log-max-size: '{value}' is not a number of bytes of {MIN_MAX_SIZE} or more"
            ),
            ArgsError::BadLogFds(value) => write!(
                f,
                "--log-fds: '{value}' is not FIRST-LAST, descriptors of 3 or more, at most \
                 {MAX_MAX_FILES}"
            ),
            ArgsError::NeedsLogFds(opt) => write!(f, "{opt} needs --log-fds"),
            ArgsError::EmptyCommand => write!(f, "-e: empty command"),
            ArgsError::NulInCommand => write!(f, "-e: the command contains a nul byte"),
            ArgsError::BadPolicy(opt, reason) => write!(f, "{opt}: {reason}"),
            ArgsError::RestartWithoutCommand => {
                write!(f, "--restart applies to the -e command: give -e too")
            }
            ArgsError::BadService(value) => {
                write!(f, "--service: '{value}' is not NAME=CMD")
            }
            ArgsError::ServiceTwice(name) => write!(f, "--service: {name} given twice"),
            ArgsError::BadBootDir(value) => {
                write!(f, "--boot-dir: '{value}' is not an absolute path")
            }
            ArgsError::User(opt, e) => write!(f, "{opt}: {e}"),
        }
    }
}

impl std::error::Error for ArgsError {}

/// Parses the arguments after the program name.
///
/// Options are read left to right; `-e` takes the next argument verbatim,
/// even one starting with `-`. `--opt=value` is accepted for the long
/// options. `-v` and `-h` end the parse at once.
pub fn parse<I>(args: I) -> Result<Invocation, ArgsError>
where
    I: IntoIterator<Item = OsString>,
{
    let mut args = args.into_iter();
    let mut exit_fd = None;
    let mut session_fd = None;
    let mut grace_secs = None;
    let mut command = None;
    let mut log_fds = None;
    let mut log_max_size = None;
    let mut console_fd = None;
    let mut restart = None;
    let mut service_restart = None;
    let mut services: Vec<ServiceSpec> = Vec::new();
    let mut boot_dir = None;
    let mut pass_env = None;
    let mut main_tty = None;
    let mut wait_attach = None;
    let mut dhcp = None;
    let mut dhcp_timeout = None;
    let mut user = None;
    let mut workdir = None;

    while let Some(arg) = args.next() {
        // Options are ASCII; only CMD may be arbitrary bytes.
        let Some(text) = arg.to_str() else {
            return Err(ArgsError::Unknown(arg.to_string_lossy().into_owned()));
        };
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (text, None),
        };
        match name {
            "-v" | "--version" if inline.is_none() => return Ok(Invocation::Version),
            "-h" | "--help" if inline.is_none() => return Ok(Invocation::Help),
            "--exit-fd" => {
                let value = value_of("--exit-fd", inline, &mut args)?;
                let fd = parse_fd("--exit-fd", &value)?;
                set_once(&mut exit_fd, fd, "--exit-fd")?;
            }
            "--session-fd" => {
                let value = value_of("--session-fd", inline, &mut args)?;
                let fd = parse_fd("--session-fd", &value)?;
                set_once(&mut session_fd, fd, "--session-fd")?;
            }
            "--grace" => {
                let value = value_of("--grace", inline, &mut args)?;
                let secs = parse_grace(&value)?;
                set_once(&mut grace_secs, secs, "--grace")?;
            }
            "--pass-env" if inline.is_none() => set_once(&mut pass_env, true, "--pass-env")?,
            "--main-tty" if inline.is_none() => set_once(&mut main_tty, true, "--main-tty")?,
            "--wait-attach" if inline.is_none() => {
                set_once(&mut wait_attach, true, "--wait-attach")?
            }
            "--dhcp" => {
                let value = value_of("--dhcp", inline, &mut args)?;
                set_once(&mut dhcp, value, "--dhcp")?;
            }
            "--dhcp-timeout" => {
                let value = value_of("--dhcp-timeout", inline, &mut args)?;
                let secs = parse_grace(&value)?;
                set_once(&mut dhcp_timeout, secs, "--dhcp-timeout")?;
            }
            "--log-fds" => {
                let value = value_of("--log-fds", inline, &mut args)?;
                let range = parse_fd_range(&value).ok_or(ArgsError::BadLogFds(value))?;
                set_once(&mut log_fds, range, "--log-fds")?;
            }
            "--console-fd" => {
                let value = value_of("--console-fd", inline, &mut args)?;
                let fd = parse_fd("--console-fd", &value)?;
                set_once(&mut console_fd, fd, "--console-fd")?;
            }
            "--log-max-size" => {
                let value = value_of("--log-max-size", inline, &mut args)?;
                let size = parse_number(&value)
                    .filter(|&n| n >= MIN_MAX_SIZE)
                    .ok_or(ArgsError::BadLogSize(value))?;
                set_once(&mut log_max_size, size, "--log-max-size")?;
            }
            "-e" => {
                let value = args.next().ok_or(ArgsError::MissingValue("-e"))?;
                let cmd = parse_command(value)?;
                set_once(&mut command, cmd, "-e")?;
            }
            "--restart" => {
                let value = value_of("--restart", inline, &mut args)?;
                let policy = parse_policy("--restart", &value)?;
                set_once(&mut restart, policy, "--restart")?;
            }
            "--service-restart" => {
                let value = value_of("--service-restart", inline, &mut args)?;
                let policy = parse_policy("--service-restart", &value)?;
                set_once(&mut service_restart, policy, "--service-restart")?;
            }
            "--service" => {
                // The value is bytes (CMD may be any); only `--service=` is
                // split on its first `=` as text.
                let value = match inline {
                    Some(v) => OsString::from(v),
                    None => args.next().ok_or(ArgsError::MissingValue("--service"))?,
                };
                let spec = ServiceSpec::parse(value.as_bytes())
                    .ok_or_else(|| ArgsError::BadService(value.to_string_lossy().into_owned()))?;
                if services.iter().any(|s| s.name == spec.name) {
                    return Err(ArgsError::ServiceTwice(spec.name));
                }
                services.push(spec);
            }
            "--boot-dir" => {
                let value = value_of("--boot-dir", inline, &mut args)?;
                if !value.starts_with('/') {
                    return Err(ArgsError::BadBootDir(value));
                }
                set_once(&mut boot_dir, PathBuf::from(value), "--boot-dir")?;
            }
            "--user" => {
                let value = value_of("--user", inline, &mut args)?;
                crate::user::UserSpec::parse(&value).map_err(|e| ArgsError::User("--user", e))?;
                set_once(&mut user, value, "--user")?;
            }
            "--workdir" => {
                let value = value_of("--workdir", inline, &mut args)?;
                crate::user::check_workdir(&value).map_err(|e| ArgsError::User("--workdir", e))?;
                set_once(&mut workdir, value, "--workdir")?;
            }
            _ => return Err(ArgsError::Unknown(text.to_owned())),
        }
    }

    if let (Some(fd), true) = (session_fd, session_fd == exit_fd) {
        return Err(ArgsError::SameFd(fd));
    }
    let taken = [
        ("--exit-fd", exit_fd.map(|fd| (fd, fd))),
        ("--session-fd", session_fd.map(|fd| (fd, fd))),
        ("--console-fd", console_fd.map(|fd| (fd, fd))),
        ("--log-fds", log_fds),
    ];
    for (i, &(opt, range)) in taken.iter().enumerate().skip(2) {
        let Some((first, last)) = range else { continue };
        let overlap = taken[..i].iter().find_map(|&(other, r)| {
            let (a, b) = r?;
            (first <= b && a <= last).then_some((other, first.max(a)))
        });
        if let Some((other, fd)) = overlap {
            return Err(ArgsError::FdTaken { opt, other, fd });
        }
    }
    if log_fds.is_none() && log_max_size.is_some() {
        return Err(ArgsError::NeedsLogFds("--log-max-size"));
    }
    if restart.is_some() && command.is_none() {
        return Err(ArgsError::RestartWithoutCommand);
    }
    Ok(Invocation::Run(Box::new(Args {
        exit_fd,
        session_fd,
        grace_secs: grace_secs.unwrap_or(DEFAULT_GRACE_SECS),
        command,
        restart: restart.unwrap_or(RestartPolicy::No),
        services,
        service_restart: service_restart.unwrap_or(DEFAULT_SERVICE_RESTART),
        boot_dir,
        pass_env: pass_env.unwrap_or(false),
        main_tty: main_tty.unwrap_or(false),
        wait_attach: wait_attach.unwrap_or(false),
        dhcp,
        dhcp_timeout_secs: dhcp_timeout.unwrap_or(crate::dhcp::DEFAULT_TIMEOUT_SECS),
        console_fd,
        log_fds,
        log_max_size: log_max_size.unwrap_or(DEFAULT_MAX_SIZE),
        user,
        workdir,
    })))
}

fn value_of<I>(opt: &'static str, inline: Option<String>, rest: &mut I) -> Result<String, ArgsError>
where
    I: Iterator<Item = OsString>,
{
    if let Some(value) = inline {
        return Ok(value);
    }
    let value = rest.next().ok_or(ArgsError::MissingValue(opt))?;
    Ok(value.to_string_lossy().into_owned())
}

fn set_once<T>(slot: &mut Option<T>, value: T, opt: &'static str) -> Result<(), ArgsError> {
    if slot.is_some() {
        return Err(ArgsError::Repeated(opt));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_fd(opt: &'static str, value: &str) -> Result<RawFd, ArgsError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ArgsError::BadFd(opt, value.to_owned()));
    }
    let fd: RawFd = value
        .parse()
        .map_err(|_| ArgsError::BadFd(opt, value.to_owned()))?;
    // 0-2 are CMD's stdin/stdout/stderr: making them close-on-exec, or
    // writing the record into them, would break the contract of -e.
    if fd <= 2 {
        return Err(ArgsError::StandardFd(opt, fd));
    }
    Ok(fd)
}

/// `FIRST-LAST` (or `N`): descriptors of 3 or more, at most
/// [`MAX_MAX_FILES`] of them.
fn parse_fd_range(value: &str) -> Option<(RawFd, RawFd)> {
    let (first, last) = value.split_once('-').unwrap_or((value, value));
    let fd = |s: &str| {
        parse_number(s)
            .and_then(|n| RawFd::try_from(n).ok())
            .filter(|&fd| fd >= 3)
    };
    let (first, last) = (fd(first)?, fd(last)?);
    let count = i64::from(last) - i64::from(first) + 1;
    (1..=i64::from(MAX_MAX_FILES))
        .contains(&count)
        .then_some((first, last))
}

/// A whole decimal number.
fn parse_number(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn parse_grace(value: &str) -> Result<u32, ArgsError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ArgsError::BadGrace(value.to_owned()));
    }
    value
        .parse()
        .map_err(|_| ArgsError::BadGrace(value.to_owned()))
}

fn parse_policy(opt: &'static str, value: &str) -> Result<RestartPolicy, ArgsError> {
    value
        .parse()
        .map_err(|e: crate::supervise::PolicyError| ArgsError::BadPolicy(opt, e.0))
}

fn parse_command(value: OsString) -> Result<CString, ArgsError> {
    if value.is_empty() {
        return Err(ArgsError::EmptyCommand);
    }
    CString::new(value.into_vec()).map_err(|_| ArgsError::NulInCommand)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn p(args: &[&str]) -> Result<Invocation, ArgsError> {
        parse(args.iter().map(OsString::from))
    }

    fn run(args: &[&str]) -> Args {
        match p(args) {
            Ok(Invocation::Run(args)) => *args,
            other => panic!("expected a run, got {other:?}"),
        }
    }

    #[test]
    fn the_parser_takes_exactly_the_documented_options() {
        for o in OPTIONS {
            for name in o.short.iter().chain(o.long.iter()) {
                let mut argv = vec![*name];
                match (o.value.is_some(), *name) {
                    (false, _) => {}
                    (true, "-e") => argv.push("true"),
                    (true, "--restart") => argv.extend(["always", "-e", "true"]),
                    (true, "--service-restart") => argv.push("no"),
                    (true, "--service") => argv.push("web=httpd"),
                    (true, "--boot-dir") => argv.push("/etc/xdocker/boot.d"),
                    (true, "--log-fds") => argv.push("6-10"),
                    (true, "--log-max-size") => argv.extend(["65536", "--log-fds", "6"]),
                    (true, "--workdir") => argv.push("/srv"),
                    (true, _) => argv.push("5"),
                }
                assert!(p(&argv).is_ok(), "{name}: {:?}", p(&argv));
                assert!(usage().contains(name), "{name} in --help");
            }
        }
        for unknown in ["--exit", "-x", "--session", "--grace-period", "-V"] {
            assert!(
                matches!(p(&[unknown, "5"]), Err(ArgsError::Unknown(_))),
                "{unknown}"
            );
        }
    }

    #[test]
    fn no_arguments_is_host_mode_with_defaults() {
        assert_eq!(run(&[]), Args::default());
        assert_eq!(run(&[]).grace_secs, 10);
    }

    #[test]
    fn version_and_help() {
        assert_eq!(p(&["-v"]), Ok(Invocation::Version));
        assert_eq!(p(&["--version"]), Ok(Invocation::Version));
        assert_eq!(p(&["--grace", "3", "-v"]), Ok(Invocation::Version));
        assert_eq!(p(&["-h"]), Ok(Invocation::Help));
        assert_eq!(p(&["--help"]), Ok(Invocation::Help));
    }

    #[test]
    fn all_options_in_any_order() {
        let want = Args {
            exit_fd: Some(3),
            session_fd: Some(4),
            grace_secs: 5,
            command: Some(CString::new("exit 7").unwrap()),
            ..Args::default()
        };
        assert_eq!(
            run(&[
                "--exit-fd",
                "3",
                "--session-fd",
                "4",
                "--grace",
                "5",
                "-e",
                "exit 7"
            ]),
            want
        );
        assert_eq!(
            run(&["-e", "exit 7", "--session-fd=4", "--grace=5", "--exit-fd=3"]),
            want
        );
    }

    #[test]
    fn user_and_workdir() {
        let args = run(&["--user", "app:staff", "--workdir=/srv/app", "-e", "id"]);
        assert_eq!(args.user.as_deref(), Some("app:staff"));
        assert_eq!(args.workdir.as_deref(), Some("/srv/app"));
        let e = p(&["--user", "a b"]).expect_err("bad user");
        assert_eq!(
            e.to_string(),
            "--user: user 'a b' is not NAME, UID, NAME:GROUP or UID:GID"
        );
        let e = p(&["--workdir", "srv"]).expect_err("relative");
        assert_eq!(
            e.to_string(),
            "--workdir: working directory 'srv' is not an absolute path"
        );
        assert_eq!(
            p(&["--user", "1", "--user", "2"]),
            Err(ArgsError::Repeated("--user"))
        );
    }

    #[test]
    fn log_options() {
        let args = run(&[
            "--log-fds",
            "6-10",
            "--console-fd=5",
            "--log-max-size",
            "1048576",
        ]);
        assert_eq!(args.log_fds, Some((6, 10)));
        assert_eq!(args.console_fd, Some(5));
        assert_eq!(args.log_max_size, 1 << 20);
        assert_eq!(run(&["--log-fds=7"]).log_fds, Some((7, 7)));
        assert_eq!(run(&["--log-fds", "5"]).log_max_size, DEFAULT_MAX_SIZE);
        assert_eq!(run(&["--log-fds", "3-102"]).log_fds, Some((3, 102)));
        for bad in ["2-5", "6-5", "3-103", "x", "6-", "-6", "6-7-8", ""] {
            assert_eq!(
                p(&["--log-fds", bad]),
                Err(ArgsError::BadLogFds(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            p(&["--log-fds", "5", "--log-max-size", "65535"]),
            Err(ArgsError::BadLogSize("65535".into()))
        );
        assert_eq!(
            p(&["--log-fds", "5", "--log-max-size", "10M"]),
            Err(ArgsError::BadLogSize("10M".into()))
        );
        assert_eq!(
            p(&["--log-max-size", "65536"]),
            Err(ArgsError::NeedsLogFds("--log-max-size"))
        );
        assert_eq!(
            p(&["--exit-fd", "3", "--console-fd", "3"]),
            Err(ArgsError::FdTaken {
                opt: "--console-fd",
                other: "--exit-fd",
                fd: 3
            })
        );
        assert_eq!(
            p(&["--session-fd", "8", "--log-fds", "6-10"]),
            Err(ArgsError::FdTaken {
                opt: "--log-fds",
                other: "--session-fd",
                fd: 8
            })
        );
        assert_eq!(
            p(&["--console-fd", "5", "--log-fds", "5-6"]),
            Err(ArgsError::FdTaken {
                opt: "--log-fds",
                other: "--console-fd",
                fd: 5
            })
        );
        assert_eq!(
            p(&["--console-fd", "2"]),
            Err(ArgsError::StandardFd("--console-fd", 2))
        );
    }

    #[test]
    fn e_takes_the_next_argument_verbatim() {
        let args = run(&["-e", "-v"]);
        assert_eq!(args.command, Some(CString::new("-v").unwrap()));
        let args = run(&["-e", "--grace=3 x"]);
        assert_eq!(args.command, Some(CString::new("--grace=3 x").unwrap()));
    }

    #[test]
    fn command_may_be_any_bytes() {
        let raw = OsString::from(std::ffi::OsStr::from_bytes(b"echo \xff"));
        let got = parse([OsString::from("-e"), raw]).unwrap();
        match got {
            Invocation::Run(args) => {
                assert_eq!(args.command.unwrap().as_bytes(), b"echo \xff")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pass_env_is_a_flag_given_once() {
        assert!(run(&["--pass-env", "--grace", "1"]).pass_env);
        assert!(!run(&[]).pass_env);
        assert_eq!(
            p(&["--pass-env", "--pass-env"]),
            Err(ArgsError::Repeated("--pass-env"))
        );
        assert_eq!(
            p(&["--pass-env=1"]),
            Err(ArgsError::Unknown("--pass-env=1".into()))
        );
    }

    #[test]
    fn grace_zero_is_allowed() {
        assert_eq!(run(&["--grace", "0"]).grace_secs, 0);
    }

    #[test]
    fn refusals() {
        assert_eq!(p(&["--bogus"]), Err(ArgsError::Unknown("--bogus".into())));
        assert_eq!(p(&["foo"]), Err(ArgsError::Unknown("foo".into())));
        assert_eq!(p(&["-v=1"]), Err(ArgsError::Unknown("-v=1".into())));
        assert_eq!(p(&["--exit-fd"]), Err(ArgsError::MissingValue("--exit-fd")));
        assert_eq!(p(&["--grace"]), Err(ArgsError::MissingValue("--grace")));
        assert_eq!(p(&["-e"]), Err(ArgsError::MissingValue("-e")));
        assert_eq!(p(&["-e", ""]), Err(ArgsError::EmptyCommand));
        let bad = |value: &str| Err(ArgsError::BadFd("--exit-fd", value.into()));
        assert_eq!(p(&["--exit-fd", "x"]), bad("x"));
        assert_eq!(p(&["--exit-fd", "-4"]), bad("-4"));
        assert_eq!(p(&["--exit-fd", "+4"]), bad("+4"));
        assert_eq!(p(&["--exit-fd", "99999999999"]), bad("99999999999"));
        assert_eq!(
            p(&["--exit-fd", "2"]),
            Err(ArgsError::StandardFd("--exit-fd", 2))
        );
        assert_eq!(p(&["--exit-fd="]), bad(""));
        assert_eq!(
            p(&["--session-fd", "1"]),
            Err(ArgsError::StandardFd("--session-fd", 1))
        );
        assert_eq!(
            p(&["--session-fd", "y"]),
            Err(ArgsError::BadFd("--session-fd", "y".into()))
        );
        assert_eq!(
            p(&["--session-fd", "3", "--exit-fd", "3"]),
            Err(ArgsError::SameFd(3))
        );
        assert_eq!(
            p(&["--session-fd", "4", "--session-fd=5"]),
            Err(ArgsError::Repeated("--session-fd"))
        );
        assert_eq!(
            p(&["--grace", "1.5"]),
            Err(ArgsError::BadGrace("1.5".into()))
        );
        assert_eq!(p(&["--grace", "-1"]), Err(ArgsError::BadGrace("-1".into())));
        assert_eq!(
            p(&["--grace", "1", "--grace", "2"]),
            Err(ArgsError::Repeated("--grace"))
        );
        assert_eq!(p(&["-e", "a", "-e", "b"]), Err(ArgsError::Repeated("-e")));
        assert_eq!(
            p(&["--exit-fd", "3", "--exit-fd=4"]),
            Err(ArgsError::Repeated("--exit-fd"))
        );
    }

    #[test]
    fn supervision_options() {
        let args = run(&[
            "--service",
            "db=sleep 1",
            "--service=web=httpd -f -p 80",
            "--service-restart",
            "always",
            "--boot-dir",
            "/etc/xdocker/boot.d",
            "--restart=on-failure:3",
            "-e",
            "exit 1",
        ]);
        let names: Vec<&str> = args.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "web"]);
        assert_eq!(args.services[1].command.as_bytes(), b"httpd -f -p 80");
        assert_eq!(args.service_restart, RestartPolicy::Always);
        assert_eq!(args.restart, RestartPolicy::OnFailure(Some(3)));
        assert_eq!(args.boot_dir, Some(PathBuf::from("/etc/xdocker/boot.d")));
        let defaults = run(&[]);
        assert_eq!(defaults.restart, RestartPolicy::No);
        assert_eq!(defaults.service_restart, RestartPolicy::OnFailure(None));
        assert!(defaults.services.is_empty());
        for (argv, want) in [
            (
                &["--restart", "sometimes", "-e", "x"][..],
                "--restart: 'sometimes' is not a restart policy (no, on-failure[:N] or always)",
            ),
            (
                &["--restart", "always"][..],
                "--restart applies to the -e command: give -e too",
            ),
            (
                &["--service-restart", "on-failure:x"][..],
                "--service-restart: restart policy 'on-failure:x': 'x' is not a restart count of 1 or more",
            ),
            (&["--service", "web"][..], "--service: 'web' is not NAME=CMD"),
            (&["--service", "web="][..], "--service: 'web=' is not NAME=CMD"),
            (
                &["--service", "a=x", "--service", "a=y"][..],
                "--service: a given twice",
            ),
            (
                &["--boot-dir", "etc/boot.d"][..],
                "--boot-dir: 'etc/boot.d' is not an absolute path",
            ),
        ] {
            assert_eq!(p(argv).unwrap_err().to_string(), want, "{argv:?}");
        }
    }

    #[test]
    fn messages_are_one_lowercase_line() {
        let errors = [
            ArgsError::Unknown("--bogus".into()),
            ArgsError::Unknown("foo".into()),
            ArgsError::MissingValue("-e"),
            ArgsError::Repeated("--grace"),
            ArgsError::BadFd("--exit-fd", "x".into()),
            ArgsError::StandardFd("--session-fd", 1),
            ArgsError::SameFd(3),
            ArgsError::BadGrace("x".into()),
            ArgsError::FdTaken {
                opt: "--console-fd",
                other: "--exit-fd",
                fd: 3,
            },
            ArgsError::BadLogSize("1".into()),
            ArgsError::BadLogFds("0".into()),
            ArgsError::NeedsLogFds("--log-max-size"),
            ArgsError::EmptyCommand,
            ArgsError::NulInCommand,
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(!text.ends_with('.'), "{text}");
            let first = text.chars().next().unwrap();
            assert!(!first.is_uppercase(), "{text}");
        }
        assert_eq!(
            ArgsError::Unknown("--bogus".into()).to_string(),
            "unknown option '--bogus' (see --help)"
        );
    }
}
