//! The ssh connection: TCP, handshake, the host key checked against
//! `known_hosts` (never accepted silently), then public-key authentication
//! through ssh-agent and the usual key files.

use std::fs;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2::{CheckResult, HashType, HostKeyType, KnownHostFileKind, MethodType, Session};

use super::{ssh_reason, RepoError, RepoSpec};

/// Key files tried, in this order (OpenSSH's default identities).
pub const KEY_FILES: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];
/// A blocking libssh2 call that waits longer than this fails.
const IO_TIMEOUT_MS: u32 = 120_000;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Fast authenticated ciphers first (AES-NI), as OpenSSH prefers them too.
const CIPHERS: &[&str] = &[
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
];
/// Host key algorithms in OpenSSH's order of preference.
const HOST_KEY_ALGS: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

/// Where keys and known_hosts are, and whether to ask ssh-agent.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Holds `known_hosts` and the key files: `XDOCKER_SSH_DIR`, else
    /// `$HOME/.ssh`.
    pub ssh_dir: PathBuf,
    /// True when `SSH_AUTH_SOCK` is set.
    pub agent: bool,
    /// `$HOME`, to show paths below it as `~/...`.
    pub home: Option<PathBuf>,
}

impl SshOptions {
    /// From the environment.
    pub fn from_env() -> Self {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let ssh_dir = std::env::var_os("XDOCKER_SSH_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                home.clone()
                    .unwrap_or_else(|| PathBuf::from("/root"))
                    .join(".ssh")
            });
        Self {
            ssh_dir,
            agent: std::env::var_os("SSH_AUTH_SOCK").is_some_and(|s| !s.is_empty()),
            home,
        }
    }

    /// `path` as shown in messages: `~/.ssh/id_rsa` below the home.
    pub fn shown(&self, path: &Path) -> String {
        if let Some(rest) = self.home.as_ref().and_then(|h| path.strip_prefix(h).ok()) {
            return format!("~/{}", rest.display());
        }
        path.display().to_string()
    }

    fn known_hosts(&self) -> PathBuf {
        self.ssh_dir.join("known_hosts")
    }
}

fn ssh_err<'a>(label: &'a str, op: &'static str) -> impl Fn(ssh2::Error) -> RepoError + 'a {
    move |e| RepoError::Ssh {
        repo: label.to_string(),
        op,
        reason: ssh_reason(&e),
    }
}

