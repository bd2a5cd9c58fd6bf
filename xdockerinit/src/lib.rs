//! xdockerinit: the init process of every xdocker container, and the session
//! protocol it speaks, shared with the `xdocker` CLI as a library.
//!
//! # Command-line contract (host side -> xdockerinit)
//!
//! ```text
//! xdockerinit [--exit-fd N] [--session-fd N] [--grace SECONDS] [-e CMD]
//!             [--restart POLICY] [--service NAME=CMD]... [--service-restart POLICY]
//!             [--boot-dir DIR] [--console-fd N] [--log-fds FIRST-LAST]
//!             [--log-max-size BYTES] [--dhcp HOSTNAME [--dhcp-timeout SECONDS]]
//! xdockerinit -v | --version        prints "xdockerinit v<version>"
//! xdockerinit -h | --help           prints the usage
//! ```
//!
//! `xdocker -a boot` creates the namespaces and the root filesystem, then
//! execs (fexecve) xdockerinit as PID 1 of the new PID namespace. xdockerinit
//! refuses to run its loop unless it *is* PID 1: its orderly stop is
//! `kill(-1, ...)`, which outside a fresh PID namespace would hit the host.
//!
//! * `--exit-fd N` (N >= 3): a regular file opened for writing by the host
//!   before pivot_root, unreachable from inside the container otherwise
//!   (xdockerinit is not dumpable, so /proc/1/fd needs CAP_SYS_PTRACE, which
//!   containers lack unless given `--cap-add sys_ptrace`).
//!   xdockerinit makes it close-on-exec at once (no process of the container
//!   inherits it) and clears `O_APPEND` on it. Every *other* inherited
//!   descriptor from 3 up is closed at start: fds 0-2, the exit fd, the
//!   session socket, the console and the log's files (below) are the
//!   whole interface. When the container stops, xdockerinit writes the exit
//!   record, one line `exit_code=<N>\n`, with `pwrite` at offset 0,
//!   `ftruncate` (see [`exit_record`]). Without `--exit-fd`
//!   nothing is written. No record (an empty file) means xdockerinit did not
//!   stop on its own: it failed to start, hit a fatal error, or was killed.
//! * `--session-fd N` (N >= 3, not the exit fd): a unix stream socket the
//!   host created, bound (at `XDOCKER_HOME/containers/C/session.sock`, in a
//!   0700 directory of the host that the container's mount namespace does
//!   not contain, so no process inside can replace or reach that path) and
//!   set listening before the container existed. xdockerinit makes it
//!   close-on-exec and non-blocking, accepts connections in its loop and
//!   serves each one in a helper process of its own ([`session`]), speaking
//!   the [`protocol`]. The stop closes it (new clients are refused). Reaching
//!   the listening socket through `/proc/1/fd` from inside the container
//!   (root with ptrace rights over PID 1) is the hardening issue's concern.
//! * `--grace SECONDS` (whole seconds, default [`args::DEFAULT_GRACE_SECS`]):
//!   how long the orderly stop waits after SIGTERM before SIGKILL.
//! * `--log-fds FIRST-LAST`, `--log-max-size BYTES`: the console log's ring
//!   of files, opened by the host (`containers/C/log/console.N`, the one
//!   written last first; never a directory of the host), each written up to
//!   BYTES before init goes on with the next one, truncated ([`log`]).
//! * `--console-fd N`: the master of the pty xdocker mounted on
//!   `/dev/console`; what is written there is logged as stream `console`.
//! * `-e CMD` (single-process mode): CMD runs as the main child through
//!   `/bin/sh -c CMD`, in a new session, with a clean environment
//!   ([`process::CHILD_PATH`], `HOME=/root`, `TERM` if xdockerinit has one,
//!   `container=xdocker`) and fds 0-2 that xdockerinit reads, logs and
//!   copies to its own ([`stdio`]: pipes, or a pty for a terminal). When CMD exits, the rest
//!   of the container gets the orderly stop, and the exit code (xdockerinit's
//!   own and the record's) is CMD's status: its exit code, or 128+signal
//!   (127 with an error line if /bin/sh cannot be executed).
//! * `--restart POLICY` (with `-e`; `no`, the default, `on-failure[:N]`,
//!   `always`): CMD is started again when it ends, after a backoff (see
//!   [`supervise`]); the container stops when CMD ends for good, and its
//!   exit code is CMD's last one. The record gets a line `restarts=N`.
//! * `--service NAME=CMD` (repeatable) and `--boot-dir DIR` (its
//!   executables, in name order): boot services, started before CMD,
//!   restarted by `--service-restart POLICY` (default `on-failure`), their
//!   output on `/dev/console`, stopped one by one in reverse start order
//!   at the orderly stop (see [`supervise`]). The session protocol's
//!   `QueryStatus` reports every supervised process; the exit record gets
//!   a line `service=RESTARTS LAST_EXIT NAME` for each service.
//! * `--pass-env`: every process started (CMD, session commands) gets
//!   xdockerinit's own environment instead of the clean one, TERM aside (a
//!   terminal session's own, none for pipes, xdockerinit's for CMD), and
//!   programs are looked up in its PATH. xdocker passes it, with the
//!   container's `--env` variables over the clean ones.
//! * `--dhcp HOSTNAME` (a DHCP macvlan container): before anything starts,
//!   eth0's lease is taken (within `--dhcp-timeout`, default 10 s, or exit
//!   code 1), applied and written to `/etc/xdocker/dhcp.lease`, where the
//!   host waits for it; a thread renews it for the container's life and the
//!   orderly stop releases it (see [`dhcp`]).
//! * Without `-e` (host mode) xdockerinit runs until SIGTERM or SIGINT; its
//!   exit code is 0 after an orderly stop, or 128+signal when a second
//!   SIGTERM/SIGINT during the grace period forced the stop.
//!
//! Signals: SIGTERM and SIGINT start the orderly stop (TERM then CONT to
//! every process, the grace period, then KILL to what is left, reap until no
//! child remains); a second one during the grace period skips the rest of
//! it. In `-e` mode SIGHUP, SIGUSR1 and SIGUSR2 are forwarded to CMD;
//! otherwise they, and SIGPWR, are ignored. Bad arguments or a failed start:
//! exit code 1 and one line `xdockerinit: error: ...` on stderr.

pub mod args;
pub mod attach;
pub mod dhcp;
pub mod exit_record;
pub mod init;
pub mod log;
pub mod process;
pub mod protocol;
pub mod session;
pub mod signals;
pub mod stdio;
pub mod supervise;
pub mod sys;
pub mod user;

pub use sys::ErrnoText;

/// Version of xdockerinit, the same as the workspace version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
