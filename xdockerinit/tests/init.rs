//! xdockerinit as a real PID 1: each root test runs it in a fresh PID (and
//! mount) namespace with `unshare --pid --fork --mount-proc --kill-child`, so
//! whatever happens, killing `unshare` kills init and the kernel then kills
//! everything left in the namespace: no test leaves a process behind.
//! The exit record goes to a temporary file opened as fd 3 by a shell wrapper.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

#[path = "../../tests/common/root_gate.rs"]
mod root_gate;

const INIT: &str = env!("CARGO_BIN_EXE_xdockerinit");

/// xdockerinit running as PID 1 of its own namespace, behind `unshare`.
struct Container {
    unshare: Child,
    started: Instant,
    _dir: tempfile::TempDir,
    exit_file: PathBuf,
}

impl Container {
    /// Starts `xdockerinit --exit-fd 3 ARGS...` in new PID and mount
    /// namespaces; `wrap` (a `sh -c` script, `$0` = the init binary) may
    /// stand between unshare and init to change the namespace first.
    fn start_with(args: &[&str], wrap: Option<&str>) -> Container {
        let dir = tempfile::tempdir().expect("tempdir");
        let exit_file = dir.path().join("exit");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#"exec 3>"$1"; shift; exec "$@""#)
            .arg("sh")
            .arg(&exit_file)
            .args(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]);
        match wrap {
            Some(script) => cmd.args(["sh", "-c", script, INIT]),
            None => cmd.arg(INIT),
        };
        cmd.args(["--exit-fd", "3"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let unshare = cmd.spawn().expect("spawn unshare");
        Container {
            unshare,
            started: Instant::now(),
            _dir: dir,
            exit_file,
        }
    }

    fn start(args: &[&str]) -> Container {
        Container::start_with(args, None)
    }

    /// Waits for the end (panics after `limit`); returns the status, the
    /// output and the time since the start.
    fn wait(&mut self, limit: Duration) -> (ExitStatus, Output, Duration) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.unshare.try_wait().expect("wait for unshare") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "xdockerinit still running after {limit:?}"
            );
            sleep(Duration::from_millis(10));
        };
        let elapsed = self.started.elapsed();
        // Everything in the namespace is dead by now, so the pipes are at EOF.
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        if let Some(mut out) = self.unshare.stdout.take() {
            out.read_to_end(&mut stdout).expect("read stdout");
        }
        if let Some(mut err) = self.unshare.stderr.take() {
            err.read_to_end(&mut stderr).expect("read stderr");
        }
        let output = Output {
            status,
            stdout,
            stderr,
        };
        (status, output, elapsed)
    }

    fn exit_record(&self) -> String {
        std::fs::read_to_string(&self.exit_file).expect("read the exit file")
    }

    /// The host PID of xdockerinit: the only child of `unshare`, once it is
    /// in its loop (it has named itself and blocked SIGTERM, so a signal
    /// sent now is queued for its signalfd).
    fn init_pid(&self) -> Pid {
        let unshare = self.unshare.id();
        let children = format!("/proc/{unshare}/task/{unshare}/children");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "xdockerinit did not start");
            let pid = std::fs::read_to_string(&children)
                .ok()
                .and_then(|text| text.split_whitespace().next()?.parse::<i32>().ok());
            if let Some(pid) = pid {
                if in_loop(Path::new(&format!("/proc/{pid}/status"))) {
                    return Pid::from_raw(pid);
                }
            }
            sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // --kill-child: init gets SIGKILL when unshare dies, and the kernel
        // then kills the whole namespace.
        if self.unshare.try_wait().ok().flatten().is_none() {
            let _ = self.unshare.kill();
            let _ = self.unshare.wait();
        }
    }
}

/// Whether /proc/PID/status shows xdockerinit with SIGTERM blocked.
fn in_loop(status: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(status) else {
        return false;
    };
    let named = text.lines().any(|l| l == "Name:\txdockerinit");
    let blocked = text
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:\t"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGTERM - 1)) != 0);
    named && blocked
}

/// The first child of `pid`, waiting for it to appear.
fn first_child(pid: Pid) -> Pid {
    let path = format!("/proc/{pid}/task/{pid}/children");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "{pid} has no child");
        if let Some(child) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse::<i32>().ok())
        {
            return Pid::from_raw(child);
        }
        sleep(Duration::from_millis(10));
    }
}

