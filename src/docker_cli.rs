//! The Docker-style command line, `xdocker VERB [OPTIONS] ARGS`, beside
//! the original `-s SHOW` / `-a ACTION` grammar ([`crate::cli`]): a first
//! argument that is a bare word (not starting with `-`) is a verb of this
//! grammar. clap parses one subcommand per verb with Docker's option
//! names and meanings; an option a verb does not have (the other
//! grammar's included) is refused with one line naming both. What the
//! verbs do is in `commands::docker`, over the same library calls.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::cli::{
    escape_controls, parse_container_name, parse_cpu_shares, parse_hostname, parse_pids_limit,
    parse_user, parse_workdir, CapList, CpuList, MemLimit, Tail, UsageError,
};
use crate::container::env::EnvArg;
use crate::container::logs::Since;
use crate::container::{RestartPolicy, Volume};
use crate::names::{ImageRef, Name};
use crate::network::{Net, PortMap};

/// True when `argv` (the program name first) is a Docker-style command
/// line: its first argument is a bare word.
pub fn is_docker(argv: &[OsString]) -> bool {
    argv.get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| !a.is_empty() && !a.starts_with('-'))
}

/// `NAME[:TAG]` of Docker, as xdocker's `NAME[:VERSION]`: `latest` (or
/// no tag) is the highest version.
pub fn parse_image(s: &str) -> Result<ImageRef, String> {
    let s = s.strip_suffix(":latest").unwrap_or(s);
    s.parse::<ImageRef>().map_err(|e| e.to_string())
}

/// `--cpus 1.5`: CPUs' worth of time, as a quota in percent of one CPU.
fn parse_cpus(s: &str) -> Result<u32, String> {
    let bad = || format!("'{s}' is not a number of CPUs like 0.5 or 2");
    let cpus: f64 = s.parse().map_err(|_| bad())?;
    if !(0.01..=1000.0).contains(&cpus) {
        return Err(bad());
    }
    Ok((cpus * 100.0).round() as u32)
}

/// `--userns host` (root inside is host root) or `private` (a user
/// namespace); `on`/`off` as in the other grammar.
fn parse_userns(s: &str) -> Result<bool, String> {
    match s {
        "private" | "on" => Ok(true),
        "host" | "off" => Ok(false),
        _ => Err(format!(
            "'{s}' is not a user namespace mode (host or private)"
        )),
    }
}

/// `--network`: xdocker's networks by Docker's names, or a user-defined
/// network's name.
fn parse_network(s: &str) -> Result<Net, String> {
    s.parse::<Net>().map_err(|e| {
        format!("'{s}' is not a network: host (the host's), bridge (the home's bridge), custom (an own, empty namespace) or a network's name: {e}")
    })
}

