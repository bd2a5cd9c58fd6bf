//! `create [OPTIONS] IMAGE [CMD...]`: a stopped container whose main
//! process (CMD, or the image's default) `start` runs; its name printed.

use anyhow::Result;

use super::create_request;
use crate::commands::{Ctx, Output};
use crate::docker_cli::ContainerOpts;
use crate::lifecycle;

pub fn run(ctx: &Ctx, o: &ContainerOpts) -> Result<Output> {
    let created = lifecycle::create(&ctx.runtime, create_request(ctx, o, None)?)?;
    Ok(Output::Text(format!("{}\n", created.name)))
}
