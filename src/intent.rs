//! Intent records of operations that move a user's data from one object to
//! another (`to_image`, `to_container`): written to
//! `XDOCKER_HOME/intents/` and made durable before the first move, removed
//! after the last, and flock'd by their owner all the while. A record
//! whose lock is free belongs to a command that was killed; the next
//! command finishes or rolls back what it was doing (see
//! [`crate::conversion::finish_interrupted`]). The data itself never sits
//! in a staging directory, so nothing a cleaner removes holds it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::home::Home;

/// What an interrupted command was doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Container `container` becomes image `image:version`.
    ToImage,
    /// Image `image:version` becomes container `container`.
    ToContainer,
}

/// One record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub op: Op,
    pub container: String,
    pub image: String,
    pub version: String,
}

/// A record this command holds: [`Held::finish`] removes it; dropped
/// without that (an error half-way), it stays for the next command.
#[derive(Debug)]
pub struct Held {
    path: PathBuf,
    _lock: Flock<File>,
}

/// A record whose owner died, locked by this command.
#[derive(Debug)]
pub struct Orphan {
    pub intent: Intent,
    pub held: Held,
}

fn dir(home: &Home) -> PathBuf {
    home.root().join("intents")
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("intent record {}: {e}", path.display()))
}

/// Writes `intent` durably and holds it.
pub fn begin(home: &Home, intent: &Intent) -> io::Result<Held> {
    let d = dir(home);
    match fs::DirBuilder::new().mode(0o700).create(&d) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(&d)(e)),
    }
    let text = toml::to_string(intent)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or(0);
    let name = format!("{}.{stamp}", std::process::id());
    // Locked before it has its final name: no cleaner ever sees it free.
    let tmp = d.join(format!(".{name}.tmp"));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    let mut lock =
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io_err(&tmp)(e.into()))?;
    let written = lock
        .write_all(text.as_bytes())
        .and_then(|()| lock.sync_all());
    let path = d.join(format!("{name}.toml"));
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    crate::fsutil::atomic::sync_dir(&d).map_err(io_err(&d))?;
    Ok(Held { path, _lock: lock })
}

impl Held {
    /// The operation is complete (or undone): the record goes.
    pub fn finish(self) -> io::Result<()> {
        fs::remove_file(&self.path).map_err(io_err(&self.path))
    }
}

/// Records whose owner died, each locked now; a record being written
/// (`.*.tmp`) by a dead command moved nothing yet and is removed. An
/// unreadable record is renamed `*.unreadable` with a warning (it is only a
/// description: the data stays wherever it was).
pub fn orphans(home: &Home) -> Vec<Orphan> {
    let Ok(entries) = fs::read_dir(dir(home)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let tmp = name.starts_with('.') && name.ends_with(".tmp");
        if !tmp && !name.ends_with(".toml") {
            continue;
        }
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        else {
            continue;
        };
        let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            continue; // its owner is at work
        };
        if tmp {
            let _ = fs::remove_file(&path);
            continue;
        }
        let text = fs::read_to_string(&path).unwrap_or_default();
        match toml::from_str::<Intent>(&text) {
            Ok(intent) => out.push(Orphan {
                intent,
                held: Held { path, _lock: lock },
            }),
            Err(e) => {
                crate::logging::warn(&format!(
                    "intent record {} is unreadable ({}): left as .unreadable",
                    path.display(),
                    e.message()
                ));
                let _ = fs::rename(&path, path.with_extension("unreadable"));
            }
        }
    }
    out
}

/// Whether the record is still there (another command may have finished it
/// while this one waited for the objects' locks).
pub fn still_there(held: &Held) -> bool {
    held.path.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent() -> Intent {
        Intent {
            op: Op::ToImage,
            container: "web".into(),
            image: "web".into(),
            version: "1.0".into(),
        }
    }

    #[test]
    fn a_held_record_is_no_orphan_and_a_dropped_one_is() {
        let t = tempfile::tempdir().expect("tempdir");
        let home = Home::open(t.path()).expect("home");
        let held = begin(&home, &intent()).expect("begin");
        assert!(orphans(&home).is_empty(), "its owner holds it");
        drop(held);
        let found = orphans(&home);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].intent, intent());
        // Locked by the finder now: a second look finds nothing.
        assert!(orphans(&home).is_empty());
        let Orphan { held, .. } = found.into_iter().next().expect("one");
        assert!(still_there(&held));
        held.finish().expect("finish");
        assert!(orphans(&home).is_empty());
        assert_eq!(fs::read_dir(dir(&home)).expect("dir").count(), 0);
    }

    #[test]
    fn half_written_and_unreadable_records_are_dealt_with() {
        let t = tempfile::tempdir().expect("tempdir");
        let home = Home::open(t.path()).expect("home");
        let d = dir(&home);
        fs::create_dir_all(&d).expect("mkdir");
        fs::write(d.join(".1.2.tmp"), "op = \"to_im").expect("write");
        fs::write(d.join("3.4.toml"), "garbage = [").expect("write");
        assert!(orphans(&home).is_empty());
        assert!(!d.join(".1.2.tmp").exists(), "nothing moved yet: removed");
        assert!(d.join("3.4.unreadable").exists(), "kept, out of the way");
    }
}