/// A `-p`/`--publish` value: `HOST:CONTAINER[/udp]`.
fn parse_publish(s: &str) -> Result<PortMap, String> {
    s.parse::<PortMap>().map_err(|e| e.to_string())
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// `--help` alone (`-h` is the hostname, as in Docker).
#[derive(Debug, Clone, clap::Args)]
pub struct HelpFlag {
    /// Print this verb's help
    #[arg(long = "help", action = ArgAction::Help, global = true)]
    help: Option<bool>,
}

/// What a new container is to be, and its main process (run, create).
#[derive(Debug, Clone, clap::Args)]
pub struct ContainerOpts {
    /// Name of the container (default: a generated adjective_noun)
    #[arg(long = "name", value_name = "NAME", value_parser = parse_container_name)]
    pub name: Option<Name>,
    /// Hostname (default: the container's name)
    #[arg(short = 'h', long = "hostname", value_name = "HOST", value_parser = parse_hostname)]
    pub hostname: Option<String>,
    /// Environment variable KEY=VALUE (KEY alone: the host's value; repeatable)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<EnvArg>,
    /// File of KEY=VALUE lines (repeatable)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Bind mount HOST:CONTAINER[:ro] (repeatable)
    #[arg(short = 'v', long = "volume", value_name = "H:C[:ro]")]
    pub volume: Vec<Volume>,
    /// Publish a port HOST:CONTAINER[/udp] (repeatable; needs the bridge network)
    #[arg(short = 'p', long = "publish", value_name = "H:C[/udp]", value_parser = parse_publish)]
    pub publish: Vec<PortMap>,
    /// Memory limit, e.g. 512M
    #[arg(short = 'm', long = "memory", value_name = "SIZE")]
    pub memory: Option<MemLimit>,
    /// CPU time in CPUs, e.g. 0.5 or 2
    #[arg(long = "cpus", value_name = "FRACTION", value_parser = parse_cpus)]
    pub cpus: Option<u32>,
    /// CPUs to run on, e.g. 0,1 or 1-3
    #[arg(long = "cpuset-cpus", value_name = "LIST")]
    pub cpuset_cpus: Option<CpuList>,
    /// Relative CPU weight, 2 to 262144 (default 1024)
    #[arg(long = "cpu-shares", value_name = "N", value_parser = parse_cpu_shares)]
    pub cpu_shares: Option<u64>,
    /// Most processes at once
    #[arg(long = "pids-limit", value_name = "N", value_parser = parse_pids_limit)]
    pub pids_limit: Option<u64>,
    /// Network: bridge (default), host or custom
    #[arg(long = "network", value_name = "NETWORK", value_parser = parse_network)]
    pub network: Option<Net>,
    /// IPv4 address on the bridge network
    #[arg(long = "ip", value_name = "IP")]
    pub ip: Option<Ipv4Addr>,
    /// Restart policy of the main process: no, on-failure[:N] or always
    #[arg(long = "restart", value_name = "POLICY")]
    pub restart: Option<RestartPolicy>,
    /// Working directory of the main process and exec (made when missing)
    #[arg(short = 'w', long = "workdir", value_name = "DIR", value_parser = parse_workdir)]
    pub workdir: Option<String>,
    /// User NAME, UID, NAME:GROUP or UID:GID of the main process and exec
    #[arg(short = 'u', long = "user", value_name = "USER", value_parser = parse_user)]
    pub user: Option<String>,
    /// Program of the main process, before CMD
    #[arg(long = "entrypoint", value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Keep capabilities dropped by default (repeatable)
    #[arg(long = "cap-add", value_name = "CAPS")]
    pub cap_add: Vec<CapList>,
    /// Drop more capabilities (repeatable)
    #[arg(long = "cap-drop", value_name = "CAPS")]
    pub cap_drop: Vec<CapList>,
    /// User namespace: private (default where the host allows it) or host
    #[arg(long = "userns", value_name = "MODE", value_parser = parse_userns)]
    pub userns: Option<bool>,
    /// Keep stdin open to the main process
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// A terminal for the main process, kept by the container: attached to
    /// at once without -d, again with attach (Ctrl-a q detaches)
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Remove the container when its main process exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// NAME[:TAG] (latest: the highest version)
    #[arg(value_name = "IMAGE", value_parser = parse_image)]
    pub image: ImageRef,
    /// The main process (default: the image's, else none: a VM-like
    /// container, xdockerinit idle)
    #[arg(
        value_name = "CMD",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

/// `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Run in the background; print the container's name
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    #[command(flatten)]
    pub opts: ContainerOpts,
}

/// `start`.
#[derive(Debug, Clone, clap::Args)]
pub struct StartArgs {
    /// Wait for the main process, its output on stdout, its exit code (on
    /// its terminal when made with -t; Ctrl-a q detaches)
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,
    /// Attach stdin (with -a)
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    #[arg(value_name = "CONTAINER", required = true, value_parser = parse_container_name)]
    pub containers: Vec<Name>,
}

/// `stop`.
#[derive(Debug, Clone, clap::Args)]
pub struct StopArgs {
    /// Seconds to wait for the stop before killing (default 10)
    #[arg(short = 't', long = "time", value_name = "SECS")]
    pub time: Option<u32>,
    #[arg(value_name = "CONTAINER", required = true, value_parser = parse_container_name)]
    pub containers: Vec<Name>,
}

/// `kill`.
#[derive(Debug, Clone, clap::Args)]
pub struct KillArgs {
    /// Signal, by name (KILL, SIGHUP) or number (default KILL)
    #[arg(short = 's', long = "signal", value_name = "SIGNAL", value_parser = parse_signal)]
    pub signal: Option<i32>,
    #[arg(value_name = "CONTAINER", required = true, value_parser = parse_container_name)]
    pub containers: Vec<Name>,
}

/// `rm`.
#[derive(Debug, Clone, clap::Args)]
pub struct RmArgs {
    /// Stop a running container first (kill)
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Also the volumes (xdocker's are host directories: kept; accepted for scripts)
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    #[arg(value_name = "CONTAINER", required = true, value_parser = parse_container_name)]
    pub containers: Vec<Name>,
}

/// `ps`.
#[derive(Debug, Clone, clap::Args)]
pub struct PsArgs {
    /// Stopped containers too
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Names only
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// table (default) or json (one object a line)
    #[arg(long = "format", value_name = "FORMAT", value_enum)]
    pub format: Option<Format>,
}

/// `exec`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecArgs {
    /// Keep stdin open
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// A terminal
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Variable KEY=VALUE of this command (repeatable)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<EnvArg>,
    /// Working directory of this command
    #[arg(short = 'w', long = "workdir", value_name = "DIR", value_parser = parse_workdir)]
    pub workdir: Option<String>,
    /// User of this command
    #[arg(short = 'u', long = "user", value_name = "USER", value_parser = parse_user)]
    pub user: Option<String>,
    #[arg(value_name = "CONTAINER", value_parser = parse_container_name)]
    pub container: Name,
    #[arg(
        value_name = "CMD",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

/// One container.
#[derive(Debug, Clone, clap::Args)]
pub struct ContainerArg {
    #[arg(value_name = "CONTAINER", value_parser = parse_container_name)]
    pub container: Name,
}

/// Containers.
#[derive(Debug, Clone, clap::Args)]
pub struct ContainersArg {
    #[arg(value_name = "CONTAINER", required = true, value_parser = parse_container_name)]
    pub containers: Vec<Name>,
}

/// `logs`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// Go on printing until the container stops
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// The last N lines (all: every one)
    #[arg(long = "tail", value_name = "N", value_parser = parse_tail)]
    pub tail: Option<Tail>,
    /// Lines from TIME on (RFC 3339, a date, Unix seconds, or 10m ago)
    #[arg(long = "since", value_name = "TIME", value_parser = parse_since)]
    pub since: Option<Since>,
    /// Each line's time first
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    #[arg(value_name = "CONTAINER", value_parser = parse_container_name)]
    pub container: Name,
}

fn parse_tail(s: &str) -> Result<Tail, String> {
    crate::container::logs::parse_tail(s).map(Tail)
}

fn parse_since(s: &str) -> Result<Since, String> {
    Since::parse(s, chrono::Utc::now())
}

/// `inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// Containers or images (NAME[:TAG])
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

/// `cp`.
#[derive(Debug, Clone, clap::Args)]
pub struct CpArgs {
    /// CONTAINER:PATH or a host path
    #[arg(value_name = "SRC")]
    pub src: String,
    /// CONTAINER:PATH or a host path
    #[arg(value_name = "DST")]
    pub dst: String,
}

/// `commit`.
#[derive(Debug, Clone, clap::Args)]
pub struct CommitArgs {
    #[arg(value_name = "CONTAINER", value_parser = parse_container_name)]
    pub container: Name,
    /// NAME[:TAG] of the new image
    #[arg(value_name = "IMAGE", value_parser = parse_image)]
    pub image: ImageRef,
}

/// `export`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// The file to write
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
    pub output: PathBuf,
    #[arg(value_name = "CONTAINER", value_parser = parse_container_name)]
    pub container: Name,
}

