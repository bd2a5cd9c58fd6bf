//! The `-s SHOW` / `-a ACTION` command line (SPEC §1): clap parses and checks
//! the form of every value; [`Request::from_args`] then checks which options
//! each show or action needs and accepts, so a mistake gets one clear line.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, ValueEnum};

use crate::container::env::EnvArg;
use crate::container::logs::Since;
use crate::container::{RestartPolicy, Service, Volume};
use crate::image::repo::SshRepo;
use crate::names::{parse_image_list, ImageRef, Name, Version};
use crate::network::store::{Driver, MacvlanMode};
use crate::network::{parse_port_maps, Net, PortMap};

/// Read-only shows (`-s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Show {
    Images,
    Containers,
    ContainerRoot,
    Ssearch,
    Info,
    Logs,
    Networks,
    // builds (issue 22)
    BuildCache,
}

/// Actions (`-a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Action {
    InstallTest,
    Create,
    Boot,
    Attach,
    Run,
    Shutdown,
    Kill,
    Destroy,
    Version,
    Vip,
    PortMapping,
    Volume,
    ToImage,
    ToContainer,
    Commit,
    CopyImage,
    DelImage,
    Export,
    Import,
    Spush,
    Spull,
    Rplfile,
    Putfile,
    Getfile,
    Autostart,
    Service,
    Pause,
    Continue,
    Restart,
    Env,
    NetworkCreate,
    NetworkRemove,
    Net,
    // builds (issue 22)
    Build,
    PruneBuildCache,
}

/// `--autostart ORDER|off`: boot the container at host start (lower
/// orders first), or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Autostart {
    Order(u32),
    Off,
}

impl FromStr for Autostart {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" | "no" => Ok(Self::Off),
            _ => match s.parse::<u32>() {
                Ok(n) if n <= 9999 => Ok(Self::Order(n)),
                _ => Err(format!("'{s}' is not an autostart order 0-9999 or off")),
            },
        }
    }
}

impl Autostart {
    /// The order as stored in a container's config (None: not started).
    pub fn order(self) -> Option<u32> {
        match self {
            Self::Order(n) => Some(n),
            Self::Off => None,
        }
    }
}

/// `--service NAME=CMD`, or `none` (with `-a service`: no services).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceArg {
    Service(Service),
    None,
}

impl FromStr for ServiceArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            _ => s.parse().map(Self::Service),
        }
    }
}

/// `--cap-add`/`--cap-drop LIST`: capability names, comma separated, as
/// `net_admin`, `NET_ADMIN` or `CAP_NET_ADMIN`; kept in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapList(pub Vec<String>);

impl FromStr for CapList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut caps = Vec::new();
        for name in s.split(',') {
            let cap = crate::runtime::caps::canonical(name).ok_or_else(|| {
                format!("'{name}' is not a capability (like net_admin or CAP_SYS_TIME)")
            })?;
            if !caps.iter().any(|c| c == cap) {
                caps.push(cap.to_string());
            }
        }
        Ok(Self(caps))
    }
}

/// The largest `pids.max` the kernel takes (PID_MAX_LIMIT, 4194304).
pub const PIDS_LIMIT_MAX: u64 = 1 << 22;

/// `--pids-limit N`, 1 to [`PIDS_LIMIT_MAX`].
pub fn parse_pids_limit(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if (1..=PIDS_LIMIT_MAX).contains(&n) => Ok(n),
        _ if s.parse::<u64>().is_ok_and(|n| n > PIDS_LIMIT_MAX) => Err(format!(
            "'{s}' is more processes than the kernel allows ({PIDS_LIMIT_MAX})"
        )),
        _ => Err(format!("'{s}' is not a process count of 1 or more")),
    }
}

/// `--seccomp on|off`.
fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" | "default" => Ok(true),
        "off" | "unconfined" => Ok(false),
        _ => Err(format!("'{s}' is not on or off")),
    }
}

/// `--cpus 0,1|1-3`: a cpuset list, kept as written once validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<u32>);

impl FromStr for CpuList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut cpus = Vec::new();
        for part in s.split(',') {
            let bad = || format!("'{s}' is not a CPU list like 0,1 or 1-3");
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a, b),
                None => (part, part),
            };
            let a: u32 = a.parse().map_err(|_| bad())?;
            let b: u32 = b.parse().map_err(|_| bad())?;
            if a > b || b >= 8192 {
                return Err(bad());
            }
            cpus.extend(a..=b);
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(Self(cpus))
    }
}

/// `--cpu-quota N%`: percent of one CPU (200% = two CPUs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuQuota(pub u32);

impl FromStr for CpuQuota {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let n = s.strip_suffix('%').unwrap_or(s);
        match n.parse::<u32>() {
            Ok(p) if (1..=100_000).contains(&p) => Ok(Self(p)),
            _ => Err(format!("'{s}' is not a CPU quota like 25%")),
        }
    }
}

/// The largest memory limit the kernel takes: PAGE_COUNTER_MAX pages
/// (`LONG_MAX` bytes rounded down to a 4 KiB page), what both
/// `memory.limit_in_bytes` and `memory.max` read back as "no limit".
pub const MEM_LIMIT_MAX: u64 = 0x7fff_ffff_ffff_f000;

/// `--mem-limit N|NK|NM|NG|NT|NP` in bytes, 1M to [`MEM_LIMIT_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemLimit(pub u64);

impl FromStr for MemLimit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a memory size like 512M or 2G");
        let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            Some((i, _)) => s.split_at(i),
            None => (s, ""),
        };
        let too_big = || format!("memory limit '{s}' is more than the kernel takes (8E)");
        let n: u64 = digits
            .parse()
            .map_err(|e: std::num::ParseIntError| match e.kind() {
                std::num::IntErrorKind::PosOverflow => too_big(),
                _ => bad(),
            })?;
        let mult: u64 = match unit.to_ascii_uppercase().as_str() {
            "" | "B" => 1,
            "K" | "KB" => 1 << 10,
            "M" | "MB" => 1 << 20,
            "G" | "GB" => 1 << 30,
            "T" | "TB" => 1 << 40,
            "P" | "PB" => 1 << 50,
            _ => return Err(bad()),
        };
        match n.checked_mul(mult) {
            Some(b) if b > MEM_LIMIT_MAX => Err(format!(
                "memory limit '{s}' is more than the kernel takes (8E)"
            )),
            Some(b) if b >= 1 << 20 => Ok(Self(b)),
            Some(_) => Err(format!("memory limit '{s}' is below 1M")),
            None => Err(format!(
                "memory limit '{s}' is more than the kernel takes (8E)"
            )),
        }
    }
}

/// `--cpu-shares N`, the range of v1 `cpu.shares`.
pub fn parse_cpu_shares(s: &str) -> Result<u64, String> {
    use crate::cgroups::{CPU_SHARES_MAX, CPU_SHARES_MIN};
    match s.parse::<u64>() {
        Ok(n) if (CPU_SHARES_MIN..=CPU_SHARES_MAX).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' is not a CPU share count of {CPU_SHARES_MIN} to {CPU_SHARES_MAX} (default 1024)"
        )),
    }
}

