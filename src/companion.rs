//! Programs shipped beside `xdocker`: `xdockerinit` (PID 1 of every
//! container) and `xdocker-srepo` (the ssh image repository commands, kept
//! out of `xdocker` so that it starts without libssh2 and OpenSSL). Each is
//! found through its environment variable, else next to the running
//! binary, else in `../lib/xdocker/` from it.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// Where to look for `program`, best first; with `env` set, only there.
pub fn candidates(env: &str, program: &str) -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut out = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
    {
        out.push(dir.join(program));
        out.push(dir.join("../lib/xdocker").join(program));
    }
    out
}

/// The first candidate that is a file, or the places looked in.
pub fn find(env: &str, program: &str) -> Result<PathBuf, String> {
    let list = candidates(env, program);
    list.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let looked: Vec<String> = list.iter().map(|p| p.display().to_string()).collect();
        format!(
            "{program} not found (looked in {}); set {env} to its path",
            looked.join(", ")
        )
    })
}

/// Replaces this process with `program`, given `args` (without argv[0]);
/// returns only on failure, with the reason.
pub fn exec(env: &str, program: &str, args: &[OsString]) -> String {
    match find(env, program) {
        Ok(path) => {
            let e = std::process::Command::new(&path)
                .arg0(program)
                .args(args)
                .exec();
            format!("execute {}: {e}", path.display())
        }
        Err(e) => e,
    }
}
