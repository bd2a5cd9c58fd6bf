//! `-a create -m IMAGES [-c C] [create opts] [-b [cgroup opts] [-t | -e CMD]]`.

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::container::config::{LimitsConfig, SecurityConfig};
use crate::container::ContainerConfig;
use crate::container::Volume;
use crate::home::ObjectLock;
use crate::image::Pick;
use crate::names::{ImageRef, Name};
use crate::network::Net;

/// The image stack `-m` names, bottom first, versions resolved; a single
/// image that records base layers brings them along.
pub fn resolve_stack(ctx: &Ctx, refs: &[ImageRef]) -> Result<Vec<ImageRef>> {
    let mut stack = Vec::new();
    for r in refs {
        let v = ctx.images.resolve(r, Pick::Highest)?;
        stack.push((r.name.clone(), v));
    }
    if let [(name, version)] = stack.as_slice() {
        let bases = ctx.images.entry(name, version)?.meta.base_layers;
        let mut full = Vec::new();
        for b in &bases {
            let r: ImageRef = b.parse()?;
            let v = ctx.images.resolve(&r, Pick::Highest).map_err(|_| {
                anyhow::anyhow!(
                    "image {name}:{version} needs its base layer {b}, which is not here"
                )
            })?;
            full.push(ImageRef {
                name: r.name,
                version: Some(v),
            });
        }
        full.push(ImageRef {
            name: name.clone(),
            version: Some(version.clone()),
        });
        return Ok(full);
    }
    Ok(stack
        .into_iter()
        .map(|(name, v)| ImageRef {
            name,
            version: Some(v),
        })
        .collect())
}

/// Cgroup limits from the command line, on top of `base`; a CPU list is
/// checked against the CPUs online on this host.
pub fn limits_from(args: &Args, base: LimitsConfig) -> Result<LimitsConfig> {
    if let Some(cpus) = &args.cpus {
        crate::cgroups::check_online_cpus(&cpus.0).map_err(|e| anyhow::anyhow!("--cpus: {e}"))?;
    }
    Ok(LimitsConfig {
        cpus: args.cpus.as_ref().map(|c| c.0.clone()).or(base.cpus),
        cpu_quota_percent: args.cpu_quota.map(|q| q.0).or(base.cpu_quota_percent),
        mem_limit_bytes: args.mem_limit.map(|m| m.0).or(base.mem_limit_bytes),
        pids_limit: args.pids_limit.or(base.pids_limit),
    })
}

/// Checks that every volume source exists on the host.
pub fn volumes_from(args: &Args) -> Result<Vec<Volume>> {
    for v in &args.volume {
        if !v.host.exists() {
            bail!("volume source {} does not exist", v.host.display());
        }
    }
    Ok(args.volume.clone())
}

/// Seccomp and capabilities from the command line.
fn security_from(args: &Args) -> Result<SecurityConfig> {
    let cap_add = args
        .cap_add
        .as_ref()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    let cap_drop = args
        .cap_drop
        .as_ref()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    if let Some(both) = cap_add.iter().find(|c| cap_drop.contains(c)) {
        bail!("capability {both} is in both --cap-add and --cap-drop");
    }
    Ok(SecurityConfig {
        seccomp: args.seccomp.unwrap_or(true),
        cap_add,
        cap_drop,
        userns: None,
    })
}

/// The config `create` (and `to_container`) store for `name`. A BRIDGE
/// container gets its VIP checked or chosen; every container but a
/// `--userns off` one gets its slot of host ids (unprivileged by default,
/// as Incus makes them: where the kernel or the home's file systems cannot
/// idmap, the container is privileged, with a warning, unless `--userns
/// on` asked for it). The returned locks must be held until the config is
/// saved, so that no other container takes the same address or ids
/// meanwhile.
pub fn config_from(
    ctx: &Ctx,
    args: &Args,
    name: &Name,
    images: Vec<ImageRef>,
) -> Result<(ContainerConfig, Vec<ObjectLock>)> {
    let net = args.net.unwrap_or(Net::Host);
    if net != Net::Bridge {
        for (given, option) in [
            (args.vip.is_some(), "--vip"),
            (args.port_mapping.is_some(), "--port-mapping"),
            (args.host_eth.is_some(), "--host-eth"),
        ] {
            if given {
                bail!("container {name}: {option} needs --net BRIDGE");
            }
        }
    }
    let mut locks = Vec::new();
    let vip = match net {
        Net::Bridge => {
            locks.push(ctx.runtime.network_lock()?);
            Some(ctx.runtime.choose_vip(name, args.vip)?)
        }
        _ => None,
    };
    let mut security = security_from(args)?;
    if args.userns != Some(false) {
        let lock = ctx.runtime.id_slots_lock()?;
        match ctx.runtime.choose_unprivileged(name) {
            Ok(ids) => {
                security.userns = Some(ids);
                locks.push(lock);
            }
            // Unprivileged by default, where the host allows it.
            Err(e) if args.userns.is_none() => crate::logging::warn_user(&format!(
                "container {name} is privileged (root inside is root on the host, for \
                 trusted workloads only): no user namespace: {}; --userns off makes this \
                 the explicit choice",
                e.to_string()
                    .trim_start_matches(&format!("container {name}: --userns: "))
            )),
            Err(e) => return Err(e.into()),
        }
    }
    let config = ContainerConfig {
        name: name.to_string(),
        hostname: args.host.clone().unwrap_or_else(|| name.to_string()),
        images,
        net,
        host_eth: args.host_eth.clone(),
        vip,
        port_mappings: args
            .port_mapping
            .as_ref()
            .map(|m| m.0.clone())
            .unwrap_or_default(),
        volumes: volumes_from(args)?,
        limits: limits_from(args, LimitsConfig::default())?,
        autostart: args.autostart.and_then(|a| a.order()),
        security,
        created: chrono::Local::now().to_rfc3339(),
    };
    Ok((config, locks))
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(list) = &args.images else {
        bail!("-a create needs -m/--image");
    };
    let images = resolve_stack(ctx, &list.0)?;
    let name = match &args.container {
        Some(c) => c.clone(),
        None => Name::parse_as("container name", list.0[list.0.len() - 1].name.as_str())?,
    };
    let _lock = ctx.runtime.containers.lock(&name)?;
    let (config, allocation_locks) = config_from(ctx, args, &name, images)?;
    let created = ctx.runtime.containers.create(&config, None)?;
    drop(allocation_locks);
    crate::logging::info(&format!(
        "container {name}: created from {}",
        config.images_text()
    ));
    drop(_lock);
    if !args.boot {
        created.sync()?;
        return Ok(Output::Ok);
    }
    if args.tty {
        return super::boot::boot_and_attach(ctx, &name, Some(created));
    }
    super::boot::boot_and_report(ctx, &name, args.exec.as_deref(), Some(created))
}
