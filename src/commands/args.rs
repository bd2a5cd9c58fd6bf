//! The command line's options mapped onto the lifecycle's requests
//! ([`crate::lifecycle`]): what every command that makes or changes a
//! container shares. Nothing here looks at the home.

use anyhow::{bail, Result};

use crate::cli::{Args, ServiceArg};
use crate::container::config::LimitsConfig;
use crate::container::env::{self, EnvVar};
use crate::container::Service;
use crate::lifecycle::{CommitRequest, NewContainer, Security, Start, ToImageRequest};
use crate::names::{Name, Version};
use crate::network::Net;
use crate::session::Stdio;

/// Cgroup limits given on the command line (each None when not given).
pub fn limits(args: &Args) -> LimitsConfig {
    LimitsConfig {
        cpus: args.cpus.as_ref().map(|c| c.0.clone()),
        cpu_quota_percent: args.cpu_quota.map(|q| q.0),
        mem_limit_bytes: args.mem_limit.map(|m| m.0),
        pids_limit: args.pids_limit,
        cpu_shares: args.cpu_shares,
    }
}

/// `--service` as given: None when not given, empty for `--service none`.
pub fn services(args: &Args) -> Option<Vec<Service>> {
    if args.service.is_empty() {
        return None;
    }
    Some(
        args.service
            .iter()
            .filter_map(|s| match s {
                ServiceArg::Service(s) => Some(s.clone()),
                ServiceArg::None => None,
            })
            .collect(),
    )
}

/// The variables of `--env-file` files (in order), then of `--env`; a key
/// given again takes the later value. `KEY` alone takes the host's value.
pub fn env(args: &Args) -> Result<Vec<EnvVar>> {
    env_of(&args.env_file, &args.env)
}

/// The variables of `files` (in order), then of `args` (`--env`): a key
/// given again takes the later value.
pub fn env_of(files: &[std::path::PathBuf], args: &[env::EnvArg]) -> Result<Vec<EnvVar>> {
    let host = |key: &str| std::env::var_os(key);
    let mut vars = Vec::new();
    for file in files {
        vars = env::merge(&vars, &env::read_file(file, &host)?);
    }
    for arg in args {
        let var = arg
            .clone()
            .resolve(&host)
            .map_err(|e| anyhow::anyhow!("--env: {e}"))?;
        vars = env::merge(&vars, &[var]);
    }
    Ok(vars)
}

/// What a new container is to be (create and to_container options).
pub fn new_container(args: &Args) -> Result<NewContainer> {
    Ok(NewContainer {
        hostname: args.host.clone(),
        net: args.net.clone().unwrap_or(Net::Host),
        host_eth: args.host_eth.clone(),
        vip: args.vip,
        port_maps: args
            .port_mapping
            .as_ref()
            .map(|m| m.0.clone())
            .unwrap_or_default(),
        volumes: args.volume.clone(),
        limits: limits(args),
        security: Security {
            seccomp: args.seccomp.unwrap_or(true),
            cap_add: args
                .cap_add
                .as_ref()
                .map(|c| c.0.clone())
                .unwrap_or_default(),
            cap_drop: args
                .cap_drop
                .as_ref()
                .map(|c| c.0.clone())
                .unwrap_or_default(),
        },
        userns: args.userns,
        autostart: args.autostart.and_then(|a| a.order()),
        restart: args.restart,
        services: services(args).unwrap_or_default(),
        env: env(args)?,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        command: None,
        auto_remove: false,
        tty: false,
    })
}

/// How to start: `-t` attaches `io`, `-e CMD` runs CMD, else detached.
pub fn start<'a>(args: &Args, io: Stdio<'a>) -> Start<'a> {
    match (&args.exec, args.tty) {
        (_, true) => Start::Attach(io),
        (Some(cmd), false) => Start::Exec(cmd.clone()),
        (None, false) => Start::Detached,
    }
}

/// `--from-container C --to-image NAME[:V] [--version V]` of `action`:
/// the container, the image and its version.
fn container_to_image(args: &Args, action: &str) -> Result<(Name, Name, Version)> {
    let (Some(from), Some(to)) = (&args.from_container, &args.to_image) else {
        bail!("-a {action} needs --from-container and --to-image");
    };
    let version = match (&to.version, &args.version) {
        (Some(a), Some(b)) if a != b => bail!("--to-image {to} and --version {b} disagree"),
        (Some(v), _) | (None, Some(v)) => v.clone(),
        (None, None) => Version::none(),
    };
    Ok((from.clone(), to.name.clone(), version))
}

/// `to_image --from-container C --to-image NAME[:V] [--version V]`.
pub fn to_image(args: &Args) -> Result<ToImageRequest> {
    let (container, image, version) = container_to_image(args, "to_image")?;
    Ok(ToImageRequest {
        container,
        image,
        version,
    })
}

/// `commit --from-container C --to-image NAME[:V] [--version V]`.
pub fn commit(args: &Args) -> Result<CommitRequest> {
    let (container, image, version) = container_to_image(args, "commit")?;
    Ok(CommitRequest {
        container,
        image,
        version,
    })
}
