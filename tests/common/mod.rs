//! Helpers shared by the integration tests: a private `XDOCKER_HOME` per
//! test, running the real binary, and the root gate ([`needs_root`]).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod root_gate;
pub mod sshd;
pub mod tmux;
pub use root_gate::needs_root;

/// Runs a host program (`args[0]`) and returns its stdout; its failure
/// fails the test, with its stderr.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The built `xdocker` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xdocker"))
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
        self.run_with(cwd, args, &[])
    }

    /// Runs xdocker with this home and extra environment variables.
    pub fn run_with<I, S>(&self, cwd: Option<&Path>, args: I, env: &[(&str, &OsStr)]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env("XDOCKER_HOME", self.path())
            .env_remove("xdocker_HOME")
            // The shipped scripts of this source tree, whatever the target dir.
            .env("XDOCKER_SHARE_DIR", env!("CARGO_MANIFEST_DIR"))
            .current_dir(cwd.unwrap_or(self.path()))
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out: Output = cmd.output().expect("run xdocker");
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

/// The statically linked xdockerinit containers run: from `scripts/test.sh`
/// (XDOCKERINIT_STATIC), or built here by the same script.
pub fn static_init() -> PathBuf {
    if let Some(p) = std::env::var_os("XDOCKERINIT_STATIC") {
        return PathBuf::from(p);
    }
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build_static_init.sh");
            let out = Command::new(script)
                .arg("debug")
                .output()
                .expect("build static init");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        })
        .clone()
}

/// A home for container tests: its own cgroup parent, xdockerinit from
/// the static build, and a clean-up of every container it started.
pub struct RuntimeHome {
    pub home: TestHome,
    pub cgroup_parent: String,
}

/// The third octet of the next home's subnet: one of its own for each
/// home of this test process (a process makes fewer than 256), from a
/// start the process id picks.
fn next_subnet_octet() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    (std::process::id() + NEXT.fetch_add(1, Ordering::Relaxed)) % 256
}

impl RuntimeHome {
    pub fn new() -> Self {
        let home = TestHome::new();
        let tag = home
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cgroup_parent = format!("xdocker-test-{}", tag.trim_start_matches("xdocker-test-"));
        // A subnet of its own: the derived ones (172.30.X.0/24, X from the
        // home's path) of two homes of one test run may be the same, and a
        // bridge's subnet another interface has is refused at boot.
        std::fs::write(
            home.path().join("xdocker.toml"),
            format!(
                "[cgroups]\nparent = \"{cgroup_parent}\"\n[network]\nsubnet = \"172.29.{}.0/24\"\n",
                next_subnet_octet()
            ),
        )
        .expect("write xdocker.toml");
        Self {
            home,
            cgroup_parent,
        }
    }

    /// Runs xdocker with this home and the static xdockerinit.
    pub fn run_in<I, S>(&self, cwd: Option<&Path>, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let init = static_init();
        self.home
            .run_with(cwd, args, &[("XDOCKER_INIT", init.as_os_str())])
    }

    /// Runs xdocker; arguments split on whitespace.
    pub fn run(&self, line: &str) -> Run {
        self.run_in(None, line.split_whitespace())
    }

    /// Replaces the home's `[network]` section by one with `body`
    /// (`key = value` lines).
    pub fn set_network(&self, body: &str) {
        let path = self.home.path().join("xdocker.toml");
        let text = std::fs::read_to_string(&path).expect("read xdocker.toml");
        let mut kept = String::new();
        let mut in_network = false;
        for line in text.lines() {
            if line.starts_with('[') {
                in_network = line.trim() == "[network]";
            }
            if !in_network {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        kept.push_str("[network]\n");
        kept.push_str(body);
        std::fs::write(&path, kept).expect("write xdocker.toml");
    }

    /// Gives `--userns` containers of this home the host ids `START:COUNT`.
    pub fn set_userns_range(&self, range: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.home.path().join("xdocker.toml"))
            .expect("open xdocker.toml");
        writeln!(f, "[userns]\nrange = \"{range}\"").expect("write xdocker.toml");
    }

    /// Builds the busybox `test` image once for this home.
    pub fn install_test(&self) {
        self.run("-a install_test").ok();
    }

    /// The start of most root tests: a home with the `test` image; fails
    /// the test without root ([`needs_root`]).
    #[track_caller]
    pub fn with_test_image() -> Self {
        needs_root();
        let h = Self::new();
        h.install_test();
        h
    }

    /// The recorded init pid of a container, if it has a state file.
    pub fn pid(&self, name: &str) -> Option<i32> {
        let text = std::fs::read_to_string(
            self.home
                .path()
                .join("containers")
                .join(name)
                .join("state.toml"),
        )
        .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("pid = "))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Cgroup directories of this home's parent that still exist.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for c in rd.flatten() {
                let p = c.path().join(&self.cgroup_parent);
                if p.exists() {
                    out.push(p);
                }
            }
        }
        out
    }
}

