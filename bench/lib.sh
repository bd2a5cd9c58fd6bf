# bench/lib.sh - the preamble and clean-up pieces the shell benchmarks share.
# Sourced (not run) by bench/*.sh after they set BENCH_NAME (the prefix of
# their error messages) and repo (the top of this checkout):
#
#   BENCH_NAME="pause bench"
#   . "$here/lib.sh"
#
# Nothing here runs at source time; each piece is a function the script
# calls where it always did, so a script still reads top to bottom. The
# functions set the script's usual globals (XDOCKER, XDOCKER_INIT, T, RID,
# XD, XDOCKER_HOME, ...) and leave the clean-up trap to the script, which
# calls the bench_remove_* / bench_stop_* helpers from it.
# shellcheck shell=bash
# The globals below belong to the sourcing script (sections, repo, BENCH_DIR,
# ...) or are set here for it (T, RID, XD, ...):
# shellcheck disable=SC2154,SC2034

# die MESSAGE: "$BENCH_NAME: MESSAGE" on stderr, exit 1.
die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
# log MESSAGE: a progress line on stderr.
log() { echo "== $*" >&2; }
# want SECTION: whether SECTION is in the script's sections array.
want() { local s; for s in "${sections[@]}"; do [[ $s == "$1" ]] && return 0; done; return 1; }
# q WORD: WORD quoted for the command strings hyperfine hands to sh.
q() { printf '%q' "$1"; }

