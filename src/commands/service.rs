//! `-a service -c C [--service NAME=CMD ... | --service none] [--restart
//! POLICY]`: replace a stopped container's boot services, or its restart
//! policy.

use anyhow::{bail, Result};

use super::{args, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle::{self, Change};

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-a service needs -c/--container");
    };
    let change = Change::Services {
        services: args::services(args),
        restart: args.restart,
    };
    lifecycle::change(&ctx.runtime, name, change)?;
    Ok(Output::Ok)
}
