//! `inspect NAME...`: containers (what `-s info --json` shows) and images
//! (their manifest and where they are), as one JSON array.

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::commands::{Ctx, Output};
use crate::docker_cli::{parse_image, InspectArgs};
use crate::image::Pick;
use crate::lifecycle;
use crate::names::Name;

fn one(ctx: &Ctx, text: &str) -> Result<Value> {
    if let Ok(name) = Name::parse_as("container name", text) {
        if ctx.runtime.containers.exists(&name) {
            return Ok(serde_json::to_value(lifecycle::inspect(
                &ctx.runtime,
                &name,
            )?)?);
        }
    }
    let Ok(image) = parse_image(text) else {
        bail!("no such container or image: {text}");
    };
    let Ok(version) = ctx.images.resolve(&image, Pick::Highest) else {
        bail!("no such container or image: {text}");
    };
    let entry = ctx.images.inspect(&image.name, &version)?;
    Ok(json!({
        "image": format!("{}:{}", entry.name, entry.version),
        "dir": entry.dir,
        "modified": entry.modified.to_rfc3339(),
        "broken": entry.broken,
        "meta": entry.meta,
    }))
}

pub fn run(ctx: &Ctx, a: &InspectArgs) -> Result<Output> {
    let all = a
        .names
        .iter()
        .map(|n| one(ctx, n))
        .collect::<Result<Vec<_>>>()?;
    Output::json(&all)
}