/// Connects and authenticates; the session is blocking.
pub(super) fn open_session(
    spec: &RepoSpec,
    label: &str,
    opts: &SshOptions,
) -> Result<Session, RepoError> {
    let addr = format!("{}:{}", spec.host, spec.port);
    let connect_err = |source| RepoError::Connect {
        repo: label.to_string(),
        addr: addr.clone(),
        source,
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    let mut tcp = None;
    for a in addr.to_socket_addrs().map_err(connect_err)? {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let tcp = tcp.ok_or_else(|| connect_err(last))?;
    let _ = tcp.set_nodelay(true);

    let mut sess = Session::new().map_err(ssh_err(label, "start ssh session"))?;
    sess.set_timeout(IO_TIMEOUT_MS);
    let known = KnownLines::load(&opts.known_hosts()).map_err(|e| RepoError::Ssh {
        repo: label.to_string(),
        op: "read known_hosts",
        reason: format!("{}: {}", opts.shown(&opts.known_hosts()), e),
    })?;
    prefer(&sess, MethodType::HostKey, &known.key_algs(&sess, spec));
    prefer(&sess, MethodType::CryptCs, CIPHERS);
    prefer(&sess, MethodType::CryptSc, CIPHERS);
    sess.set_tcp_stream(tcp);
    sess.handshake().map_err(ssh_err(label, "ssh handshake"))?;
    check_host_key(&sess, spec, label, opts, &known)?;
    authenticate(&sess, spec, label, opts)?;
    Ok(sess)
}

/// Sets a method preference to the supported ones of `wanted`, in order.
fn prefer(sess: &Session, method: MethodType, wanted: &[&str]) {
    let supported = sess.supported_algs(method).unwrap_or_default();
    let list: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| supported.contains(w))
        .collect();
    if !list.is_empty() {
        let _ = sess.method_pref(method, &list.join(","));
    }
}

/// The lines of known_hosts that libssh2 understands.
struct KnownLines {
    lines: Vec<String>,
    missing: bool,
}

impl KnownLines {
    fn load(path: &Path) -> io::Result<Self> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Self {
                    lines: Vec::new(),
                    missing: true,
                })
            }
            Err(e) => return Err(e),
        };
        let lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            // Markers (@cert-authority, @revoked) are not understood by
            // libssh2; such lines never count as a known key.
            .filter(|l| !l.starts_with('@'))
            .map(str::to_string)
            .collect();
        Ok(Self {
            lines,
            missing: false,
        })
    }

    /// A libssh2 known-hosts set of every line it can parse (one bad line,
    /// e.g. a key type libssh2 lacks, does not spoil the others).
    fn set(&self, sess: &Session) -> Result<ssh2::KnownHosts, ssh2::Error> {
        let mut kh = sess.known_hosts()?;
        for l in &self.lines {
            if kh.read_str(l, KnownHostFileKind::OpenSSH).is_err() {
                crate::logging::debug(&format!("known_hosts: line skipped: {l}"));
            }
        }
        Ok(kh)
    }

    /// Host key algorithms to ask for: the types known_hosts has for this
    /// host first (as OpenSSH does), so a host known by its ECDSA key is not
    /// asked for its Ed25519 key and then reported as changed.
    fn key_algs(&self, sess: &Session, spec: &RepoSpec) -> Vec<&'static str> {
        let host = spec.known_hosts_name();
        let mut out: Vec<&'static str> = Vec::new();
        for l in &self.lines {
            let Ok(mut kh) = sess.known_hosts() else {
                break;
            };
            if kh.read_str(l, KnownHostFileKind::OpenSSH).is_err() {
                continue;
            }
            // A key that matches nothing: a line naming this host answers
            // Mismatch, any other NotFound (hashed names included).
            if !matches!(kh.check(&host, b"\0"), CheckResult::Mismatch) {
                continue;
            }
            let Some(kind) = l.split_whitespace().nth(1) else {
                continue;
            };
            let algs: &[&'static str] = match kind {
                "ssh-ed25519" => &["ssh-ed25519"],
                "ecdsa-sha2-nistp256" => &["ecdsa-sha2-nistp256"],
                "ecdsa-sha2-nistp384" => &["ecdsa-sha2-nistp384"],
                "ecdsa-sha2-nistp521" => &["ecdsa-sha2-nistp521"],
                "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
                _ => &[],
            };
            for a in algs {
                if !out.contains(a) {
                    out.push(a);
                }
            }
        }
        for a in HOST_KEY_ALGS {
            if !out.contains(a) {
                out.push(a);
            }
        }
        out
    }
}

fn key_type_name(t: HostKeyType) -> &'static str {
    match t {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown key type",
    }
}

