//! `build -t NAME[:TAG] [-f FILE] [--build-arg K=V]... [--target STAGE]
//! [--no-cache] [--squash] [--network NET] DIR`: `-a build` in Docker's
//! words. As `docker build`, a tag given again is rebuilt in place (the
//! library refuses it while containers stack on it).

use anyhow::Result;

use super::super::{build_progress, Ctx, Output};
use crate::docker_cli::BuildArgs;
use crate::lifecycle::BuildRequest;
use crate::network::Net;

pub fn run(ctx: &Ctx, a: &BuildArgs) -> Result<Output> {
    let done = build_progress::build(
        ctx,
        BuildRequest {
            file: a.file.clone(),
            context: std::path::absolute(&a.context)?,
            image: a.tag.name.clone(),
            version: a.tag.version_or_none(),
            build_args: a.build_arg.clone(),
            target: a.target.clone(),
            no_cache: a.no_cache,
            squash: a.squash,
            net: a.network.clone().unwrap_or(Net::Host),
            replace: true,
        },
    )?;
    // The summary line, then Docker's last line.
    Ok(match done {
        Output::Done(summary) => {
            Output::Text(format!("{summary}\nSuccessfully tagged {}\n", a.tag))
        }
        other => other,
    })
}
