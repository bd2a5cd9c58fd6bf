//! The ssh image repository (SPEC §1 `ssearch`/`spush`/`spull`, §5): a plain
//! directory on any ssh server, reached over SFTP with libssh2 (the `ssh2`
//! crate), holding `.xdockerimage` files exactly as `export` writes them.
//!
//! Layout of the repository directory:
//! * `NAME:VERSION.xdockerimage`, `NAME.xdockerimage` for version `_`: the
//!   only names that count as images; NAME and VERSION must pass `names`
//!   validation, anything else (junk, subdirectories, symlinks, `../`
//!   names) is ignored and never reaches a local path;
//! * `FILE.sha256`: a sidecar (small TOML) with the sha256 and length of the
//!   compressed file as transferred, and the content digest of the layer
//!   (see [`digest`]) that makes pushing an unchanged image a no-op;
//! * `.FILE.tmp.<16 hex>` (uploads in progress) and `.FILE.old.<16 hex>`
//!   (a replaced version on its way out): never listed; a push removes such
//!   files once they are older than [`STALE_SECS`] (a killed transfer cannot
//!   clean up after itself; an hour keeps a concurrent upload alive).
//!
//! An upload streams `archive::export` through a writer thread straight into
//! an SFTP handle under the temporary name, is checked (byte count against
//! the server's `stat`, sha256 recorded) and only then renamed into place.
//! OpenSSH's SFTP rename never overwrites (it links, then unlinks), so a
//! plain rename is an atomic "create unless it exists"; replacing (`-f`)
//! moves the old file aside first. A download streams through
//! `archive::import` into a staging directory the caller commits only when
//! the archive's own checksum, the sidecar's sha256 and length, and the
//! manifest's name all checked out.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use ssh2::{ErrorCode, FileStat, OpenFlags, OpenType, Sftp};

use crate::image::archive::{self, ArchiveError, ArchiveManifest};
use crate::names::{ImageRef, Name, Version};
use crate::progress::Progress;
pub use address::SshRepo;

pub mod address;
pub mod digest;
mod pipe;
mod ssh;

pub use ssh::SshOptions;

/// The repository directory when `--srepo` names none: relative to the ssh
/// user's home on the server.
pub const DEFAULT_DIR: &str = "xdocker-images";
/// Suffix of an image file in the repository.
pub const IMAGE_SUFFIX: &str = ".xdockerimage";
/// Suffix of the sidecar next to an image file.
pub const SIDECAR_SUFFIX: &str = ".sha256";
/// Temporary and set-aside files older than this are removed by a push.
pub const STALE_SECS: u64 = 3600;
/// Size of one write to (or read from) SFTP: libssh2 pipelines only inside
/// one call, so small calls cost one round trip each.
pub const CHUNK: usize = 4 << 20;
/// Longest sidecar read.
const MAX_SIDECAR: u64 = 4096;

/// Errors of the ssh repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(
        "no ssh repository: give --srepo user@host[:port][/dir] (it is saved for later commands)"
    )]
    NoRepo,
    #[error("ssh repository '{value}' saved in {path}: {reason}")]
    BadSaved {
        value: String,
        path: PathBuf,
        reason: String,
    },
    #[error("ssh repository {repo}: directory {dir}: {reason}")]
    BadDir {
        repo: String,
        dir: String,
        reason: &'static str,
    },
    #[error("ssh repository {repo}: connect to {addr}: {source}")]
    Connect {
        repo: String,
        addr: String,
        source: io::Error,
    },
    #[error("ssh repository {repo}: {op}: {reason}")]
    Ssh {
        repo: String,
        op: &'static str,
        reason: String,
    },
    #[error("ssh repository {repo}: host key of {host} ({key}) is not in {file}: refusing to connect (check the key, then add it, e.g. with ssh-keyscan, or connect once with ssh)")]
    UnknownHostKey {
        repo: String,
        host: String,
        key: String,
        file: String,
    },
    #[error("ssh repository {repo}: host key of {host} ({key}) does not match {file}: refusing to connect (the key changed, or someone is intercepting the connection)")]
    ChangedHostKey {
        repo: String,
        host: String,
        key: String,
        file: String,
    },
    #[error("ssh repository {repo}: authentication as {user} failed ({tried})")]
    Auth {
        repo: String,
        user: String,
        tried: String,
    },
    #[error("ssh repository {repo}: {op} {path}: {reason}")]
    Remote {
        repo: String,
        op: &'static str,
        path: String,
        reason: String,
    },
    #[error("ssh repository {repo}: image {image} not found")]
    NotFound { repo: String, image: String },
    #[error("ssh repository {repo}: image {image} already in the repository (use -f)")]
    Exists { repo: String, image: String },
    #[error("ssh repository {repo}: upload of {path} is incomplete: sent {sent} bytes, the server has {found}")]
    Incomplete {
        repo: String,
        path: String,
        sent: u64,
        found: u64,
    },
    #[error("ssh repository {repo}: {path} is corrupted: {reason}")]
    Corrupted {
        repo: String,
        path: String,
        reason: String,
    },
    #[error("ssh repository {repo}: {path}: {source}")]
    Archive {
        repo: String,
        path: String,
        source: ArchiveError,
    },
    #[error("ssh repository {repo}: digest of image {image}: {source}")]
    Digest {
        repo: String,
        image: String,
        source: digest::DigestError,
    },
}

