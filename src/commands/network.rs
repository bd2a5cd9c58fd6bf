//! `-a network_create`, `-a network_remove`, `-s networks`, `-a net`:
//! user-defined networks and moving a stopped container onto one.

use anyhow::{bail, Result};

use super::{table, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle::{self, Change};
use crate::network::store::{Driver, NetworkRequest};

pub fn create(ctx: &Ctx, args: &Args) -> Result<Output> {
    let (Some(name), Some(driver)) = (&args.network, args.driver) else {
        bail!("-a network_create needs --network and --driver");
    };
    let req = NetworkRequest {
        name: name.to_string(),
        driver,
        subnet: args.subnet.clone(),
        gateway: args.gateway,
        bridge: args.bridge.clone(),
        internal: args.internal,
        parent: args.parent.clone(),
        macvlan_mode: args.macvlan_mode,
        dhcp: args.dhcp,
    };
    let def = lifecycle::network_create(&ctx.runtime, &req)?;
    Ok(Output::Done(match def.driver {
        Driver::Bridge => format!(
            "network {} on bridge {}",
            def.name,
            def.bridge.as_deref().unwrap_or("-")
        ),
        Driver::Macvlan => format!(
            "network {} on {}",
            def.name,
            def.parent.as_deref().unwrap_or("-")
        ),
    }))
}

pub fn remove(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(name) = &args.network else {
        bail!("-a network_remove needs --network");
    };
    lifecycle::network_remove(&ctx.runtime, name.as_str(), ctx.force)?;
    Ok(Output::Ok)
}

pub fn list(ctx: &Ctx, json: bool) -> Result<Output> {
    let all = lifecycle::networks(&ctx.runtime)?;
    if json {
        return Output::json(&all);
    }
    let dash = || "-".to_string();
    let cells: Vec<Vec<String>> = all
        .iter()
        .map(|n| {
            let mut driver = n.driver.clone();
            if let Some(mode) = &n.macvlan_mode {
                driver = format!("{driver}/{mode}");
            }
            if n.internal {
                driver.push_str(",internal");
            }
            vec![
                n.name.clone(),
                driver,
                n.subnet
                    .clone()
                    .unwrap_or_else(|| if n.dhcp { "dhcp".into() } else { dash() }),
                n.gateway.map(|g| g.to_string()).unwrap_or_else(dash),
                n.interface.clone(),
                if n.containers.is_empty() {
                    dash()
                } else {
                    n.containers.join(",")
                },
            ]
        })
        .collect();
    Ok(Output::Text(table(
        &[
            "name",
            "driver",
            "subnet",
            "gateway",
            "interface",
            "containers",
        ],
        &cells,
    )))
}

/// `-a net -c C --net NET [--vip IP]`.
pub fn change(ctx: &Ctx, args: &Args) -> Result<Output> {
    let (Some(name), Some(net)) = (&args.container, &args.net) else {
        bail!("-a net needs -c/--container and --net");
    };
    lifecycle::change(&ctx.runtime, name, Change::Net(net.clone(), args.vip))?;
    Ok(Output::Ok)
}
