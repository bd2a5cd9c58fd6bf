#!/usr/bin/env bash
# build_static_init.sh [debug|release] - build xdockerinit as a statically
# linked binary (it runs as PID 1 inside any root filesystem, with no
# libraries there) and print its path.
#
# crt-static is given for an explicit --target only, so build scripts and
# proc-macros of the host build are not affected.
set -euo pipefail
profile=${1:-release}
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
host=$(rustc -vV | sed -n 's/^host: //p')
# `release` means the init-release profile (Cargo.toml): fat LTO, opt-level
# "s", panic=abort, stripped: about a third of the size, less to map.
flags=()
out=$profile
if [ "$profile" = release ]; then
    flags+=(--profile init-release)
    out=init-release
fi
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --quiet "${flags[@]}" -p xdockerinit --target "$host" \
    --manifest-path "$top/Cargo.toml" --target-dir "$top/target/static-init" >&2
echo "$top/target/static-init/$host/$out/xdockerinit"
