//! `-s logs -c C [--follow] [--tail N] [--since TIME] [--timestamps]
//! [--json]`: the container's console log, written straight to stdout and
//! stderr as it is read (a followed log has no end to wait for).

use anyhow::{bail, Result};

use super::{log_output, Ctx, Output};
use crate::cli::Args;
use crate::container::logs::{Format, Query};
use crate::lifecycle::LogsRequest;

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
    log_output::write(ctx, &req)
}
