//! `-a putfile`, `-a getfile`, `-a rplfile`: files of a running container.
//! Every container path is resolved inside the container's root
//! (`fsutil::inroot`, through [`lifecycle::container_root`]), never on the
//! host.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::lifecycle;
use crate::names::Name;

fn container(args: &Args) -> Result<&Name> {
    args.container
        .as_ref()
        .ok_or_else(|| anyhow!("needs -c/--container"))
}

fn required<'a>(value: &'a Option<PathBuf>, option: &str) -> Result<&'a Path> {
    value.as_deref().ok_or_else(|| anyhow!("needs {option}"))
}

/// `-a putfile -c C --src-file HOST --dst-file CTR`.
pub fn putfile(ctx: &Ctx, args: &Args) -> Result<Output> {
    let name = container(args)?;
    let src = required(&args.src_file, "--src-file")?;
    let dst = required(&args.dst_file, "--dst-file")?;
    lifecycle::put_file(&ctx.runtime, name, src, dst)?;
    Ok(Output::Ok)
}

/// `-a getfile -c C --src-file CTR --dst-file HOST`.
pub fn getfile(ctx: &Ctx, args: &Args) -> Result<Output> {
    let name = container(args)?;
    let src = required(&args.src_file, "--src-file")?;
    let dst = required(&args.dst_file, "--dst-file")?;
    lifecycle::get_file(&ctx.runtime, name, src, dst)?;
    Ok(Output::Ok)
}

/// `-a rplfile -c C --template-file T --mapping-file M [--instance-file I]`.
pub fn rplfile(ctx: &Ctx, args: &Args) -> Result<Output> {
    let name = container(args)?;
    let template = required(&args.template_file, "--template-file")?;
    let mapping = required(&args.mapping_file, "--mapping-file")?;
    let instance = args.instance_file.as_deref();
    lifecycle::rpl_file(&ctx.runtime, name, template, mapping, instance)?;
    Ok(Output::Ok)
}
