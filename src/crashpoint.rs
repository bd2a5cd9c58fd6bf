//! Crash points for the fault-injection tests: with
//! `XDOCKER_TEST_CRASH_AT=NAME` a command kills itself with SIGKILL when it
//! reaches the point NAME, exactly as a `kill -9` at that moment would
//! (no destructor, no cleanup). Unset, a point costs one environment
//! lookup. The names are listed where they are hit.

/// Dies here if the environment names `point`.
pub fn hit(point: &str) {
    if std::env::var_os("XDOCKER_TEST_CRASH_AT").is_some_and(|v| v == point) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
