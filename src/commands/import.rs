//! `-a import --image-file F [-m NAME[:V]]`: imports an `.xdockerimage`, or
//! a plain `docker export` tarball named with `-m`
//! ([`lifecycle::import_image`]).

use anyhow::{bail, Result};

use super::{progress_bar as bar, single_image, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(path) = &args.image_file else {
        bail!("-a import needs --image-file");
    };
    let given = match args.images {
        Some(_) => Some(single_image(args, "import")?),
        None => None,
    };
    lifecycle::import_image(&ctx.runtime, path, given.as_ref(), ctx.force, &bar)?;
    Ok(Output::Ok)
}
