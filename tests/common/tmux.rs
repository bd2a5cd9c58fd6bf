//! A tmux server of its own for the tests that drive a real terminal
//! (attach, `-t`, the environment of an attached shell): a plain bash in a
//! clean environment whose xdocker and home are the test's.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::RuntimeHome;

/// A tmux server of its own (`tmux -L`), killed when dropped, with one
/// session running a plain bash whose environment points at the test home.
pub struct Tmux {
    socket: String,
    /// The server's socket file, removed with the server.
    socket_path: Option<PathBuf>,
}

impl Tmux {
    pub fn start(h: &RuntimeHome, cols: u16, rows: u16) -> Tmux {
        Self::start_with(h, cols, rows, "")
    }

    /// [`Self::start`] with `env` (`NAME=VALUE ...`) added to the shell's
    /// environment.
    pub fn start_with(h: &RuntimeHome, cols: u16, rows: u16, env: &str) -> Tmux {
        let socket = format!(
            "xdocker-test-{}-{}",
            std::process::id(),
            h.home
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let mut tmux = Tmux {
            socket,
            socket_path: None,
        };
        let xdocker_dir = super::bin()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let shell = format!(
            "env -i PATH={}:/usr/sbin:/usr/bin:/sbin:/bin TERM=xterm-256color HOME=/root \
             {env} XDOCKER_HOME={} XDOCKER_INIT={} PS1='host$ ' bash --norc --noprofile",
            xdocker_dir.display(),
            h.home.path().display(),
            super::static_init().display()
        );
        let ok = tmux
            .cmd()
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "t", "-x"])
            .arg(cols.to_string())
            .arg("-y")
            .arg(rows.to_string())
            .arg(shell)
            .status()
            .expect("tmux");
        assert!(ok.success(), "tmux new-session");
        let out = tmux
            .cmd()
            .args(["display-message", "-p", "#{socket_path}"])
            .output()
            .expect("tmux display-message");
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        tmux.socket_path = (!path.is_empty()).then(|| PathBuf::from(path));
        tmux.wait_for("the host prompt", |s| s.contains("host$"));
        tmux
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// Types `line` literally, then Enter.
    pub fn line(&self, line: &str) {
        self.keys(&["-l", "--", line]);
        self.keys(&["Enter"]);
    }

    pub fn keys(&self, keys: &[&str]) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "t"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(ok.success());
    }

    pub fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-J", "-t", "t"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[track_caller]
    pub fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "tmux: no {what} on the screen:\n{screen}"
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// Runs `shell_code` and waits for its output marker: `echo M-<tag>-$(...)`
    /// makes a line that only the output (not the typed command) holds.
    #[track_caller]
    pub fn ask(&self, tag: &str, shell_code: &str) -> String {
        self.keys(&["C-l"]);
        self.line(&format!("echo \"M-{tag}-$({shell_code})-E\""));
        let prefix = format!("M-{tag}-");
        let screen = self.wait_for(tag, |s| {
            s.lines()
                .any(|l| l.starts_with(&prefix) && l.trim_end().ends_with("-E"))
        });
        screen
            .lines()
            .find(|l| l.starts_with(&prefix))
            .map(|l| {
                l.trim_end()
                    .trim_start_matches(&prefix)
                    .trim_end_matches("-E")
                    .to_string()
            })
            .unwrap_or_default()
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        let ok = self
            .cmd()
            .args(["resize-window", "-t", "t", "-x"])
            .arg(cols.to_string())
            .arg("-y")
            .arg(rows.to_string())
            .status()
            .expect("resize-window");
        assert!(ok.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .cmd()
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}
