//! The `XDOCKER_HOME` directory: its layout, per-object locks and the staging
//! area where new images and containers are built before they become visible.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::names::{Name, Version};

/// The default home when neither `XDOCKER_HOME` nor `xdocker_HOME` is set.
pub const DEFAULT_HOME: &str = "/var/xdocker";

/// Errors of the home directory.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("home {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("home {path} must be an absolute path")]
    Relative { path: PathBuf },
    #[error("lock {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
    #[error("{what} is busy: {detail}")]
    Busy { what: String, detail: String },
    #[error("staging directory {path}: {source}")]
    Staging { path: PathBuf, source: io::Error },
    #[error("move {path} away: {source}")]
    Trash { path: PathBuf, source: io::Error },
}

/// The home directory and the paths inside it.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

/// The kind of object a lock serialises.
#[derive(Debug, Clone, Copy)]
pub enum LockKind {
    Image,
    Container,
    /// Home-wide network resources (VIPs, port leases); the name is fixed.
    Network,
    /// The home's user-namespace id slots; the name is fixed.
    IdSlots,
}

impl LockKind {
    /// What the lock protects, for messages.
    pub fn label(self) -> &'static str {
        match self {
            LockKind::Image => "image",
            LockKind::Container => "container",
            LockKind::Network => "the network of",
            LockKind::IdSlots => "the id slots of",
        }
    }
}

/// An exclusive lock on one object, released when dropped.
#[derive(Debug)]
pub struct ObjectLock {
    _lock: Flock<File>,
}

