//! The merged view of stacked overlay layers, computed in user space: what
//! a container sees of its file system, as one tree, for a container's
//! export (`-a export -c C`). Each directory of the view is made of the
//! layers that have it as a directory, from the top down to the first that
//! is opaque (`trusted.overlay.opaque` = `y`) or has something else at its
//! name; each other name is the topmost layer's entry, and a whiteout there
//! (a character device 0/0) hides it from every layer below — the lookup
//! rules of overlayfs (kernel Documentation/filesystems/overlayfs.rst).
//!
//! Reading the layers directly, rather than a read-only overlay mounted in
//! a private mount namespace, needs no mount and no namespace, works the
//! same for a stopped and a running container, sees no volume, and is a
//! pure function of the directories, tested without root. Nothing is ever
//! followed: entries are listed with lstat, as [`crate::fsutil::tree`] does.
//! Layers that rely on overlayfs's optional redirects or metacopy (never
//! made by xdocker, whose mounts leave both off) are refused by the writer.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::fsutil::tree::{TreeEntry, WalkError};

/// The xattr that makes a directory hide what lower layers have below it.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// One entry of the merged view.
#[derive(Debug)]
pub struct MergedEntry {
    /// The layer it comes from (an index into the layers given).
    pub layer: usize,
    /// Its path in the view, and its lstat in that layer.
    pub entry: TreeEntry,
}

/// A whiteout: a character device 0/0.
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn walk_err(path: &Path) -> impl FnOnce(io::Error) -> WalkError + '_ {
    move |source| WalkError {
        path: path.to_path_buf(),
        source,
    }
}

/// True for a directory marked opaque (a file system without xattrs has
/// none).
fn is_opaque(dir: &Path) -> Result<bool, WalkError> {
    match xattr::get(dir, OPAQUE_XATTR) {
        Ok(value) => Ok(value.as_deref() == Some(b"y")),
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => Ok(false),
        Err(e) => Err(walk_err(dir)(e)),
    }
}

/// An entry still to list: a directory brings the layers it is made of.
struct Pending {
    rel: PathBuf,
    layer: usize,
    meta: Metadata,
    /// For a directory, its layers, top first.
    stack: Vec<usize>,
}

/// The layers of the directory whose candidates (top first, each a layer
/// that has something at its name) are `found`, the first a directory:
/// down to an opaque one, or to one with something else there.
fn dir_stack(
    layers: &[PathBuf],
    rel: &Path,
    found: &[(usize, Metadata)],
) -> Result<Vec<usize>, WalkError> {
    let mut stack = Vec::new();
    for (i, (layer, meta)) in found.iter().enumerate() {
        if !meta.is_dir() {
            break;
        }
        stack.push(*layer);
        if i + 1 < found.len() && is_opaque(&layers[*layer].join(rel))? {
            break;
        }
    }
    Ok(stack)
}

/// The merged view of `layers` (bottom first, the top one last), in the
/// order of [`crate::fsutil::tree::walk`]: pre-order, each directory's
/// entries sorted by name. Whiteouts and opaque markers are applied, never
/// listed. `hidden` names paths of the top layer that count as absent
/// there (what lies below shows instead): xdocker's run-time files.
pub fn flatten(
    layers: &[PathBuf],
    hidden: &HashSet<PathBuf>,
) -> Result<Vec<MergedEntry>, WalkError> {
    let Some(top) = layers.len().checked_sub(1) else {
        return Ok(Vec::new());
    };
    let mut roots = Vec::new();
    for layer in (0..=top).rev() {
        let path = &layers[layer];
        roots.push((layer, fs::symlink_metadata(path).map_err(walk_err(path))?));
    }
    let root_layers = dir_stack(layers, Path::new(""), &roots)?;
    let (layer, meta) = roots.swap_remove(0);
    let mut todo = vec![Pending {
        rel: PathBuf::new(),
        layer,
        meta,
        stack: root_layers,
    }];
    let mut out = Vec::new();
    while let Some(p) = todo.pop() {
        let children = if p.meta.is_dir() {
            children(layers, top, &p.rel, &p.stack, hidden)?
        } else {
            Vec::new()
        };
        out.push(MergedEntry {
            layer: p.layer,
            entry: TreeEntry {
                rel: p.rel,
                meta: p.meta,
            },
        });
        todo.extend(children.into_iter().rev());
    }
    Ok(out)
}

