//! `logs [-f] [--tail N] [--since T] [-t] CONTAINER`: the console log
//! (the main process's stdout and stderr, /dev/console), straight to
//! stdout and stderr as it is read.

use std::io::{BufWriter, Write};

use anyhow::Result;

use crate::commands::{Ctx, Output};
use crate::container::logs::{Format, Query, Sinks};
use crate::docker_cli::LogsArgs;
use crate::lifecycle::{self, LogsRequest};

pub fn run(ctx: &Ctx, a: &LogsArgs) -> Result<Output> {
    let req = LogsRequest {
        name: a.container.clone(),
        query: Query {
            tail: a.tail.and_then(|t| t.0),
            since: a.since,
            format: Format::Plain {
                timestamps: a.timestamps,
            },
        },
        follow: a.follow,
    };
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
    let mut err = BufWriter::new(stderr.lock());
    lifecycle::logs(
        &ctx.runtime,
        &req,
        &mut Sinks {
            out: &mut out,
            err: &mut err,
        },
    )?;
    // A closed pipe (`| head`) is no error worth reporting.
    let _ = out.flush();
    let _ = err.flush();
    Ok(Output::Exit(0))
}
