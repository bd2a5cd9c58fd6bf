#!/usr/bin/env bash
# install_files.sh - install xdocker's built programs and shipped files
# under PREFIX (scripts/install.sh runs it after building):
#
#   PREFIX/bin/xdocker, PREFIX/bin/xdockerinit, PREFIX/lib/xdocker/xdocker-srepo
#   PREFIX/bin/xdocker_create_image_debian.sh, xdocker_container_root.sh,
#       xdocker_ldd_and_cp_lib64.sh       the user's scripts, on PATH (links
#                                         into share/xdocker/scripts)
#   PREFIX/share/xdocker/scripts, templates   what xdocker -a install_test
#                                         and the scripts use
#   PREFIX/share/man/man1/xdocker.1, man8/xdockerinit.8
#   PREFIX/share/doc/xdocker/README.md
#   PREFIX/share/bash-completion/completions/xdocker,
#   PREFIX/share/zsh/site-functions/_xdocker
#
# Usage: install_files.sh PREFIX XDOCKER XDOCKERINIT XDOCKER_SREPO
#        (the last three: the built binaries to install)
set -euo pipefail
prog=install_files.sh
die() {
    echo "$prog: error: $*" >&2
    exit 1
}
[ "$#" -eq 4 ] || die "usage: $prog PREFIX XDOCKER XDOCKERINIT XDOCKER_SREPO"
prefix=$1
for bin in "$2" "$3" "$4"; do
    [ -f "$bin" ] && [ -x "$bin" ] || die "not an executable file: $bin"
done
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)

install -D -m 0755 "$2" "$prefix/bin/xdocker"
install -D -m 0755 "$3" "$prefix/bin/xdockerinit"
# The ssh repository commands (xdocker hands them over; found in ../lib/xdocker).
install -D -m 0755 "$4" "$prefix/lib/xdocker/xdocker-srepo"
share="$prefix/share/xdocker"
rm -rf "$share/scripts" "$share/templates"
mkdir -p "$share"
cp -r "$top/scripts" "$share/scripts"
rm -rf "$share/scripts/tests"
cp -r "$top/templates" "$share/templates"
# The scripts a user runs, on PATH as the original tool installed them; the
# links keep them next to their templates (../templates).
for s in xdocker_create_image_debian.sh xdocker_container_root.sh xdocker_ldd_and_cp_lib64.sh; do
    ln -sfn "../share/xdocker/scripts/$s" "$prefix/bin/$s"
done
install -D -m 0644 "$top/man/xdocker.1" "$prefix/share/man/man1/xdocker.1"
install -D -m 0644 "$top/man/xdockerinit.8" "$prefix/share/man/man8/xdockerinit.8"
install -D -m 0644 "$top/README.md" "$prefix/share/doc/xdocker/README.md"
install -D -m 0644 "$top/completions/xdocker.bash" "$prefix/share/bash-completion/completions/xdocker"
install -D -m 0644 "$top/completions/_xdocker" "$prefix/share/zsh/site-functions/_xdocker"
