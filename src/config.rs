//! `xdocker.toml`: the settings of one home (network, ssh repository).
//! Missing file means defaults; unknown keys are refused so a typo never
//! silently falls back to a default. The defaults that name host-wide
//! objects (cgroup parent, bridge, subnet, nft table) are derived from the
//! home for any home but `/var/xdocker`, so two homes never collide.

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

/// What is derived from a home other than the default one: the same tag
/// (6 hex digits of the MD5 of its canonical path) names its cgroup
/// parent, its bridge (at most 15 bytes, IFNAMSIZ) and its nft table;
/// the subnet is `172.30.X.0/24` with X from the digest too (never the
/// default's 254).
#[derive(Debug, Clone, PartialEq, Eq)]
struct HomeTag {
    tag: String,
    subnet_octet: u8,
}

impl HomeTag {
    /// None for the default home (`/var/xdocker`, however spelled).
    fn of(home: &Path) -> Option<Self> {
        use md5::{Digest, Md5};
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let home = canonical(home);
        if home == canonical(Path::new(crate::home::DEFAULT_HOME)) {
            return None;
        }
        let digest = Md5::digest(home.as_os_str().as_encoded_bytes());
        Some(Self {
            tag: crate::image::archive::hex(&digest[..3]),
            subnet_octet: digest[3] % 254,
        })
    }

    fn name(&self) -> String {
        format!("xdocker-{}", self.tag)
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
    /// The defaults of the home `home`: [`Config::default`] for
    /// `/var/xdocker`; for any other home, a cgroup parent, bridge, subnet
    /// and nft table of its own (see [`HomeTag`]).
    pub fn defaults_for(home: &Path) -> Self {
        let mut c = Self::default();
        if let Some(t) = HomeTag::of(home) {
            c.cgroups.parent = t.name();
            c.network.bridge = t.name();
            c.network.nft_table = t.name();
            c.network.subnet = format!("172.30.{}.0/24", t.subnet_octet);
        }
        c
    }

    /// Reads `path`, the file `HOME/xdocker.toml`; a missing file, or a
    /// missing key, gives the defaults of HOME ([`Config::defaults_for`]).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let home = path.parent().unwrap_or(Path::new("/"));
        let defaults = Self::defaults_for(home);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(defaults),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let parse_err = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_path_buf(),
            reason: toml_reason(&text, &e),
        };
        let mut config: Self = toml::from_str(&text).map_err(parse_err)?;
        // Which keys the file sets: the others take the home's defaults.
        let given: toml::Table = toml::from_str(&text).map_err(parse_err)?;
        let has = |table: &str, key: &str| {
            given
                .get(table)
                .and_then(|t| t.as_table())
                .is_some_and(|t| t.contains_key(key))
        };
        if !has("cgroups", "parent") {
            config.cgroups.parent = defaults.cgroups.parent;
        }
        if !has("network", "bridge") {
            config.network.bridge = defaults.network.bridge;
        }
        if !has("network", "subnet") {
            config.network.subnet = defaults.network.subnet;
        }
        if !has("network", "nft_table") {
            config.network.nft_table = defaults.network.nft_table;
        }
        Ok(config)
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
        assert_eq!(c, Config::defaults_for(t.path()));
        c.srepo = Some("ops@repo:2222/images".to_string());
        c.save(&p).expect("save");
        assert_eq!(Config::load(&p).expect("load"), c);
    }

    #[test]
    fn a_home_other_than_the_default_gets_names_of_its_own() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let (ca, cb) = (
            Config::defaults_for(a.path()),
            Config::defaults_for(b.path()),
        );
        for c in [&ca, &cb] {
            assert!(c.network.bridge.len() <= 15, "IFNAMSIZ: {c:?}");
            assert!(crate::network::nft::check_table_name(&c.network.nft_table).is_ok());
            assert_ne!(c.network.subnet, NetworkConfig::default().subnet);
            assert!(c.network.subnet.parse::<ipnet::Ipv4Net>().is_ok(), "{c:?}");
            assert!(c.cgroups.parent.starts_with("xdocker-"), "{c:?}");
        }
        assert_ne!(ca.cgroups.parent, cb.cgroups.parent);
        assert_ne!(ca.network.bridge, cb.network.bridge);
        assert_ne!(ca.network.nft_table, cb.network.nft_table);
        // The same home however it is spelled; the default home keeps
        // today's names.
        let spelled = a.path().join(".").join("x").join("..");
        std::fs::create_dir(a.path().join("x")).expect("mkdir");
        assert_eq!(Config::defaults_for(&spelled), ca);
        assert_eq!(
            Config::defaults_for(Path::new(crate::home::DEFAULT_HOME)),
            Config::default()
        );
        // A missing file, and missing keys, give the home's defaults; keys
        // the file sets are kept.
        let p = a.path().join("xdocker.toml");
        assert_eq!(Config::load(&p).expect("load"), ca);
        std::fs::write(&p, "[network]\nbridge = \"br7\"\n").expect("write");
        let c = Config::load(&p).expect("load");
        assert_eq!(c.network.bridge, "br7");
        assert_eq!(c.network.nft_table, ca.network.nft_table);
        assert_eq!(c.cgroups, ca.cgroups);
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
