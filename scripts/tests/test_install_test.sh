#!/usr/bin/env bash
#
# test_install_test.sh - tests for xdocker_install_test.sh and
# xdocker_ldd_and_cp_lib64.sh.
#
# Usage: scripts/tests/test_install_test.sh      (as root: uses chroot)
#
# Builds the `test` image into fresh temporary directories whose names
# contain spaces, once with busybox (only if /bin/busybox is a static
# busybox) and once with the host-binaries fallback (XDOCKER_TEST_NO_BUSYBOX=1),
# runs commands inside with chroot and checks the results. Also checks that
# bad arguments are refused. Prints `N passed, M failed`; exits 1 if any
# check failed. Temporary directories are removed on exit.

# Commands run inside the chroot are single-quoted on purpose.
# shellcheck disable=SC2016

set -uo pipefail

TESTS_DIR=$(dirname -- "$(readlink -f -- "$0")")
SCRIPTS_DIR=$(dirname -- "$TESTS_DIR")
INSTALL=$SCRIPTS_DIR/xdocker_install_test.sh
LDD_AND_CP=$SCRIPTS_DIR/xdocker_ldd_and_cp_lib64.sh
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
    if [ "$#" -gt 1 ]; then
        printf '%s\n' "$2" | sed 's/^/     | /'
    fi
}

# check NAME COMMAND... : pass if COMMAND succeeds.
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1" "$(printf 'expected:\n%s\nactual:\n%s' "$2" "$3")"
    fi
}

mode_of() {
    stat -c %a -- "$1"
}

if [ "$(id -u)" -ne 0 ]; then
    echo "test_install_test.sh: must run as root (uses chroot)" >&2
    exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/xdocker install test.XXXXXX") || exit 1
