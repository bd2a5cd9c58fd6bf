//! Starting the container's first process: `clone3` puts the child straight
//! into new PID, mount, UTS, IPC (and network) namespaces as a direct child
//! of xdocker, and a socketpair carries the start-up steps between them
//! (youki `process/channel.rs`, LXC `sync.h`): the parent says `cg` once the
//! container's cgroup exists (the child joins it) and `go` once the state
//! and netns are ready; the child answers with an error line, or with
//! nothing: its end is close-on-exec, so EOF means xdockerinit was executed.

use std::io::{self, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

use nix::sched::CloneFlags;
use nix::unistd::Pid;

/// Errors of starting the child.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("clone3: {0}")]
    Clone(#[source] io::Error),
    #[error("start-up channel: {0}")]
    Channel(#[source] io::Error),
    #[error("{0}")]
    Child(String),
}

/// `struct clone_args` of clone3(2).
#[repr(C)]
#[derive(Debug, Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Forks into new namespaces. Returns `None` in the child, the child's PID
/// in the parent.
///
/// # Safety
/// Like fork(2): the calling process must be single-threaded, so the child
/// may keep running Rust code (allocator and locks are in a sane state).
pub unsafe fn clone_into_namespaces(flags: CloneFlags) -> Result<Option<Pid>, SpawnError> {
    let mut args = CloneArgs {
        flags: u64::from(flags.bits() as u32),
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 with a null stack behaves like fork(2) with the given
    // namespace flags; `args` is a valid clone_args of the size passed. The
    // caller guarantees the process is single-threaded.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(SpawnError::Clone(io::Error::last_os_error())),
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

/// The parent's end of the start-up channel.
#[derive(Debug)]
pub struct ParentChannel(UnixStream);

/// The child's end of the start-up channel.
#[derive(Debug)]
pub struct ChildChannel(UnixStream);

/// A connected pair; both ends are close-on-exec.
pub fn channel() -> Result<(ParentChannel, ChildChannel), SpawnError> {
    let (a, b) = UnixStream::pair().map_err(SpawnError::Channel)?;
    Ok((ParentChannel(a), ChildChannel(b)))
}

/// The parent's messages; each has its own fixed size, so that the child
/// reads exactly one, never the next.
const CGROUP_READY: &[u8; 3] = b"cg\n";
const GO: &[u8; 3] = b"go\n";

impl ParentChannel {
    /// Tells the child that its cgroup exists. A child that already failed
    /// is not an error here: its reason comes with [`Self::wait_exec`].
    pub fn cgroup_ready(&mut self) {
        let _ = self.0.write_all(CGROUP_READY);
    }

    /// Lets the child go on to configure its network and exec.
    pub fn go(&mut self) -> Result<(), SpawnError> {
        self.0.write_all(GO).map_err(SpawnError::Channel)
    }

    /// Waits until the child executed xdockerinit (EOF) or reported an error.
    pub fn wait_exec(self) -> Result<(), SpawnError> {
        let mut text = String::new();
        BufReader::new(self.0)
            .read_to_string(&mut text)
            .map_err(SpawnError::Channel)?;
        match text.lines().find_map(|l| l.strip_prefix("error ")) {
            Some(message) => Err(SpawnError::Child(message.to_string())),
            None if text.is_empty() => Ok(()),
            None => Err(SpawnError::Child(format!(
                "unexpected start-up message {text:?}"
            ))),
        }
    }
}

impl ChildChannel {
    /// Waits for the parent's `cg`; false when the parent went away.
    pub fn wait_cgroup(&mut self) -> bool {
        self.expect(CGROUP_READY)
    }

    /// Waits for the parent's `go`; false when the parent went away.
    pub fn wait_go(&mut self) -> bool {
        self.expect(GO)
    }

    fn expect(&mut self, message: &[u8; 3]) -> bool {
        let mut got = [0u8; 3];
        self.0.read_exact(&mut got).is_ok() && &got == message
    }

    /// Reports why the start failed (one line).
    pub fn error(&mut self, message: &str) {
        let line = format!("error {}\n", message.replace('\n', " "));
        let _ = self.0.write_all(line.as_bytes());
    }
}

/// Drops the other end inherited over the fork, so EOF can be seen.
pub fn close_parent_end(end: ParentChannel) {
    drop(end);
}
