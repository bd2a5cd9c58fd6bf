//! `create`: a new container on an image stack, its VIP and host ids chosen
//! under the home-wide locks; with a boot asked for, a boot that fails
//! takes the new container away again (one action: all or nothing).

use std::net::Ipv4Addr;

use super::boot::{self, Booted, Start};
use super::LifecycleError;
use crate::container::config::{LimitsConfig, SecurityConfig};
use crate::container::service::check_unique;
use crate::container::{ContainerConfig, EnvVar, RestartPolicy, Service, Volume};
use crate::home::ObjectLock;
use crate::image::{ImageConfig, Pick};
use crate::names::{ImageRef, Name};
use crate::network::{Net, PortMap};
use crate::runtime::{NetKind, Runtime, RuntimeError};

/// Seccomp and capabilities asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// The default seccomp filter.
    pub seccomp: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            seccomp: true,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
        }
    }
}

/// What a new container is to be (`create`, `to_container`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContainer {
    /// The container's name when None.
    pub hostname: Option<String>,
    pub net: Net,
    /// BRIDGE only, like `vip` and `port_maps`.
    pub host_eth: Option<String>,
    /// Chosen when None.
    pub vip: Option<Ipv4Addr>,
    pub port_maps: Vec<PortMap>,
    /// Each source must exist.
    pub volumes: Vec<Volume>,
    pub limits: LimitsConfig,
    pub security: Security,
    /// `--userns`: Some(true) unprivileged or an error, Some(false)
    /// privileged, None unprivileged where the host allows it.
    pub userns: Option<bool>,
    /// Booted by `-a autostart`, lower orders first.
    pub autostart: Option<u32>,
    /// `--restart` (None: the defaults).
    pub restart: Option<RestartPolicy>,
    /// `--service NAME=CMD`, each name once.
    pub services: Vec<Service>,
    /// `--env`: what every process of the container gets.
    pub env: Vec<EnvVar>,
    /// `--workdir`: where the main process and the sessions start.
    pub workdir: Option<String>,
    /// `--user`: who they run as.
    pub user: Option<String>,
    /// The main process of plain boots (in the background).
    pub command: Option<String>,
    /// Removed once stopped after a run.
    pub auto_remove: bool,
    /// The main process on a terminal of its own (Docker's `-t`).
    pub tty: bool,
}

impl Default for NewContainer {
    fn default() -> Self {
        Self {
            hostname: None,
            net: Net::Host,
            host_eth: None,
            vip: None,
            port_maps: Vec::new(),
            volumes: Vec::new(),
            limits: LimitsConfig::default(),
            security: Security::default(),
            userns: None,
            autostart: None,
            restart: None,
            services: Vec::new(),
            env: Vec::new(),
            workdir: None,
            user: None,
            command: None,
            auto_remove: false,
            tty: false,
        }
    }
}

/// `create`.
#[derive(Debug)]
pub struct CreateRequest<'a> {
    /// Named after its top image when None.
    pub name: Option<Name>,
    /// The image stack, bottom first (one image brings its base layers).
    pub images: Vec<ImageRef>,
    pub container: NewContainer,
    /// Boot it at once, and how.
    pub boot: Option<Start<'a>>,
}

/// What `create` did.
#[derive(Debug)]
pub struct Created {
    pub name: Name,
    /// Every layer, bottom first, versions resolved.
    pub images: Vec<ImageRef>,
    /// How the boot went, when one was asked for.
    pub booted: Option<Booted>,
}

/// Creates a container (and boots it when asked). A first boot that fails
/// removes the container again, with everything it was given (VIP, ids).
pub fn create(rt: &Runtime, req: CreateRequest<'_>) -> Result<Created, LifecycleError> {
    let images = resolve_stack(rt, &req.images)?;
    let name = match req.name {
        Some(n) => n,
        None => match req.images.last() {
            Some(top) => Name::parse_as("container name", top.name.as_str())?,
            None => Name::parse_as("container name", "")?,
        },
    };
    let lock = rt.containers.lock(&name)?;
    let container = with_image_defaults(rt.images.top_config(&images), &req.container);
    let (config, allocation_locks) = config_for(rt, &name, images, &container)?;
    let created = rt.containers.create(&config, None)?;
    drop(allocation_locks);
    crate::logging::info(&format!(
        "container {name}: created from {}",
        config.images_text()
    ));
    drop(lock);
    let Some(start) = req.boot else {
        created.sync()?;
        return Ok(Created {
            name,
            images: config.images,
            booted: None,
        });
    };
    let outcome = match boot::main_process(&start, &config) {
        boot::Main::Wait(cmd) => rt.boot_created(&name, Some(cmd), created),
        boot::Main::Background(cmd) => rt.boot_background(&name, cmd, Some(created)),
        boot::Main::Attached(cmd) => rt.boot_for_attach(&name, cmd, Some(created)),
        boot::Main::None => rt.boot_created(&name, None, created),
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => return Err(undo_create(rt, &name, e)),
    };
    Ok(Created {
        booted: Some(boot::after_boot(rt, &name, outcome, start)?),
        name,
        images: config.images,
    })
}