impl Home {
    /// Picks the home from `XDOCKER_HOME`, then the seed spelling
    /// `xdocker_HOME`, then `/var/xdocker`.
    pub fn from_env() -> Result<Self, HomeError> {
        let root = ["XDOCKER_HOME", "xdocker_HOME"]
            .iter()
            .find_map(|k| std::env::var_os(k).filter(|v| !v.is_empty()))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HOME));
        Self::open(&root)
    }

    /// Opens (and creates when missing) the home at `root`.
    pub fn open(root: &Path) -> Result<Self, HomeError> {
        if !root.is_absolute() {
            return Err(HomeError::Relative {
                path: root.to_path_buf(),
            });
        }
        let home = Self {
            root: root.to_path_buf(),
        };
        for (dir, mode) in [
            (home.root.clone(), 0o755),
            (home.images_dir(), 0o755),
            (home.containers_dir(), 0o755),
            (home.locks_dir(), 0o700),
            (home.tmp_dir(), 0o700),
        ] {
            match fs::DirBuilder::new().mode(mode).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
                Err(source) => return Err(HomeError::Create { path: dir, source }),
            }
        }
        Ok(home)
    }

    /// The home directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `images/`: one directory per image name, one below per version.
    pub fn images_dir(&self) -> PathBuf {
        self.root.join("images")
    }

    /// `images/NAME/VERSION/`.
    pub fn image_dir(&self, name: &Name, version: &Version) -> PathBuf {
        self.images_dir().join(name.as_str()).join(version.as_str())
    }

    /// `containers/`: one directory per container.
    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// `xdocker.log`.
    pub fn log_path(&self) -> PathBuf {
        self.root.join("xdocker.log")
    }

    /// `xdocker.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("xdocker.toml")
    }

    fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// `tmp/`: staging on the same filesystem as images/ and containers/, so
    /// that finished work is moved into place with one rename.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Takes the exclusive lock of an object, waiting for other xdocker
    /// commands that hold it (see [`crate::lock_wait`]: after a second the
    /// wait is said, naming the holder; a holder that stays stopped, or a
    /// wait past the bound, is an error).
    pub fn lock(&self, kind: LockKind, name: &Name) -> Result<ObjectLock, HomeError> {
        let path = self.lock_path(kind, name);
        let file = open_lock_file(&path).map_err(|source| HomeError::Lock {
            path: path.clone(),
            source,
        })?;
        let what = format!("{} {name}", kind.label());
        let lock = crate::lock_wait::exclusive(file, &what).map_err(|e| match e {
            crate::lock_wait::WaitError::Busy(detail) => HomeError::Busy { what, detail },
            crate::lock_wait::WaitError::Sys(errno) => HomeError::Lock {
                path,
                source: errno.into(),
            },
        })?;
        Ok(ObjectLock { _lock: lock })
    }

    /// Takes the lock of an object only if nobody holds it.
    pub fn try_lock(&self, kind: LockKind, name: &Name) -> Result<Option<ObjectLock>, HomeError> {
        let path = self.lock_path(kind, name);
        let file = open_lock_file(&path).map_err(|source| HomeError::Lock {
            path: path.clone(),
            source,
        })?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(ObjectLock { _lock: lock })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, errno)) => Err(HomeError::Lock {
                path,
                source: errno.into(),
            }),
        }
    }

    fn lock_path(&self, kind: LockKind, name: &Name) -> PathBuf {
        let prefix = match kind {
            LockKind::Image => "image",
            LockKind::Container => "container",
            LockKind::Network => "network",
            LockKind::IdSlots => "idslots",
        };
        self.locks_dir().join(format!("{prefix}.{name}"))
    }

    /// Creates a private staging directory under `tmp/`; it is removed when
    /// dropped unless its content was moved away. The owner holds an flock
    /// on the directory itself; a staging directory left by a killed
    /// command is removed by the next command (see `remove_stale_staging`):
    /// its lock is no longer held.
    pub fn staging(&self, purpose: &str) -> Result<Staging, HomeError> {
        let err = |path: &Path, source| HomeError::Staging {
            path: path.to_path_buf(),
            source,
        };
        for attempt in 0..100u32 {
            let dir = self.staging_name(purpose, attempt);
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(err(&dir, e)),
            }
            // Blocking: `remove_stale_staging` may have locked the new
            // directory before us, and then removed it: try another name.
            let lock = match lock_dir(&dir, FlockArg::LockExclusive) {
                Ok(lock) if still_at(&lock, &dir) => lock,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(err(&dir, e)),
            };
            return Ok(Staging { dir, _lock: lock });
        }
        Err(err(&self.tmp_dir(), io::ErrorKind::AlreadyExists.into()))
    }

    /// Moves `dir` into `tmp/` as a staging directory (one rename, locked
    /// before it moves), so that it vanishes at once and is removed when
    /// the staging directory is dropped, or by the next command if this one
    /// is killed meanwhile.
    pub fn trash(&self, purpose: &str, dir: &Path) -> Result<Staging, HomeError> {
        let err = |source| HomeError::Trash {
            path: dir.to_path_buf(),
            source,
        };
        let lock = lock_dir(dir, FlockArg::LockExclusive).map_err(err)?;
        for attempt in 0..100u32 {
            let staging = self.staging_name(purpose, attempt);
            match nix::fcntl::renameat2(
                None,
                dir,
                None,
                &staging,
                nix::fcntl::RenameFlags::RENAME_NOREPLACE,
            ) {
                Ok(()) => {
                    return Ok(Staging {
                        dir: staging,
                        _lock: lock,
                    })
                }
                Err(nix::errno::Errno::EEXIST) => continue,
                Err(errno) => return Err(err(errno.into())),
            }
        }
        Err(err(io::ErrorKind::AlreadyExists.into()))
    }

    /// `tmp/PURPOSE.PID.N`, unique for this process.
    fn staging_name(&self, purpose: &str, attempt: u32) -> PathBuf {
        self.tmp_dir().join(format!(
            "{purpose}.{}.{}",
            std::process::id(),
            unique(attempt)
        ))
    }

    /// Removes staging directories whose owner died: their lock is free
    /// (an owner holds it from right after it made or moved in the
    /// directory until after it removed it). Earlier versions locked a
    /// `NAME.lock` file beside the directory instead; such a pair is
    /// judged by its lock file, and a lock file alone is left alone (its
    /// owner may be about to make the directory).
    pub fn remove_stale_staging(&self) {
        let Ok(entries) = fs::read_dir(self.tmp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "lock") {
                remove_stale_legacy(&path);
                continue;
            }
            if !entry.file_type().is_ok_and(|t| t.is_dir()) || legacy_lock_path(&path).exists() {
                continue;
            }
            if let Ok(_lock) = lock_dir(&path, FlockArg::LockExclusiveNonblock) {
                warn_stale(&path);
                let _ = fs::remove_dir_all(&path);
            }
        }
    }
}

/// `PATH.lock`, the lock file earlier versions kept beside a staging
/// directory.
fn legacy_lock_path(dir: &Path) -> PathBuf {
    let mut lock = dir.as_os_str().to_owned();
    lock.push(".lock");
    PathBuf::from(lock)
}

/// A legacy `NAME.lock` whose lock is free and whose directory exists:
/// both go.
fn remove_stale_legacy(lock_path: &Path) {
    let Ok(file) = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(lock_path)
    else {
        return;
    };
    if let Ok(_lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        let dir = lock_path.with_extension("");
        if dir.is_dir() {
            warn_stale(&dir);
            let _ = fs::remove_dir_all(&dir);
            let _ = fs::remove_file(lock_path);
        }
    }
}

fn warn_stale(dir: &Path) {
    crate::logging::warn(&format!(
        "removing staging directory {} left by an interrupted command",
        dir.display()
    ));
}

/// An flock on the directory `path` itself (not following a symlink).
fn lock_dir(path: &Path, how: FlockArg) -> io::Result<Flock<File>> {
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    Flock::lock(dir, how).map_err(|(_, errno)| errno.into())
}

/// Whether the locked directory is still the one at `path` (a cleaner
/// that locked it first removed it).
fn still_at(lock: &Flock<File>, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (lock.metadata(), fs::symlink_metadata(path)) {
        (Ok(locked), Ok(now)) => {
            locked.nlink() > 0 && locked.ino() == now.ino() && locked.dev() == now.dev()
        }
        _ => false,
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// A number that differs between calls within this process and across runs.
fn unique(attempt: u32) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(nanos) ^ (u64::from(attempt) << 32)
}

/// A staging directory under `tmp/`, removed on drop unless committed.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    /// The flock on the directory, released after it is removed.
    _lock: Flock<File>,
}

