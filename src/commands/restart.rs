//! `-a restart -c C [cgroup opts]`: cgroup options given here are stored
//! in the config, as `boot` stores them.

use anyhow::{bail, Result};

use super::{args, booted, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle::{self, RestartRequest};

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-a restart needs -c/--container");
    };
    let req = RestartRequest {
        name: name.clone(),
        limits: args::limits(args),
    };
    Ok(booted(name, lifecycle::restart(&ctx.runtime, req)?.booted))
}