/// The main process of a new Docker-style container (`run`, `create`), as
/// Docker combines them: the image's ENTRYPOINT (or `--entrypoint`, which
/// also drops the image's CMD; an empty one drops the image's ENTRYPOINT)
/// followed by CMD as given, else the image's CMD; joined into one shell
/// line. None: neither is set, a VM-like container with xdockerinit idle.
pub fn main_command(
    rt: &Runtime,
    image: &ImageRef,
    entrypoint: Option<&str>,
    cmd: &[String],
) -> Option<String> {
    let argv = match entrypoint {
        Some(e) => {
            let mut words: Vec<String> = Some(e.to_string())
                .filter(|e| !e.is_empty())
                .into_iter()
                .collect();
            words.extend(cmd.iter().cloned());
            (!words.is_empty()).then_some(words)
        }
        None => crate::image::default_process(
            &rt.images.top_config(std::slice::from_ref(image)),
            Some(cmd),
        ),
    };
    argv.map(|words| shell_line(&words))
}

/// `argv` as one shell command line, each word quoted when it needs it
/// (the main process is run by `/bin/sh -c`, or directly when it is plain
/// words).
pub fn shell_line(argv: &[String]) -> String {
    let plain = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b))
    };
    argv.iter()
        .map(|w| {
            if plain(w) {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The error of a first boot that failed, after taking the new container
/// away again. A container that did run (`-e`: the command ran, and what
/// failed came after it) stays, and so does one whose removal fails (the
/// error says so).
fn undo_create(rt: &Runtime, name: &Name, boot_error: RuntimeError) -> LifecycleError {
    match remove_unbooted(rt, name) {
        Ok(true) => LifecycleError::BootOfNewFailed {
            name: name.to_string(),
            source: Box::new(boot_error),
        },
        Ok(false) => boot_error.into(),
        Err(e) => LifecycleError::BootOfNewFailedKept {
            name: name.to_string(),
            cleanup: e.to_string(),
            source: Box::new(boot_error),
        },
    }
}

/// Removes container `name` if it never ran: no run state and no exit
/// record (which xdockerinit writes when it stops). False when it ran.
fn remove_unbooted(rt: &Runtime, name: &Name) -> Result<bool, LifecycleError> {
    let _lock = rt.containers.lock(name)?;
    if rt.containers.run_state(name)?.is_some() || rt.exit_code(name).is_some() {
        return Ok(false);
    }
    rt.forget(name)?;
    rt.containers.destroy(name)?;
    crate::logging::info(&format!(
        "container {name}: removed again, its first boot failed"
    ));
    Ok(true)
}

/// `new` with the defaults an image's metadata gives (a recipe's ENV,
/// WORKDIR and USER; `create` takes the top image's, `to_container` the
/// converted image's): the image's variables first, `--env` over them;
/// `--workdir` and `--user` over the image's.
pub(super) fn with_image_defaults(config: ImageConfig, new: &NewContainer) -> NewContainer {
    let mut out = new.clone();
    let image_env: Vec<EnvVar> = config.env.iter().filter_map(|e| e.parse().ok()).collect();
    if !image_env.is_empty() {
        out.env = crate::container::env::merge(&image_env, &new.env);
    }
    out.workdir = new.workdir.clone().or(config.workdir);
    out.user = new.user.clone().or(config.user);
    out
}

/// The image stack `refs` names, bottom first, versions resolved; a single
/// image that records base layers brings them along.
pub fn resolve_stack(rt: &Runtime, refs: &[ImageRef]) -> Result<Vec<ImageRef>, LifecycleError> {
    let images = &rt.images;
    let mut stack = Vec::new();
    for r in refs {
        let v = images.resolve(r, Pick::Highest)?;
        stack.push((r.name.clone(), v));
    }
    if let [(name, version)] = stack.as_slice() {
        let bases = images.entry(name, version)?.meta.base_layers;
        let mut full = Vec::new();
        for b in &bases {
            let r: ImageRef = b.parse()?;
            let v = images.resolve(&r, Pick::Highest).map_err(|source| {
                LifecycleError::BaseLayerMissing {
                    image: format!("{name}:{version}"),
                    base: b.clone(),
                    source: Box::new(source),
                }
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

/// `given` limits on top of `base`; a CPU list is checked against the CPUs
/// online on this host.
pub(super) fn apply_limits(
    given: &LimitsConfig,
    base: LimitsConfig,
) -> Result<LimitsConfig, LifecycleError> {
    if let Some(cpus) = &given.cpus {
        crate::cgroups::check_online_cpus(cpus)
            .map_err(|source| LifecycleError::Cpus { source })?;
    }
    Ok(LimitsConfig {
        cpus: given.cpus.clone().or(base.cpus),
        cpu_quota_percent: given.cpu_quota_percent.or(base.cpu_quota_percent),
        mem_limit_bytes: given.mem_limit_bytes.or(base.mem_limit_bytes),
        pids_limit: given.pids_limit.or(base.pids_limit),
        cpu_shares: given.cpu_shares.or(base.cpu_shares),
    })
}

/// The volumes, each source checked to exist on the host.
pub(super) fn checked_volumes(volumes: &[Volume]) -> Result<Vec<Volume>, LifecycleError> {
    if let Some(v) = volumes.iter().find(|v| !v.host.exists()) {
        return Err(LifecycleError::VolumeSource {
            path: v.host.clone(),
        });
    }
    Ok(volumes.to_vec())
}

/// The services, each name once.
pub(super) fn checked_services(services: &[Service]) -> Result<Vec<Service>, LifecycleError> {
    check_unique(services).map_err(LifecycleError::Services)?;
    Ok(services.to_vec())
}

/// Seccomp and capabilities as stored (ids are given later).
fn checked_security(security: &Security) -> Result<SecurityConfig, LifecycleError> {
    let Security {
        seccomp,
        cap_add,
        cap_drop,
    } = security.clone();
    if let Some(both) = cap_add.iter().find(|c| cap_drop.contains(c)) {
        return Err(LifecycleError::CapabilityTwice(both.clone()));
    }
    Ok(SecurityConfig {
        seccomp,
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
pub(super) fn config_for(
    rt: &Runtime,
    name: &Name,
    images: Vec<ImageRef>,
    new: &NewContainer,
) -> Result<(ContainerConfig, Vec<ObjectLock>), LifecycleError> {
    let net = new.net.clone();
    let mut locks = Vec::new();
    // A user network is not removed while a container joins it.
    if net.network().is_some() {
        locks.push(rt.network_lock()?);
    }
    let kind = rt.net_kind(name, &net)?;
    for (given, option, allowed) in [
        (new.vip.is_some(), "--vip", kind.has_vip()),
        (
            !new.port_maps.is_empty(),
            "--port-mapping",
            kind == NetKind::Bridge,
        ),
        (
            new.host_eth.is_some(),
            "--host-eth",
            kind == NetKind::Bridge,
        ),
    ] {
        if given && !allowed {
            return Err(LifecycleError::NeedsBridge {
                name: name.to_string(),
                option,
            });
        }
    }
    let vip = if kind.has_vip() {
        if locks.is_empty() {
            locks.push(rt.network_lock()?);
        }
        Some(rt.choose_vip_on(name, &net, new.vip)?)
    } else {
        None
    };
    let mut security = checked_security(&new.security)?;
    if new.userns != Some(false) {
        let lock = rt.id_slots_lock()?;
        match rt.choose_unprivileged(name) {
            Ok(ids) => {
                security.userns = Some(ids);
                locks.push(lock);
            }
            // Unprivileged by default, where the host allows it.
            Err(e) if new.userns.is_none() => crate::logging::warn_user(&format!(
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
        hostname: new.hostname.clone().unwrap_or_else(|| name.to_string()),
        images,
        net,
        host_eth: new.host_eth.clone(),
        vip,
        port_mappings: new.port_maps.clone(),
        volumes: checked_volumes(&new.volumes)?,
        limits: apply_limits(&new.limits, LimitsConfig::default())?,
        autostart: new.autostart,
        restart: new.restart,
        services: checked_services(&new.services)?,
        security,
        created: chrono::Local::now().to_rfc3339(),
        env: new.env.clone(),
        workdir: new.workdir.clone(),
        user: new.user.clone(),
        command: new.command.clone(),
        auto_remove: new.auto_remove,
        tty: new.tty,
    };
    Ok((config, locks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_one_shell_line() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(shell_line(&words(&["/bin/true"])), "/bin/true");
        assert_eq!(
            shell_line(&words(&["sh", "-c", "echo $A; exit 3"])),
            "sh -c 'echo $A; exit 3'"
        );
        assert_eq!(
            shell_line(&words(&["echo", "it's", ""])),
            r"echo 'it'\''s' ''"
        );
    }

    #[test]
    fn given_limits_win_over_stored_ones() {
        let base = LimitsConfig {
            mem_limit_bytes: Some(1 << 20),
            pids_limit: Some(10),
            ..LimitsConfig::default()
        };
        let given = LimitsConfig {
            pids_limit: Some(20),
            ..LimitsConfig::default()
        };
        let both = apply_limits(&given, base).expect("no cpus to check");
        assert_eq!(both.mem_limit_bytes, Some(1 << 20));
        assert_eq!(both.pids_limit, Some(20));
    }

    #[test]
    fn a_capability_both_added_and_dropped_is_refused() {
        let security = Security {
            seccomp: true,
            cap_add: vec!["mknod".into()],
            cap_drop: vec!["net_raw".into(), "mknod".into()],
        };
        let e = checked_security(&security).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "capability mknod is in both --cap-add and --cap-drop"
        );
    }

    #[test]
    fn a_missing_volume_source_is_named() {
        let volumes = [Volume {
            host: "/nonexistent/src".into(),
            container: "/data".into(),
            read_only: false,
        }];
        let e = checked_volumes(&volumes).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "volume source /nonexistent/src does not exist"
        );
    }
}
