#!/usr/bin/env bash
#
# xdocker_install_test.sh - build the root filesystem of the xdocker image
# called `test`: a small but runnable Linux system.
#
# Usage: xdocker_install_test.sh ROOTFS
#
#   ROOTFS  an existing, empty directory (absolute or relative path; spaces
#           are fine). It is filled with the image's files and its mode is
#           set to 0755 (it becomes the container's `/`).
#
# Userland:
#   - If the host has a busybox ($XDOCKER_BUSYBOX, else /bin/busybox, else
#     busybox on PATH), it is copied to ROOTFS/bin/busybox and a relative
#     symlink is created for every applet it provides (`busybox --list-full`,
#     or `busybox --list` into /bin), so vi, wget, nc, httpd, ... are all
#     there. A statically linked one (Debian package busybox-static) is
#     copied alone; a dynamically linked one (package busybox) with its
#     shared libraries (xdocker_ldd_and_cp_lib64.sh). Commands the tutorial
#     uses that a busybox build may lack (Debian's has no nohup) are added
#     as small POSIX sh scripts.
#   - Otherwise (or when XDOCKER_TEST_NO_BUSYBOX=1 is set, for testing) a set
#     of host binaries (bash as /bin/bash and /bin/sh, coreutils, ps, mount,
#     ip, ...) is copied together with their shared libraries using
#     xdocker_ldd_and_cp_lib64.sh from this script's directory. The host's
#     merged-/usr layout (e.g. /bin -> usr/bin) is mirrored in ROOTFS.
#
# Configuration files: etc/{passwd,group,shadow,hostname,hosts,
# nsswitch.conf,os-release}, etc/profile and root/.profile (from the
# templates `profile` and `root_profile`), and root/tpl.txt (a template for
# the `rplfile` command containing the literal text ${LEAF}).
#
# Templates are read from $XDOCKER_TEMPLATES_DIR if set, else from
# ../templates relative to this script's directory (installed layout:
# /usr/local/share/xdocker/{scripts,templates}).
#
# Environment:
#   XDOCKER_TEMPLATES_DIR   directory holding `profile` and `root_profile`
#   XDOCKER_BUSYBOX         the busybox binary to use (default /bin/busybox)
#   XDOCKER_TEST_NO_BUSYBOX set to 1 to ignore busybox (forces the fallback)
#
# Must run as root (all files are root-owned). Exit status 0 on success;
# 1 with one `xdocker_install_test.sh: error: ...` line on stderr otherwise.

set -euo pipefail
umask 022

PROG=xdocker_install_test.sh
BUSYBOX=${XDOCKER_BUSYBOX:-/bin/busybox}
if [ -z "${XDOCKER_BUSYBOX:-}" ] && [ ! -e "$BUSYBOX" ]; then
    BUSYBOX=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin type -P busybox) || BUSYBOX=/bin/busybox
fi

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

warn() {
    printf '%s: warning: %s\n' "$PROG" "$*" >&2
}

SCRIPT_DIR=$(dirname -- "$(readlink -f -- "$0")")
TEMPLATES_DIR=${XDOCKER_TEMPLATES_DIR:-$SCRIPT_DIR/../templates}
LDD_AND_CP=$SCRIPT_DIR/xdocker_ldd_and_cp_lib64.sh

# ---------------------------------------------------------------- arguments
[ "$#" -ge 1 ] || die "missing ROOTFS argument (usage: $PROG ROOTFS)"
[ "$#" -eq 1 ] || die "too many arguments (usage: $PROG ROOTFS)"
[ -n "$1" ] || die "empty ROOTFS argument (usage: $PROG ROOTFS)"
[ -e "$1" ] || die "ROOTFS does not exist: $1"
[ -d "$1" ] || die "ROOTFS is not a directory: $1"
if [ -n "$(find "$1/" -mindepth 1 -maxdepth 1 -print -quit)" ]; then
    die "ROOTFS is not empty: $1"
fi
ROOTFS=$(cd -- "$1" && pwd -P) || die "cannot resolve ROOTFS: $1"
[ "$ROOTFS" != / ] || die "refusing to install into /"

[ "$(id -u)" -eq 0 ] || die "must be run as root"
for tpl in profile root_profile; do
    [ -f "$TEMPLATES_DIR/$tpl" ] || die "template not found: $TEMPLATES_DIR/$tpl"
done

# ---------------------------------------------------------------- helpers

# True if $1 is a statically linked ELF executable (no PT_INTERP).
is_static() {
    local bin=$1
    if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
        return 1
    fi
    if command -v readelf >/dev/null 2>&1; then
        local hdr
        hdr=$(LC_ALL=C readelf -lW -- "$bin" 2>/dev/null) || return 1
        # Not an ELF or no program headers -> readelf prints nothing useful.
        printf '%s\n' "$hdr" | grep -q 'LOAD' || return 1
        if printf '%s\n' "$hdr" | grep -q 'INTERP'; then
            return 1
        fi
        return 0
    else
        LC_ALL=C ldd -- "$bin" 2>&1 | grep -q 'not a dynamic executable'
    fi
}

