//! Child processes of PID 1: starting the main child of `-e` mode, reaping
//! every child (orphans of the whole container are reparented to us), and
//! turning a wait status into an exit code.
//!
//! waitpid goes through libc rather than nix: nix's `WaitStatus` refuses a
//! status whose signal it has no `Signal` variant for (real-time signals)
//! with EINVAL *after* the child was reaped, which would lose the main
//! child's status.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::unistd::{fork, pipe2, ForkResult, Pid};

use crate::signals;
use crate::user::Launch;

/// The shell that runs CMD.
pub const SHELL: &CStr = c"/bin/sh";

/// PATH of the main child (the usual Debian root PATH).
pub const CHILD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A child that was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned {
    /// Its PID.
    pub pid: Pid,
    /// Set when execve failed in the child: it then exited with 127, the
    /// shell's code for a command that cannot be run.
    pub exec_error: Option<Errno>,
}

/// The environment every child starts from, TERM aside: a clean one (the
/// host side's environment must not leak into the container), or with
/// `--pass-env` xdockerinit's own, which xdocker made of the container's
/// variables over the clean ones.
pub fn base_env(pass: Option<Vec<(OsString, OsString)>>) -> Vec<CString> {
    let entry = |key: &[u8], value: &[u8]| {
        let mut bytes = key.to_vec();
        bytes.push(b'=');
        bytes.extend_from_slice(value);
        CString::new(bytes).ok()
    };
    match pass {
        Some(vars) => vars
            .iter()
            .filter(|(k, _)| k.as_bytes() != b"TERM")
            .filter_map(|(k, v)| entry(k.as_bytes(), v.as_bytes()))
            .collect(),
        None => [
            entry(b"PATH", CHILD_PATH.as_bytes()),
            entry(b"HOME", b"/root"),
            entry(b"container", b"xdocker"),
        ]
        .into_iter()
        .flatten()
        .collect(),
    }
}

/// The environment of a child: `base` ([`base_env`]) and TERM when the
/// child has a terminal that names one.
pub fn child_env(base: &[CString], term: Option<&OsStr>) -> Vec<CString> {
    let mut env = Vec::with_capacity(base.len() + 1);
    env.extend(
        base.iter()
            .filter(|e| !e.to_bytes().starts_with(b"TERM="))
            .cloned(),
    );
    if let Some(term) = term {
        let mut entry = b"TERM=".to_vec();
        entry.extend_from_slice(term.as_bytes());
        if let Ok(entry) = CString::new(entry) {
            env.push(entry);
        }
    }
    env
}

/// The standard streams of a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildStdio {
    /// Our own fds 0-2.
    Inherit,
    /// These descriptors as its 0, 1 and 2 (they must not be 0-2 themselves
    /// unless in their own place; close-on-exec ones are fine: dup2 gives
    /// the copies without the flag).
    Fds([RawFd; 3]),
}

/// The PATH of `env`, where programs are looked up ([`CHILD_PATH`] when
/// it has none, as the shell's default is much the same).
pub fn path_of(env: &[CString]) -> &str {
    env.iter()
        .find_map(|e| e.to_bytes().strip_prefix(b"PATH="))
        .and_then(|p| std::str::from_utf8(p).ok())
        .unwrap_or(CHILD_PATH)
}

