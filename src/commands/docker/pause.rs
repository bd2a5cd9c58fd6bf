//! `pause CONTAINER...` and `unpause CONTAINER...`: the cgroup freezer.

use anyhow::Result;

use super::each;
use crate::commands::{Ctx, Output};
use crate::docker_cli::ContainersArg;
use crate::lifecycle;

pub fn pause(ctx: &Ctx, a: &ContainersArg) -> Result<Output> {
    each(&a.containers, |name| {
        lifecycle::pause(&ctx.runtime, name)?;
        Ok(())
    })
}

pub fn unpause(ctx: &Ctx, a: &ContainersArg) -> Result<Output> {
    each(&a.containers, |name| {
        lifecycle::resume(&ctx.runtime, name)?;
        Ok(())
    })
}
