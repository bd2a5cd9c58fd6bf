//! A private OpenSSH server on 127.0.0.1 for the ssh repository tests:
//! its own config, host key, client key and known_hosts in a temp dir,
//! stopped (with every process it forked) by PID when dropped, even when
//! the test fails.

use std::collections::BTreeSet;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A private sshd; killed with everything it forked when dropped.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

pub fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "xdocker-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "{out:?}");
}

pub fn pub_key(path: &Path) -> String {
    let text = fs::read_to_string(path.with_extension("pub")).expect("read .pub");
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Sshd {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("xdocker-sshd-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        keygen(&d.join("host_ed25519"));
        let ssh = d.join("ssh");
        fs::create_dir(&ssh).expect("mkdir ssh");
        keygen(&ssh.join("id_ed25519"));
        fs::write(
            d.join("authorized_keys"),
            format!("{}\n", pub_key(&ssh.join("id_ed25519"))),
        )
        .expect("authorized_keys");
        fs::create_dir(d.join("repo")).expect("mkdir repo");
        let port = free_port();
        fs::write(
            ssh.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", pub_key(&d.join("host_ed25519"))),
        )
        .expect("known_hosts");
        fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\n\
                 StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 Subsystem sftp internal-sftp\n",
                d = d.display()
            ),
        )
        .expect("sshd_config");
        let mut s = Self {
            dir,
            port,
            child: None,
        };
        s.spawn();
        s
    }

    pub fn spawn(&mut self) {
        let d = self.dir.path();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("sshd.log"))
            .expect("log");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn sshd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills sshd and every process it forked (sessions call setsid, so a
    /// process group would not reach them): found by parent pid in /proc.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let root = child.id() as i32;
        let mut ours: BTreeSet<i32> = BTreeSet::from([root]);
        loop {
            let before = ours.len();
            for (pid, ppid) in processes() {
                if ours.contains(&ppid) {
                    ours.insert(pid);
                }
            }
            if ours.len() == before {
                break;
            }
        }
        for pid in &ours {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        let _ = child.wait();
    }

    pub fn ssh_dir(&self) -> PathBuf {
        self.dir.path().join("ssh")
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// (pid, ppid) of every process.
fn processes() -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            out.push((pid, ppid));
        }
    }
    out
}
