//! The network mode of a container (SPEC §4): a domain type stored in the
//! container's config and given on the command line as `--net`.

use serde::{Deserialize, Serialize};

/// Network modes of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[value(rename_all = "UPPER")]
#[serde(rename_all = "UPPERCASE")]
pub enum Net {
    /// An own network namespace on the home's bridge: VIP, NAT, port maps.
    Bridge,
    /// The host's network.
    Host,
    /// An own, named network namespace with only `lo` up.
    Custom,
}

impl Net {
    /// True when the container has a network namespace of its own.
    pub fn has_own_netns(self) -> bool {
        self != Net::Host
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Net::Bridge => "BRIDGE",
            Net::Host => "HOST",
            Net::Custom => "CUSTOM",
        })
    }
}
