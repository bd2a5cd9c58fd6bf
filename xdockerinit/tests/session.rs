//! The session server of xdockerinit on its own (no xdocker): init runs as
//! PID 1 of a fresh namespace behind `unshare --kill-child` (as in
//! tests/init.rs) with a listening socket of the test as `--session-fd 4`,
//! and the test speaks the protocol through the library.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use xdockerinit::protocol::{Decoder, Message, VERSION};

#[path = "../../tests/common/root_gate.rs"]
mod root_gate;

const INIT: &str = env!("CARGO_BIN_EXE_xdockerinit");

/// xdockerinit as PID 1 with a session socket.
struct Server {
    unshare: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("session.sock");
        let listener = UnixListener::bind(&socket).expect("bind");
        // Far above anything the spawn itself opens, so the dup2 below
        // cannot land on, or be a no-op for, a descriptor in use.
        let high = nix::fcntl::fcntl(
            listener.as_raw_fd(),
            nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(200),
        )
        .expect("dup the listener");
        // SAFETY: a new descriptor that nothing else owns.
        let high = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(high) };
        let fd = high.as_raw_fd();
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child", INIT])
            .args(["--session-fd", "4"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec the closure only calls dup2, which
        // is async-signal-safe; it puts the listener on fd 4 without
        // close-on-exec (dup2 clears it).
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let unshare = cmd.spawn().expect("spawn unshare");
        drop((listener, high));
        Server {
            unshare,
            socket,
            _dir: dir,
        }
    }

    /// The host PID of init (the only child of unshare).
    fn init_pid(&self) -> i32 {
        let u = self.unshare.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pid = std::fs::read_to_string(format!("/proc/{u}/task/{u}/children"))
                .ok()
                .and_then(|t| t.split_whitespace().next()?.parse().ok());
            if let Some(pid) = pid {
                return pid;
            }
            assert!(Instant::now() < deadline, "init did not start");
            sleep(Duration::from_millis(10));
        }
    }

    fn connect(&self) -> Session {
        let conn = UnixStream::connect(&self.socket).expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut s = Session {
            conn,
            decoder: Decoder::new(),
        };
        s.send(&Message::Hello { version: VERSION });
        assert_eq!(s.recv(), Some(Message::Hello { version: VERSION }));
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.unshare.try_wait().ok().flatten().is_none() {
            let _ = self.unshare.kill();
            let _ = self.unshare.wait();
        }
    }
}

struct Session {
    conn: UnixStream,
    decoder: Decoder,
}

/// What a session produced up to its end.
#[derive(Debug, Default)]
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit: Option<i32>,
    errors: Vec<String>,
}

impl Session {
    fn send(&mut self, m: &Message) {
        self.conn.write_all(&m.to_frame()).expect("send");
    }

    fn recv(&mut self) -> Option<Message> {
        let mut buf = [0u8; 65536];
        loop {
            if let Some(m) = self.decoder.next_message().expect("protocol") {
                return Some(m);
            }
            match self.conn.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.decoder.push(&buf[..n]),
            }
        }
    }

    fn finish(mut self) -> Outcome {
        let mut out = Outcome::default();
        while let Some(m) = self.recv() {
            match m {
                Message::Stdout(d) => out.stdout.extend(d),
                Message::Stderr(d) => out.stderr.extend(d),
                Message::Error(e) => out.errors.push(e),
                Message::Exit { code } => {
                    out.exit = Some(code);
                    break;
                }
                _ => {}
            }
        }
        out
    }
}

fn sh(cmd: &str) -> Vec<Vec<u8>> {
    vec![b"/bin/sh".to_vec(), b"-c".to_vec(), cmd.as_bytes().to_vec()]
}

