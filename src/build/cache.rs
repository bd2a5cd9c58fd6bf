//! The build cache of a home: step layers as versions of the reserved
//! image name `=build` (`XDOCKER_HOME/build_cache/LAYERID/`, each with its
//! `rlayer/`, its manifest `image.toml` — the layers below it as base
//! layers, the step as its source — and `last_used`). Images built from a
//! recipe stack on these layers (they are their base layers), so they are
//! shared, never copied. A layer appears with one rename when complete;
//! a layer that an image or a container uses is never removed: `del_image`
//! refuses to delete one (it is a base layer), and pruning skips them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use chrono::{DateTime, Local};
use serde::Deserialize;

use crate::home::Staging;
use crate::image::store::{ImageMeta, BUILD_CACHE_IMAGE};
use crate::image::{ImageError, ImageStore};
use crate::names::{ImageRef, Name, Version};

/// The file holding a layer's last use (RFC 3339).
const LAST_USED: &str = "last_used";

/// Unused layers last used longer ago than this go with a plain prune.
pub const PRUNE_AFTER_HOURS: i64 = 24;

/// The image name of the cache's layers.
pub fn cache_name() -> Name {
    Name::parse_as("image name", BUILD_CACHE_IMAGE).unwrap_or_else(|_| unreachable!())
}

/// `=build:ID` as an image reference.
pub fn layer_ref(id: &str) -> Result<ImageRef, crate::names::NameError> {
    Ok(ImageRef {
        name: cache_name(),
        version: Some(id.parse()?),
    })
}

/// Whether layer `id` is in the cache (complete: it appeared with one
/// rename).
pub fn has(images: &ImageStore, id: &Version) -> bool {
    images.layer_dir(&cache_name(), id).is_dir()
}

/// Records a use of layer `id` now.
pub fn touch(images: &ImageStore, id: &Version) {
    let path = images.dir(&cache_name(), id).join(LAST_USED);
    let _ = crate::fsutil::atomic::write_atomic_volatile(
        &path,
        Local::now().to_rfc3339().as_bytes(),
        0o644,
    );
}

/// Puts a staged layer into the cache as `id` (the caller holds the
/// cache's lock). One that is there already stays (the staged one goes).
pub fn insert(
    images: &ImageStore,
    staging: Staging,
    id: &Version,
    meta: ImageMeta,
) -> Result<(), ImageError> {
    let name = cache_name();
    if has(images, id) {
        return Ok(());
    }
    images.commit(staging, &name, id, meta, false)?;
    touch(images, id);
    Ok(())
}

/// One cached layer as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub id: String,
    pub size: u64,
    pub created: String,
    pub last_used: Option<String>,
    /// The step that made it (`RUN ...`).
    pub step: String,
    /// Images and containers that stack on it.
    pub used_by: Vec<String>,
    /// Why it can never be used again (a layer below it is gone).
    pub dangling: bool,
}

/// Which images and containers use each cache layer.
fn users(images: &ImageStore) -> Result<BTreeMap<String, Vec<String>>, ImageError> {
    #[derive(Deserialize)]
    struct Uses {
        #[serde(default)]
        images: Vec<String>,
    }
    let prefix = format!("{BUILD_CACHE_IMAGE}:");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in images.list()? {
        for b in &e.meta.base_layers {
            if let Some(id) = b.strip_prefix(&prefix) {
                out.entry(id.to_string())
                    .or_default()
                    .push(format!("image {}:{}", e.name, e.version));
            }
        }
    }
    let dir = images.home().containers_dir();
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let Ok(text) = fs::read_to_string(entry.path().join("config.toml")) else {
                continue;
            };
            let Ok(uses) = toml::from_str::<Uses>(&text) else {
                continue;
            };
            for i in uses.images {
                if let Some(id) = i.strip_prefix(&prefix) {
                    out.entry(id.to_string())
                        .or_default()
                        .push(format!("container {}", entry.file_name().to_string_lossy()));
                }
            }
        }
    }
    Ok(out)
}

/// Every cached layer, oldest use first.
pub fn list(images: &ImageStore) -> Result<Vec<CacheEntry>, ImageError> {
    let name = cache_name();
    let users = users(images)?;
    let versions = images.all_versions(&name)?;
    let present: BTreeSet<String> = versions.iter().map(|v| v.to_string()).collect();
    let mut out = Vec::new();
    for v in versions {
        let e = images.inspect(&name, &v)?;
        let last_used = fs::read_to_string(e.dir.join(LAST_USED))
            .ok()
            .map(|t| t.trim().to_string());
        let dangling = e.broken.is_some()
            || e.meta.base_layers.iter().any(|b| {
                match b.strip_prefix(&format!("{BUILD_CACHE_IMAGE}:")) {
                    Some(id) => !present.contains(id),
                    None => base_missing(images, b),
                }
            });
        out.push(CacheEntry {
            id: v.to_string(),
            size: e.meta.size,
            created: e.meta.created.clone(),
            last_used,
            step: e.meta.source.clone(),
            used_by: users.get(v.as_str()).cloned().unwrap_or_default(),
            dangling,
        });
    }
    out.sort_by(|a, b| a.last_used.cmp(&b.last_used).then(a.id.cmp(&b.id)));
    Ok(out)
}