pub fn parse_hostname(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}' is not a valid hostname"))
    }
}

fn parse_ifname(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() < 16
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != ':');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}' is not a network interface name"))
    }
}

pub fn parse_container_name(s: &str) -> Result<Name, String> {
    Name::parse_as("container name", s).map_err(|e| e.to_string())
}

/// `-m NAME[:V][,NAME[:V]...]`, bottom layer first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageList(pub Vec<ImageRef>);

fn parse_image_name_list(s: &str) -> Result<ImageList, String> {
    parse_image_list(s)
        .map(ImageList)
        .map_err(|e| e.to_string())
}

/// `--port-mapping H:C[,H:C...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMaps(pub Vec<PortMap>);

fn parse_port_map_list(s: &str) -> Result<PortMaps, String> {
    parse_port_maps(s).map(PortMaps)
}

fn parse_image_ref(s: &str) -> Result<ImageRef, String> {
    s.parse::<ImageRef>().map_err(|e| e.to_string())
}

fn parse_version(s: &str) -> Result<Version, String> {
    s.parse::<Version>().map_err(|e| e.to_string())
}

fn parse_nonempty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("the command is empty".to_string())
    } else {
        Ok(s.to_string())
    }
}

/// `--workdir DIR`: an absolute path.
pub fn parse_workdir(s: &str) -> Result<String, String> {
    xdockerinit::user::check_workdir(s)
        .map(|()| s.to_string())
        .map_err(|e| e.to_string())
}

/// `--user USER[:GROUP]`: names or numbers (resolved inside at start).
pub fn parse_user(s: &str) -> Result<String, String> {
    xdockerinit::user::UserSpec::parse(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// The shows and actions with the options they take, for --help and the
/// man page's SHOWS AND ACTIONS.
pub const VERBS_HELP: &str = "\
Shows:
  images          [--json]
  containers      [--json]
  container_root  -c C [--json]
  ssearch         [--srepo user@host[:port][/dir]] [--match S] [--json]
  info            [-c C] [--json]      without -c: the home (names, cgroups, counts)
  logs            -c C [--follow] [--tail N|all] [--since TIME] [--timestamps] [--json]
                  the console log: the -e main process's stdout and stderr,
                  /dev/console; --follow ends when the container stops
  networks        [--json]             BRIDGE and the user-defined networks
  build_cache     [--json]             the build cache's layers: size, last use, users
Actions:
  install_test    [--version V]
  create          -m IMAGES [-c C] [create opts] [-b [cgroup opts] [-t | -e CMD]]
  boot            -c C [cgroup opts] [env opts] [-t | -e CMD]
  attach          -c C                 (Ctrl-a q detaches, the container runs on)
  run             -c C --cmd CMD
  shutdown | kill -c C
  pause | continue -c C                freeze every process of C / let them run on
  restart         -c C [cgroup opts]   shutdown and boot again (a stopped C just boots)
  destroy         -c C [-h]
  version         -m NAME[:V] [--version NEW]
  vip             -c C --vip IP
  port_mapping    -c C --port-mapping H:C[,H:C...]
  volume          -c C --volume HOST[:CTR[:ro]] [--volume ...]
  to_image        --from-container C --to-image NAME [--version V]
                  consumes C: its writable layer becomes the image, C is gone
  to_container    --from-image NAME[:V] --to-container C [-m BASES] [create opts]
                  [cgroup opts]
                  consumes the image: its layer becomes C's writable layer
  commit          --from-container C --to-image NAME [--version V]
                  a new image from C's changes; C stays (paused for the
                  copy if it runs)
  copy_image      --from-image NAME[:V] --to-image NAME[:V]
  del_image       -m NAME[:V]
  export          -m NAME[:V] [--image-file F]
  export          -c C [--image-file F]  C's whole file system as one layer
  import          --image-file F [-m NAME[:V]]
  spush | spull   -m NAME[:V]
  rplfile         -c C --template-file T --mapping-file M [--instance-file I]
  putfile         -c C --src-file HOST --dst-file CTR
  getfile         -c C --src-file CTR --dst-file HOST
  autostart       [-h]                 boot (-h: shut down) every autostart container
  autostart       -c C --autostart ORDER|off
  service         -c C [--service NAME=CMD ... | --service none] [--restart POLICY]
                  replaces the services (none: removes them) of a stopped container
  env             -c C [env opts]      replaces the variables (none given: clears them)
  network_create  --network NAME --driver bridge --subnet CIDR [--gateway IP]
                  [--bridge IF] [--internal]
  network_create  --network NAME --driver macvlan --parent IF
                  [--macvlan-mode bridge|private|vepa|passthru]
                  (--subnet CIDR [--gateway IP] | --dhcp)
  network_remove  --network NAME [-f]  (-f: its stopped containers go to CUSTOM)
  net             -c C --net NET [--vip IP]  moves a stopped container
  build           --to-image NAME [--version V] [--file F] [--context DIR]
                  [--build-arg K=V ...] [--target STAGE] [--no-cache] [--squash]
                  [--net NET]  an image from a recipe (Dockerfile syntax); each
                  step a cached layer (default file: Xdockerfile, else Dockerfile)
  prune_build_cache [--all]            removes cached layers no image or
                  container uses (unused a day, or dangling; --all: every one)
Create opts: --host --net HOST|CUSTOM|BRIDGE|NETWORK (default HOST: the host's network)
             --host-eth --vip --port-mapping --volume
             --autostart ORDER --cap-add CAPS --cap-drop CAPS --seccomp on|off
             [env opts]
             --userns on|off (default on: unprivileged; off: privileged,
             root inside is host root, for trusted workloads only)
             --service NAME=CMD (repeatable) --restart POLICY
Cgroup opts: --cpus --cpu-quota --cpu-shares --mem-limit --pids-limit (boot also:
             --restart)
Env opts:    --env KEY=VALUE|KEY --env-file FILE (repeatable; at boot they go
             over the stored variables, later ones win)
             --workdir DIR --user USER[:GROUP]: of the main process and the
             sessions (create, to_container, boot: stored, as the env)
Restart policies: no | on-failure[:N] | always, for the -e main process
             (default no) and the services (default on-failure); boot
             services: --service ones and the executables of the image's
             /etc/xdocker/boot.d, started at every boot
Names: letters, digits and =._-, at most 64, not . or .., not starting with -.
Images are NAME[:VERSION]; no version is stored as _. Exit codes: 0 ok,
1 failure, 2 bad command line. Home: $XDOCKER_HOME (default /var/xdocker).";

/// Every option of the command line; which ones apply is checked per verb.
#[derive(Debug, Parser)]
#[command(
    name = "xdocker",
    version,
    after_help = VERBS_HELP,
    about = "VM-like Linux system containers: images, stacked layers, xdockerinit as PID 1",
    disable_help_flag = true,
    disable_version_flag = true,
    color = clap::ColorChoice::Never,
    override_usage = "xdocker -s SHOW [OPTIONS]\n       xdocker -a ACTION [OPTIONS]\n       xdocker -v | --help"
)]
pub struct Args {
    /// Show something (read-only)
    #[arg(short = 's', long = "show", value_name = "SHOW")]
    pub show: Option<Show>,
    /// Do something
    #[arg(short = 'a', long = "action", value_name = "ACTION")]
    pub action: Option<Action>,
    /// Print xdocker's version
    #[arg(short = 'v', action = ArgAction::SetTrue)]
    pub print_version: bool,
    /// Print debug lines on stderr (always logged)
    #[arg(short = 'd', long = "debug")]
    pub debug: bool,
    /// Skip errors that can safely be skipped; replace existing objects
    #[arg(short = 'f', long = "forcely")]
    pub force: bool,
    /// Print help
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Machine-readable output for shows
    #[arg(long = "json")]
    pub json: bool,