/// Where the repository is: `user@host[:port][/dir]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    pub user: String,
    pub host: String,
    pub port: u16,
    /// Absolute, or relative to the ssh user's home on the server.
    pub dir: PathBuf,
    /// True when `--srepo` named no directory.
    pub default_dir: bool,
}

impl RepoSpec {
    /// From the command line's form. The part after the host, slash
    /// included, is an absolute path on the server (`user@h/srv/images`
    /// is `/srv/images`); `/~` or `/~/sub` means the ssh user's home (or
    /// `sub` below it); nothing means `~/xdocker-images`.
    pub fn from_cli(r: &SshRepo) -> Result<Self, String> {
        let (dir, default_dir) = match r.dir.as_deref() {
            None => (PathBuf::from(DEFAULT_DIR), true),
            Some(d) => (parse_dir(d)?, false),
        };
        Ok(Self {
            user: r.user.clone(),
            host: r.host.clone(),
            port: r.port,
            dir,
            default_dir,
        })
    }

    /// Parses the saved form (see [`fmt::Display`]).
    pub fn parse(s: &str) -> Result<Self, String> {
        let r: SshRepo = s.parse()?;
        Self::from_cli(&r)
    }

    /// The host as known_hosts names it: `host`, or `[host]:port` when the
    /// port is not 22 (as OpenSSH writes it).
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

fn parse_dir(d: &str) -> Result<PathBuf, String> {
    if d.contains('\0') {
        return Err("the directory contains a NUL byte".to_string());
    }
    let rest = d.trim_start_matches('/');
    if rest == "~" {
        return Ok(PathBuf::from("."));
    }
    if let Some(rel) = rest.strip_prefix("~/") {
        let rel = rel.trim_start_matches('/');
        return Ok(PathBuf::from(if rel.is_empty() { "." } else { rel }));
    }
    // Components, so `//srv//images/` is `/srv/images`.
    Ok(Path::new("/").join(rest).components().collect())
}

impl fmt::Display for RepoSpec {
    /// The canonical form, which parses back to the same spec: it is what
    /// `xdocker.toml` saves and what messages name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.host)?;
        if self.port != 22 {
            write!(f, ":{}", self.port)?;
        }
        if self.default_dir {
            return Ok(());
        }
        if self.dir.is_absolute() {
            write!(f, "{}", self.dir.display())
        } else if self.dir == Path::new(".") {
            write!(f, "/~")
        } else {
            write!(f, "/~/{}", self.dir.display())
        }
    }
}

/// The repository file name of an image: `NAME:V.xdockerimage`, or
/// `NAME.xdockerimage` for `_` (the name `export` writes by default).
pub fn image_file_name(name: &Name, version: &Version) -> String {
    if version.is_none() {
        format!("{name}{IMAGE_SUFFIX}")
    } else {
        format!("{name}:{version}{IMAGE_SUFFIX}")
    }
}

/// The image a repository file name stands for, if it is a valid image file
/// name in its canonical spelling; `None` for anything else.
pub fn parse_image_file_name(file: &str) -> Option<(Name, Version)> {
    let stem = file.strip_suffix(IMAGE_SUFFIX)?;
    let (name, version) = match stem.split_once(':') {
        Some((n, v)) => {
            let v: Version = v.parse().ok()?;
            // `NAME:_.xdockerimage` would be a second spelling of `NAME.xdockerimage`.
            if v.is_none() {
                return None;
            }
            (n, v)
        }
        None => (stem, Version::none()),
    };
    let name = Name::parse_as("image name", name).ok()?;
    Some((name, version))
}

