//! Containers: their stored configuration, their run state as the kernel
//! sees it, and the directory layout of `containers/C/`.
pub mod config;
pub mod env;
pub mod logs;
pub mod running;
pub mod runtime_files;
pub mod service;
pub mod state;
pub mod store;
pub mod subids;
pub mod volume;

pub use config::ContainerConfig;
pub use env::EnvVar;
pub use service::{RestartPolicy, Service};
pub use state::{RunState, Status};
pub use store::{ContainerError, ContainerStore};
pub use volume::Volume;
