//! Volumes (`--volume HOST[:CTR]`): a host directory or file bind-mounted
//! into the container, stored in its config.

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One volume: absolute host path, absolute path inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub host: PathBuf,
    pub container: PathBuf,
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
        let (h, c) = match s.split_once(':') {
            Some((h, c)) => (h, c),
            None => (s, s),
        };
        if c.contains(':') {
            return Err(format!("'{s}' is not HOST[:CONTAINER]"));
        }
        Ok(Self {
            host: absolute_clean(h, "host")?,
            container: absolute_clean(c, "container")?,
        })
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
        assert!("/a:/b:/c".parse::<Volume>().is_err());
    }
}