impl Drop for RuntimeHome {
    fn drop(&mut self) {
        // Kill what this test started (by recorded pid), then release
        // cgroups and netns names, so a failed test leaves nothing behind.
        if let Ok(rd) = std::fs::read_dir(self.home.path().join("containers")) {
            for c in rd.flatten() {
                let name = c.file_name().to_string_lossy().into_owned();
                if let Some(pid) = self.pid(&name) {
                    let _ = self.run_in(None, ["-a", "kill", "-c", &name, "-f"]);
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        let _ = self.run("-s containers");
        // The home's own bridge and nftables table, made by the first
        // container on BRIDGE (the Docker-style verbs' default network):
        // their names derive from the home's path, so they are this
        // test's alone. Names a test sets in xdocker.toml are its own to
        // remove (one of them is iptables-nft's `nat`, never ours).
        let own = xdocker::config::Config::defaults_for(self.home.path());
        let quiet = |program: &str, args: &[&str]| {
            let _ = std::process::Command::new(program)
                .args(args)
                .stderr(std::process::Stdio::null())
                .status();
        };
        quiet("ip", &["link", "del", &own.network.bridge]);
        quiet("nft", &["delete", "table", "ip", &own.network.nft_table]);
        for dir in self.cgroup_dirs() {
            // Leaf groups first, then the parent.
            if let Ok(rd) = std::fs::read_dir(&dir) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// Mount points in the host's mount table below `dir`.
pub fn mounts_below(dir: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| Path::new(m).starts_with(dir))
        .collect()
}

/// Names from `ip netns list`.
pub fn netns_names() -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Everything a user could observe about one entry.
#[derive(Debug, PartialEq, Eq)]
pub struct Desc {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub mtime: i64,
    pub content: Vec<u8>,
    pub link: Option<PathBuf>,
    pub xattrs: std::collections::BTreeMap<String, Vec<u8>>,
    /// First path (in sorted order) sharing this inode, for hard links.
    pub same_inode_as: String,
}

/// Every entry below `root` as a user could observe it; directory mtimes
/// only with `dir_mtimes` (copies and imports may legitimately touch them).
pub fn snapshot(root: &Path, dir_mtimes: bool) -> std::collections::BTreeMap<String, Desc> {
    snapshot_pruned(root, dir_mtimes, &[])
}

/// [`snapshot`] without the entries at `prune` (relative paths) and below
/// them: e.g. the file systems mounted on a container's root.
pub fn snapshot_pruned(
    root: &Path,
    dir_mtimes: bool,
    prune: &[PathBuf],
) -> std::collections::BTreeMap<String, Desc> {
    let mut out = std::collections::BTreeMap::new();
    let mut inodes: std::collections::BTreeMap<u64, String> = std::collections::BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    let mut all = Vec::new();
    while let Some(rel) = stack.pop() {
        if prune.contains(&rel) {
            continue;
        }
        let full = root.join(&rel);
        let m = std::fs::symlink_metadata(&full).expect("lstat");
        if m.is_dir() {
            for e in std::fs::read_dir(&full).expect("readdir") {
                stack.push(rel.join(e.expect("entry").file_name()));
            }
        }
        all.push((rel, m));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    for (rel, m) in all {
        let full = root.join(&rel);
        let ft = m.file_type();
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else if ft.is_char_device() {
            "char"
        } else if ft.is_block_device() {
            "block"
        } else if ft.is_fifo() {
            "fifo"
        } else {
            "socket"
        };
        let key = rel.to_string_lossy().into_owned();
        let leader = if !ft.is_dir() && m.nlink() > 1 {
            inodes.entry(m.ino()).or_insert_with(|| key.clone()).clone()
        } else {
            key.clone()
        };
        let xattrs = xattr::list(&full)
            .expect("list xattrs")
            .map(|n| {
                let v = xattr::get(&full, &n).expect("get").unwrap_or_default();
                (n.to_string_lossy().into_owned(), v)
            })
            .collect();
        out.insert(
            key,
            Desc {
                kind,
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                rdev: m.rdev(),
                mtime: if ft.is_dir() && !dir_mtimes {
                    0
                } else {
                    m.mtime()
                },
                content: if ft.is_file() {
                    std::fs::read(&full).expect("read")
                } else {
                    Vec::new()
                },
                link: ft
                    .is_symlink()
                    .then(|| std::fs::read_link(&full).expect("readlink")),
                xattrs,
                same_inode_as: leader,
            },
        );
    }
    out
}
