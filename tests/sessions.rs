//! Sessions against real containers (root): `run` (exit codes, streams,
//! stdin, long output, many at once, in `-e` containers), clients that stall
//! or send garbage, descriptors that must not leak into the container, and a
//! real interactive `attach` driven through tmux.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{Run, RuntimeHome};

/// xdocker with the test home and the static init, as a `Command`.
fn xdocker(h: &RuntimeHome) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.env("XDOCKER_HOME", h.home.path())
        .env_remove("xdocker_HOME")
        .env("XDOCKER_INIT", common::static_init())
        .current_dir(h.home.path());
    cmd
}

/// What a run produced, as bytes.
struct Raw {
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// `-a run -c C --cmd CMD` with `stdin` piped in (nothing: /dev/null).
fn run_cmd(h: &RuntimeHome, c: &str, cmd: &str, stdin: Option<&[u8]>) -> Raw {
    let mut command = xdocker(h);
    command
        .args(["-a", "run", "-c", c, "--cmd", cmd])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = command.spawn().expect("spawn xdocker");
    let writer = stdin.map(|data| {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let out = child.wait_with_output().expect("wait for xdocker");
    if let Some(w) = writer {
        w.join().expect("stdin writer");
    }
    Raw {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A home with the test image and a running host container `name`.
fn booted(name: &str) -> RuntimeHome {
    let h = RuntimeHome::new();
    h.install_test();
    h.run_in(
        None,
        ["-a", "create", "-m", "test", "-c", name, "--host", name],
    )
    .ok();
    h.run_in(None, ["-a", "boot", "-c", name]).ok();
    h
}

fn socket_path(h: &RuntimeHome, name: &str) -> PathBuf {
    h.home
        .path()
        .join("containers")
        .join(name)
        .join("session.sock")
}

/// Host PIDs of the processes in the PID namespace of `init`, with their
/// PID inside it.
fn processes_in(init: i32) -> Vec<(i32, i32)> {
    let ns = std::fs::read_link(format!("/proc/{init}/ns/pid")).expect("pid ns");
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok() != Some(ns.clone()) {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let inner = status
            .lines()
            .find(|l| l.starts_with("NSpid:"))
            .and_then(|l| l.split_whitespace().last()?.parse().ok());
        if let Some(inner) = inner {
            out.push((pid, inner));
        }
    }
    out
}

/// The descriptor numbers a process has open, sorted.
fn fds_of(pid: i32) -> Vec<i32> {
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20));
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn run_exit_codes_streams_and_stdin() {
    common::needs_root();
    let h = booted("rc");
    for (cmd, want) in [
        ("true", 0),
        ("exit 1", 1),
        ("no-such-command-here", 127),
        ("kill -9 $$", 137),
        ("kill -TERM $$", 143),
        ("exit 255", 255),
    ] {
        let r = run_cmd(&h, "rc", cmd, None);
        assert_eq!(r.code, want, "{cmd}: {}", text(&r.stderr));
        // xdocker itself prints nothing: no OK line.
        assert!(!text(&r.stdout).contains("OK"), "{cmd}");
    }
    let r = run_cmd(&h, "rc", "echo out; echo err >&2; echo out2", None);
    assert_eq!(r.code, 0);
    assert_eq!(text(&r.stdout), "out\nout2\n");
    assert_eq!(text(&r.stderr), "err\n");
    let r = run_cmd(&h, "rc", "no-such-command-here", None);
    assert!(
        text(&r.stderr).contains("not found") && r.stdout.is_empty(),
        "{}",
        text(&r.stderr)
    );

    // stdin is forwarded, and its end is seen.
    let r = run_cmd(&h, "rc", "cat", Some(b"hi\n"));
    assert_eq!((r.code, text(&r.stdout)), (0, "hi\n".to_string()));
    let r = run_cmd(&h, "rc", "wc -c", Some(b"12345"));
    assert_eq!(text(&r.stdout).trim(), "5");
    // The command runs through sh -c, in /root, with a clean environment.
    let r = run_cmd(&h, "rc", "pwd; echo $HOME; env | sort", None);
    let out = text(&r.stdout);
    assert!(out.starts_with("/root\n/root\n"), "{out}");
    assert!(out.contains("container=xdocker"), "{out}");
    assert!(
        !out.contains("XDOCKER_HOME"),
        "host environment leaked: {out}"
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn run_output_arrives_complete_and_stdin_streams_both_ways() {
    common::needs_root();
    let h = booted("long");
    let r = run_cmd(&h, "long", "head -c 20000000 /dev/zero", None);
    assert_eq!(r.code, 0, "{}", text(&r.stderr));
    assert_eq!(r.stdout.len(), 20_000_000);
    assert!(r.stdout.iter().all(|&b| b == 0));
    // stdout and stderr at once, long, kept apart.
    let r = run_cmd(
        &h,
        "long",
        "head -c 3000000 /dev/zero >&2 & head -c 5000000 /dev/zero; wait",
        None,
    );
    assert_eq!((r.stdout.len(), r.stderr.len()), (5_000_000, 3_000_000));
    // 8 MB in and out at the same time through cat: neither side may wait
    // for the other to drain first.
    let input: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
    let r = run_cmd(&h, "long", "cat", Some(&input));
    assert_eq!(r.code, 0, "{}", text(&r.stderr));
    assert!(r.stdout == input, "cat returned {} bytes", r.stdout.len());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn fifty_concurrent_runs() {
    common::needs_root();
    let h = booted("many");
    let children: Vec<(usize, Child)> = (0..50)
        .map(|i| {
            let child = xdocker(&h)
                .args([
                    "-a",
                    "run",
                    "-c",
                    "many",
                    "--cmd",
                    &format!("sleep 0.2; echo run-{i}; exit {}", i % 7),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn");
            (i, child)
        })
        .collect();
    for (i, child) in children {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some((i % 7) as i32),
            "run {i}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), format!("run-{i}\n"));
    }
    // Every session helper is gone again: only init is left.
    let init = h.pid("many").expect("pid");
    wait_until("helpers to exit", Duration::from_secs(5), || {
        processes_in(init).len() == 1
    });
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn silent_and_garbage_clients_block_nobody() {
    common::needs_root();
    let h = booted("stuck");
    let path = socket_path(&h, "stuck");
    // Connects and says nothing.
    let _silent = UnixStream::connect(&path).expect("connect");
    // Says hello, then nothing.
    let mut half = UnixStream::connect(&path).expect("connect");
    half.write_all(&[0, 0, 0, 4, 0, 1, 0, 1]).expect("hello");
    // Garbage, and a frame header announcing 4 GiB.
    let mut junk = UnixStream::connect(&path).expect("connect");
    junk.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("junk");
    let mut huge = UnixStream::connect(&path).expect("connect");
    huge.write_all(&[0xff, 0xff, 0xff, 0xff, 0, 1])
        .expect("huge");
    // Garbage is answered with an error and the connection is closed.
    junk.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = junk.read_to_end(&mut answer);
    assert!(
        String::from_utf8_lossy(&answer).contains("session protocol"),
        "{answer:?}"
    );

    let t = Instant::now();
    let r = run_cmd(&h, "stuck", "echo still-here", None);
    assert_eq!(text(&r.stdout), "still-here\n");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    let t = Instant::now();
    h.run("-a shutdown -c stuck").ok();
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "shutdown waited for stuck clients: {:?}",
        t.elapsed()
    );
    assert!(!path.exists(), "the stop removes the socket");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn no_descriptor_leaks_into_the_container() {
    common::needs_root();
    let h = booted("fds");
    // The command's own view: 0, 1, 2 and ls's directory.
    let r = run_cmd(&h, "fds", "ls /proc/self/fd", None);
    let fds: Vec<String> = text(&r.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(fds, ["0", "1", "2", "3"], "{}", text(&r.stderr));

    let init = h.pid("fds").expect("pid");
    // From the host: a piped session's command, and a terminal session's.
    let mut piped = xdocker(&h)
        .args(["-a", "run", "-c", "fds", "--cmd", "exec sleep 30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut tty = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} -a run -c fds --cmd 'exec sleep 31'",
            common::bin().display()
        ))
        .arg("/dev/null")
        .env("XDOCKER_HOME", h.home.path())
        .env("XDOCKER_INIT", common::static_init())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn script");
    let cmdline =
        |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let find = |arg: &str| {
        processes_in(init)
            .into_iter()
            .find(|&(pid, _)| cmdline(pid).replace('\0', " ").trim() == arg)
    };
    wait_until("both sleeps", Duration::from_secs(10), || {
        find("sleep 30").is_some() && find("sleep 31").is_some()
    });
    for arg in ["sleep 30", "sleep 31"] {
        let (pid, _) = find(arg).expect("sleep");
        assert_eq!(fds_of(pid), [0, 1, 2], "{arg}: /proc/{pid}/fd");
    }
    let (pid, _) = find("sleep 31").expect("sleep");
    let tty_link = std::fs::read_link(format!("/proc/{pid}/fd/0")).expect("fd 0");
    assert!(
        tty_link.starts_with("/dev/pts/"),
        "terminal session on a pty: {tty_link:?}"
    );
    // PID 1 holds fds 0-2, the exit record, the socket, the console's pty
    // master, the five files of the console log, a console slave (so the
    // master never reads EIO) and its signalfd.
    assert_eq!(
        fds_of(init),
        (0..=12).collect::<Vec<_>>(),
        "init's descriptors"
    );
    let _ = piped.kill();
    let _ = piped.wait();
    let _ = tty.kill();
    let _ = tty.wait();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn run_works_in_single_process_containers() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c single").ok();
    let mut main = xdocker(&h)
        .args(["-a", "boot", "-c", "single", "-e", "sleep 60; exit 4"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("boot -e");
    wait_until("the -e container", Duration::from_secs(10), || {
        h.pid("single").is_some() && socket_path(&h, "single").exists()
    });
    let r = run_cmd(&h, "single", "echo inside; ps | grep -c 'sleep 60'", None);
    assert_eq!(r.code, 0, "{}", text(&r.stderr));
    let out = text(&r.stdout);
    assert!(out.starts_with("inside\n"), "{out}");
    h.run("-a shutdown -c single").ok();
    let status = main.wait().expect("wait");
    assert_eq!(status.code(), Some(143), "CMD got TERM at the shutdown");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn stopped_and_unknown_containers_are_refused() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c idle").ok();
    h.run("-a run -c idle --cmd true")
        .fails(1, "container idle is not running");
    h.run("-a attach -c idle")
        .fails(1, "container idle is not running");
    h.run("-a run -c ghost --cmd true")
        .fails(1, "container ghost not found");
    h.run("-a attach -c ghost")
        .fails(1, "container ghost not found");
}

fn status_row(h: &RuntimeHome, name: &str) -> String {
    let r: Run = h.run("-s containers");
    r.ok()
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_default()
        .to_string()
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn attach_through_tmux() {
    common::needs_root();
    let h = booted("tty");
    let tmux = Tmux::start(&h, 100, 30);
    let prompt = "root@tty:/root#";

    tmux.line("xdocker -a attach -c tty");
    tmux.wait_for("the container's prompt", |s| s.contains(prompt));
    // The window size was there before the shell's first output.
    assert_eq!(tmux.ask("size", "stty size | tr ' ' x"), "30x100");
    assert_eq!(tmux.ask("term", "echo $TERM"), "xterm-256color");
    assert_eq!(tmux.ask("host", "hostname"), "tty");
    // The shell leads its session on the pty, with job control.
    assert!(tmux.ask("tty", "tty").starts_with("/dev/pts/"));
    tmux.resize(120, 40);
    assert_eq!(tmux.ask("resized", "stty size | tr ' ' x"), "40x120");
    // A literal Ctrl-a reaches the shell (readline/ash: start of line), so
    // `Ctrl-a Ctrl-a` then text puts the text before what was typed.
    tmux.keys(&["C-l"]);
    tmux.keys(&["-l", "--", "-lit-E\""]);
    tmux.keys(&["C-a", "C-a"]);
    tmux.keys(&["-l", "--", "echo \"M-ctl"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the Ctrl-a line", |s| {
        s.lines().any(|l| l.starts_with("M-ctl-lit-E"))
    });

    // A background job keeps the terminal open: exit still ends the session.
    tmux.line("sleep 300 &");
    let t = Instant::now();
    tmux.line("exit 7");
    tmux.wait_for("the host prompt after exit", |s| {
        s.lines()
            .last_non_empty()
            .is_some_and(|l| l.starts_with("host$"))
    });
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(tmux.ask("rc", "echo $?"), "7", "the shell's exit code");
    tmux.line("clear; xdocker -a run -c tty --cmd 'exit 9'; echo \"M-rc2-$?-E\"");
    tmux.wait_for("the run's exit code", |s| s.contains("M-rc2-9-E"));
    // The host terminal is back in cooked mode with echo.
    let modes = tmux.ask("modes", "stty -a | tr -s ' \\n' ' '");
    for want in [" icanon ", " echo ", " opost ", " isig "] {
        assert!(modes.contains(want), "{want} in {modes}");
    }

    // Attach again and detach: the container keeps running.
    tmux.keys(&["C-l"]);
    tmux.line("xdocker -a attach -c tty");
    tmux.wait_for("the prompt again", |s| s.contains(prompt));
    tmux.keys(&["C-a", "q"]);
    tmux.wait_for("the detach line", |s| s.contains("[detached from tty]"));
    assert_eq!(tmux.ask("rc3", "echo ok"), "ok");
    assert!(
        status_row(&h, "tty").contains("RUNNING("),
        "{}",
        status_row(&h, "tty")
    );
    // A signal to the client restores the terminal too.
    tmux.keys(&["C-l"]);
    tmux.line("xdocker -a attach -c tty");
    tmux.wait_for("the prompt a third time", |s| s.contains(prompt));
    let client = find_client(&h);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(client),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("kill");
    assert_eq!(tmux.ask("rc4", "echo $?"), "143");
    let modes = tmux.ask("modes2", "stty -a | tr -s ' \\n' ' '");
    assert!(
        modes.contains(" icanon ") && modes.contains(" echo "),
        "{modes}"
    );
    drop(tmux);
    h.run("-a shutdown -c tty").ok();
}

/// The PID of the `xdocker -a attach` client of this home.
fn find_client(h: &RuntimeHome) -> i32 {
    let home = h.home.path().as_os_str().to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let mut want_env = b"XDOCKER_HOME=".to_vec();
            want_env.extend_from_slice(home.as_encoded_bytes());
            if cmdline.split(|&b| b == 0).any(|a| a == b"attach")
                && environ.split(|&b| b == 0).any(|e| e == want_env.as_slice())
            {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "no attach client found");
        sleep(Duration::from_millis(20));
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn boot_t_attaches_at_once() {
    let h = RuntimeHome::with_test_image();
    h.run_in(
        None,
        ["-a", "create", "-m", "test", "-c", "bt", "--host", "bt"],
    )
    .ok();
    let tmux = Tmux::start(&h, 90, 25);
    tmux.line("xdocker -a boot -c bt -t");
    tmux.wait_for("the prompt", |s| s.contains("root@bt:/root#"));
    assert_eq!(tmux.ask("size", "stty size | tr ' ' x"), "25x90");
    tmux.line("exit");
    tmux.wait_for("the host prompt", |s| {
        s.lines()
            .last_non_empty()
            .is_some_and(|l| l.starts_with("host$"))
    });
    assert!(status_row(&h, "bt").contains("RUNNING("));
    // create -b -t as well.
    tmux.keys(&["C-l"]);
    tmux.line("xdocker -a create -m test -c bt2 --host bt2 -b -t");
    tmux.wait_for("the second prompt", |s| s.contains("root@bt2:/root#"));
    tmux.keys(&["C-a", "q"]);
    tmux.wait_for("the detach line", |s| s.contains("[detached from bt2]"));
    drop(tmux);
    assert!(status_row(&h, "bt2").contains("RUNNING("));
    h.run("-a shutdown -c bt").ok();
    h.run("-a shutdown -c bt2").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn attach_in_a_user_namespace_gets_a_pty_of_its_own() {
    let h = RuntimeHome::with_test_image();
    h.set_userns_range("1600000:65536");
    h.run_in(
        None,
        [
            "-a", "create", "-m", "test", "-c", "un", "--host", "un", "--userns", "on", "-b",
        ],
    )
    .ok();
    let tmux = Tmux::start(&h, 80, 24);
    tmux.line("xdocker -a attach -c un");
    tmux.wait_for("the container's prompt", |s| s.contains("root@un:/root#"));
    assert!(tmux.ask("tty", "tty").starts_with("/dev/pts/"));
    // The pty belongs to root inside and to the tty group (5), as in any
    // container: devpts was mounted with the container's group ids.
    assert_eq!(tmux.ask("owner", "stat -c %u:%g $(tty)"), "0:5");
    assert_eq!(tmux.ask("size", "stty size | tr ' ' x"), "24x80");
    tmux.line("exit");
    tmux.wait_for("the host prompt", |s| {
        s.lines()
            .last_non_empty()
            .is_some_and(|l| l.starts_with("host$"))
    });
    drop(tmux);
    h.run("-a kill -c un").ok();
}

/// The last line of a screen that holds something.
trait LastNonEmpty<'a> {
    fn last_non_empty(self) -> Option<&'a str>;
}

impl<'a, I: DoubleEndedIterator<Item = &'a str>> LastNonEmpty<'a> for I {
    fn last_non_empty(mut self) -> Option<&'a str> {
        self.rfind(|l| !l.trim().is_empty())
    }
}