    /// Container name
    #[arg(short = 'c', long = "container", value_name = "C", value_parser = parse_container_name)]
    pub container: Option<Name>,
    /// Images NAME[:V][,NAME[:V]...], bottom layer first
    #[arg(short = 'm', long = "image", value_name = "IMAGES", value_parser = parse_image_name_list)]
    pub images: Option<ImageList>,
    /// Boot right after create
    #[arg(short = 'b', long = "boot")]
    pub boot: bool,
    /// Attach a terminal right after boot
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Run CMD as the container's main process (single-process mode)
    #[arg(short = 'e', long = "exec", value_name = "CMD", value_parser = parse_nonempty)]
    pub exec: Option<String>,
    /// With destroy: shut the container down first; with autostart: shut
    /// down; alone: print help
    #[arg(short = 'h', long = "shutdown")]
    pub shutdown: bool,

    /// Hostname of the container (default: its name)
    #[arg(long = "host", value_name = "HOSTNAME", value_parser = parse_hostname)]
    pub host: Option<String>,
    /// Network: HOST (the default: the host's network), CUSTOM (a namespace
    /// of its own), BRIDGE (a VIP on the home's bridge, NAT, port maps) or
    /// the name of a user-defined network (-a network_create)
    #[arg(long = "net", value_name = "NET", value_parser = NetParser)]
    pub net: Option<Net>,
    /// Outgoing interface for NAT
    #[arg(long = "host-eth", value_name = "IF", value_parser = parse_ifname)]
    pub host_eth: Option<String>,
    /// The container's IPv4 address
    #[arg(long = "vip", value_name = "IP")]
    pub vip: Option<Ipv4Addr>,
    /// Port maps HOST:CTR[/udp][,...]
    #[arg(long = "port-mapping", value_name = "MAPS", value_parser = parse_port_map_list)]
    pub port_mapping: Option<PortMaps>,
    /// Volume HOST[:CTR[:ro|rw]] (repeatable; ro: read-only, for root
    /// inside too)
    #[arg(long = "volume", value_name = "HOST[:CTR[:ro]]")]
    pub volume: Vec<Volume>,
    /// CPUs to pin to, e.g. 0,1 or 1-3
    #[arg(long = "cpus", value_name = "LIST")]
    pub cpus: Option<CpuList>,
    /// CPU quota, e.g. 25%
    #[arg(long = "cpu-quota", value_name = "N%")]
    pub cpu_quota: Option<CpuQuota>,
    /// Relative CPU weight when CPUs are busy, 2 to 262144 (default 1024)
    #[arg(long = "cpu-shares", value_name = "N", value_parser = parse_cpu_shares)]
    pub cpu_shares: Option<u64>,
    /// Memory limit, e.g. 512M
    #[arg(long = "mem-limit", value_name = "SIZE")]
    pub mem_limit: Option<MemLimit>,
    /// Most processes at once, e.g. 500 (a fork bomb stops there)
    #[arg(long = "pids-limit", value_name = "N", value_parser = parse_pids_limit)]
    pub pids_limit: Option<u64>,
    /// Boot at host start, lower ORDER first (off: do not)
    #[arg(long = "autostart", value_name = "ORDER")]
    pub autostart: Option<Autostart>,
    /// Keep capabilities dropped by default, e.g. sys_time
    #[arg(long = "cap-add", value_name = "CAPS")]
    pub cap_add: Option<CapList>,
    /// Drop more capabilities, e.g. net_raw,mknod
    #[arg(long = "cap-drop", value_name = "CAPS")]
    pub cap_drop: Option<CapList>,
    /// Restart policy: no, on-failure[:N] or always; of the -e main process
    /// (default no) and of the services (default on-failure)
    #[arg(long = "restart", value_name = "POLICY")]
    pub restart: Option<RestartPolicy>,
    /// Boot service NAME=CMD, started at every boot through /bin/sh -c
    /// (repeatable; -a service --service none removes them all)
    #[arg(long = "service", value_name = "NAME=CMD")]
    pub service: Vec<ServiceArg>,
    /// The default seccomp filter: on (default) or off
    #[arg(long = "seccomp", value_name = "on|off", value_parser = parse_on_off)]
    pub seccomp: Option<bool>,
    /// A user namespace: root inside is an unprivileged host id (on, the
    /// default where the kernel and file system can idmap), or host root
    /// (off: privileged, not root-safe, for trusted workloads only)
    #[arg(long = "userns", value_name = "on|off", value_parser = parse_on_off)]
    pub userns: Option<bool>,

    /// Environment variable of every process of the container (repeatable;
    /// KEY alone: the host's value)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<EnvArg>,
    /// File of KEY=VALUE lines (Docker's format: # comments, KEY alone
    /// takes the host's value; repeatable)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory of the main process and the sessions (absolute;
    /// made at boot when missing)
    #[arg(long = "workdir", value_name = "DIR", value_parser = parse_workdir)]
    pub workdir: Option<String>,
    /// User of the main process and the sessions: NAME, UID, NAME:GROUP or
    /// UID:GID of the container's /etc/passwd and /etc/group
    #[arg(long = "user", value_name = "USER[:GROUP]", value_parser = parse_user)]
    pub user: Option<String>,

