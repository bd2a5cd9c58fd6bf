//! Reading the file system a build step starts from, straight from its
//! stacked layer directories (bottom first) with overlayfs's lookup rules
//! (whiteouts, opaque directories, a non-directory hiding what is below
//! it), never through a mount: paths resolved with symlinks followed
//! inside the root only (`..` stops at `/`, absolute targets start at the
//! root), users and groups looked up in the image's /etc/passwd and
//! /etc/group.

use std::collections::VecDeque;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::image::archive::flatten::{is_whiteout, OPAQUE_XATTR};

/// The most [`read_file`] reads.
const MAX_READ: u64 = 16 << 20;

/// Why a lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum LayersError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}: too many levels of symbolic links")]
    Loop(String),
    #[error("{path} of the image: {reason}")]
    Ids { path: String, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LayersError + '_ {
    move |source| LayersError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the merged view's entry `rel` comes from: its layer (an index)
/// and its lstat there. None when nothing is at `rel`.
pub fn lookup(layers: &[PathBuf], rel: &Path) -> Result<Option<(usize, Metadata)>, LayersError> {
    let parts: Vec<&std::ffi::OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    for index in (0..layers.len()).rev() {
        let mut path = layers[index].clone();
        let mut stop_below = false;
        for (k, part) in parts.iter().enumerate() {
            path.push(part);
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound
                        || e.raw_os_error() == Some(libc::ENOTDIR) =>
                {
                    break
                }
                Err(e) => return Err(io_err(&path)(e)),
            };
            if is_whiteout(&meta) {
                return Ok(None);
            }
            let last = k + 1 == parts.len();
            if last {
                return Ok(Some((index, meta)));
            }
            if !meta.is_dir() {
                // A file above hides the directory below.
                return Ok(None);
            }
            if is_opaque(&path) {
                stop_below = true;
            }
        }
        if parts.is_empty() {
            let meta = fs::symlink_metadata(&layers[index]).map_err(io_err(&layers[index]))?;
            return Ok(Some((index, meta)));
        }
        if stop_below {
            return Ok(None);
        }
    }
    Ok(None)
}

fn is_opaque(dir: &Path) -> bool {
    matches!(xattr::get(dir, OPAQUE_XATTR), Ok(Some(v)) if v == b"y")
}

/// The host path of the merged view's entry `rel`, if any.
pub fn host_path(layers: &[PathBuf], rel: &Path) -> Result<Option<PathBuf>, LayersError> {
    Ok(lookup(layers, rel)?.map(|(i, _)| layers[i].join(rel)))
}

/// `path` (absolute inside the image) resolved to a path relative to the
/// root with every symlink followed inside the root; with `follow_last`
/// false, a symlink at the last component stays. Missing components are
/// kept as they are (the caller may create them).
pub fn resolve(layers: &[PathBuf], path: &str, follow_last: bool) -> Result<PathBuf, LayersError> {
    let mut todo: VecDeque<String> = split(path);
    let mut current = PathBuf::new();
    let mut hops = 0;
    while let Some(part) = todo.pop_front() {
        match part.as_str() {
            "." | "" => continue,
            ".." => {
                current.pop();
                continue;
            }
            _ => {}
        }
        let candidate = current.join(&part);
        if todo.is_empty() && !follow_last {
            current = candidate;
            continue;
        }
        match lookup(layers, &candidate)? {
            Some((i, meta)) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(LayersError::Loop(path.to_string()));
                }
                let link = layers[i].join(&candidate);
                let target = fs::read_link(&link).map_err(io_err(&link))?;
                let target = target.to_string_lossy().into_owned();
                let mut next = split(&target);
                next.extend(todo.drain(..));
                todo = next;
                if target.starts_with('/') {
                    current = PathBuf::new();
                }
            }
            _ => current = candidate,
        }
    }
    Ok(current)
}

fn split(path: &str) -> VecDeque<String> {
    path.split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// The contents of regular file `path` of the image (symlinks followed
/// inside the root), None when there is none.
pub fn read_file(layers: &[PathBuf], path: &str) -> Result<Option<String>, LayersError> {
    let rel = resolve(layers, path, true)?;
    match lookup(layers, &rel)? {
        Some((i, meta)) if meta.is_file() => {
            let host = layers[i].join(&rel);
            // /etc/passwd and /etc/group of any image are small: a huge
            // one is refused rather than read into memory.
            if meta.len() > MAX_READ {
                return Err(LayersError::Ids {
                    path: path.to_string(),
                    reason: format!("larger than {MAX_READ} bytes"),
                });
            }
            fs::read_to_string(&host).map(Some).map_err(io_err(&host))
        }
        _ => Ok(None),
    }
}

/// A name (or number) in an /etc/passwd or /etc/group text: its id and,
/// for passwd, its primary group.
fn find_entry(text: &str, name: &str) -> Option<(u32, Option<u32>)> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 3 && fields[0] == name).then(|| {
            let id = fields[2].parse().ok()?;
            Some((id, fields.get(3).and_then(|g| g.parse().ok())))
        })?
    })
}

