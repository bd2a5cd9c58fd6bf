//! Processes: pidfds (pidfd_open(2), pidfd_send_signal(2)), clone3(2) into
//! new namespaces, the parent-death signal, close_range(2) and waitpid with
//! the raw status. nix has none of the first three.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// A pidfd of the process `pid` (close-on-exec): it names that process
/// even after its PID is reused, and becomes readable when it exits.
pub fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(fd)?;
    // SAFETY: the kernel returned a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `signal` to the process behind `pidfd`. A process that already
/// exited (ESRCH) is not an error: it is as good as stopped.
pub fn pidfd_send_signal(pidfd: impl AsFd, signal: Signal) -> nix::Result<()> {
    // SAFETY: pidfd_send_signal on a descriptor we borrow, with no siginfo
    // (a null pointer) and no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_fd().as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    match Errno::result(r) {
        Ok(_) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
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

/// Forks into new namespaces (`flags`: `CLONE_NEW*`), the child a direct
/// child of the caller that sends it SIGCHLD on exit. Returns `None` in the
/// child, the child's PID in the parent.
///
/// # Safety
/// Like fork(2): the calling process must be single-threaded, so the child
/// may keep running Rust code (allocator and locks are in a sane state);
/// or else the child may only make async-signal-safe calls until it execs
/// or `_exit`s.
pub unsafe fn clone3(flags: CloneFlags) -> nix::Result<Option<Pid>> {
    let mut args = CloneArgs {
        flags: u64::from(flags.bits() as u32),
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 with a null stack behaves like fork(2) with the given
    // namespace flags; `args` is a valid clone_args of the size passed. The
    // caller upholds fork's contract (see # Safety).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match Errno::result(ret)? {
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

/// The number of threads of this process: the link count of
/// /proc/self/task is 2 plus the number of threads (`proc_task_getattr`),
/// one stat instead of formatting all of /proc/self/status.
pub fn thread_count() -> std::io::Result<usize> {
    use std::os::unix::fs::MetadataExt;
    let links = std::fs::metadata("/proc/self/task")?.nlink();
    usize::try_from(links.saturating_sub(2))
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| std::io::Error::other("/proc/self/task has no thread"))
}

/// [`clone3`] for a process that checked it is single-threaded, so that
/// the child may run Rust code until it execs (allocator and locks are in
/// a sane state): EDEADLK when another thread runs.
pub fn fork_into_namespaces(flags: CloneFlags) -> nix::Result<Option<Pid>> {
    if thread_count().map_err(|_| Errno::EIO)? != 1 {
        return Err(Errno::EDEADLK);
    }
    // SAFETY: the process is single-threaded (checked above; nothing here
    // starts a thread between the check and the call).
    unsafe { clone3(flags) }
}

/// A child in new namespaces (`flags`) that only sleeps, holding them for
/// the caller (who reaches them through `/proc/PID/ns`), until it is
/// killed; it dies with the caller (SIGKILL as its parent-death signal,
/// which the kernel sends when the calling *thread* exits).
/// Safe from any thread: the child makes async-signal-safe calls only.
pub fn namespace_holder(flags: CloneFlags) -> nix::Result<Pid> {
    let parent = nix::unistd::getpid();
    // SAFETY: the child below makes only async-signal-safe system calls
    // (prctl, getppid, pause, _exit) and never returns into Rust code, so
    // the process may have other threads (clone3's # Safety, second case).
    match unsafe { clone3(flags) }? {
        Some(pid) => Ok(pid),
        // SAFETY: prctl, getppid, pause and _exit take integers only and
        // are async-signal-safe.
        None => unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The parent died before the line above: nobody to hold for.
            if libc::getppid() != parent.as_raw() {
                libc::_exit(0);
            }
            loop {
                libc::pause();
            }
        },
    }
}

/// The signal this process gets when its parent exits (None: none). The
/// kernel clears it on any change of credentials and on exec of a setuid
/// program, so set it again after those.
pub fn set_parent_death_signal(signal: Option<Signal>) -> nix::Result<()> {
    nix::sys::prctl::set_pdeathsig(signal)
}

/// The calling thread's securebits (PR_GET_SECUREBITS; SECBIT_* of
/// linux/securebits.h), every bit as the kernel has it.
pub fn securebits() -> nix::Result<libc::c_ulong> {
    // SAFETY: PR_GET_SECUREBITS takes no argument and reads this thread's
    // securebits.
    let r = unsafe { libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0) };
    Errno::result(r).map(|bits| bits as libc::c_ulong)
}

/// Sets the calling thread's securebits (PR_SET_SECUREBITS; needs
/// CAP_SETPCAP).
pub fn set_securebits(bits: libc::c_ulong) -> nix::Result<()> {
    // SAFETY: PR_SET_SECUREBITS takes an integer and changes only this
    // thread's credentials.
    let r = unsafe { libc::prctl(libc::PR_SET_SECUREBITS, bits, 0, 0, 0) };
    Errno::result(r).map(drop)
}

/// Marks every descriptor from `from` up close-on-exec (close_range(2)
/// with CLOSE_RANGE_CLOEXEC, Linux 5.11+): what a process passes to the
/// program it executes is then only what lies below `from`.
pub fn close_range_cloexec(from: u32) -> nix::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on
    // descriptors; no memory is involved and none is closed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            from,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(r).map(drop)
}

