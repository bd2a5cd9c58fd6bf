//! Stopping and signalling containers, and what follows a stop: a
//! container made with `--rm` (Docker's auto-removal) is destroyed once
//! it stopped after a run, whichever way it stopped: by `stop`, by its
//! main process ending (found by the next command, [`release_stopped`]),
//! or a waited-for `-e` run ending ([`super::boot`]).

use std::time::Duration;

use nix::sys::signal::Signal;

use super::destroy::{destroy, DestroyRequest};
use super::LifecycleError;
use crate::names::Name;
use crate::runtime::{Runtime, RuntimeError, StopMode};

/// `stop`, `kill`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopRequest {
    pub name: Name,
    pub mode: StopMode,
    /// With `Shutdown`: how long before init is killed (None: its grace
    /// period and a margin).
    pub wait: Option<Duration>,
    /// A container that is not running is no error.
    pub force: bool,
}

/// What a stop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Stopped (or, with `force`, it was not running).
    Stopped,
    /// Stopped, and removed (`--rm`).
    Removed,
}

/// Stops container `name`; a `--rm` one is removed then.
pub fn stop(rt: &Runtime, req: &StopRequest) -> Result<Stopped, LifecycleError> {
    rt.stop_within(&req.name, req.mode, req.force, req.wait)?;
    remove_if_auto(rt, &req.name)
}

/// Sends signal number `signo` to running container `name`: KILL stops it
/// (and removes a `--rm` one), others go to its init (see
/// [`Runtime::signal`]).
pub fn signal(rt: &Runtime, name: &Name, signo: i32) -> Result<Stopped, LifecycleError> {
    let signal = Signal::try_from(signo).map_err(|_| RuntimeError::Step {
        name: name.to_string(),
        step: "signal",
        source: format!("{signo} is not a signal").into(),
    })?;
    if signal == Signal::SIGKILL {
        let req = StopRequest {
            name: name.clone(),
            mode: StopMode::Kill,
            wait: None,
            force: false,
        };
        return stop(rt, &req);
    }
    rt.signal(name, signal)?;
    Ok(Stopped::Stopped)
}

/// Destroys stopped container `name` when it was made with `--rm`.
pub(super) fn remove_if_auto(rt: &Runtime, name: &Name) -> Result<Stopped, LifecycleError> {
    if !rt.containers.config(name).is_ok_and(|c| c.auto_remove) {
        return Ok(Stopped::Stopped);
    }
    let req = DestroyRequest {
        name: name.clone(),
        shutdown: false,
        force: true,
    };
    destroy(rt, &req)?;
    crate::logging::info(&format!("container {name}: removed (--rm)"));
    Ok(Stopped::Removed)
}

/// What every command does first: releases what stopped containers held
/// (see [`Runtime::release_stale`]) and removes the `--rm` ones among them.
/// A removal that fails is logged; the container stays (`rm` removes it).
pub fn release_stopped(rt: &Runtime) -> Result<(), LifecycleError> {
    for name in rt.release_stale()? {
        if let Err(e) = remove_if_auto(rt, &name) {
            crate::logging::warn(&format!("container {name}: --rm: {e}"));
        }
    }
    Ok(())
}
