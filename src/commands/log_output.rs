//! A container's console log written straight to stdout and stderr as it
//! is read (a followed log has no end to wait for): the output of both
//! grammars' `logs`.

use std::io::{BufWriter, Write};

use anyhow::Result;

use super::{Ctx, Output};
use crate::container::logs::Sinks;
use crate::lifecycle::{self, LogsRequest};

pub fn write(ctx: &Ctx, req: &LogsRequest) -> Result<Output> {
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
    let mut err = BufWriter::new(stderr.lock());
    lifecycle::logs(
        &ctx.runtime,
        req,
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
