#!/usr/bin/env bash
# Times `xdocker -a commit` of a running container whose writable layer
# holds SIZE_MB of data (default 500), side by side with `cp -a` of the
# same layer (the plain tool doing the same copy), on the file system of
# BENCH_DIR (default /tmp) and, with XFS=1, on a loop-mounted XFS (which
# has reflinks: `cp --reflink=always` is then the plain tool). Prints the
# means from hyperfine, the ratios, and the pause the commit reported.
#
#   bench/commit.sh              # 500 MB, BENCH_DIR's file system
#   XFS=1 bench/commit.sh 500    # and on XFS (needs mkfs.xfs: xfsprogs)
#   RUNS=5 bench/commit.sh
#
# Root only (containers); never touches /var/xdocker. Needs hyperfine.
set -euo pipefail

SIZE_MB=${1:-500}
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/tmp}
HERE=$(cd "$(dirname "$0")/.." && pwd)
repo=$HERE
BENCH_NAME=bench/commit.sh
# shellcheck source=lib.sh
. "$HERE/bench/lib.sh"
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
bench_install_missing hyperfine:hyperfine
bench_temp_dir xdocker-commit-bench
MNT=
X=$T/xdocker
cleanup() {
    set +e
    trap - EXIT INT TERM
    local h
    for h in "$T"/home "$T"/xfs/home-xfs; do
        [[ -d $h ]] || continue
        XDOCKER_HOME=$h bench_kill_container src
        XDOCKER_HOME=$h "$X" -a destroy -c src -h >/dev/null 2>&1
        XDOCKER_HOME=$h bench_remove_home_network
    done
    [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
    bench_remove_cgroups xdocker-commit-bench
    bench_remove_temp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_release_xdocker
bench_static_init
XD=$X
cp "$XDOCKER" "$X"
cp "$XDOCKER_INIT" "$T/xdockerinit"
export XDOCKER_INIT=$T/xdockerinit
export XDOCKER_SHARE_DIR=$HERE

# bench HOME LABEL CP_FLAGS: a running container with SIZE_MB in its layer,
# then commit against cp.
bench() {
    home=$1 label=$2 cpflags=$3
    bench_refuse_var_xdocker "$home"
    mkdir -p "$home"
    printf '[cgroups]\nparent = "xdocker-commit-bench"\n' >"$home/xdocker.toml"
    export XDOCKER_HOME=$home
    "$X" -a install_test >/dev/null
    "$X" -a create -m test -c src -b >/dev/null
    "$X" -a run -c src --cmd "mkdir /data; for i in \$(seq $((SIZE_MB / 10))); do \
        head -c 10485760 /dev/urandom > /data/f\$i; done; sync" >/dev/null
    rw=$home/containers/src/rwlayer
    hyperfine --runs "$RUNS" --warmup 1 \
        --export-json "$T/$label.json" \
        --prepare "$X -a del_image -m snap:1 -f >/dev/null 2>&1; rm -rf $home/cp" \
        -n "xdocker commit ($label)" "$X -a commit --from-container src --to-image snap:1" \
        -n "cp -a $cpflags ($label)" "cp -a $cpflags $rw $home/cp"
    "$X" -a del_image -m snap:1 -f >/dev/null 2>&1 || true
    echo "$label: $("$X" -a commit --from-container src --to-image snap:1)"
    python3 - "$T/$label.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
commit, cp = r[0]["mean"], r[1]["mean"]
print(f"{r[0]['command']}: {commit*1000:.0f} ms, {r[1]['command']}: {cp*1000:.0f} ms, "
      f"commit/cp {commit/cp:.2f}x")
EOF
    "$X" -a destroy -c src -h >/dev/null
}

bench "$T/home" "$(df -T "$T" | awk 'NR==2 {print $2}')" ""
if [ "${XFS:-0}" = 1 ]; then
    truncate -s $((SIZE_MB * 3 + 1024))M "$T/xfs.img"
    mkfs.xfs -q "$T/xfs.img"
    MNT=$T/xfs
    mkdir "$MNT"
    mount -o loop "$T/xfs.img" "$MNT"
    bench "$MNT/home-xfs" xfs "--reflink=always"
fi