/// `images`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImagesArgs {
    /// NAME:TAG only
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `info`.
#[derive(Debug, Clone, clap::Args)]
pub struct InfoArgs {
    /// table (default) or json
    #[arg(long = "format", value_name = "FORMAT", value_enum)]
    pub format: Option<Format>,
}

/// `rmi`.
#[derive(Debug, Clone, clap::Args)]
pub struct RmiArgs {
    /// Delete an image containers use too
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "IMAGE", required = true, value_parser = parse_image)]
    pub images: Vec<ImageRef>,
}

/// `tag`.
#[derive(Debug, Clone, clap::Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE", value_parser = parse_image)]
    pub source: ImageRef,
    #[arg(value_name = "TARGET", value_parser = parse_image)]
    pub target: ImageRef,
}

/// `import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// A file of `export` or `save`
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// NAME[:TAG] (default: the one the file records)
    #[arg(value_name = "IMAGE", value_parser = parse_image)]
    pub image: Option<ImageRef>,
}

/// `save`.
#[derive(Debug, Clone, clap::Args)]
pub struct SaveArgs {
    /// The file to write
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
    pub output: PathBuf,
    #[arg(value_name = "IMAGE", value_parser = parse_image)]
    pub image: ImageRef,
}

/// `load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// The file to read
    #[arg(short = 'i', long = "input", value_name = "FILE", required = true)]
    pub input: PathBuf,
}

