//! `-s logs -c C [--follow] [--tail N] [--since TIME] [--timestamps]
//! [--json]`: the container's console log, written straight to stdout and
//! stderr as it is read (a followed log has no end to wait for).

use std::io::{BufWriter, Write};

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::container::logs::{Format, Query, Sinks};
use crate::lifecycle::{self, LogsRequest};

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("-s logs needs -c/--container");
    };
    let req = LogsRequest {
        name: name.clone(),
        query: Query {
            tail: args.tail.and_then(|t| t.0),
            since: args.since,
            format: match args.json {
                true => Format::Json,
                false => Format::Plain {
                    timestamps: args.timestamps,
                },
            },
        },
        follow: args.follow,
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
