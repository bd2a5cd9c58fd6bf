//! The network mode of a container (SPEC §4): a domain type stored in the
//! container's config and given on the command line as `--net`: one of
//! the built-in modes, or the name of a user-defined network (`-a
//! network_create`, see [`super::store`]).

use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::names::Name;

/// Network modes of a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Net {
    /// An own network namespace on the home's bridge: VIP, NAT, port maps.
    Bridge,
    /// The host's network.
    Host,
    /// An own, named network namespace with only `lo`.
    Custom,
    /// An own network namespace on a user-defined network (bridge or
    /// macvlan), by its name.
    Named(Name),
}

/// The built-in modes, as written (any case on the command line).
pub const BUILT_IN: [&str; 3] = ["HOST", "CUSTOM", "BRIDGE"];

impl Net {
    /// True when the container has a network namespace of its own.
    pub fn has_own_netns(&self) -> bool {
        *self != Net::Host
    }

    /// The user-defined network's name, when it is one.
    pub fn network(&self) -> Option<&Name> {
        match self {
            Net::Named(n) => Some(n),
            _ => None,
        }
    }
}

impl FromStr for Net {
    type Err = String;
    /// `HOST`, `CUSTOM`, `BRIDGE` (any case), or a network name.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "HOST" => Ok(Net::Host),
            "CUSTOM" => Ok(Net::Custom),
            "BRIDGE" => Ok(Net::Bridge),
            _ => Name::parse_as("network name", s)
                .map(Net::Named)
                .map_err(|e| format!("{e} (or HOST, CUSTOM, BRIDGE)")),
        }
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Net::Bridge => "BRIDGE",
            Net::Host => "HOST",
            Net::Custom => "CUSTOM",
            Net::Named(n) => n.as_str(),
        })
    }
}

// Stored as the text `--net` takes: old configs ("BRIDGE", "HOST",
// "CUSTOM") load unchanged.
impl Serialize for Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_modes_and_names_parse_and_print_back() {
        assert_eq!("bridge".parse::<Net>(), Ok(Net::Bridge));
        assert_eq!("HOST".parse::<Net>(), Ok(Net::Host));
        let n: Net = "lan1".parse().expect("name");
        assert_eq!(n.to_string(), "lan1");
        assert_eq!(n.network().map(Name::as_str), Some("lan1"));
        assert!(n.has_own_netns() && !Net::Host.has_own_netns());
        let e = "a/b".parse::<Net>().unwrap_err();
        assert!(e.contains("network name") && e.contains("HOST"), "{e}");
    }

    #[test]
    fn stored_configs_keep_loading() {
        #[derive(Deserialize, Serialize)]
        struct C {
            net: Net,
        }
        for (text, net) in [
            ("net = \"BRIDGE\"", Net::Bridge),
            ("net = \"CUSTOM\"", Net::Custom),
            ("net = \"lan\"", "lan".parse().expect("net")),
        ] {
            let c: C = toml::from_str(text).expect(text);
            assert_eq!(c.net, net);
            assert_eq!(toml::to_string(&c).expect("ser").trim(), text);
        }
    }
}
