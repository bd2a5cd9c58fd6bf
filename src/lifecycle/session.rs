//! Sessions in a running container: `attach` (root's login shell on a
//! terminal of the caller's size, `Ctrl-a q` detaches) and `run` (one
//! command through `/bin/sh -c`, on a terminal when the caller has one,
//! on pipes otherwise). The container keeps running either way.

use super::LifecycleError;
use crate::container::state::Status;
use crate::container::ContainerError;
use crate::names::Name;
use crate::runtime::{Runtime, RuntimeError};
use crate::session::{self, terminal, Client, End, Open, Options, SessionError, Stdio};
pub use xdockerinit::protocol::SessionOptions;

/// Attaches the caller's `io` to root's login shell in running container
/// `name`, until the shell exits or the caller detaches.
pub fn attach(rt: &Runtime, name: &Name, io: Stdio<'_>) -> Result<End, LifecycleError> {
    let client = connect(rt, name).map_err(|e| at_process_limit(rt, name).unwrap_or(e))?;
    let (rows, cols) = [io.stdin, io.stdout]
        .into_iter()
        .find_map(terminal::window_size)
        .unwrap_or(session::DEFAULT_SIZE);
    let open = Open::Pty {
        rows,
        cols,
        term: session::client_term(),
        argv: Vec::new(),
        options: SessionOptions::default(),
    };
    crate::logging::info(&format!("container {name}: attach"));
    client
        .run(&open, io, Options { escape: true })
        .map_err(|e| at_process_limit(rt, name).unwrap_or(e.into()))
}

/// Attaches the caller's `io` to the terminal of the main process of
/// running container `name` (a container made with `-t` and a command),
/// until the main process exits (its exit code; the container stopped
/// then, unless its restart policy starts the main process again) or the
/// caller detaches (`Ctrl-a q`; the main process runs on). `booted`: the
/// container was booted just now for this, so a main process that ended
/// before the caller could attach gives its recorded exit code.
pub fn attach_main(
    rt: &Runtime,
    name: &Name,
    io: Stdio<'_>,
    booted: bool,
) -> Result<End, LifecycleError> {
    let client = match connect(rt, name) {
        Ok(client) => client,
        Err(e) => {
            return if booted {
                main_ended(rt, name).ok_or(e)
            } else {
                Err(e)
            }
        }
    };
    let (rows, cols) = [io.stdin, io.stdout]
        .into_iter()
        .find_map(terminal::window_size)
        .unwrap_or(session::DEFAULT_SIZE);
    crate::logging::info(&format!("container {name}: attach to the main process"));
    match client.run(&Open::Main { rows, cols }, io, Options { escape: true }) {
        Ok(End::Exited(code)) => {
            if !restarts(rt, name, code) {
                wait_stopped(rt, name);
            }
            Ok(End::Exited(code))
        }
        // Init was stopped before it could say the exit code.
        Err(SessionError::Closed) => main_ended(rt, name).ok_or(SessionError::Closed.into()),
        other => Ok(other?),
    }
}

/// Whether the restart policy of container `name` starts its main
/// process again after an exit with `code`.
fn restarts(rt: &Runtime, name: &Name, code: i32) -> bool {
    use crate::container::RestartPolicy;
    match rt.containers.config(name).map(|c| c.main_restart()) {
        Ok(RestartPolicy::Always) => true,
        Ok(RestartPolicy::OnFailure(_)) => code != 0,
        _ => false,
    }
}

