//! Crash and failure points for the fault-injection tests. With
//! `XDOCKER_TEST_CRASH_AT=NAME` a command kills itself with SIGKILL when it
//! reaches the point NAME, exactly as a `kill -9` at that moment would
//! (no destructor, no cleanup). With `XDOCKER_TEST_FAIL_AT=NAME[,NAME]`
//! the steps named report an I/O error instead of doing their work, so
//! that tests can make two things fail at once (an operation and its
//! rollback). Unset, a point costs one environment lookup. The names are
//! listed where they are hit.

use std::ffi::OsStr;
use std::io;

/// Dies here if the environment names `point`.
pub fn hit(point: &str) {
    if std::env::var_os("XDOCKER_TEST_CRASH_AT").is_some_and(|v| v == point) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// An error here if `XDOCKER_TEST_FAIL_AT` names `point`.
pub fn fail(point: &str) -> io::Result<()> {
    match std::env::var_os("XDOCKER_TEST_FAIL_AT") {
        Some(list) if listed(&list, point) => {
            Err(io::Error::other(format!("injected failure at {point}")))
        }
        _ => Ok(()),
    }
}

/// True when the comma-separated `list` names `point`.
fn listed(list: &OsStr, point: &str) -> bool {
    list.to_str()
        .is_some_and(|l| l.split(',').any(|p| p.trim() == point))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_is_listed_by_its_whole_name() {
        let list = OsStr::new("to_image.move, to_image.move_back");
        assert!(listed(list, "to_image.move"));
        assert!(listed(list, "to_image.move_back"));
        assert!(!listed(list, "to_image"));
        assert!(!listed(OsStr::new(""), "to_image.move"));
    }
}