/// `build`.
#[derive(Debug, Clone, clap::Args)]
pub struct BuildArgs {
    /// NAME[:TAG] of the image to make (replaced when no container uses it)
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]", required = true, value_parser = parse_image)]
    pub tag: ImageRef,
    /// The recipe (default: Xdockerfile, else Dockerfile, in the context)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A build argument (repeatable)
    #[arg(long = "build-arg", value_name = "KEY=VALUE", value_parser = crate::cli::parse_build_arg)]
    pub build_arg: Vec<(String, String)>,
    /// Build up to this stage
    #[arg(long = "target", value_name = "STAGE")]
    pub target: Option<String>,
    /// Run every step, using no cached layer
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// One flat layer instead of the step layers
    #[arg(long = "squash")]
    pub squash: bool,
    /// The network of RUN steps (default host)
    #[arg(long = "network", value_name = "NETWORK", value_parser = parse_network)]
    pub network: Option<Net>,
    /// The build context
    #[arg(value_name = "DIR")]
    pub context: PathBuf,
}

/// `network create`.
#[derive(Debug, Clone, clap::Args)]
pub struct NetworkCreateArgs {
    /// bridge or macvlan
    #[arg(
        short = 'd',
        long = "driver",
        value_name = "DRIVER",
        default_value = "bridge"
    )]
    pub driver: crate::network::store::Driver,
    /// The network's IPv4 subnet (CIDR)
    #[arg(long = "subnet", value_name = "CIDR")]
    pub subnet: Option<String>,
    /// The gateway (default: the subnet's first address)
    #[arg(long = "gateway", value_name = "IP")]
    pub gateway: Option<std::net::Ipv4Addr>,
    /// No way out of the network (bridge)
    #[arg(long = "internal")]
    pub internal: bool,
    /// dhcp: macvlan addresses from the LAN's DHCP server
    #[arg(long = "ipam-driver", value_name = "DRIVER", value_parser = ["dhcp"])]
    pub ipam_driver: Option<String>,
    /// parent=IF, macvlan_mode=MODE (macvlan); com.docker.network.bridge.name=IF (bridge)
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
    pub opts: Vec<String>,
    #[arg(value_name = "NETWORK", value_parser = parse_container_name)]
    pub name: Name,
}

/// `network ls`.
#[derive(Debug, Clone, clap::Args)]
pub struct NetworkLsArgs {
    /// Names only
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// table (default) or json (one object a line)
    #[arg(long = "format", value_name = "FORMAT", value_parser = ["table", "json"])]
    pub format: Option<String>,
}

