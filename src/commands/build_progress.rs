//! A build run with its progress written to stdout as it goes, in the form
//! Docker's classic builder prints (`Step 3/9 : RUN ...`, ` ---> Using
//! cache`), RUN output in between as the step's command writes it: shared
//! by `-a build` and the Docker-style `build`.

use std::io::Write;
use std::os::fd::AsRawFd;

use anyhow::Result;

use super::{Ctx, Output};
use crate::lifecycle::{self, BuildEvent, BuildRequest};

/// Runs a build, its progress on stdout as Docker's classic builder prints
/// it (both grammars' `build`).
pub fn build(ctx: &Ctx, req: BuildRequest) -> Result<Output> {
    // RUN steps get no stdin (as `docker build`): a Ctrl-C then reaches
    // the build container's init as a signal, and no terminal goes raw.
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
    }
    let mut out = std::io::stdout();
    let mut print = |event: BuildEvent<'_>| match event.docker_line() {
        Some(line) => {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        None => {
            if let BuildEvent::Warning(w) = event {
                crate::logging::warn_user(&w);
            }
        }
    };
    let built = lifecycle::build(&ctx.runtime, &req, &mut print)?;
    Ok(Output::Done(format!(
        "image {} built in {:.2}s ({} steps: {} layers made, {} from the cache{})",
        built.image,
        built.took.as_secs_f64(),
        built.steps,
        built.made,
        built.cached,
        if req.squash { "; squashed" } else { "" }
    )))
}
