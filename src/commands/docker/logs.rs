//! `logs [-f] [--tail N] [--since T] [-t] CONTAINER`: the console log
//! (the main process's stdout and stderr, /dev/console), straight to
//! stdout and stderr as it is read.

use anyhow::Result;

use crate::commands::{log_output, Ctx, Output};
use crate::container::logs::{Format, Query};
use crate::docker_cli::LogsArgs;
use crate::lifecycle::LogsRequest;

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
    log_output::write(ctx, &req)
}