/// Host PIDs of the processes in init's PID namespace other than init.
fn others(init: i32) -> Vec<i32> {
    let ns = std::fs::read_link(format!("/proc/{init}/ns/pid")).expect("ns");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| p != init)
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok() == Some(ns.clone()))
        .filter(|p| {
            // Zombies waiting for init's reaping count as gone.
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .map(|s| {
                    !s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
                .unwrap_or(false)
        })
        .collect()
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
fn piped_sessions_carry_streams_and_exit_codes() {
    root_gate::needs_root();
    let server = Server::start(&[]);
    let mut s = server.connect();
    s.send(&Message::OpenPipes {
        argv: sh("read x; echo got-$x; echo oops >&2; exit 3"),
        options: Default::default(),
    });
    s.send(&Message::Stdin(b"abc\n".to_vec()));
    s.send(&Message::StdinEof);
    let out = s.finish();
    assert_eq!(out.exit, Some(3), "{out:?}");
    assert_eq!(out.stdout, b"got-abc\n");
    assert_eq!(out.stderr, b"oops\n");

    let mut s = server.connect();
    s.send(&Message::OpenPipes {
        argv: vec![b"/no/such/program".to_vec()],
        options: Default::default(),
    });
    let out = s.finish();
    assert_eq!(out.exit, None);
    assert_eq!(
        out.errors,
        ["exec /no/such/program: no such file or directory"]
    );

    // A signal from the client reaches the command's process group. (No
    // shell in between: dash catches INT and acts on it only after its
    // foreground job. The command has been executed when the relay starts.)
    let mut s = server.connect();
    s.send(&Message::OpenPipes {
        argv: vec![b"sleep".to_vec(), b"30".to_vec()],
        options: Default::default(),
    });
    s.send(&Message::Signal(libc::SIGINT));
    assert_eq!(s.finish().exit, Some(130));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn terminal_sessions_get_their_size_and_a_controlling_terminal() {
    root_gate::needs_root();
    let server = Server::start(&[]);
    let mut s = server.connect();
    s.send(&Message::OpenPty {
        rows: 33,
        cols: 77,
        term: b"xterm-test".to_vec(),
        argv: sh("stty size; echo $TERM; echo $(ls /proc/self/fd); \
                  awk '{ print ($7 != 0) ? \"ctty\" : \"none\" }' /proc/$$/stat"),
        options: Default::default(),
    });
    let out = s.finish();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert_eq!(out.exit, Some(0), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "33 77");
    assert_eq!(lines[1], "xterm-test");
    // ls's own directory fd is 3: nothing else was inherited.
    assert_eq!(lines[2], "0 1 2 3", "{text}");
    assert_eq!(lines[3], "ctty", "the pty is the controlling terminal");

    // A resize reaches the terminal (and SIGWINCH the foreground group).
    let mut s = server.connect();
    s.send(&Message::OpenPty {
        rows: 10,
        cols: 20,
        term: Vec::new(),
        argv: sh("trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done"),
        options: Default::default(),
    });
    assert!(matches!(s.recv(), Some(Message::Stdout(d)) if d.starts_with(b"ready")));
    s.send(&Message::Resize {
        rows: 50,
        cols: 132,
    });
    let out = s.finish();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(text.contains("50 132"), "{text}");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_background_job_does_not_hold_the_session() {
    root_gate::needs_root();
    let server = Server::start(&[]);
    let t = Instant::now();
    let mut s = server.connect();
    s.send(&Message::OpenPty {
        rows: 24,
        cols: 80,
        term: Vec::new(),
        argv: sh("sleep 30 & echo bye; exit 5"),
        options: Default::default(),
    });
    let out = s.finish();
    assert_eq!(out.exit, Some(5));
    assert!(String::from_utf8_lossy(&out.stdout).contains("bye"));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_vanished_client_hangs_the_command_up() {
    root_gate::needs_root();
    let server = Server::start(&[]);
    let init = server.init_pid();
    let mut s = server.connect();
    s.send(&Message::OpenPipes {
        argv: sh("echo ready; exec sleep 30"),
        options: Default::default(),
    });
    assert_eq!(s.recv(), Some(Message::Stdout(b"ready\n".to_vec())));
    assert!(!others(init).is_empty());
    drop(s);
    wait_until(
        "the command and its helper to end",
        Duration::from_secs(5),
        || others(init).is_empty(),
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn stop_hangs_up_terminal_sessions_and_refuses_new_ones() {
    root_gate::needs_root();
    let mut server = Server::start(&[]);
    let init = server.init_pid();
    // A client that never says hello must not delay the stop.
    let _silent = UnixStream::connect(&server.socket).expect("connect");
    let mut s = server.connect();
    // An interactive shell ignores TERM; the hangup ends it.
    s.send(&Message::OpenPty {
        rows: 24,
        cols: 80,
        term: Vec::new(),
        argv: sh("trap '' TERM; echo ready; while :; do sleep 1; done"),
        options: Default::default(),
    });
    assert!(matches!(s.recv(), Some(Message::Stdout(d)) if d.starts_with(b"ready")));
    let t = Instant::now();
    kill(Pid::from_raw(init), Signal::SIGTERM).expect("kill");
    let out = s.finish();
    assert_eq!(out.exit, Some(129), "hung up: {out:?}");
    let status = loop {
        if let Some(status) = server.unshare.try_wait().expect("wait") {
            break status;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "init still running");
        sleep(Duration::from_millis(20));
    };
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(status.code(), Some(0));
    assert!(UnixStream::connect(&server.socket).is_err());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn garbage_is_refused_without_disturbing_init() {
    root_gate::needs_root();
    let server = Server::start(&[]);
    let mut junk = UnixStream::connect(&server.socket).expect("connect");
    junk.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    junk.write_all(&[0, 0, 0, 0]).expect("write");
    let mut answer = Vec::new();
    let _ = junk.read_to_end(&mut answer);
    let mut d = Decoder::new();
    d.push(&answer);
    match d.next_message() {
        Ok(Some(Message::Error(text))) => assert!(text.contains("too short"), "{text}"),
        other => panic!("expected an error message, got {other:?}"),
    }
    // Init serves the next client as if nothing happened.
    let mut s = server.connect();
    s.send(&Message::OpenPipes {
        argv: sh("exit 0"),
        options: Default::default(),
    });
    assert_eq!(s.finish().exit, Some(0));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn single_process_mode_serves_sessions_too() {
    root_gate::needs_root();
    let server = Server::start(&["-e", "sleep 30"]);
    let mut s = server.connect();
    s.send(&Message::OpenPipes {
        argv: sh("ps -o args= | grep -c '^sleep 30'"),
        options: Default::default(),
    });
    let out = s.finish();
    assert_eq!(out.exit, Some(0));
    assert_eq!(out.stdout, b"1\n");
}
