//! `restart CONTAINER...`: the orderly stop and a boot with the stored
//! options (a stopped container just boots); names printed.

use anyhow::Result;

use super::each;
use crate::commands::{Ctx, Output};
use crate::container::config::LimitsConfig;
use crate::docker_cli::ContainersArg;
use crate::lifecycle::{self, RestartRequest};

pub fn run(ctx: &Ctx, a: &ContainersArg) -> Result<Output> {
    each(&a.containers, |name| {
        let req = RestartRequest {
            name: name.clone(),
            limits: LimitsConfig::default(),
        };
        lifecycle::restart(&ctx.runtime, req)?;
        Ok(())
    })
}
