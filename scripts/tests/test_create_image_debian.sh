#!/usr/bin/env bash
#
# test_create_image_debian.sh - tests for xdocker_create_image_debian.sh
# without a Debian mirror: debootstrap is a stub on PATH that makes a
# busybox root filesystem with an apt-get stub, so the real script runs end
# to end (base image, an sshd layer built in a booted container, export,
# --import) with the real xdocker.
#
# Usage: scripts/tests/test_create_image_debian.sh    (as root)
#
# Environment: XDOCKER (default target/debug/xdocker of this tree),
# XDOCKER_INIT or XDOCKERINIT_STATIC (default: scripts/build_static_init.sh
# debug). Needs a static /bin/busybox (busybox-static).
#
# Checks that the throw-away home takes the calling home's settings (its
# xdocker.toml, or --config FILE), and that the script removes every cgroup
# directory it made while leaving alone those that existed before.
# Prints `N passed, M failed`; exits 1 if any check failed.

set -uo pipefail

TESTS_DIR=$(dirname -- "$(readlink -f -- "$0")")
SCRIPTS_DIR=$(dirname -- "$TESTS_DIR")
TOP=$(dirname -- "$SCRIPTS_DIR")
SCRIPT=$SCRIPTS_DIR/xdocker_create_image_debian.sh
export LC_ALL=C

PASSED=0
FAILED=0
pass() {
    PASSED=$((PASSED + 1))
    printf 'ok   %s\n' "$1"
}
fail() {
    FAILED=$((FAILED + 1))
    printf 'FAIL %s\n' "$1"
    [ "$#" -lt 2 ] || printf '%s\n' "$2" | sed 's/^/     | /'
}
check_eq() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1" "$(printf 'expected:\n%s\nactual:\n%s' "$2" "$3")"
    fi
}

[ "$(id -u)" -eq 0 ] || { echo "test_create_image_debian.sh: must run as root" >&2; exit 1; }
if ! readelf -lW /bin/busybox 2>/dev/null | grep -q LOAD ||
    readelf -lW /bin/busybox 2>/dev/null | grep -q INTERP; then
    echo "test_create_image_debian.sh: needs a static /bin/busybox (busybox-static)" >&2
    exit 1
fi
XDOCKER_BIN=${XDOCKER:-$TOP/target/debug/xdocker}
[ -x "$XDOCKER_BIN" ] || { echo "no xdocker binary at $XDOCKER_BIN (cargo build)" >&2; exit 1; }
if [ -z "${XDOCKER_INIT:-}" ]; then
    XDOCKER_INIT=${XDOCKERINIT_STATIC:-$("$SCRIPTS_DIR/build_static_init.sh" debug)} || exit 1
fi
export XDOCKER_INIT XDOCKER_SHARE_DIR=$TOP
unset XDOCKER_HOME xdocker_HOME