/// `network rm`.
#[derive(Debug, Clone, clap::Args)]
pub struct NetworkRmArgs {
    /// Move stopped members to CUSTOM first
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "NETWORK", required = true)]
    pub names: Vec<String>,
}

/// `network inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct NetworkInspectArgs {
    #[arg(value_name = "NETWORK", required = true)]
    pub names: Vec<String>,
}

/// `network SUBVERB`.
#[derive(Debug, Clone, Subcommand)]
pub enum NetworkVerb {
    /// Create a network (bridge, or macvlan on a parent interface)
    Create(NetworkCreateArgs),
    /// List networks
    Ls(NetworkLsArgs),
    /// Remove networks no running container uses
    Rm(NetworkRmArgs),
    /// Networks' details as JSON
    Inspect(NetworkInspectArgs),
}

/// The verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum DockerVerb {
    /// Create a container and start it (with CMD as its main process)
    Run(RunArgs),
    /// Create a container (its main process starts with start)
    Create(ContainerOpts),
    /// Start stopped containers
    Start(StartArgs),
    /// Stop running containers (TERM, then KILL after -t seconds)
    Stop(StopArgs),
    /// Stop and start containers again
    Restart(ContainersArg),
    /// Send a signal to running containers (default KILL)
    Kill(KillArgs),
    /// Remove containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Attach to the main process's terminal (-t), else to a new shell (Ctrl-a q detaches)
    Attach(ContainerArg),
    /// Print a container's console log
    Logs(LogsArgs),
    /// Containers' or images' details as JSON
    Inspect(InspectArgs),
    /// Freeze every process of containers
    Pause(ContainersArg),
    /// Let paused containers run on
    Unpause(ContainersArg),
    /// The processes of a running container
    Top(ContainerArg),
    /// Copy files between a running container and the host
    Cp(CpArgs),
    /// A new image of a container's changes
    Commit(CommitArgs),
    /// A container's file system as an image file
    Export(ExportArgs),
    /// List images
    Images(ImagesArgs),
    /// The home: its names, cgroups and how many containers, images and networks it holds
    Info(InfoArgs),
    /// Remove images
    Rmi(RmiArgs),
    /// A new name for an image (a copy)
    Tag(TagArgs),
    /// An image from a file of export or save
    Import(ImportArgs),
    /// An image to a file
    Save(SaveArgs),
    /// An image from a file of save
    Load(LoadArgs),
    /// An image from a recipe (Dockerfile syntax), with a layer cache
    Build(BuildArgs),
    /// User-defined networks: create, ls, rm, inspect
    #[command(subcommand)]
    Network(NetworkVerb),
}

/// The whole command line of this grammar.
#[derive(Debug, Parser)]
#[command(
    name = "xdocker",
    about = "Docker-style verbs over the same containers and images",
    disable_help_flag = true,
    disable_version_flag = true,
    disable_help_subcommand = true,
    subcommand_required = true,
    color = clap::ColorChoice::Never
)]
struct DockerCli {
    #[command(flatten)]
    help: HelpFlag,
    #[command(subcommand)]
    verb: DockerVerb,
}

/// A checked Docker-style command line.
#[derive(Debug)]
pub enum DockerRequest {
    /// `VERB --help`.
    Help(String),
    /// A verb with its options.
    Run(Box<DockerVerb>),
}

/// The verbs' clap command (for the completions and the help).
pub fn command() -> clap::Command {
    DockerCli::command()
}

/// Both grammars in one clap command, for the shell completions: the
/// `-s`/`-a` options and the verbs as subcommands.
pub fn completion_command() -> clap::Command {
    let mut verbs = command();
    verbs.build();
    crate::cli::Args::command()
        .subcommands(verbs.get_subcommands().cloned())
        .args_conflicts_with_subcommands(true)
}

