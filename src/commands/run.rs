//! `-a run -c C --cmd CMD`: CMD through `/bin/sh -c` in the running
//! container, on a terminal when stdin and stdout both are terminals, on
//! plain pipes otherwise (stdout and stderr apart, stdin forwarded). xdocker
//! exits with CMD's exit code and prints nothing of its own.

use anyhow::{bail, Result};

use super::{with_stdio, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle::{exit_code, run_command};

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let (Some(name), Some(cmd)) = (&args.container, &args.cmd) else {
        bail!("-a run needs -c/--container and --cmd");
    };
    let end = with_stdio(|io| run_command(&ctx.runtime, name, cmd, io))?;
    Ok(Output::Exit(exit_code(end)))
}
