//! `-a vip`, `-a port_mapping`, `-a volume`: change a stopped container.

use anyhow::{bail, Result};

use super::create::volumes_from;
use super::{Ctx, Output};
use crate::cli::{Action, Args};
use crate::container::Status;
use crate::network::Net;

pub fn run(ctx: &Ctx, args: &Args, action: Action) -> Result<Output> {
    let Some(name) = &args.container else {
        bail!("needs -c/--container");
    };
    let _lock = ctx.runtime.containers.lock(name)?;
    let mut config = ctx.runtime.containers.config(name)?;
    if let Status::Running { pid } = ctx.runtime.containers.status(name)? {
        bail!("container {name} is running (pid {pid}): shut it down before changing it");
    }
    if matches!(action, Action::Vip | Action::PortMapping) && config.net != Net::Bridge {
        bail!(
            "container {name}: {} needs --net BRIDGE (it is {})",
            if action == Action::Vip {
                "a VIP"
            } else {
                "a port map"
            },
            format!("{:?}", config.net).to_uppercase()
        );
    }
    // Held until the config is saved: nobody else takes the VIP meanwhile.
    let _network_lock = match action {
        Action::Vip => Some(ctx.runtime.network_lock()?),
        _ => None,
    };
    match action {
        Action::Vip => config.vip = Some(ctx.runtime.choose_vip(name, args.vip)?),
        Action::PortMapping => {
            config.port_mappings = args
                .port_mapping
                .as_ref()
                .map(|m| m.0.clone())
                .unwrap_or_default()
        }
        Action::Volume => config.volumes = volumes_from(args)?,
        other => bail!("{other:?} does not change a container"),
    }
    ctx.runtime.containers.save_config(&config)?;
    crate::logging::info(&format!("container {name}: {action:?} changed"));
    Ok(Output::Ok)
}
