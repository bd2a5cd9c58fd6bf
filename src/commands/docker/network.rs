//! `network create|ls|rm|inspect`: the user-defined networks of
//! `-a network_create` and friends in Docker's words (`-o parent=IF`,
//! `-o macvlan_mode=MODE`, `--ipam-driver dhcp` as podman spells DHCP).

use anyhow::{bail, Result};

use super::super::{table, Ctx, Output};
use crate::docker_cli::{NetworkCreateArgs, NetworkVerb};
use crate::lifecycle;
use crate::network::store::{MacvlanMode, NetworkRequest};

pub fn run(ctx: &Ctx, verb: &NetworkVerb) -> Result<Output> {
    match verb {
        NetworkVerb::Create(a) => create(ctx, a),
        NetworkVerb::Ls(a) => {
            let all = lifecycle::networks(&ctx.runtime)?;
            if a.quiet {
                return Ok(Output::Text(
                    all.iter().map(|n| format!("{}\n", n.name)).collect(),
                ));
            }
            if a.format.as_deref() == Some("json") {
                let mut out = String::new();
                for n in &all {
                    out.push_str(&serde_json::to_string(n)?);
                    out.push('\n');
                }
                return Ok(Output::Text(out));
            }
            let dash = || "-".to_string();
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|n| {
                    vec![
                        n.name.clone(),
                        n.driver.clone(),
                        n.subnet.clone().unwrap_or_else(|| {
                            if n.dhcp {
                                "dhcp".into()
                            } else {
                                dash()
                            }
                        }),
                        n.interface.clone(),
                    ]
                })
                .collect();
            Ok(Output::Text(table(
                &["NAME", "DRIVER", "SUBNET", "INTERFACE"],
                &rows,
            )))
        }
        NetworkVerb::Rm(a) => {
            let mut out = String::new();
            for name in &a.names {
                lifecycle::network_remove(&ctx.runtime, name, a.force)?;
                out.push_str(&format!("{name}\n"));
            }
            Ok(Output::Text(out))
        }
        NetworkVerb::Inspect(a) => {
            let found = a
                .names
                .iter()
                .map(|n| lifecycle::network_inspect(&ctx.runtime, n))
                .collect::<Result<Vec<_>, _>>()?;
            Output::json(&found)
        }
    }
}

fn create(ctx: &Ctx, a: &NetworkCreateArgs) -> Result<Output> {
    let (mut parent, mut mode, mut bridge) = (None, None, None);
    for opt in &a.opts {
        match opt.split_once('=') {
            Some(("parent", v)) => parent = Some(v.to_string()),
            Some(("macvlan_mode", v)) => {
                mode = Some(<MacvlanMode as clap::ValueEnum>::from_str(v, false).map_err(
                    |_| anyhow::anyhow!("network create: -o macvlan_mode={v}: not bridge, private, vepa or passthru"),
                )?)
            }
            Some(("com.docker.network.bridge.name", v)) => bridge = Some(v.to_string()),
            _ => bail!(
                "network create: -o {opt}: not parent=IF, macvlan_mode=MODE or \
                 com.docker.network.bridge.name=IF"
            ),
        }
    }
    let req = NetworkRequest {
        name: a.name.to_string(),
        driver: a.driver,
        subnet: a.subnet.clone(),
        gateway: a.gateway,
        bridge,
        internal: a.internal,
        parent,
        macvlan_mode: mode,
        dhcp: a.ipam_driver.is_some(),
    };
    let def = lifecycle::network_create(&ctx.runtime, &req)?;
    Ok(Output::Text(format!("{}\n", def.name)))
}