/// `run  Create a container ...`: one line per verb, for `xdocker --help`.
pub fn verbs_help() -> String {
    let cmd = command();
    let mut out =
        String::from("Docker-style verbs (xdocker VERB --help for each one's options):\n");
    for sub in cmd.get_subcommands() {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        out.push_str(&format!("  {:<9} {about}\n", sub.get_name()));
    }
    out.push_str(
        "Exit codes: 125 an xdocker error, 126 the command cannot run, 127 not found,\n\
         else the main process's code.\n",
    );
    out
}

/// The options of the `-s`/`-a` grammar, as written (`--net`, `-c`).
fn original_option(arg: &str) -> bool {
    let name = arg.split('=').next().unwrap_or(arg);
    crate::cli::Args::command().get_arguments().any(|a| {
        a.get_long().is_some_and(|l| name == format!("--{l}"))
            || a.get_short().is_some_and(|s| name == format!("-{s}"))
    })
}

/// The verb an argument list names (for messages): `network create` for
/// the verbs with verbs of their own.
fn verb_of(argv: &[OsString]) -> String {
    let word = |i: usize| argv.get(i).map(|v| v.to_string_lossy().into_owned());
    match (word(1), word(2)) {
        (Some(v), Some(sub)) if v == "network" && !sub.starts_with('-') => format!("{v} {sub}"),
        (v, _) => v.unwrap_or_default(),
    }
}

/// clap's error as one line naming the verb.
fn usage_error(e: &clap::Error, argv: &[OsString]) -> UsageError {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let verb = escape_controls(&verb_of(argv));
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(escape_controls(s)),
        _ => None,
    };
    let message = match e.kind() {
        ErrorKind::InvalidSubcommand => {
            let names: Vec<String> = command()
                .get_subcommands()
                .map(|s| s.get_name().to_string())
                .collect();
            format!(
                "unknown verb '{verb}' (verbs: {}; the original grammar starts with -s or -a)",
                names.join(", ")
            )
        }
        ErrorKind::UnknownArgument => {
            let arg = context(ContextKind::InvalidArg).unwrap_or_default();
            let whose = if original_option(&arg) {
                ", an option of the -s/-a grammar"
            } else {
                ""
            };
            format!("{verb}: unknown option '{arg}'{whose} (see xdocker {verb} --help)")
        }
        _ => {
            let text = e.to_string();
            let line = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            format!("{verb}: {}", escape_controls(&line))
        }
    };
    UsageError(message)
}

/// Parses a Docker-style command line (the program name first). `help`
/// is `--help` (of both grammars), `help VERB` is `VERB --help`.
pub fn parse(argv: &[OsString]) -> Result<DockerRequest, UsageError> {
    if argv.get(1).is_some_and(|a| a == "help") {
        return match argv.get(2) {
            None => Ok(DockerRequest::Help(crate::cli::help_text())),
            Some(verb) => parse(&[argv[0].clone(), verb.clone(), "--help".into()]),
        };
    }
    let matches = match command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            return Ok(DockerRequest::Help(e.render().to_string()))
        }
        Err(e) => return Err(usage_error(&e, argv)),
    };
    let cli = DockerCli::from_arg_matches(&matches).map_err(|e| usage_error(&e, argv))?;
    check(&cli.verb).map_err(|reason| UsageError(format!("{}: {reason}", verb_of(argv))))?;
    Ok(DockerRequest::Run(Box::new(cli.verb)))
}

/// What clap cannot say: options that exclude each other.
fn check(verb: &DockerVerb) -> Result<(), String> {
    match verb {
        DockerVerb::Run(r) if r.detach && r.opts.rm && r.opts.command.is_empty() => Err(
            "--rm with -d needs a command: a container without a main process never exits".into(),
        ),
        DockerVerb::Run(RunArgs { opts, .. }) | DockerVerb::Create(opts)
            if opts.ip.is_some()
                && opts
                    .network
                    .as_ref()
                    .is_some_and(|n| matches!(n, Net::Host | Net::Custom)) =>
        {
            // (A user network's own checks come with create: a DHCP one
            // refuses --ip.)
            Err("--ip needs the bridge network or a user-defined one".into())
        }
        _ => Ok(()),
    }
}

