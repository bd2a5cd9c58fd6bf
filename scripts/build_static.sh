#!/usr/bin/env bash
# build_static.sh xdocker|xdockerinit [debug|release] - build a statically
# linked binary (static-pie: ASLR stays) and print its path.
#
# xdockerinit runs as PID 1 inside any root filesystem, with no libraries
# there. xdocker itself starts faster without the dynamic loader: nothing to
# map and no symbols to bind before main (`xdocker -v` 1.0 -> 0.6 ms here),
# which every command pays; it uses nothing of glibc that needs NSS or
# dlopen. xdocker-srepo (OpenSSL, libssh2, host name lookups) stays a plain
# `cargo build --release`.
#
# crt-static is given for an explicit --target only, so build scripts and
# proc-macros of the host build are not affected. The binaries share
# target/static/ (the flags differ from target/'s, so it has its own cache).
set -euo pipefail
what=${1:?usage: build_static.sh xdocker|xdockerinit [debug|release]}
profile=${2:-release}
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
host=$(rustc -vV | sed -n 's/^host: //p')
case $what in
xdocker)
    select=(-p xdocker --bin xdocker)
    # fat LTO, codegen-units=1 (Cargo.toml)
    release_profile=release
    ;;
xdockerinit)
    select=(-p xdockerinit)
    # fat LTO, opt-level "z", panic=abort, stripped: about a third of the
    # size, less to map
    release_profile=init-release
    ;;
*)
    echo "build_static.sh: unknown binary $what (xdocker or xdockerinit)" >&2
    exit 2
    ;;
esac
flags=()
out=$profile
if [ "$profile" = release ]; then
    flags+=(--profile "$release_profile")
    out=$release_profile
fi
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --quiet "${flags[@]}" "${select[@]}" --target "$host" \
    --manifest-path "$top/Cargo.toml" --target-dir "$top/target/static" >&2
echo "$top/target/static/$host/$out/$what"