/// Standard base64, with or without padding.
fn base64(data: &[u8], pad: bool) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        let digits = c.len() + 1;
        for i in 0..4 {
            if i < digits {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn check_host_key(
    sess: &Session,
    spec: &RepoSpec,
    label: &str,
    opts: &SshOptions,
    known: &KnownLines,
) -> Result<(), RepoError> {
    let (key, kind) = sess.host_key().ok_or_else(|| RepoError::Ssh {
        repo: label.to_string(),
        op: "host key",
        reason: "the server sent none".to_string(),
    })?;
    let fingerprint = sess
        .host_key_hash(HashType::Sha256)
        .map(|h| format!("SHA256:{}", base64(h, false)))
        .unwrap_or_default();
    let shown_key = format!("{} {fingerprint}", key_type_name(kind));
    let file = {
        let f = opts.shown(&opts.known_hosts());
        if known.missing {
            format!("{f} (which does not exist)")
        } else {
            f
        }
    };
    let host = spec.known_hosts_name();
    let kh = known
        .set(sess)
        .map_err(ssh_err(label, "load known_hosts"))?;
    // `check`, not `check_port`: libssh2 would also accept a plain `host`
    // entry (port 22's key) for another port, which OpenSSH does not.
    match kh.check(&host, key) {
        CheckResult::Match => Ok(()),
        CheckResult::NotFound => Err(RepoError::UnknownHostKey {
            repo: label.to_string(),
            host,
            key: shown_key,
            file,
        }),
        CheckResult::Mismatch => Err(RepoError::ChangedHostKey {
            repo: label.to_string(),
            host,
            key: shown_key,
            file,
        }),
        CheckResult::Failure => Err(RepoError::Ssh {
            repo: label.to_string(),
            op: "check host key",
            reason: format!("libssh2 could not check {host} against {file}"),
        }),
    }
}

/// True when a private key file needs a passphrase.
pub(super) fn key_is_encrypted(text: &str) -> bool {
    if text.contains("Proc-Type: 4,ENCRYPTED") || text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
        return true;
    }
    let (begin, end) = (
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "-----END OPENSSH PRIVATE KEY-----",
    );
    let Some(start) = text.find(begin) else {
        return false;
    };
    let body = &text[start + begin.len()..];
    let body = &body[..body.find(end).unwrap_or(body.len())];
    let data = unbase64(body);
    // "openssh-key-v1\0", then the cipher name as an ssh string.
    let Some(rest) = data.strip_prefix(b"openssh-key-v1\0") else {
        return false;
    };
    if rest.len() < 4 {
        return false;
    }
    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    rest.get(4..4 + len).is_some_and(|c| c != b"none")
}

fn authenticate(
    sess: &Session,
    spec: &RepoSpec,
    label: &str,
    opts: &SshOptions,
) -> Result<(), RepoError> {
    let user = spec.user.as_str();
    let mut tried: Vec<String> = Vec::new();
    if opts.agent {
        match agent_auth(sess, user) {
            Ok(true) => return Ok(()),
            Ok(false) => tried.push("ssh-agent: no key accepted".to_string()),
            Err(e) => tried.push(format!("ssh-agent: {}", ssh_reason(&e))),
        }
    }
    for name in KEY_FILES {
        let key = opts.ssh_dir.join(name);
        let shown = opts.shown(&key);
        let text = match fs::read(&key) {
            Ok(t) => String::from_utf8_lossy(&t).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                tried.push(format!("key {shown}: {}", super::io_reason(&e)));
                continue;
            }
        };
        if key_is_encrypted(&text) {
            tried.push(format!("key {shown} is encrypted (use ssh-agent)"));
            continue;
        }
        let public = opts.ssh_dir.join(format!("{name}.pub"));
        let public = public.is_file().then_some(public);
        match sess.userauth_pubkey_file(user, public.as_deref(), &key, None) {
            Ok(()) if sess.authenticated() => return Ok(()),
            Ok(()) => tried.push(format!("key {shown}: not accepted")),
            Err(e) => tried.push(format!("key {shown}: {}", ssh_reason(&e))),
        }
    }
    if tried.is_empty() {
        tried.push(format!(
            "no ssh-agent (SSH_AUTH_SOCK is not set) and no key {} in {}",
            KEY_FILES.join(", "),
            opts.shown(&opts.ssh_dir)
        ));
    }
    Err(RepoError::Auth {
        repo: label.to_string(),
        user: user.to_string(),
        tried: tried.join("; "),
    })
}

/// Tries every identity of the agent; Ok(false) when none was accepted.
fn agent_auth(sess: &Session, user: &str) -> Result<bool, ssh2::Error> {
    let mut agent = sess.agent()?;
    agent.connect()?;
    agent.list_identities()?;
    for id in agent.identities()? {
        if agent.userauth(user, &id).is_ok() && sess.authenticated() {
            let _ = agent.disconnect();
            return Ok(true);
        }
    }
    let _ = agent.disconnect();
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_both_ways() {
        for (raw, enc) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw, true), enc);
            assert_eq!(unbase64(enc), raw);
        }
        assert_eq!(base64(b"f", false), "Zg");
    }

    fn openssh_key(cipher: &str) -> String {
        let mut data = b"openssh-key-v1\0".to_vec();
        data.extend((cipher.len() as u32).to_be_bytes());
        data.extend(cipher.as_bytes());
        data.extend([0u8; 20]);
        let body = base64(&data, true);
        format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\n")
    }

    #[test]
    fn encrypted_keys_are_recognised() {
        assert!(!key_is_encrypted(&openssh_key("none")));
        assert!(key_is_encrypted(&openssh_key("aes256-ctr")));
        assert!(key_is_encrypted(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: x\n\nAAAA\n"
        ));
        assert!(!key_is_encrypted("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n"));
    }

    #[test]
    fn paths_below_home_are_shown_with_a_tilde() {
        let o = SshOptions {
            ssh_dir: PathBuf::from("/root/.ssh"),
            agent: false,
            home: Some(PathBuf::from("/root")),
        };
        assert_eq!(
            o.shown(Path::new("/root/.ssh/id_ed25519")),
            "~/.ssh/id_ed25519"
        );
        assert_eq!(o.shown(Path::new("/tmp/k")), "/tmp/k");
    }
}