/// True for a temporary or set-aside file this module makes:
/// `.FILE.tmp.<16 hex>` or `.FILE.old.<16 hex>`, FILE an image file name or
/// its sidecar's.
pub fn is_transfer_temp(file: &str) -> bool {
    let Some(rest) = file.strip_prefix('.') else {
        return false;
    };
    let Some((inner, tag)) = rest.rsplit_once('.') else {
        return false;
    };
    if tag.len() != 16 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let Some(inner) = inner
        .strip_suffix(".tmp")
        .or_else(|| inner.strip_suffix(".old"))
    else {
        return false;
    };
    let inner = inner.strip_suffix(SIDECAR_SUFFIX).unwrap_or(inner);
    parse_image_file_name(inner).is_some()
}

/// 16 random hex digits for temporary names.
fn random_tag() -> String {
    let mut bytes = [0u8; 8];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !ok {
        // Uniqueness, not secrecy, is what the tag is for.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 40);
        bytes = mixed.to_le_bytes();
    }
    archive::hex(&bytes)
}

/// The sidecar `FILE.sha256`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    /// sha256 of the compressed file as transferred.
    pub sha256: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// Content digest of the layer and manifest (see [`digest`]).
    #[serde(default)]
    pub content: String,
}

impl Sidecar {
    fn parse(text: &str) -> Result<Self, String> {
        let s: Self = toml::from_str(text).map_err(|e| crate::config::toml_reason(text, &e))?;
        let hex64 = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex64(&s.sha256) {
            return Err("sha256 is not 64 hex digits".to_string());
        }
        if !s.content.is_empty() && !hex64(&s.content) {
            return Err("content is not 64 hex digits".to_string());
        }
        Ok(s)
    }
}

/// One image in the repository, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoImage {
    pub name: Name,
    pub version: Version,
    /// The file name in the repository directory.
    pub file: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// Modification time of the file (seconds since the epoch).
    pub mtime: u64,
}

impl RepoImage {
    /// `NAME:VERSION`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.name, self.version)
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The repository already had this image with the same content digest.
    Unchanged { file: String, content: String },
    /// The image was uploaded (replacing an older one when `replaced`).
    Pushed {
        file: String,
        bytes: u64,
        sha256: String,
        content: String,
        replaced: bool,
    },
}

/// What a pull read.
#[derive(Debug, Clone)]
pub struct PullSummary {
    pub manifest: ArchiveManifest,
    pub bytes: u64,
    pub sha256: String,
    /// False when the repository had no sidecar for the file (put there by
    /// hand): then only the archive's own checksum was verified.
    pub sidecar_checked: bool,
    pub entries: u64,
}

/// Every entry of the repository directory: file name and lstat.
type Listing = Vec<(String, FileStat)>;

/// A connected repository.
pub struct Repo {
    spec: RepoSpec,
    label: String,
    // The session must outlive the SFTP channel: fields drop in order.
    sftp: Sftp,
    _session: ssh2::Session,
}

impl fmt::Debug for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repo").field("spec", &self.spec).finish()
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        // A clean goodbye rather than a reset connection in the server's log.
        let _ = self._session.disconnect(None, "xdocker done", None);
    }
}

/// An ssh2 error as lowercase words.
pub(crate) fn ssh_reason(e: &ssh2::Error) -> String {
    let msg = e.message().trim();
    let mut chars = msg.chars();
    let text: String = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    let text = if text.is_empty() {
        format!("ssh error {}", e.code())
    } else {
        text
    };
    match e.code() {
        ErrorCode::SFTP(4) => format!("{text} (the server gave no reason)"),
        _ => text,
    }
}

fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => "input/output error".to_string(),
    }
}

fn is_not_found(e: &ssh2::Error) -> bool {
    matches!(e.code(), ErrorCode::SFTP(2) | ErrorCode::SFTP(10))
}

/// Removes remote temporary files unless disarmed (a failed upload never
/// leaves its temp behind while the connection lives).
struct RemoteTemps<'a> {
    sftp: &'a Sftp,
    paths: Vec<PathBuf>,
}

impl RemoteTemps<'_> {
    fn add(&mut self, p: &Path) {
        self.paths.push(p.to_path_buf());
    }
    fn forget(&mut self, p: &Path) {
        self.paths.retain(|x| x != p);
    }
}

impl Drop for RemoteTemps<'_> {
    fn drop(&mut self) {
        for p in self.paths.drain(..) {
            if let Err(e) = self.sftp.unlink(&p) {
                if !is_not_found(&e) {
                    crate::logging::warn(&format!(
                        "ssh repository: could not remove {}: {} (a later push removes it after {} s)",
                        p.display(),
                        ssh_reason(&e),
                        STALE_SECS
                    ));
                }
            }
        }
    }
}

