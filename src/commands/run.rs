//! `-a run -c C --cmd CMD`: CMD through `/bin/sh -c` in the running
//! container, on a terminal when stdin and stdout both are terminals, on
//! plain pipes otherwise (stdout and stderr apart, stdin forwarded). xdocker
//! exits with CMD's exit code and prints nothing of its own.

use std::os::fd::AsFd;

use anyhow::{bail, Result};

use super::attach::{connect, exit_code};
use super::{Ctx, Output};
use crate::cli::Args;
use crate::session::{self, terminal, Open, Options, Stdio};

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let (Some(name), Some(cmd)) = (&args.container, &args.cmd) else {
        bail!("-a run needs -c/--container and --cmd");
    };
    let client = match connect(ctx, name) {
        Ok(c) => c,
        Err(e) => match at_process_limit(ctx, name) {
            Some(reason) => bail!("{reason}"),
            None => return Err(e),
        },
    };
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let io = Stdio {
        stdin: stdin.as_fd(),
        stdout: stdout.as_fd(),
        stderr: stderr.as_fd(),
    };
    let argv = session::shell_command(cmd);
    let open = match terminal::is_tty(io.stdin) && terminal::is_tty(io.stdout) {
        true => {
            let (rows, cols) = terminal::window_size(io.stdin).unwrap_or(session::DEFAULT_SIZE);
            Open::Pty {
                rows,
                cols,
                term: session::client_term(),
                argv,
            }
        }
        false => Open::Pipes { argv },
    };
    let end = match client.run(&open, io, Options::default()) {
        Ok(end) => end,
        Err(e) => match at_process_limit(ctx, name) {
            Some(reason) => bail!("{reason}"),
            None => return Err(e.into()),
        },
    };
    Ok(Output::Exit(exit_code(end)))
}

/// Why a session broke, when the reason is the container's process limit:
/// xdockerinit could not fork the session's helper, and the connection
/// was closed without a word. None when the container is below its limit.
pub fn at_process_limit(ctx: &Ctx, name: &crate::names::Name) -> Option<String> {
    let max = ctx
        .runtime
        .containers
        .config(name)
        .ok()?
        .limits
        .pids_limit?;
    let now = ctx.runtime.usage(name)?.pids?;
    (now >= max).then(|| {
        format!(
            "container {name} is at its process limit ({now} of --pids-limit {max}): a session \
             needs one more process; raise it with -a boot --pids-limit N after a shutdown"
        )
    })
}
