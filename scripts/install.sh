#!/usr/bin/env bash
# install.sh - set up xdocker on this machine: system packages, build,
# install (binaries, the xdocker-srepo companion, scripts, templates, man pages, bash and zsh completions,
# the xdocker-autostart systemd unit) under PREFIX
# (default /usr/local), give root subordinate ids for unprivileged
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

install -D -m 0755 "$xdocker" "$prefix/bin/xdocker"
# The ssh repository commands (xdocker hands them over; found in ../lib/xdocker).
install -D -m 0755 "$top/target/release/xdocker-srepo" "$prefix/lib/xdocker/xdocker-srepo"
install -D -m 0755 "$init" "$prefix/bin/xdockerinit"
share="$prefix/share/xdocker"
rm -rf "$share/scripts" "$share/templates"
mkdir -p "$share"
cp -r "$top/scripts" "$share/scripts"
rm -rf "$share/scripts/tests"
cp -r "$top/templates" "$share/templates"
install -D -m 0644 "$top/man/xdocker.1" "$prefix/share/man/man1/xdocker.1"
install -D -m 0644 "$top/man/xdockerinit.8" "$prefix/share/man/man8/xdockerinit.8"
install -D -m 0644 "$top/completions/xdocker.bash" "$prefix/share/bash-completion/completions/xdocker"
install -D -m 0644 "$top/completions/_xdocker" "$prefix/share/zsh/site-functions/_xdocker"
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