# bench_install_missing COMMAND:PACKAGE...: apt-get install the packages
# whose command is missing (apt-get update first only if that fails).
bench_install_missing() {
    local pair pkgs=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || pkgs+=("${pair#*:}")
    done
    ((${#pkgs[@]})) || return 0
    log "installing ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" >/dev/null 2>&1; } ||
        die "could not install ${pkgs[*]}"
}

# bench_need COMMAND...: die unless every COMMAND is there.
bench_need() {
    local t
    for t in "$@"; do command -v "$t" >/dev/null || die "$t is required"; done
}

# bench_static_init: XDOCKER_INIT, unless given, built by
# scripts/build_static.sh xdockerinit release.
bench_static_init() {
    if [[ -z ${XDOCKER_INIT:-} ]]; then
        log "scripts/build_static.sh xdockerinit release"
        XDOCKER_INIT=$("$repo/scripts/build_static.sh" xdockerinit release) || die "build_static.sh xdockerinit failed"
    fi
}

# bench_static_binaries: XDOCKER and XDOCKER_INIT, unless given, built by
# scripts/build_static.sh ... release; checked; XDOCKER_SHARE_DIR defaults
# to this checkout (install_test's scripts/ and templates/).
bench_static_binaries() {
    if [[ -z ${XDOCKER:-} ]]; then
        log "scripts/build_static.sh xdocker release"
        XDOCKER=$("$repo/scripts/build_static.sh" xdocker release) || die "build_static.sh xdocker failed"
    fi
    bench_static_init
    [[ -x $XDOCKER && -x $XDOCKER_INIT ]] || die "no xdocker ($XDOCKER) or xdockerinit ($XDOCKER_INIT)"
    export XDOCKER_SHARE_DIR=${XDOCKER_SHARE_DIR:-$repo}
}

# bench_release_xdocker [CARGO-ARGS...]: XDOCKER, unless given, built by
# `cargo build --release --quiet CARGO-ARGS` (a dynamically linked xdocker;
# xdocker_built=1 then).
# shellcheck disable=SC2120 # CARGO-ARGS are optional
bench_release_xdocker() {
    if [[ -z ${XDOCKER:-} ]]; then
        log "cargo build --release${*:+ $*}"
        (cd "$repo" && cargo build --release --quiet "$@") || die "cargo build --release failed"
        XDOCKER=$repo/target/release/xdocker
        xdocker_built=1
    fi
    [[ -x $XDOCKER ]] || die "no xdocker binary at $XDOCKER"
}

# bench_temp_dir NAME: T = a new world-readable $BENCH_DIR/NAME.XXXXXX;
# RESULTS_DIR made too (if the script has one).
bench_temp_dir() {
    mkdir -p "$BENCH_DIR" ${RESULTS_DIR:+"$RESULTS_DIR"}
    T=$(mktemp -d "$BENCH_DIR/$1.XXXXXX")
    chmod 755 "$T"
}

# bench_random_id: RID = 8 random hex digits (names of cgroups, LXC containers).
bench_random_id() { RID=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n'); }

# bench_refuse_var_xdocker DIR: die if DIR is (in) /var/xdocker, the host's
# own xdocker home that a benchmark must never touch.
bench_refuse_var_xdocker() {
    case $(realpath -m "$1") in /var/xdocker | /var/xdocker/*) die "refusing XDOCKER_HOME=$1" ;; esac
}

# bench_private_home CGROUP-PARENT [TOML...]: private copies XD=$T/xdocker and
# $T/xdockerinit (a rebuild of target/ mid-run cannot change them), exported
# XDOCKER_HOME=$T/home and XDOCKER_INIT, and an xdocker.toml with the cgroup
# parent and any further TOML lines.
bench_private_home() {
    local cgp=$1
    shift
    XD=$T/xdocker
    cp "$XDOCKER" "$XD"
    cp "$XDOCKER_INIT" "$T/xdockerinit"
    export XDOCKER_HOME=$T/home XDOCKER_INIT=$T/xdockerinit
    bench_refuse_var_xdocker "$XDOCKER_HOME"
    mkdir -p "$XDOCKER_HOME"
    printf '[cgroups]\nparent = "%s"\n' "$cgp" >"$XDOCKER_HOME/xdocker.toml"
    (($#)) && printf '%s\n' "$@" >>"$XDOCKER_HOME/xdocker.toml"
    return 0
}

# bench_container_pid NAME: the PID recorded in container NAME's state.toml.
bench_container_pid() {
    sed -n 's/^pid = \([0-9]*\)$/\1/p' "$XDOCKER_HOME/containers/$1/state.toml" 2>/dev/null
}

# bench_kill_container NAME: `xdocker -a kill`, then SIGKILL its recorded PID
# if that is still our xdockerinit (never a process found by name).
# A frozen v1 freezer cgroup under CGP is thawed first.
bench_kill_container() {
    local c=$1 pid f
    [[ -f $XDOCKER_HOME/containers/$c/state.toml ]] || return 0
    "$XD" -a kill -c "$c" >/dev/null 2>&1
    pid=$(bench_container_pid "$c")
    if [[ -n $pid && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$T/xdockerinit"* ]]; then
        f=/sys/fs/cgroup/freezer/${CGP:-}/$c/freezer.state
        [[ -f $f ]] && echo THAWED >"$f"
        kill -KILL "$pid" 2>/dev/null
    fi
    return 0
}

# bench_remove_containers: kill and destroy every container of XDOCKER_HOME.
bench_remove_containers() {
    local d
    [[ -n ${XDOCKER_HOME:-} ]] || return 0
    for d in "$XDOCKER_HOME"/containers/*/; do
        [[ -d $d ]] || continue
        bench_kill_container "$(basename "$d")"
        "$XD" -a destroy -c "$(basename "$d")" >/dev/null 2>&1
    done
    return 0
}

# bench_remove_home_network: remove the bridge and nft table that xdocker
# names after a private XDOCKER_HOME ("xdocker-" and 6 hex digits of the MD5
# of its path, src/config.rs) when xdocker.toml names none of its own.
bench_remove_home_network() {
    local name
    [[ -n ${XDOCKER_HOME:-} ]] || return 0
    name=xdocker-$(printf %s "$(realpath -m "$XDOCKER_HOME")" | md5sum | cut -c1-6)
    ip link del "$name" 2>/dev/null
    nft delete table ip "$name" 2>/dev/null
    return 0
}

# bench_remove_cgroups NAME...: remove the cgroup trees /sys/fs/cgroup/*/NAME
# (NAME may be a glob pattern).
bench_remove_cgroups() {
    local n c
    for n in "$@"; do
        # shellcheck disable=SC2231 # NAME's glob is meant
        for c in /sys/fs/cgroup/*/$n; do
            [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
        done
    done
    return 0
}

# bench_lxc_note_pivot: remember whether LXC's lxc.pivot cgroups existed
# before this run (bench_lxc_remove removes them only if not).
bench_lxc_note_pivot() {
    lxc_pivot_existed=0
    compgen -G "/sys/fs/cgroup/*/lxc.pivot" >/dev/null && lxc_pivot_existed=1
    return 0
}

# bench_lxc_remove NAME PATH: stop LXC container NAME of lxcpath PATH (thawed
# first) and remove its cgroups, and the lxc.pivot ones this run made.
bench_lxc_remove() {
    if [[ -d $2/$1 ]]; then
        lxc-unfreeze -n "$1" -P "$2" >/dev/null 2>&1
        lxc-stop -k -n "$1" -P "$2" >/dev/null 2>&1
    fi
    bench_remove_cgroups "lxc.payload.$1" "lxc.monitor.$1"
    bench_lxc_remove_pivot
}

# bench_lxc_remove_pivot: remove the lxc.pivot cgroups if this run made them.
bench_lxc_remove_pivot() {
    local c
    if ((!${lxc_pivot_existed:-1})); then
        for c in /sys/fs/cgroup/*/lxc.pivot; do [[ -d $c ]] && rmdir "$c" 2>/dev/null; done
    fi
    return 0
}

# bench_unmount_under DIR: unmount every mount point below DIR, deepest first
# (what an interrupted peer tool left mounted there).
bench_unmount_under() {
    local m
    awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    return 0
}

# bench_mask_v2_controllers: crun refuses a hybrid cgroup layout whose v2
# half has controllers; bind an empty file over its cgroup.controllers. Only
# in the private mount namespace the script runs itself in (unshare -m).
# Sets v2_ctrls (the controllers masked, or empty).
bench_mask_v2_controllers() {
    v2_ctrls=$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null || true)
    if [[ -n $v2_ctrls ]]; then
        : >"$T/empty"
        mount --bind "$T/empty" /sys/fs/cgroup/unified/cgroup.controllers
        log "masked /sys/fs/cgroup/unified/cgroup.controllers ($v2_ctrls) in this mount namespace for crun"
    fi
}

# bench_lxc_config NAME [LINE...]: LXC container NAME under $LXCP: a copy of
# $ROOTFS, busybox init as PID 1, lxc.net.0.type $LXC_NET, no ttys, and any
# further config LINEs.
bench_lxc_config() {
    local name=$1
    shift
    mkdir -p "$LXCP/$name"
    cp -a "$ROOTFS" "$LXCP/$name/rootfs"
    cat >"$LXCP/$name/config" <<EOF
lxc.uts.name = $name
lxc.rootfs.path = dir:$LXCP/$name/rootfs
lxc.net.0.type = $LXC_NET
lxc.apparmor.profile = unconfined
lxc.autodev = 1
lxc.mount.auto = proc:mixed sys:ro
lxc.tty.max = 0
EOF
    (($#)) && printf '%s\n' "$@" >>"$LXCP/$name/config"
    echo "lxc.init.cmd = /sbin/init" >>"$LXCP/$name/config"
}

# bench_lxc_idle_inittab NAME: an /etc/inittab with only a sysinit line, so
# that busybox init stays idle (instead of respawning "askfirst" shells on
# ttys that do not exist).
bench_lxc_idle_inittab() { printf '::sysinit:/bin/true\n' >"$LXCP/$1/rootfs/etc/inittab"; }

# bench_lxc_start NAME: lxc-start -d, then wait until it is RUNNING.
bench_lxc_start() {
    lxc-start -d -n "$1" -P "$LXCP" || die "lxc-start failed"
    lxc-wait -n "$1" -P "$LXCP" -s RUNNING -t 10 || die "lxc container did not start"
}

# bench_make_tree IMAGE-DIR: SIZE_MB of an OS-like tree (make_tree.py) as
# IMAGE-DIR/rlayer, and the image.toml an xdocker-made image carries (without
# it every export would first walk the tree once more to compute the size);
# sets tree_bytes and tree_files.
bench_make_tree() {
    local layer=$1/rlayer
    log "generating a ${SIZE_MB} MB tree in $layer"
    python3 "$here/make_tree.py" "$layer" "$SIZE_MB" >&2
    tree_bytes=$(du -sb --apparent-size "$layer" | cut -f1)
    tree_files=$(find "$layer" -type f | wc -l)
    cat >"$1/image.toml" <<EOF
name = "bench"
version = "1"
created = "2024-01-01T00:00:00+00:00"
size = $tree_bytes
base_layers = []
source = "directory"
EOF
}

# bench_boot_times PREFIX N FILE: boot containers PREFIX1..PREFIXN one after
# another, each boot's wall time in microseconds a line of FILE.
bench_boot_times() {
    local i t0 t1
    : >"$3"
    for i in $(seq 1 "$2"); do
        t0=$(date +%s%N)
        "$XD" -a boot -c "$1$i" >/dev/null
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000)) >>"$3"
    done
}

# bench_remove_temp: rm -rf $T, or keep it and say so with KEEP=1.
bench_remove_temp() {
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "$BENCH_NAME: kept $T" >&2
    else
        rm -rf -- "$T"
    fi
}

# wait_idle LABEL: wait up to WAIT_IDLE s for the load average to drop below
# 0.5, then record "LABEL: load ..." in the loads array.
wait_idle() {
    local waited=0 l
    while l=$(cut -d' ' -f1 /proc/loadavg); awk -v l="$l" 'BEGIN { exit !(l >= 0.5) }' &&
        ((waited < WAIT_IDLE)); do
        ((waited == 0)) && log "waiting up to ${WAIT_IDLE}s for load $l to drop below 0.5"
        sleep 10
        waited=$((waited + 10))
    done
    loads+=("$1: load $(cut -d' ' -f1-3 /proc/loadavg)")
}

# median_ms JSON INDEX: the median of command INDEX of a hyperfine JSON export, in ms.
median_ms() {
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print("%.2f" % (r["median"]*1000))' "$1" "$2"
}

# ratio A B: A / B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# bench_built_from: the line saying which xdocker was measured (given, or
# built from this checkout's HEAD).
bench_built_from() {
    if [[ -z ${xdocker_built:-} ]]; then
        echo "xdocker: binary given as XDOCKER=$XDOCKER${XDOCKER_REV:+ (built from $XDOCKER_REV)}"
    else
        echo "xdocker: built from $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo ?)$(cd "$repo" && git diff --quiet HEAD -- src 2>/dev/null || echo ' (+ uncommitted changes in src/)')"
    fi
}
