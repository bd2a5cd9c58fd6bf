//! The boot plan: everything one boot will do — root filesystem, /etc
//! files, network, cgroup limits, namespaces, confinement — computed from
//! the stored config by pure code, so that it is tested without root and
//! the parent (`boot.rs`) and the child (`child.rs`) only carry it out.
//! A new container setting is one more plan field and one more step.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;

use super::caps;
use super::rootfs::RootfsPlan;
use super::RuntimeError;
use crate::cgroups::Limits;
use crate::config::{LogsConfig, NetworkConfig};
use crate::container::config::UsernsIds;
use crate::container::service::{RestartPolicy, Service, BOOT_DIR};
use crate::container::store::{MERGED, RWLAYER, WORKDIR};
use crate::container::{ContainerConfig, EnvVar};
use crate::names::Name;
use crate::network::inside::{Eth0, InsideNet};
use crate::network::ipam::Subnet;
use crate::network::macvlan::MacvlanPlan;
use crate::network::members::{self, Member};
use crate::network::store::{Driver, NetworkDef};
use crate::network::{self as net, BridgePlan, Net};

/// The resolver files a boot may copy from the host, read by the caller
/// (the plan does no I/O).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostResolver {
    /// The upstream servers (`etc_files::host_resolv_conf`), for BRIDGE.
    pub upstream: String,
    /// `/etc/resolv.conf` as it is, for HOST (None: unreadable).
    pub etc_resolv_conf: Option<String>,
}

/// What a boot is computed from.
#[derive(Debug)]
pub struct PlanInput<'a> {
    pub name: &'a Name,
    pub config: &'a ContainerConfig,
    /// The home's `[network]` settings (BRIDGE).
    pub network: &'a NetworkConfig,
    /// The container's network namespace name (see `netns::netns_name`).
    pub netns_name: String,
    /// `containers/C/`.
    pub container_dir: &'a Path,
    /// Layer directories of the image stack, bottom first.
    pub layers: Vec<PathBuf>,
    pub resolver: HostResolver,
    /// `-e CMD`: the main process (single-process mode).
    pub exec: Option<&'a str>,
    /// With `exec`: the main process runs in the background (xdocker
    /// does not wait for it; its output goes to the console log only).
    pub background: bool,
    /// The home's `[logs]` settings.
    pub logs: &'a LogsConfig,
    /// The user-defined network the container is on (`--net NAME`).
    pub user_network: Option<UserNetwork<'a>>,
}

/// A user-defined network as a boot sees it.
#[derive(Debug, Clone)]
pub struct UserNetwork<'a> {
    pub def: &'a NetworkDef,
    /// The subnets of the other bridge networks (BRIDGE's among them),
    /// which a bridge network's containers may not reach.
    pub others: Vec<ipnet::Ipv4Net>,
    /// The network's other running members, for /etc/hosts.
    pub members: Vec<Member>,
}

/// The container's network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkPlan {
    /// The host's network: no namespace of its own.
    Host,
    /// A named network namespace with only `lo`.
    Custom { netns: String },
    /// A named network namespace on the home's bridge, or on a
    /// user-defined bridge network.
    Bridge { netns: String, bridge: BridgePlan },
    /// A named network namespace whose eth0 is a macvlan of a host
    /// interface: a static address (`eth0`), or DHCP.
    Macvlan {
        netns: String,
        macvlan: MacvlanPlan,
        eth0: Option<Eth0>,
    },
}

impl NetworkPlan {
    /// The network namespace name, when the container has its own.
    pub fn netns(&self) -> Option<&str> {
        match self {
            NetworkPlan::Host => None,
            NetworkPlan::Custom { netns }
            | NetworkPlan::Bridge { netns, .. }
            | NetworkPlan::Macvlan { netns, .. } => Some(netns),
        }
    }

    /// The BRIDGE side on the host.
    pub fn bridge(&self) -> Option<&BridgePlan> {
        match self {
            NetworkPlan::Bridge { bridge, .. } => Some(bridge),
            _ => None,
        }
    }

    /// The macvlan side.
    pub fn macvlan(&self) -> Option<&MacvlanPlan> {
        match self {
            NetworkPlan::Macvlan { macvlan, .. } => Some(macvlan),
            _ => None,
        }
    }

    /// The container's own address, when xdocker chose it.
    pub fn vip(&self) -> Option<Ipv4Addr> {
        match self {
            NetworkPlan::Bridge { bridge, .. } => Some(bridge.vip),
            NetworkPlan::Macvlan { eth0, .. } => eth0.map(|e| e.vip),
            _ => None,
        }
    }

