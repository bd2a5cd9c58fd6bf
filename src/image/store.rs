//! The image store: `images/NAME/VERSION/` holding the layer `rlayer/` and a
//! small manifest `image.toml`. New versions are built in a staging directory
//! and appear with one rename; removals disappear with one rename first.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};
use serde::{Deserialize, Serialize};

use super::config::ImageConfig;
use crate::fsutil::atomic::{write_atomic, AtomicWriteError};
use crate::fsutil::copy::{copy_tree, CopyError};
use crate::fsutil::tree::{tree_size, WalkError};
use crate::home::{Home, HomeError, LockKind, ObjectLock, Staging};
use crate::names::{ImageRef, Name, NameError, Version};

/// Name of the layer directory inside an image version.
pub const LAYER_DIR: &str = "rlayer";
/// The image name whose versions are the step layers of the build cache
/// (`=build:LAYERID`), kept in [`BUILD_CACHE_DIR`] of the home.
pub const BUILD_CACHE_IMAGE: &str = "=build";
/// The build cache's directory in the home.
pub const BUILD_CACHE_DIR: &str = "build_cache";
/// Name of the manifest inside an image version.
pub const META_FILE: &str = "image.toml";

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image {0} not found")]
    NotFound(String),
    #[error("image {0} already exists (use -f to replace it)")]
    Exists(String),
    #[error("image {0} already exists")]
    RenameTargetExists(String),
    #[error("image {name} has several versions ({versions}): name one as {name}:VERSION")]
    Ambiguous { name: String, versions: String },
    #[error("image {image} is used by container {containers} (use -f to delete anyway)")]
    InUse { image: String, containers: String },
    #[error("image {image} is a layer of running container {containers}: shut it down first (-f does not override this)")]
    InUseRunning { image: String, containers: String },
    #[error("image {image} is used by container {containers}: its version cannot change")]
    InUseRename { image: String, containers: String },
    #[error("image {image}: {path}: {source}")]
    Io {
        image: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("image {image} is broken: {reason} (del_image -f removes it)")]
    Broken { image: String, reason: String },
    #[error("image {image}: manifest {path}: {reason}")]
    BadMeta {
        image: String,
        path: PathBuf,
        reason: String,
    },
    #[error("image {image}: invalid name on disk: {source}")]
    BadName { image: String, source: NameError },
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
    #[error(transparent)]
    Walk(#[from] WalkError),
    #[error("copy image {image}: {source}")]
    Copy { image: String, source: CopyError },
}

/// The manifest of one image version (`image.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageMeta {
    pub name: String,
    pub version: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Apparent size of the layer in bytes.
    pub size: u64,
    /// Layers this one was made on top of (`NAME:VERSION`, bottom first).
    #[serde(default)]
    pub base_layers: Vec<String>,
    /// How the image came to be: install_test, import, copy_image, to_image.
    #[serde(default)]
    pub source: String,
    /// What containers made from it get (env, workdir, entrypoint/cmd...),
    /// set by recipe builds; not written when empty.
    #[serde(default, skip_serializing_if = "ImageConfig::is_empty")]
    pub config: ImageConfig,
}

/// One image version as listed.
#[derive(Debug, Clone)]
pub struct ImageEntry {
    pub name: Name,
    pub version: Version,
    pub dir: PathBuf,
    pub meta: ImageMeta,
    /// Last change of the version directory (its manifest is replaced atomically).
    pub modified: DateTime<Local>,
    /// Why the version cannot be used (no layer directory, an unreadable
    /// manifest): listed as broken, removed by `del_image -f`.
    pub broken: Option<String>,
}

/// What to do when a reference leaves the version open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Take the highest version (create, export, copy source).
    Highest,
    /// Take the only version; refuse when there are several (delete, rename).
    Only,
}

/// The image store of one home.
#[derive(Debug, Clone)]
pub struct ImageStore {
    home: Home,
}

fn io_err(image: &str, path: &Path) -> impl FnOnce(io::Error) -> ImageError {
    let (image, path) = (image.to_string(), path.to_path_buf());
    move |source| ImageError::Io {
        image,
        path,
        source,
    }
}

/// `NAME:VERSION` as shown in messages.
fn label(name: &Name, version: &Version) -> String {
    format!("{name}:{version}")
}

impl ImageStore {
    /// The store inside `home`.
    pub fn new(home: &Home) -> Self {
        Self { home: home.clone() }
    }

    /// The home this store lives in.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Serialises changes to the versions of one image name.
    pub fn lock(&self, name: &Name) -> Result<ObjectLock, ImageError> {
        Ok(self.home.lock(LockKind::Image, name)?)
    }