impl Repo {
    /// Connects, checks the host key, authenticates and opens SFTP.
    pub fn connect(spec: &RepoSpec, opts: &SshOptions) -> Result<Self, RepoError> {
        let label = spec.to_string();
        let session = ssh::open_session(spec, &label, opts)?;
        let sftp = session.sftp().map_err(|e| RepoError::Ssh {
            repo: label.clone(),
            op: "start sftp",
            reason: ssh_reason(&e),
        })?;
        Ok(Self {
            spec: spec.clone(),
            label,
            sftp,
            _session: session,
        })
    }

    /// The repository as messages name it.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn path(&self, file: &str) -> PathBuf {
        self.spec.dir.join(file)
    }

    fn remote_err(&self, op: &'static str, path: &Path, e: &ssh2::Error) -> RepoError {
        RepoError::Remote {
            repo: self.label.clone(),
            op,
            path: path.display().to_string(),
            reason: ssh_reason(e),
        }
    }

    fn lstat_opt(&self, path: &Path) -> Result<Option<FileStat>, RepoError> {
        match self.sftp.lstat(path) {
            Ok(st) => Ok(Some(st)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.remote_err("stat", path, &e)),
        }
    }

    /// Checks the repository directory exists (and is one).
    fn check_dir(&self) -> Result<(), RepoError> {
        let dir = &self.spec.dir;
        match self.sftp.stat(dir) {
            Ok(st) if st.is_dir() => Ok(()),
            Ok(_) => Err(RepoError::BadDir {
                repo: self.label.clone(),
                dir: dir.display().to_string(),
                reason: "not a directory",
            }),
            Err(e) if is_not_found(&e) => Err(RepoError::BadDir {
                repo: self.label.clone(),
                dir: dir.display().to_string(),
                reason: "does not exist (spush creates it)",
            }),
            Err(e) => Err(self.remote_err("stat", dir, &e)),
        }
    }

    /// Creates the repository directory and its missing parents.
    fn ensure_dir(&self) -> Result<(), RepoError> {
        if self.check_dir().is_ok() {
            return Ok(());
        }
        let mut at = PathBuf::new();
        for c in self.spec.dir.components() {
            at.push(c);
            if matches!(
                c,
                std::path::Component::RootDir | std::path::Component::CurDir
            ) {
                continue;
            }
            match self.sftp.stat(&at) {
                Ok(st) if st.is_dir() => continue,
                Ok(_) => break,
                Err(_) => {
                    if let Err(e) = self.sftp.mkdir(&at, 0o755) {
                        // A concurrent push may have made it meanwhile.
                        if !matches!(self.sftp.stat(&at), Ok(st) if st.is_dir()) {
                            return Err(self.remote_err("create directory", &at, &e));
                        }
                    }
                }
            }
        }
        self.check_dir()
    }

    /// Every valid image file of the directory (plus the raw listing).
    fn scan(&self) -> Result<(Vec<RepoImage>, Listing), RepoError> {
        self.check_dir()?;
        let entries = self
            .sftp
            .readdir(&self.spec.dir)
            .map_err(|e| self.remote_err("list", &self.spec.dir, &e))?;
        let mut images = Vec::new();
        let mut all = Vec::new();
        for (path, st) in entries {
            // Only the last component, and only UTF-8: the server's names
            // never become anything but a string compared with valid names.
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            all.push((file.to_string(), st.clone()));
            // readdir reports lstat attributes: symlinks and directories
            // are not image files.
            if !st.is_file() {
                continue;
            }
            let Some((name, version)) = parse_image_file_name(file) else {
                continue;
            };
            images.push(RepoImage {
                name,
                version,
                file: file.to_string(),
                size: st.size.unwrap_or(0),
                mtime: st.mtime.unwrap_or(0),
            });
        }
        images.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
        Ok((images, all))
    }

    /// The images of the repository, by name then version.
    pub fn list(&self) -> Result<Vec<RepoImage>, RepoError> {
        Ok(self.scan()?.0)
    }

    /// The repository's version of `r`: the given one, or the highest.
    pub fn resolve(&self, r: &ImageRef) -> Result<RepoImage, RepoError> {
        let found = self
            .list()?
            .into_iter()
            .filter(|i| i.name == r.name)
            .filter(|i| r.version.as_ref().is_none_or(|v| *v == i.version))
            .max_by(|a, b| a.version.cmp(&b.version));
        found.ok_or_else(|| RepoError::NotFound {
            repo: self.label.clone(),
            image: r.to_string(),
        })
    }

    /// Removes temporaries of killed transfers older than [`STALE_SECS`].
    fn remove_stale(&self, all: &[(String, FileStat)]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for (file, st) in all {
            if !st.is_file() || !is_transfer_temp(file) {
                continue;
            }
            let age = now.saturating_sub(st.mtime.unwrap_or(now));
            if age < STALE_SECS {
                continue;
            }
            let path = self.path(file);
            match self.sftp.unlink(&path) {
                Ok(()) => crate::logging::info(&format!(
                    "ssh repository {}: removed stale {} ({age} s old)",
                    self.label,
                    path.display()
                )),
                Err(e) => crate::logging::warn(&format!(
                    "ssh repository {}: could not remove stale {}: {}",
                    self.label,
                    path.display(),
                    ssh_reason(&e)
                )),
            }
        }
    }

    /// Reads a sidecar; `None` when there is none.
    fn read_sidecar(&self, file: &str) -> Result<Option<Sidecar>, RepoError> {
        let path = self.path(&format!("{file}{SIDECAR_SUFFIX}"));
        let mut f = match self.sftp.open(&path) {
            Ok(f) => f,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(self.remote_err("open", &path, &e)),
        };
        let mut text = String::new();
        (&mut f)
            .take(MAX_SIDECAR)
            .read_to_string(&mut text)
            .map_err(|e| RepoError::Remote {
                repo: self.label.clone(),
                op: "read",
                path: path.display().to_string(),
                reason: io_reason(&e),
            })?;
        Sidecar::parse(&text)
            .map(Some)
            .map_err(|reason| RepoError::Corrupted {
                repo: self.label.clone(),
                path: path.display().to_string(),
                reason,
            })
    }

    /// Writes `data` to a new remote file (exclusive create), fsyncs it if the
    /// server can, and checks its size.
    fn write_small(&self, path: &Path, data: &[u8]) -> Result<(), RepoError> {
        let mut f = self
            .sftp
            .open_mode(
                path,
                OpenFlags::WRITE | OpenFlags::EXCLUSIVE,
                0o644,
                OpenType::File,
            )
            .map_err(|e| self.remote_err("create", path, &e))?;
        f.write_all(data).map_err(|e| RepoError::Remote {
            repo: self.label.clone(),
            op: "write",
            path: path.display().to_string(),
            reason: io_reason(&e),
        })?;
        let _ = f.fsync();
        f.close().map_err(|e| self.remote_err("close", path, &e))?;
        self.check_size(path, data.len() as u64)
    }

    fn check_size(&self, path: &Path, sent: u64) -> Result<(), RepoError> {
        let st = self
            .sftp
            .lstat(path)
            .map_err(|e| self.remote_err("stat", path, &e))?;
        let found = st.size.unwrap_or(u64::MAX);
        if !st.is_file() || found != sent {
            return Err(RepoError::Incomplete {
                repo: self.label.clone(),
                path: path.display().to_string(),
                sent,
                found,
            });
        }
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), ssh2::Error> {
        // Without flags libssh2 asks for all of them; OpenSSH (SFTP v3)
        // ignores flags and never overwrites, which the callers rely on.
        self.sftp.rename(from, to, None)
    }

    /// Uploads the layer as `NAME:V.xdockerimage` (see the module doc for
    /// the steps). `force` replaces a different image of the same version.
    pub fn push(
        &self,
        layer: &Path,
        manifest: &ArchiveManifest,
        force: bool,
        progress: &dyn Progress,
    ) -> Result<PushOutcome, RepoError> {
        let name = Name::parse_as("image name", &manifest.name).map_err(|e| RepoError::Ssh {
            repo: self.label.clone(),
            op: "push",
            reason: e.to_string(),
        })?;
        let version: Version = manifest
            .version
            .parse()
            .map_err(|e: crate::names::NameError| RepoError::Ssh {
                repo: self.label.clone(),
                op: "push",
                reason: e.to_string(),
            })?;
        let image = format!("{name}:{version}");
        let digest_err = |source| RepoError::Digest {
            repo: self.label.clone(),
            image: image.clone(),
            source,
        };
        self.ensure_dir()?;
        let (_, all) = self.scan()?;
        self.remove_stale(&all);

        let file = image_file_name(&name, &version);
        let target = self.path(&file);
        let sidecar_file = format!("{file}{SIDECAR_SUFFIX}");
        let sidecar = self.path(&sidecar_file);
        let existing = self.lstat_opt(&target)?;
        let mut known_content = None;
        if let Some(st) = &existing {
            if !st.is_file() {
                return Err(RepoError::Remote {
                    repo: self.label.clone(),
                    op: "replace",
                    path: target.display().to_string(),
                    reason: "not a regular file".to_string(),
                });
            }
            // Same content already there: nothing to do. The digest is of
            // the layer, not of the compressed bytes, which differ between
            // two exports of one image (the archive's metadata entries carry
            // the time of the export).
            let side = self.read_sidecar(&file).ok().flatten();
            let local = digest::content_digest(layer, manifest).map_err(digest_err)?;
            if let Some(side) = side {
                if !side.content.is_empty() && side.content == local && Some(side.bytes) == st.size
                {
                    return Ok(PushOutcome::Unchanged {
                        file,
                        content: local,
                    });
                }
            }
            if !force {
                return Err(RepoError::Exists {
                    repo: self.label.clone(),
                    image,
                });
            }
            known_content = Some(local);
        } else {
            // A sidecar without its image (a push killed between the two
            // renames) would block the sidecar's rename below.
            let _ = self.sftp.unlink(&sidecar);
        }

        let tag = random_tag();
        let tmp = self.path(&format!(".{file}.tmp.{tag}"));
        let mut temps = RemoteTemps {
            sftp: &self.sftp,
            paths: Vec::new(),
        };
        // Exclusive create: never writes through a file or symlink planted
        // under the temporary name.
        let handle = self
            .sftp
            .open_mode(
                &tmp,
                OpenFlags::WRITE | OpenFlags::EXCLUSIVE,
                0o644,
                OpenType::File,
            )
            .map_err(|e| self.remote_err("create", &tmp, &e))?;
        temps.add(&tmp);

        let (sent, content) = std::thread::scope(|s| {
            let digest = match &known_content {
                Some(_) => None,
                None => Some(s.spawn(|| digest::content_digest(layer, manifest))),
            };
            let (writer, upload) = pipe::upload(s, handle, CHUNK);
            let exported = archive::export(layer, manifest, writer, progress);
            let uploaded = upload.join();
            let content = match digest {
                Some(h) => h.join().unwrap_or(Err(digest::DigestError::Panicked)),
                None => Ok(known_content.clone().unwrap_or_default()),
            };
            (finish_upload(self, &tmp, exported, uploaded), content)
        });
        let sent = sent?;
        let content = content.map_err(digest_err)?;
        self.check_size(&tmp, sent.bytes)?;

        let side = Sidecar {
            sha256: sent.sha256.clone(),
            bytes: sent.bytes,
            content: content.clone(),
        };
        let side_text = toml::to_string(&side).map_err(|e| RepoError::Ssh {
            repo: self.label.clone(),
            op: "write sidecar",
            reason: e.to_string(),
        })?;
        let side_tmp = self.path(&format!(".{sidecar_file}.tmp.{tag}"));
        temps.add(&side_tmp);
        self.write_small(&side_tmp, side_text.as_bytes())?;

        // Install: the image, then its sidecar. Replacing moves the old pair
        // aside first (SFTP v3 rename never overwrites).
        let replaced = existing.is_some();
        if replaced {
            let aside = self.path(&format!(".{file}.old.{tag}"));
            let side_aside = self.path(&format!(".{sidecar_file}.old.{tag}"));
            self.rename(&target, &aside)
                .map_err(|e| self.remote_err("move aside", &target, &e))?;
            temps.add(&aside);
            if self.rename(&sidecar, &side_aside).is_ok() {
                temps.add(&side_aside);
            }
            if let Err(e) = self.rename(&tmp, &target) {
                // Put the old pair back; the error is the rename's. Should
                // that fail too, the old pair stays under its `.old.` names
                // (never deleted here: it is the only copy).
                let _ = self.rename(&aside, &target);
                let _ = self.rename(&side_aside, &sidecar);
                temps.forget(&aside);
                temps.forget(&side_aside);
                return Err(self.remote_err("rename into place", &tmp, &e));
            }
        } else if let Err(e) = self.rename(&tmp, &target) {
            if matches!(self.lstat_opt(&target), Ok(Some(_))) {
                // Someone pushed the same version meanwhile.
                return Err(RepoError::Exists {
                    repo: self.label.clone(),
                    image,
                });
            }
            return Err(self.remote_err("rename into place", &tmp, &e));
        }
        temps.forget(&tmp);
        if self.rename(&side_tmp, &sidecar).is_err() {
            let _ = self.sftp.unlink(&sidecar);
            self.rename(&side_tmp, &sidecar)
                .map_err(|e| self.remote_err("rename into place", &side_tmp, &e))?;
        }
        temps.forget(&side_tmp);
        // The old pair (if any) is removed by the guard now.
        drop(temps);
        Ok(PushOutcome::Pushed {
            file,
            bytes: sent.bytes,
            sha256: sent.sha256,
            content,
            replaced,
        })
    }

    /// Downloads `img` and extracts its layer into the empty directory
    /// `layer` (a staging directory the caller commits once this returned
    /// Ok: every check has passed by then).
    pub fn pull(
        &self,
        img: &RepoImage,
        layer: &Path,
        progress: &dyn Progress,
    ) -> Result<PullSummary, RepoError> {
        let path = self.path(&img.file);
        let shown = path.display().to_string();
        let corrupted = |reason: String| RepoError::Corrupted {
            repo: self.label.clone(),
            path: shown.clone(),
            reason,
        };
        let st = self
            .sftp
            .lstat(&path)
            .map_err(|e| self.remote_err("stat", &path, &e))?;
        if !st.is_file() {
            return Err(corrupted("not a regular file".to_string()));
        }
        let size = st.size.unwrap_or(0);
        let side = self.read_sidecar(&img.file)?;
        if let Some(side) = &side {
            if side.bytes != size {
                return Err(corrupted(format!(
                    "{size} bytes, its sidecar says {}",
                    side.bytes
                )));
            }
        }
        progress.set_total(size);
        let handle = self
            .sftp
            .open(&path)
            .map_err(|e| self.remote_err("open", &path, &e))?;
        let (imported, received) = std::thread::scope(|s| {
            let (reader, download) = pipe::download(s, handle, CHUNK, size);
            let mut reader = reader;
            let imported = archive::import(&mut reader, layer, false, progress);
            // The archive ends before the file does (zstd frame epilogue,
            // tar end blocks): read the rest so the sha256 covers every byte.
            let drained = match &imported {
                Ok(_) => io::copy(&mut reader, &mut io::sink()).map(|_| ()),
                Err(_) => Ok(()),
            };
            drop(reader);
            (imported.map(|s| (s, drained)), download.join())
        });
        let received = match (imported, received) {
            // A broken connection is the cause of whatever import saw.
            (_, Err(e)) => {
                return Err(RepoError::Remote {
                    repo: self.label.clone(),
                    op: "read",
                    path: shown,
                    reason: io_reason(&e),
                })
            }
            (Err(source), Ok(_)) => {
                return Err(RepoError::Archive {
                    repo: self.label.clone(),
                    path: shown,
                    source,
                })
            }
            (Ok((_, Err(e))), Ok(_)) => {
                return Err(RepoError::Remote {
                    repo: self.label.clone(),
                    op: "read",
                    path: shown,
                    reason: io_reason(&e),
                })
            }
            (Ok((summary, Ok(()))), Ok(r)) => (summary, r),
        };
        let (summary, got) = received;
        if got.bytes != size {
            return Err(corrupted(format!(
                "read {} bytes, the server listed {size}",
                got.bytes
            )));
        }
        if let Some(side) = &side {
            if side.sha256 != got.sha256 {
                return Err(corrupted(format!(
                    "sha256 {} does not match its sidecar ({})",
                    got.sha256, side.sha256
                )));
            }
        } else {
            crate::logging::warn(&format!(
                "ssh repository {}: {shown} has no sidecar: only the archive's own checksum was verified",
                self.label
            ));
        }
        let Some(manifest) = summary.manifest else {
            return Err(corrupted("no xdocker manifest".to_string()));
        };
        if manifest.name != img.name.as_str() || manifest.version != img.version.as_str() {
            return Err(corrupted(format!(
                "it holds image {}:{}, not {}",
                manifest.name,
                manifest.version,
                img.label()
            )));
        }
        Ok(PullSummary {
            manifest,
            bytes: got.bytes,
            sha256: got.sha256,
            sidecar_checked: side.is_some(),
            entries: summary.entries,
        })
    }
}

