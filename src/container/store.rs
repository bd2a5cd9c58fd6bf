//! `containers/C/`: config, writable layer, overlay work and mount dirs,
//! run state. New containers are built in staging and appear with one
//! rename; destroyed ones disappear with one rename.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::config::{ConfigFileError, ContainerConfig};
use super::state::{RunState, StateError, Status};
use crate::home::{Home, HomeError, LockKind, ObjectLock};
use crate::names::Name;

/// Errors of the container store.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("container {0} not found")]
    NotFound(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {name} is broken: {reason} (destroy removes it)")]
    Broken { name: String, reason: String },
    #[error("container {0} is running (pid {1})")]
    Running(String, i32),
    #[error("container {name}: {path} is still mounted; refusing to delete through a live mount")]
    Mounted { name: String, path: PathBuf },
    #[error("container {name}: {path}: {source}")]
    Io {
        name: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Home(#[from] HomeError),
}

fn io_err<'a>(name: &'a str, path: &'a Path) -> impl FnOnce(io::Error) -> ContainerError + 'a {
    move |source| ContainerError::Io {
        name: name.to_string(),
        path: path.to_path_buf(),
        source,
    }
}

/// A container just created, whose config may not be on disk yet:
/// [`Unsynced::sync`] makes it durable (config.toml, then the rename in
/// `containers/`). Dropped without `sync`, it syncs anyway, ignoring
/// errors, so that no path leaves a container a crash could lose.
#[must_use = "sync() makes the new container durable"]
#[derive(Debug)]
pub struct Unsynced {
    config: Option<fs::File>,
    config_path: PathBuf,
    containers: PathBuf,
    name: String,
}

impl Unsynced {
    /// fsync of the config file, then of `containers/`. The directory's
    /// sync is best effort, as some file systems refuse it.
    pub fn sync(mut self) -> Result<(), ContainerError> {
        let Some(file) = self.config.take() else {
            return Ok(());
        };
        file.sync_all()
            .map_err(io_err(&self.name, &self.config_path))?;
        let _ = crate::fsutil::atomic::sync_dir(&self.containers);
        Ok(())
    }
}

impl Drop for Unsynced {
    fn drop(&mut self) {
        if let Some(file) = self.config.take() {
            let _ = file.sync_all();
            let _ = crate::fsutil::atomic::sync_dir(&self.containers);
        }
    }
}

/// The containers of one home.
#[derive(Debug, Clone)]
pub struct ContainerStore {
    home: Home,
}

/// File names inside `containers/C/`.
pub const CONFIG_FILE: &str = "config.toml";
pub const STATE_FILE: &str = "state.toml";
pub const EXIT_FILE: &str = "exit";
/// The console log's directory (written by xdockerinit, read by `-s logs`).
pub const LOG_DIR: &str = "log";
pub const RWLAYER: &str = "rwlayer";
pub const WORKDIR: &str = "workdir";
pub const MERGED: &str = "merged";

impl ContainerStore {
    /// The store inside `home`.
    pub fn new(home: &Home) -> Self {
        Self { home: home.clone() }
    }

    /// The home.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// `containers/C/`.
    pub fn dir(&self, name: &Name) -> PathBuf {
        self.home.containers_dir().join(name.as_str())
    }

    /// A file or directory inside `containers/C/`.
    pub fn path(&self, name: &Name, file: &str) -> PathBuf {
        self.dir(name).join(file)
    }

    /// Serialises commands on one container.
    pub fn lock(&self, name: &Name) -> Result<ObjectLock, ContainerError> {
        Ok(self.home.lock(LockKind::Container, name)?)
    }

    /// The index of containers that may be running.
    pub fn running(&self) -> super::running::RunningIndex {
        super::running::RunningIndex::new(self.home.root())
    }

    /// True when `containers/C/config.toml` exists.
    pub fn exists(&self, name: &Name) -> bool {
        self.path(name, CONFIG_FILE).is_file()
    }

    /// True when `containers/C/` is there, usable or broken (a config that
    /// is missing or unreadable): its name is taken, and destroy removes it.
    pub fn present(&self, name: &Name) -> bool {
        self.dir(name).is_dir()
    }

    /// All container names, sorted, broken containers too (their
    /// [`Self::config`] is an error naming why).
    pub fn names(&self) -> Result<Vec<Name>, ContainerError> {
        let dir = self.home.containers_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("store", &dir))? {
            let entry = entry.map_err(io_err("store", &dir))?;
            if let Some(n) = entry
                .file_name()
                .to_str()
                .and_then(|s| Name::parse_as("container name", s).ok())
            {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(n);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The config of an existing container.
    pub fn config(&self, name: &Name) -> Result<ContainerConfig, ContainerError> {
        if !self.exists(name) {
            if self.present(name) {
                return Err(ContainerError::Broken {
                    name: name.to_string(),
                    reason: format!("no {CONFIG_FILE}"),
                });
            }
            return Err(ContainerError::NotFound(name.to_string()));
        }
        Ok(ContainerConfig::load(&self.path(name, CONFIG_FILE))?)
    }

    /// Replaces the config of an existing container.
    pub fn save_config(&self, config: &ContainerConfig) -> Result<(), ContainerError> {
        let name = Name::parse_as("container name", &config.name)
            .map_err(|_| ContainerError::NotFound(config.name.clone()))?;
        config.save(&self.path(&name, CONFIG_FILE))?;
        Ok(())
    }

    /// The recorded run state, if any (it may be stale: see [`Self::status`]).
    /// A damaged state file (it names no process) takes the process from
    /// the running index, which is written before it and removed after it,
    /// so that a container whose state was truncated is still seen running
    /// and can be stopped; its cgroup is named after it.
    pub fn run_state(&self, name: &Name) -> Result<Option<RunState>, ContainerError> {
        let state = RunState::load(&self.path(name, STATE_FILE))?;
        Ok(state.map(|mut s| {
            if s.pid == 0 {
                if let Some(mark) = self.running().get(name) {
                    s.pid = mark.pid;
                    s.start_time = mark.start_time;
                }
                s.cgroup = Some(name.to_string());
            }
            s
        }))
    }

    /// The truth about a container, from the kernel; reads only (a stopped
    /// container's leftovers stay: `Runtime::status_releasing_leftovers`
    /// releases them).
    pub fn status(&self, name: &Name) -> Result<Status, ContainerError> {
        Ok(match self.run_state(name)? {
            Some(s) => s.status(Path::new("/proc")),
            None => Status::Stopped,
        })
    }

    /// Creates `containers/C/` with `config`, an empty writable layer (or
    /// `rwlayer`, moved in, for to_container), and the overlay dirs.
    pub fn create(
        &self,
        config: &ContainerConfig,
        rwlayer: Option<&Path>,
    ) -> Result<Unsynced, ContainerError> {
        let name = Name::parse_as("container name", &config.name)
            .map_err(|_| ContainerError::NotFound(config.name.clone()))?;
        let target = self.dir(&name);
        if target.exists() {
            return Err(ContainerError::Exists(name.to_string()));
        }
        let staging = self.home.staging("create")?;
        let s = staging.path();
        for d in [WORKDIR, MERGED] {
            let p = s.join(d);
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&p)
                .map_err(io_err(name.as_str(), &p))?;
        }
        // The staging dir is private: the config needs no atomic replace
        // there. It is made durable by `Unsynced`, after the rename, which
        // lets `create -b` overlap the disk's wait with the boot.
        let config_file = config.write_new(&s.join(CONFIG_FILE))?;
        let rw = s.join(RWLAYER);
        // A moved-in layer goes in last and goes back on any failure after.
        match rwlayer {
            Some(src) => fs::rename(src, &rw).map_err(io_err(name.as_str(), src))?,
            None => fs::DirBuilder::new()
                .mode(0o755)
                .create(&rw)
                .map_err(io_err(name.as_str(), &rw))?,
        }
        if let Err(e) = fs::rename(s, &target) {
            if let Some(src) = rwlayer {
                let _ = fs::rename(&rw, src);
            }
            return Err(
                if e.kind() == io::ErrorKind::AlreadyExists
                    || e.raw_os_error() == Some(libc::ENOTEMPTY)
                {
                    ContainerError::Exists(name.to_string())
                } else {
                    io_err(name.as_str(), &target)(e)
                },
            );
        }
        Ok(Unsynced {
            config: Some(config_file),
            config_path: target.join(CONFIG_FILE),
            containers: self.home.containers_dir(),
            name: name.to_string(),
        })
    }

    /// Deletes a stopped container (the caller holds its lock and checked
    /// its status). Refuses while anything is mounted below its directory.
    pub fn destroy(&self, name: &Name) -> Result<(), ContainerError> {
        let dir = self.dir(name);
        if !dir.exists() {
            return Err(ContainerError::NotFound(name.to_string()));
        }
        if let Some(path) = mount_below(&dir) {
            return Err(ContainerError::Mounted {
                name: name.to_string(),
                path,
            });
        }
        match self.home.trash("destroyed", &dir) {
            Ok(trash) => drop(trash),
            Err(HomeError::Trash { source, .. }) => {
                return Err(io_err(name.as_str(), &dir)(source))
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Moves the writable layer out (for to_image): the container is consumed.
    pub fn take_rwlayer(&self, name: &Name, to: &Path) -> Result<(), ContainerError> {
        let rw = self.path(name, RWLAYER);
        fs::rename(&rw, to).map_err(io_err(name.as_str(), &rw))
    }
}

/// The first mount point at or below `dir` in this process's mount table.
pub fn mount_below(dir: &Path) -> Option<PathBuf> {
    let table = fs::read_to_string("/proc/self/mountinfo").ok()?;
    table.lines().find_map(|line| {
        let mount_point = unescape_mountinfo(line.split(' ').nth(4)?);
        let p = PathBuf::from(mount_point);
        p.starts_with(dir).then_some(p)
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..(i + 4).min(s.len())], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn root_is_a_mount_below_root() {
        assert!(mount_below(Path::new("/")).is_some());
        assert_eq!(mount_below(Path::new("/nonexistent/xdocker")), None);
    }
}
