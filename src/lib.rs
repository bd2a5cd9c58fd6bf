//! xdocker: VM-like Linux system containers. This library holds everything
//! but the command line's printing and exiting, which live in `entry.rs`
//! (shared by the `xdocker` and `xdocker-srepo` programs).
//!
//! No `unsafe` here: raw system calls go through `xdockerinit::sys`, the
//! one thin syscall layer of both binaries (DESIGN habit 9).
#![deny(unsafe_code)]

pub mod build;
pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod companion;
pub mod config;
pub mod container;
pub mod conversion;
pub mod crashpoint;
pub mod docker_cli;
pub mod fsutil;
pub mod home;
pub mod image;
pub mod intent;
pub mod lifecycle;
pub mod lock_wait;
pub mod logging;
pub mod names;
pub mod network;
pub mod progress;
pub mod runtime;
pub mod session;
pub mod shipped;
pub mod template;

// The root gate of the unit tests that need root: the one copy, shared
// with the integration tests (see that file).
#[cfg(test)]
#[path = "../tests/common/root_gate.rs"]
mod root_gate;