cleanup() {
    rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run a command in a chroot with a clean environment.
in_chroot() {
    local root=$1
    shift
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LC_ALL=C chroot "$root" "$@"
}

# bad_arg NAME ARGS... : the installer must exit 1 with one error line.
bad_arg() {
    local name=$1 err rc=0
    shift
    err=$("$INSTALL" "$@" 2>&1 >/dev/null) || rc=$?
    if [ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
        [[ $err == "xdocker_install_test.sh: error: "* ]]; then
        pass "$name"
    else
        fail "$name" "rc=$rc stderr=$err"
    fi
}

# ------------------------------------------------------------ bad arguments
mkdir -p -- "$TMP/not empty"
touch -- "$TMP/not empty/file" "$TMP/a file"
bad_arg "refuses missing argument"
bad_arg "refuses non-existent dir" "$TMP/does not exist"
bad_arg "refuses non-empty dir" "$TMP/not empty"
bad_arg "refuses a regular file" "$TMP/a file"
bad_arg "refuses two arguments" "$TMP/x" "$TMP/y"

# ------------------------------------------------------------ ldd_and_cp
mkdir -p -- "$TMP/ldd root"
rc=0
err=$("$LDD_AND_CP" "$TMP/ldd root" no-such-binary-xdocker 2>&1 >/dev/null) || rc=$?
check_eq "ldd_and_cp: missing command -> exit 1" 1 "$rc"
check_eq "ldd_and_cp: missing command -> one error line" \
    "xdocker_ldd_and_cp_lib64.sh: error: binary not found: no-such-binary-xdocker" "$err"
rc=0
"$LDD_AND_CP" "$TMP/ldd root" ls /no/such/binary 2>/dev/null || rc=$?
check_eq "ldd_and_cp: missing path -> exit 1" 1 "$rc"
rc=0
"$LDD_AND_CP" "$TMP/ldd root" 2>/dev/null || rc=$?
check_eq "ldd_and_cp: no BINARY -> exit 1" 1 "$rc"

rc=0
out=$("$LDD_AND_CP" "$TMP/ldd root" cat 2>&1) || rc=$?
check_eq "ldd_and_cp: cat copied (exit 0)" "0 " "$rc $out"
cat_path=$(type -P cat)
check "ldd_and_cp: cat at its command path $cat_path" test -f "$TMP/ldd root$cat_path"
interp=$(readelf -lW "$cat_path" 2>/dev/null | sed -n 's/.*interpreter: \(.*\)]/\1/p')
if [ -n "$interp" ]; then
    check "ldd_and_cp: loader $interp copied" test -e "$TMP/ldd root$interp"
fi
check_eq "ldd_and_cp: copied cat runs in chroot" "hello" \
    "$(printf 'hello\n' | in_chroot "$TMP/ldd root" "$cat_path" 2>&1)"

# ------------------------------------------------------------ image checks
# test_image LABEL ROOTFS
test_image() {
    local label=$1 root=$2 out expected d rc

    for d in bin etc root tmp var/tmp var/log dev proc sys run home mnt opt; do
        if [ ! -d "$root/$d" ]; then
            fail "$label: /$d exists"
            return
        fi
    done
    pass "$label: standard directories exist"
    check_eq "$label: /tmp is 1777" 1777 "$(mode_of "$root/tmp")"
    check_eq "$label: /var/tmp is 1777" 1777 "$(mode_of "$root/var/tmp")"
    check_eq "$label: /root is 700" 700 "$(mode_of "$root/root")"
    check_eq "$label: /etc/shadow is 600" 600 "$(mode_of "$root/etc/shadow")"
    check "$label: /etc/passwd has root" \
        grep -qx 'root:x:0:0:root:/root:/bin/sh' "$root/etc/passwd"
    check "$label: /etc/passwd has nobody" grep -q '^nobody:x:65534:' "$root/etc/passwd"
    check "$label: /etc/group has root and nogroup" \
        grep -qx 'nogroup:x:65534:' "$root/etc/group"
    check "$label: root is locked in /etc/shadow" grep -q '^root:\*:' "$root/etc/shadow"
    check "$label: os-release names the image" \
        grep -q 'xdocker test image' "$root/etc/os-release"
    check "$label: /etc/profile from template" \
        cmp -s "$SCRIPTS_DIR/../templates/profile" "$root/etc/profile"
    check "$label: /root/.profile from template" \
        cmp -s "$SCRIPTS_DIR/../templates/root_profile" "$root/root/.profile"
    check_eq "$label: everything owned by root" "" \
        "$(find "$root" \( ! -uid 0 -o ! -gid 0 \) -print -quit)"

    # The main chroot check.
    rc=0
    out=$(in_chroot "$root" /bin/sh -c \
        'echo hi; ls /; cat /root/tpl.txt; hostname; id -u' 2>&1) || rc=$?
    expected=$(printf 'hi\n%s\n%s\n%s\n0' "$(cd -- "$root" && ls)" \
        '{ "leaf":"${LEAF}" }' "$(uname -n)")
    check_eq "$label: chroot /bin/sh runs (exit 0)" 0 "$rc"
    check_eq "$label: chroot output" "$expected" "$out"
    check_eq "$label: tpl.txt content (byte-exact)" \
        "$(printf '%s\n' '{ "leaf":"${LEAF}" }' | od -c)" "$(od -c <"$root/root/tpl.txt")"

    # Login shell: /etc/profile and /root/.profile are read.
    rc=0
    out=$(in_chroot "$root" /bin/sh -lc \
        'echo "$PATH"; umask; echo "$TERM"; echo "$PS1"; alias ll >/dev/null && echo alias-ok' \
        2>&1) || rc=$?
    # TERM is unset in the chroot's environment, so the profile's
    # ${TERM:-xterm} applies -- except in bash, which itself sets the shell
    # variable TERM=dumb at startup when TERM is not in the environment.
    local term=xterm
    [ "$(readlink "$root/bin/sh")" != bash ] || term=dumb
    expected=$(printf '%s\n' \
        /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        0022 "$term" "root@$(uname -n):\${PWD}# " alias-ok)
    check_eq "$label: login shell reads the profiles" "$expected" "$out"
    out=$(in_chroot "$root" env TERM=vt100 /bin/sh -lc 'echo "$TERM"' 2>&1)
    check_eq "$label: profile keeps an existing TERM" vt100 "$out"
}

# test_install LABEL [ENV=VALUE...]
test_install() {
    local label=$1 root rc=0 err
    shift
    root="$TMP/$label root fs"
    mkdir -p -- "$root"
    err=$(env "$@" "$INSTALL" "$root" 2>&1) || rc=$?
    check_eq "$label: install exits 0" 0 "$rc"
    [ -z "$err" ] || printf '     (installer stderr: %s)\n' "$err"
    [ "$rc" -eq 0 ] || return
    test_image "$label" "$root"
}

# check_busybox_commands LABEL ROOTFS BUSYBOX: every applet of BUSYBOX is a
# command in the image, and so is the tutorial's nohup (Debian's busybox
# has no nohup applet).
check_busybox_commands() {
    local label=$1 root=$2 bb=$3 out
    out=$(in_chroot "$root" /bin/sh -c \
        'for p in $1; do [ -x "/$p" ] || echo "missing /$p"; done; command -v nohup >/dev/null || echo "missing nohup"' \
        sh "$("$bb" --list-full | tr '\n' ' ')" 2>&1)
    check_eq "$label: every applet of busybox --list-full is in the image" "" "$out"
    out=$(in_chroot "$root" /bin/sh -c 'cd /tmp && nohup sh -c "kill -HUP \$\$; echo survived"' 2>&1)
    check_eq "$label: nohup runs the command immune to SIGHUP" survived "$out"
    out=$(in_chroot "$root" /bin/sh -c 'vi --help 2>&1 | head -n 1; wget --help 2>&1 | grep -c Usage' 2>&1)
    check_eq "$label: vi and wget run" "$("$bb" vi --help 2>&1 | head -n 1)
1" "$out"
}

bb_static=0
if [ -x /bin/busybox ] && readelf -lW /bin/busybox 2>/dev/null | grep -q LOAD &&
    ! readelf -lW /bin/busybox 2>/dev/null | grep -q INTERP; then
    bb_static=1
fi

if [ "$bb_static" = 1 ]; then
    test_install busybox
    root="$TMP/busybox root fs"
    if [ -d "$root" ]; then
        missing=
        for a in bin/busybox bin/sh bin/ls bin/cat bin/ps bin/hostname bin/sleep \
            bin/echo bin/mount sbin/ifconfig; do
            [ -e "$root/$a" ] || missing+=" $a"
        done
        [ -e "$root/usr/bin/nc" ] || [ -e "$root/bin/nc" ] || missing+=" nc"
        check_eq "busybox: applet links present" "" "$missing"
        n_links=$(find "$root" -type l | wc -l)
        n_applets=$(/bin/busybox --list-full | grep -vcx bin/busybox)
        check_eq "busybox: one link per applet" "$n_applets" "$n_links"
        check_eq "busybox: applets run (ps, sleep, nc)" "ok" \
            "$(in_chroot "$root" /bin/sh -c 'command -v ps >/dev/null && sleep 0 && command -v nc >/dev/null && echo ok' 2>&1)"
        check_busybox_commands busybox "$root" /bin/busybox
    fi
else
    echo "note: /bin/busybox is missing or not static: busybox variant skipped"
fi

# A dynamically linked busybox (Debian's package busybox): used too, with
# its libraries. XDOCKER_TEST_DYNAMIC_BUSYBOX names one where /bin/busybox
# is the static one (e.g. extracted from the busybox .deb).
dyn_bb=${XDOCKER_TEST_DYNAMIC_BUSYBOX:-}
if [ -z "$dyn_bb" ] && [ -x /bin/busybox ] && [ "$bb_static" = 0 ]; then
    dyn_bb=/bin/busybox
fi
if [ -n "$dyn_bb" ]; then
    test_install "dynamic busybox" XDOCKER_BUSYBOX="$dyn_bb"
    root="$TMP/dynamic busybox root fs"
    if [ -d "$root" ]; then
        check_eq "dynamic busybox: no host bash copied" "" "$(find "$root" -name bash)"
        check_busybox_commands "dynamic busybox" "$root" "$dyn_bb"
    fi
else
    echo "note: no dynamically linked busybox: that variant skipped"
fi
mkdir -p -- "$TMP/not busybox root"
rc=0
err=$(XDOCKER_BUSYBOX=/bin/true "$INSTALL" "$TMP/not busybox root" 2>&1) || rc=$?
check_eq "XDOCKER_BUSYBOX not a busybox -> exit 1, one line" \
    "1 xdocker_install_test.sh: error: XDOCKER_BUSYBOX is not a busybox that runs here: /bin/true" "$rc $err"

test_install fallback XDOCKER_TEST_NO_BUSYBOX=1
root="$TMP/fallback root fs"
if [ -d "$root" ]; then
    check_eq "fallback: no busybox in the image" "" "$(find "$root" -name busybox)"
    check_eq "fallback: /bin/sh -> bash" bash "$(readlink "$root/bin/sh")"
    out=$(in_chroot "$root" /bin/bash -c 'echo "bash-ok $BASH_VERSION"' 2>&1)
    check_eq "fallback: /bin/bash runs" "bash-ok $BASH_VERSION" "$out"
    cmds="ls cat cp mv rm mkdir ps sleep echo hostname id env grep sed mount umount stty tty uname true false head tail wc kill"
    if PATH=/usr/sbin:/usr/bin:/sbin:/bin type -P ip >/dev/null; then cmds+=" ip"; fi
    out=$(in_chroot "$root" /bin/sh -c 'for c in $1; do command -v "$c" >/dev/null || echo "missing $c"; done' sh "$cmds" 2>&1)
    check_eq "fallback: all commands present" "" "$out"
    out=$(in_chroot "$root" /bin/sh -c 'ls -ld /tmp | head -c 10; echo; echo a b | wc -w; uname -s; env | grep -c "^HOME="; true && ! false && echo tf' 2>&1)
    check_eq "fallback: copied binaries run" "$(printf 'drwxrwxrwt\n2\nLinux\n1\ntf')" "$out"
    for d in bin sbin lib lib64; do
        if [ -L "/$d" ]; then
            check_eq "fallback: merged-/usr /$d mirrored" \
                "$(readlink "/$d" | sed 's|^/||')" "$(readlink "$root/$d")"
        fi
    done
    check_eq "fallback: no symlink escapes via ../ past the root" "" \
        "$(find "$root" -type l -lname '../../../../*' -print -quit)"
fi

# Relative ROOTFS path.
mkdir -p -- "$TMP/rel dir/rel root"
rc=0
(cd -- "$TMP/rel dir" && "$INSTALL" "rel root") >/dev/null 2>&1 || rc=$?
check_eq "relative ROOTFS path: exit 0" 0 "$rc"
check "relative ROOTFS path: filled" test -f "$TMP/rel dir/rel root/root/tpl.txt"

# Templates from XDOCKER_TEMPLATES_DIR.
mkdir -p -- "$TMP/tpl dir" "$TMP/tpl root"
printf '# custom profile\n' >"$TMP/tpl dir/profile"
printf '# custom root profile\n' >"$TMP/tpl dir/root_profile"
rc=0
XDOCKER_TEMPLATES_DIR="$TMP/tpl dir" "$INSTALL" "$TMP/tpl root" >/dev/null 2>&1 || rc=$?
check_eq "XDOCKER_TEMPLATES_DIR: exit 0" 0 "$rc"
check "XDOCKER_TEMPLATES_DIR: profile used" \
    cmp -s "$TMP/tpl dir/profile" "$TMP/tpl root/etc/profile"
mkdir -p -- "$TMP/tpl root 2"
bad_arg_env() {
    local err rc=0
    err=$(XDOCKER_TEMPLATES_DIR="$TMP/no such dir" "$INSTALL" "$TMP/tpl root 2" 2>&1) || rc=$?
    check_eq "missing templates dir -> exit 1, one line" \
        "1 xdocker_install_test.sh: error: template not found: $TMP/no such dir/profile" "$rc $err"
    check_eq "missing templates dir -> ROOTFS left empty" "" \
        "$(find "$TMP/tpl root 2" -mindepth 1 -print -quit)"
}
bad_arg_env

echo
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
