//! `cp CONTAINER:SRC DST` and `cp SRC CONTAINER:DST`: files and trees
//! between a running container and the host (`putfile` and `getfile`'s
//! copy: modes, owners and times kept, devices refused).

use std::path::Path;

use anyhow::{bail, Result};

use crate::commands::{Ctx, Output};
use crate::docker_cli::CpArgs;
use crate::lifecycle;
use crate::names::Name;

/// `CONTAINER:PATH`, or None for a host path (one with a `/` before any
/// `:`, or none, as Docker reads it).
fn in_container(arg: &str) -> Result<Option<(Name, &str)>> {
    match arg.split_once(':') {
        Some((c, path)) if !c.contains('/') && !c.is_empty() => {
            Ok(Some((Name::parse_as("container name", c)?, path)))
        }
        _ => Ok(None),
    }
}

pub fn run(ctx: &Ctx, a: &CpArgs) -> Result<Output> {
    let rt = &ctx.runtime;
    match (in_container(&a.src)?, in_container(&a.dst)?) {
        (Some((name, src)), None) => {
            lifecycle::get_file(rt, &name, Path::new(src), Path::new(&a.dst))?;
        }
        (None, Some((name, dst))) => {
            lifecycle::put_file(rt, &name, Path::new(&a.src), Path::new(dst))?;
        }
        (Some(_), Some(_)) => {
            bail!("cp copies between a container and the host, not two containers")
        }
        (None, None) => bail!("cp needs CONTAINER:PATH on one side"),
    }
    Ok(Output::Exit(0))
}
