//! What a home is, as `-s info` without `-c` (and `xdocker info`) shows
//! it: the host-wide names it uses (derived from its path unless
//! xdocker.toml sets them, so that homes never collide), the cgroup
//! hierarchy, and how many containers, images and networks it holds.

use std::path::PathBuf;

use serde::Serialize;

use super::{inspect, LifecycleError};
use crate::container::Status;
use crate::runtime::Runtime;

/// The host-wide names a home uses; every container's `-s info` shows them
/// too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HomeNames {
    pub path: PathBuf,
    pub cgroup_root: PathBuf,
    pub cgroup_parent: String,
    pub bridge: String,
    pub subnet: String,
    pub nft_table: String,
}

impl HomeNames {
    /// The names of the runtime's home, as its configuration has them.
    pub fn of(rt: &Runtime) -> Self {
        let (net, cg) = (&rt.config.network, &rt.config.cgroups);
        Self {
            path: rt.containers.home().root().to_path_buf(),
            cgroup_root: cg.root.clone(),
            cgroup_parent: cg.parent.clone(),
            bridge: net.bridge.clone(),
            subnet: net.subnet.clone(),
            nft_table: net.nft_table.clone(),
        }
    }
}

/// How many containers are in each state.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerCounts {
    pub total: usize,
    pub running: usize,
    pub paused: usize,
    pub stopped: usize,
    /// Without a readable config (listed as BROKEN, removed by destroy).
    pub broken: usize,
}

/// The home as a whole.
#[derive(Debug, Clone, Serialize)]
pub struct HomeSummary {
    pub version: String,
    #[serde(flatten)]
    pub names: HomeNames,
    /// `xdocker.toml`, and whether it exists (without it every setting is
    /// its default).
    pub config_file: PathBuf,
    pub config_file_exists: bool,
    /// `v1` (including the hybrid layout), `v2`, or `none (why)`.
    pub cgroup_version: String,
    pub containers: ContainerCounts,
    /// Image versions (broken ones included).
    pub images: usize,
    /// User-defined networks (BRIDGE not counted).
    pub networks: usize,
    pub log_max_size: u64,
    pub log_max_files: u32,
}

/// The home of `rt`: its names, cgroups and contents. Looking releases
/// leftovers of containers found stopped, as `-s containers` does.
pub fn home(rt: &Runtime) -> Result<HomeSummary, LifecycleError> {
    let mut containers = ContainerCounts::default();
    for c in inspect::list(rt)? {
        containers.total += 1;
        match (&c.config, c.status) {
            (Err(_), _) => containers.broken += 1,
            (Ok(_), Status::Running { .. }) => containers.running += 1,
            (Ok(_), Status::Paused { .. }) => containers.paused += 1,
            (Ok(_), Status::Stopped) => containers.stopped += 1,
        }
    }
    let home = rt.containers.home();
    let config_file = home.config_path();
    Ok(HomeSummary {
        version: env!("CARGO_PKG_VERSION").to_string(),
        names: HomeNames::of(rt),
        config_file_exists: config_file.is_file(),
        config_file,
        // A host without a usable hierarchy still gets the rest.
        cgroup_version: rt
            .cgroup_version()
            .map_or_else(|e| format!("none ({e})"), str::to_string),
        containers,
        images: rt.images.list()?.len(),
        networks: rt.network_store().load()?.len(),
        log_max_size: rt.config.logs.max_size.0,
        log_max_files: rt.config.logs.max_files,
    })
}
