//! Starting the container's first process: `clone3` puts the child straight
//! into new PID, mount, UTS, IPC (and network) namespaces as a direct child
//! of xdocker, and a socketpair carries typed start-up messages between
//! them (youki `process/channel.rs`, LXC `sync.h`): the parent says
//! [`ParentMessage::CgroupReady`] once the container's cgroup exists (the
//! child joins it) and [`ParentMessage::Go`] once the state and netns are
//! ready; the child answers with a [`ChildFailure`] (step, errno, detail),
//! or with nothing: its end is close-on-exec, so EOF means xdockerinit was
//! executed.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

/// Errors of starting the child.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("clone3: {0}")]
    Clone(#[source] io::Error),
    #[error("start-up channel: {0}")]
    Channel(#[source] io::Error),
    #[error("start-up channel: {0}")]
    Protocol(&'static str),
    #[error(transparent)]
    Child(#[from] ChildFailure),
}

/// Forks into new namespaces as a direct child of xdocker. Returns `None`
/// in the child, the child's PID in the parent. xdocker must be
/// single-threaded here (it is checked), so that the child may run Rust
/// code until it executes xdockerinit.
pub fn clone_into_namespaces(flags: CloneFlags) -> Result<Option<Pid>, SpawnError> {
    xdockerinit::sys::fork_into_namespaces(flags).map_err(|e| SpawnError::Clone(e.into()))
}

/// The parent's messages, one byte each, so that the child reads exactly
/// one, never the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ParentMessage {
    /// The container's cgroup exists: the child joins it.
    CgroupReady = 1,
    /// State and network namespace are ready: configure the network inside
    /// and execute xdockerinit.
    Go = 2,
}

/// The steps of the child's start-up, named in its failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ChildStep {
    /// Mount propagation, the read-only view of xdockerinit.
    Prepare = 1,
    /// Overlay, volumes, /etc files, /proc, /sys, /dev.
    Rootfs,
    /// Joining the cgroup and making its namespace.
    Cgroup,
    /// pivot_root and the limits on /proc.
    SwitchRoot,
    /// Joining or entering the user namespace (`--userns`).
    Userns,
    Hostname,
    /// `lo`, eth0, the VIP and the default route inside.
    Network,
    /// Dropping capabilities, loading the seccomp filter.
    Confine,
    /// Standard descriptors, exit record and session socket.
    Descriptors,
    /// execve of xdockerinit.
    Exec,
}

impl ChildStep {
    const ALL: [ChildStep; 10] = [
        ChildStep::Prepare,
        ChildStep::Rootfs,
        ChildStep::Cgroup,
        ChildStep::SwitchRoot,
        ChildStep::Userns,
        ChildStep::Hostname,
        ChildStep::Network,
        ChildStep::Confine,
        ChildStep::Descriptors,
        ChildStep::Exec,
    ];

    fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u8 == b)
    }
}

/// Why the child could not start the container: the step, the errno when
/// a system call failed (so that the parent can tell EPERM from ENOSPC),
/// and the detail the user reads (it names the operation and the object).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ChildFailure {
    pub step: ChildStep,
    pub errno: Option<Errno>,
    pub detail: String,
}

impl fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// The frame tag of a failure.
const FAILURE: u8 = b'F';
/// The longest detail sent (a path or two and a reason).
const MAX_DETAIL: usize = 4096;

impl ChildFailure {
    pub fn new(step: ChildStep, errno: Option<Errno>, detail: impl Into<String>) -> Self {
        Self {
            step,
            errno,
            detail: detail.into(),
        }
    }

