//! Host ports mapped by the running containers of a home: one lease file
//! per port (`network/ports/tcp-8080`, holding the container's name),
//! taken at boot and given back at release, so that checking a boot's maps
//! costs a few lookups however many containers run. Callers hold the
//! home's network lock.

use std::io;
use std::path::{Path, PathBuf};

use super::PortMap;
use crate::fsutil::atomic::write_atomic_volatile;

/// A host port held by another running container.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("host port {port} is already mapped by running container {owner}")]
    Taken { port: String, owner: String },
    #[error("port leases {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// The lease directory of one home.
#[derive(Debug, Clone)]
pub struct PortLeases {
    dir: PathBuf,
}

fn label(map: &PortMap) -> String {
    format!("{}/{}", map.host, if map.udp { "udp" } else { "tcp" })
}

fn file_name(map: &PortMap) -> String {
    format!("{}-{}", if map.udp { "udp" } else { "tcp" }, map.host)
}

impl PortLeases {
    pub fn new(home_root: &Path) -> Self {
        Self {
            dir: home_root.join("network").join("ports"),
        }
    }

    fn io(&self) -> impl FnOnce(io::Error) -> PortError + '_ {
        |source| PortError::Io {
            path: self.dir.clone(),
            source,
        }
    }

    fn owner(&self, map: &PortMap) -> Result<Option<String>, PortError> {
        match std::fs::read_to_string(self.dir.join(file_name(map))) {
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io()(e)),
        }
    }

    /// Takes every port of `maps` for `owner`, or none: a port leased to
    /// another container that `is_running` confirms is refused; leases of
    /// stopped containers are taken over.
    pub fn take(
        &self,
        owner: &str,
        maps: &[PortMap],
        is_running: impl Fn(&str) -> bool,
    ) -> Result<(), PortError> {
        for map in maps {
            if let Some(holder) = self.owner(map)? {
                if holder != owner && is_running(&holder) {
                    return Err(PortError::Taken {
                        port: label(map),
                        owner: holder,
                    });
                }
            }
        }
        if maps.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(self.io())?;
        for map in maps {
            // No fsync: after a host crash nothing runs, so nothing is lost.
            write_atomic_volatile(&self.dir.join(file_name(map)), owner.as_bytes(), 0o644)
                .map_err(|e| self.io()(io::Error::other(e.to_string())))?;
        }
        Ok(())
    }

    /// Gives back every lease of `owner`.
    pub fn give_back(&self, owner: &str) -> Result<(), PortError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io()(e)),
        };
        for entry in entries {
            let path = entry.map_err(self.io())?.path();
            match std::fs::read_to_string(&path) {
                Ok(text) if text.trim() == owner => match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(self.io()(e)),
                    _ => {}
                },
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(host: u16, udp: bool) -> PortMap {
        PortMap {
            host,
            container: 80,
            udp,
        }
    }

    #[test]
    fn a_running_holder_keeps_its_port_a_stopped_one_loses_it() {
        let t = tempfile::tempdir().expect("tempdir");
        let leases = PortLeases::new(t.path());
        leases
            .take("a", &[map(8080, false), map(53, true)], |_| true)
            .expect("take");
        let e = leases
            .take("b", &[map(9000, false), map(8080, false)], |_| true)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "host port 8080/tcp is already mapped by running container a"
        );
        // All or nothing: 9000 was not taken by the refused boot.
        assert!(!t.path().join("network/ports/tcp-9000").exists());
        // UDP and TCP are different ports.
        leases.take("b", &[map(8080, true)], |_| true).expect("udp");
        // A lease of a container that stopped is taken over.
        leases
            .take("b", &[map(8080, false)], |_| false)
            .expect("over");
        leases.give_back("b").expect("give back");
        let left: Vec<_> = std::fs::read_dir(t.path().join("network/ports"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
            .collect();
        assert_eq!(left, vec!["udp-53".to_string()]);
    }
}
