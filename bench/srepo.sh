#!/usr/bin/env bash
# ssh repository benchmark: xdocker -a spush / -a spull against OpenSSH scp of
# the same exported file, through a private sshd on 127.0.0.1, with hyperfine.
#
#   bench/srepo.sh [SIZE_MB]          (default 500)
#
# Environment:
#   RUNS=5 WARMUP=1      hyperfine --runs / --warmup
#   BENCH_DIR=/tmp       where the tree, the homes, the repository and the files go
#   RESULTS_DIR=bench/results
#   XDOCKER=path         use this binary instead of building target/release/xdocker
#   KEEP=1               keep the temporary directory (its path is printed)
#   STRICT=1             exit 3 when a target is missed
#   WAIT_IDLE=N          before each hyperfine, wait up to N s for the 1-minute load
#                        average to drop below 0.5 (default 0 = don't wait)
#
# What is timed, side by side in one hyperfine run each:
#   push: xdocker -a spush (export streamed into SFTP: tar + sha256 + zstd +
#         ssh, fsync and rename on the server)  vs  scp of the exported file
#         (already compressed)  vs  xdocker -a export + scp (what a user would
#         otherwise do)
#   pull: xdocker -a spull (SFTP streamed into import: ssh + zstd -d + tar x +
#         checks + commit)  vs  scp of the repository file  vs  scp + xdocker
#         -a import
# Targets: xdocker time <= scp time / 0.9 (>= 0.9x of scp's throughput).
#
# Never touches /var/xdocker, the system sshd or ~/.ssh: the sshd runs from
# a config in the temporary directory on a free port and is killed by PID
# (with every process it forked) on exit.
set -euo pipefail

SIZE_MB=${1:-${SIZE_MB:-500}}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
BENCH_DIR=${BENCH_DIR:-/tmp}
KEEP=${KEEP:-0}
WAIT_IDLE=${WAIT_IDLE:-0}
STRICT=${STRICT:-0}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
RESULTS_DIR=${RESULTS_DIR:-$here/results}

BENCH_NAME="srepo bench"
# shellcheck source=lib.sh
. "$here/lib.sh"

[[ $SIZE_MB =~ ^[0-9]+$ ]] && (( SIZE_MB >= 8 )) || die "SIZE_MB must be an integer >= 8"
[[ $(id -u) == 0 ]] || die "run as root (sshd, owners in the tree)"
bench_install_missing hyperfine:hyperfine
for t in python3 scp ssh-keygen /usr/sbin/sshd; do
    command -v "$t" >/dev/null || die "$t is required"
done

# tree + exported file + repository file + scp copies + pulled trees
need_kb=$(( (SIZE_MB * (6 + RUNS + WARMUP) + 1024) * 1024 ))
mkdir -p "$BENCH_DIR"
avail_kb=$(df -Pk "$BENCH_DIR" | awk 'NR == 2 { print $4 }')
(( avail_kb >= need_kb )) || die "need ~$(( need_kb / 1024 )) MiB free in $BENCH_DIR"

bench_release_xdocker