/// `USER[:GROUP]` (names or numbers) as numeric ids, names looked up in
/// the image's /etc/passwd and /etc/group; a user alone gets its primary
/// group (0 for a number not in passwd), as Docker's `--chown` does.
pub fn resolve_ids(layers: &[PathBuf], spec: &str) -> Result<(u32, u32), LayersError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_file(layers, "/etc/passwd")?;
    let bad = |path: &str, reason: String| LayersError::Ids {
        path: path.to_string(),
        reason,
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (
            n,
            passwd
                .as_deref()
                .and_then(|t| t.lines().find_map(|l| by_uid(l, n))),
        ),
        Err(_) => {
            let text = passwd.as_deref().ok_or_else(|| {
                bad(
                    "/etc/passwd",
                    format!("no such file to look up user {user}"),
                )
            })?;
            let (id, g) = find_entry(text, user)
                .ok_or_else(|| bad("/etc/passwd", format!("no user {user}")))?;
            (id, g)
        }
    };
    let gid = match group {
        None => primary.unwrap_or(0),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let text = read_file(layers, "/etc/group")?.ok_or_else(|| {
                    bad("/etc/group", format!("no such file to look up group {g}"))
                })?;
                find_entry(&text, g)
                    .ok_or_else(|| bad("/etc/group", format!("no group {g}")))?
                    .0
            }
        },
    };
    Ok((uid, gid))
}

fn by_uid(line: &str, uid: u32) -> Option<u32> {
    let fields: Vec<&str> = line.split(':').collect();
    (fields.len() >= 4 && fields[2].parse::<u32>().ok() == Some(uid))
        .then(|| fields[3].parse().ok())
        .flatten()
}

/// Mode, owner and group of a directory of the view (for a directory a
/// step has to make in its new layer), None when absent.
pub fn dir_owner_mode(
    layers: &[PathBuf],
    rel: &Path,
) -> Result<Option<(u32, u32, u32)>, LayersError> {
    Ok(lookup(layers, rel)?
        .filter(|(_, m)| m.is_dir())
        .map(|(_, m)| (m.mode() & 0o7777, m.uid(), m.gid())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn layer(root: &Path, name: &str) -> PathBuf {
        let p = root.join(name);
        fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn lookups_follow_overlay_rules_and_symlinks_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let low = layer(t.path(), "low");
        let high = layer(t.path(), "high");
        fs::create_dir_all(low.join("usr/bin")).unwrap();
        fs::create_dir_all(low.join("etc")).unwrap();
        fs::write(low.join("usr/bin/tool"), "low").unwrap();
        fs::write(low.join("etc/gone"), "x").unwrap();
        symlink("usr/bin", low.join("bin")).unwrap();
        // Escapes: absolute and .. targets stay inside the root.
        symlink("/etc", low.join("usr/bin/abs")).unwrap();
        symlink("../../../../etc", low.join("usr/dots")).unwrap();
        fs::write(
            low.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        fs::write(low.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        fs::create_dir_all(high.join("etc")).unwrap();
        fs::write(high.join("usr-file"), "x").unwrap();
        // A whiteout needs mknod (root); a file over a directory works anywhere.
        fs::write(high.join("etc/gone"), "high").unwrap();
        let layers = vec![low.clone(), high.clone()];
        assert_eq!(
            resolve(&layers, "/bin/tool", true).unwrap(),
            Path::new("usr/bin/tool")
        );
        assert_eq!(resolve(&layers, "/bin", false).unwrap(), Path::new("bin"));
        assert_eq!(
            resolve(&layers, "/bin/abs/passwd", true).unwrap(),
            Path::new("etc/passwd")
        );
        assert_eq!(
            resolve(&layers, "/usr/dots/group", true).unwrap(),
            Path::new("etc/group")
        );
        assert_eq!(
            resolve(&layers, "/x/../../etc", true).unwrap(),
            Path::new("etc")
        );
        assert_eq!(
            lookup(&layers, Path::new("etc/gone")).unwrap().unwrap().0,
            1
        );
        assert_eq!(
            lookup(&layers, Path::new("usr/bin/tool"))
                .unwrap()
                .unwrap()
                .0,
            0
        );
        assert!(lookup(&layers, Path::new("nothing")).unwrap().is_none());
        assert_eq!(
            read_file(&layers, "/bin/tool").unwrap().as_deref(),
            Some("low")
        );
        assert_eq!(resolve_ids(&layers, "app").unwrap(), (1000, 1001));
        assert_eq!(resolve_ids(&layers, "app:staff").unwrap(), (1000, 50));
        assert_eq!(resolve_ids(&layers, "1000").unwrap(), (1000, 1001));
        assert_eq!(resolve_ids(&layers, "7:8").unwrap(), (7, 8));
        assert_eq!(
            resolve_ids(&layers, "nobody").unwrap_err().to_string(),
            "/etc/passwd of the image: no user nobody"
        );
        assert_eq!(
            resolve_ids(&layers, "app:wheel").unwrap_err().to_string(),
            "/etc/group of the image: no group wheel"
        );
        symlink("loop", low.join("loop")).unwrap();
        assert!(matches!(
            resolve(&layers, "/loop/x", true),
            Err(LayersError::Loop(_))
        ));
    }
}
