//! `-s images`: one row per image version; a broken one (no layer, an
//! unreadable manifest) says BROKEN in the size column, and why in
//! `--json`.

use anyhow::Result;
use serde::Serialize;

use super::{human_size, table, Ctx, Output};

#[derive(Serialize)]
struct Row {
    image_id: String,
    version: String,
    modify_datetime: String,
    size: u64,
    created: String,
    base_layers: Vec<String>,
    /// Why the version cannot be used; null when it can.
    broken: Option<String>,
    /// The image's metadata from a recipe build (absent when none).
    #[serde(skip_serializing_if = "crate::image::ImageConfig::is_empty")]
    config: crate::image::ImageConfig,
}

pub fn run(ctx: &Ctx, json: bool) -> Result<Output> {
    let rows: Vec<Row> = ctx
        .images
        .list()?
        .into_iter()
        .map(|e| Row {
            image_id: e.name.to_string(),
            version: e.version.to_string(),
            modify_datetime: e.modified.format("%Y-%m-%dT%H:%M:%S").to_string(),
            size: e.meta.size,
            created: e.meta.created,
            base_layers: e.meta.base_layers,
            broken: e.broken,
            config: e.meta.config,
        })
        .collect();
    if json {
        return Output::json(&rows);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.image_id.clone(),
                r.version.clone(),
                r.modify_datetime.clone(),
                match &r.broken {
                    Some(_) => "BROKEN".to_string(),
                    None => human_size(r.size),
                },
            ]
        })
        .collect();
    Ok(Output::Text(table(
        &["image_id", "version", "modify_datetime", "size"],
        &cells,
    )))
}
