#!/usr/bin/env bash
# test.sh - the whole test suite, as CI runs it: formatting and lints, the
# shell helpers' tests, then every Rust test (unit, property and the root
# integration tests against the real binary). Needs root for the
# integration tests; under CI=true a test that would skip fails instead.
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$top"

cargo fmt --all -- --check
cargo clippy --quiet --workspace --all-targets -- -D warnings
bash scripts/tests/test_install_test.sh
bash scripts/tests/test_subids.sh
XDOCKERINIT_STATIC=$(scripts/build_static_init.sh debug)
export XDOCKERINIT_STATIC
cargo test --workspace
