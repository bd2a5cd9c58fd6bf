//! `exec [-i] [-t] [-e K=V] [-w DIR] [-u USER] CONTAINER CMD...`: CMD (a
//! program found in the container's PATH) in a running container, on a
//! terminal with `-t`, stdin with `-i`, with its own variables, directory
//! and user; its exit code is ours (126: it cannot run, 127: not found).

use std::os::fd::AsFd;

use anyhow::{Context, Result};

use crate::commands::{Ctx, Output};
use crate::docker_cli::ExecArgs;
use crate::lifecycle::{self, exit_code, ExecRequest, LifecycleError, SessionOptions};
use crate::session::{SessionError, Stdio};

pub fn run(ctx: &Ctx, a: &ExecArgs) -> Result<Output> {
    let env = crate::commands::args::env_of(&[], &a.env)?;
    let req = ExecRequest {
        argv: a.command.iter().map(|w| w.as_bytes().to_vec()).collect(),
        tty: a.tty,
        options: SessionOptions {
            workdir: a.workdir.clone().unwrap_or_default().into_bytes(),
            user: a.user.clone().unwrap_or_default().into_bytes(),
            env: env.iter().map(|v| v.to_string().into_bytes()).collect(),
        },
    };
    // Without -i the command reads nothing (Docker's).
    let null = std::fs::File::open("/dev/null").context("open /dev/null")?;
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let io = Stdio {
        stdin: match a.interactive {
            true => stdin.as_fd(),
            false => null.as_fd(),
        },
        stdout: stdout.as_fd(),
        stderr: stderr.as_fd(),
    };
    let ended = lifecycle::exec(&ctx.runtime, &a.container, req, io);
    match ended {
        Ok(end) => Ok(Output::Exit(exit_code(end))),
        // The command could not be started: Docker's 127 and 126.
        Err(LifecycleError::Session(SessionError::Remote(text))) => {
            let code = match text.ends_with("no such file or directory") {
                true => 127,
                false => 126,
            };
            Ok(Output::Fail(
                code,
                format!("container {}: {text}", a.container),
            ))
        }
        Err(e) => Err(e.into()),
    }
}
