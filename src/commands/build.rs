//! `-a build`, `-s build_cache` and `-a prune_build_cache`: the options
//! mapped onto [`lifecycle::build`]'s request; the build's progress is
//! written to stdout as it goes, in the form Docker's classic builder
//! prints (`Step 3/9 : RUN ...`, ` ---> Using cache`), RUN output in
//! between as the step's command writes it.

use anyhow::Result;
use serde::Serialize;

use super::{build_progress, human_size, table, Ctx, Output};
use crate::cli::Args;
use crate::lifecycle::{self, BuildRequest};
use crate::names::Version;
use crate::network::Net;

/// A short layer id, as Docker shows image ids.
fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(to) = &args.to_image else {
        anyhow::bail!("-a build needs --to-image");
    };
    let version = match (&args.version, &to.version) {
        (Some(_), Some(_)) => {
            anyhow::bail!("give the version either in --to-image or in --version")
        }
        (Some(v), None) | (None, Some(v)) => v.clone(),
        (None, None) => Version::none(),
    };
    build_progress::build(
        ctx,
        BuildRequest {
            file: args.file.clone(),
            context: match &args.context {
                Some(c) => std::path::absolute(c)?,
                None => std::env::current_dir()?,
            },
            image: to.name.clone(),
            version,
            build_args: args.build_arg.clone(),
            target: args.target.clone(),
            no_cache: args.no_cache,
            squash: args.squash,
            net: args.net.clone().unwrap_or(Net::Host),
            replace: ctx.force,
        },
    )
}

#[derive(Serialize)]
struct Row {
    layer_id: String,
    size: u64,
    created: String,
    last_used: Option<String>,
    step: String,
    used_by: Vec<String>,
    dangling: bool,
}

/// `-s build_cache [--json]`.
pub fn show(ctx: &Ctx, json: bool) -> Result<Output> {
    let rows: Vec<Row> = lifecycle::build_cache(&ctx.runtime)?
        .into_iter()
        .map(|e| Row {
            layer_id: e.id,
            size: e.size,
            created: e.created,
            last_used: e.last_used,
            step: e.step,
            used_by: e.used_by,
            dangling: e.dangling,
        })
        .collect();
    if json {
        return Output::json(&rows);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                short(&r.layer_id).to_string(),
                human_size(r.size),
                r.last_used
                    .as_deref()
                    .map(|t| t.get(..19).unwrap_or(t).replace('T', " "))
                    .unwrap_or_default(),
                r.used_by.len().to_string(),
                r.step.clone(),
            ]
        })
        .collect();
    Ok(Output::Text(table(
        &["layer_id", "size", "last_used", "users", "step"],
        &cells,
    )))
}

/// `-a prune_build_cache [--all]`.
pub fn prune(ctx: &Ctx, args: &Args) -> Result<Output> {
    let pruned = lifecycle::prune_build_cache(&ctx.runtime, args.all)?;
    Ok(Output::Done(format!(
        "{} cached layers removed ({}), {} kept in use by images or containers",
        pruned.layers,
        human_size(pruned.bytes),
        pruned.kept_in_use
    )))
}
