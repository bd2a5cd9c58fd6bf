//! `rm [-f] [-v] CONTAINER...`: removes stopped containers (`-f`: kills a
//! running one first); names printed. Volumes are host directories and
//! stay (`-v` is accepted for scripts).

use anyhow::Result;

use super::each;
use crate::commands::{Ctx, Output};
use crate::docker_cli::RmArgs;
use crate::lifecycle::{self, DestroyRequest, StopRequest};
use crate::runtime::StopMode;

pub fn run(ctx: &Ctx, a: &RmArgs) -> Result<Output> {
    let rt = &ctx.runtime;
    each(&a.containers, |name| {
        if a.force {
            let req = StopRequest {
                name: name.clone(),
                mode: StopMode::Kill,
                wait: None,
                force: true,
            };
            // A `--rm` container goes with its stop.
            if lifecycle::stop(rt, &req)? == lifecycle::Stopped::Removed {
                return Ok(());
            }
        }
        let req = DestroyRequest {
            name: name.clone(),
            shutdown: false,
            force: false,
        };
        lifecycle::destroy(rt, &req)?;
        Ok(())
    })
}