    /// Command for run (through sh -c)
    #[arg(long = "cmd", value_name = "CMD", value_parser = parse_nonempty)]
    pub cmd: Option<String>,
    /// Source container of to_image (consumed: it becomes the image) or
    /// commit (it stays)
    #[arg(long = "from-container", value_name = "C", value_parser = parse_container_name)]
    pub from_container: Option<Name>,
    /// Target image
    #[arg(long = "to-image", value_name = "NAME[:V]", value_parser = parse_image_ref)]
    pub to_image: Option<ImageRef>,
    /// Source image (copy_image; to_container consumes it)
    #[arg(long = "from-image", value_name = "NAME[:V]", value_parser = parse_image_ref)]
    pub from_image: Option<ImageRef>,
    /// Target container of to_container
    #[arg(long = "to-container", value_name = "C", value_parser = parse_container_name)]
    pub to_container: Option<Name>,
    /// Image version (`_` = none)
    #[arg(long = "version", value_name = "V", value_parser = parse_version)]
    pub version: Option<Version>,
    /// Image file for export/import
    #[arg(long = "image-file", value_name = "FILE")]
    pub image_file: Option<PathBuf>,
    /// ssh image repository user@host[:port][/dir]
    #[arg(long = "srepo", value_name = "REPO")]
    pub srepo: Option<SshRepo>,
    /// Substring filter for ssearch
    #[arg(long = "match", value_name = "SUBSTR")]
    pub match_: Option<String>,
    /// Template file inside the container
    #[arg(long = "template-file", value_name = "PATH")]
    pub template_file: Option<PathBuf>,
    /// Mapping file on the host
    #[arg(long = "mapping-file", value_name = "PATH")]
    pub mapping_file: Option<PathBuf>,
    /// Instance file inside the container (default: the template without
    /// its .tpl suffix; a template without one is instantiated in place)
    #[arg(long = "instance-file", value_name = "PATH")]
    pub instance_file: Option<PathBuf>,
    /// Source file
    #[arg(long = "src-file", value_name = "PATH")]
    pub src_file: Option<PathBuf>,
    /// Destination file
    #[arg(long = "dst-file", value_name = "PATH")]
    pub dst_file: Option<PathBuf>,

    /// With logs: go on printing new records until the container stops
    #[arg(long = "follow")]
    pub follow: bool,
    /// With logs: the last N records only (all: every one)
    #[arg(long = "tail", value_name = "N", allow_hyphen_values = true, value_parser = parse_tail)]
    pub tail: Option<Tail>,
    /// With logs: records from TIME on: RFC 3339 (2024-05-01T12:00:00Z),
    /// a local date and time (2024-05-01 12:00), a date, Unix seconds, or
    /// a duration ago (10m, 2h30m, 3d)
    #[arg(long = "since", value_name = "TIME", allow_hyphen_values = true, value_parser = parse_since)]
    pub since: Option<Since>,
    /// With logs: each line's time (RFC 3339, UTC, nanoseconds) first
    #[arg(long = "timestamps")]
    pub timestamps: bool,

    // User-defined networks (network_create, network_remove).
    /// Name of a user-defined network
    #[arg(long = "network", value_name = "NAME", value_parser = parse_network_name)]
    pub network: Option<Name>,
    /// Network driver: bridge (a bridge of its own, NAT out) or macvlan
    /// (containers on the LAN of --parent)
    #[arg(long = "driver", value_name = "DRIVER")]
    pub driver: Option<Driver>,
    /// The network's IPv4 subnet A.B.C.D/N
    #[arg(long = "subnet", value_name = "CIDR")]
    pub subnet: Option<String>,
    /// The network's gateway (default: the subnet's first address)
    #[arg(long = "gateway", value_name = "IP")]
    pub gateway: Option<Ipv4Addr>,
    /// The bridge interface of a bridge network (default: xdb + a hash;
    /// never an interface the host has)
    #[arg(long = "bridge", value_name = "IF", value_parser = parse_ifname)]
    pub bridge: Option<String>,
    /// A bridge network with no NAT out: its containers reach only each
    /// other (and published ports reach them)
    #[arg(long = "internal")]
    pub internal: bool,
    /// The host interface a macvlan network sits on
    #[arg(long = "parent", value_name = "IF", value_parser = parse_ifname)]
    pub parent: Option<String>,
    /// macvlan mode (default bridge)
    #[arg(long = "macvlan-mode", value_name = "MODE")]
    pub macvlan_mode: Option<MacvlanMode>,
    /// macvlan addresses from the LAN's DHCP server, taken and renewed by
    /// xdockerinit
    #[arg(long = "dhcp")]
    pub dhcp: bool,
    // builds (issue 22)
    /// With build: the recipe file (default: Xdockerfile, else Dockerfile,
    /// in the context)
    #[arg(long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// With build: the build context, what COPY and ADD read (default: the
    /// current directory)
    #[arg(long = "context", value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// With build: a value for an ARG of the recipe (repeatable)
    #[arg(long = "build-arg", value_name = "KEY=VALUE", value_parser = parse_build_arg)]
    pub build_arg: Vec<(String, String)>,
    /// With build: the stage to build (its AS name or number; default: the
    /// last)
    #[arg(long = "target", value_name = "STAGE")]
    pub target: Option<String>,
    /// With build: run every step, take no layer from the cache
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// With build: the image is one flat layer of everything (no base layers)
    #[arg(long = "squash")]
    pub squash: bool,
    /// With prune_build_cache: every layer no image or container uses
    #[arg(long = "all")]
    pub all: bool,
}

/// `--net`: HOST, CUSTOM, BRIDGE (offered by completion and help) or a
/// network's name.
#[derive(Debug, Clone, Copy)]
struct NetParser;

impl clap::builder::TypedValueParser for NetParser {
    type Value = Net;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Net, clap::Error> {
        let text = value.to_string_lossy();
        text.parse().map_err(|reason: String| {
            let option = arg.map(|a| a.to_string()).unwrap_or_else(|| "--net".into());
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value '{text}' for '{option}': {reason}\n"),
            )
            .with_cmd(cmd)
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            crate::network::mode::BUILT_IN
                .iter()
                .map(|v| clap::builder::PossibleValue::new(*v)),
        ))
    }
}

fn parse_network_name(s: &str) -> Result<Name, String> {
    Name::parse_as("network name", s).map_err(|e| e.to_string())
}

/// `--build-arg KEY=VALUE` (KEY alone: the host's value, as Docker).
pub fn parse_build_arg(s: &str) -> Result<(String, String), String> {
    let (k, v) = match s.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (
            s.to_string(),
            std::env::var(s).map_err(|_| format!("'{s}': no =VALUE and no such variable here"))?,
        ),
    };
    if !crate::container::env::is_name(&k) {
        return Err(format!("'{k}' is not a variable name"));
    }
    Ok((k, v))
}

/// `--tail N|all` (None: all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail(pub Option<u64>);

fn parse_tail(s: &str) -> Result<Tail, String> {
    crate::container::logs::parse_tail(s).map(Tail)
}

fn parse_since(s: &str) -> Result<Since, String> {
    Since::parse(s, chrono::Utc::now())
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Show(Show),
    Action(Action),
}

/// A checked command line.
#[derive(Debug)]
pub enum Request {
    /// `--help` or no arguments.
    Help(String),
    /// `-v`.
    PrintVersion,
    /// A show or action with its options.
    Run { verb: Verb, args: Box<Args> },
}

/// A command line that cannot be run: one line, exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

