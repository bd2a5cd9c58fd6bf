//! Helpers shared by the integration tests: a private `XDOCKER_HOME` per
//! test, running the real binary, and the root-only gate.
#![allow(dead_code, clippy::print_stderr)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The built `xdocker` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xdocker"))
}

/// True when the test may run; false (skip) when not root outside CI.
/// Under `CI=true` a missing root is a failure, never a silent skip.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root, and CI=true forbids skipping");
    }
    eprintln!("{test}: skipped (needs root)");
    false
}

/// A private home in a temp dir, removed at the end of the test.
pub struct TestHome {
    pub dir: tempfile::TempDir,
}

/// What one run of xdocker did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        &self.stdout
    }

    /// Asserts failure with `code` and one `xdocker: error:` line holding
    /// `needle`; returns that line.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) -> &str {
        assert_eq!(self.code, code, "expected exit {code}: {self:?}");
        let line = self.stderr.trim_end();
        assert!(!line.contains('\n'), "one error line expected: {self:?}");
        assert!(line.starts_with("xdocker: error: "), "{self:?}");
        assert!(line.contains(needle), "expected '{needle}' in: {line}");
        line
    }
}

impl TestHome {
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("xdocker-test-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// The home directory (XDOCKER_HOME).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A scratch directory next to the home, inside the test's temp dir.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.path().join("scratch").join(name);
        std::fs::create_dir_all(&p).expect("scratch dir");
        p
    }

    /// Runs xdocker with this home, in `cwd` (the home when None).
    pub fn run_in<I, S>(&self, cwd: Option<&Path>, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out: Output = Command::new(bin())
            .args(args)
            .env("XDOCKER_HOME", self.path())
            .env_remove("xdocker_HOME")
            .current_dir(cwd.unwrap_or(self.path()))
            .stdin(Stdio::null())
            .output()
            .expect("run xdocker");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs xdocker with this home; arguments split on whitespace.
    pub fn run(&self, line: &str) -> Run {
        self.run_in(None, line.split_whitespace())
    }

    /// The layer directory of an image version.
    pub fn layer(&self, name: &str, version: &str) -> PathBuf {
        self.path()
            .join("images")
            .join(name)
            .join(version)
            .join("rlayer")
    }

    /// Makes an image by hand: `images/NAME/VERSION/rlayer` filled by `fill`.
    pub fn make_image(&self, name: &str, version: &str, fill: impl FnOnce(&Path)) {
        let layer = self.layer(name, version);
        std::fs::create_dir_all(&layer).expect("layer dir");
        fill(&layer);
    }

    /// Entries of tmp/ (staging) — must be empty after any command.
    pub fn staging_leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.path().join("tmp"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}