    /// What the container's first process sets up inside.
    pub fn inside(&self) -> Option<InsideNet> {
        match self {
            NetworkPlan::Host => None,
            NetworkPlan::Custom { .. } => Some(InsideNet {
                eth0: None,
                dhcp: false,
            }),
            NetworkPlan::Bridge { bridge, .. } => Some(InsideNet {
                eth0: Some(Eth0 {
                    vip: bridge.vip,
                    prefix: bridge.subnet.prefix_len(),
                    gateway: bridge.subnet.gateway(),
                }),
                dhcp: false,
            }),
            NetworkPlan::Macvlan { eth0, macvlan, .. } => Some(InsideNet {
                eth0: *eth0,
                dhcp: macvlan.dhcp,
            }),
        }
    }
}

/// What xdockerinit supervises, and how (see `xdockerinit::supervise`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisionPlan {
    /// With `-e`: the main process's restart policy.
    pub main_restart: Option<RestartPolicy>,
    /// The services' restart policy.
    pub service_restart: RestartPolicy,
    /// `--service NAME=CMD`, in order.
    pub services: Vec<Service>,
    /// The image's own services, resolved inside the container.
    pub boot_dir: &'static str,
    /// A DHCP macvlan network: xdockerinit takes, renews and releases
    /// eth0's lease, sending this hostname.
    pub dhcp: Option<String>,
}

impl SupervisionPlan {
    /// The container's policies and services; the main process's policy
    /// only when there is one (`-e`).
    pub fn of(config: &ContainerConfig, exec: bool) -> Self {
        Self {
            main_restart: exec.then(|| config.main_restart()),
            service_restart: config.service_restart(),
            services: config.services.clone(),
            boot_dir: BOOT_DIR,
            dhcp: None,
        }
    }

    /// xdockerinit's options for it (`--restart` goes with `-e`).
    pub fn init_args(&self) -> Vec<String> {
        let mut args = vec![
            "--boot-dir".to_string(),
            self.boot_dir.to_string(),
            "--service-restart".to_string(),
            self.service_restart.to_string(),
        ];
        if let Some(policy) = self.main_restart {
            args.extend(["--restart".to_string(), policy.to_string()]);
        }
        for service in &self.services {
            args.extend(["--service".to_string(), service.to_string()]);
        }
        if let Some(hostname) = &self.dhcp {
            args.extend(["--dhcp".to_string(), hostname.clone()]);
        }
        args
    }
}

/// The seccomp filter a container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeccompPlan {
    /// `--seccomp off`.
    Off,
    /// The default filter.
    Default,
    /// The default filter plus the mount guard of privileged containers.
    Privileged,
}

/// The console log of a boot (`[logs]` of xdocker.toml): a ring of
/// `max_files` files in `containers/C/log/`, each written up to `max_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPlan {
    pub max_size: u64,
    pub max_files: u32,
}

/// Everything one boot does.
#[derive(Debug, Clone)]
pub struct BootPlan {
    pub name: Name,
    pub rootfs: RootfsPlan,
    pub network: NetworkPlan,
    /// The container's cgroup (below the home's parent) and its limits.
    pub cgroup: String,
    pub limits: Limits,
    /// The namespaces `clone3` makes; a `--userns` container makes the
    /// others itself once inside its user namespace.
    pub clone_flags: CloneFlags,
    pub drop_caps: Vec<u32>,
    pub seccomp: SeccompPlan,
    /// `--userns`: the host ids of root inside.
    pub userns: Option<UsernsIds>,
    /// The environment xdockerinit starts with and gives every process of
    /// the container (`KEY=VALUE`; TERM aside, which follows the terminal):
    /// see [`init_env`].
    pub env: Vec<String>,
    pub exec: Option<String>,
    /// With `exec`: detached from the booter, not waited for.
    pub background: bool,
    /// With `exec` in the background: the main process on a terminal of
    /// its own that clients attach to (the container's `tty`).
    pub main_tty: bool,
    /// With `main_tty`: the main process starts once the first session
    /// client connected (the booting command, attaching at once); set by
    /// the runtime for such a boot.
    pub wait_attach: bool,
    /// `--workdir`: where the main process and the sessions start.
    pub workdir: Option<String>,
    /// `--user`: who they run as (resolved by xdockerinit inside).
    pub user: Option<String>,
    /// The console log's rotation (xdockerinit writes it into
    /// `containers/C/log/`).
    pub logs: LogPlan,
    /// The restart policies and the boot services.
    pub supervision: SupervisionPlan,
    /// Things the user should know, for the log.
    pub warnings: Vec<String>,
}

/// A bad `[network]` setting in xdocker.toml.
fn network_config_error(reason: String) -> RuntimeError {
    RuntimeError::Step {
        name: "xdocker.toml".to_string(),
        step: "[network]",
        source: reason.into(),
    }
}

