#!/usr/bin/env bash
# Export/import benchmark: xdocker vs tar|zstd vs tar czf, with hyperfine.
#
#   bench/export_import.sh [SIZE_MB]          (default 500)
#
# Environment:
#   RUNS=5 WARMUP=1      hyperfine --runs / --warmup
#   BENCH_DIR=/tmp       where the temporary tree, XDOCKER_HOME and archives go
#   RESULTS_DIR=bench/results
#   XDOCKER=path         use this binary instead of building target/release/xdocker
#                        (XDOCKER_REV=text: what it was built from, for the summary)
#   EXTRA=1              also time "tar|zstd + fsync" on export (xdocker fsyncs
#                        its archive before renaming it into place; tar|zstd does not)
#   IMPORT_MODE=fresh    how each import run gets rid of the previous run's result
#                        (untimed, in hyperfine --prepare):
#                          fresh  (default) rename it aside (into $T/grave), then sync
#                          delete xdocker -a del_image -m imp:1 / rm -rf $T/out, then sync
#                        "delete" is what a user does, but on ext4 *without a
#                        journal* (this VM's /) every inode freed in the last
#                        60-300 s is skipped one by one by the inode allocator
#                        (fs/ext4/ialloc.c recently_deleted()), so the next
#                        extraction of 20,000 files spends most of its time in
#                        the kernel, for xdocker and tar alike: both look equal
#                        and slow, and the times grow run after run.
#   KEEP=1               keep the temporary directory (its path is printed)
#   STRICT=1             exit 3 when a target is missed
#   WAIT_IDLE=N          before each hyperfine, wait up to N seconds for the machine
#                        to be idle: CPU pressure (/proc/pressure/cpu "some avg10")
#                        below 5 %, or without PSI the 1-minute load average below
#                        0.5 (other builds on a 2-core box make the numbers
#                        meaningless); default 0 = don't wait
#
# Never touches /var/xdocker: XDOCKER_HOME is a fresh directory below BENCH_DIR.
set -euo pipefail

SIZE_MB=${1:-${SIZE_MB:-500}}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
BENCH_DIR=${BENCH_DIR:-/tmp}
EXTRA=${EXTRA:-0}
KEEP=${KEEP:-0}
IMPORT_MODE=${IMPORT_MODE:-fresh}
WAIT_IDLE=${WAIT_IDLE:-0}
STRICT=${STRICT:-0}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
RESULTS_DIR=${RESULTS_DIR:-$here/results}

BENCH_NAME="export_import"
# shellcheck source=lib.sh
. "$here/lib.sh"

[[ $SIZE_MB =~ ^[0-9]+$ ]] && (( SIZE_MB >= 8 )) || die "SIZE_MB must be an integer >= 8"
[[ $RUNS =~ ^[0-9]+$ && $WARMUP =~ ^[0-9]+$ ]] && (( RUNS >= 1 )) || die "RUNS/WARMUP must be integers, RUNS >= 1"
case $IMPORT_MODE in fresh | delete) ;; *) die "IMPORT_MODE must be fresh or delete" ;; esac

# ---------------------------------------------------------------- tools
bench_install_missing hyperfine:hyperfine
for t in tar zstd gzip python3; do
    command -v "$t" >/dev/null || die "$t is required"
done

# ---------------------------------------------------------------- space
mkdir -p "$BENCH_DIR"
# tree + three archives (<= tree each) + the imports: one xdocker and one tar
# extraction per run, all kept until the end with IMPORT_MODE=fresh
if [[ $IMPORT_MODE == fresh ]]; then
    copies=$(( 2 * (RUNS + WARMUP) ))
else
    copies=3
fi
need_kb=$(( (SIZE_MB * (4 + copies) + 1024) * 1024 ))
avail_kb=$(df -Pk "$BENCH_DIR" | awk 'NR == 2 { print $4 }')
(( avail_kb >= need_kb )) ||
    die "need ~$(( need_kb / 1024 )) MiB free in $BENCH_DIR, have $(( avail_kb / 1024 )) MiB"

# ---------------------------------------------------------------- xdocker
bench_release_xdocker

