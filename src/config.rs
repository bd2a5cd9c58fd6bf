//! `xdocker.toml`: the settings of one home (network, ssh repository).
//! Missing file means defaults; unknown keys are refused so a typo never
//! silently falls back to a default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::atomic::{write_atomic, AtomicWriteError};

/// Errors reading or writing the config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("serialise config: {0}")]
    Serialise(#[from] toml::ser::Error),
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
}

/// The whole config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub network: NetworkConfig,
    pub cgroups: CgroupsConfig,
    pub userns: UsernsConfig,
    /// The ssh image repository saved by `--srepo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub srepo: Option<String>,
}

/// The `[network]` table (used by BRIDGE networking).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    pub bridge: String,
    pub subnet: String,
    pub nft_table: String,
}

/// The `[cgroups]` table: where container cgroups live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CgroupsConfig {
    /// The cgroup filesystem root.
    pub root: PathBuf,
    /// Parent group of every container of this home (one per home, so two
    /// homes never share a cgroup name).
    pub parent: String,
}

/// The `[userns]` table: host ids for `--userns` containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsernsConfig {
    /// `START:COUNT`, used for both uids and gids; None: root's ranges in
    /// /etc/subuid and /etc/subgid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
}

impl Default for CgroupsConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/sys/fs/cgroup"),
            parent: "xdocker".to_string(),
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            bridge: "xdocker0".to_string(),
            // A private range (SPEC §4 fix: the original used public addresses).
            subnet: "172.30.254.0/24".to_string(),
            nft_table: "xdocker".to_string(),
        }
    }
}

/// A TOML error as one line: `line N: message`.
pub fn toml_reason(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

impl Config {
    /// Reads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                reason: toml_reason(&text, &e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes the config atomically.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(self)?;
        write_atomic(path, text.as_bytes(), 0o644)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_gives_defaults_and_roundtrips() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("xdocker.toml");
        let mut c = Config::load(&p).expect("load");
        assert_eq!(c, Config::default());
        c.srepo = Some("ops@repo:2222/images".to_string());
        c.save(&p).expect("save");
        assert_eq!(Config::load(&p).expect("load"), c);
    }

    #[test]
    fn unknown_keys_are_refused_with_the_path() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("xdocker.toml");
        std::fs::write(&p, "[network]\nbrigde = \"x\"\n").expect("write");
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("xdocker.toml") && e.contains("brigde"), "{e}");
        assert!(e.contains("line 2: "), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}