/// Starts `/bin/sh -c command` as a child in a new session, with `env` as its
/// whole environment, `stdio` as its fds 0-2, as the user and in the
/// working directory of `launch`.
///
/// The child resets its signal state ([`signals::reset_for_child`]), calls
/// setsid, and takes fd 0 as its controlling terminal when it is a terminal
/// that no other session owns (TIOCSCTTY without stealing), so an
/// interactive CMD gets job control and Ctrl-C, as with LXC's `lxc-init`.
/// An execve failure travels back through a close-on-exec pipe.
pub fn spawn_shell(
    command: &CStr,
    env: &[CString],
    stdio: ChildStdio,
    launch: &Launch,
) -> Result<Spawned, (&'static str, Errno)> {
    // Everything the child needs is built before fork: after it, only
    // async-signal-safe calls, no allocation.
    let argv: [&CStr; 3] = [c"sh", c"-c", command];
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    // A command of plain words runs without the shell in between, as make
    // does (the shell would exec it in the end anyway): one exec fewer.
    let direct = DirectExec::prepare(command, path_of(env));
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());

    let (report_r, report_w) =
        pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| ("create the exec pipe", e))?;

    // SAFETY: between fork and execve/_exit the child only makes
    // async-signal-safe calls (close, sigaction, sigprocmask, setsid, ioctl,
    // write): no allocation and no lock, which is what fork requires even
    // in a threaded process. xdockerinit itself never starts a thread.
    match unsafe { fork() }.map_err(|e| ("fork the main child", e))? {
        ForkResult::Child => {
            drop(report_r);
            exec_child(
                direct.as_ref().map(DirectExec::parts),
                &argv_ptrs,
                &env_ptrs,
                stdio,
                launch,
                report_w.as_raw_fd(),
            )
        }
        ForkResult::Parent { child } => {
            drop(report_w);
            let mut buf = [0u8; 4];
            let mut got = 0;
            // Blocks until the child execs (EOF: the pipe was close-on-exec)
            // or reports its errno and exits.
            while got < buf.len() {
                match nix::unistd::read(report_r.as_raw_fd(), &mut buf[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(("read the exec pipe", e)),
                }
            }
            let exec_error = (got == buf.len()).then(|| Errno::from_raw(i32::from_ne_bytes(buf)));
            Ok(Spawned {
                pid: child,
                exec_error,
            })
        }
    }
}

/// Shell words and special builtins: a command starting with one of them
/// always goes through the shell, even when a program of that name exists.
const SHELL_WORDS: &[&[u8]] = &[
    b"!",
    b"{",
    b"}",
    b"case",
    b"do",
    b"done",
    b"elif",
    b"else",
    b"esac",
    b"fi",
    b"for",
    b"function",
    b"if",
    b"in",
    b"select",
    b"then",
    b"time",
    b"until",
    b"while",
    b".",
    b":",
    b"alias",
    b"bg",
    b"break",
    b"cd",
    b"command",
    b"continue",
    b"eval",
    b"exec",
    b"exit",
    b"export",
    b"fc",
    b"fg",
    b"getopts",
    b"hash",
    b"jobs",
    b"local",
    b"read",
    b"readonly",
    b"return",
    b"set",
    b"shift",
    b"source",
    b"times",
    b"trap",
    b"type",
    b"ulimit",
    b"umask",
    b"unalias",
    b"unset",
    b"wait",
];

/// For a command of plain words (letters, digits, `/._-+,:@%=`, spaces;
/// no quoting, expansion, redirection or assignment in front), the program
/// it names, found as the shell would find it in `path`, and its argv.
/// `None` means: run it with `sh -c`.
pub fn direct_command(command: &[u8], path: &str) -> Option<(CString, Vec<CString>)> {
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"/._-+,:@%= ".contains(b);
    if !command.iter().all(plain) {
        return None;
    }
    let words: Vec<&[u8]> = command
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .collect();
    let first = *words.first()?;
    if first.contains(&b'=') || SHELL_WORDS.contains(&first) {
        return None;
    }
    let program = if first.contains(&b'/') {
        CString::new(first).ok()?
    } else {
        find_in_path(first, path)?
    };
    let argv = words
        .iter()
        .map(|w| CString::new(*w).ok())
        .collect::<Option<Vec<_>>>()?;
    Some((program, argv))
}

/// A `sh -c` command prepared, before fork, to be executed directly (see
/// [`direct_command`]).
#[derive(Debug)]
pub struct DirectExec {
    program: CString,
    /// Owns the strings `argv` points to.
    _words: Vec<CString>,
    argv: Vec<*const libc::c_char>,
}

impl DirectExec {
    /// `None` when the command needs the shell; the program is looked up
    /// in `path`.
    pub fn prepare(command: &CStr, path: &str) -> Option<Self> {
        let (program, words) = direct_command(command.to_bytes(), path)?;
        let mut argv: Vec<*const libc::c_char> = words.iter().map(|w| w.as_ptr()).collect();
        argv.push(std::ptr::null());
        Some(Self {
            program,
            _words: words,
            argv,
        })
    }

