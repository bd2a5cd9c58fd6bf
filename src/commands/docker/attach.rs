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
    // This boot's main process has a terminal of its own (a `-t`
    // container booted by the original grammar's `-a boot -e` has not).
    let main = rt
        .containers
        .run_state(name)
        .is_ok_and(|s| s.is_some_and(|s| s.main_tty));
    let end = with_stdio(|io| match main {
        true => lifecycle::attach_main(rt, name, io, false),
        false => lifecycle::attach(rt, name, io),
    })?;
    Ok(session_ended(name, end))
}
