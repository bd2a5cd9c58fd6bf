//! Filesystem helpers shared by the image store and the container runtime.
pub mod atomic;
pub mod copy;
pub mod fsids;
pub mod inroot;
pub mod sparse;
pub mod tree;
