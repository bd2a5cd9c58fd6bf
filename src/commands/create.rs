//! `-a create -m IMAGES [-c C] [create opts] [-b [cgroup opts] [-t | -e CMD]]`.

use anyhow::{bail, Result};

use super::{args, booted, with_stdio, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle::{self, CreateRequest};

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(list) = &args.images else {
        bail!("-a create needs -m/--image");
    };
    with_stdio(|io| {
        let req = CreateRequest {
            name: args.container.clone(),
            images: list.0.clone(),
            container: args::new_container(args)?,
            boot: args.boot.then(|| args::start(args, io)),
        };
        let created = lifecycle::create(&ctx.runtime, req)?;
        Ok(match created.booted {
            Some(b) => booted(&created.name, b),
            None => Output::Ok,
        })
    })
}
