//! Filesystem helpers shared by the image store and the container runtime.
pub mod atomic;
pub mod copy;
pub mod inroot;
pub mod tree;
