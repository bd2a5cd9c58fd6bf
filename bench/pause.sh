#!/usr/bin/env bash
# Pause benchmark: `xdocker -a pause` + `-a continue` against `lxc-freeze` +
# `lxc-unfreeze`, on the busybox root filesystem of xdocker's `test` image,
# with hyperfine, side by side.
#
#   bench/pause.sh [SECTION...]     sections: idle ticking (default: both)
#
#   idle      both containers idle (an xdockerinit, a busybox init):
#               round trip   sh -c 'xdocker -a pause -c C && xdocker -a continue -c C'
#                            sh -c 'lxc-freeze -n L && lxc-unfreeze -n L'
#                            sh -c 'true && true'       (the shell's own cost, a floor)
#               pause alone  xdocker -a pause -c C      (prepare: xdocker -a continue -c C)
#                            lxc-freeze -n L            (prepare: lxc-unfreeze -n L)
#               continue     xdocker -a continue -c C   (prepare: xdocker -a pause -c C)
#                            lxc-unfreeze -n L          (prepare: lxc-freeze -n L)
#   ticking   the same with a ticker in each container (a shell appending a
#             line to /tmp/ticks every 10 ms), so that a freeze meets a
#             process that forks and sleeps
#
# Target: the xdocker round trip faster than LXC's (ratio < 1).
#
# Environment:
#   RUNS=100 WARMUP=10       hyperfine --runs / --warmup
#   LXC_NET=none             lxc.net.0.type of the LXC container (none = host
#                            network, like the xdocker container here)
#   BENCH_DIR=/tmp RESULTS_DIR=bench/results TAG=
#   XDOCKER=path XDOCKER_INIT=path   use these binaries instead of building
#   KEEP=1                   keep the temporary directory
#   STRICT=1                 exit 3 when the target is missed
#   WAIT_IDLE=N              wait up to N s for the load average to drop below 0.5
#                            before each hyperfine run (default 0)
#
# Needs root, hyperfine and lxc (installed with apt-get when missing).
# Never touches /var/xdocker. Everything it starts (the xdocker container, the
# LXC container) is ended by the PIDs and names it recorded, never by process
# name, and removed on exit, frozen or not.
set -euo pipefail

self=$(readlink -f "${BASH_SOURCE[0]}")
here=$(dirname "$self")
repo=$(dirname "$here")

RUNS=${RUNS:-100}
WARMUP=${WARMUP:-10}
LXC_NET=${LXC_NET:-none}
BENCH_DIR=${BENCH_DIR:-/tmp}
RESULTS_DIR=${RESULTS_DIR:-$here/results}
TAG=${TAG:-}
KEEP=${KEEP:-0}
STRICT=${STRICT:-0}
WAIT_IDLE=${WAIT_IDLE:-0}
sections=("$@")
((${#sections[@]})) || sections=(idle ticking)

BENCH_NAME="pause bench"
# shellcheck source=lib.sh
. "$here/lib.sh"
for s in "${sections[@]}"; do
    case $s in idle | ticking) ;; *) die "unknown section $s" ;; esac
done
[[ $(id -u) == 0 ]] || die "run as root"
[[ $RUNS =~ ^[0-9]+$ && $WARMUP =~ ^[0-9]+$ ]] && ((RUNS >= 2)) || die "RUNS (>= 2) and WARMUP must be integers"
case $LXC_NET in empty | none) ;; *) die "LXC_NET must be empty or none" ;; esac

# ---------------------------------------------------------------- tools
bench_install_missing hyperfine:hyperfine lxc-freeze:lxc
bench_need python3

# ---------------------------------------------------------------- build
bench_static_binaries

# ---------------------------------------------------------------- temp dir
bench_temp_dir xdocker-pause
bench_random_id
CGP=xdocker-bench-$RID
LXCP=$T/lxc
LXC=xdb$RID-p
C=frost
pre=pause${TAG:+-$TAG}
bench_lxc_note_pivot
bench_private_home "$CGP"

