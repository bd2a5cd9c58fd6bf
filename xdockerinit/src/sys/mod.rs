//! The one thin syscall layer of both binaries (DESIGN habits 4, 9 and
//! 17): every raw system call that `xdocker` and `xdockerinit` make and
//! that nix, rustix or std do not already offer safely sits here, each
//! `unsafe` block with its `// SAFETY:` line, behind a safe function
//! (`clone3` excepted: it is `unsafe` for the reasons fork(2) is). The
//! rest of the CLI holds no `unsafe` at all.
//!
//! Failures are `nix::Result` (an [`Errno`], which converts losslessly into
//! `io::Error`), so callers can tell EPERM from ENOSPC; [`ErrnoText`] and
//! [`IoText`] show them the way our messages are written.
//!
//! Kept to nix and libc, like the rest of xdockerinit (linked statically,
//! in every container): what only the CLI calls is never linked into it.

mod bpf;
mod fs;
mod io;
mod mount;
mod net;
mod process;
mod term;

// The one root gate of the test suite, shared with the integration tests
// (see that file).
#[cfg(test)]
#[path = "../../../tests/common/root_gate.rs"]
mod root_gate;

use std::fmt;

use nix::errno::Errno;

pub use bpf::{bpf_prog_attach, bpf_prog_count, bpf_prog_load, seccomp_set_filter, BpfInsn};
pub use fs::{clone_file, open, openat, openat2, start_writeback};
pub use io::{
    accept, pipe_size, poll, pollfd, read, readable, set_nonblocking, set_pipe_size, wait_fd,
    wait_readable, write, write_all,
};
pub use mount::{move_mount, open_tree_clone, set_idmap, set_read_only};
pub use net::{add_default_route, bounce_link, set_ipv4};
pub use process::{
    clone3, close_range_cloexec, exit_now, fork_into_namespaces, namespace_holder, pidfd_open,
    pidfd_send_signal, securebits, set_parent_death_signal, set_securebits, thread_count,
    waitpid_status,
};
pub use term::{open_pty_slave, set_window_size, window_size};

/// An errno shown the way our messages are written: lowercase, no code
/// ("no such file or directory"), without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrnoText(pub Errno);

impl fmt::Display for ErrnoText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.desc() {
            "" => write!(f, "errno {}", self.0 as i32),
            desc => lower_first(f, desc),
        }
    }
}

/// [`ErrnoText`] as a `String`.
pub fn errno_text(errno: Errno) -> String {
    ErrnoText(errno).to_string()
}

/// An `io::Error` shown the same way: "permission denied", not
/// "Permission denied (os error 13)"; an error without an errno keeps its
/// own text, its first letter lowercase.
#[derive(Debug, Clone, Copy)]
pub struct IoText<'a>(pub &'a std::io::Error);

impl fmt::Display for IoText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.raw_os_error() {
            Some(code) => ErrnoText(Errno::from_raw(code)).fmt(f),
            None => lower_first(f, &self.0.to_string()),
        }
    }
}

/// [`IoText`] as a `String`.
pub fn io_text(error: &std::io::Error) -> String {
    IoText(error).to_string()
}

fn lower_first(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => {
            for lower in first.to_lowercase() {
                fmt::Write::write_char(f, lower)?;
            }
            f.write_str(chars.as_str())
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_text_is_lowercase_without_code() {
        assert_eq!(
            ErrnoText(Errno::ENOENT).to_string(),
            "no such file or directory"
        );
        assert_eq!(errno_text(Errno::EPERM), "operation not permitted");
    }

    #[test]
    fn io_text_drops_the_code_and_keeps_other_texts() {
        let os = std::io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(io_text(&os), "permission denied");
        assert_eq!(
            io_text(&std::io::Error::from(Errno::ENOSPC)),
            "no space left on device"
        );
        let plain = std::io::Error::other("Bad header");
        assert_eq!(io_text(&plain), "bad header");
        assert_eq!(io_text(&std::io::Error::other("")), "");
    }
}
