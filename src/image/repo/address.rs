//! The address of an ssh image repository as the user writes it
//! (`--srepo user@host[:port][/dir]`), checked before it reaches ssh.

use std::str::FromStr;

use crate::network::port_map::parse_port;

/// `--srepo user@host[:port][/dir]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshRepo {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub dir: Option<String>,
}

impl FromStr for SshRepo {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("'{s}' is not user@host[:port][/dir]: {why}");
        let (user, rest) = s.split_once('@').ok_or_else(|| bad("no user"))?;
        let (hostport, dir) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(rest[i..].to_string())),
            None => (rest, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, parse_port(p).map_err(|e| bad(&e))?),
            None => (hostport, 22),
        };
        let valid = |t: &str| {
            !t.is_empty()
                && !t.starts_with('-')
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        };
        if !valid(user) {
            return Err(bad("bad user"));
        }
        if !valid(host) {
            return Err(bad("bad host"));
        }
        Ok(Self {
            user: user.to_string(),
            host: host.to_string(),
            port,
            dir,
        })
    }
}