/// The entries of merged directory `rel` made of the layers `stack` (top
/// first), sorted by name.
fn children(
    layers: &[PathBuf],
    top: usize,
    rel: &Path,
    stack: &[usize],
    hidden: &HashSet<PathBuf>,
) -> Result<Vec<Pending>, WalkError> {
    let mut found: BTreeMap<OsString, Vec<(usize, Metadata)>> = BTreeMap::new();
    for &layer in stack {
        let dir = layers[layer].join(rel);
        for entry in fs::read_dir(&dir).map_err(walk_err(&dir))? {
            let entry = entry.map_err(walk_err(&dir))?;
            let name = entry.file_name();
            if layer == top && hidden.contains(&rel.join(&name)) {
                continue;
            }
            // lstat, relative to the directory.
            let meta = entry.metadata().map_err(walk_err(&entry.path()))?;
            found.entry(name).or_default().push((layer, meta));
        }
    }
    let mut out = Vec::with_capacity(found.len());
    for (name, mut candidates) in found {
        if is_whiteout(&candidates[0].1) {
            continue;
        }
        let rel = rel.join(&name);
        let stack = if candidates[0].1.is_dir() {
            dir_stack(layers, &rel, &candidates)?
        } else {
            Vec::new()
        };
        let (layer, meta) = candidates.swap_remove(0);
        out.push(Pending {
            rel,
            layer,
            meta,
            stack,
        });
    }
    Ok(out)
}

