//! Walking a directory tree without following symlinks, in a stable order:
//! the basis of export, image sizes and anything that reads an image layer.

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One entry below the walked root.
#[derive(Debug)]
pub struct TreeEntry {
    /// Path relative to the root; empty for the root itself.
    pub rel: PathBuf,
    /// lstat of the entry (never of a symlink's target).
    pub meta: Metadata,
}

/// Why a walk stopped.
#[derive(Debug, thiserror::Error)]
#[error("read {path}: {source}")]
pub struct WalkError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Lists `root` and everything below it in pre-order, each directory's
/// entries sorted by name, symlinks listed but never followed.
pub fn walk(root: &Path) -> Result<Vec<TreeEntry>, WalkError> {
    let err = |path: &Path, source| WalkError {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::symlink_metadata(root).map_err(|e| err(root, e))?;
    let mut out = vec![TreeEntry {
        rel: PathBuf::new(),
        meta,
    }];
    let mut i = 0;
    // Pre-order with sorted children: insert each directory's children right
    // after it, so the output is the order of a recursive listing.
    while i < out.len() {
        if out[i].meta.is_dir() {
            let dir = root.join(&out[i].rel);
            let mut children = Vec::new();
            for entry in fs::read_dir(&dir).map_err(|e| err(&dir, e))? {
                let entry = entry.map_err(|e| err(&dir, e))?;
                let path = entry.path();
                let meta = fs::symlink_metadata(&path).map_err(|e| err(&path, e))?;
                children.push(TreeEntry {
                    rel: out[i].rel.join(entry.file_name()),
                    meta,
                });
            }
            children.sort_by(|a, b| a.rel.cmp(&b.rel));
            let at = i + 1;
            out.splice(at..at, children);
        }
        i += 1;
    }
    Ok(out)
}

/// Apparent size of a tree: regular files and symlinks, each hard-linked
/// file counted once (what `du -sb --apparent-size` would print, minus dirs).
pub fn tree_size(root: &Path) -> Result<u64, WalkError> {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for e in walk(root)? {
        let ft = e.meta.file_type();
        if ft.is_file() && e.meta.nlink() > 1 && !seen.insert((e.meta.dev(), e.meta.ino())) {
            continue;
        }
        if ft.is_file() || ft.is_symlink() {
            total += e.meta.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_is_preorder_sorted_and_does_not_follow_symlinks() {
        let t = tempfile::tempdir().expect("tempdir");
        let r = t.path();
        fs::create_dir_all(r.join("b/c")).expect("mkdir");
        fs::write(r.join("a"), b"12345").expect("write");
        fs::write(r.join("b/c/d"), b"xy").expect("write");
        fs::hard_link(r.join("a"), r.join("b/a2")).expect("link");
        std::os::unix::fs::symlink("/etc", r.join("b/etc")).expect("symlink");
        let names: Vec<String> = walk(r)
            .expect("walk")
            .iter()
            .map(|e| e.rel.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["", "a", "b", "b/a2", "b/c", "b/c/d", "b/etc"]);
        // 5 (a, once) + 2 (d) + 4 (symlink text "/etc")
        assert_eq!(tree_size(r).expect("size"), 11);
    }

    #[test]
    fn missing_root_names_the_path() {
        let e = walk(Path::new("/nonexistent/xdocker-root")).unwrap_err();
        assert!(
            e.to_string().starts_with("read /nonexistent/xdocker-root"),
            "{e}"
        );
    }
}
