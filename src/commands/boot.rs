//! `-a boot -c C [cgroup opts] [--restart POLICY] [env opts] [-t | -e CMD]`:
//! cgroup options, the restart policy and variables given here are stored
//! in the config and apply to this and every later boot; `-t` attaches
//! right after the boot.

use anyhow::{bail, Result};

use super::{args, booted, with_stdio, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle::{self, BootRequest};

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-a boot needs -c/--container");
    };
    with_stdio(|io| {
        let req = BootRequest {
            name: name.clone(),
            limits: args::limits(args),
            restart: args.restart,
            env: args::env(args)?,
            workdir: args.workdir.clone(),
            user: args.user.clone(),
            start: args::start(args, io),
        };
        Ok(booted(name, lifecycle::boot(&ctx.runtime, req)?))
    })
}