/// Apparent size of a merged view, counted as
/// [`crate::fsutil::tree::tree_size`] counts a layer's.
pub fn merged_size(entries: &[MergedEntry]) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    for MergedEntry { entry: e, .. } in entries {
        let ft = e.meta.file_type();
        if ft.is_file() && e.meta.nlink() > 1 && !seen.insert((e.meta.dev(), e.meta.ino())) {
            continue;
        }
        if ft.is_file() || ft.is_symlink() {
            total += e.meta.len();
        }
    }
    total
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed setup step should just fail the test
mod tests {
    use super::*;
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};

    /// Three layers below a temp dir: `lower`, `middle`, `upper`.
    fn layers() -> (tempfile::TempDir, Vec<PathBuf>) {
        let t = tempfile::tempdir().unwrap();
        let layers: Vec<PathBuf> = ["lower", "middle", "upper"]
            .iter()
            .map(|n| t.path().join(n))
            .collect();
        for l in &layers {
            fs::create_dir(l).unwrap();
        }
        (t, layers)
    }

    fn write(layer: &Path, rel: &str, text: &str) {
        let p = layer.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn whiteout(layer: &Path, rel: &str) {
        let p = layer.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        mknod(&p, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).unwrap();
    }

    /// The view as `path -> (layer, what)`, what being a file's text, `/`
    /// for a directory or `-> target` for a symlink.
    fn view(layers: &[PathBuf], hidden: &[&str]) -> Vec<(String, usize, String)> {
        let hidden = hidden.iter().map(PathBuf::from).collect();
        flatten(layers, &hidden)
            .unwrap()
            .into_iter()
            .map(|m| {
                let path = layers[m.layer].join(&m.entry.rel);
                let ft = m.entry.meta.file_type();
                let what = if ft.is_dir() {
                    "/".to_string()
                } else if ft.is_symlink() {
                    format!("-> {}", fs::read_link(&path).unwrap().display())
                } else {
                    fs::read_to_string(&path).unwrap()
                };
                (m.entry.rel.display().to_string(), m.layer, what)
            })
            .collect()
    }

    fn row(path: &str, layer: usize, what: &str) -> (String, usize, String) {
        (path.to_string(), layer, what.to_string())
    }

    #[test]
    #[cfg_attr(xdocker_not_root, ignore = "needs root")]
    fn upper_files_win_and_whiteouts_hide_what_is_below() {
        crate::root_gate::needs_root(); // mknod of a whiteout
        let (_t, l) = layers();
        write(&l[0], "etc/a", "lower a");
        write(&l[0], "etc/b", "lower b");
        write(&l[0], "etc/c", "lower c");
        write(&l[0], "gone/deep/f", "x");
        write(&l[1], "etc/b", "middle b");
        whiteout(&l[1], "etc/c");
        write(&l[2], "etc/c", "upper c, over a whiteout");
        whiteout(&l[2], "etc/a");
        whiteout(&l[2], "gone");
        whiteout(&l[2], "never-there");
        assert_eq!(
            view(&l, &[]),
            [
                row("", 2, "/"),
                row("etc", 2, "/"),
                row("etc/b", 1, "middle b"),
                row("etc/c", 2, "upper c, over a whiteout"),
            ]
        );
    }

    #[test]
    #[cfg_attr(xdocker_not_root, ignore = "needs root")]
    fn an_opaque_directory_hides_the_layers_below_it_only() {
        crate::root_gate::needs_root(); // trusted.* xattrs
        let (_t, l) = layers();
        write(&l[0], "home/old/f", "old");
        write(&l[0], "home/kept", "lower");
        write(&l[0], "opt/x", "lower x");
        write(&l[1], "home/mid", "middle");
        write(&l[2], "home/new", "upper");
        write(&l[2], "opt/y", "upper y");
        xattr::set(l[1].join("home"), OPAQUE_XATTR, b"y").unwrap();
        // Only "y" makes a directory opaque.
        xattr::set(l[2].join("opt"), OPAQUE_XATTR, b"n").unwrap();
        assert_eq!(
            view(&l, &[]),
            [
                row("", 2, "/"),
                row("home", 2, "/"),
                row("home/mid", 1, "middle"),
                row("home/new", 2, "upper"),
                row("opt", 2, "/"),
                row("opt/x", 0, "lower x"),
                row("opt/y", 2, "upper y"),
            ]
        );
    }

    #[test]
    fn a_non_directory_ends_a_directory_and_a_directory_replaces_a_file() {
        let (_t, l) = layers();
        write(&l[0], "d/under", "hidden by the middle's file");
        write(&l[1], "d", "a file");
        write(&l[2], "d/new", "upper");
        write(&l[0], "f", "a file below");
        write(&l[2], "f/inside", "a directory above");
        std::os::unix::fs::symlink("/etc", l[2].join("s")).unwrap();
        write(&l[0], "s/passwd", "never followed, never merged");
        assert_eq!(
            view(&l, &[]),
            [
                row("", 2, "/"),
                row("d", 2, "/"),
                row("d/new", 2, "upper"),
                row("f", 2, "/"),
                row("f/inside", 2, "a directory above"),
                row("s", 2, "-> /etc"),
            ]
        );
    }

    #[test]
    fn hidden_upper_paths_let_the_layer_below_show() {
        let (_t, l) = layers();
        write(&l[0], "etc/hosts", "the image's");
        write(&l[2], "etc/hosts", "10.0.0.2 web");
        write(&l[2], "etc/hostname", "web");
        fs::create_dir_all(l[2].join("srv/vol")).unwrap();
        assert_eq!(
            view(&l, &["etc/hosts", "etc/hostname", "srv"]),
            [
                row("", 2, "/"),
                row("etc", 2, "/"),
                row("etc/hosts", 0, "the image's"),
            ]
        );
        let hidden = ["etc/hosts", "etc/hostname", "srv"]
            .map(PathBuf::from)
            .into();
        let entries = flatten(&l, &hidden).unwrap();
        assert_eq!(merged_size(&entries), "the image's".len() as u64);
    }

    #[test]
    fn the_order_is_that_of_a_tree_walk() {
        let (_t, l) = layers();
        for (layer, rel) in [
            (0, "b/c/1"),
            (2, "b/c/d/f"),
            (1, "a/3"),
            (2, "b-/4"),
            (0, "top"),
        ] {
            write(&l[layer], rel, rel);
        }
        let one = tempfile::tempdir().unwrap();
        for rel in ["b/c/1", "b/c/d/f", "a/3", "b-/4", "top"] {
            write(one.path(), rel, rel);
        }
        let merged: Vec<PathBuf> = flatten(&l, &HashSet::new())
            .unwrap()
            .into_iter()
            .map(|m| m.entry.rel)
            .collect();
        let walked: Vec<PathBuf> = crate::fsutil::tree::walk(one.path())
            .unwrap()
            .into_iter()
            .map(|e| e.rel)
            .collect();
        assert_eq!(merged, walked);
    }
}
