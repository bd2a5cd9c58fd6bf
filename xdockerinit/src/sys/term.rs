//! Terminal ioctls nix 0.29 has no safe function for: the window size
//! (TIOCGWINSZ/TIOCSWINSZ) and a pty master's slave (TIOCSPTLCK,
//! TIOCGPTPEER, TIOCGPTN).

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// The window size of the terminal `fd` as (rows, cols); ENOTTY when it is
/// not one.
pub fn window_size(fd: BorrowedFd<'_>) -> nix::Result<(u16, u16)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize to a valid pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    Errno::result(r).map(|_| (size.ws_row, size.ws_col))
}

/// Sets the window size of the terminal `fd`; on a change the kernel sends
/// SIGWINCH to its foreground process group.
pub fn set_window_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> nix::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    Errno::result(r).map(drop)
}

/// The slave of the pty master `master`, opened read-write, without
/// becoming the controlling terminal, close-on-exec. It is unlocked first
/// (unlockpt). The slave comes from TIOCGPTPEER (Linux 4.13+: no path
/// lookup in /dev/pts that another process could race), else from its
/// /dev/pts name.
pub fn open_pty_slave(master: BorrowedFd<'_>) -> Result<OwnedFd, (&'static str, Errno)> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from a valid pointer.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    Errno::result(r).map_err(|e| ("unlock the pty", e))?;
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
    let peer = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if peer >= 0 {
        // SAFETY: a new descriptor that nothing else owns.
        return Ok(unsafe { OwnedFd::from_raw_fd(peer) });
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int to a valid pointer.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    Errno::result(r).map_err(|e| ("find the pty's number", e))?;
    super::open(
        format!("/dev/pts/{n}").as_str(),
        nix::fcntl::OFlag::from_bits_retain(flags),
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| ("open the pty", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    use std::os::fd::AsFd;

    #[test]
    fn window_size_set_and_read_back_on_a_pty() {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        set_window_size(pty.master.as_fd(), 42, 132).expect("set");
        assert_eq!(window_size(pty.slave.as_fd()), Ok((42, 132)));
        assert_eq!(window_size(pty.master.as_fd()), Ok((42, 132)));
        let file = tempfile::tempfile().expect("tempfile");
        assert_eq!(window_size(file.as_fd()), Err(Errno::ENOTTY));
    }

    #[test]
    fn a_new_master_gives_its_slave() {
        let master = super::super::open(
            "/dev/ptmx",
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .expect("open /dev/ptmx");
        let slave = open_pty_slave(master.as_fd()).expect("slave");
        assert!(nix::unistd::isatty(slave.as_raw_fd()).unwrap_or(false));
        // Bytes written to the slave come out of the master.
        nix::unistd::write(&slave, b"hi").expect("write");
        let mut buf = [0u8; 8];
        let n = super::super::read(master.as_fd(), &mut buf).expect("read");
        assert_eq!(&buf[..n], b"hi");
    }
}
