//! The one root gate of the test suite. Every test that needs root carries
//! `#[cfg_attr(xdocker_not_root, ignore = "needs root")]` (build.rs sets
//! that cfg when a user builds outside CI, so `cargo test` reports the
//! test ignored) and starts with `needs_root()`, so that a root test run
//! without root anyway (built by root and run by a user, or
//! `--include-ignored`) fails with one clear line instead of reporting ok.
//! This file is the only copy: `tests/common` includes it as a module, and
//! by `#[path]` so do xdockerinit's integration tests and the unit tests of
//! the library (`src/lib.rs`, under `cfg(test)`).

/// Fails the calling test unless it runs as root; never skips it.
#[track_caller]
pub fn needs_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root: run this test as root (a build by a non-root user reports it ignored)"
    );
}
