//! `-a attach -c C` (and `-t` of boot/create): root's login shell in the
//! running container, on a terminal of the client's size; `Ctrl-a q`
//! detaches, and the container keeps running either way.

use std::os::fd::AsFd;

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::container::state::Status;
use crate::container::ContainerError;
use crate::names::Name;
use crate::runtime::RuntimeError;
use crate::session::{self, terminal, Client, End, Open, Options, SessionError, Stdio};

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-a attach needs -c/--container");
    };
    attach(ctx, name)
}

/// Attaches to a running container and turns the end into what the user
/// sees: the shell's exit code, or `[detached from C]`.
pub fn attach(ctx: &Ctx, name: &Name) -> Result<Output> {
    let client = connect(ctx, name)?;
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let io = Stdio {
        stdin: stdin.as_fd(),
        stdout: stdout.as_fd(),
        stderr: stderr.as_fd(),
    };
    let (rows, cols) = [io.stdin, io.stdout]
        .into_iter()
        .find_map(terminal::window_size)
        .unwrap_or(session::DEFAULT_SIZE);
    let open = Open::Pty {
        rows,
        cols,
        term: session::client_term(),
        argv: Vec::new(),
    };
    crate::logging::info(&format!("container {name}: attach"));
    let end = client.run(&open, io, Options { escape: true })?;
    Ok(match end {
        // On a line of its own, wherever the shell left the cursor.
        End::Detached => Output::Text(format!("\n[detached from {name}]\n")),
        other => Output::Exit(exit_code(other)),
    })
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
pub fn connect(ctx: &Ctx, name: &Name) -> Result<Client> {
    if !ctx.runtime.containers.exists(name) {
        return Err(ContainerError::NotFound(name.to_string()).into());
    }
    if ctx.runtime.status_releasing_leftovers(name)? == Status::Stopped {
        return Err(RuntimeError::NotRunning(name.to_string()).into());
    }
    let path = ctx.runtime.containers.path(name, session::SOCKET_FILE);
    if !path.exists() {
        bail!(
            "container {name} has no session socket {} (booted by an older xdocker? reboot it)",
            path.display()
        );
    }
    match Client::connect(&path) {
        Ok(client) => Ok(client),
        // Init closes the socket when its orderly stop begins.
        Err(SessionError::Connect { source, .. })
            if source.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            bail!("container {name} is stopping: its session socket refuses connections")
        }
        Err(e) => Err(e.into()),
    }
}
