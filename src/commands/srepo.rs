//! `-s ssearch`, `-a spush`, `-a spull`: the ssh image repository
//! (library: `image::repo`). `--srepo` is saved in `xdocker.toml` whenever
//! given; without it the saved one is used.

use anyhow::{Context, Result};
use serde::Serialize;

use super::{human_size, progress_bar, single_image, table, Ctx, Output};
use crate::cli::Args;
use crate::image::repo::{Repo, RepoError, RepoSpec, SshOptions};
use crate::lifecycle;

/// The repository of this command: `--srepo` (then saved), else the saved one.
fn repo_spec(ctx: &Ctx, args: &Args) -> Result<RepoSpec> {
    let path = ctx.home.config_path();
    if let Some(given) = &args.srepo {
        let spec =
            RepoSpec::from_cli(given).map_err(|reason| anyhow::anyhow!("--srepo: {reason}"))?;
        let saved = spec.to_string();
        if ctx.config.srepo.as_deref() != Some(saved.as_str()) {
            let mut config = ctx.config.clone();
            config.srepo = Some(saved.clone());
            config
                .save(&path)
                .with_context(|| format!("save ssh repository {saved}"))?;
            crate::logging::info(&format!(
                "ssh repository {saved} saved in {}",
                path.display()
            ));
        }
        return Ok(spec);
    }
    let Some(saved) = &ctx.config.srepo else {
        return Err(RepoError::NoRepo.into());
    };
    RepoSpec::parse(saved).map_err(|reason| {
        RepoError::BadSaved {
            value: saved.clone(),
            path,
            reason,
        }
        .into()
    })
}

fn connect(ctx: &Ctx, args: &Args) -> Result<Repo> {
    let spec = repo_spec(ctx, args)?;
    Ok(Repo::connect(&spec, &SshOptions::from_env())?)
}

#[derive(Serialize)]
struct Row {
    image_id: String,
    version: String,
    modify_datetime: String,
    size: u64,
}

/// `-s ssearch [--srepo R] [--match S] [--json]`: the repository's images;
/// `--match` keeps those whose `NAME:VERSION` contains S.
pub fn search(ctx: &Ctx, args: &Args) -> Result<Output> {
    let repo = connect(ctx, args)?;
    let rows: Vec<Row> = repo
        .list()?
        .into_iter()
        .filter(|i| args.match_.as_deref().is_none_or(|m| i.label().contains(m)))
        .map(|i| Row {
            image_id: i.name.to_string(),
            version: i.version.to_string(),
            modify_datetime: chrono::DateTime::from_timestamp(
                i64::try_from(i.mtime).unwrap_or(0),
                0,
            )
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%dT%H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default(),
            size: i.size,
        })
        .collect();
    if args.json {
        return Output::json(&rows);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.image_id.clone(),
                r.version.clone(),
                r.modify_datetime.clone(),
                human_size(r.size),
            ]
        })
        .collect();
    Ok(Output::Text(table(
        &["image_id", "version", "modify_datetime", "size"],
        &cells,
    )))
}

/// `-a spush -m NAME[:V] [-f]`.
pub fn push(ctx: &Ctx, args: &Args) -> Result<Output> {
    let image = single_image(args, "spush")?;
    let spec = repo_spec(ctx, args)?;
    lifecycle::push_image(&ctx.runtime, &image, &spec, ctx.force, &progress_bar)?;
    Ok(Output::Ok)
}

/// `-a spull -m NAME[:V] [-f]`: no version means the repository's highest.
pub fn pull(ctx: &Ctx, args: &Args) -> Result<Output> {
    let image = single_image(args, "spull")?;
    let spec = repo_spec(ctx, args)?;
    lifecycle::pull_image(&ctx.runtime, &image, &spec, ctx.force, &progress_bar)?;
    Ok(Output::Ok)
}