/// waitpid(2) for the child `pid`, retried on EINTR; the raw status (see
/// `process::exit_code`).
pub fn waitpid_status(pid: Pid) -> nix::Result<libc::c_int> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid out pointer for the call.
        let r = unsafe { libc::waitpid(pid.as_raw(), &mut status, 0) };
        match Errno::result(r) {
            Ok(_) => return Ok(status),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Ends the calling process at once with `code` (_exit(2)): no atexit
/// handlers, no destructors, no flush of stdio buffers. What a forked
/// child does when it must not run its parent's clean-ups.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes an integer and never returns.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_count_sees_a_new_thread() {
        assert!(thread_count().expect("count") >= 1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv().ok());
        // This thread and the new one at least (the harness runs others).
        assert!(thread_count().expect("count") >= 2);
        tx.send(()).expect("send");
        t.join().expect("join");
    }
    use crate::sys::wait_readable;
    use nix::unistd::{fork, ForkResult};
    use std::time::Duration;

    /// A forked child that runs `child` then `_exit`s.
    fn fork_child(child: impl FnOnce() -> i32) -> Pid {
        // SAFETY: the child only runs `child` (no allocation in the
        // closures below) and _exits; the test harness's other threads are
        // not touched.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => exit_now(child()),
            ForkResult::Parent { child } => child,
        }
    }

    #[test]
    fn a_pidfd_becomes_readable_when_its_child_exits() {
        let (r, w) = nix::unistd::pipe().expect("pipe");
        let pid = fork_child(|| {
            // Waits for the parent's byte, then exits 7.
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(r.as_raw_fd(), &mut b);
            7
        });
        let pidfd = pidfd_open(pid).expect("pidfd_open");
        assert!(
            !wait_readable(&pidfd, Duration::from_millis(20)),
            "still running"
        );
        nix::unistd::write(&w, b"x").expect("write");
        assert!(wait_readable(&pidfd, Duration::from_secs(10)), "exited");
        let status = waitpid_status(pid).expect("waitpid");
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7);
        // Reaped: signalling it is no error, as for any process gone.
        assert_eq!(pidfd_send_signal(&pidfd, Signal::SIGTERM), Ok(()));
        assert_eq!(waitpid_status(pid), Err(Errno::ECHILD));
    }

    #[test]
    fn a_pidfd_signal_reaches_its_process() {
        let pid = fork_child(|| {
            // SAFETY: pause is async-signal-safe.
            unsafe { libc::pause() };
            0
        });
        let pidfd = pidfd_open(pid).expect("pidfd_open");
        pidfd_send_signal(&pidfd, Signal::SIGKILL).expect("kill");
        assert!(wait_readable(&pidfd, Duration::from_secs(10)));
        let status = waitpid_status(pid).expect("waitpid");
        assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
    }

    #[test]
    fn no_pidfd_for_a_pid_that_does_not_exist() {
        // PIDs above pid_max (at most 2^22) are never used.
        assert_eq!(
            pidfd_open(Pid::from_raw(i32::MAX)).err(),
            Some(Errno::ESRCH)
        );
    }

    #[test]
    fn parent_death_signal_set_and_cleared_in_a_child() {
        // In a child: the test process's own setting is left alone.
        let pid = fork_child(|| {
            let set = set_parent_death_signal(Some(Signal::SIGTERM)).is_ok()
                && nix::sys::prctl::get_pdeathsig() == Ok(Some(Signal::SIGTERM));
            let cleared = set_parent_death_signal(None).is_ok()
                && nix::sys::prctl::get_pdeathsig() == Ok(None);
            i32::from(!(set && cleared))
        });
        let status = waitpid_status(pid).expect("waitpid");
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }

    #[test]
    fn securebits_read_and_set_in_a_child() {
        // SECBIT_KEEP_CAPS (1 << 4): in a child, the test process is left alone.
        let pid = fork_child(|| {
            let Ok(before) = securebits() else { return 2 };
            let set = set_securebits(before | 1 << 4);
            let ok = if nix::unistd::geteuid().is_root() {
                set.is_ok() && securebits() == Ok(before | 1 << 4)
            } else {
                set == Err(Errno::EPERM) && securebits() == Ok(before)
            };
            i32::from(!ok)
        });
        let status = waitpid_status(pid).expect("waitpid");
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }

    #[test]
    fn close_range_cloexec_marks_descriptors_above() {
        let pid = fork_child(|| {
            let (r, w) = match nix::unistd::pipe() {
                Ok(p) => p,
                Err(_) => return 2,
            };
            let low = r.as_raw_fd().min(w.as_raw_fd());
            let high = r.as_raw_fd().max(w.as_raw_fd());
            let cloexec = |fd| {
                nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD)
                    .map(|f| f & libc::FD_CLOEXEC != 0)
            };
            let ok = close_range_cloexec(high as u32).is_ok()
                && cloexec(low) == Ok(false)
                && cloexec(high) == Ok(true);
            i32::from(!ok)
        });
        let status = waitpid_status(pid).expect("waitpid");
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }

    #[test]
    #[cfg_attr(xdocker_not_root, ignore = "needs root")]
    fn a_namespace_holder_holds_until_killed() {
        // Root: a user's run depended on the host allowing unprivileged user
        // namespaces, and returned "ok" having done nothing where it did not.
        crate::sys::root_gate::needs_root();
        let pid = namespace_holder(CloneFlags::CLONE_NEWUTS).expect("namespace_holder");
        let pidfd = pidfd_open(pid).expect("pidfd_open");
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/uts")).expect("their ns");
        let ours = std::fs::read_link("/proc/self/ns/uts").expect("our ns");
        assert_ne!(theirs, ours);
        assert!(!wait_readable(&pidfd, Duration::from_millis(20)), "holding");
        pidfd_send_signal(&pidfd, Signal::SIGKILL).expect("kill");
        let status = waitpid_status(pid).expect("waitpid");
        assert!(libc::WIFSIGNALED(status));
    }
}
