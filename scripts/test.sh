#!/usr/bin/env bash
# test.sh - the whole test suite, as CI runs it: formatting and lints, the
# shell helpers' tests, then every Rust test (unit, property and the root
# integration tests against the real binary). Needs root: the root-only
# tests run too (--include-ignored; without root each fails with "needs
# root"), and a run that reports any test ignored or filtered out fails.
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$top"

cargo fmt --all -- --check
cargo clippy --quiet --workspace --all-targets -- -D warnings
# Every root test is reported "ignored" in a user's build, none "ok".
python3 scripts/check_root_gate.py
bash scripts/tests/test_install_test.sh
bash scripts/tests/test_subids.sh
XDOCKERINIT_STATIC=$(scripts/build_static_init.sh debug)
export XDOCKERINIT_STATIC
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace -- --include-ignored | tee "$log"
# Belt and braces: nothing may be skipped.
if grep -E '^test result: .*; [1-9][0-9]* (ignored|filtered out);' "$log"; then
    echo "test.sh: tests were ignored or filtered out (above)" >&2
    exit 1
fi
# The Debian image script end to end (a stub debootstrap), with the
# xdocker the tests just built.
bash scripts/tests/test_create_image_debian.sh
