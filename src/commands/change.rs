//! `-a vip`, `-a port_mapping`, `-a volume`, `-a env`: change a stopped
//! container.

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::{Action, Args};
use crate::lifecycle::{self, Change};

pub fn run(ctx: &Ctx, args: &Args, action: Action) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("needs -c/--container");
    };
    let change = match action {
        Action::Vip => Change::Vip(args.vip),
        Action::PortMapping => Change::PortMaps(
            args.port_mapping
                .as_ref()
                .map(|m| m.0.clone())
                .unwrap_or_default(),
        ),
        Action::Volume => Change::Volumes(args.volume.clone()),
        Action::Env => Change::Env(super::args::env(args)?),
        other => bail!("{other:?} does not change a container"),
    };
    lifecycle::change(&ctx.runtime, name, change)?;
    Ok(Output::Ok)
}
