//! `attach CONTAINER`: a terminal on a shell of the running container
//! (Ctrl-a q detaches; the container runs on).

use anyhow::Result;

use crate::commands::{session_ended, with_stdio, Ctx, Output};
use crate::docker_cli::ContainerArg;
use crate::lifecycle;

pub fn run(ctx: &Ctx, a: &ContainerArg) -> Result<Output> {
    let end = with_stdio(|io| lifecycle::attach(&ctx.runtime, &a.container, io))?;
    Ok(session_ended(&a.container, end))
}