/// Puts together what the export and the upload thread reported: the
/// transport's error is the cause when both failed.
fn finish_upload(
    repo: &Repo,
    tmp: &Path,
    exported: Result<archive::ExportSummary, ArchiveError>,
    uploaded: io::Result<pipe::Sent>,
) -> Result<pipe::Sent, RepoError> {
    match (exported, uploaded) {
        (_, Err(e)) => Err(RepoError::Remote {
            repo: repo.label.clone(),
            op: "write",
            path: tmp.display().to_string(),
            reason: io_reason(&e),
        }),
        (Err(source), Ok(_)) => Err(RepoError::Archive {
            repo: repo.label.clone(),
            path: tmp.display().to_string(),
            source,
        }),
        (Ok(_), Ok(sent)) => Ok(sent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        s.parse().expect("name")
    }
    fn v(s: &str) -> Version {
        s.parse().expect("version")
    }

    #[test]
    fn image_file_names_round_trip() {
        for (name, version, file) in [
            ("web", "1.10.0", "web:1.10.0.xdockerimage"),
            ("web", "_", "web.xdockerimage"),
            ("a.b", "_", "a.b.xdockerimage"),
            ("x=y", "2", "x=y:2.xdockerimage"),
        ] {
            assert_eq!(image_file_name(&n(name), &v(version)), file);
            assert_eq!(
                parse_image_file_name(file),
                Some((n(name), v(version))),
                "{file}"
            );
        }
    }

    #[test]
    fn only_valid_image_file_names_count() {
        for junk in [
            "web:_.xdockerimage",
            "../x.xdockerimage",
            "a/b.xdockerimage",
            ".xdockerimage",
            "-x.xdockerimage",
            "web:1:2.xdockerimage",
            "web:.xdockerimage",
            "web:1.0.xdockerimage.sha256",
            ".web:1.0.xdockerimage.tmp.0123456789abcdef",
            "web 1.xdockerimage",
            "web:1.0.tar",
            "README",
            "..xdockerimage",
            "...xdockerimage",
        ] {
            assert_eq!(parse_image_file_name(junk), None, "{junk}");
        }
        let long = format!("{}.xdockerimage", "n".repeat(65));
        assert_eq!(parse_image_file_name(&long), None);
    }

    #[test]
    fn temporaries_are_recognised_strictly() {
        for t in [
            ".web:1.0.xdockerimage.tmp.0123456789abcdef",
            ".web.xdockerimage.old.0123456789abcdef",
            ".web:1.0.xdockerimage.sha256.tmp.0123456789abcdef",
        ] {
            assert!(is_transfer_temp(t), "{t}");
            assert_eq!(parse_image_file_name(t), None, "{t}");
        }
        for t in [
            "web:1.0.xdockerimage",
            ".web:1.0.xdockerimage.tmp.123",
            ".web:1.0.xdockerimage.tmp.0123456789abcdeg",
            ".../x.xdockerimage.tmp.0123456789abcdef",
            ".precious.tmp.0123456789abcdef",
        ] {
            assert!(!is_transfer_temp(t), "{t}");
        }
        assert!(random_tag().len() == 16);
        assert!(is_transfer_temp(&format!(
            ".w.xdockerimage.tmp.{}",
            random_tag()
        )));
    }

    #[test]
    fn specs_parse_and_print_canonically() {
        for (given, dir, shown) in [
            ("ops@repo", "xdocker-images", "ops@repo"),
            ("ops@repo:2222", "xdocker-images", "ops@repo:2222"),
            (
                "ops@repo:22/srv/images",
                "/srv/images",
                "ops@repo/srv/images",
            ),
            (
                "ops@repo//srv//images/",
                "/srv/images",
                "ops@repo/srv/images",
            ),
            ("ops@repo/~/imgs", "imgs", "ops@repo/~/imgs"),
            ("ops@repo/~", ".", "ops@repo/~"),
        ] {
            let s = RepoSpec::parse(given).expect(given);
            assert_eq!(s.dir, PathBuf::from(dir), "{given}");
            assert_eq!(s.to_string(), shown, "{given}");
            assert_eq!(RepoSpec::parse(shown).expect(shown), s, "{given}");
        }
        let s = RepoSpec::parse("root@127.0.0.1:2222/tmp/r").expect("spec");
        assert_eq!(s.known_hosts_name(), "[127.0.0.1]:2222");
        assert_eq!(
            RepoSpec::parse("a@h").expect("spec").known_hosts_name(),
            "h"
        );
    }

    #[test]
    fn sidecars_are_checked() {
        let good = Sidecar {
            sha256: "a".repeat(64),
            bytes: 12,
            content: "b".repeat(64),
        };
        let text = toml::to_string(&good).expect("toml");
        assert_eq!(Sidecar::parse(&text).expect("parse"), good);
        assert!(Sidecar::parse("sha256 = \"zz\"\nbytes = 1\n").is_err());
        assert!(Sidecar::parse("garbage").is_err());
    }
}
