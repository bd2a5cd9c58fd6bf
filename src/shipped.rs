//! Where the files shipped with xdocker (scripts/, templates/) are found:
//! installed under `PREFIX/share/xdocker/` beside `PREFIX/bin/xdocker`, or in
//! the source tree when run from `target/`.

use std::path::{Path, PathBuf};

/// Errors finding a shipped file.
#[derive(Debug, thiserror::Error)]
#[error("shipped file {name} not found (looked in {looked}); set XDOCKER_SHARE_DIR to the directory holding scripts/ and templates/")]
pub struct NotShipped {
    pub name: String,
    pub looked: String,
}

/// Directories that may hold `scripts/` and `templates/`, best first.
fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::var_os("XDOCKER_SHARE_DIR").filter(|d| !d.is_empty()) {
        out.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(bin) = exe.parent() {
            out.push(bin.join("../share/xdocker"));
            // target/{debug,release}/xdocker in a source checkout.
            out.push(bin.join("../.."));
            out.push(bin.join("../../.."));
        }
    }
    out
}

/// Finds `rel` (e.g. `scripts/xdocker_install_test.sh`).
pub fn find(rel: &Path) -> Result<PathBuf, NotShipped> {
    let dirs = candidates();
    for d in &dirs {
        let p = d.join(rel);
        if p.is_file() {
            return Ok(p.canonicalize().unwrap_or(p));
        }
    }
    Err(NotShipped {
        name: rel.display().to_string(),
        looked: dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}
