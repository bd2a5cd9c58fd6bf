#!/usr/bin/env bash
# install.sh - set up xdocker on this machine: system packages, build,
# install (binaries, the xdocker-srepo companion, the user's scripts on PATH,
# templates, man pages, the README under share/doc/xdocker, bash and zsh
# completions: scripts/install_files.sh; the xdocker-autostart systemd unit)
# under PREFIX (default /usr/local), give root subordinate ids for unprivileged
# containers if it has none (scripts/xdocker_subids.sh), then build the `test` image with
# `xdocker -a install_test` and boot a container `test` from it. Needs root.
#
# Environment: PREFIX=/usr/local  XDOCKER_HOME=/var/xdocker
#              SYSTEMD_UNIT_DIR=/etc/systemd/system
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
prefix=${PREFIX:-/usr/local}

"$top/scripts/install_deps.sh"
# Containers are unprivileged by default: root needs subordinate ids.
"$top/scripts/xdocker_subids.sh"
# xdocker and xdockerinit are linked statically (scripts/build_static.sh);
# xdocker-srepo (OpenSSL, libssh2) is a plain release build.
cargo build --quiet --release --bin xdocker-srepo --manifest-path "$top/Cargo.toml"
xdocker=$("$top/scripts/build_static.sh" xdocker release)
init=$("$top/scripts/build_static.sh" xdockerinit release)

"$top/scripts/install_files.sh" "$prefix" "$xdocker" "$init" "$top/target/release/xdocker-srepo"
# The autostart unit (not enabled: systemctl enable --now xdocker-autostart).
unit_dir=${SYSTEMD_UNIT_DIR:-/etc/systemd/system}
mkdir -p "$unit_dir"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@XDOCKER_HOME@|${XDOCKER_HOME:-/var/xdocker}|g" "$top/systemd/xdocker-autostart.service" >"$unit_dir/xdocker-autostart.service.tmp"
mv "$unit_dir/xdocker-autostart.service.tmp" "$unit_dir/xdocker-autostart.service"
[ -d /run/systemd/system ] && systemctl daemon-reload || true
command -v mandb >/dev/null 2>&1 && mandb -q >/dev/null 2>&1 || true

echo "installed: $prefix/bin/xdocker $("$prefix/bin/xdocker" -v)"
x="$prefix/bin/xdocker"
"$x" -a install_test -f
"$x" -s images
# The main job: a host container `test` from the test image, running.
"$x" -a destroy -c test -h -f
"$x" -a create -m test -c test -b
"$x" -a create -m test -c hello -b -e 'echo "hello from $(hostname), pid $$"'
"$x" -a destroy -c hello
"$x" -s containers
