#!/usr/bin/env bash
#
# xdocker_create_image_debian.sh - build a Debian base image with debootstrap
# and write it as an importable NAME:VERSION.xdockerimage; optionally also an
# sshd layer and a build-tools layer stacked on it (like the original tool's
# rhel scripts: one base, then one image per layer of software).
#
# Usage: xdocker_create_image_debian.sh [options]
#
#   -s, --suite SUITE       Debian suite (default: bookworm)
#   -m, --mirror URL        Debian mirror (default: http://deb.debian.org/debian)
#   -n, --name NAME         image name (default: debian)
#   -v, --version VERSION   image version (default: 12 for bookworm, else the suite)
#   -p, --packages LIST     extra packages for the base, comma separated, added to
#                           the defaults (iproute2,iputils-ping,procps,less,
#                           ca-certificates,vim-tiny)
#       --no-default-packages  only LIST (plus what debootstrap's minbase has)
#       --sshd              also build NAME-sshd:VERSION (openssh-server) on top
#       --build-tools       also build NAME-build:VERSION (build-essential, git,
#                           pkg-config) on top
#   -o, --output DIR        where the .xdockerimage files go (default: .)
#       --import            also import the images into this host's XDOCKER_HOME
#       --config FILE       the settings (xdocker.toml) of the throw-away home
#                           (default: the calling home's, $XDOCKER_HOME/xdocker.toml
#                           or /var/xdocker/xdocker.toml, when it exists)
#
# Files written (in DIR):
#   NAME:VERSION.xdockerimage           the base
#   NAME-sshd:VERSION.xdockerimage      with --sshd (records NAME:VERSION as base)
#   NAME-build:VERSION.xdockerimage     with --build-tools (likewise)
# A layer image holds only its changes: import the base first, then
#   xdocker -a create -m NAME:VERSION,NAME-sshd:VERSION -c C
#
# The layers are built in a throw-away XDOCKER_HOME under a temp directory with
# a HOST-network container that runs apt-get; nothing of the host's own
# XDOCKER_HOME is touched unless --import is given. The throw-away home takes
# the calling home's settings (cgroup root and parent, network, userns range:
# a copy of its xdocker.toml, or --config FILE); without any, it has names of
# its own (xdocker derives them from the home's path). Its build container has
# a name of its own (debian-build-PID), so a shared cgroup parent never
# collides, and every cgroup directory the script made (the parent, in every
# controller) is removed at the end; those that existed before are left alone.
#
# Environment:
#   XDOCKER                 the xdocker binary (default: xdocker on PATH)
#   XDOCKER_HOME            the calling home (default /var/xdocker): its
#                           xdocker.toml is copied, --import imports into it
#   XDOCKER_TEMPLATES_DIR   where `profile` and `root_profile` are (default:
#                           ../templates next to this script)
#   TMPDIR                  where the work directory goes (default: /var/tmp)
#
# Needs root, debootstrap and network access to the mirror. Exit status 0 on
# success; 1 with one `xdocker_create_image_debian.sh: error: ...` line on
# stderr otherwise, with nothing left behind (work directory, containers,
# mounts and half-written image files are removed).

set -euo pipefail
umask 022

prog=xdocker_create_image_debian.sh
die() {
    echo "$prog: error: $*" >&2
    exit 1
}
say() { echo "$prog: $*" >&2; }

here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
templates=${XDOCKER_TEMPLATES_DIR:-$here/../templates}
xdocker=${XDOCKER:-xdocker}

suite=bookworm
mirror=http://deb.debian.org/debian
name=debian
version=
defaults=iproute2,iputils-ping,procps,less,ca-certificates,vim-tiny
extra=
sshd=0
build=0
outdir=.
import=0
config=

