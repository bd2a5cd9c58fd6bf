//! The life of a container as library calls: create, boot, attach and run,
//! pause and continue, restart, change, destroy, the conversions between
//! containers and images, and the copies that leave the container as it is
//! (commit, export); what a home holds.
//! Each call takes a typed request, takes the locks it needs itself and
//! returns what happened; the commands only map arguments onto requests
//! and results onto output (DESIGN.md habit 1).

mod autostart;
mod boot;
pub mod build;
mod change;
mod commit;
mod convert;
mod create;
mod destroy;
mod export;
mod files;
mod home;
mod images;
mod inspect;
mod logs;
mod network;
mod pause;
mod restart;
mod session;
mod srepo;
mod stop;
mod top;

use std::path::PathBuf;

pub use autostart::{autostart, set_autostart, AutostartReport};
pub use boot::{boot, BootRequest, Booted, Start};
pub use build::{
    build, build_cache, build_leftovers, prune_build_cache, BuildEvent, BuildRequest, Built,
};
pub use change::{change, Change};
pub use commit::{commit, CommitRequest, Committed};
pub use convert::{to_container, to_image, Converted, ToContainerRequest, ToImageRequest};
pub use create::{
    create, main_command, resolve_stack, CreateRequest, Created, NewContainer, Security,
};
pub use destroy::{destroy, DestroyRequest, Destroyed};
pub use export::{export_container, ContainerExport};
pub use files::{as_container_root, container_root, get_file, put_file, rpl_file};
pub use home::{home, ContainerCounts, HomeNames, HomeSummary};
pub use images::{
    copy_image, default_file_name, delete_image, export_container_file, export_image, import_image,
    install_test, rename_version, Exported, Imported, ProgressFor,
};
pub use inspect::{inspect, list, running_pid, Inspection, LogInfo, Summary, Supervised};
pub use logs::{logs, LogsRequest};
pub use network::{network_create, network_inspect, network_remove, networks, NetworkSummary};
pub use pause::{pause, resume};
pub use restart::{restart, RestartRequest, Restarted};
pub use session::{attach, attach_main, exec, exit_code, run_command, ExecRequest, SessionOptions};
pub use srepo::{pull_image, push_image};
pub use stop::{release_stopped, signal, stop, StopRequest, Stopped};
pub use top::{top, Process};

use crate::cgroups::CgroupError;
use crate::container::logs::LogsError;
use crate::container::ContainerError;
use crate::conversion::ConversionError;
use crate::fsutil::copy::CopyError;
use crate::image::archive::ArchiveError;
use crate::image::ImageError;
use crate::names::NameError;
use crate::runtime::RuntimeError;
use crate::session::SessionError;

