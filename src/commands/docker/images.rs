//! The image verbs: `images [-q]`, `rmi [-f]`, `tag`, `commit`, and the
//! image files: `save IMAGE -o F`, `export CONTAINER -o F`, `load -i F`,
//! `import F [IMAGE]` (Docker's TAG is xdocker's VERSION; `latest`, or no
//! tag, the highest version, or none for a new image).

use anyhow::Result;

use crate::commands::{human_size, progress_bar as bar, table, Ctx, Output};
use crate::docker_cli::{
    CommitArgs, ExportArgs, ImagesArgs, ImportArgs, LoadArgs, RmiArgs, SaveArgs, TagArgs,
};
use crate::lifecycle::{self, CommitRequest};

pub fn list(ctx: &Ctx, a: &ImagesArgs) -> Result<Output> {
    let entries = ctx.images.list()?;
    if a.quiet {
        return Ok(Output::Text(
            entries
                .iter()
                .map(|e| format!("{}:{}\n", e.name, e.version))
                .collect(),
        ));
    }
    let rows: Vec<Vec<String>> = entries
        .into_iter()
        .map(|e| {
            vec![
                e.name.to_string(),
                e.version.to_string(),
                super::since(&e.meta.created)
                    .map(|d| format!("{} ago", super::human_duration(d)))
                    .unwrap_or_else(|| e.meta.created.clone()),
                match e.broken {
                    Some(_) => "BROKEN".to_string(),
                    None => human_size(e.meta.size),
                },
            ]
        })
        .collect();
    Ok(Output::Text(table(
        &["REPOSITORY", "TAG", "CREATED", "SIZE"],
        &rows,
    )))
}

pub fn rmi(ctx: &Ctx, a: &RmiArgs) -> Result<Output> {
    let mut out = String::new();
    for image in &a.images {
        let version = lifecycle::delete_image(&ctx.runtime, image, a.force)?;
        out.push_str(&format!("Deleted: {}:{version}\n", image.name));
    }
    Ok(Output::Text(out))
}

pub fn tag(ctx: &Ctx, a: &TagArgs) -> Result<Output> {
    lifecycle::copy_image(&ctx.runtime, &a.source, &a.target, false)?;
    Ok(Output::Exit(0))
}

pub fn commit(ctx: &Ctx, a: &CommitArgs) -> Result<Output> {
    let req = CommitRequest {
        container: a.container.clone(),
        image: a.image.name.clone(),
        version: a.image.version_or_none(),
    };
    let done = lifecycle::commit(&ctx.runtime, &req)?;
    Ok(Output::Text(format!("{}\n", done.image)))
}

pub fn export(ctx: &Ctx, a: &ExportArgs) -> Result<Output> {
    let target = Some(a.output.clone());
    lifecycle::export_container_file(&ctx.runtime, &a.container, target, true, &bar)?;
    Ok(Output::Exit(0))
}

pub fn save(ctx: &Ctx, a: &SaveArgs) -> Result<Output> {
    let target = Some(a.output.clone());
    lifecycle::export_image(&ctx.runtime, &a.image, target, true, &bar)?;
    Ok(Output::Exit(0))
}

pub fn load(ctx: &Ctx, a: &LoadArgs) -> Result<Output> {
    let done = lifecycle::import_image(&ctx.runtime, &a.input, None, false, &bar)?;
    Ok(Output::Text(format!(
        "Loaded image: {}:{}\n",
        done.name, done.version
    )))
}

pub fn import(ctx: &Ctx, a: &ImportArgs) -> Result<Output> {
    let done = lifecycle::import_image(&ctx.runtime, &a.file, a.image.as_ref(), false, &bar)?;
    Ok(Output::Text(format!("{}:{}\n", done.name, done.version)))
}