const GLOBAL: &[&str] = &["show", "action", "debug", "force", "help", "print_version"];
const CREATE_OPTS: &[&str] = &[
    "host",
    "net",
    "host_eth",
    "vip",
    "port_mapping",
    "volume",
    "autostart",
    "cap_add",
    "cap_drop",
    "seccomp",
    "userns",
    "restart",
    "service",
];
const CGROUP_OPTS: &[&str] = &["cpus", "cpu_quota", "cpu_shares", "mem_limit", "pids_limit"];
const ENV_OPTS: &[&str] = &["env", "env_file"];
/// Who the main process and the sessions run as, and where.
const PROCESS_OPTS: &[&str] = &["workdir", "user"];
const BOOT_OPTS: &[&str] = &["tty", "exec"];

/// Options a verb needs, and options it also accepts.
fn options_of(verb: Verb) -> (&'static [&'static str], Vec<&'static str>) {
    match verb {
        Verb::Show(Show::Images) | Verb::Show(Show::Containers) | Verb::Show(Show::Networks) => {
            (&[], vec!["json"])
        }
        Verb::Show(Show::ContainerRoot) => (&["container"], vec!["json"]),
        // Without -c: the home (its names, cgroups, counts), as `docker info`.
        Verb::Show(Show::Info) => (&[], vec!["container", "json"]),
        Verb::Show(Show::Ssearch) => (&[], vec!["srepo", "match_", "json"]),
        Verb::Show(Show::Logs) => (
            &["container"],
            vec!["follow", "tail", "since", "timestamps", "json"],
        ),
        Verb::Show(Show::BuildCache) => (&[], vec!["json"]),
        Verb::Action(a) => match a {
            Action::InstallTest => (&[], vec!["version"]),
            Action::Create => (
                &["images"],
                [
                    &["container", "boot"][..],
                    CREATE_OPTS,
                    CGROUP_OPTS,
                    BOOT_OPTS,
                    ENV_OPTS,
                    PROCESS_OPTS,
                ]
                .concat(),
            ),
            Action::Boot => (
                &["container"],
                [
                    CGROUP_OPTS,
                    BOOT_OPTS,
                    ENV_OPTS,
                    PROCESS_OPTS,
                    &["restart"][..],
                ]
                .concat(),
            ),
            Action::Attach | Action::Shutdown | Action::Kill => (&["container"], vec![]),
            Action::Destroy => (&["container"], vec!["shutdown"]),
            Action::Run => (&["container", "cmd"], vec![]),
            Action::Version => (&["images"], vec!["version"]),
            Action::Vip => (&["container", "vip"], vec![]),
            Action::PortMapping => (&["container", "port_mapping"], vec![]),
            Action::Volume => (&["container", "volume"], vec![]),
            Action::ToImage => (&["from_container", "to_image"], vec!["version"]),
            Action::ToContainer => (
                &["from_image", "to_container"],
                [
                    &["images"][..],
                    CREATE_OPTS,
                    CGROUP_OPTS,
                    ENV_OPTS,
                    PROCESS_OPTS,
                ]
                .concat(),
            ),
            Action::Commit => (&["from_container", "to_image"], vec!["version"]),
            Action::CopyImage => (&["from_image", "to_image"], vec![]),
            Action::DelImage => (&["images"], vec![]),
            // -m IMAGE or -c C: checked in `from_args`.
            Action::Export => (&[], vec!["images", "container", "image_file"]),
            Action::Import => (&["image_file"], vec!["images"]),
            Action::Spush | Action::Spull => (&["images"], vec!["srepo"]),
            Action::Rplfile => (
                &["container", "template_file", "mapping_file"],
                vec!["instance_file"],
            ),
            Action::Putfile | Action::Getfile => (&["container", "src_file", "dst_file"], vec![]),
            Action::Autostart => (&[], vec!["container", "autostart", "shutdown"]),
            Action::Service => (&["container"], vec!["service", "restart"]),
            Action::Pause | Action::Continue => (&["container"], vec![]),
            Action::Restart => (&["container"], CGROUP_OPTS.to_vec()),
            Action::Env => (&["container"], ENV_OPTS.to_vec()),
            Action::NetworkCreate => (
                &["network", "driver"],
                vec![
                    "subnet",
                    "gateway",
                    "bridge",
                    "internal",
                    "parent",
                    "macvlan_mode",
                    "dhcp",
                ],
            ),
            Action::NetworkRemove => (&["network"], vec![]),
            Action::Net => (&["container", "net"], vec!["vip"]),
            Action::Build => (
                &["to_image"],
                vec![
                    "version",
                    "file",
                    "context",
                    "build_arg",
                    "target",
                    "no_cache",
                    "squash",
                    "net",
                ],
            ),
            Action::PruneBuildCache => (&[], vec!["all"]),
        },
    }
}

/// How an option is written on the command line, for messages.
fn spelling(id: &str) -> String {
    let cmd = Args::command();
    let found = cmd
        .get_arguments()
        .find(|a| a.get_id().as_str() == id)
        .map(|a| match (a.get_short(), a.get_long()) {
            (Some(s), Some(l)) => format!("-{s}/--{l}"),
            (Some(s), None) => format!("-{s}"),
            (None, Some(l)) => format!("--{l}"),
            (None, None) => id.to_string(),
        });
    found.unwrap_or_else(|| id.to_string())
}

fn verb_name(verb: Verb) -> String {
    let value = |v: Option<clap::builder::PossibleValue>| {
        v.map(|p| p.get_name().to_string()).unwrap_or_default()
    };
    match verb {
        Verb::Show(s) => format!("-s {}", value(s.to_possible_value())),
        Verb::Action(a) => format!("-a {}", value(a.to_possible_value())),
    }
}

/// The usage text printed for `--help` and no arguments.
pub fn help_text() -> String {
    format!(
        "{}\n{}",
        Args::command().render_help(),
        crate::docker_cli::verbs_help()
    )
}