/// Errors of the container lifecycle.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("image {image} needs its base layer {base}, which is not here")]
    BaseLayerMissing {
        image: String,
        base: String,
        #[source]
        source: Box<ImageError>,
    },
    #[error("image {image} records no base layers: name them with -m")]
    NoBaseLayers { image: String },
    #[error("image {image} is used by container {containers}: it cannot become a container")]
    ImageInUse { image: String, containers: String },
    #[error("image {image} is a base layer of {dependents}: it cannot become a container")]
    ImageIsBase { image: String, dependents: String },
    #[error("--cpus: {source}")]
    Cpus {
        #[source]
        source: CgroupError,
    },
    #[error("volume source {} does not exist", .path.display())]
    VolumeSource { path: PathBuf },
    #[error("capability {0} is in both --cap-add and --cap-drop")]
    CapabilityTwice(String),
    /// `--service`: a name given twice.
    #[error("--service: {0}")]
    Services(String),
    #[error("container {name}: {option} needs --net BRIDGE or a bridge network{}", if *.option == "--vip" { " (or a static macvlan one)" } else { "" })]
    NeedsBridge { name: String, option: &'static str },
    #[error("container {name}: {what} needs --net BRIDGE (it is {net})")]
    ChangeNeedsBridge {
        name: String,
        what: &'static str,
        net: String,
    },
    #[error("container {name} is running (pid {pid}): {hint}")]
    Running {
        name: String,
        pid: i32,
        hint: &'static str,
    },
    #[error("container {name} was not created: its boot failed: {source}")]
    BootOfNewFailed {
        name: String,
        #[source]
        source: Box<RuntimeError>,
    },
    #[error(
        "container {name}: its boot failed: {source}; the container was created and stays \
         stopped (removing it failed: {cleanup})"
    )]
    BootOfNewFailedKept {
        name: String,
        cleanup: String,
        #[source]
        source: Box<RuntimeError>,
    },
    #[error("container {name} has no session socket {} (booted by an older xdocker? reboot it)", .path.display())]
    NoSessionSocket { name: String, path: PathBuf },
    #[error("container {0} is stopping: its session socket refuses connections")]
    Stopping(String),
    #[error(
        "container {name} is paused (pid {pid}): continue it first with -a continue -c {name}"
    )]
    Paused { name: String, pid: i32 },
    #[error(
        "container {name} is at its process limit ({now} of --pids-limit {max}): a session \
         needs one more process; raise it with -a boot --pids-limit N after a shutdown"
    )]
    ProcessLimit { name: String, now: u64, max: u64 },
    #[error("autostart: {failed} of {total} containers failed: {list}")]
    Autostart {
        failed: usize,
        total: usize,
        list: String,
    },
    // commit and a container's export
    #[error(
        "image {image} already exists: commit makes a new image, give another name or --version"
    )]
    CommitTargetExists { image: String },
    #[error("container {container}: copy its writable layer: {source}")]
    CopyLayer {
        container: String,
        #[source]
        source: CopyError,
    },
    #[error("export container {container}: {source}")]
    Export {
        container: String,
        #[source]
        source: ArchiveError,
    },
    #[error("container {name}: {op}: {source}")]
    InContainer {
        name: String,
        op: &'static str,
        #[source]
        source: crate::fsutil::inroot::InRootError,
    },
    #[error("container {name}: {source}")]
    ContainerRoot {
        name: String,
        #[source]
        source: crate::fsutil::inroot::InRootError,
    },
    #[error("container {name}: rplfile: mapping file {}: {}", .path.display(), xdockerinit::sys::IoText(.error))]
    MappingRead {
        name: String,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("container {name}: rplfile: mapping file {}: {source}", .path.display())]
    MappingParse {
        name: String,
        path: PathBuf,
        #[source]
        source: crate::template::TemplateError,
    },
    #[error("container {name}: take the ids of its root: {}", xdockerinit::sys::ErrnoText(*.errno))]
    ContainerRootIds {
        name: String,
        errno: nix::errno::Errno,
    },
    // Images as a whole, and their files
    #[error("image {image} cannot be copied onto itself")]
    CopyOntoItself { image: String },
    #[error("image {image} is broken ({reason}): del_image -f removes it")]
    ImageBroken { image: String, reason: String },
    #[error(
        "image {image} is a layer of the build cache: -a prune_build_cache removes \
         the layers no image or container uses"
    )]
    BuildCacheLayer { image: String },
    #[error("image {image} already has version {version}")]
    SameVersion { image: String, version: String },
    #[error("run {}: {source}", .path.display())]
    RunScript {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("build image {image}: {} failed: {last}", .path.display())]
    ScriptFailed {
        image: String,
        path: PathBuf,
        /// The last line of its stderr.
        last: String,
    },
    #[error(transparent)]
    NotShipped(#[from] crate::shipped::NotShipped),
    #[error(transparent)]
    Repo(Box<crate::image::repo::RepoError>),
    #[error("image file {} already exists (use -f to replace it)", .path.display())]
    ImageFileExists { path: PathBuf },
    #[error("image file {} has no file name", .path.display())]
    ImageFileName { path: PathBuf },
    #[error("{op} {}: {source}", .path.display())]
    ImageFileIo {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("export image {image}: {source}")]
    ExportImage {
        image: String,
        #[source]
        source: ArchiveError,
    },
    #[error("import {}: {source}", .path.display())]
    Import {
        path: PathBuf,
        #[source]
        source: ArchiveError,
    },
    #[error("import {}: {reason}", .path.display())]
    ImportManifest { path: PathBuf, reason: String },
    #[error("container {name}: {source}")]
    Logs {
        name: String,
        #[source]
        source: LogsError,
    },
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// Boxed (here and below), as these errors are large.
    #[error(transparent)]
    Runtime(Box<RuntimeError>),
    #[error(transparent)]
    Image(Box<ImageError>),
    #[error(transparent)]
    Conversion(Box<ConversionError>),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    Network(#[from] crate::network::store::NetworkStoreError),
}

impl From<ImageError> for LifecycleError {
    fn from(e: ImageError) -> Self {
        Self::Image(Box::new(e))
    }
}

impl From<crate::image::repo::RepoError> for LifecycleError {
    fn from(e: crate::image::repo::RepoError) -> Self {
        Self::Repo(Box::new(e))
    }
}

impl From<ConversionError> for LifecycleError {
    fn from(e: ConversionError) -> Self {
        Self::Conversion(Box::new(e))
    }
}

impl From<RuntimeError> for LifecycleError {
    fn from(e: RuntimeError) -> Self {
        Self::Runtime(Box::new(e))
    }
}
