//! `start [-a] [-i] CONTAINER...`: boots stopped containers, each with
//! its stored main process in the background (a running one is left as
//! it is); `-a` waits for the one container's main process in the
//! foreground instead, its exit code ours: attached to its terminal when
//! the container was made with `-t` (`Ctrl-a q` detaches).

use anyhow::{bail, Result};

use super::{each, stdin_from_null};
use crate::commands::{booted, with_stdio, Ctx, Output};
use crate::docker_cli::StartArgs;
use crate::lifecycle::{self, BootRequest, Start};
use crate::names::Name;

fn request<'a>(name: &Name, start: Start<'a>) -> BootRequest<'a> {
    BootRequest::stored(name.clone(), start)
}

pub fn run(ctx: &Ctx, a: &StartArgs) -> Result<Output> {
    let rt = &ctx.runtime;
    if a.attach {
        let [name] = a.containers.as_slice() else {
            bail!("start -a takes one container");
        };
        if !a.interactive {
            stdin_from_null()?;
        }
        let Some(cmd) = rt.containers.config(name)?.command else {
            bail!(
                "container {name} has no main process to wait for: start it without -a \
                 (exec and attach give it a shell)"
            );
        };
        if rt.containers.config(name)?.tty {
            return with_stdio(|io| {
                Ok(booted(
                    name,
                    lifecycle::boot(rt, request(name, Start::AttachMain(io)))?,
                ))
            });
        }
        return Ok(booted(
            name,
            lifecycle::boot(rt, request(name, Start::Exec(cmd)))?,
        ));
    }
    each(&a.containers, |name| {
        if rt.status_releasing_leftovers(name)?.pid().is_none() {
            lifecycle::boot(rt, request(name, Start::Detached))?;
        }
        Ok(())
    })
}