impl Request {
    /// Parses and checks a command line (the program name first).
    pub fn from_args<I, T>(argv: I) -> Result<Self, UsageError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
        if argv.len() <= 1 {
            return Ok(Self::Help(help_text()));
        }
        let matches = match Args::command().try_get_matches_from(&argv) {
            Ok(m) => m,
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
                return Ok(Self::Help(help_text()))
            }
            Err(e) if e.kind() == clap::error::ErrorKind::UnknownArgument => {
                return Err(UsageError(unknown_option(&e, &argv)))
            }
            Err(e) => return Err(UsageError(clap_message(&e))),
        };
        let args = Args::from_arg_matches(&matches).map_err(|e| UsageError(clap_message(&e)))?;
        let given: Vec<&str> = matches
            .ids()
            .map(|id| id.as_str())
            // The derive adds a group named after the struct; only args count.
            .filter(|id| *id != "Args")
            .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
            .collect();
        let verb = match (args.show, args.action) {
            (Some(_), Some(_)) => {
                return Err(UsageError(
                    "give either -s SHOW or -a ACTION, not both".into(),
                ))
            }
            (Some(s), None) => Verb::Show(s),
            (None, Some(a)) => Verb::Action(a),
            (None, None) if args.print_version => return Ok(Self::PrintVersion),
            // `-h` alone: help (in the original grammar `-h` is shutdown,
            // which means nothing without a verb).
            (None, None) if given == ["shutdown"] => return Ok(Self::Help(help_text())),
            (None, None) => {
                return Err(UsageError(
                    "nothing to do: give -s SHOW or -a ACTION (see --help)".into(),
                ))
            }
        };
        let (required, optional) = options_of(verb);
        for id in required {
            if !given.contains(id) {
                return Err(UsageError(format!(
                    "{} needs {}",
                    verb_name(verb),
                    spelling(id)
                )));
            }
        }
        for id in &given {
            if !GLOBAL.contains(id) && !required.contains(id) && !optional.contains(id) {
                return Err(UsageError(format!(
                    "{} does not apply to {}",
                    spelling(id),
                    verb_name(verb)
                )));
            }
        }
        if verb == Verb::Action(Action::Autostart) {
            match (given.contains(&"container"), given.contains(&"autostart")) {
                (true, false) => {
                    return Err(UsageError(
                        "-a autostart -c C needs --autostart ORDER|off".into(),
                    ))
                }
                (false, true) => {
                    return Err(UsageError(
                        "-a autostart --autostart needs -c/--container".into(),
                    ))
                }
                (true, true) if args.shutdown => {
                    return Err(UsageError(
                        "-h/--shutdown does not apply to -a autostart -c C".into(),
                    ))
                }
                _ => {}
            }
        }
        if args.timestamps && args.json {
            return Err(UsageError(
                "--timestamps and --json cannot be used together (every JSON record has its time)"
                    .into(),
            ));
        }
        if verb == Verb::Action(Action::Service)
            && !given.contains(&"service")
            && !given.contains(&"restart")
        {
            return Err(UsageError(
                "-a service needs --service NAME=CMD, --service none or --restart".into(),
            ));
        }
        if args.service.contains(&ServiceArg::None) {
            if verb != Verb::Action(Action::Service) {
                return Err(UsageError(format!(
                    "--service none applies to -a service, not {}",
                    verb_name(verb)
                )));
            }
            if args.service.len() > 1 {
                return Err(UsageError(
                    "--service none removes every service: give it alone".into(),
                ));
            }
        }
        if verb == Verb::Action(Action::Export) {
            match (given.contains(&"images"), given.contains(&"container")) {
                (false, false) => {
                    return Err(UsageError(
                        "-a export needs -m/--image (an image) or -c/--container (a container)"
                            .into(),
                    ))
                }
                (true, true) => {
                    return Err(UsageError(
                        "-a export takes -m/--image or -c/--container, not both".into(),
                    ))
                }
                _ => {}
            }
        }
        if args.tty && args.exec.is_some() {
            return Err(UsageError("-t and -e cannot be used together".into()));
        }
        if verb == Verb::Action(Action::Create)
            && !args.boot
            && [
                "tty",
                "exec",
                "cpus",
                "cpu_quota",
                "mem_limit",
                "pids_limit",
            ]
            .iter()
            .any(|id| given.contains(id))
        {
            // Cgroup limits given at create are stored (SPEC §1); -t/-e only
            // make sense when booting.
            if args.tty || args.exec.is_some() {
                return Err(UsageError("-t and -e need -b with -a create".into()));
            }
        }
        Ok(Self::Run {
            verb,
            args: Box::new(args),
        })
    }
}

/// clap's first message line, without its `error: ` prefix.
/// Control characters (a newline, an escape) as Rust escapes them (`\n`,
/// `\u{1b}`), so that a value quoted in a message can neither cut the
/// error line nor drive the terminal.
pub fn escape_controls(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// An option this grammar does not have, named with the verb it was
/// given to (`-a create: unexpected argument '--name' found`), and said to
/// be a Docker-style verb's when it is one.
fn unknown_option(e: &clap::Error, argv: &[std::ffi::OsString]) -> String {
    use clap::error::{ContextKind, ContextValue};
    let mut message = clap_message(e);
    let words: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let verb = words.windows(2).find_map(|w| match w[0].as_str() {
        "-a" | "--action" => Some(format!("-a {}", w[1])),
        "-s" | "--show" => Some(format!("-s {}", w[1])),
        _ => None,
    });
    if let Some(verb) = verb {
        message = format!("{}: {message}", escape_controls(&verb));
    }
    if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
        let name = arg.split('=').next().unwrap_or(arg);
        let docker = crate::docker_cli::command().get_subcommands().any(|v| {
            v.get_arguments().any(|a| {
                a.get_long().is_some_and(|l| name == format!("--{l}"))
                    || a.get_short().is_some_and(|s| name == format!("-{s}"))
            })
        });
        if docker {
            message.push_str(" (an option of the Docker-style verbs: xdocker VERB --help)");
        }
    }
    message
}

/// clap's error as one line, the offending value escaped wherever it is
/// quoted (by clap, and by the value parser's reason).
fn clap_message(e: &clap::Error) -> String {
    let line = clap_line(e);
    match suggestion(e) {
        Some(s) => format!("{line}: did you mean {s}?"),
        None => line,
    }
}

/// The nearest valid value or option clap found for a misspelt one
/// (`-a destory`: destroy; `--hots`: --host).
fn suggestion(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    [ContextKind::SuggestedValue, ContextKind::SuggestedArg]
        .into_iter()
        .find_map(|kind| match e.get(kind) {
            Some(ContextValue::String(s)) => Some(s.clone()),
            Some(ContextValue::Strings(v)) if !v.is_empty() => Some(v.join(" or ")),
            _ => None,
        })
        .map(|s| escape_controls(&s))
}

fn clap_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let text = e.to_string();
    let Some(ContextValue::String(v)) = e.get(ContextKind::InvalidValue) else {
        return first_line(&text);
    };
    if !v.chars().any(char::is_control) {
        return first_line(&text);
    }
    // The value escaped, then the message up to clap's blank line, with
    // whatever else it quotes of the value (a bad character) escaped too.
    let text = text.replace(v.as_str(), &escape_controls(v));
    let message = text.split("\n\n").next().unwrap_or_default();
    first_line(&escape_controls(message))
}

fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("invalid command line");
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_a_value_never_cut_the_error_line() {
        let argv = [
            "xdocker",
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "a\nb\u{1b}[31m",
        ];
        let Err(UsageError(line)) = Request::from_args(argv) else {
            panic!("accepted");
        };
        assert!(!line.chars().any(char::is_control), "{line:?}");
        // (clap drops the escape sequence itself from its message.)
        assert!(line.contains("'a\\nb"), "{line}");
        assert!(
            line.contains("only letters, digits"),
            "the reason stays: {line}"
        );
    }

    fn parse(line: &str) -> Result<Request, UsageError> {
        let mut argv = vec!["xdocker".to_string()];
        argv.extend(line.split_whitespace().map(String::from));
        Request::from_args(argv)
    }

    fn err(line: &str) -> String {
        parse(line).expect_err(line).0
    }

    fn args(line: &str) -> Args {
        match parse(line).expect(line) {
            Request::Run { args, .. } => *args,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn options_in_any_order() {
        let a = args("--vip 10.0.0.5 -m base,sshd:1.0 -a create --net bridge -c web -b --cpus 0-1");
        assert_eq!(a.action, Some(Action::Create));
        assert_eq!(a.images.as_ref().map(|l| l.0.len()), Some(2));
        assert_eq!(a.net, Some(Net::Bridge));
        assert_eq!(a.cpus, Some(CpuList(vec![0, 1])));
        let a = args("-c web -h -a destroy");
        assert!(a.shutdown);
    }

    #[test]
    fn restart_policies_and_services() {
        let a =
            args("-a create -m test --service web=httpd --service db=true --restart on-failure:3");
        assert_eq!(a.restart, Some(RestartPolicy::OnFailure(Some(3))));
        assert_eq!(a.service.len(), 2);
        assert!(matches!(&a.service[0], ServiceArg::Service(s) if s.name.as_str() == "web"));
        let a = args("-a service -c web --service none");
        assert_eq!(a.service, vec![ServiceArg::None]);
        assert!(parse("-a boot -c web --restart always -e true").is_ok());
        assert!(parse("-a to_container --from-image a --to-container b --service x=y").is_ok());
        assert_eq!(
            err("-a boot -c web --service a=b"),
            "--service does not apply to -a boot"
        );
    }

    #[test]
    fn missing_required_options_are_named() {
        assert_eq!(err("-a create"), "-a create needs -m/--image");
        assert_eq!(err("-a run -c x"), "-a run needs --cmd");
        assert_eq!(
            err("-a copy_image --from-image a"),
            "-a copy_image needs --to-image"
        );
        assert_eq!(
            err("-s container_root"),
            "-s container_root needs -c/--container"
        );
    }

    #[test]
    fn options_that_do_not_apply_are_refused() {
        assert_eq!(
            err("-a import --image-file x --vip 1.2.3.4"),
            "--vip does not apply to -a import"
        );
        assert_eq!(
            err("-s images -c x"),
            "-c/--container does not apply to -s images"
        );
    }

    #[test]
    fn bad_values_get_one_line() {
        for (line, needle) in [
            ("-a vip -c x --vip 1.2.3", "1.2.3"),
            (
                "-a port_mapping -c x --port-mapping 80",
                "HOST_PORT:CONTAINER_PORT",
            ),
            ("-a port_mapping -c x --port-mapping 80:0", "not a port"),
            (
                "-a port_mapping -c x --port-mapping 80:80,80:81",
                "mapped twice",
            ),
            ("-a export -m web:1/2", "'/'"),
            ("-a export -m ..", "not allowed"),
            ("-a create -m -x", "-x"),
            ("-a boot -c a -c b", "cannot be used multiple times"),
            ("-a frobnicate", "frobnicate"),
            ("-s images --bogus", "--bogus"),
            ("-a create -m a --mem-limit 12Q", "memory size"),
            ("-a create -m a --cpu-quota 0%", "CPU quota"),
            ("-a create -m a --cpus 3-1", "CPU list"),
            ("-a volume -c a --volume rel/path", "not absolute"),
            ("-a volume -c a --volume /a:/b/../c", "'..'"),
            ("-a create -m a --host bad_host", "hostname"),
            ("-s ssearch --srepo host", "user@host"),
            (
                "-a boot -c a --restart sometimes",
                "'sometimes' is not a restart policy",
            ),
            (
                "-a create -m a --restart on-failure:x",
                "'x' is not a restart count of 1 or more",
            ),
            ("-a create -m a --service web", "'web' is not NAME=CMD"),
            (
                "-a create -m a --service we/b=x",
                "service name 'we/b' contains '/'",
            ),
            (
                "-a create -m a --service web=",
                "service web: the command is empty",
            ),
            ("-a service -c a", "-a service needs --service"),
            (
                "-a create -m a --service none",
                "--service none applies to -a service",
            ),
            (
                "-a service -c a --service none --service a=b",
                "give it alone",
            ),
            (
                "-a vip -c a --vip 10.0.0.2 --restart always",
                "--restart does not apply",
            ),
            (
                "-a create -m a --cpu-shares 1",
                "CPU share count of 2 to 262144",
            ),
            ("-a boot -c a --cpu-shares 262145", "CPU share count"),
            ("-a create -m a --env 1X=a", "'1X' is not a variable name"),
            ("-a env -c a --env A-B", "'A-B' is not a variable name"),
            (
                "-a volume -c a --volume /a:/b:rx",
                "'rx' is not a volume mode",
            ),
        ] {
            let e = err(line);
            assert!(e.contains(needle), "{line}: {e}");
            assert!(!e.contains('\n'), "{line}: one line: {e}");
        }
    }

    #[test]
    fn help_version_and_nothing() {
        assert!(matches!(parse("--help"), Ok(Request::Help(_))));
        assert!(matches!(parse(""), Ok(Request::Help(_))));
        assert!(matches!(parse("-h"), Ok(Request::Help(_))));
        assert!(matches!(
            parse("-c web -h -a destroy"),
            Ok(Request::Run { .. })
        ));
        assert_eq!(
            err("-h -d"),
            "nothing to do: give -s SHOW or -a ACTION (see --help)"
        );
        assert!(matches!(parse("-v"), Ok(Request::PrintVersion)));
        assert_eq!(
            err("-d"),
            "nothing to do: give -s SHOW or -a ACTION (see --help)"
        );
        assert_eq!(
            err("-s images -a create"),
            "give either -s SHOW or -a ACTION, not both"
        );
    }

    #[test]
    fn values_parse() {
        assert_eq!(
            "8080:80/udp".parse::<PortMap>(),
            Ok(PortMap {
                host: 8080,
                container: 80,
                udp: true
            })
        );
        assert_eq!(
            "/data".parse::<Volume>().map(|v| v.container),
            Ok(PathBuf::from("/data"))
        );
        assert_eq!("512M".parse::<MemLimit>(), Ok(MemLimit(512 << 20)));
        assert_eq!("2g".parse::<MemLimit>(), Ok(MemLimit(2 << 30)));
        // Sizes up to the largest the kernel takes, in any unit.
        assert_eq!("1T".parse::<MemLimit>(), Ok(MemLimit(1 << 40)));
        assert_eq!(
            "99999999G".parse::<MemLimit>(),
            Ok(MemLimit(99_999_999 << 30))
        );
        assert_eq!("8191P".parse::<MemLimit>(), Ok(MemLimit(8191 << 50)));
        for big in ["8192P", "9999999999999G", "99999999999999999999"] {
            let e = big.parse::<MemLimit>().expect_err(big);
            assert!(e.contains("more than the kernel takes"), "{e}");
        }
        assert_eq!(parse_pids_limit("4194304"), Ok(4_194_304));
        let e = parse_pids_limit("99999999999").expect_err("too many");
        assert!(
            e.contains("more processes than the kernel allows (4194304)"),
            "{e}"
        );
        assert!(parse_pids_limit("0").is_err());
        assert_eq!("25%".parse::<CpuQuota>(), Ok(CpuQuota(25)));
        let r: SshRepo = "ops@repo.example:2222/srv/images".parse().expect("repo");
        assert_eq!((r.port, r.dir.as_deref()), (2222, Some("/srv/images")));
        assert!("-oProxyCommand=x@h".parse::<SshRepo>().is_err());
        assert_eq!("10".parse::<Autostart>(), Ok(Autostart::Order(10)));
        assert_eq!("off".parse::<Autostart>(), Ok(Autostart::Off));
        assert!("-1".parse::<Autostart>().is_err());
        assert!("10000".parse::<Autostart>().is_err());
        assert_eq!(
            "CAP_SYS_TIME,net_raw,sys_time".parse::<CapList>(),
            Ok(CapList(vec!["sys_time".into(), "net_raw".into()]))
        );
        assert!("sys_godmode".parse::<CapList>().is_err());
    }

    #[test]
    fn build_forms() {
        let a = args(
            "-a build --to-image web:1 --file ci/Dockerfile --context . --build-arg A=1 \
             --build-arg B=x=y --target run --no-cache --squash --net BRIDGE",
        );
        assert_eq!(a.action, Some(Action::Build));
        assert_eq!(
            a.build_arg,
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert!(a.no_cache && a.squash);
        assert_eq!(a.target.as_deref(), Some("run"));
        assert_eq!(err("-a build --file F"), "-a build needs --to-image");
        assert_eq!(
            err("-a create -m test --squash"),
            "--squash does not apply to -a create"
        );
        assert!(
            err("-a build --to-image x --build-arg 1x=2").contains("'1x' is not a variable name")
        );
        assert_eq!(args("-s build_cache --json").show, Some(Show::BuildCache));
        assert!(args("-a prune_build_cache --all").all);
        assert_eq!(
            err("-a prune_build_cache -c x"),
            "-c/--container does not apply to -a prune_build_cache"
        );
    }

    #[test]
    fn commit_and_export_forms() {
        let a = args("-a commit --from-container web --to-image web --version 2");
        assert_eq!(a.action, Some(Action::Commit));
        assert_eq!(
            err("-a commit --from-container web"),
            "-a commit needs --to-image"
        );
        assert_eq!(
            err("-a commit --to-image x --from-container web -c web"),
            "-c/--container does not apply to -a commit"
        );
        assert!(parse("-a export -m web:1.0 --image-file f").is_ok());
        assert!(parse("-a export -c web --image-file f").is_ok());
        assert_eq!(
            err("-a export"),
            "-a export needs -m/--image (an image) or -c/--container (a container)"
        );
        assert_eq!(
            err("-a export -m web -c web"),
            "-a export takes -m/--image or -c/--container, not both"
        );
    }

    #[test]
    fn env_shares_and_volume_modes() {
        let a = args("-a create -m test --env A=1 --env B --env-file f.env --cpu-shares 512");
        assert_eq!(a.env.len(), 2);
        assert_eq!(a.env_file, [PathBuf::from("f.env")]);
        assert_eq!(a.cpu_shares, Some(512));
        let a = args("-a boot -c web --env A=x=y --cpu-shares 2");
        assert_eq!(a.cpu_shares, Some(2));
        assert!(parse("-a env -c web").is_ok(), "no --env: clears");
        assert!(parse("-a to_container --from-image i --to-container c --env A=1").is_ok());
        assert!(parse("-a to_container --from-image i --to-container c --cpu-shares 9").is_ok());
        assert_eq!(err("-a env"), "-a env needs -c/--container");
        assert_eq!(
            err("-a vip -c x --vip 10.0.0.2 --env A=1"),
            "--env does not apply to -a vip"
        );
        assert_eq!(
            err("-a run -c x --cmd true --env-file f"),
            "--env-file does not apply to -a run"
        );
        let a = args("-a volume -c web --volume /srv:/data:ro --volume /a:/b:rw");
        assert!(a.volume[0].read_only && !a.volume[1].read_only);
    }

    #[test]
    fn autostart_forms() {
        assert!(parse("-a autostart").is_ok());
        assert!(parse("-a autostart -h").is_ok());
        assert!(parse("-a autostart -c web --autostart 5").is_ok());
        assert!(parse("-a create -m test -c web --autostart 5").is_ok());
        assert_eq!(
            err("-a autostart -c web"),
            "-a autostart -c C needs --autostart ORDER|off"
        );
        assert_eq!(
            err("-a autostart --autostart 3"),
            "-a autostart --autostart needs -c/--container"
        );
        assert_eq!(
            err("-a boot -c web --autostart 3"),
            "--autostart does not apply to -a boot"
        );
        assert!(parse("-s info -c web --json").is_ok());
        assert!(parse("-s info").is_ok());
        assert!(parse("-s info --json").is_ok());
    }

    #[test]
    fn logs_options() {
        let a = args("-s logs -c web --follow --tail 100 --since 10m --timestamps");
        assert_eq!(a.show, Some(Show::Logs));
        assert!(a.follow && a.timestamps);
        assert_eq!(a.tail, Some(Tail(Some(100))));
        assert!(a.since.is_some());
        assert_eq!(args("-s logs -c web --tail all").tail, Some(Tail(None)));
        assert!(parse("-s logs -c web --json --since 2024-05-01T12:00:00Z").is_ok());
        assert_eq!(err("-s logs"), "-s logs needs -c/--container");
        assert_eq!(
            err("-s logs -c web --tail -1"),
            "invalid value '-1' for '--tail <N>': --tail '-1' is not a number of lines (0 or more, or all)"
        );
        let e = err("-s logs -c web --since yesterday-ish");
        assert!(
            e.contains("--since 'yesterday-ish' is not a time") && !e.contains('\n'),
            "{e}"
        );
        assert_eq!(
            err("-s logs -c web --timestamps --json"),
            "--timestamps and --json cannot be used together (every JSON record has its time)"
        );
        assert_eq!(
            err("-s info -c web --follow"),
            "--follow does not apply to -s info"
        );
        assert_eq!(
            err("-a boot -c web --tail 3"),
            "--tail does not apply to -a boot"
        );
    }

    #[test]
    fn a_misspelt_show_action_or_option_gets_the_nearest_valid_one() {
        assert_eq!(
            err("-a destory -c web"),
            "invalid value 'destory' for '--action <ACTION>': did you mean destroy?"
        );
        assert!(err("-s imags").ends_with(": did you mean images?"));
        assert!(err("-a to_imag").ends_with(": did you mean to_image?"));
        assert!(err("-a create -m x --hots y").ends_with(": did you mean --host?"));
        // Nothing near: no guess.
        assert_eq!(
            err("-a frobnicate"),
            "invalid value 'frobnicate' for '--action <ACTION>'"
        );
    }

    #[test]
    fn every_verb_has_an_option_table() {
        for a in Action::value_variants() {
            let (req, opt) = options_of(Verb::Action(*a));
            for id in req.iter().chain(opt.iter()) {
                assert_ne!(spelling(id), *id, "{id} is an option id");
            }
        }
    }
}