need() { [ $# -ge 2 ] && [ -n "$2" ] || die "option $1 needs a value"; }
while [ $# -gt 0 ]; do
    case $1 in
    -s | --suite) need "$@"; suite=$2; shift 2 ;;
    -m | --mirror) need "$@"; mirror=$2; shift 2 ;;
    -n | --name) need "$@"; name=$2; shift 2 ;;
    -v | --version) need "$@"; version=$2; shift 2 ;;
    -p | --packages) need "$@"; extra=$2; shift 2 ;;
    --no-default-packages) defaults=; shift ;;
    --sshd) sshd=1; shift ;;
    --build-tools) build=1; shift ;;
    -o | --output) need "$@"; outdir=$2; shift 2 ;;
    --import) import=1; shift ;;
    --config) need "$@"; config=$2; shift 2 ;;
    -h | --help) sed -n '3,55p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
done

if [ -z "$version" ]; then
    case $suite in
    bookworm) version=12 ;;
    trixie) version=13 ;;
    bullseye) version=11 ;;
    *) version=$suite ;;
    esac
fi
# Names reach file names and xdocker's command line: the same rule as xdocker's.
valid() { [[ $1 =~ ^[A-Za-z0-9=._-]{1,64}$ && $1 != . && $1 != .. && $1 != -* ]]; }
valid "$name" || die "image name '$name' is not letters, digits and =._- (at most 64)"
valid "$name-sshd" || die "image name '$name' is too long for its layers"
valid "$version" || die "version '$version' is not letters, digits and =._- (at most 64)"
[[ $suite =~ ^[a-z0-9-]+$ ]] || die "suite '$suite' is not a Debian suite name"
[[ $mirror =~ ^(https?|file)://[^[:space:]]+$ ]] || die "mirror '$mirror' is not an http(s):// or file:// URL"
packages=$(printf '%s,%s' "$defaults" "$extra" | tr -s ',' | sed 's/^,//; s/,$//')
[[ -z $packages || $packages =~ ^[a-z0-9][a-z0-9+.,-]*$ ]] || die "package list '$packages' is not comma-separated Debian package names"

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and image owners need it)"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"
command -v "$xdocker" >/dev/null || die "xdocker binary '$xdocker' not found (set XDOCKER=...)"
[ -r "$templates/profile" ] && [ -r "$templates/root_profile" ] ||
    die "templates 'profile' and 'root_profile' not found in $templates"
mkdir -p "$outdir" || die "cannot create output directory '$outdir'"
outdir=$(cd "$outdir" && pwd)
caller_home=${XDOCKER_HOME:-${xdocker_HOME:-/var/xdocker}}
if [ -z "$config" ] && [ -f "$caller_home/xdocker.toml" ]; then
    config=$caller_home/xdocker.toml
fi
if [ -n "$config" ] && { [ ! -f "$config" ] || [ ! -r "$config" ]; }; then
    die "settings file '$config' is not a readable file"
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/xdocker-debian.XXXXXX")
home=$work/home
builder=debian-build-$$
written=()
cgroups_made=()
cgroups_noted=0
ok=0
cleanup() {
    local rc=$? d
    if [ -d "$home/containers" ]; then
        for c in "$home"/containers/*/; do
            [ -d "$c" ] || continue
            XDOCKER_HOME=$home "$xdocker" -a destroy -c "$(basename "$c")" -h -f >/dev/null 2>&1 || true
        done
    fi
    # The cgroup directories this script made (empty once its container
    # is gone; rmdir never removes a group that holds anything).
    for d in "${cgroups_made[@]}"; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    # debootstrap may leave /proc and /sys mounted in the rootfs when it fails.
    for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$work"
    if [ "$ok" -ne 1 ]; then
        for f in "${written[@]}"; do rm -f "$f"; done
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

x() { XDOCKER_HOME=$home "$xdocker" "$@"; }

# One string field of `xdocker -s info --json` (pretty-printed: a key a line).
info_field() {
    sed -n "/^ *\"$1\": \"/{s/^ *\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p;q}"
}

# Before the first boot: which of the home's cgroup parent directories (one
# per controller on cgroup v1) do not exist yet, and so are this script's.
note_cgroups() {
    local info root parent h
    [ "$cgroups_noted" -eq 0 ] || return 0
    cgroups_noted=1
    info=$(x -s info -c "$builder" --json) || die "xdocker -s info -c $builder failed"
    root=$(printf '%s\n' "$info" | info_field cgroup_root)
    parent=$(printf '%s\n' "$info" | info_field cgroup_parent)
    [ -n "$root" ] && [ -n "$parent" ] || die "no cgroup root or parent in xdocker -s info"
    for h in "$root" "$root"/*/; do
        h=${h%/}
        [ -d "$h/$parent" ] || cgroups_made+=("$h/$parent")
    done
}

# --- the base ---------------------------------------------------------------
rootfs=$work/rootfs
mkdir -p "$rootfs" "$home"
if [ -n "$config" ]; then
    install -m 0644 "$config" "$home/xdocker.toml"
    say "settings from $config"
fi
# A bad settings file stops here, before the minute of debootstrap.
x -s images >/dev/null || die "the settings in ${config:-(defaults)} are not usable (see above)"
say "debootstrap $suite from $mirror (packages: ${packages:-none})"
include=()
[ -n "$packages" ] && include=(--include="$packages")
debootstrap --variant=minbase "${include[@]}" "$suite" "$rootfs" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || {
    tail -n 5 "$work/debootstrap.log" >&2
    die "debootstrap of $suite from $mirror failed (last lines above)"
}

# What makes a debootstrap tree a container image: the apt sources of the
# mirror, no downloaded package lists, xdocker's profiles, and an empty
# machine-id (xdocker writes hostname, hosts and resolv.conf at boot).
echo "deb $mirror $suite main" >"$rootfs/etc/apt/sources.list"
install -m 0644 "$templates/profile" "$rootfs/etc/profile"
install -m 0644 "$templates/root_profile" "$rootfs/root/.profile"
: >"$rootfs/etc/machine-id"
# apt must not try to start services while building images.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log
mkdir -p "$rootfs/var/lib/apt/lists/partial"

say "importing $name:$version"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$rootfs" -cf "$work/rootfs.tar" .
rm -rf --one-file-system "$rootfs"
x -a import --image-file "$work/rootfs.tar" -m "$name:$version" >/dev/null
rm -f "$work/rootfs.tar"

export_image() {
    local ref=$1 file="$outdir/$1.xdockerimage"
    written+=("$file")
    x -a export -m "$ref" --image-file "$file" >/dev/null
    say "wrote $file"
}
export_image "$name:$version"

# --- layers -----------------------------------------------------------------
# A layer: a HOST-network container on the base runs apt-get, then becomes an
# image holding only its changes (recorded on top of NAME:VERSION).
layer() {
    local image=$1 pkgs=$2 after=${3:-true}
    say "building $image:$version ($pkgs)"
    x -a create -m "$name:$version" -c "$builder" --net HOST >/dev/null
    note_cgroups
    x -a boot -c "$builder" >/dev/null
    x -a run -c "$builder" --cmd "export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends $pkgs >/dev/null &&
        apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/*.log &&
        mkdir -p /var/lib/apt/lists/partial && $after" ||
        die "installing $pkgs in $image failed"
    x -a shutdown -c "$builder" >/dev/null
    x -a to_image --from-container "$builder" --to-image "$image" --version "$version" >/dev/null
    export_image "$image:$version"
}
# sshd: no host keys in the image (every host must get its own): the
# service container runs `ssh-keygen -A` before sshd, as the e2e test does.
[ "$sshd" -eq 1 ] && layer "$name-sshd" "openssh-server" \
    "rm -f /etc/ssh/ssh_host_* && mkdir -p /run/sshd"
[ "$build" -eq 1 ] && layer "$name-build" "build-essential git pkg-config"

if [ "$import" -eq 1 ]; then
    "$xdocker" -a import --image-file "$outdir/$name:$version.xdockerimage" >/dev/null
    [ "$sshd" -eq 1 ] && "$xdocker" -a import --image-file "$outdir/$name-sshd:$version.xdockerimage" >/dev/null
    [ "$build" -eq 1 ] && "$xdocker" -a import --image-file "$outdir/$name-build:$version.xdockerimage" >/dev/null
    say "imported into ${XDOCKER_HOME:-/var/xdocker}"
fi
ok=1