/// Waits (up to init's grace period and a margin) for container `name`,
/// whose main process ended, to stop.
fn wait_stopped(rt: &Runtime, name: &Name) {
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_secs(crate::runtime::GRACE_SECONDS + 3);
    while rt
        .status_releasing_leftovers(name)
        .is_ok_and(|s| s.pid().is_some())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The exit code of a main process that ended without telling an
/// attached client: the container's exit record, once it stopped.
fn main_ended(rt: &Runtime, name: &Name) -> Option<End> {
    wait_stopped(rt, name);
    if rt.status_releasing_leftovers(name).ok()?.pid().is_some() {
        return None;
    }
    rt.exit_code(name).map(End::Exited)
}

/// Runs `cmd` through `/bin/sh -c` in running container `name`, on a
/// terminal when `io`'s stdin and stdout both are terminals.
pub fn run_command(
    rt: &Runtime,
    name: &Name,
    cmd: &str,
    io: Stdio<'_>,
) -> Result<End, LifecycleError> {
    let tty = terminal::is_tty(io.stdin) && terminal::is_tty(io.stdout);
    let request = ExecRequest {
        argv: session::shell_command(cmd),
        tty,
        options: SessionOptions::default(),
    };
    exec(rt, name, request, io)
}

/// One command in a running container (`exec`): its argv as given (a
/// program found in the container's PATH), on a terminal or pipes, with
/// its own directory, user and variables over the container's.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub argv: Vec<Vec<u8>>,
    /// A terminal of the caller's size (else three pipes).
    pub tty: bool,
    pub options: SessionOptions,
}

/// Runs `req` in running container `name`, the caller's `io` relayed.
pub fn exec(
    rt: &Runtime,
    name: &Name,
    req: ExecRequest,
    io: Stdio<'_>,
) -> Result<End, LifecycleError> {
    let client = connect(rt, name).map_err(|e| at_process_limit(rt, name).unwrap_or(e))?;
    let ExecRequest { argv, tty, options } = req;
    let open = match tty {
        true => {
            let (rows, cols) = [io.stdin, io.stdout]
                .into_iter()
                .find_map(terminal::window_size)
                .unwrap_or(session::DEFAULT_SIZE);
            Open::Pty {
                rows,
                cols,
                term: session::client_term(),
                argv,
                options,
            }
        }
        false => Open::Pipes { argv, options },
    };
    client
        .run(&open, io, Options::default())
        .map_err(|e| at_process_limit(rt, name).unwrap_or(e.into()))
}

/// The exit code of xdocker for how a session ended.
pub fn exit_code(end: End) -> i32 {
    match end {
        End::Exited(code) => code,
        End::Detached => 0,
        End::Signalled(signo) => 128 + signo,
        End::BrokenPipe => 128 + libc::SIGPIPE,
    }
}

/// Connects to the session socket of a running container.
fn connect(rt: &Runtime, name: &Name) -> Result<Client, LifecycleError> {
    if !rt.containers.exists(name) {
        return Err(ContainerError::NotFound(name.to_string()).into());
    }
    let status = rt.status_releasing_leftovers(name)?;
    if !status.can_session() {
        return Err(match status {
            // Its init would take the connection and never answer.
            Status::Paused { pid } => LifecycleError::Paused {
                name: name.to_string(),
                pid,
            },
            _ => RuntimeError::NotRunning(name.to_string()).into(),
        });
    }
    let path = rt.containers.path(name, session::SOCKET_FILE);
    if !path.exists() {
        return Err(LifecycleError::NoSessionSocket {
            name: name.to_string(),
            path,
        });
    }
    match Client::connect(&path) {
        Ok(client) => Ok(client),
        // Init closes the socket when its orderly stop begins.
        Err(SessionError::Connect { source, .. })
            if source.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            Err(LifecycleError::Stopping(name.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Why a session broke, when the reason is the container's process limit:
/// xdockerinit could not fork the session's helper, and the connection
/// was closed without a word. None when the container is below its limit.
fn at_process_limit(rt: &Runtime, name: &Name) -> Option<LifecycleError> {
    let max = rt.containers.config(name).ok()?.limits.pids_limit?;
    let now = rt.usage(name)?.pids?;
    (now >= max).then(|| LifecycleError::ProcessLimit {
        name: name.to_string(),
        now,
        max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code(End::Exited(7)), 7);
        assert_eq!(exit_code(End::Detached), 0);
        assert_eq!(exit_code(End::Signalled(15)), 143);
        assert_eq!(exit_code(End::BrokenPipe), 141);
    }
}
