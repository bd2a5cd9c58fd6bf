//! `-a commit --from-container C --to-image NAME[:V] [--version V]`: a new
//! image from the container's changes; the container stays.

use anyhow::Result;

use super::{args, human_size, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let req = args::commit(args)?;
    let done = lifecycle::commit(&ctx.runtime, &req)?;
    let mut how = Vec::new();
    if let Some(d) = done.paused {
        how.push(format!("paused {} ms for the copy", d.as_millis()));
    }
    how.push(match done.copy.reflinked {
        0 => format!("{} copied", human_size(done.copy.bytes)),
        n => format!(
            "{} copied, {} of it shared by reflink",
            human_size(done.copy.bytes),
            human_size(n)
        ),
    });
    Ok(Output::Done(format!(
        "image {} made from container {} ({}); the container stays",
        done.image,
        req.container,
        how.join("; ")
    )))
}
