//! Volumes (`--volume HOST[:CTR[:ro|rw]]`): a host directory or file
//! bind-mounted into the container, read-write or read-only, stored in its
//! config.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One volume: absolute host path, absolute path inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub host: PathBuf,
    pub container: PathBuf,
    /// `:ro`: the mount is read-only, for root inside too (configs from
    /// before this option load as read-write).
    #[serde(default)]
    pub read_only: bool,
}

fn absolute_clean(s: &str, what: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    if !p.is_absolute() {
        return Err(format!("{what} path '{s}' is not absolute"));
    }
    if p.components().any(|c| c == std::path::Component::ParentDir) {
        return Err(format!("{what} path '{s}' contains '..'"));
    }
    Ok(p)
}

impl FromStr for Volume {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let (h, c, mode) = match parts[..] {
            [h] => (h, h, None),
            [h, c] => (h, c, None),
            [h, c, mode] => (h, c, Some(mode)),
            _ => return Err(format!("'{s}' is not HOST[:CONTAINER[:ro|rw]]")),
        };
        let read_only = match mode {
            None | Some("rw") => false,
            Some("ro") => true,
            Some(other) => {
                return Err(format!(
                    "'{other}' is not a volume mode (ro: read-only, rw: read-write)"
                ))
            }
        };
        Ok(Self {
            host: absolute_clean(h, "host")?,
            container: absolute_clean(c, "container")?,
            read_only,
        })
    }
}

/// `HOST:CONTAINER`, with `:ro` when read-only.
impl fmt::Display for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host.display(), self.container.display())?;
        if self.read_only {
            f.write_str(":ro")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_absolute_and_clean() {
        let v: Volume = "/srv/data:/data".parse().expect("parse");
        assert_eq!(v.host, PathBuf::from("/srv/data"));
        assert_eq!(v.container, PathBuf::from("/data"));
        let same: Volume = "/srv".parse().expect("parse");
        assert_eq!(same.host, same.container);
        assert!("srv:/data".parse::<Volume>().is_err());
        assert!("/srv/../etc:/data".parse::<Volume>().is_err());
        assert!(!v.read_only && !same.read_only);
        assert_eq!(
            "/a:/b:/c".parse::<Volume>(),
            Err("'/c' is not a volume mode (ro: read-only, rw: read-write)".into())
        );
        assert!("/a:/b:ro:x".parse::<Volume>().is_err());
    }

    #[test]
    fn modes_ro_and_rw() {
        let ro: Volume = "/srv:/data:ro".parse().expect("ro");
        assert!(ro.read_only);
        assert_eq!(ro.to_string(), "/srv:/data:ro");
        let rw: Volume = "/srv:/data:rw".parse().expect("rw");
        assert!(!rw.read_only);
        assert_eq!(rw.to_string(), "/srv:/data");
        assert_eq!(
            "/srv:/data:rx".parse::<Volume>(),
            Err("'rx' is not a volume mode (ro: read-only, rw: read-write)".into())
        );
        assert!(
            "/srv:ro".parse::<Volume>().is_err(),
            "the mode needs CONTAINER"
        );
    }
}