/// `kill -s`: a signal name (`KILL`, `SIGKILL`) or number.
fn parse_signal(s: &str) -> Result<i32, String> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| format!("'{s}' is not a signal (KILL, TERM, HUP, 9, ...)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &[&str]) -> Result<DockerRequest, UsageError> {
        let mut argv = vec![OsString::from("xdocker")];
        argv.extend(line.iter().map(OsString::from));
        parse(&argv)
    }

    fn verb(line: &[&str]) -> DockerVerb {
        match p(line) {
            Ok(DockerRequest::Run(v)) => *v,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    #[test]
    fn bare_words_are_this_grammar() {
        let argv = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(is_docker(&argv(&["xdocker", "run", "test"])));
        assert!(!is_docker(&argv(&["xdocker", "-a", "create"])));
        assert!(!is_docker(&argv(&["xdocker", "--help"])));
        assert!(!is_docker(&argv(&["xdocker"])));
    }

    #[test]
    fn run_takes_docker_options_and_the_command_as_given() {
        let DockerVerb::Run(r) = verb(&[
            "run",
            "--rm",
            "-e",
            "A=1",
            "-it",
            "--name",
            "web",
            "-p",
            "18080:80",
            "-h",
            "box",
            "-w",
            "/srv",
            "-u",
            "app",
            "--cpus",
            "1.5",
            "test:latest",
            "sh",
            "-c",
            "echo $A; exit 3",
        ]) else {
            panic!("run");
        };
        assert!(r.opts.rm && r.opts.interactive && r.opts.tty && !r.detach);
        assert_eq!(r.opts.name.as_ref().map(Name::as_str), Some("web"));
        assert_eq!(r.opts.hostname.as_deref(), Some("box"));
        assert_eq!(r.opts.image.to_string(), "test");
        assert_eq!(r.opts.command, ["sh", "-c", "echo $A; exit 3"]);
        assert_eq!(r.opts.cpus, Some(150));
        assert_eq!(r.opts.publish.len(), 1);
        let DockerVerb::Run(r) = verb(&["run", "-d", "test:1.0"]) else {
            panic!("run");
        };
        assert_eq!(r.opts.image.to_string(), "test:1.0");
        assert!(r.detach && r.opts.command.is_empty());
    }

    #[test]
    fn options_of_other_verbs_and_grammars_are_refused_naming_both() {
        let e = p(&["run", "--net", "BRIDGE", "test"]).expect_err("other grammar");
        assert_eq!(
            e.0,
            "run: unknown option '--net', an option of the -s/-a grammar (see xdocker run --help)"
        );
        let e = p(&["ps", "--rm"]).expect_err("other verb");
        assert_eq!(e.0, "ps: unknown option '--rm' (see xdocker ps --help)");
        let e = p(&["frobnicate"]).expect_err("no such verb");
        assert!(
            e.0.starts_with("unknown verb 'frobnicate' (verbs: run, create,"),
            "{}",
            e.0
        );
        let e = p(&["run"]).expect_err("no image");
        assert!(e.0.starts_with("run: "), "{}", e.0);
        assert!(
            matches!(p(&["run", "--help"]), Ok(DockerRequest::Help(t)) if t.contains("--publish"))
        );
    }

    #[test]
    fn values_are_docker_s() {
        assert_eq!(parse_signal("HUP"), Ok(1));
        assert_eq!(parse_signal("sigterm"), Ok(15));
        assert_eq!(parse_signal("9"), Ok(9));
        assert!(parse_signal("NOPE").is_err());
        assert_eq!(parse_cpus("0.5"), Ok(50));
        assert!(parse_cpus("lots").is_err());
        assert_eq!(parse_network("host"), Ok(Net::Host));
        assert_eq!(
            parse_network("front").map(|n| n.to_string()),
            Ok("front".to_string())
        );
        assert!(parse_network("a/b").is_err());
        assert_eq!(parse_image("busybox:latest").map(|r| r.version), Ok(None));
        assert_eq!(parse_userns("host"), Ok(false));
    }
}
