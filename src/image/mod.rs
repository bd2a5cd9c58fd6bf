//! Images: the versioned layer store, and the `.xdockerimage` archive format
//! used by export, import and the ssh repository.
pub mod archive;
pub mod config;
pub mod repo;
pub mod store;

pub use config::{default_process, ImageConfig};
pub use store::{user_list, ImageEntry, ImageError, ImageMeta, ImageStore, ImageUser, Pick};