/// Runs `script` inside the namespace of `init` (host PID), detached: its
/// background processes are orphans that init inherits.
fn enter(init: Pid, script: &str) {
    let status = Command::new("nsenter")
        .args(["--target", &init.to_string(), "--pid", "--mount", "--"])
        .args(["sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run nsenter");
    assert!(status.success(), "nsenter {script:?}: {status}");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn exit_code_of_cmd_is_recorded() {
    root_gate::needs_root();
    let mut c = Container::start(&["-e", "exit 7"]);
    let (status, out, _) = c.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(7), "{}", text(&out.stderr));
    assert_eq!(c.exit_record(), "exit_code=7\nrestarts=0\n");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn cmd_killed_by_a_signal_is_128_plus_signal() {
    root_gate::needs_root();
    let mut c = Container::start(&["-e", "kill -9 $$"]);
    let (status, _, _) = c.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(137));
    assert_eq!(c.exit_record(), "exit_code=137\nrestarts=0\n");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn cmd_gets_stdio_and_a_clean_environment() {
    root_gate::needs_root();
    let script = "echo out; echo err >&2; env | sort; echo pid=$$; \
                  cat /proc/self/status | grep -E '^(SigBlk|SigIgn)'; ls /proc/self/fd";
    let mut c = Container::start(&["-e", script]);
    let (status, out, _) = c.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert_eq!(text(&out.stderr), "err\n");
    assert!(stdout.starts_with("out\n"), "{stdout}");
    let mut env: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains('=') && !l.starts_with("pid=") && !l.starts_with("PWD="))
        .collect();
    // TERM only if the test runner has one.
    env.retain(|l| {
        !l.starts_with("TERM=") && !l.starts_with("SHLVL=") && !l.starts_with("OLDPWD=")
    });
    assert_eq!(
        env,
        [
            "HOME=/root",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "container=xdocker",
        ]
    );
    assert!(stdout.contains("pid=2\n"), "{stdout}");
    // `cat` inherits a clean signal state: nothing blocked, nothing ignored.
    assert!(stdout.contains("SigBlk:\t0000000000000000\n"), "{stdout}");
    assert!(stdout.contains("SigIgn:\t0000000000000000\n"), "{stdout}");
    // No descriptor leaks into the container: not the exit fd 3, nor the
    // signalfd or the exec pipe (ls sees 0-2 and its own directory fd).
    let fds: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("SigIgn"))
        .skip(1)
        .collect();
    assert_eq!(fds, ["0", "1", "2", "3"], "{stdout}");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn orphans_are_reaped_and_stopped_with_term() {
    root_gate::needs_root();
    // 100 sleepers orphaned by a subshell (reparented to PID 1), then 100
    // double-forked processes that exit at once (orphan zombies for init to
    // reap), then a count of zombies and of sleepers whose parent is PID 1.
    let script = r#"
        sh -c 'i=0; while [ $i -lt 100 ]; do sleep 1000 >/dev/null 2>&1 & i=$((i+1)); done'
        i=0; while [ $i -lt 100 ]; do sh -c 'true & exit 0'; i=$((i+1)); done
        sleep 0.5
        zombies=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l)
        orphans=$(grep -l '^Name:[[:space:]]*sleep$' \
            $(grep -l '^PPid:[[:space:]]*1$' /proc/[0-9]*/status 2>/dev/null) 2>/dev/null | wc -l)
        echo "zombies=$zombies orphans=$orphans"
    "#;
    let mut c = Container::start(&["--grace", "5", "-e", script]);
    let (status, out, elapsed) = c.wait(Duration::from_secs(20));
    let stdout = text(&out.stdout);
    assert_eq!(status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout.trim(), "zombies=0 orphans=100");
    assert_eq!(c.exit_record(), "exit_code=0\nrestarts=0\n");
    // The sleepers died of SIGTERM at once: no grace period waited out.
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn processes_ignoring_term_get_kill_after_the_grace_period() {
    root_gate::needs_root();
    let script = r#"sh -c 'trap "" TERM; sleep 1000' >/dev/null 2>&1 & sleep 0.3; exit 0"#;
    let mut c = Container::start(&["--grace", "1", "-e", script]);
    let (status, out, elapsed) = c.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert_eq!(c.exit_record(), "exit_code=0\nrestarts=0\n");
    assert!(elapsed >= Duration::from_millis(1300), "took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert_eq!(
        text(&out.stderr),
        "xdockerinit: grace period of 1s over with processes left: sent SIGKILL\n"
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn stopped_processes_get_term_and_cont() {
    root_gate::needs_root();
    // A stopped process only acts on SIGTERM once it is continued.
    let script = "sleep 1000 >/dev/null 2>&1 & kill -STOP $!; sleep 0.2; exit 0";
    let mut c = Container::start(&["--grace", "5", "-e", script]);
    let (status, out, elapsed) = c.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn sigterm_in_single_process_mode_records_cmds_status() {
    root_gate::needs_root();
    let mut c = Container::start(&["-e", "sleep 1000; exit 3"]);
    let init = c.init_pid();
    first_child(first_child(init)); // CMD's sleep is running
    kill(init, Signal::SIGTERM).unwrap();
    let (status, _, elapsed) = c.wait(Duration::from_secs(10));
    // The shell does not trap TERM: it dies of it.
    assert_eq!(status.code(), Some(143));
    assert_eq!(c.exit_record(), "exit_code=143\nrestarts=0\n");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn hup_is_forwarded_to_cmd() {
    root_gate::needs_root();
    let script = r#"trap 'exit 42' HUP; while :; do sleep 0.05; done"#;
    let mut c = Container::start(&["-e", script]);
    let init = c.init_pid();
    first_child(first_child(init)); // the trap is set by the time sleep runs
    kill(init, Signal::SIGHUP).unwrap();
    let (status, _, _) = c.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(42));
    assert_eq!(c.exit_record(), "exit_code=42\nrestarts=0\n");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn host_mode_stops_on_sigterm_with_code_0() {
    root_gate::needs_root();
    let mut c = Container::start(&["--grace", "5"]);
    let init = c.init_pid();
    // A process of the container, orphaned at once: init inherits it.
    enter(init, "sleep 1000 >/dev/null 2>&1 &");
    first_child(init);
    sleep(Duration::from_millis(200));
    assert!(
        c.unshare.try_wait().unwrap().is_none(),
        "init exited on its own"
    );
    kill(init, Signal::SIGTERM).unwrap();
    let (status, out, _) = c.wait(Duration::from_secs(4));
    assert_eq!(status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(c.exit_record(), "exit_code=0\n");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn host_mode_second_sigterm_cuts_the_grace_period() {
    root_gate::needs_root();
    let mut c = Container::start(&["--grace", "60"]);
    let init = c.init_pid();
    enter(
        init,
        r#"sh -c 'trap "" TERM; sleep 1000' >/dev/null 2>&1 &"#,
    );
    first_child(first_child(init));
    kill(init, Signal::SIGTERM).unwrap();
    sleep(Duration::from_millis(300));
    assert!(
        c.unshare.try_wait().unwrap().is_none(),
        "stopped before the grace period"
    );
    kill(init, Signal::SIGINT).unwrap();
    let (status, _, _) = c.wait(Duration::from_secs(5));
    assert_eq!(status.code(), Some(130));
    assert_eq!(c.exit_record(), "exit_code=130\n");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn missing_shell_is_127_with_a_message() {
    root_gate::needs_root();
    // In the private mount namespace, /bin/sh becomes /dev/null (not
    // executable) just before init starts.
    let wrap = r#"mount --bind /dev/null /bin/sh && exec "$0" "$@""#;
    let mut c = Container::start_with(&["-e", "exit 0"], Some(wrap));
    let (status, out, _) = c.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(127));
    assert_eq!(c.exit_record(), "exit_code=127\nrestarts=0\n");
    assert_eq!(
        text(&out.stderr),
        "xdockerinit: error: exec /bin/sh: permission denied\n"
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn plain_commands_need_no_shell() {
    root_gate::needs_root();
    // Without a usable /bin/sh a command of plain words still runs: it is
    // executed directly, found in PATH.
    let wrap = r#"mount --bind /dev/null /bin/sh && exec "$0" "$@""#;
    let mut c = Container::start_with(&["-e", "false --ignored-arg"], Some(wrap));
    let (status, out, _) = c.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(c.exit_record(), "exit_code=1\nrestarts=0\n");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn version_prints_one_exact_line() {
    let out = Command::new(INIT).arg("-v").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        format!("xdockerinit v{}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(INIT).arg("--version").output().unwrap();
    assert_eq!(
        text(&out.stdout),
        format!("xdockerinit v{}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_arguments_are_refused_with_one_line() {
    for args in [
        &["--bogus"][..],
        &["stray"],
        &["--exit-fd"],
        &["--exit-fd", "1"],
        &["--grace", "soon"],
        &["-e", ""],
    ] {
        let out = Command::new(INIT).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("xdockerinit: error: "), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    let out = Command::new(INIT).arg("--bogus").output().unwrap();
    assert_eq!(
        text(&out.stderr),
        "xdockerinit: error: unknown option '--bogus' (see --help)\n"
    );
}

#[test]
fn refuses_to_run_outside_a_pid_namespace() {
    // Safe anywhere: the check comes before anything is signalled.
    let out = Command::new(INIT)
        .args(["--grace", "1", "-e", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("xdockerinit: error: must run as pid 1 of a pid namespace"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}