    /// The program and its null-terminated argv, for execve.
    pub fn parts(&self) -> (&CStr, &[*const libc::c_char]) {
        (&self.program, &self.argv)
    }
}

/// The first executable regular file `dir/name` for the dirs of `path`.
pub fn find_in_path(name: &[u8], path: &str) -> Option<CString> {
    path.split(':').filter(|d| !d.is_empty()).find_map(|dir| {
        let mut full = dir.as_bytes().to_vec();
        full.push(b'/');
        full.extend_from_slice(name);
        let full = CString::new(full).ok()?;
        executable_file(&full).then_some(full)
    })
}

/// A regular file we may execute.
fn executable_file(path: &CStr) -> bool {
    // SAFETY: path is NUL-terminated; st is a valid out pointer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::stat(path.as_ptr(), &mut st) == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFREG
            && libc::access(path.as_ptr(), libc::X_OK) == 0
    }
}

/// The child side of [`spawn_shell`]; never returns. `direct` (a program
/// and its argv) is tried first; if it cannot be executed (a script
/// without `#!`, say) the shell runs the command as written.
fn exec_child(
    direct: Option<(&CStr, &[*const libc::c_char])>,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    stdio: ChildStdio,
    launch: &Launch,
    report: libc::c_int,
) -> ! {
    signals::reset_for_child();
    if let ChildStdio::Fds(fds) = stdio {
        for (target, fd) in (0..).zip(fds) {
            if fd != target {
                // SAFETY: dup2 takes no pointers and is async-signal-safe;
                // a failure leaves the child's own descriptor in place.
                unsafe {
                    libc::dup2(fd, target);
                }
            }
        }
    }
    // SAFETY: setsid, isatty and ioctl(TIOCSCTTY, 0) take no pointers; their
    // failures are harmless (no new session if we already lead one, no
    // controlling terminal if fd 0 is not a free terminal).
    unsafe {
        libc::setsid();
        if libc::isatty(0) == 1 {
            libc::ioctl(0, libc::TIOCSCTTY, 0);
        }
    }
    // The user and working directory: a failure is reported like one of
    // execve, and the child exits with 126 (cannot run the command).
    if let Err((_, errno)) = launch.apply() {
        let bytes = (errno as i32).to_ne_bytes();
        // SAFETY: write of a 4-byte stack buffer and _exit are
        // async-signal-safe.
        unsafe {
            libc::write(report, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(126)
        }
    }
    // SAFETY: argv and envp are null-terminated arrays of pointers to
    // NUL-terminated strings that the parent keeps alive across fork.
    unsafe {
        if let Some((program, direct_argv)) = direct {
            libc::execve(program.as_ptr(), direct_argv.as_ptr(), envp.as_ptr());
        }
        libc::execve(SHELL.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    let errno = Errno::last_raw().to_ne_bytes();
    // SAFETY: write of a 4-byte stack buffer to the pipe and _exit are
    // async-signal-safe; _exit skips atexit handlers and stdio buffers that
    // belong to the parent.
    unsafe {
        libc::write(report, errno.as_ptr().cast(), errno.len());
        libc::_exit(127)
    }
}

/// What one waitpid call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// A child ended, with its exit code (see [`exit_code`]).
    Child {
        /// Its PID.
        pid: Pid,
        /// Its status as an exit code.
        code: i32,
    },
    /// Children exist but none has ended (only with `block == false`).
    NoneReady,
    /// No children at all (ECHILD).
    NoChildren,
}

/// Waits for any child: `waitpid(-1, WNOHANG)`, or blocking when `block`.
pub fn reap(block: bool) -> Result<Reaped, Errno> {
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: status is a valid out pointer for the whole call.
        let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
        match pid {
            0 => return Ok(Reaped::NoneReady),
            pid if pid > 0 => {
                // Without WUNTRACED/WCONTINUED only ended children are
                // reported; anything else is counted as an exit code 0.
                let code = exit_code(status).unwrap_or(0);
                return Ok(Reaped::Child {
                    pid: Pid::from_raw(pid),
                    code,
                });
            }
            _ => match Errno::last() {
                Errno::EINTR => continue,
                Errno::ECHILD => return Ok(Reaped::NoChildren),
                e => return Err(e),
            },
        }
    }
}

/// The shell's view of a wait status: the exit code, or 128+signal for a
/// child killed by a signal; `None` for a stop/continue report.
pub fn exit_code(status: libc::c_int) -> Option<i32> {
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Some(128 + libc::WTERMSIG(status))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_run_directly_everything_else_through_the_shell() {
        let path = "/nonexistent:/bin:/usr/bin";
        let (program, argv) = direct_command(b"true", path).expect("found in PATH");
        assert!(program.to_bytes().ends_with(b"/true"), "{program:?}");
        assert_eq!(argv, vec![CString::from(c"true")]);
        let (program, argv) =
            direct_command(b"  /bin/echo  a=1 --x,y:z@1%  ", path).expect("plain");
        assert_eq!(program.as_c_str(), c"/bin/echo");
        assert_eq!(argv.len(), 3);
        for shell in [
            "echo $HOME",
            "echo 'a b'",
            "true; false",
            "true && false",
            "ls > /tmp/x",
            "ls *",
            "A=1 env",
            "exit 3",
            "cd /tmp",
            "if true",
            "echo a\\ b",
            "echo ~",
            "",
            "   ",
            "no-such-program-xd",
        ] {
            assert!(direct_command(shell.as_bytes(), path).is_none(), "{shell}");
        }
    }

    #[test]
    fn exit_codes_from_wait_statuses() {
        // Encodings from <bits/waitstatus.h>.
        assert_eq!(exit_code(0), Some(0));
        assert_eq!(exit_code(7 << 8), Some(7));
        assert_eq!(exit_code(255 << 8), Some(255));
        assert_eq!(exit_code(libc::SIGKILL), Some(137));
        assert_eq!(exit_code(libc::SIGTERM | 0x80), Some(143)); // with core flag
        assert_eq!(
            exit_code(libc::SIGRTMIN() + 3),
            Some(128 + libc::SIGRTMIN() + 3)
        );
        assert_eq!(exit_code((libc::SIGSTOP << 8) | 0x7f), None); // stopped
        assert_eq!(exit_code(0xffff), None); // continued
    }

    #[test]
    fn child_environment_is_clean() {
        let base = base_env(None);
        let env = child_env(&base, Some(OsStr::new("xterm-256color")));
        let env: Vec<&str> = env.iter().map(|e| e.to_str().unwrap()).collect();
        assert_eq!(
            env,
            [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root",
                "container=xdocker",
                "TERM=xterm-256color",
            ]
        );
        assert_eq!(child_env(&base, None).len(), 3);
        assert_eq!(path_of(&base), CHILD_PATH);
    }

    #[test]
    fn a_passed_environment_is_kept_byte_for_byte_but_term() {
        let vars: Vec<(OsString, OsString)> = [
            ("PATH", "/opt/bin:/bin"),
            ("TERM", "vt100"),
            ("A", "x y = \"q\" 'q' $HOME"),
            ("B", "grüße\nzwei"),
        ]
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
        let base = base_env(Some(vars));
        let shown = |env: &[CString]| -> Vec<String> {
            env.iter()
                .map(|e| e.to_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            shown(&base),
            [
                "PATH=/opt/bin:/bin",
                "A=x y = \"q\" 'q' $HOME",
                "B=grüße\nzwei"
            ]
        );
        assert_eq!(path_of(&base), "/opt/bin:/bin");
        let with_term = child_env(&base, Some(OsStr::new("xterm")));
        assert_eq!(
            shown(&with_term).last().map(String::as_str),
            Some("TERM=xterm")
        );
        assert_eq!(child_env(&base, None), base);
        // An empty environment passed stays empty.
        assert!(base_env(Some(vec![])).is_empty());
    }
}
