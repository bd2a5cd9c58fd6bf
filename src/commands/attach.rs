//! `-a attach -c C`: root's login shell in the running container, on a
//! terminal of the client's size; `Ctrl-a q` detaches, and the container
//! keeps running either way.

use anyhow::{bail, Result};

use super::{session_ended, with_stdio, Ctx, Output};
use crate::cli::Args;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-a attach needs -c/--container");
    };
    let end = with_stdio(|io| crate::lifecycle::attach(&ctx.runtime, name, io))?;
    Ok(session_ended(name, end))
}
