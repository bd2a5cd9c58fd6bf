//! `-a import --image-file F [-m NAME[:V]]`: imports an `.xdockerimage`, or
//! a plain `docker export` tarball named with `-m`. Nothing becomes visible
//! unless the whole archive checked out.

use anyhow::{bail, Context, Result};

use super::progress_bar::Bar;
use super::{single_image, Ctx, Output};
use crate::cli::Args;
use crate::fsutil::tree::tree_size;
use crate::image::archive;
use crate::image::store::{new_meta, parse_stored_name, LAYER_DIR};
use crate::image::ImageError;
use crate::names::Version;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    let Some(path) = &args.image_file else {
        bail!("-a import needs --image-file");
    };
    let given = match args.images {
        Some(_) => Some(single_image(args, "import")?),
        None => None,
    };
    // Refuse an existing target before reading the whole archive: the name
    // is in -m, or in the manifest at the start of an .xdockerimage.
    let early = match &given {
        Some(g) => Some((g.name.to_string(), g.version_or_none().to_string())),
        None => archive::open_archive(path)
            .ok()
            .and_then(|(f, _)| archive::read_manifest(f).ok())
            .map(|m| (m.name, m.version)),
    };
    if let Some((name, version)) = early {
        let exists = match (name.parse(), version.parse::<Version>()) {
            (Ok(n), Ok(v)) => ctx.images.versions(&n)?.contains(&v),
            _ => false,
        };
        if exists && !ctx.force {
            return Err(ImageError::Exists(format!("{name}:{version}")).into());
        }
    }
    let (file, len) = archive::open_archive(path)?;
    let staging = ctx.images.stage("import")?;
    let bar = Bar::new(&format!("import {}", path.display()), len);
    let summary = archive::import(
        std::io::BufReader::with_capacity(1 << 20, file),
        &staging.path().join(LAYER_DIR),
        given.is_some(),
        &bar,
    )
    .with_context(|| format!("import {}", path.display()))?;
    drop(bar);
    let (name, version, mut meta) = match (&given, &summary.manifest) {
        (Some(g), m) => {
            let mut meta = new_meta(0, "import");
            if let Some(m) = m {
                meta.base_layers = m.base_layers.clone();
                meta.config = m.config.clone();
            }
            (g.name.clone(), g.version_or_none(), meta)
        }
        (None, Some(m)) => {
            let name = parse_stored_name(&path.display().to_string(), &m.name)?;
            let version: Version = m
                .version
                .parse()
                .with_context(|| format!("import {}: manifest version", path.display()))?;
            let mut meta = new_meta(0, "import");
            meta.created = m.created.clone();
            meta.base_layers = m.base_layers.clone();
            meta.config = m.config.clone();
            (name, version, meta)
        }
        (None, None) => bail!("import {}: no manifest and no -m", path.display()),
    };
    meta.size = tree_size(&staging.path().join(LAYER_DIR))?;
    let _lock = ctx.images.lock(&name)?;
    ctx.images
        .commit(staging, &name, &version, meta, ctx.force)?;
    crate::logging::info(&format!(
        "image {name}:{version} imported from {} ({} entries, {} bytes)",
        path.display(),
        summary.entries,
        summary.bytes
    ));
    Ok(Output::Ok)
}