# Relative symlink target from ROOTFS/$1 (a path relative to ROOTFS) to
# ROOTFS/bin/busybox, e.g. usr/bin/nc -> ../../bin/busybox, bin/ls -> busybox.
busybox_link_target() {
    local rel=$1 up='' slashes
    if [ "$(dirname -- "$rel")" = bin ]; then
        printf 'busybox'
        return
    fi
    slashes=${rel//[!\/]/}
    local i
    for ((i = 0; i < ${#slashes}; i++)); do
        up+=../
    done
    printf '%sbin/busybox' "$up"
}

# True if $1 is a busybox that runs here (static or dynamic).
is_busybox() {
    [ -f "$1" ] && [ -x "$1" ] || return 1
    case "$("$1" --help 2>&1)" in
        BusyBox*) [ -n "$("$1" --list 2>/dev/null)" ] ;;
        *) return 1 ;;
    esac
}

install_busybox() {
    local applet dir
    mkdir -p -- "$ROOTFS/bin" "$ROOTFS/sbin" "$ROOTFS/usr/bin" "$ROOTFS/usr/sbin"
    if is_static "$BUSYBOX"; then
        cp -L --preserve=mode,timestamps -- "$BUSYBOX" "$ROOTFS/bin/busybox"
    else
        # Dynamically linked: with its shared libraries and loader, copied
        # to its own path, then moved to /bin/busybox.
        [ -x "$LDD_AND_CP" ] || die "helper not found or not executable: $LDD_AND_CP"
        "$LDD_AND_CP" "$ROOTFS" "$BUSYBOX" || die "copying $BUSYBOX and its libraries failed"
        local copied
        copied=$(realpath -m -s -- "$BUSYBOX")
        if [ ! "$ROOTFS$copied" -ef "$ROOTFS/bin/busybox" ]; then
            mv -f -- "$ROOTFS$copied" "$ROOTFS/bin/busybox"
            (cd -- "$ROOTFS" && rmdir -p --ignore-fail-on-non-empty -- "$(dirname -- "${copied#/}")") 2>/dev/null || true
        fi
    fi
    chmod 0755 -- "$ROOTFS/bin/busybox"
    local applets
    # --list-full gives each applet's directory; an older busybox has only
    # --list (names, linked into /bin).
    applets=$("$BUSYBOX" --list-full 2>/dev/null) ||
        applets=$("$BUSYBOX" --list | sed 's|^|bin/|') ||
        die "$BUSYBOX --list failed"
    while IFS= read -r applet; do
        [ -n "$applet" ] || continue
        [ "$applet" != bin/busybox ] || continue
        case "/$applet/" in
            //*|*/../*|*/./*) warn "skipping odd applet path: $applet"; continue ;;
        esac
        dir=$(dirname -- "$applet")
        mkdir -p -- "$ROOTFS/$dir"
        if [ -e "$ROOTFS/$applet" ] || [ -L "$ROOTFS/$applet" ]; then
            continue
        fi
        ln -s -- "$(busybox_link_target "$applet")" "$ROOTFS/$applet"
    done <<<"$applets"
    if [ ! -e "$ROOTFS/bin/sh" ]; then
        ln -sfn busybox "$ROOTFS/bin/sh"
    fi
    add_missing_commands
}

# Commands of the tutorial that some busybox builds lack, as POSIX sh.
add_missing_commands() {
    if [ ! -e "$ROOTFS/usr/bin/nohup" ] && [ ! -e "$ROOTFS/bin/nohup" ]; then
        # nohup(1) as POSIX specifies it: SIGHUP ignored, output that would
        # go to a terminal appended to nohup.out (or $HOME/nohup.out).
        cat >"$ROOTFS/usr/bin/nohup" <<'NOHUP'
#!/bin/sh
# nohup - run a command immune to hangups (xdocker test image; this
# busybox was built without its nohup applet).
if [ "$#" -eq 0 ]; then
    echo "usage: nohup COMMAND [ARG]..." >&2
    exit 127
fi
trap '' HUP
if [ -t 1 ]; then
    if { exec >>nohup.out; } 2>/dev/null; then
        echo "nohup: appending output to nohup.out" >&2
    else
        exec >>"${HOME:-/}/nohup.out" || exit 127
        echo "nohup: appending output to ${HOME:-/}/nohup.out" >&2
    fi
fi
if [ -t 2 ]; then
    exec 2>&1
fi
exec "$@"
NOHUP
        chmod 0755 -- "$ROOTFS/usr/bin/nohup"
    fi
}

install_host_binaries() {
    [ -x "$LDD_AND_CP" ] || die "helper not found or not executable: $LDD_AND_CP"
    local required=(bash) optional=(ls cat cp mv rm mkdir ps sleep echo
        hostname id env grep sed mount umount ip stty tty uname true false
        head tail wc kill nohup touch chmod ln find)
    local cmds=() c
    # A fixed PATH so that host-local tools (/usr/local, ~/.cargo, ...) are
    # not picked up instead of the distribution's binaries.
    local path=/usr/sbin:/usr/bin:/sbin:/bin
    for c in "${required[@]}"; do
        PATH=$path type -P -- "$c" >/dev/null || die "required host command not found: $c"
        cmds+=("$c")
    done
    for c in "${optional[@]}"; do
        if PATH=$path type -P -- "$c" >/dev/null; then
            cmds+=("$c")
        else
            warn "host command not found, not installed: $c"
        fi
    done
    PATH=$path "$LDD_AND_CP" "$ROOTFS" "${cmds[@]}" \
        || die "copying host binaries failed"

    # bash must be reachable as /bin/bash and /bin/sh in the image (on a
    # merged-/usr host, ROOTFS/bin is a symlink to usr/bin already).
    local bash_path
    bash_path=$(realpath -m -s -- "$(PATH=$path type -P bash)")
    mkdir -p -- "$ROOTFS/bin"
    if [ ! -e "$ROOTFS/bin/bash" ]; then
        ln -s -- "$bash_path" "$ROOTFS/bin/bash"
    fi
    ln -sfn bash "$ROOTFS/bin/sh"
}

# ---------------------------------------------------------------- userland
use_busybox=0
if [ "${XDOCKER_TEST_NO_BUSYBOX:-0}" != 1 ] && is_busybox "$BUSYBOX"; then
    use_busybox=1
elif [ -n "${XDOCKER_BUSYBOX:-}" ]; then
    die "XDOCKER_BUSYBOX is not a busybox that runs here: $XDOCKER_BUSYBOX"
fi

if [ "$use_busybox" = 1 ]; then
    install_busybox
else
    install_host_binaries
fi

# ---------------------------------------------------------------- directories
# mkdir -p follows the merged-/usr symlinks created above, if any.
mkdir -p -- "$ROOTFS/bin" "$ROOTFS/sbin" "$ROOTFS/usr/bin" "$ROOTFS/usr/sbin" \
    "$ROOTFS/etc" "$ROOTFS/root" "$ROOTFS/tmp" "$ROOTFS/var/tmp" \
    "$ROOTFS/var/log" "$ROOTFS/dev" "$ROOTFS/proc" "$ROOTFS/sys" \
    "$ROOTFS/run" "$ROOTFS/home" "$ROOTFS/mnt" "$ROOTFS/opt"

# ---------------------------------------------------------------- /etc
days=$(($(date +%s) / 86400))

printf '%s\n' \
    'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
    >"$ROOTFS/etc/passwd"

printf '%s\n' \
    'root:x:0:' \
    'nogroup:x:65534:' \
    >"$ROOTFS/etc/group"

(
    umask 077
    printf '%s\n' \
        "root:*:$days:0:99999:7:::" \
        "nobody:*:$days:0:99999:7:::" \
        >"$ROOTFS/etc/shadow"
)

printf 'localhost\n' >"$ROOTFS/etc/hostname"

printf '%s\n' \
    '127.0.0.1	localhost' \
    '::1		localhost ip6-localhost ip6-loopback' \
    >"$ROOTFS/etc/hosts"

printf '%s\n' \
    'passwd:         files' \
    'group:          files' \
    'shadow:         files' \
    'hosts:          files dns' \
    'networks:       files' \
    'protocols:      files' \
    'services:       files' \
    >"$ROOTFS/etc/nsswitch.conf"

printf '%s\n' \
    'NAME="xdocker test image"' \
    'PRETTY_NAME="xdocker test image"' \
    'ID=xdocker-test' \
    'VERSION_ID=1' \
    >"$ROOTFS/etc/os-release"

cp -- "$TEMPLATES_DIR/profile" "$ROOTFS/etc/profile"
cp -- "$TEMPLATES_DIR/root_profile" "$ROOTFS/root/.profile"

# Template for `rplfile`: ${LEAF} must stay literal.
# shellcheck disable=SC2016
printf '%s\n' '{ "leaf":"${LEAF}" }' >"$ROOTFS/root/tpl.txt"

# ---------------------------------------------------------------- ownership, modes
# -h: change symlinks themselves, never follow them (some point to absolute
# paths that only make sense inside the image).
chown -hR 0:0 -- "$ROOTFS"
chmod 0755 -- "$ROOTFS"
chmod 0644 -- "$ROOTFS/etc/passwd" "$ROOTFS/etc/group" "$ROOTFS/etc/hostname" \
    "$ROOTFS/etc/hosts" "$ROOTFS/etc/nsswitch.conf" "$ROOTFS/etc/os-release" \
    "$ROOTFS/etc/profile" "$ROOTFS/root/.profile" "$ROOTFS/root/tpl.txt"
chmod 0600 -- "$ROOTFS/etc/shadow"
chmod 0700 -- "$ROOTFS/root"
chmod 1777 -- "$ROOTFS/tmp" "$ROOTFS/var/tmp"
