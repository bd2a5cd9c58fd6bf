//! `vip`, `port_mapping`, `volume`, `service`, `env`: changes of a stopped
//! container's config, applied at its next boot.

use std::net::Ipv4Addr;

use super::create::{checked_services, checked_volumes};
use super::LifecycleError;
use crate::container::{EnvVar, RestartPolicy, Service, Status, Volume};
use crate::names::Name;
use crate::network::{Net, PortMap};
use crate::runtime::{NetKind, Runtime};

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// This VIP (checked), or the next free one (BRIDGE only).
    Vip(Option<Ipv4Addr>),
    /// These port maps instead of the stored ones (BRIDGE only).
    PortMaps(Vec<PortMap>),
    /// These volumes instead of the stored ones (each source must exist).
    Volumes(Vec<Volume>),
    /// These services instead of the stored ones (when given), this
    /// restart policy (when given).
    Services {
        services: Option<Vec<Service>>,
        restart: Option<RestartPolicy>,
    },
    /// These variables instead of the stored ones (none: no variables).
    Env(Vec<EnvVar>),
    /// Another network (`-a net`), with this VIP or the next free one
    /// where the network has addresses of xdocker's.
    Net(Net, Option<Ipv4Addr>),
}

impl Change {
    /// As the log names it.
    fn label(&self) -> &'static str {
        match self {
            Change::Vip(_) => "Vip",
            Change::PortMaps(_) => "PortMapping",
            Change::Volumes(_) => "Volume",
            Change::Services { .. } => "Service",
            Change::Env(_) => "Env",
            Change::Net(..) => "Net",
        }
    }
}

/// Changes stopped container `name`.
pub fn change(rt: &Runtime, name: &Name, change: Change) -> Result<(), LifecycleError> {
    let _lock = rt.containers.lock(name)?;
    let mut config = rt.containers.config(name)?;
    if let Status::Running { pid } = rt.containers.status(name)? {
        return Err(LifecycleError::Running {
            name: name.to_string(),
            pid,
            hint: "shut it down before changing it",
        });
    }
    let kind = rt.net_kind(name, &config.net)?;
    let allowed = match change {
        Change::Vip(_) => Some(("a VIP", kind.has_vip())),
        Change::PortMaps(_) => Some(("a port map", kind == NetKind::Bridge)),
        _ => None,
    };
    if let Some((what, false)) = allowed {
        return Err(LifecycleError::ChangeNeedsBridge {
            name: name.to_string(),
            what,
            net: config.net.to_string(),
        });
    }
    let label = change.label();
    // Held until the config is saved: nobody else takes the VIP meanwhile.
    let _network_lock = match change {
        Change::Vip(_) | Change::Net(..) => Some(rt.network_lock()?),
        _ => None,
    };
    match change {
        Change::Vip(vip) => config.vip = Some(rt.choose_vip_on(name, &config.net, vip)?),
        Change::Net(to, vip) => {
            let kind = rt.net_kind(name, &to)?;
            if kind != NetKind::Bridge
                && (!config.port_mappings.is_empty() || config.host_eth.is_some())
            {
                return Err(LifecycleError::ChangeNeedsBridge {
                    name: name.to_string(),
                    what: "its port maps and --host-eth (clear them with -a port_mapping first)",
                    net: to.to_string(),
                });
            }
            if vip.is_some() && !kind.has_vip() {
                return Err(LifecycleError::NeedsBridge {
                    name: name.to_string(),
                    option: "--vip",
                });
            }
            config.vip = match kind.has_vip() {
                true => Some(rt.choose_vip_on(name, &to, vip)?),
                false => None,
            };
            config.net = to;
        }
        Change::PortMaps(maps) => config.port_mappings = maps,
        Change::Volumes(volumes) => config.volumes = checked_volumes(&volumes)?,
        Change::Services { services, restart } => {
            if let Some(services) = services {
                config.services = checked_services(&services)?;
            }
            config.restart = restart.or(config.restart);
        }
        Change::Env(env) => config.env = env,
    }
    rt.containers.save_config(&config)?;
    crate::logging::info(&format!("container {name}: {label} changed"));
    Ok(())
}
