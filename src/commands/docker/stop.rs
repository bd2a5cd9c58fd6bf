//! `stop [-t SECS] CONTAINER...` (the orderly stop, KILL after SECS; a
//! stopped one is no error) and `kill [-s SIGNAL] CONTAINER...` (KILL by
//! default; HUP, USR1 and USR2 reach the main process, TERM and INT stop
//! the container in order). Names printed; `--rm` ones go.

use std::time::Duration;

use anyhow::Result;

use super::each;
use crate::commands::{Ctx, Output};
use crate::docker_cli::{KillArgs, StopArgs};
use crate::lifecycle::{self, StopRequest};
use crate::runtime::StopMode;

pub fn stop(ctx: &Ctx, a: &StopArgs) -> Result<Output> {
    each(&a.containers, |name| {
        let req = StopRequest {
            name: name.clone(),
            mode: StopMode::Shutdown,
            wait: a.time.map(|s| Duration::from_secs(s.into())),
            force: true,
        };
        lifecycle::stop(&ctx.runtime, &req)?;
        Ok(())
    })
}

pub fn kill(ctx: &Ctx, a: &KillArgs) -> Result<Output> {
    each(&a.containers, |name| {
        lifecycle::signal(&ctx.runtime, name, a.signal.unwrap_or(libc::SIGKILL))?;
        Ok(())
    })
}
