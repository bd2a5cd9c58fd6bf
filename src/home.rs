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
    #[error("staging directory {path}: {source}")]
    Staging { path: PathBuf, source: io::Error },
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
    /// commands that hold it.
    pub fn lock(&self, kind: LockKind, name: &Name) -> Result<ObjectLock, HomeError> {
        let path = self.lock_path(kind, name);
        let file = open_lock_file(&path).map_err(|source| HomeError::Lock {
            path: path.clone(),
            source,
        })?;
        let lock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| HomeError::Lock {
                path,
                source: errno.into(),
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
    /// dropped unless its content was moved away. A staging directory left by
    /// a killed command is removed by the next command (see
    /// `remove_stale_staging`): its lock file is no longer held.
    pub fn staging(&self, purpose: &str) -> Result<Staging, HomeError> {
        let tmp = self.tmp_dir();
        let err = |path: &Path, source| HomeError::Staging {
            path: path.to_path_buf(),
            source,
        };
        for attempt in 0..100u32 {
            let stem = format!("{purpose}.{}.{}", std::process::id(), unique(attempt));
            let lock_path = tmp.join(format!("{stem}.lock"));
            let dir = tmp.join(&stem);
            let file = match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&lock_path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(err(&lock_path, e)),
            };
            // Blocking: a concurrent `remove_stale_staging` may hold the
            // lock for a moment; it leaves a lock file without directory alone.
            let lock = Flock::lock(file, FlockArg::LockExclusive)
                .map_err(|(_, errno)| err(&lock_path, errno.into()))?;
            if let Err(e) = fs::DirBuilder::new().mode(0o700).create(&dir) {
                let _ = fs::remove_file(&lock_path);
                return Err(err(&dir, e));
            }
            return Ok(Staging {
                dir,
                lock_path,
                _lock: lock,
            });
        }
        Err(err(&tmp, io::ErrorKind::AlreadyExists.into()))
    }

    /// Removes staging directories whose owner died: their lock is free
    /// while the directory exists (an owner holds its lock from before it
    /// creates the directory until after it removed it).
    pub fn remove_stale_staging(&self) {
        let Ok(entries) = fs::read_dir(self.tmp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "lock") {
                continue;
            }
            let Ok(file) = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
            else {
                continue;
            };
            if let Ok(_lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                let dir = path.with_extension("");
                if !dir.is_dir() {
                    continue;
                }
                crate::logging::warn(&format!(
                    "removing staging directory {} left by an interrupted command",
                    dir.display()
                ));
                let _ = fs::remove_dir_all(&dir);
                let _ = fs::remove_file(&path);
            }
        }
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
    lock_path: PathBuf,
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
        let _ = fs::remove_file(&self.lock_path);
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
        // A stale one: directory plus an unlocked lock file, as after kill -9.
        let stale = h.tmp_dir().join("import.1.2");
        fs::create_dir(&stale).expect("mkdir");
        fs::write(h.tmp_dir().join("import.1.2.lock"), b"").expect("lock file");
        let live = h.staging("copy").expect("staging");
        // A lock file whose directory is not made yet belongs to a live owner.
        fs::write(h.tmp_dir().join("copy.3.4.lock"), b"").expect("lock file");
        Home::open(t.path()).expect("reopen").remove_stale_staging();
        assert!(!stale.exists(), "stale staging removed");
        assert!(live.path().exists(), "live staging kept");
        assert!(h.tmp_dir().join("copy.3.4.lock").exists());
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
