#!/usr/bin/env bash
# install_deps.sh - install the Debian/Ubuntu packages xdocker needs to build,
# run and test. Needs root. A Rust toolchain (cargo, rustc >= 1.85, e.g. from
# rustup) must already be on PATH: distributions' cargo is often too old.
set -euo pipefail

packages=(
    build-essential pkg-config perl make    # building (OpenSSL for the ssh repository
                                            # is built from source and linked in;
                                            # cc also builds the tests' static probes)
    libseccomp-dev                          # build.rs compiles the seccomp filter
    zstd gzip tar xz-utils                  # image archives, test interop
    busybox-static                          # the `test` image
    binutils                                # readelf: checks xdockerinit is static
    attr jq                                 # inspecting layers and --json output
    python3                                 # scripts/check_root_gate.py (test.sh)
    zsh                                     # checking the zsh completion
    debootstrap                             # scripts/xdocker_create_image_debian.sh
    systemd man-db                          # systemd-analyze checks the autostart unit
    iproute2 nftables                       # networking
    dnsmasq-base                            # DHCP server of the macvlan tests (tests/macvlan.rs)
    tmux openssh-server openssh-client      # attach and ssh repository tests
    hyperfine                               # benchmarks (bench/)
    # bench peers
    podman                                  # bench/docker_run.sh: podman run --rm
    buildah runc                            # bench/build.sh: buildah bud --layers
                                            # (runc: crun refuses hybrid cgroups)
)

if [ "$(id -u)" -ne 0 ]; then
    echo "install_deps.sh: error: run as root (apt-get needs it)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
if ! command -v cargo >/dev/null 2>&1; then
    echo "install_deps.sh: error: cargo not found: install Rust >= 1.85 (https://rustup.rs) and retry" >&2
    exit 1
fi
# xdockerinit is linked against musl when Rust has the target (see
# build_static.sh); without it, against glibc.
if command -v rustup >/dev/null 2>&1; then
    host=$(rustc -vV | sed -n 's/^host: //p')
    rustup target add "${host%-gnu}-musl" >/dev/null 2>&1 ||
        echo "install_deps.sh: could not add the Rust target ${host%-gnu}-musl; xdockerinit will use glibc" >&2
fi
echo "install_deps.sh: packages installed"