/// A network failure of container `name`.
fn bad_network(name: &Name) -> impl Fn(String) -> RuntimeError + '_ {
    move |reason| RuntimeError::Network {
        name: name.to_string(),
        source: reason.into(),
    }
}

/// The bridge subnet of `[network]`, checked.
pub fn subnet(network: &NetworkConfig) -> Result<Subnet, RuntimeError> {
    Subnet::parse(&network.subnet).map_err(network_config_error)
}

/// What BRIDGE container `name` needs, from its config and the home's.
fn bridge_plan(input: &PlanInput<'_>) -> Result<BridgePlan, RuntimeError> {
    let (name, config, network) = (input.name, input.config, input.network);
    let bad = bad_network(name);
    net::check_ifname("[network] bridge", &network.bridge).map_err(network_config_error)?;
    net::nft::check_table_name(&network.nft_table).map_err(network_config_error)?;
    let subnet = subnet(network)?;
    let vip = config
        .vip
        .ok_or_else(|| bad("has no VIP (set one with -a vip)".to_string()))?;
    subnet.check(vip).map_err(super::net_error(name))?;
    if let Some(eth) = &config.host_eth {
        net::check_ifname("--host-eth", eth).map_err(&bad)?;
    }
    Ok(BridgePlan {
        container: name.to_string(),
        bridge: network.bridge.clone(),
        subnet,
        vip,
        host_eth: config.host_eth.clone(),
        maps: config.port_mappings.clone(),
        nft_table: network.nft_table.clone(),
        veth: net::veth_name(&input.netns_name),
        isolation: None,
    })
}

/// What a container of user-defined network `user` needs.
fn user_network_plan(
    input: &PlanInput<'_>,
    user: &UserNetwork<'_>,
) -> Result<NetworkPlan, RuntimeError> {
    let (name, config, network) = (input.name, input.config, input.network);
    let bad = bad_network(name);
    let def = user.def;
    let netns = input.netns_name.clone();
    let subnet = def.subnet().map_err(super::net_error(name))?;
    let vip = match subnet {
        Some(subnet) => {
            let vip = config.vip.ok_or_else(|| {
                bad(format!(
                    "has no address on network {} (set one with -a vip)",
                    def.name
                ))
            })?;
            subnet.check(vip).map_err(super::net_error(name))?;
            Some((subnet, vip))
        }
        None => None,
    };
    match (def.driver, vip) {
        (Driver::Bridge, Some((subnet, vip))) => {
            net::nft::check_table_name(&network.nft_table).map_err(network_config_error)?;
            if let Some(eth) = &config.host_eth {
                net::check_ifname("--host-eth", eth).map_err(&bad)?;
            }
            let bridge = def.bridge.clone().unwrap_or_default();
            net::check_ifname("bridge", &bridge).map_err(&bad)?;
            Ok(NetworkPlan::Bridge {
                netns,
                bridge: BridgePlan {
                    container: name.to_string(),
                    bridge,
                    subnet,
                    vip,
                    host_eth: config.host_eth.clone(),
                    maps: config.port_mappings.clone(),
                    nft_table: network.nft_table.clone(),
                    veth: net::veth_name(&input.netns_name),
                    isolation: Some(net::nft::Isolation {
                        others: user.others.clone(),
                        internal: def.internal,
                    }),
                },
            })
        }
        (Driver::Bridge, None) => Err(bad(format!("network {} has no subnet", def.name))),
        (Driver::Macvlan, vip) => Ok(NetworkPlan::Macvlan {
            netns,
            macvlan: MacvlanPlan {
                network: def.name.clone(),
                parent: def.parent.clone().unwrap_or_default(),
                mode: def.macvlan_mode.unwrap_or(net::store::MacvlanMode::Bridge),
                mac: net::container_mac(&net::veth_name(&input.netns_name)),
                dhcp: def.dhcp,
            },
            eth0: vip.map(|(subnet, vip)| Eth0 {
                vip,
                prefix: subnet.prefix_len(),
                gateway: subnet.gateway(),
            }),
        }),
    }
}