TMP=$(mktemp -d "${TMPDIR:-/tmp}/xdocker debian test.XXXXXX") || exit 1
TAG=xdt-deb-$$
cleanup() {
    local d
    for d in /sys/fs/cgroup/"$TAG"* /sys/fs/cgroup/*/"$TAG"*; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ stubs
mkdir -p -- "$TMP/bin" "$TMP/work"
# debootstrap [--variant=V] [--include=L] SUITE TARGET MIRROR: a busybox root
# with an apt-get that "installs" a package as a file under /usr/share/doc.
cat >"$TMP/bin/debootstrap" <<'STUB'
#!/bin/sh
set -e
echo "$*" >>"$STUB_LOG"
[ -z "${STUB_FAIL:-}" ] || { echo "E: stub failure" >&2; exit 1; }
for a; do :; done
eval "target=\${$(($# - 1))}"
mkdir -p "$target/bin" "$target/etc/apt" "$target/usr/sbin" "$target/usr/bin" \
    "$target/root" "$target/tmp" "$target/var/lib/apt/lists" "$target/var/cache/apt" \
    "$target/var/log" "$target/proc" "$target/sys" "$target/dev"
cp /bin/busybox "$target/bin/busybox"
for applet in $(/bin/busybox --list-full); do
    mkdir -p "$target/$(dirname "$applet")"
    [ -e "$target/$applet" ] || ln -s /bin/busybox "$target/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$target/etc/passwd"
echo 'root:x:0:' >"$target/etc/group"
cat >"$target/usr/bin/apt-get" <<'APT'
#!/bin/sh
case "$1" in
clean | update) exit 0 ;;
esac
for p; do
    case "$p" in -* | install) continue ;; esac
    mkdir -p "/usr/share/doc/$p" && echo stub >"/usr/share/doc/$p/installed"
done
mkdir -p /etc/ssh && : >/etc/ssh/ssh_host_ed25519_key
APT
chmod 0755 "$target/usr/bin/apt-get"
STUB
chmod 0755 "$TMP/bin/debootstrap"
# xdocker, recording what a build container sees while it runs: the
# throw-away home's settings and the cgroup directories of the host.
cat >"$TMP/bin/xdocker" <<'WRAP'
#!/bin/bash
case " $* " in
*" -a run "*)
    {
        echo "== run"
        cat "$XDOCKER_HOME/xdocker.toml" 2>/dev/null
        find /sys/fs/cgroup -maxdepth 2 -type d -regextype posix-extended \
            -regex ".*/(xdocker-[0-9a-f]{6}|$TAG.*)"
        find /sys/fs/cgroup -maxdepth 3 -type d -name 'debian-build-*'
    } >>"$SEEN"
    ;;
esac
exec "$XDOCKER_BIN" "$@"
WRAP
chmod 0755 "$TMP/bin/xdocker"
export STUB_LOG=$TMP/debootstrap.log SEEN=$TMP/seen TAG XDOCKER_BIN

# Cgroup directories of the host named like this test's parents (sorted);
# other homes' (other tests running meanwhile) do not count.
cgroup_dirs() {
    find /sys/fs/cgroup -maxdepth 2 -type d -regextype posix-extended \
        -regex ".*/$TAG.*" | sort
}

# The directories of parent $1 in the cgroup tree (one per controller).
parent_dirs() {
    [ -n "$1" ] || return 0
    find /sys/fs/cgroup -maxdepth 2 -type d -name "$1" | sort
}

# The build container's cgroup directories while it ran (one per
# controller), each followed by its parent's name: `DIR PARENT`.
build_groups() {
    grep '/debian-build-[0-9]*$' "$SEEN" | awk -F/ '{ print $0, $(NF - 1) }'
}

# build_parents: the parents of the build container's groups, once each
# ("" when it had none: the check fails).
build_parents() {
    build_groups | awk '{ print $2 }' | sort -u | xargs
}

# run_script HOME ARGS...: the script with the stubs, calling home HOME.
run_script() {
    local home=$1
    shift
    : >"$SEEN"
    env PATH="$TMP/bin:$PATH" XDOCKER="$TMP/bin/xdocker" XDOCKER_HOME="$home" \
        TMPDIR="$TMP/work" "$SCRIPT" "$@"
}

# ------------------------------------------------------------ the calling home's settings
# Its cgroup parent exists already in one controller (another home's, say):
# the script must use it and leave that directory, and only that, behind.
home=$TMP/home
mkdir -p -- "$home"
printf '[cgroups]\nparent = "%s"\n' "$TAG" >"$home/xdocker.toml"
kept=
for d in /sys/fs/cgroup/pids /sys/fs/cgroup; do
    if [ -e "$d/cgroup.procs" ] || [ -e "$d/tasks" ]; then
        kept=$d/$TAG
        mkdir -- "$kept"
        break
    fi
done
before=$(cgroup_dirs)
rc=0
err=$(run_script "$home" --sshd --import -o "$TMP/out" 2>&1) || rc=$?
check_eq "settings of the calling home: exit 0" 0 "$rc"
[ "$rc" -eq 0 ] || printf '%s\n' "$err" | sed 's/^/     | /'
check_eq "both images written" "debian-sshd:12.xdockerimage debian:12.xdockerimage" \
    "$(cd "$TMP/out" && echo *)"