impl Staging {
    /// The directory to build in.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Whatever is still here did not make it into place: remove it.
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_the_layout() {
        let t = tempfile::tempdir().expect("tempdir");
        let h = Home::open(&t.path().join("home")).expect("open");
        for d in ["images", "containers", "locks", "tmp"] {
            assert!(h.root().join(d).is_dir(), "{d}");
        }
        assert!(Home::open(Path::new("relative/home")).is_err());
    }

    #[test]
    fn staging_is_removed_on_drop_and_stale_staging_on_open() {
        let t = tempfile::tempdir().expect("tempdir");
        let h = Home::open(t.path()).expect("open");
        let s = h.staging("import").expect("staging");
        fs::write(s.path().join("f"), b"x").expect("write");
        let p = s.path().to_path_buf();
        drop(s);
        assert!(!p.exists());
        assert_eq!(
            fs::read_dir(h.tmp_dir()).expect("ls").count(),
            0,
            "no lock file left"
        );
        // A stale one: an unlocked directory, as after kill -9.
        let stale = h.tmp_dir().join("import.1.2");
        fs::create_dir(&stale).expect("mkdir");
        fs::write(stale.join("f"), b"x").expect("write");
        let live = h.staging("copy").expect("staging");
        // Earlier versions: a pair with a free lock file is stale, a pair
        // or a lock file alone whose lock is held belongs to a live owner.
        let legacy_stale = h.tmp_dir().join("copy.5.6");
        fs::create_dir(&legacy_stale).expect("mkdir");
        fs::write(h.tmp_dir().join("copy.5.6.lock"), b"").expect("lock file");
        let legacy_live = h.tmp_dir().join("copy.7.8");
        fs::create_dir(&legacy_live).expect("mkdir");
        let held = open_lock_file(&h.tmp_dir().join("copy.7.8.lock")).expect("lock file");
        let _held = Flock::lock(held, FlockArg::LockExclusive).expect("flock");
        fs::write(h.tmp_dir().join("copy.3.4.lock"), b"").expect("lock file");
        Home::open(t.path()).expect("reopen").remove_stale_staging();
        assert!(!stale.exists(), "stale staging removed");
        assert!(live.path().exists(), "live staging kept");
        assert!(!legacy_stale.exists(), "stale legacy staging removed");
        assert!(!h.tmp_dir().join("copy.5.6.lock").exists());
        assert!(legacy_live.exists(), "live legacy staging kept");
        assert!(h.tmp_dir().join("copy.3.4.lock").exists());
    }

    #[test]
    fn trash_moves_a_tree_away_locked_and_removes_it_on_drop() {
        let t = tempfile::tempdir().expect("tempdir");
        let h = Home::open(t.path()).expect("open");
        let victim = h.containers_dir().join("c1");
        fs::create_dir_all(victim.join("rwlayer/etc")).expect("mkdir");
        fs::write(victim.join("rwlayer/etc/hosts"), b"x").expect("write");
        let trash = h.trash("destroyed", &victim).expect("trash");
        assert!(!victim.exists(), "gone from its place at once");
        assert!(trash.path().join("rwlayer/etc/hosts").exists());
        // Its lock is held from before the move: no cleaner takes it.
        h.remove_stale_staging();
        assert!(trash.path().exists(), "a live trash is kept");
        drop(trash);
        assert_eq!(fs::read_dir(h.tmp_dir()).expect("ls").count(), 0);
        let err = h.trash("destroyed", &victim).expect_err("nothing to move");
        assert!(err.to_string().starts_with("move "), "{err}");
    }

    #[test]
    fn a_staging_directory_removed_under_its_lock_is_noticed() {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().join("s");
        fs::create_dir(&dir).expect("mkdir");
        let lock = lock_dir(&dir, FlockArg::LockExclusive).expect("lock");
        assert!(still_at(&lock, &dir));
        fs::remove_dir(&dir).expect("rmdir");
        assert!(!still_at(&lock, &dir), "removed");
        fs::create_dir(&dir).expect("mkdir again");
        assert!(!still_at(&lock, &dir), "another directory by that name");
    }

    #[test]
    fn locks_exclude_each_other() {
        let t = tempfile::tempdir().expect("tempdir");
        let h = Home::open(t.path()).expect("open");
        let name: Name = "web".parse().expect("name");
        let held = h.lock(LockKind::Image, &name).expect("lock");
        let path = t.path().join("locks/image.web");
        let f = open_lock_file(&path).expect("open");
        assert!(Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err());
        drop(held);
        let f = open_lock_file(&path).expect("open");
        assert!(Flock::lock(f, FlockArg::LockExclusiveNonblock).is_ok());
    }
}