/// The files xdocker gives every container at every boot: /etc/hostname
/// and /etc/hosts naming its hostname (BRIDGE: at its VIP; otherwise at
/// 127.0.1.1, as Debian does, so that `hostname -f`, sudo and mail agents
/// resolve it), and /etc/resolv.conf (BRIDGE: the host's upstream
/// servers; HOST: the host's file; CUSTOM: the user's, the image's file
/// stays). The second value is a warning.
fn etc_files(
    (name, hostname): (&str, &str),
    network: &NetworkPlan,
    resolver: &HostResolver,
    user: Option<&UserNetwork<'_>>,
) -> (Vec<(PathBuf, String)>, Option<String>) {
    let own_address = network.vip().unwrap_or(Ipv4Addr::new(127, 0, 1, 1));
    let mut hosts = net::etc_files::hosts(hostname, own_address);
    if let Some(user) = user {
        hosts.push_str(&members::lines(&user.members, name));
    }
    let mut files = vec![
        (
            PathBuf::from("/etc/hostname"),
            net::etc_files::hostname(hostname),
        ),
        (PathBuf::from("/etc/hosts"), hosts),
    ];
    let mut warning = None;
    match network {
        NetworkPlan::Bridge { .. } | NetworkPlan::Macvlan { .. } => {
            let (resolv, fell_back) = net::etc_files::resolv_conf(&resolver.upstream);
            if fell_back {
                warning = Some(
                    "the host has no nameserver a container can reach; /etc/resolv.conf uses \
                     public fallback servers"
                        .to_string(),
                );
            }
            files.push((PathBuf::from("/etc/resolv.conf"), resolv));
        }
        NetworkPlan::Host => {
            if let Some(text) = &resolver.etc_resolv_conf {
                files.push((PathBuf::from("/etc/resolv.conf"), text.clone()));
            }
        }
        NetworkPlan::Custom { .. } => {}
    }
    (files, warning)
}

/// The namespaces clone3 makes. A `--userns` container gets only PID and
/// mount namespaces from clone3 (owned by the host's user namespace, as
/// `/proc` needs); it makes UTS, IPC and the network namespace owned by
/// its own user namespace (see `userns`).
pub fn clone_flags(own_netns: bool, userns: bool) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS;
    if !userns {
        flags |= CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
        if own_netns {
            flags |= CloneFlags::CLONE_NEWNET;
        }
    }
    flags
}

