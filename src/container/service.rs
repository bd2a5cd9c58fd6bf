//! Boot services (`--service NAME=CMD`) and the restart policy
//! (`--restart`), stored in a container's config and handed to xdockerinit
//! at every boot, which supervises them (`xdockerinit::supervise`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
pub use xdockerinit::supervise::RestartPolicy;

use crate::names::Name;

/// The directory of an image's own services, inside the container: its
/// executables run at every boot, in name order, before `--service` ones.
pub const BOOT_DIR: &str = "/etc/xdocker/boot.d";

/// What services restart by when the container sets no `--restart`.
pub const DEFAULT_SERVICE_RESTART: RestartPolicy = xdockerinit::args::DEFAULT_SERVICE_RESTART;

/// One boot service: a name (container name rules) and a command run
/// through `/bin/sh -c` at every boot. Stored as `NAME=CMD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Service {
    pub name: Name,
    pub command: String,
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, command) = s.split_once('=').ok_or_else(|| {
            format!("'{s}' is not NAME=CMD (a service needs a name and a command)")
        })?;
        let name = Name::parse_as("service name", name).map_err(|e| e.to_string())?;
        if command.trim().is_empty() {
            return Err(format!("service {name}: the command is empty"));
        }
        if command.contains('\0') {
            return Err(format!("service {name}: the command contains a NUL byte"));
        }
        Ok(Self {
            name,
            command: command.to_string(),
        })
    }
}

/// `NAME=CMD`, as stored and as xdockerinit takes it.
impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.command)
    }
}

crate::stored_as_text!(Service);

/// The services, each name once.
pub fn check_unique(services: &[Service]) -> Result<(), String> {
    for (i, s) in services.iter().enumerate() {
        if services[..i].iter().any(|o| o.name == s.name) {
            return Err(format!("service {} is given twice", s.name));
        }
    }
    Ok(())
}

/// The restart policy stored as its text (`on-failure:3`), absent when
/// not set (serde `with`).
pub mod policy_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::RestartPolicy;

    pub fn serialize<S: Serializer>(p: &Option<RestartPolicy>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_str(&p.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RestartPolicy>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_name_equals_command() {
        let s: Service = "web=httpd -f -p 8080 -h /srv/a=b".parse().expect("parse");
        assert_eq!(s.name.as_str(), "web");
        assert_eq!(s.command, "httpd -f -p 8080 -h /srv/a=b");
        assert_eq!(s.to_string(), "web=httpd -f -p 8080 -h /srv/a=b");
        for (bad, needle) in [
            ("web", "'web' is not NAME=CMD"),
            ("=x", "service name is empty"),
            ("we b=x", "service name 'we b' contains ' '"),
            ("a/b=x", "contains '/'"),
            ("-x=y", "must not start with '-'"),
            ("web=", "service web: the command is empty"),
            ("web=  ", "the command is empty"),
        ] {
            let e = bad.parse::<Service>().expect_err(bad);
            assert!(e.contains(needle), "{bad}: {e}");
        }
        let two = vec![s.clone(), s];
        assert_eq!(
            check_unique(&two).expect_err("twice"),
            "service web is given twice"
        );
    }
}
