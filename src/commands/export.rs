//! `-a export -m NAME[:V] [--image-file F]`: writes `NAME[:V].xdockerimage`
//! (`-c C`: the container's whole file system as `C.xdockerimage`), linked
//! at its name only when complete ([`lifecycle::export_image`],
//! [`lifecycle::export_container_file`]).

use anyhow::Result;

use super::{progress_bar as bar, single_image, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let target = args.image_file.clone();
    let Some(name) = &args.container else {
        let image = single_image(args, "export")?;
        lifecycle::export_image(&ctx.runtime, &image, target, ctx.force, &bar)?;
        return Ok(Output::Ok);
    };
    let done = lifecycle::export_container_file(&ctx.runtime, name, target, ctx.force, &bar)?;
    Ok(Output::Done(match done.paused {
        Some(d) => format!(
            "container {name} exported to {} (paused {} ms for a copy of its layer)",
            done.target.display(),
            d.as_millis()
        ),
        None => format!("container {name} exported to {}", done.target.display()),
    }))
}