/// What every process of a container starts with: PATH, HOME and
/// `container=xdocker` (systemd and others look for it), then the
/// container's variables in their order, each replacing a default of the
/// same name in its place. A container with a `--user` gets no default
/// HOME: xdockerinit gives the user's own (from /etc/passwd).
pub fn init_env(vars: &[EnvVar], user: Option<&str>) -> Vec<String> {
    let defaults = [
        ("PATH", xdockerinit::process::CHILD_PATH),
        ("HOME", "/root"),
        ("container", "xdocker"),
    ];
    let mut env: Vec<(&str, &str)> = defaults
        .into_iter()
        .filter(|(k, _)| user.is_none() || *k != "HOME")
        .collect();
    for v in vars {
        match env.iter_mut().find(|(k, _)| *k == v.key()) {
            Some(slot) => slot.1 = v.value(),
            None => env.push((v.key(), v.value())),
        }
    }
    env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

impl BootPlan {
    /// xdockerinit's options for the working directory and the user of
    /// the main process and the sessions.
    pub fn identity_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(dir) = &self.workdir {
            args.extend(["--workdir".to_string(), dir.clone()]);
        }
        if let Some(user) = &self.user {
            args.extend(["--user".to_string(), user.clone()]);
        }
        args
    }

    /// The plan for one boot; refuses a config the host cannot apply
    /// (bad VIP, bad `[network]`), before anything is made.
    pub fn new(input: PlanInput<'_>) -> Result<Self, RuntimeError> {
        let config = input.config;
        let network = match &config.net {
            Net::Host => NetworkPlan::Host,
            Net::Custom => NetworkPlan::Custom {
                netns: input.netns_name.clone(),
            },
            Net::Bridge => NetworkPlan::Bridge {
                netns: input.netns_name.clone(),
                bridge: bridge_plan(&input)?,
            },
            Net::Named(n) => match &input.user_network {
                Some(user) if user.def.name == n.as_str() => user_network_plan(&input, user)?,
                _ => {
                    return Err(bad_network(input.name)(format!(
                        "network {n} not found (see -s networks)"
                    )))
                }
            },
        };
        let (mut files, warning) = etc_files(
            (&config.name, &config.hostname),
            &network,
            &input.resolver,
            input.user_network.as_ref(),
        );
        let dhcp = network.macvlan().is_some_and(|m| m.dhcp);
        if dhcp {
            // Emptied at every boot: the host waits for xdockerinit's lease.
            files.push((PathBuf::from(xdockerinit::dhcp::LEASE_FILE), String::new()));
        }
        let dir = input.container_dir;
        let userns = config.security.userns;
        let rootfs = RootfsPlan {
            lowers: input.layers,
            upper: dir.join(RWLAYER),
            work: dir.join(WORKDIR),
            merged: dir.join(MERGED),
            volumes: config.volumes.clone(),
            hostname: config.hostname.clone(),
            files,
            userns,
        };
        let privileged = userns.is_none();
        Ok(Self {
            name: input.name.clone(),
            clone_flags: clone_flags(network.netns().is_some(), userns.is_some()),
            drop_caps: caps::drop_set(
                &config.security.cap_add,
                &config.security.cap_drop,
                privileged && config.net == Net::Host,
            ),
            seccomp: match (config.security.seccomp, privileged) {
                (false, _) => SeccompPlan::Off,
                (true, false) => SeccompPlan::Default,
                (true, true) => SeccompPlan::Privileged,
            },
            rootfs,
            network,
            cgroup: input.name.to_string(),
            limits: Limits {
                cpus: config.limits.cpus.clone(),
                cpu_quota_percent: config.limits.cpu_quota_percent,
                mem_limit_bytes: config.limits.mem_limit_bytes,
                pids_max: config.limits.pids_limit,
                cpu_shares: config.limits.cpu_shares,
            },
            userns,
            env: init_env(&config.env, config.user.as_deref()),
            exec: input.exec.map(str::to_string),
            background: input.exec.is_some() && input.background,
            main_tty: config.tty && input.exec.is_some() && input.background,
            wait_attach: false,
            workdir: config.workdir.clone(),
            user: config.user.clone(),
            logs: LogPlan {
                max_size: input.logs.max_size.0,
                max_files: input.logs.max_files,
            },
            supervision: SupervisionPlan {
                dhcp: dhcp.then(|| config.hostname.clone()),
                ..SupervisionPlan::of(config, input.exec.is_some())
            },
            warnings: warning.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::config::{LimitsConfig, SecurityConfig};
    use crate::container::Volume;

    fn config(net: Net) -> ContainerConfig {
        ContainerConfig {
            name: "web".into(),
            hostname: "web1".into(),
            images: vec!["base:1".parse().expect("ref")],
            vip: (net == Net::Bridge).then(|| Ipv4Addr::new(172, 30, 254, 20)),
            net,
            host_eth: None,
            port_mappings: vec!["8080:80".parse().expect("map")],
            volumes: vec![Volume {
                host: "/srv/web".into(),
                container: "/data".into(),
                read_only: true,
            }],
            limits: LimitsConfig {
                cpus: Some(vec![0]),
                cpu_quota_percent: Some(50),
                mem_limit_bytes: Some(64 << 20),
                pids_limit: Some(100),
                cpu_shares: Some(512),
            },
            autostart: None,
            restart: None,
            services: vec!["web=httpd -f -p 8080".parse().expect("service")],
            security: SecurityConfig::default(),
            created: "now".into(),
            env: vec![],
            workdir: None,
            user: None,
            command: None,
            auto_remove: false,
            tty: false,
        }
    }

    fn network() -> NetworkConfig {
        NetworkConfig {
            bridge: "xdtest0".into(),
            subnet: "172.30.254.0/24".into(),
            nft_table: "xdtest".into(),
        }
    }

    fn plan(c: &ContainerConfig, n: &NetworkConfig, exec: Option<&str>) -> BootPlan {
        try_plan(c, n, exec).expect("plan")
    }

    fn try_plan(
        c: &ContainerConfig,
        n: &NetworkConfig,
        exec: Option<&str>,
    ) -> Result<BootPlan, RuntimeError> {
        try_plan_in(c, n, exec, false)
    }

    fn try_plan_in(
        c: &ContainerConfig,
        n: &NetworkConfig,
        exec: Option<&str>,
        background: bool,
    ) -> Result<BootPlan, RuntimeError> {
        let name = Name::parse_as("container name", "web").expect("name");
        BootPlan::new(PlanInput {
            name: &name,
            config: c,
            network: n,
            netns_name: "nns0123456789".into(),
            container_dir: Path::new("/home/x/containers/web"),
            layers: vec!["/home/x/images/base/1/rlayer".into()],
            resolver: HostResolver {
                upstream: "nameserver 192.0.2.53\n".into(),
                etc_resolv_conf: Some("nameserver 127.0.0.53\n".into()),
            },
            exec,
            background,
            logs: &LogsConfig::default(),
            user_network: None,
        })
    }

    #[test]
    fn only_a_tty_main_process_in_the_background_gets_a_terminal_of_its_own() {
        let mut c = config(Net::Host);
        let n = network();
        let main_tty = |c: &ContainerConfig, exec, background| {
            try_plan_in(c, &n, exec, background).expect("plan").main_tty
        };
        assert!(!main_tty(&c, Some("sh"), true), "no -t");
        c.tty = true;
        assert!(main_tty(&c, Some("sh"), true), "run -dit, start, start -a");
        // The original grammar's `-a boot -e CMD` keeps the caller's terminal.
        assert!(!main_tty(&c, Some("sh"), false), "-a boot -e");
        assert!(!main_tty(&c, None, false), "no main process");
    }

    fn file<'a>(p: &'a BootPlan, path: &str) -> Option<&'a str> {
        p.rootfs
            .files
            .iter()
            .find(|(f, _)| f == Path::new(path))
            .map(|(_, text)| text.as_str())
    }

    #[test]
    fn a_bridge_container_gets_its_netns_veth_vip_and_files() {
        let p = plan(&config(Net::Bridge), &network(), None);
        assert_eq!(p.network.netns(), Some("nns0123456789"));
        let b = p.network.bridge().expect("bridge");
        assert_eq!(b.veth, "vx0123456789");
        assert_eq!(b.bridge, "xdtest0");
        assert_eq!(b.maps.len(), 1);
        let eth0 = p.network.inside().and_then(|i| i.eth0).expect("eth0");
        assert_eq!(eth0.vip, Ipv4Addr::new(172, 30, 254, 20));
        assert_eq!(eth0.prefix, 24);
        assert_eq!(eth0.gateway, Ipv4Addr::new(172, 30, 254, 1));
        assert!(file(&p, "/etc/hosts")
            .expect("hosts")
            .contains("172.30.254.20"));
        assert!(file(&p, "/etc/resolv.conf")
            .expect("resolv")
            .contains("192.0.2.53"));
        assert!(p.clone_flags.contains(CloneFlags::CLONE_NEWNET) || p.userns.is_some());
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn the_files_written_are_the_ones_to_image_strips() {
        for net in [Net::Host, Net::Custom, Net::Bridge] {
            let p = plan(&config(net.clone()), &network(), None);
            let written: Vec<&Path> = p.rootfs.files.iter().map(|(f, _)| f.as_path()).collect();
            let stripped: Vec<&Path> = crate::container::runtime_files::etc_paths(&net)
                .iter()
                .map(Path::new)
                .collect();
            assert_eq!(written, stripped, "{net}");
        }
    }

    #[test]
    fn host_and_custom_containers_differ_in_netns_and_resolver() {
        let host = plan(&config(Net::Host), &network(), None);
        assert_eq!(host.network.netns(), None);
        assert_eq!(host.network.inside(), None);
        assert!(!host.clone_flags.contains(CloneFlags::CLONE_NEWNET));
        assert_eq!(
            file(&host, "/etc/resolv.conf"),
            Some("nameserver 127.0.0.53\n")
        );
        assert!(file(&host, "/etc/hosts")
            .expect("hosts")
            .contains("127.0.1.1"));
        let custom = plan(&config(Net::Custom), &network(), None);
        assert_eq!(custom.network.netns(), Some("nns0123456789"));
        assert_eq!(
            custom.network.inside(),
            Some(InsideNet {
                eth0: None,
                dhcp: false
            })
        );
        assert_eq!(file(&custom, "/etc/resolv.conf"), None);
    }

    #[test]
    fn rootfs_limits_and_exec_come_from_the_config() {
        let c = config(Net::Host);
        let p = plan(&c, &network(), Some("echo hi"));
        assert_eq!(
            p.rootfs.upper,
            PathBuf::from("/home/x/containers/web/rwlayer")
        );
        assert_eq!(p.rootfs.lowers.len(), 1);
        assert_eq!(p.rootfs.volumes, c.volumes);
        assert!(p.rootfs.volumes[0].read_only);
        assert_eq!(p.rootfs.hostname, "web1");
        assert_eq!(p.limits.cpu_quota_percent, Some(50));
        assert_eq!(p.limits.pids_max, Some(100));
        assert_eq!(p.limits.cpu_shares, Some(512));
        assert_eq!(p.cgroup, "web");
        assert_eq!(p.exec.as_deref(), Some("echo hi"));
        assert_eq!(
            p.logs,
            LogPlan {
                max_size: 10 << 20,
                max_files: 5
            }
        );
    }

    #[test]
    fn services_and_restart_policies_reach_xdockerinit() {
        let mut c = config(Net::Host);
        let host = plan(&c, &network(), None);
        assert_eq!(
            host.supervision.init_args(),
            [
                "--boot-dir",
                "/etc/xdocker/boot.d",
                "--service-restart",
                "on-failure",
                "--service",
                "web=httpd -f -p 8080",
            ]
        );
        let exec = plan(&c, &network(), Some("exit 1"));
        assert_eq!(exec.supervision.main_restart, Some(RestartPolicy::No));
        c.restart = Some(RestartPolicy::OnFailure(Some(3)));
        c.services.clear();
        let exec = plan(&c, &network(), Some("exit 1"));
        assert_eq!(
            exec.supervision.init_args(),
            [
                "--boot-dir",
                "/etc/xdocker/boot.d",
                "--service-restart",
                "on-failure:3",
                "--restart",
                "on-failure:3",
            ]
        );
        // A host container has no main process to restart.
        assert_eq!(plan(&c, &network(), None).supervision.main_restart, None);
    }

    #[test]
    fn the_containers_variables_go_over_the_defaults() {
        let mut c = config(Net::Host);
        assert_eq!(
            plan(&c, &network(), None).env,
            [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root",
                "container=xdocker",
            ]
        );
        c.env = ["A=x y", "HOME=/home/app", "B=\"q\" = $HOME ü"]
            .iter()
            .map(|v| v.parse().expect("var"))
            .collect();
        assert_eq!(
            plan(&c, &network(), None).env,
            [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/home/app",
                "container=xdocker",
                "A=x y",
                "B=\"q\" = $HOME ü",
            ]
        );
    }

    #[test]
    fn workdir_and_user_go_to_xdockerinit_and_the_user_gets_its_home() {
        let mut c = config(Net::Host);
        assert!(plan(&c, &network(), None).identity_args().is_empty());
        c.workdir = Some("/srv/app".into());
        c.user = Some("app:staff".into());
        let p = plan(&c, &network(), Some("id"));
        assert_eq!(
            p.identity_args(),
            ["--workdir", "/srv/app", "--user", "app:staff"]
        );
        // No default HOME: xdockerinit sets the user's.
        assert!(!p.env.iter().any(|e| e.starts_with("HOME=")), "{:?}", p.env);
        c.env = vec!["HOME=/data".parse().expect("var")];
        assert!(plan(&c, &network(), None)
            .env
            .contains(&"HOME=/data".to_string()));
    }

    #[test]
    fn privileged_and_unprivileged_containers_are_confined_differently() {
        let mut c = config(Net::Host);
        let privileged = plan(&c, &network(), None);
        assert_eq!(privileged.seccomp, SeccompPlan::Privileged);
        assert!(privileged.clone_flags.contains(CloneFlags::CLONE_NEWUTS));
        c.security.userns = Some(UsernsIds {
            uid: 1_000_000,
            gid: 1_000_000,
        });
        let unprivileged = plan(&c, &network(), None);
        assert_eq!(unprivileged.seccomp, SeccompPlan::Default);
        // Made inside the user namespace instead.
        assert!(!unprivileged.clone_flags.contains(CloneFlags::CLONE_NEWUTS));
        assert!(!unprivileged.clone_flags.contains(CloneFlags::CLONE_NEWNET));
        // HOST network: a privileged container loses net_admin, an
        // unprivileged one never had it on the host.
        assert!(privileged.drop_caps.len() > unprivileged.drop_caps.len());
        c.security.seccomp = false;
        assert_eq!(plan(&c, &network(), None).seccomp, SeccompPlan::Off);
    }

    #[test]
    fn bad_settings_are_refused_before_anything_is_made() {
        let mut c = config(Net::Bridge);
        c.vip = None;
        let e = try_plan(&c, &network(), None).expect_err("no vip");
        assert_eq!(
            e.to_string(),
            "container web: has no VIP (set one with -a vip)"
        );
        c.vip = Some(Ipv4Addr::new(10, 0, 0, 1));
        let e = try_plan(&c, &network(), None).expect_err("outside");
        assert!(e.to_string().starts_with("container web: "), "{e}");
        let mut n = network();
        n.bridge = "a/b".into();
        let e = try_plan(&config(Net::Bridge), &n, None).expect_err("bridge name");
        assert!(
            e.to_string()
                .contains("xdocker.toml: [network]: [network] bridge 'a/b'"),
            "{e}"
        );
        let mut n = network();
        n.subnet = "nonsense".into();
        assert!(try_plan(&config(Net::Bridge), &n, None).is_err());
        // Other networks do not look at [network].
        assert!(try_plan(&config(Net::Custom), &n, None).is_ok());
    }

    fn user_plan(c: &ContainerConfig, def: &NetworkDef, members: Vec<Member>) -> BootPlan {
        let name = Name::parse_as("container name", "web").expect("name");
        BootPlan::new(PlanInput {
            name: &name,
            config: c,
            network: &network(),
            netns_name: "nns0123456789".into(),
            container_dir: Path::new("/x"),
            layers: vec![],
            resolver: HostResolver {
                upstream: "nameserver 192.0.2.53\n".into(),
                etc_resolv_conf: None,
            },
            exec: None,
            background: false,
            logs: &LogsConfig::default(),
            user_network: Some(UserNetwork {
                def,
                others: vec!["172.30.254.0/24".parse().expect("net")],
                members,
            }),
        })
        .expect("plan")
    }

    fn def(driver: Driver, subnet: Option<&str>) -> NetworkDef {
        NetworkDef {
            name: "front".into(),
            driver,
            subnet: subnet.map(str::to_string),
            gateway: None,
            bridge: (driver == Driver::Bridge).then(|| "xdbfront".to_string()),
            internal: true,
            parent: (driver == Driver::Macvlan).then(|| "eth9".to_string()),
            macvlan_mode: (driver == Driver::Macvlan).then_some(net::store::MacvlanMode::Vepa),
            dhcp: subnet.is_none(),
            created: String::new(),
        }
    }

    #[test]
    fn a_bridge_network_container_is_isolated_and_knows_its_members() {
        let mut c = config(Net::Named(Name::parse_as("n", "front").expect("name")));
        c.vip = Some(Ipv4Addr::new(10, 91, 0, 5));
        let d = def(Driver::Bridge, Some("10.91.0.0/24"));
        let other = Member {
            name: "db".into(),
            hostname: "db1".into(),
            vip: Ipv4Addr::new(10, 91, 0, 6),
        };
        let p = user_plan(&c, &d, vec![other]);
        let b = p.network.bridge().expect("bridge");
        assert_eq!(b.bridge, "xdbfront");
        let iso = b.isolation.as_ref().expect("isolated");
        assert!(iso.internal && iso.others.len() == 1);
        let hosts = file(&p, "/etc/hosts").expect("hosts");
        assert!(
            hosts.contains("10.91.0.5\tweb1\n") && hosts.contains("10.91.0.6\tdb db1\n"),
            "{hosts}"
        );
        assert!(p.supervision.dhcp.is_none());
        // An address outside the network's subnet is refused.
        c.vip = Some(Ipv4Addr::new(172, 30, 254, 9));
        let name = Name::parse_as("container name", "web").expect("name");
        let e = BootPlan::new(PlanInput {
            name: &name,
            config: &c,
            network: &network(),
            netns_name: "nns0123456789".into(),
            container_dir: Path::new("/x"),
            layers: vec![],
            resolver: HostResolver::default(),
            exec: None,
            background: false,
            logs: &LogsConfig::default(),
            user_network: None,
        })
        .expect_err("no network given");
        assert!(e.to_string().contains("network front not found"), "{e}");
    }

    #[test]
    fn macvlan_containers_get_a_static_address_or_dhcp() {
        let mut c = config(Net::Named(Name::parse_as("n", "front").expect("name")));
        c.vip = Some(Ipv4Addr::new(10, 92, 0, 7));
        let p = user_plan(&c, &def(Driver::Macvlan, Some("10.92.0.0/24")), vec![]);
        let m = p.network.macvlan().expect("macvlan");
        assert_eq!((m.parent.as_str(), m.mac[0], m.dhcp), ("eth9", 0x02, false));
        let inside = p.network.inside().expect("inside");
        assert_eq!(
            inside.eth0.map(|e| e.gateway),
            Some(Ipv4Addr::new(10, 92, 0, 1))
        );
        assert!(p.network.bridge().is_none());
        c.vip = None;
        let p = user_plan(&c, &def(Driver::Macvlan, None), vec![]);
        assert_eq!(
            p.network.inside().map(|i| (i.eth0, i.dhcp)),
            Some((None, true))
        );
        assert_eq!(p.supervision.dhcp.as_deref(), Some("web1"));
        assert!(p
            .supervision
            .init_args()
            .ends_with(&["--dhcp".to_string(), "web1".to_string()]));
        assert_eq!(file(&p, xdockerinit::dhcp::LEASE_FILE), Some(""));
    }

    #[test]
    fn a_host_without_a_reachable_nameserver_is_warned_about() {
        let name = Name::parse_as("container name", "web").expect("name");
        let c = config(Net::Bridge);
        let n = network();
        let p = BootPlan::new(PlanInput {
            name: &name,
            config: &c,
            network: &n,
            netns_name: "nns0123456789".into(),
            container_dir: Path::new("/x"),
            layers: vec![],
            resolver: HostResolver {
                upstream: "nameserver 127.0.0.53\n".into(),
                etc_resolv_conf: None,
            },
            exec: None,
            background: false,
            logs: &LogsConfig::default(),
            user_network: None,
        })
        .expect("plan");
        assert_eq!(p.warnings.len(), 1);
    }
}