# Kill first (a paused container is thawed for it), then remove.
cleanup() {
    set +e
    trap - EXIT INT TERM
    bench_kill_container "$C"
    [[ -d $XDOCKER_HOME/containers/$C ]] && "$XD" -a destroy -c "$C" -f >/dev/null 2>&1
    bench_lxc_remove "$LXC" "$LXCP"
    bench_remove_cgroups "$CGP"
    bench_remove_temp
    if compgen -G "/sys/fs/cgroup/*/$CGP" >/dev/null; then
        echo "pause bench: WARNING: cgroups left: $(echo /sys/fs/cgroup/*/"$CGP")" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

loads=()
cmds_file=$RESULTS_DIR/$pre-commands.txt
: >"$cmds_file"
note() { printf '%s\n' "$@" >>"$cmds_file"; }

# ---------------------------------------------------------------- containers
log "xdocker: install_test, create, boot"
"$XD" -a install_test >/dev/null
ROOTFS=$XDOCKER_HOME/images/test/_/rlayer
[[ -x $ROOTFS/bin/busybox ]] || die "no busybox root file system at $ROOTFS"
"$XD" -a create -m test -c "$C" >/dev/null
"$XD" -a boot -c "$C" >/dev/null

# LXC: busybox init as PID 1; an /etc/inittab with only a sysinit line keeps
# it idle (as in bench/runtime.sh).
log "lxc: an idle busybox container ($LXC, lxc.net.0.type = $LXC_NET)"
bench_lxc_config "$LXC"
bench_lxc_idle_inittab "$LXC"
bench_lxc_start "$LXC"

qXD=$(q "$XD"); qLXCP=$(q "$LXCP")
x_pause="$qXD -a pause -c $C"
x_cont="$qXD -a continue -c $C"
l_pause="lxc-freeze -n $LXC -P $qLXCP"
l_cont="lxc-unfreeze -n $LXC -P $qLXCP"

x_status() { "$XD" -s containers | awk -v c="$C" '$1 == c { print $NF }'; }
l_status() { lxc-info -n "$LXC" -P "$LXCP" -s -H; }
log "smoke test"
"$XD" -a pause -c "$C" >/dev/null || die "xdocker -a pause failed"
[[ $(x_status) == PAUSED* ]] || die "xdocker: not PAUSED after pause: $(x_status)"
"$XD" -a continue -c "$C" >/dev/null || die "xdocker -a continue failed"
[[ $(x_status) == RUNNING* ]] || die "xdocker: not RUNNING after continue: $(x_status)"
lxc-freeze -n "$LXC" -P "$LXCP" || die "lxc-freeze failed"
[[ $(l_status) == FROZEN ]] || die "lxc: not FROZEN after lxc-freeze: $(l_status)"
lxc-unfreeze -n "$LXC" -P "$LXCP" || die "lxc-unfreeze failed"
[[ $(l_status) == RUNNING ]] || die "lxc: not RUNNING after lxc-unfreeze: $(l_status)"

summary=()
missed=0

# One section: round trip, pause alone, continue alone.
measure() { # SECTION
    local s=$1 j
    note "# $s" "xdocker round trip: sh -c '$x_pause >/dev/null && $x_cont >/dev/null'" \
        "lxc round trip    : sh -c '$l_pause && $l_cont'" \
        "xdocker pause: $x_pause (prepare: $x_cont)" "lxc pause: $l_pause (prepare: $l_cont)" \
        "xdocker continue: $x_cont (prepare: $x_pause)" "lxc continue: $l_cont (prepare: $l_pause)"
    wait_idle "$s"
    log "$s: round trip, hyperfine --runs $RUNS --warmup $WARMUP"
    j=$RESULTS_DIR/$pre-$s-roundtrip
    hyperfine --style basic -N --warmup "$WARMUP" --runs "$RUNS" \
        --export-json "$j.json" --export-markdown "$j.md" \
        -n "xdocker pause + continue" "sh -c '$x_pause >/dev/null && $x_cont >/dev/null'" \
        -n "lxc-freeze + lxc-unfreeze" "sh -c '$l_pause && $l_cont'" \
        -n "sh -c 'true && true' (floor)" "sh -c 'true && true'" >&2
    local xr lr fr
    xr=$(median_ms "$j.json" 0); lr=$(median_ms "$j.json" 1); fr=$(median_ms "$j.json" 2)
    log "$s: each step alone"
    j=$RESULTS_DIR/$pre-$s-steps
    # A prepare refused (continue of a running container) is no error.
    prep() { printf "sh -c '%s >/dev/null 2>&1; true'" "$1"; }
    hyperfine --style basic -N --warmup "$WARMUP" --runs "$RUNS" \
        --export-json "$j.json" --export-markdown "$j.md" \
        -n "xdocker -a pause" --prepare "$(prep "$x_cont")" "$x_pause" \
        -n "lxc-freeze" --prepare "$(prep "$l_cont")" "$l_pause" \
        -n "xdocker -a continue" --prepare "$(prep "$x_pause")" "$x_cont" \
        -n "lxc-unfreeze" --prepare "$(prep "$l_pause")" "$l_cont" >&2
    # The last prepare left both frozen for the last run of each; thaw.
    "$XD" -a continue -c "$C" >/dev/null 2>&1 || true
    lxc-unfreeze -n "$LXC" -P "$LXCP" >/dev/null 2>&1 || true
    local xp lp xc lc
    xp=$(median_ms "$j.json" 0); lp=$(median_ms "$j.json" 1)
    xc=$(median_ms "$j.json" 2); lc=$(median_ms "$j.json" 3)
    summary+=("$s round trip (median): xdocker ${xr} ms, lxc ${lr} ms, ratio xdocker/lxc $(ratio "$xr" "$lr") (sh floor ${fr} ms)")
    summary+=("$s pause (median): xdocker ${xp} ms, lxc-freeze ${lp} ms, ratio $(ratio "$xp" "$lp")")
    summary+=("$s continue (median): xdocker ${xc} ms, lxc-unfreeze ${lc} ms, ratio $(ratio "$xc" "$lc")")
    if awk -v x="$xr" -v l="$lr" 'BEGIN { exit !(x < l) }'; then
        summary+=("$s target round trip faster than LXC: met")
    else
        summary+=("$s target round trip faster than LXC: MISSED")
        missed=1
    fi
}

for s in "${sections[@]}"; do
    if [[ $s == ticking ]]; then
        log "a ticker in each container"
        tick='i=0; while :; do i=$((i+1)); echo $i >> /tmp/ticks; sleep 0.01; done'
        "$XD" -a run -c "$C" --cmd "($tick) >/dev/null 2>&1 &" </dev/null >/dev/null
        lxc-attach -n "$LXC" -P "$LXCP" -- /bin/sh -c "($tick) >/dev/null 2>&1 </dev/null &" </dev/null
        sleep 0.5
        [[ -s $LXCP/$LXC/rootfs/tmp/ticks ]] || die "the LXC ticker does not tick"
    fi
    measure "$s"
done

# ---------------------------------------------------------------- summary
{
    echo "pause benchmark, $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r), RUNS=$RUNS WARMUP=$WARMUP"
    echo "xdocker $("$XD" -v | cut -d' ' -f2), $(lxc-freeze --version 2>&1 | sed 's/^/lxc /'), cgroup $([[ -d /sys/fs/cgroup/freezer ]] && echo v1 || echo v2)"
    printf '%s\n' "${loads[@]}"
    printf '%s\n' "${summary[@]}"
} | tee "$RESULTS_DIR/$pre-summary.txt" >&2
((STRICT && missed)) && exit 3
exit 0