bench_temp_dir xdocker-bench
cleanup() {
    bench_remove_temp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A private copy: other people rebuilding target/ mid-benchmark cannot change it.
XD=$T/xdocker
cp "$XDOCKER" "$XD"
export XDOCKER_HOME=$T/home
bench_refuse_var_xdocker "$XDOCKER_HOME"
LAYER=$XDOCKER_HOME/images/bench/1/rlayer
mkdir -p "$LAYER" "$RESULTS_DIR"

# ---------------------------------------------------------------- tree
bench_make_tree "$XDOCKER_HOME/images/bench/1"
sync

# Quote a path for the command strings hyperfine hands to sh.
qXD=$(q "$XD"); qT=$(q "$T"); qL=$(q "$LAYER")

tag=${SIZE_MB}mb
loads=()
# CPU pressure over the last 10 s (percent), or "" without PSI.
cpu_psi() {
    sed -n 's/^some avg10=\([0-9.]*\).*/\1/p' /proc/pressure/cpu 2>/dev/null || true
}
busy() {
    local p
    p=$(cpu_psi)
    if [[ -n $p ]]; then
        awk -v p="$p" 'BEGIN { exit !(p >= 5) }'
    else
        awk -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN { exit !(l >= 0.5) }'
    fi
}
# Waits (bounded) for a quiet machine, and records the load seen.
quiet() {
    local waited=0
    while (( waited < WAIT_IDLE )) && busy; do
        (( waited == 0 )) &&
            log "waiting up to ${WAIT_IDLE}s for an idle machine (load $(cut -d' ' -f1 /proc/loadavg), cpu pressure $(cpu_psi)%)"
        sleep 5
        waited=$(( waited + 5 ))
    done
    loads+=("$1: load $(cut -d' ' -f1-3 /proc/loadavg), cpu pressure avg10 $(cpu_psi)%")
    awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v n="$(nproc)" 'BEGIN { exit !(l >= n / 2) }' &&
        log "WARNING: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs: other work will skew the numbers"
    return 0
}
hf=(hyperfine --warmup "$WARMUP" --runs "$RUNS" --style basic)

# ---------------------------------------------------------------- export
cmd_x_export="$qXD -a export -m bench:1 --image-file $qT/x.xdockerimage -f"
cmd_tz_export="tar -C $qL -cf - . | zstd -T0 -3 -q -o $qT/t.tar.zst -f"
cmd_tgz_export="tar -C $qL -czf $qT/t.tar.gz ."
extra_export=()
if [[ $EXTRA == 1 ]]; then
    extra_export=(-n "tar|zstd+fsync" "tar -C $qL -cf - . | zstd -T0 -3 -q -o $qT/t2.tar.zst -f && sync $qT/t2.tar.zst")
fi
quiet "before export"
log "export benchmark"
# --prepare sync: every run starts with no dirty page cache left by the
# previous one (xdocker fsyncs its archive inside the timed run; the tar
# pipelines leave it to the kernel, which then writes it back during the next
# run). Untimed.
"${hf[@]}" \
    --prepare sync \
    --export-json "$RESULTS_DIR/export-$tag.json" \
    --export-markdown "$RESULTS_DIR/export-$tag.md" \
    -n "xdocker export" "$cmd_x_export" \
    -n "tar|zstd -T0 -3" "$cmd_tz_export" \
    -n "tar czf" "$cmd_tgz_export" \
    "${extra_export[@]}"

# ---------------------------------------------------------------- import
# Both sides start from "no previous import" (--prepare renames it aside or,
# with IMPORT_MODE=delete, deletes it; then syncs), and time
# only verification + extraction (+ for xdocker: staging, commit rename).
cmd_x_import="$qXD -a import --image-file $qT/x.xdockerimage -m imp:1 -f"
cmd_tz_import="mkdir $qT/out && zstd -d -T0 -c $qT/t.tar.zst | tar -C $qT/out -xf -"
qH=$(q "$XDOCKER_HOME")
if [[ $IMPORT_MODE == delete ]]; then
    prep_x_import="$qXD -a del_image -m imp:1 >/dev/null 2>&1 || true; sync"
    prep_tz_import="rm -rf $qT/out; sync"
else
    mkdir "$T/grave"
    prep_x_import="if [ -d $qH/images/imp/1 ]; then mv $qH/images/imp/1 $qT/grave/imp.\$(date +%s%N); fi; sync"
    prep_tz_import="if [ -d $qT/out ]; then mv $qT/out $qT/grave/out.\$(date +%s%N); fi; sync"
fi
quiet "before import"
log "import benchmark (IMPORT_MODE=$IMPORT_MODE)"
"${hf[@]}" \
    --export-json "$RESULTS_DIR/import-$tag.json" \
    --export-markdown "$RESULTS_DIR/import-$tag.md" \
    --prepare "$prep_x_import" -n "xdocker import" "$cmd_x_import" \
    --prepare "$prep_tz_import" -n "zstd -d | tar x" "$cmd_tz_import"

loads+=("after import: load $(cut -d' ' -f1-3 /proc/loadavg)")

# Sanity: the imported image and the tar extraction hold the same tree.
imp_layer=$XDOCKER_HOME/images/imp/1/rlayer
if ! diff -r --no-dereference "$imp_layer" "$T/out" >/dev/null 2>&1; then
    echo "WARNING: xdocker import and tar extraction differ" >&2
fi

# ---------------------------------------------------------------- summary
summary=$RESULTS_DIR/export_import-summary-$tag.txt
rc=0
python3 - "$RESULTS_DIR/export-$tag.json" "$RESULTS_DIR/import-$tag.json" \
    "$tree_bytes" "$tree_files" "$T/x.xdockerimage" "$T/t.tar.zst" "$T/t.tar.gz" \
    "$SIZE_MB" "$RUNS" "$WARMUP" "$IMPORT_MODE" >"$summary" <<'PY' || rc=$?
import json, os, sys
exp_json, imp_json, tree_bytes, tree_files, x, tz, tgz, size_mb, runs, warmup, mode = sys.argv[1:]
MiB = 1 << 20

def load(p):
    return {r["command"]: r for r in json.load(open(p))["results"]}

e, i = load(exp_json), load(imp_json)
print(f"tree: {int(tree_bytes) / MiB:.1f} MiB apparent, {tree_files} files "
      f"(SIZE_MB={size_mb}, runs={runs}, warmup={warmup}, IMPORT_MODE={mode}, {os.cpu_count()} CPUs)")
print()
print(f"{'command':<22} {'mean s':>8} {'± sd':>7} {'min s':>7} {'max s':>7} {'user s':>7} {'sys s':>7}")
for res in (e, i):
    for name, r in res.items():
        print(f"{name:<22} {r['mean']:8.3f} {r['stddev'] or 0:7.3f} {r['min']:7.3f} "
              f"{r['max']:7.3f} {r['user']:7.3f} {r['system']:7.3f}")
print()
ok = True
print(f"{'ratio':<40} {'mean':>6} {'(min)':>7}")
def ratio(label, num, den, target, le):
    global ok
    v = num["mean"] / den["mean"]
    vmin = num["min"] / den["min"]
    hit = v <= target if le else v >= target
    ok &= hit
    print(f"{label:<40} {v:6.2f} ({vmin:5.2f})  target {'<=' if le else '>='} {target}  {'PASS' if hit else 'MISS'}")
ratio("export: xdocker / tar|zstd", e["xdocker export"], e["tar|zstd -T0 -3"], 1.2, True)
ratio("import: xdocker / zstd|tar", i["xdocker import"], i["zstd -d | tar x"], 1.2, True)
ratio("export: tar czf / xdocker", e["tar czf"], e["xdocker export"], 3.0, False)
print("(targets apply to the means; the ratio of the fastest runs is less sensitive to other load)")
print()
print("archive sizes:")
for label, p in (("xdocker .xdockerimage", x), ("tar | zstd -3", tz), ("tar czf (gzip -6)", tgz)):
    n = os.path.getsize(p)
    print(f"  {label:<22} {n:>12} bytes  {n / MiB:8.1f} MiB  {100 * n / int(tree_bytes):5.1f} % of tree")
print()
print("TARGETS MET" if ok else "TARGETS MISSED")
sys.exit(0 if ok else 3)
PY
cat "$summary"

{
    echo
    echo "exact commands (T=$T, LAYER=$LAYER, XDOCKER_HOME=$XDOCKER_HOME):"
    echo "  export (all)   : prepare: sync"
    echo "  export xdocker : $cmd_x_export"
    echo "  export tar|zstd: $cmd_tz_export"
    echo "  export tar czf : $cmd_tgz_export"
    if [[ $EXTRA == 1 ]]; then
        echo "  export tar|zstd+fsync: ${extra_export[2]}"
    fi
    echo "  import xdocker : prepare: $prep_x_import"
    echo "                   $cmd_x_import"
    echo "  import zstd|tar: prepare: $prep_tz_import"
    echo "                   $cmd_tz_import"
    echo
    bench_built_from
    printf '%s\n' "${loads[@]}"
    echo "host: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "tools: $(hyperfine --version), $(zstd --version | sed 's/^\*\*\* //; s/ \*\*\*$//'), $(tar --version | head -1), $(gzip --version | head -1)"
} | tee -a "$summary"

echo "results: $RESULTS_DIR/{export,import}-$tag.{json,md}, $summary" >&2
if [[ $rc -eq 3 && $STRICT == 1 ]]; then
    exit 3
fi
[[ $rc -eq 0 || $rc -eq 3 ]] || die "summary failed"
