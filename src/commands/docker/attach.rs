//! `attach CONTAINER`: the caller's terminal on the running container's
//! main process's terminal when it has one (made with `-t` and a
//! command; its exit code ours when it ends), else on a new shell of
//! the container. Ctrl-a q detaches; the container runs on.

use anyhow::Result;

use crate::commands::{session_ended, with_stdio, Ctx, Output};
use crate::docker_cli::ContainerArg;
use crate::lifecycle;

pub fn run(ctx: &Ctx, a: &ContainerArg) -> Result<Output> {
    let rt = &ctx.runtime;
    let name = &a.container;
    let main = rt.containers.config(name).is_ok_and(|c| c.tty);
    let end = with_stdio(|io| match main {
        true => lifecycle::attach_main(rt, name, io, false),
        false => lifecycle::attach(rt, name, io),
    })?;
    Ok(session_ended(name, end))
}
