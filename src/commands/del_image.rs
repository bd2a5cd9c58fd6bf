//! `-a del_image -m NAME[:V]`: deletes an image version not in use (a
//! broken one with `-f`). `-f` overrides the check for stopped containers
//! only: an image under a running container is never deleted, its files
//! would vanish beneath the container.

use anyhow::{bail, Result};

use super::{refuse_build_cache, single_image, Ctx, Output};
use crate::cli::Args;
use crate::container::Status;
use crate::home::{LockKind, ObjectLock};
use crate::image::{ImageError, Pick};
use crate::names::Name;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let image = single_image(args, "del_image")?;
    refuse_build_cache(&image)?;
    let _lock = ctx.images.lock(&image.name)?;
    let version = match ctx.images.resolve(&image, Pick::Only) {
        Ok(v) => v,
        // A broken version is no candidate of `resolve`: named exactly (or
        // the only directory there), it can still be removed.
        Err(e) => {
            let all = ctx.images.all_versions(&image.name)?;
            match (&image.version, all.as_slice()) {
                (Some(v), _) if all.contains(v) => v.clone(),
                (None, [only]) => only.clone(),
                _ => return Err(e.into()),
            }
        }
    };
    if let Some(reason) = ctx.images.inspect(&image.name, &version)?.broken {
        if !ctx.force {
            bail!(
                "image {}:{version} is broken ({reason}): del_image -f removes it",
                image.name
            );
        }
        crate::logging::warn(&format!(
            "deleting broken image {}:{version} ({reason}, -f)",
            image.name
        ));
    }
    let users = ctx.images.users(&image.name, &version)?;
    // The users' locks are held until the image is gone, so none of them
    // boots on it meanwhile; one that is locked now (booting, stopping)
    // counts as running.
    let (running, _held) = running_users(ctx, &users)?;
    if !running.is_empty() {
        return Err(ImageError::InUseRunning {
            image: format!("{}:{version}", image.name),
            containers: running.join(", "),
        }
        .into());
    }
    if !users.is_empty() {
        if !ctx.force {
            return Err(ImageError::InUse {
                image: format!("{}:{version}", image.name),
                containers: users.join(", "),
            }
            .into());
        }
        crate::logging::warn(&format!(
            "deleting image {}:{version} used by stopped container {} (-f)",
            image.name,
            users.join(", ")
        ));
    }
    ctx.images.delete(&image.name, &version)?;
    crate::logging::info(&format!("image {}:{version} deleted", image.name));
    Ok(Output::Ok)
}

/// The users that run now (or are busy: their lock is held by another
/// command), and the locks of the others.
fn running_users(ctx: &Ctx, users: &[String]) -> Result<(Vec<String>, Vec<ObjectLock>)> {
    let mut running = Vec::new();
    let mut held = Vec::new();
    for user in users {
        let name = Name::parse_as("container name", user)?;
        match ctx.home.try_lock(LockKind::Container, &name)? {
            Some(lock) => held.push(lock),
            None => {
                running.push(format!("{user} (busy)"));
                continue;
            }
        }
        if let Status::Running { .. } = ctx.runtime.containers.status(&name)? {
            running.push(user.clone());
        }
    }
    Ok((running, held))
}
