//! Port maps (`--port-mapping H:C[/udp]`): a host port published to a port
//! of a BRIDGE container. Stored in the container's config in the same
//! text form the user writes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One port map: host port to container port, TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PortMap {
    pub host: u16,
    pub container: u16,
    pub udp: bool,
}

/// A port number 1-65535.
pub fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("'{s}' is not a port (1-65535)")),
    }
}

impl FromStr for PortMap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (ports, proto) = match s.split_once('/') {
            Some((p, "tcp")) => (p, false),
            Some((p, "udp")) => (p, true),
            Some((_, other)) => return Err(format!("protocol '{other}' is not tcp or udp")),
            None => (s, false),
        };
        let (h, c) = ports
            .split_once(':')
            .ok_or_else(|| format!("'{s}' is not HOST_PORT:CONTAINER_PORT"))?;
        Ok(Self {
            host: parse_port(h)?,
            container: parse_port(c)?,
            udp: proto,
        })
    }
}

/// `HOST:CONTAINER[/udp]`, as stored and shown.
impl fmt::Display for PortMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.container)?;
        if self.udp {
            f.write_str("/udp")?;
        }
        Ok(())
    }
}

crate::stored_as_text!(PortMap);

/// `H:C[,H:C...]`; the same host port (and protocol) twice is refused.
pub fn parse_port_maps(s: &str) -> Result<Vec<PortMap>, String> {
    let maps: Vec<PortMap> = s.split(',').map(str::parse).collect::<Result<_, _>>()?;
    for (i, m) in maps.iter().enumerate() {
        if maps[..i].iter().any(|o| o.host == m.host && o.udp == m.udp) {
            return Err(format!("host port {} is mapped twice", m.host));
        }
    }
    Ok(maps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_bad_maps_are_named() {
        for text in ["8080:80", "53:5353/udp"] {
            let m: PortMap = text.parse().expect("parse");
            assert_eq!(m.to_string(), text);
        }
        assert_eq!(
            "1:2/tcp".parse::<PortMap>().expect("tcp").to_string(),
            "1:2"
        );
        assert!("0:80".parse::<PortMap>().is_err());
        assert!("80".parse::<PortMap>().is_err());
        assert!("1:2/sctp".parse::<PortMap>().is_err());
        assert_eq!(
            parse_port_maps("80:1,80:2").unwrap_err(),
            "host port 80 is mapped twice"
        );
        assert_eq!(
            parse_port_maps("80:1,80:2/udp").expect("tcp and udp").len(),
            2
        );
    }
}