fn base_missing(images: &ImageStore, label: &str) -> bool {
    match label.parse::<ImageRef>() {
        Ok(r) => !images.layer_dir(&r.name, &r.version_or_none()).is_dir(),
        Err(_) => true,
    }
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub layers: usize,
    pub bytes: u64,
    pub kept_in_use: usize,
}

/// Removes the layers no image and no container uses: with `all` every
/// one of them, otherwise those that can never be used again (a layer
/// below them is gone) or were last used more than
/// [`PRUNE_AFTER_HOURS`] ago. The caller holds the cache's lock.
pub fn prune(images: &ImageStore, all: bool, now: DateTime<Local>) -> Result<Pruned, ImageError> {
    let name = cache_name();
    let mut pruned = Pruned::default();
    for e in list(images)? {
        if !e.used_by.is_empty() {
            pruned.kept_in_use += 1;
            continue;
        }
        let old = e
            .last_used
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_none_or(|t| (now - t.with_timezone(&Local)).num_hours() >= PRUNE_AFTER_HOURS);
        if all || e.dangling || old {
            let Ok(v) = e.id.parse::<Version>() else {
                continue;
            };
            images.delete(&name, &v)?;
            pruned.layers += 1;
            pruned.bytes += e.size;
        }
    }
    Ok(pruned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::home::Home;
    use crate::image::store::{new_meta, LAYER_DIR};

    fn add(images: &ImageStore, id: &str, bases: &[&str], used_hours_ago: i64) {
        let staging = images.stage("test").unwrap();
        fs::write(staging.path().join(LAYER_DIR).join("f"), id).unwrap();
        let mut meta = new_meta(2, &format!("RUN {id} (line 1)"));
        meta.base_layers = bases.iter().map(|b| b.to_string()).collect();
        let v: Version = id.parse().unwrap();
        insert(images, staging, &v, meta).unwrap();
        let at = Local::now() - chrono::Duration::hours(used_hours_ago);
        fs::write(
            images.dir(&cache_name(), &v).join(LAST_USED),
            at.to_rfc3339(),
        )
        .unwrap();
    }

    #[test]
    fn prune_keeps_what_images_use_and_takes_old_and_dangling_layers() {
        let t = tempfile::tempdir().unwrap();
        let home = Home::open(t.path()).unwrap();
        let images = ImageStore::new(&home);
        let base: Name = "base".parse().unwrap();
        let staging = images.stage("test").unwrap();
        images
            .commit(staging, &base, &Version::none(), new_meta(0, "t"), false)
            .unwrap();
        add(&images, "a1", &["base:_"], 0);
        add(&images, "a2", &["base:_", "=build:a1"], 0);
        add(&images, "old", &["base:_"], 48);
        add(&images, "orphan", &["gone:_"], 0);
        add(&images, "child", &["base:_", "=build:missing"], 0);
        // An image built on a1 and a2.
        let staging = images.stage("test").unwrap();
        let mut meta = new_meta(0, "build");
        meta.base_layers = vec!["base:_".into(), "=build:a1".into(), "=build:a2".into()];
        let web: Name = "web".parse().unwrap();
        images
            .commit(staging, &web, &Version::none(), meta, false)
            .unwrap();
        let listed = list(&images).unwrap();
        let mut dangling: Vec<&str> = listed
            .iter()
            .filter(|e| e.dangling)
            .map(|e| e.id.as_str())
            .collect();
        dangling.sort();
        assert_eq!(dangling, ["child", "orphan"]);
        let used: Vec<&str> = listed
            .iter()
            .filter(|e| !e.used_by.is_empty())
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(used, ["a1", "a2"]);
        let pruned = prune(&images, false, Local::now()).unwrap();
        assert_eq!((pruned.layers, pruned.kept_in_use), (3, 2));
        let left: Vec<String> = list(&images).unwrap().into_iter().map(|e| e.id).collect();
        assert_eq!(left, ["a1", "a2"]);
        // --all: still never a layer an image uses.
        add(&images, "fresh", &["base:_"], 0);
        assert_eq!(prune(&images, false, Local::now()).unwrap().layers, 0);
        assert_eq!(prune(&images, true, Local::now()).unwrap().layers, 1);
        assert_eq!(list(&images).unwrap().len(), 2);
    }
}
