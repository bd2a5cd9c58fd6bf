//! poll(2) on raw `pollfd` arrays (a relay's poll set names descriptors of
//! several owners at once, which nix's borrowing `PollFd` cannot express
//! without fighting the borrow checker), and read/write retried on EINTR.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};

/// One entry of a poll set: `fd` watched for `events` (`libc::POLLIN`...).
/// The entry holds only the number: keep the descriptor open until the
/// poll returns (a closed one reports POLLNVAL, nothing worse).
pub fn pollfd(fd: BorrowedFd<'_>, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }
}

/// poll(2), retried on EINTR (with the same timeout); `timeout_ms` -1
/// waits for ever. Returns how many entries have `revents` set.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> nix::Result<usize> {
    loop {
        // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd
        // structs; the kernel only reads descriptor numbers from it.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        match Errno::result(n) {
            Ok(n) => return Ok(n as usize),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Waits until `fd` reports one of `events` (or an error or hang-up), at
/// most `timeout_ms` (-1: for ever); true when it did.
pub fn wait_fd(fd: BorrowedFd<'_>, events: libc::c_short, timeout_ms: i32) -> nix::Result<bool> {
    let mut fds = [pollfd(fd, events)];
    poll(&mut fds, timeout_ms).map(|n| n > 0)
}

/// Waits until `fd` is readable, at most `timeout`; false on timeout or
/// error. A pidfd is readable once its process has exited (pidfd_open(2)).
pub fn wait_readable(fd: impl AsFd, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // Rounded up: a wait of 0.5 ms is not a poll that returns at once.
        let ms = i32::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX);
        let mut fds = [pollfd(fd.as_fd(), libc::POLLIN)];
        // SAFETY: as in `poll`; EINTR is handled here, with the time left.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
        match Errno::result(n) {
            Ok(n) => return n > 0,
            Err(Errno::EINTR) if !left.is_zero() => continue,
            Err(_) => return false,
        }
    }
}

/// read(2), retried on EINTR. EAGAIN (a non-blocking descriptor with
/// nothing to read) is returned to the caller.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<usize> {
    loop {
        match nix::unistd::read(fd.as_raw_fd(), buf) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// write(2), retried on EINTR. EAGAIN is returned to the caller; a closed
/// reader is EPIPE (SIGPIPE is ignored in Rust programs and blocked in
/// xdockerinit).
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> nix::Result<usize> {
    loop {
        match nix::unistd::write(fd, buf) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// Writes all of `data` to a (normally blocking) descriptor, waiting in
/// poll if someone made it non-blocking. `Ok(false)` when the reader is
/// gone (EPIPE).
pub fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> nix::Result<bool> {
    while !data.is_empty() {
        match write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EAGAIN) => {
                wait_fd(fd, libc::POLLOUT, -1)?;
            }
            Err(Errno::EPIPE) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Makes `fd` non-blocking (O_NONBLOCK on its open file description).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> nix::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

/// Accepts one pending connection of the listening socket `listener`:
/// `Ok(None)` when there is none left (EAGAIN). The connection is
/// close-on-exec and non-blocking. A peer that gave up before it was
/// accepted (ECONNABORTED, EPROTO) is skipped.
pub fn accept(listener: BorrowedFd<'_>) -> nix::Result<Option<OwnedFd>> {
    loop {
        // SAFETY: accept4 with null address pointers only returns a new
        // descriptor (or -1).
        let fd = unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            )
        };
        match Errno::result(fd) {
            // SAFETY: accept4 returned a new descriptor that nothing owns.
            Ok(fd) => return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) })),
            Err(Errno::EINTR | Errno::ECONNABORTED | Errno::EPROTO) => continue,
            Err(Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// Bytes waiting to be read in a pipe (either end) or pty (FIONREAD); 0
/// when it cannot be told.
pub fn readable(fd: BorrowedFd<'_>) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes an int to a valid pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if r < 0 {
        0
    } else {
        usize::try_from(n).unwrap_or(0)
    }
}

/// The capacity of a pipe (F_GETPIPE_SZ).
pub fn pipe_size(fd: BorrowedFd<'_>) -> nix::Result<usize> {
    // SAFETY: F_GETPIPE_SZ takes no argument.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    Errno::result(r).map(|n| usize::try_from(n).unwrap_or(0))
}

/// Asks for a pipe's capacity to be `size` bytes (F_SETPIPE_SZ; the
/// kernel rounds it up to a power of two of pages).
pub fn set_pipe_size(fd: BorrowedFd<'_>, size: libc::c_int) -> nix::Result<()> {
    // SAFETY: F_SETPIPE_SZ takes an int by value.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size) };
    Errno::result(r).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::OFlag;
    use nix::unistd::pipe2;

    #[test]
    fn a_pipe_grows_to_the_size_asked() {
        let (_r, w) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
        set_pipe_size(w.as_fd(), 1 << 18).expect("set size");
        assert_eq!(pipe_size(w.as_fd()), Ok(1 << 18));
        assert_eq!(set_pipe_size(w.as_fd(), -1), Err(Errno::EINVAL));
    }

    #[test]
    fn poll_sees_a_pipe_become_readable() {
        let (r, w) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
        let mut fds = [pollfd(r.as_fd(), libc::POLLIN)];
        assert_eq!(poll(&mut fds, 0), Ok(0), "nothing written yet");
        assert_eq!(write(w.as_fd(), b"x"), Ok(1));
        assert_eq!(poll(&mut fds, 1000), Ok(1));
        assert_ne!(fds[0].revents & libc::POLLIN, 0);
        assert_eq!(wait_fd(r.as_fd(), libc::POLLIN, 0), Ok(true));
        assert!(wait_readable(&r, Duration::ZERO));
    }

    #[test]
    fn wait_readable_times_out() {
        let (r, _w) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
        let start = Instant::now();
        assert!(!wait_readable(&r, Duration::from_millis(30)));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn write_all_then_read_round_trip_and_eagain() {
        let (r, w) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
        set_nonblocking(r.as_fd()).expect("non-blocking");
        let mut buf = [0u8; 16];
        assert_eq!(read(r.as_fd(), &mut buf), Err(Errno::EAGAIN));
        // More than a pipe holds (64 KiB): write_all waits for the reader.
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 8192];
            loop {
                match read(r.as_fd(), &mut buf) {
                    Ok(0) => return got,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(Errno::EAGAIN) => {
                        wait_fd(r.as_fd(), libc::POLLIN, -1).expect("poll");
                    }
                    Err(e) => panic!("read: {e}"),
                }
            }
        });
        set_nonblocking(w.as_fd()).expect("non-blocking");
        assert_eq!(write_all(w.as_fd(), &data), Ok(true));
        drop(w);
        assert_eq!(reader.join().expect("reader"), data);
    }

    #[test]
    fn accept_takes_pending_connections_then_says_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        assert_eq!(accept(listener.as_fd()).map(|c| c.is_some()), Ok(false));
        let _client = std::os::unix::net::UnixStream::connect(&path).expect("connect");
        let conn = accept(listener.as_fd())
            .expect("accept")
            .expect("a connection");
        let flags =
            nix::fcntl::fcntl(conn.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).expect("flags");
        assert_ne!(flags & libc::O_NONBLOCK, 0);
        assert_eq!(accept(listener.as_fd()).map(|c| c.is_some()), Ok(false));
    }

    #[test]
    fn write_all_to_a_closed_pipe_is_false() {
        let (r, w) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
        drop(r);
        assert_eq!(write_all(w.as_fd(), b"lost"), Ok(false));
    }
}
