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
    pub logs: LogsConfig,
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

/// The `[logs]` table: the console log of every container
/// (`containers/C/log/`, written by its xdockerinit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// A log file is rotated before it grows past this size: bytes, or a
    /// size like `"10M"` (K, M, G); at least 64K.
    pub max_size: LogSize,
    /// Files kept per container, the one being written included (1-100):
    /// a log takes at most `max_size * max_files`.
    pub max_files: u32,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            max_size: LogSize(xdockerinit::log::DEFAULT_MAX_SIZE),
            max_files: xdockerinit::log::DEFAULT_MAX_FILES,
        }
    }
}

impl LogsConfig {
    /// Refuses files outside 1..=100 (the size is checked when parsed).
    fn check(&self) -> Result<(), String> {
        let max = xdockerinit::log::MAX_MAX_FILES;
        if !(1..=max).contains(&self.max_files) {
            return Err(format!(
                "[logs] max_files {} is not a number of files from 1 to {max}",
                self.max_files
            ));
        }
        Ok(())
    }
}

/// `[logs] max_size`: bytes, written in the file as a number or a string
/// with a unit (`"512K"`, `"10M"`, `"1G"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SizeValue", into = "SizeValue")]
pub struct LogSize(pub u64);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

impl TryFrom<SizeValue> for LogSize {
    type Error = String;
    fn try_from(v: SizeValue) -> Result<Self, String> {
        let (bytes, shown) = match v {
            SizeValue::Bytes(n) => (Some(n), n.to_string()),
            SizeValue::Text(t) => (parse_size(&t), t),
        };
        let min = xdockerinit::log::MIN_MAX_SIZE;
        match bytes {
            Some(n) if n >= min => Ok(LogSize(n)),
            Some(_) => Err(format!("[logs] max_size '{shown}' is below 64K")),
            None => Err(format!(
                "[logs] max_size '{shown}' is not a size like 10M or 512K"
            )),
        }
    }
}

impl From<LogSize> for SizeValue {
    fn from(s: LogSize) -> Self {
        for (unit, shift) in [("G", 30), ("M", 20), ("K", 10)] {
            if s.0 >= 1 << shift && s.0 % (1 << shift) == 0 {
                return SizeValue::Text(format!("{}{unit}", s.0 >> shift));
            }
        }
        SizeValue::Bytes(s.0)
    }
}

/// `1234`, `512K`, `10M`, `1G` (also `KB`, `MiB`... and lowercase).
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = t.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
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
        config.logs.check().map_err(|reason| ConfigError::Parse {
            path: path.to_path_buf(),
            reason,
        })?;
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
    fn logs_sizes_and_counts() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("xdocker.toml");
        let c = Config::load(&p).expect("defaults");
        assert_eq!(c.logs.max_size, LogSize(10 << 20));
        assert_eq!(c.logs.max_files, 5);
        for (text, bytes) in [
            ("\"512K\"", 512 << 10),
            ("\"10M\"", 10 << 20),
            ("\"1g\"", 1 << 30),
            ("\"2MiB\"", 2 << 20),
            ("70000", 70_000),
        ] {
            std::fs::write(&p, format!("[logs]\nmax_size = {text}\nmax_files = 2\n"))
                .expect("write");
            let c = Config::load(&p).expect(text);
            assert_eq!(
                c.logs,
                LogsConfig {
                    max_size: LogSize(bytes),
                    max_files: 2
                }
            );
            // Saved and loaded back the same.
            c.save(&p).expect("save");
            assert_eq!(Config::load(&p).expect("reload").logs, c.logs, "{text}");
        }
        for (text, needle) in [
            ("max_size = \"1K\"", "[logs] max_size '1K' is below 64K"),
            (
                "max_size = \"ten\"",
                "[logs] max_size 'ten' is not a size like 10M or 512K",
            ),
            ("max_size = 100", "[logs] max_size '100' is below 64K"),
            (
                "max_files = 0",
                "[logs] max_files 0 is not a number of files from 1 to 100",
            ),
            ("max_files = 101", "max_files 101"),
            ("max_filez = 3", "max_filez"),
        ] {
            std::fs::write(&p, format!("[logs]\n{text}\n")).expect("write");
            let e = Config::load(&p).expect_err(text).to_string();
            assert!(
                e.contains(needle) && e.contains("xdocker.toml"),
                "{text}: {e}"
            );
            assert!(!e.contains('\n'), "{e}");
        }
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