check_eq "the build ran with the calling home's xdocker.toml" 1 \
    "$(grep -cx "parent = \"$TAG\"" "$SEEN")"
# Other homes' parents (xdocker-TAG) may exist on the host: only where
# the build container's own groups were counts.
check_eq "the build container's cgroup was under the calling home's parent" "$TAG" \
    "$(build_parents)"
check_eq "the cgroup directories it made are removed, the one before kept" \
    "$before" "$(cgroup_dirs)"
[ -z "$kept" ] || check_eq "the parent that existed before is still there" yes \
    "$([ -d "$kept" ] && echo yes)"
check_eq "--import: the calling home has both images" "debian debian-sshd" \
    "$(XDOCKER_HOME=$home "$XDOCKER_BIN" -s images | awk 'NR > 1 { print $1 }' | sort | xargs)"
listing=$(zstd -dc "$TMP/out/debian-sshd:12.xdockerimage" 2>/dev/null | tar -tf - 2>/dev/null)
check_eq "the sshd layer holds the package and no host key" "1 0" \
    "$(grep -c 'usr/share/doc/openssh-server/installed$' <<<"$listing") $(grep -c ssh_host_ <<<"$listing")"
check_eq "no work directory left" "" "$(ls -A "$TMP/work")"
check_eq "no mount left" "" "$(grep -F "$TMP/work" /proc/self/mounts)"

# ------------------------------------------------------------ no settings: names of its own
home2=$TMP/home2
mkdir -p -- "$home2"
rc=0
err=$(run_script "$home2" --sshd -o "$TMP/out2" 2>&1) || rc=$?
check_eq "default settings: exit 0" 0 "$rc"
[ "$rc" -eq 0 ] || printf '%s\n' "$err" | sed 's/^/     | /'
check_eq "a parent of its own (xdocker-TAG), not /var/xdocker's" yes \
    "$(build_parents | grep -qx 'xdocker-[0-9a-f]\{6\}' && echo yes)"
check_eq "its parent directories are removed in every controller" "" \
    "$(parent_dirs "$(build_parents)")"

# ------------------------------------------------------------ --config FILE
printf '[cgroups]\nparent = "%s-c"\n' "$TAG" >"$TMP/other.toml"
before=$(cgroup_dirs)
rc=0
err=$(run_script "$home" --sshd --config "$TMP/other.toml" -o "$TMP/out3" 2>&1) || rc=$?
check_eq "--config: exit 0" 0 "$rc"
[ "$rc" -eq 0 ] || printf '%s\n' "$err" | sed 's/^/     | /'
check_eq "--config: its settings were used" 1 "$(grep -cx "parent = \"$TAG-c\"" "$SEEN")"
check_eq "--config: nothing left in the cgroup tree" "$before" "$(cgroup_dirs)"

# ------------------------------------------------------------ failures leave nothing
printf '[network]\nbrigde = "x"\n' >"$TMP/bad.toml"
: >"$STUB_LOG"
rc=0
err=$(run_script "$home" --config "$TMP/bad.toml" -o "$TMP/out4" 2>&1) || rc=$?
check_eq "a bad settings file: exit 1" 1 "$rc"
check_eq "a bad settings file: named before debootstrap runs" "yes " \
    "$(printf '%s\n' "$err" | grep -q 'brigde' && echo yes) $(cat "$STUB_LOG")"
rc=0
err=$(STUB_FAIL=1 run_script "$home" -o "$TMP/out5" 2>&1) || rc=$?
check_eq "debootstrap fails: exit 1 and the error line last" "1 yes" \
    "$rc $(printf '%s\n' "$err" | tail -n 1 | grep -q '^xdocker_create_image_debian.sh: error: debootstrap' && echo yes)"
check_eq "debootstrap fails: no image file, no work directory" "" \
    "$(ls -A "$TMP/out5" "$TMP/work" 2>/dev/null | grep -v ':$' | grep -v '^$')"

echo
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
