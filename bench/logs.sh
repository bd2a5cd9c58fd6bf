#!/usr/bin/env bash
# Console log benchmark (issue 19, item 2), with hyperfine.
#
#   bench/logs.sh [SECTION...]      sections: write tail (default: both)
#
#   write   a -e main process writing SIZE_MB to stdout, one hyperfine run
#           per producer, side by side (the boot and stop are in every one):
#             log    xdocker -a boot -c C -e 'GEN'              (stdout logged
#                    by xdockerinit, [logs] defaults 10M x 5, and copied to
#                    xdocker's stdout, /dev/null here)
#             null   xdocker -a boot -c C -e 'GEN > /dev/null'
#             file   xdocker -a boot -c C -e 'GEN > /tmp/out'   (a file in the
#                    container's writable layer, on the same file system as
#                    the log)
#           producers (PRODUCERS="lines zero short"): lines = 100-byte
#           lines (yes LINE | head -c), each a record of its own; zero =
#           /dev/zero, no newline at all (records of 16 KiB pieces: the
#           copy's own cost); short = `yes`, two-byte lines, the worst case
#           (each becomes a 41-byte record, 20 times the bytes).
#   tail    `xdocker -s logs -c C --tail 100` on a 1 GB log (made by
#           python in the record format), against coreutils `tail -n 100` of
#           the same file.
#
# Targets: log under 1.3x of file; --tail 100 on 1 GB under 20 ms.
#
# Environment: RUNS=5 WARMUP=1 (write), TRUNS=50 TWARMUP=5 (tail),
#   PRODUCERS="lines zero short",
#   SIZE_MB=200, LOG_MB=1024, BENCH_DIR=/tmp, RESULTS_DIR=bench/results, TAG=,
#   XDOCKER=path XDOCKER_INIT=path (else built with scripts/build_static.sh),
#   KEEP=1 keeps the temporary directory.
# Never touches /var/xdocker; the container it makes is destroyed on exit.
set -euo pipefail

self=$(readlink -f "${BASH_SOURCE[0]}")
here=$(dirname "$self")
repo=$(dirname "$here")

RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
TRUNS=${TRUNS:-50}
TWARMUP=${TWARMUP:-5}
SIZE_MB=${SIZE_MB:-200}
LOG_MB=${LOG_MB:-1024}
PRODUCERS=${PRODUCERS:-lines zero short}
BENCH_DIR=${BENCH_DIR:-/tmp}
RESULTS_DIR=${RESULTS_DIR:-$here/results}
TAG=${TAG:-}
KEEP=${KEEP:-0}
sections=("$@")
((${#sections[@]})) || sections=(write tail)

BENCH_NAME="logs bench"
# shellcheck source=lib.sh
. "$here/lib.sh"
for s in "${sections[@]}"; do
    case $s in write | tail) ;; *) die "unknown section $s" ;; esac
done
[[ $(id -u) == 0 ]] || die "run as root"
[[ $SIZE_MB =~ ^[0-9]+$ && $LOG_MB =~ ^[0-9]+$ ]] || die "SIZE_MB and LOG_MB must be integers"
bench_install_missing hyperfine:hyperfine
bench_need python3

bench_static_binaries

bench_temp_dir xdocker-logs
bench_random_id
CGP=xdocker-bench-$RID
bench_private_home "$CGP"
pre=logs${TAG:+-$TAG}

cleanup() {
    set +e
    trap - EXIT INT TERM
    local c
    for c in w t; do
        [[ -d $XDOCKER_HOME/containers/$c ]] && "$XD" -a destroy -c "$c" -h -f >/dev/null 2>&1
    done
    bench_remove_cgroups "$CGP"
    bench_remove_temp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$XD" -a install_test >/dev/null
summary=$RESULTS_DIR/$pre-summary.txt
{
    echo "# bench/logs.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# xdocker $("$XD" -v), $("$T/xdockerinit" -v)"
} >"$summary"

# mean of command N of a hyperfine json export
mean() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][int(sys.argv[2])]['mean'])" "$1" "$2"; }

if want write; then
    "$XD" -a create -m test -c w >/dev/null
    bytes=$((SIZE_MB << 20))
    line=$(printf '%099d' 0)
    for producer in $PRODUCERS; do
        case $producer in
        lines) gen="yes $line | head -c $bytes" ;;
        zero) gen="head -c $bytes /dev/zero" ;;
        short) gen="yes | head -c $bytes" ;;
        *) die "unknown producer $producer" ;;
        esac
        log "write: $producer ($SIZE_MB MB)"
        out=$RESULTS_DIR/$pre-write-$producer
        hyperfine --runs "$RUNS" --warmup "$WARMUP" -N \
            --export-json "$out.json" --export-markdown "$out.md" \
            -n log "$XD -a boot -c w -e '$gen'" \
            -n null "$XD -a boot -c w -e '$gen > /dev/null'" \
            -n file "$XD -a boot -c w -e '$gen > /tmp/out'" \
            --output=null >&2
        l=$(mean "$out.json" 0) n=$(mean "$out.json" 1) f=$(mean "$out.json" 2)
        python3 - "$producer" "$l" "$n" "$f" >>"$summary" <<'EOF'
import sys
p, l, n, f = sys.argv[1], *map(float, sys.argv[2:])
print(f"write {p}: log {l*1000:.0f} ms, /dev/null {n*1000:.0f} ms, file {f*1000:.0f} ms; "
      f"log/file {l/f:.2f}x (target < 1.3x), log/null {l/n:.2f}x")
EOF
        ls -l "$XDOCKER_HOME/containers/w/log" >>"$summary"
    done
fi

if want tail; then
    "$XD" -a create -m test -c t >/dev/null
    dir=$XDOCKER_HOME/containers/t/log
    mkdir -p "$dir"
    log "tail: making a $LOG_MB MB log"
    python3 - "$dir/console.0" "$LOG_MB" <<'EOF'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
block = bytearray()
for i in range(10000):
    stream = ("stdout", "stderr", "console")[i % 3]
    block += b"2026-12-01T10:%02d:%02d.%09dZ %s F request %06d served in %d ms by worker %d\n" % (
        i // 3600 % 60, i // 60 % 60, i, stream.encode(), i, i % 97, i % 8)
with open(path, "wb") as f:
    for _ in range((mb << 20) // len(block)):
        f.write(block)
EOF
    hyperfine --runs "$TRUNS" --warmup "$TWARMUP" -N \
        --export-json "$RESULTS_DIR/$pre-tail.json" --export-markdown "$RESULTS_DIR/$pre-tail.md" \
        -n "xdocker --tail 100" "$XD -s logs -c t --tail 100" \
        -n "tail -n 100" "tail -n 100 $dir/console.0" \
        -n "xdocker -v" "$XD -v" \
        --output=null >&2
    x=$(mean "$RESULTS_DIR/$pre-tail.json" 0) c=$(mean "$RESULTS_DIR/$pre-tail.json" 1) v=$(mean "$RESULTS_DIR/$pre-tail.json" 2)
    python3 - "$x" "$c" "$v" "$(stat -c %s "$dir/console.0")" >>"$summary" <<'EOF'
import sys
x, c, v, size = *map(float, sys.argv[1:4]), int(sys.argv[4])
print(f"tail: -s logs --tail 100 on {size/2**20:.0f} MiB: {x*1000:.1f} ms (target < 20 ms); "
      f"coreutils tail -n 100 {c*1000:.1f} ms; xdocker -v {v*1000:.1f} ms")
EOF
fi
cat "$summary"