bench_temp_dir xdocker-srepo-bench
# shellcheck source=../scripts/tests/private_sshd.sh
. "$repo/scripts/tests/private_sshd.sh"
SSHD_PID=
cleanup() {
    private_sshd_stop
    bench_remove_temp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

XD=$T/xdocker
cp "$XDOCKER" "$XD"
# The ssh repository commands run in xdocker-srepo, found beside xdocker.
[[ -x $(dirname "$XDOCKER")/xdocker-srepo ]] || die "no xdocker-srepo beside $XDOCKER"
cp "$(dirname "$XDOCKER")/xdocker-srepo" "$T/xdocker-srepo"
HOME1=$T/home
HOME2=$T/pulled
bench_refuse_var_xdocker "$HOME1"
LAYER=$HOME1/images/bench/1/rlayer
mkdir -p "$LAYER" "$HOME2" "$RESULTS_DIR" "$T/repo" "$T/scp-up" "$T/scp-down" "$T/grave" "$T/ssh"

# ---------------------------------------------------------------- sshd
private_sshd_start "$T/sshd" "$T/ssh" || die "sshd did not start"
PORT=$SSHD_PORT

# ---------------------------------------------------------------- tree
bench_make_tree "$HOME1/images/bench/1"

export XDOCKER_SSH_DIR=$T/ssh
unset SSH_AUTH_SOCK
SREPO="root@127.0.0.1:$PORT$T/repo"
log "exporting once (the file scp sends) and pushing once (the file spull and scp fetch)"
XDOCKER_HOME=$HOME1 "$XD" -a export -m bench:1 --image-file "$T/x.xdockerimage" >/dev/null
XDOCKER_HOME=$HOME1 "$XD" -a spush -m bench:1 --srepo "$SREPO" >/dev/null
XDOCKER_HOME=$HOME2 "$XD" -s ssearch --srepo "$SREPO" >&2
sync

qXD=$(q "$XD"); qT=$(q "$T"); qH1=$(q "$HOME1"); qH2=$(q "$HOME2")
scp_opts="-q -P $PORT -i $qT/ssh/id_ed25519 -o UserKnownHostsFile=$qT/ssh/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"
repo_file="$T/repo/bench:1.xdockerimage"
qRF=$(q "$repo_file")

loads=()
tag=${SIZE_MB}mb
hf=(hyperfine --warmup "$WARMUP" --runs "$RUNS" --style basic)

# ---------------------------------------------------------------- push
# Each run starts from a repository without the image (so it is a real
# upload, not the no-op of an unchanged image).
cmd_x_push="XDOCKER_HOME=$qH1 $qXD -a spush -m bench:1"
prep_x_push="rm -f $qRF $qRF.sha256; sync"
cmd_scp_push="scp $scp_opts $qT/x.xdockerimage root@127.0.0.1:$qT/scp-up/x.xdockerimage"
prep_scp_push="rm -f $qT/scp-up/x.xdockerimage; sync"
cmd_es_push="XDOCKER_HOME=$qH1 $qXD -a export -m bench:1 --image-file $qT/e.xdockerimage -f >/dev/null && scp $scp_opts $qT/e.xdockerimage root@127.0.0.1:$qT/scp-up/e.xdockerimage"
prep_es_push="rm -f $qT/scp-up/e.xdockerimage; sync"
wait_idle "before push"
log "push benchmark"
"${hf[@]}" \
    --export-json "$RESULTS_DIR/srepo-push-$tag.json" \
    --export-markdown "$RESULTS_DIR/srepo-push-$tag.md" \
    --prepare "$prep_x_push" -n "xdocker spush" "$cmd_x_push" \
    --prepare "$prep_scp_push" -n "scp upload" "$cmd_scp_push" \
    --prepare "$prep_es_push" -n "export + scp upload" "$cmd_es_push"
# Leave the repository with the image for the pulls.
[[ -f $repo_file ]] || XDOCKER_HOME=$HOME1 "$XD" -a spush -m bench:1 >/dev/null

# ---------------------------------------------------------------- pull
# Each xdocker pull goes into an empty image slot: the previous result is
# renamed aside (not deleted: see bench/README.md on ext4 without a journal).
prep_x_pull="if [ -d $qH2/images/bench/1 ]; then mv $qH2/images/bench/1 $qT/grave/pull.\$(date +%s%N); fi; sync"
cmd_x_pull="XDOCKER_HOME=$qH2 $qXD -a spull -m bench:1"
cmd_scp_pull="scp $scp_opts root@127.0.0.1:$qRF $qT/scp-down/x.xdockerimage"
prep_scp_pull="rm -f $qT/scp-down/x.xdockerimage; sync"
prep_si_pull="rm -f $qT/scp-down/y.xdockerimage; if [ -d $qH2/images/imp/1 ]; then mv $qH2/images/imp/1 $qT/grave/imp.\$(date +%s%N); fi; sync"
cmd_si_pull="scp $scp_opts root@127.0.0.1:$qRF $qT/scp-down/y.xdockerimage && XDOCKER_HOME=$qH2 $qXD -a import --image-file $qT/scp-down/y.xdockerimage -m imp:1 >/dev/null"
wait_idle "before pull"
log "pull benchmark"
"${hf[@]}" \
    --export-json "$RESULTS_DIR/srepo-pull-$tag.json" \
    --export-markdown "$RESULTS_DIR/srepo-pull-$tag.md" \
    --prepare "$prep_x_pull" -n "xdocker spull" "$cmd_x_pull" \
    --prepare "$prep_scp_pull" -n "scp download" "$cmd_scp_pull" \
    --prepare "$prep_si_pull" -n "scp download + import" "$cmd_si_pull"

# Sanity: the pulled image is the pushed tree.
if ! diff -r --no-dereference "$LAYER" "$HOME2/images/bench/1/rlayer" >/dev/null 2>&1; then
    echo "WARNING: the pulled image differs from the pushed one" >&2
fi

# ---------------------------------------------------------------- summary
summary=$RESULTS_DIR/srepo-summary-$tag.txt
rc=0
python3 - "$RESULTS_DIR/srepo-push-$tag.json" "$RESULTS_DIR/srepo-pull-$tag.json" \
    "$tree_bytes" "$tree_files" "$repo_file" "$SIZE_MB" "$RUNS" "$WARMUP" >"$summary" <<'PY' || rc=$?
import json, os, sys
push_json, pull_json, tree_bytes, tree_files, repo_file, size_mb, runs, warmup = sys.argv[1:]
MiB = 1 << 20
def load(p):
    return {r["command"]: r for r in json.load(open(p))["results"]}
push, pull = load(push_json), load(pull_json)
arch = os.path.getsize(repo_file)
print(f"tree: {int(tree_bytes) / MiB:.1f} MiB apparent, {tree_files} files; "
      f".xdockerimage {arch / MiB:.1f} MiB (SIZE_MB={size_mb}, runs={runs}, warmup={warmup}, "
      f"{os.cpu_count()} CPUs)")
print()
print(f"{'command':<24} {'mean s':>8} {'± sd':>7} {'min s':>7} {'max s':>7} {'user s':>7} {'sys s':>7} "
      f"{'archive MiB/s':>13}")
for res in (push, pull):
    for name, r in res.items():
        print(f"{name:<24} {r['mean']:8.3f} {r['stddev'] or 0:7.3f} {r['min']:7.3f} {r['max']:7.3f} "
              f"{r['user']:7.3f} {r['system']:7.3f} {arch / MiB / r['mean']:13.1f}")
print()
ok = True
def ratio(label, x, ref):
    global ok
    v = ref / x
    hit = v >= 0.9
    ok &= hit
    print(f"{label:<44} {v:5.2f}x   target >= 0.9x  {'PASS' if hit else 'MISS'}")
ratio("push: scp / xdocker spush (throughput ratio)", push["xdocker spush"]["mean"], push["scp upload"]["mean"])
ratio("pull: scp / xdocker spull (throughput ratio)", pull["xdocker spull"]["mean"], pull["scp download"]["mean"])
print()
print("for reference (the same work done with the separate tools):")
print(f"  push: (export + scp) / spush  {push['export + scp upload']['mean'] / push['xdocker spush']['mean']:5.2f}x")
print(f"  pull: (scp + import) / spull  {pull['scp download + import']['mean'] / pull['xdocker spull']['mean']:5.2f}x")
print()
print("TARGETS MET" if ok else "TARGETS MISSED")
sys.exit(0 if ok else 3)
PY
cat "$summary"
{
    echo
    echo "exact commands (T=$T, port $PORT):"
    echo "  push xdocker : prepare: $prep_x_push"
    echo "                 $cmd_x_push"
    echo "  push scp     : prepare: $prep_scp_push"
    echo "                 $cmd_scp_push"
    echo "  push exp+scp : prepare: $prep_es_push"
    echo "                 $cmd_es_push"
    echo "  pull xdocker : prepare: $prep_x_pull"
    echo "                 $cmd_x_pull"
    echo "  pull scp     : prepare: $prep_scp_pull"
    echo "                 $cmd_scp_pull"
    echo "  pull scp+imp : prepare: $prep_si_pull"
    echo "                 $cmd_si_pull"
    echo
    bench_built_from
    printf '%s\n' "${loads[@]}"
    echo "host: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "tools: $(hyperfine --version), $(ssh -V 2>&1), scp cipher: OpenSSH default (chacha20-poly1305); xdocker: libssh2 1.11 bundled by the ssh2 crate, aes128-gcm preferred"
} | tee -a "$summary"
echo "results: $RESULTS_DIR/srepo-{push,pull}-$tag.{json,md}, $summary" >&2
if [[ $rc -eq 3 && $STRICT == 1 ]]; then
    exit 3
fi
[[ $rc -eq 0 || $rc -eq 3 ]] || die "summary failed"