    /// `F`, step, errno (i32, 0: none), detail length (u32), detail; all
    /// little-endian.
    fn encode(&self) -> Vec<u8> {
        let mut detail = self.detail.as_bytes();
        if detail.len() > MAX_DETAIL {
            detail = &detail[..MAX_DETAIL];
        }
        let mut out = Vec::with_capacity(10 + detail.len());
        out.push(FAILURE);
        out.push(self.step as u8);
        out.extend_from_slice(&self.errno.map_or(0, |e| e as i32).to_le_bytes());
        out.extend_from_slice(&(detail.len() as u32).to_le_bytes());
        out.extend_from_slice(detail);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, SpawnError> {
        let bad = SpawnError::Protocol;
        let (head, rest) = bytes.split_first_chunk::<2>().ok_or(bad("short message"))?;
        let [tag, step] = *head;
        if tag != FAILURE {
            return Err(bad("unknown message"));
        }
        let step = ChildStep::from_byte(step).ok_or(bad("unknown step"))?;
        let (errno, rest) = rest.split_first_chunk::<4>().ok_or(bad("short message"))?;
        let (len, detail) = rest.split_first_chunk::<4>().ok_or(bad("short message"))?;
        if u32::from_le_bytes(*len) as usize != detail.len() {
            return Err(bad("detail length does not match"));
        }
        let errno = match i32::from_le_bytes(*errno) {
            0 => None,
            n => Some(Errno::from_raw(n)),
        };
        Ok(Self {
            step,
            errno,
            detail: String::from_utf8_lossy(detail).into_owned(),
        })
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

impl ParentChannel {
    /// Sends one message. A child that already failed is not an error of
    /// [`ParentMessage::CgroupReady`]: its reason comes with
    /// [`Self::wait_exec`].
    pub fn send(&mut self, message: ParentMessage) -> Result<(), SpawnError> {
        self.0
            .write_all(&[message as u8])
            .map_err(SpawnError::Channel)
    }

    /// Waits until the child executed xdockerinit (EOF) or reported why it
    /// could not.
    pub fn wait_exec(self) -> Result<(), SpawnError> {
        let mut bytes = Vec::new();
        (&self.0)
            .take(MAX_DETAIL as u64 + 64)
            .read_to_end(&mut bytes)
            .map_err(SpawnError::Channel)?;
        if bytes.is_empty() {
            return Ok(());
        }
        Err(ChildFailure::decode(&bytes)?.into())
    }
}

impl ChildChannel {
    /// Waits for `message`; false when the parent went away (or sent
    /// something else).
    pub fn wait_for(&mut self, message: ParentMessage) -> bool {
        let mut got = [0u8; 1];
        self.0.read_exact(&mut got).is_ok() && got[0] == message as u8
    }

    /// Reports why the start failed.
    pub fn fail(&mut self, failure: &ChildFailure) {
        let _ = self.0.write_all(&failure.encode());
    }
}

#[cfg(test)]
#[allow(unsafe_code)] // fork(2) of the (multi-threaded) test process: the one unsafe block of src/
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    /// Runs `child` in a forked process with the child's end; returns the
    /// parent's end and the child's pid.
    fn forked(child: impl FnOnce(ChildChannel)) -> (ParentChannel, Pid) {
        let (parent_end, child_end) = channel().expect("channel");
        // SAFETY: the child only uses the channel (write/read on a socket,
        // glibc's fork-safe allocator) and leaves with _exit.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                drop(parent_end);
                child(child_end);
                // Without the test harness's exit handlers.
                xdockerinit::sys::exit_now(0)
            }
            ForkResult::Parent { child: pid } => {
                drop(child_end);
                (parent_end, pid)
            }
        }
    }

    #[test]
    fn a_failure_crosses_the_fork_as_step_errno_and_detail() {
        let (mut parent, pid) = forked(|mut c| {
            if c.wait_for(ParentMessage::CgroupReady) && c.wait_for(ParentMessage::Go) {
                c.fail(&ChildFailure::new(
                    ChildStep::Rootfs,
                    Some(Errno::ENOSPC),
                    "mount overlay on /x/merged: no space left on device",
                ));
            }
        });
        parent.send(ParentMessage::CgroupReady).expect("cg");
        parent.send(ParentMessage::Go).expect("go");
        let err = parent.wait_exec().expect_err("failure");
        let SpawnError::Child(f) = err else {
            panic!("not a child failure: {err}");
        };
        assert_eq!(f.step, ChildStep::Rootfs);
        assert_eq!(f.errno, Some(Errno::ENOSPC));
        assert_eq!(
            f.to_string(),
            "mount overlay on /x/merged: no space left on device"
        );
        assert!(matches!(waitpid(pid, None), Ok(WaitStatus::Exited(_, 0))));
    }

    #[test]
    fn eof_without_a_failure_means_the_child_executed() {
        let (mut parent, pid) = forked(|mut c| {
            assert!(c.wait_for(ParentMessage::Go));
        });
        parent.send(ParentMessage::Go).expect("go");
        parent.wait_exec().expect("executed");
        assert!(matches!(waitpid(pid, None), Ok(WaitStatus::Exited(_, 0))));
    }

    #[test]
    fn a_child_sees_the_parent_go_away() {
        let (parent, pid) = forked(|mut c| {
            let code = if c.wait_for(ParentMessage::Go) { 0 } else { 7 };
            xdockerinit::sys::exit_now(code)
        });
        drop(parent);
        assert!(matches!(waitpid(pid, None), Ok(WaitStatus::Exited(_, 7))));
    }

    #[test]
    fn frames_round_trip_and_garbage_is_refused() {
        for step in ChildStep::ALL {
            let f = ChildFailure::new(step, None, "x");
            assert_eq!(ChildFailure::decode(&f.encode()).expect("decode"), f);
        }
        let long = ChildFailure::new(ChildStep::Exec, Some(Errno::EPERM), "y".repeat(10_000));
        assert_eq!(
            ChildFailure::decode(&long.encode())
                .expect("decode")
                .detail
                .len(),
            MAX_DETAIL
        );
        assert!(ChildFailure::decode(b"error text").is_err());
        assert!(ChildFailure::decode(&[FAILURE, 99, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        let mut cut = ChildFailure::new(ChildStep::Exec, None, "abc").encode();
        cut.pop();
        assert!(ChildFailure::decode(&cut).is_err());
    }
}
