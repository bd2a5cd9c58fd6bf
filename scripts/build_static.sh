#!/usr/bin/env bash
# build_static.sh xdocker|xdockerinit [debug|release] - build a statically
# linked binary (static-pie: ASLR stays) and print its path.
#
# xdockerinit runs as PID 1 inside any root filesystem, with no libraries
# there. It is linked against musl when the Rust target
# x86_64-unknown-linux-musl is installed (scripts/install_deps.sh adds it),
# else against glibc: glibc's start-up asks the CPU for its features and
# caches with ~80 CPUID instructions, each a trap to the hypervisor in a VM
# (3.6 us here), so a static glibc program costs 0.33 ms of CPU before main
# and a musl one 0.10 ms (`xdockerinit --version`), and musl's binary is
# half the size (less to map, less resident in every container).
#
# xdocker itself stays on glibc (musl's allocator makes its commands
# slower) but starts faster without the dynamic loader: nothing to map and
# no symbols to bind before main (`xdocker -v` 1.0 -> 0.6 ms here), which
# every command pays; it uses nothing of glibc that needs NSS or dlopen.
# xdocker-srepo (OpenSSL, libssh2, host name lookups) stays a plain
# `cargo build --release`.
#
# crt-static is given for an explicit --target only, so build scripts and
# proc-macros of the host build are not affected. The binaries share
# target/static/ (the flags differ from target/'s, so it has its own cache).
set -euo pipefail
what=${1:?usage: build_static.sh xdocker|xdockerinit [debug|release]}
profile=${2:-release}
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
target=$(rustc -vV | sed -n 's/^host: //p')
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
    musl=${target%-gnu}-musl
    if [ -d "$(rustc --print sysroot)/lib/rustlib/$musl" ]; then
        target=$musl
    else
        echo "build_static.sh: Rust target $musl not installed; linking xdockerinit against glibc" >&2
    fi
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
    cargo build --quiet "${flags[@]}" "${select[@]}" --target "$target" \
    --manifest-path "$top/Cargo.toml" --target-dir "$top/target/static" >&2
echo "$top/target/static/$target/$out/$what"
