//! The one root gate of the test suite. Every test that needs root carries
//! `#[cfg_attr(xdocker_not_root, ignore = "needs root")]` (build.rs sets
//! that cfg when a user builds outside CI, so `cargo test` reports the
//! test ignored) and starts with `needs_root()`, so that a root test run
//! without root anyway (built by root and run by a user, or
//! `--include-ignored`) fails with one clear line instead of reporting ok.
//! This file is the only copy: `tests/common` includes it as a module, and
//! by `#[path]` so do xdockerinit's integration tests and the unit tests of
//! both libraries (`src/lib.rs` and `xdockerinit/src/sys/mod.rs`, under
//! `cfg(test)`). `scripts/check_root_gate.py` (run by `scripts/test.sh`)
//! checks that every test reaching this gate carries the attribute.

/// Fails the calling test unless it runs as root; never skips it.
#[track_caller]
pub fn needs_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root: run this test as root (a build by a non-root user reports it ignored)"
    );
}
