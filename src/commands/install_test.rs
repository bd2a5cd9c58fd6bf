//! `-a install_test [--version V]`: builds the small image `test` with
//! `scripts/xdocker_install_test.sh` (busybox, or host binaries).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::fsutil::tree::tree_size;
use crate::image::store::{new_meta, LAYER_DIR};
use crate::image::ImageError;
use crate::names::{Name, Version};

/// Name of the image this action builds.
pub const TEST_IMAGE: &str = "test";

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let name: Name = TEST_IMAGE.parse()?;
    let version = args.version.clone().unwrap_or_else(Version::none);
    let script = crate::shipped::find(Path::new("scripts/xdocker_install_test.sh"))?;
    let _lock = ctx.images.lock(&name)?;
    if ctx.images.versions(&name)?.contains(&version) && !ctx.force {
        return Err(ImageError::Exists(format!("{name}:{version}")).into());
    }
    let staging = ctx.images.stage("install_test")?;
    let layer = staging.path().join(LAYER_DIR);
    // The path goes to the script as one argument, never through a shell.
    let out = Command::new(&script)
        .arg(&layer)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {}", script.display()))?;
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        crate::logging::debug(&format!("install_test: {line}"));
    }
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("no message");
        bail!(
            "build image {name}:{version}: {} failed: {last}",
            script.display()
        );
    }
    let size = tree_size(&layer)?;
    ctx.images.commit(
        staging,
        &name,
        &version,
        new_meta(size, "install_test"),
        ctx.force,
    )?;
    crate::logging::info(&format!("image {name}:{version} built by install_test"));
    Ok(Output::Ok)
}
