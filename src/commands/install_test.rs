//! `-a install_test [--version V]`: builds the small image `test` with
//! `scripts/xdocker_install_test.sh` (busybox, or host binaries).

use anyhow::Result;

use super::{Ctx, Output};
use crate::cli::Args;
use crate::lifecycle;
use crate::names::Version;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let version = args.version.clone().unwrap_or_else(Version::none);
    lifecycle::install_test(&ctx.runtime, &version, ctx.force)?;
    Ok(Output::Ok)
}
