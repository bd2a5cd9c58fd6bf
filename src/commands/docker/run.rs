//! `run [-d] [-i] [-t] [--rm] [OPTIONS] IMAGE [CMD...]`: `create`, then a
//! boot. CMD (or the image's default) is the main process: waited for in
//! the foreground, its exit code ours, or in the background with `-d`.
//! Without one the container is VM-like (xdockerinit idle), `-t` attaching
//! a shell to it. The name is printed for what runs in the background.
//! Without `-i` nothing reaches the container's stdin.

use anyhow::Result;

use super::{create_request, stdin_from_null};
use crate::commands::{session_ended, with_stdio, Ctx, Output};
use crate::docker_cli::RunArgs;
use crate::lifecycle::{self, Booted, Start, StopRequest};
use crate::runtime::StopMode;
use crate::session::End;

pub fn run(ctx: &Ctx, a: &RunArgs) -> Result<Output> {
    let o = &a.opts;
    if !o.interactive {
        stdin_from_null()?;
    }
    with_stdio(|io| {
        let mut req = create_request(ctx, o, None)?;
        req.boot = Some(match (a.detach, &req.container.command) {
            (false, Some(cmd)) => Start::Exec(cmd.clone()),
            (false, None) if o.tty => Start::Attach(io),
            _ => Start::Detached,
        });
        let created = lifecycle::create(&ctx.runtime, req)?;
        let name = created.name;
        Ok(match created.booted {
            Some(Booted::Exited { code }) => Output::Exit(code),
            Some(Booted::Attached(end)) => {
                // `--rm`: the container ends with its shell (not when the
                // user detached).
                if o.rm && end != End::Detached {
                    let req = StopRequest {
                        name: name.clone(),
                        mode: StopMode::Shutdown,
                        wait: None,
                        force: true,
                    };
                    lifecycle::stop(&ctx.runtime, &req)?;
                }
                session_ended(&name, end)
            }
            _ => Output::Text(format!("{name}\n")),
        })
    })
}
