#!/usr/bin/env bash
#
# xdocker_ldd_and_cp_lib64.sh - copy host binaries and their shared libraries
# into an image root filesystem.
#
# Usage: xdocker_ldd_and_cp_lib64.sh ROOTFS BINARY...
#
#   ROOTFS  existing directory that is the root of the image being built.
#   BINARY  a command name (looked up in $PATH, like `command -v`, but only
#           real executables: builtins/functions/aliases are ignored) or a
#           path to an executable.
#
# Every BINARY is copied to ROOTFS at its command path (e.g. `ls` ->
# ROOTFS/usr/bin/ls). If that path is a symlink on the host, the content it
# points to is copied, but under the command's own path/name.
#
# Every shared library `ldd` reports (including the dynamic loader, e.g.
# /lib64/ld-linux-x86-64.so.2) is copied to the same absolute path inside
# ROOTFS. Library paths that are symlinks are recreated as the same symlinks
# and their targets are copied as well (recursively), so the names resolve
# identically inside ROOTFS.
#
# merged-/usr: when a top-level directory on the host (/bin, /sbin, /lib,
# /lib32, /lib64, /libx32) is a symlink (e.g. /lib64 -> usr/lib64) and
# ROOTFS does not have that entry yet, the same symlink (made relative) is
# created in ROOTFS, so ROOTFS gets the same layout as the host: /bin and
# /sbin always, the /lib* ones when something is copied below them. An
# entry that already exists in ROOTFS (real dir or symlink) is left alone.
#
# Statically linked binaries (and scripts) are copied without libraries.
# Nothing is ever written outside ROOTFS: every destination directory is
# checked to resolve inside ROOTFS before anything is copied there.
#
# Exit status: 0 on success, 1 on error (one `xdocker_ldd_and_cp_lib64.sh:
# error: ...` line on stderr), e.g. for a missing binary or library.

set -euo pipefail
umask 022

PROG=xdocker_ldd_and_cp_lib64.sh

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage_die() {
    die "$* (usage: $PROG ROOTFS BINARY...)"
}

[ "$#" -ge 1 ] || usage_die "missing ROOTFS argument"
[ -n "$1" ] || usage_die "empty ROOTFS argument"
[ -d "$1" ] || die "ROOTFS is not a directory: $1"
ROOTFS=$(cd -- "$1" && pwd -P) || die "cannot resolve ROOTFS: $1"
shift
[ "$#" -ge 1 ] || usage_die "no BINARY given"
command -v ldd >/dev/null 2>&1 || die "ldd not found on the host"

# Paths already handled in this run (avoid copying a library many times).
declare -A SEEN=()

# If host /$1 (a top-level name) is a symlink and ROOTFS/$1 does not exist,
# create the same symlink (relative) in ROOTFS, and its target directory.
mirror_top_link() {
    local top=$1 hostlink rel
    [ -n "$top" ] && [ -L "/$top" ] || return 0
    [ ! -e "$ROOTFS/$top" ] && [ ! -L "$ROOTFS/$top" ] || return 0
    hostlink=$(readlink -- "/$top")
    # /lib64 -> /usr/lib64 or usr/lib64: always make it relative.
    rel=${hostlink#/}
    case "/$rel/" in
        */../*|*/./*|//) die "unsupported host symlink /$top -> $hostlink" ;;
    esac
    mkdir -p -- "$ROOTFS/$rel"
    ln -s -- "$rel" "$ROOTFS/$top"
}

# Make sure the directory that will hold the absolute path $1 exists in
# ROOTFS and resolves inside ROOTFS. Mirrors host top-level dir symlinks.
prepare_dir() {
    local path=$1 top dir real
    top=${path#/}
    top=${top%%/*}
    mirror_top_link "$top"
    dir=$(dirname -- "$path")
    mkdir -p -- "$ROOTFS$dir"
    real=$(readlink -f -- "$ROOTFS$dir")
    case "$real/" in
        "$ROOTFS"/*) ;;
        *) die "destination $ROOTFS$dir resolves outside ROOTFS ($real)" ;;
    esac
}

# Copy host path $1 (file or symlink) to the same path in ROOTFS. Symlinks
# are recreated and their targets copied too.
copy_path() {
    local path=$1 depth=${2:-0} target next
    [ -n "${SEEN[$path]:-}" ] && return 0
    SEEN[$path]=1
    [ "$depth" -lt 40 ] || die "too many levels of symlinks: $path"
    [ -e "$path" ] || die "no such file on the host: $path"
    prepare_dir "$path"
    if [ -L "$path" ]; then
        target=$(readlink -- "$path")
        rm -f -- "$ROOTFS$path"
        ln -s -- "$target" "$ROOTFS$path"
        case "$target" in
            /*) next=$target ;;
            *) next=$(dirname -- "$path")/$target ;;
        esac
        # Normalize lexically (no symlink resolution), as the kernel would
        # walk it inside ROOTFS.
        next=$(realpath -m -s -- "$next")
        copy_path "$next" $((depth + 1))
    else
        cp -L --preserve=mode,timestamps --remove-destination -- \
            "$path" "$ROOTFS$path"
    fi
}

# Print the absolute library paths ldd lists for $1 (nothing if static).
list_libs() {
    local bin=$1 out rc=0
    out=$(LC_ALL=C ldd -- "$bin" 2>&1) || rc=$?
    case "$out" in
        *"not a dynamic executable"*|*"statically linked"*) return 0 ;;
    esac
    [ "$rc" -eq 0 ] || die "ldd failed for $bin: ${out//$'\n'/ }"
    if printf '%s\n' "$out" | grep -q '=> not found'; then
        die "missing shared library for $bin: $(printf '%s\n' "$out" \
            | grep '=> not found' | awk '{print $1}' | tr '\n' ' ')"
    fi
    # "libc.so.6 => /lib/.../libc.so.6 (0x...)" or "/lib64/ld-linux... (0x...)"
    printf '%s\n' "$out" | awk '
        $2 == "=>" && $3 ~ /^\// { print $3; next }
        $1 ~ /^\// { print $1 }'
}

mirror_top_link bin
mirror_top_link sbin

for arg in "$@"; do
    [ -n "$arg" ] || die "empty BINARY argument"
    case "$arg" in
        */*) cmdpath=$arg ;;
        *) cmdpath=$(type -P -- "$arg") || die "binary not found: $arg" ;;
    esac
    [ -e "$cmdpath" ] || die "binary not found: $arg"
    if [ ! -f "$cmdpath" ] || [ ! -x "$cmdpath" ]; then
        die "not an executable file: $arg"
    fi
    # Place it at the absolute, lexically normalized command path.
    cmdpath=$(realpath -m -s -- "$cmdpath")
    content=$(readlink -f -- "$cmdpath")

    prepare_dir "$cmdpath"
    cp -L --preserve=mode,timestamps --remove-destination -- \
        "$content" "$ROOTFS$cmdpath"
    SEEN[$cmdpath]=1

    libs=$(list_libs "$content")
    while IFS= read -r lib; do
        [ -n "$lib" ] || continue
        copy_path "$lib"
    done <<<"$libs"
done