    /// Versions of `name`, lowest first.
    pub fn versions(&self, name: &Name) -> Result<Vec<Version>, ImageError> {
        let mut usable = self.all_versions(name)?;
        usable.retain(|v| self.layer_dir(name, v).is_dir());
        Ok(usable)
    }

    /// Every version directory of `name`, broken ones too (see
    /// [`ImageEntry::broken`]), lowest first.
    pub fn all_versions(&self, name: &Name) -> Result<Vec<Version>, ImageError> {
        let dir = self.name_dir(name);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            // A stray file under images/ is no image: nothing to list.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                return Ok(Vec::new())
            }
            Err(e) => return Err(io_err(name.as_str(), &dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(name.as_str(), &dir))?;
            let file_name = entry.file_name();
            // Only valid version directories count; anything else (a stray
            // file, a dot-directory) is not an image version.
            let Some(v) = file_name.to_str().and_then(|s| s.parse::<Version>().ok()) else {
                continue;
            };
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(v);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Turns a reference into an existing version.
    pub fn resolve(&self, r: &ImageRef, pick: Pick) -> Result<Version, ImageError> {
        let versions = self.versions(&r.name)?;
        match &r.version {
            Some(v) if versions.contains(v) => Ok(v.clone()),
            Some(_) => Err(ImageError::NotFound(r.to_string())),
            None => match (versions.len(), pick) {
                (0, _) => Err(ImageError::NotFound(r.to_string())),
                (1, _) | (_, Pick::Highest) => Ok(versions[versions.len() - 1].clone()),
                (_, Pick::Only) => Err(ImageError::Ambiguous {
                    name: r.name.to_string(),
                    versions: versions
                        .iter()
                        .map(Version::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            },
        }
    }

    /// The directory of a version.
    pub fn dir(&self, name: &Name, version: &Version) -> PathBuf {
        self.name_dir(name).join(version.as_str())
    }

    /// The directory of an image name's versions: `images/NAME/`, and
    /// for [`BUILD_CACHE_IMAGE`] the home's build cache, whose step layers
    /// are versions of that name (so images stack on them as on any
    /// image, and `-s images` does not list them).
    pub fn name_dir(&self, name: &Name) -> PathBuf {
        match name.as_str() {
            BUILD_CACHE_IMAGE => self.home.root().join(BUILD_CACHE_DIR),
            _ => self.home.images_dir().join(name.as_str()),
        }
    }

    /// The layer directory of a version.
    pub fn layer_dir(&self, name: &Name, version: &Version) -> PathBuf {
        self.dir(name, version).join(LAYER_DIR)
    }

    /// Reads one version's manifest; a version made by hand without one gets
    /// The recorded configuration (ENTRYPOINT, CMD, ENV, ...) of the top of
    /// a stack of layers: the defaults of a container made on them and of
    /// an image made from such a container (`commit`, `to_image`, as
    /// Docker's commit keeps them); empty when it records none or cannot
    /// be read.
    pub fn top_config(&self, stack: &[ImageRef]) -> ImageConfig {
        let Some(top) = stack.last() else {
            return ImageConfig::default();
        };
        self.resolve(top, Pick::Highest)
            .and_then(|v| self.entry(&top.name, &v))
            .map(|entry| entry.meta.config)
            .unwrap_or_default()
    }

    /// Reads one usable version's manifest; a version made by hand without
    /// one gets a manifest derived from its directory. A broken version
    /// (see [`ImageEntry::broken`]) is an error naming why.
    pub fn entry(&self, name: &Name, version: &Version) -> Result<ImageEntry, ImageError> {
        let entry = self.inspect(name, version)?;
        match &entry.broken {
            Some(reason) => Err(ImageError::Broken {
                image: label(name, version),
                reason: reason.clone(),
            }),
            None => Ok(entry),
        }
    }

    /// One version as it is, broken or not (for listing and deleting).
    pub fn inspect(&self, name: &Name, version: &Version) -> Result<ImageEntry, ImageError> {
        let dir = self.dir(name, version);
        let image = label(name, version);
        let dir_meta = fs::metadata(&dir).map_err(io_err(&image, &dir))?;
        let modified: DateTime<Local> = dir_meta.modified().map_err(io_err(&image, &dir))?.into();
        let meta_path = dir.join(META_FILE);
        let layer = dir.join(LAYER_DIR);
        let mut broken = (!layer.is_dir()).then(|| "no layer directory (rlayer)".to_string());
        let derived = || ImageMeta {
            name: name.to_string(),
            version: version.to_string(),
            created: modified.to_rfc3339(),
            size: tree_size(&layer).unwrap_or(0),
            base_layers: Vec::new(),
            source: "directory".to_string(),
            config: ImageConfig::default(),
        };
        let meta = match fs::read_to_string(&meta_path) {
            Ok(text) => match toml::from_str(&text) {
                Ok(meta) => meta,
                Err(e) => {
                    broken.get_or_insert(format!("{META_FILE}: {}", e.message()));
                    derived()
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => derived(),
            Err(e) => return Err(io_err(&image, &meta_path)(e)),
        };
        Ok(ImageEntry {
            name: name.clone(),
            version: version.clone(),
            dir,
            meta,
            modified,
            broken,
        })
    }

    /// Every image version, by name then version.
    pub fn list(&self) -> Result<Vec<ImageEntry>, ImageError> {
        let images = self.home.images_dir();
        let mut names = Vec::new();
        for entry in fs::read_dir(&images).map_err(io_err("store", &images))? {
            let entry = entry.map_err(io_err("store", &images))?;
            if let Some(n) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<Name>().ok())
            {
                names.push(n);
            }
        }
        names.sort();
        let mut out = Vec::new();
        for name in names {
            for version in self.all_versions(&name)? {
                out.push(self.inspect(&name, &version)?);
            }
        }
        Ok(out)
    }

    /// A staging directory to build a new version in: put the layer in
    /// `LAYER_DIR` below it, then call [`ImageStore::commit`].
    pub fn stage(&self, purpose: &str) -> Result<Staging, ImageError> {
        let staging = self.home.staging(purpose)?;
        let layer = staging.path().join(LAYER_DIR);
        fs::create_dir(&layer).map_err(io_err(purpose, &layer))?;
        Ok(staging)
    }

    /// Moves a staged version into place as `name:version` with its
    /// manifest. The caller holds the image lock. With `replace`, an existing
    /// version is swapped out and removed; without, it is an error.
    pub fn commit(
        &self,
        staging: Staging,
        name: &Name,
        version: &Version,
        mut meta: ImageMeta,
        replace: bool,
    ) -> Result<ImageEntry, ImageError> {
        let image = label(name, version);
        meta.name = name.to_string();
        meta.version = version.to_string();
        let text = toml::to_string_pretty(&meta).map_err(|e| ImageError::BadMeta {
            image: image.clone(),
            path: staging.path().join(META_FILE),
            reason: e.to_string(),
        })?;
        write_atomic(&staging.path().join(META_FILE), text.as_bytes(), 0o644)?;
        let target = self.dir(name, version);
        let parent = self.name_dir(name);
        match fs::create_dir(&parent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(&image, &parent)(e)),
        }
        let old = if target.exists() {
            if !replace {
                return Err(ImageError::Exists(image));
            }
            // Swap the old version out first, so the target path is never
            // half old, half new; the old tree goes away after the new is in.
            match self.home.trash("replaced", &target) {
                Ok(trash) => Some(trash),
                Err(HomeError::Trash { source, .. }) => {
                    return Err(io_err(&image, &target)(source))
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        fs::rename(staging.path(), &target).map_err(io_err(&image, &target))?;
        let _ = crate::fsutil::atomic::sync_dir(&parent);
        drop(old);
        self.entry(name, version)
    }

    /// Moves a prepared directory (holding `LAYER_DIR`) into place as a new
    /// version with its manifest, never replacing one. On error `dir` is
    /// left as it was, so the caller can give its layer back.
    pub fn place(
        &self,
        dir: &Path,
        name: &Name,
        version: &Version,
        mut meta: ImageMeta,
    ) -> Result<(), ImageError> {
        let image = label(name, version);
        meta.name = name.to_string();
        meta.version = version.to_string();
        let text = toml::to_string_pretty(&meta).map_err(|e| ImageError::BadMeta {
            image: image.clone(),
            path: dir.join(META_FILE),
            reason: e.to_string(),
        })?;
        let target = self.dir(name, version);
        if target.exists() {
            return Err(ImageError::Exists(image));
        }
        write_atomic(&dir.join(META_FILE), text.as_bytes(), 0o644)?;
        let parent = self.name_dir(name);
        match fs::create_dir(&parent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(&image, &parent)(e)),
        }
        fs::rename(dir, &target).map_err(io_err(&image, &target))?;
        let _ = crate::fsutil::atomic::sync_dir(&parent);
        Ok(())
    }

    /// Rewrites the manifest of an existing version (the caller holds the
    /// lock).
    pub fn write_meta(
        &self,
        name: &Name,
        version: &Version,
        meta: &ImageMeta,
    ) -> Result<(), ImageError> {
        let path = self.dir(name, version).join(META_FILE);
        let text = toml::to_string_pretty(meta).map_err(|e| ImageError::BadMeta {
            image: label(name, version),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&path, text.as_bytes(), 0o644)?;
        Ok(())
    }

    /// Images that record `name:version` among their base layers.
    pub fn dependents(&self, name: &Name, version: &Version) -> Result<Vec<String>, ImageError> {
        let wanted = label(name, version);
        Ok(self
            .list()?
            .into_iter()
            .filter(|e| e.meta.base_layers.contains(&wanted))
            .map(|e| label(&e.name, &e.version))
            .collect())
    }

    /// Deletes one version (the caller holds the lock and checked users). The
    /// version vanishes with one rename, then its tree is removed.
    pub fn delete(&self, name: &Name, version: &Version) -> Result<(), ImageError> {
        let image = label(name, version);
        let dir = self.dir(name, version);
        match self.home.trash("deleted", &dir) {
            Ok(trash) => drop(trash),
            Err(HomeError::Trash { source, .. }) => return Err(io_err(&image, &dir)(source)),
            Err(e) => return Err(e.into()),
        }
        // The name directory goes when its last version went.
        let _ = fs::remove_dir(self.name_dir(name));
        Ok(())
    }

    /// Renames a version (`-a version`); the caller holds the lock.
    pub fn rename_version(
        &self,
        name: &Name,
        from: &Version,
        to: &Version,
    ) -> Result<ImageEntry, ImageError> {
        let src = self.dir(name, from);
        let dst = self.dir(name, to);
        if dst.exists() {
            return Err(ImageError::RenameTargetExists(label(name, to)));
        }
        let mut meta = self.entry(name, from)?.meta;
        meta.version = to.to_string();
        fs::rename(&src, &dst).map_err(io_err(&label(name, from), &src))?;
        let text = toml::to_string_pretty(&meta).map_err(|e| ImageError::BadMeta {
            image: label(name, to),
            path: dst.join(META_FILE),
            reason: e.to_string(),
        })?;
        write_atomic(&dst.join(META_FILE), text.as_bytes(), 0o644)?;
        self.entry(name, to)
    }

    /// Copies a version exactly to a new staging directory and commits it.
    pub fn copy(
        &self,
        from: (&Name, &Version),
        to: (&Name, &Version),
        replace: bool,
    ) -> Result<ImageEntry, ImageError> {
        let src = self.entry(from.0, from.1)?;
        let staging = self.home.staging("copy")?;
        let layer = staging.path().join(LAYER_DIR);
        copy_tree(&src.dir.join(LAYER_DIR), &layer).map_err(|source| ImageError::Copy {
            image: label(from.0, from.1),
            source,
        })?;
        let meta = ImageMeta {
            created: Local::now().to_rfc3339(),
            source: format!("copy_image from {}", label(from.0, from.1)),
            ..src.meta
        };
        self.commit(staging, to.0, to.1, meta, replace)
    }

    /// Containers of this home whose config names `name:version` among
    /// their images (read from `containers/C/config.toml`, key `images`),
    /// and those whose config cannot be read: they may use it.
    pub fn users(&self, name: &Name, version: &Version) -> Result<Vec<ImageUser>, ImageError> {
        #[derive(Deserialize)]
        struct Uses {
            #[serde(default)]
            images: Vec<String>,
        }
        let dir = self.home.containers_dir();
        let wanted = label(name, version);
        let mut users = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("store", &dir))? {
            let entry = entry.map_err(io_err("store", &dir))?;
            let config = entry.path().join("config.toml");
            let Ok(text) = fs::read_to_string(&config) else {
                continue;
            };
            let user = |unreadable| ImageUser {
                name: entry.file_name().to_string_lossy().into_owned(),
                unreadable,
            };
            match toml::from_str::<Uses>(&text) {
                Ok(uses) if uses.images.contains(&wanted) => users.push(user(false)),
                Ok(_) => {}
                Err(_) => users.push(user(true)),
            }
        }
        users.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(users)
    }
}

/// A container that uses an image version, or may: one whose config
/// cannot be read (a broken container) does not say which images it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    pub name: String,
    pub unreadable: bool,
}

impl fmt::Display for ImageUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.unreadable {
            f.write_str(" (broken: its config cannot be read, it may use it)")?;
        }
        Ok(())
    }
}

/// `c1, c2 (broken: ...)`: users as error messages name them.
pub fn user_list(users: &[ImageUser]) -> String {
    users
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A new manifest for a layer built now.
pub fn new_meta(size: u64, source: &str) -> ImageMeta {
    ImageMeta {
        name: String::new(),
        version: String::new(),
        created: Local::now().to_rfc3339(),
        size,
        base_layers: Vec::new(),
        source: source.to_string(),
        config: ImageConfig::default(),
    }
}

/// Checks a name read from disk or an archive.
pub fn parse_stored_name(image: &str, name: &str) -> Result<Name, ImageError> {
    Name::parse_as("image name", name).map_err(|source| ImageError::BadName {
        image: image.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ImageStore) {
        let t = tempfile::tempdir().expect("tempdir");
        let home = Home::open(t.path()).expect("home");
        (t, ImageStore::new(&home))
    }

    fn add(store: &ImageStore, name: &str, version: &str) {
        let n: Name = name.parse().expect("name");
        let v: Version = version.parse().expect("version");
        let s = store.stage("test").expect("stage");
        fs::write(s.path().join(LAYER_DIR).join("f"), version).expect("write");
        store
            .commit(s, &n, &v, new_meta(1, "test"), false)
            .expect("commit");
    }

    #[test]
    fn commit_list_resolve_delete() {
        let (_t, st) = store();
        add(&st, "web", "1.9.2");
        add(&st, "web", "1.10.0");
        add(&st, "web", "_");
        let names: Vec<String> = st
            .list()
            .expect("list")
            .iter()
            .map(|e| format!("{}:{}", e.name, e.version))
            .collect();
        assert_eq!(names, ["web:_", "web:1.9.2", "web:1.10.0"]);
        let web: ImageRef = "web".parse().expect("ref");
        assert_eq!(
            st.resolve(&web, Pick::Highest).expect("resolve").as_str(),
            "1.10.0"
        );
        let e = st.resolve(&web, Pick::Only).unwrap_err().to_string();
        assert_eq!(
            e,
            "image web has several versions (_, 1.9.2, 1.10.0): name one as web:VERSION"
        );
        let missing: ImageRef = "web:3".parse().expect("ref");
        assert_eq!(
            st.resolve(&missing, Pick::Highest).unwrap_err().to_string(),
            "image web:3 not found"
        );
        let n: Name = "web".parse().expect("name");
        for v in ["_", "1.9.2", "1.10.0"] {
            st.delete(&n, &v.parse().expect("v")).expect("delete");
        }
        assert!(st.list().expect("list").is_empty());
        assert!(!st.home().images_dir().join("web").exists());
    }

    #[test]
    fn commit_refuses_an_existing_version_unless_replacing() {
        let (_t, st) = store();
        add(&st, "a", "1");
        let n: Name = "a".parse().expect("name");
        let v: Version = "1".parse().expect("v");
        let s = st.stage("test").expect("stage");
        let staged = s.path().to_path_buf();
        let e = st.commit(s, &n, &v, new_meta(0, "t"), false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "image a:1 already exists (use -f to replace it)"
        );
        assert!(!staged.exists(), "failed commit removes its staging");
        let s = st.stage("test").expect("stage");
        fs::write(s.path().join(LAYER_DIR).join("g"), "new").expect("write");
        st.commit(s, &n, &v, new_meta(0, "t"), true)
            .expect("replace");
        assert!(st.layer_dir(&n, &v).join("g").exists());
        assert!(!st.layer_dir(&n, &v).join("f").exists());
        assert_eq!(fs::read_dir(st.home().tmp_dir()).expect("ls").count(), 0);
    }

    #[test]
    fn rename_and_users() {
        let (_t, st) = store();
        add(&st, "a", "_");
        let n: Name = "a".parse().expect("name");
        let e = st
            .rename_version(&n, &Version::none(), &"2.0".parse().expect("v"))
            .expect("rename");
        assert_eq!(e.meta.version, "2.0");
        let c = st.home().containers_dir().join("c1");
        fs::create_dir(&c).expect("mkdir");
        fs::write(c.join("config.toml"), "images = [\"a:2.0\"]\n").expect("write");
        let v2: Version = "2.0".parse().expect("v");
        let names = |users: Vec<ImageUser>| user_list(&users);
        assert_eq!(names(st.users(&n, &v2).expect("users")), "c1");
        // Another image's user is none; a broken config may be one.
        let other = st.home().containers_dir().join("c0");
        fs::create_dir(&other).expect("mkdir");
        fs::write(other.join("config.toml"), "images = [\"b:_\"]\n").expect("write");
        let broken = st.home().containers_dir().join("c2");
        fs::create_dir(&broken).expect("mkdir");
        fs::write(broken.join("config.toml"), "garbage\n").expect("write");
        assert_eq!(
            names(st.users(&n, &v2).expect("users")),
            "c1, c2 (broken: its config cannot be read, it may use it)"
        );
    }
}
