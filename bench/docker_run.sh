#!/usr/bin/env bash
# docker_run.sh - the Docker-style `xdocker run --rm IMAGE /bin/true` side by
# side with `podman run --rm` on the same root file system (the busybox `test`
# image, given to podman with `podman import`) and with the original
# grammar's `-a create -b -e /bin/true` + `-a destroy`, with hyperfine.
# Ratios of the medians (and of the CPU time, user + system, which moves
# less on a shared machine): targets are under 0.2x podman's and within
# 1.1x of the original grammar's.
#
# Rows (every one a full cycle: a container made, /bin/true run, removed):
#   xdocker run --rm --network host      the Docker-style verb
#   xdocker -a create -b -e + destroy    the original grammar (HOST network)
#   podman run --rm --network host       podman (crun, cgroupfs)
#   xdocker run --rm (bridge)            Docker's default network: veth,
#                                        VIP, NAT rules (for information)
#
# Environment:
#   RUNS=60 PASSES=6      runs of each row, in PASSES rounds of every row
#                         (a busy spell of the shared machine falls on all)
#   WARMUP=2              hyperfine --warmup, each round
#   XDOCKER, XDOCKER_INIT binaries to use (default: `cargo build --release`
#                         and scripts/build_static_init.sh release)
#   BENCH_DIR=/tmp        where the temporary home and podman's storage go
#   RESULTS_DIR           where the JSON and the summary go (bench/results)
#
# podman on this host: /sys/fs/cgroup is v1 ("hybrid") and crun refuses a
# hybrid layout whose v2 half has controllers, so the script runs in a
# private mount namespace where an empty file is bind-mounted over
# /sys/fs/cgroup/unified/cgroup.controllers (as bench/runtime.sh does for
# crun); podman's default ulimits (which crun refuses here) are cleared by a
# containers.conf of its own with `default_ulimits = []`. podman's storage
# (--root, --runroot) is in the temporary directory: nothing of the host's
# podman is touched. Never touches /var/xdocker; everything it made is
# removed by an EXIT trap.
set -euo pipefail

self=$(readlink -f "${BASH_SOURCE[0]}")
here=$(dirname "$self")
repo=$(dirname "$here")

if [[ -z ${XDB_DR_NS:-} ]]; then
    [[ $(id -u) == 0 ]] || { echo "docker_run: must run as root" >&2; exit 1; }
    export XDB_DR_NS=1
    exec unshare --mount --propagation private -- bash "$self" "$@"
fi

RUNS=${RUNS:-60}
PASSES=${PASSES:-6}
WARMUP=${WARMUP:-2}
BENCH_DIR=${BENCH_DIR:-/tmp}
RESULTS_DIR=${RESULTS_DIR:-$here/results}
BENCH_NAME=docker_run
# shellcheck source=lib.sh
. "$here/lib.sh"
[[ $RUNS =~ ^[0-9]+$ && $WARMUP =~ ^[0-9]+$ && $PASSES =~ ^[0-9]+$ ]] && ((PASSES >= 1 && RUNS >= 2 * PASSES)) ||
    die "RUNS, WARMUP and PASSES must be integers (PASSES >= 1, RUNS >= 2 * PASSES)"
bench_install_missing hyperfine:hyperfine podman:podman
bench_need python3

# xdocker as `cargo build --release` makes it (not the static one), the
# static xdockerinit.
bench_release_xdocker
bench_static_init
[[ -x $XDOCKER_INIT ]] || die "no xdockerinit ($XDOCKER_INIT)"
export XDOCKER_SHARE_DIR=${XDOCKER_SHARE_DIR:-$repo}

bench_temp_dir xdocker-dr
bench_random_id
CGP=xdocker-bench-$RID
IMG=localhost/xdb-test-$RID
bench_private_home "$CGP"

# podman with storage, run state and configuration of its own.
export CONTAINERS_CONF=$T/containers.conf
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
EOF
PM=(podman --root "$T/podman/root" --runroot "$T/podman/run" --tmpdir "$T/podman/tmp")

cleanup() {
    set +e
    trap - EXIT INT TERM
    bench_remove_containers
    "${PM[@]}" rm -af >/dev/null 2>&1
    "${PM[@]}" rmi -af >/dev/null 2>&1
    bench_unmount_under "$T/podman"
    bench_remove_home_network
    bench_remove_cgroups "$CGP"
    bench_remove_temp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_mask_v2_controllers

log "xdocker -a install_test"
"$XD" -a install_test >/dev/null
ROOTFS=$XDOCKER_HOME/images/test/_/rlayer
[[ -x $ROOTFS/bin/busybox ]] || die "no busybox root file system at $ROOTFS"
log "podman import of the same root file system"
tar -C "$ROOTFS" -c . | "${PM[@]}" import - "$IMG" >/dev/null
"${PM[@]}" run --rm --network host "$IMG" /bin/true || die "podman run does not work here"
"$XD" run --rm --network host test /bin/true || die "xdocker run does not work here"

qXD=$(q "$XD")
pm=$(printf '%q ' "${PM[@]}")
# PASSES rounds of every row (RUNS/PASSES runs each), so that a busy spell
# of the shared machine falls on every row alike; `sync` before every run
# (not timed): the image import and each cycle's fsyncs leave no dirty
# pages for the next run to wait behind.
per=$(((RUNS + PASSES - 1) / PASSES))
sync
for ((pass = 1; pass <= PASSES; pass++)); do
    log "pass $pass of $PASSES ($per runs a row)"
    hyperfine --runs "$per" --warmup "$WARMUP" --prepare sync --export-json "$T/pass$pass.json" \
        -n "xdocker run --rm --network host" "$qXD run --rm --network host test /bin/true" \
        -n "xdocker -a create -b -e + destroy" "$qXD -a create -m test -c xdb-orig -b -e /bin/true >/dev/null && $qXD -a destroy -c xdb-orig >/dev/null" \
        -n "podman run --rm --network host" "$pm run --rm --network host $IMG /bin/true" \
        -n "xdocker run --rm (bridge)" "$qXD run --rm test /bin/true" \
        2>&1 | sed 's/^/  /' >&2 || die "hyperfine failed"
done

out=$RESULTS_DIR/docker_run.json
python3 - "$out" "$RESULTS_DIR/docker_run.txt" "$T"/pass*.json <<'PY'
import json, statistics, sys
out, summary, passes = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = {}
for path in passes:
    for r in json.load(open(path))["results"]:
        row = rows.setdefault(r["command"], {"times": [], "cpu": []})
        row["times"] += r["times"]
        row["cpu"] += [u + s for u, s in zip(r["user"] if isinstance(r["user"], list) else [r["user"]] * len(r["times"]),
                                             r["system"] if isinstance(r["system"], list) else [r["system"]] * len(r["times"]))]
json.dump(rows, open(out, "w"), indent=1)
med = {k: statistics.median(v["times"]) * 1000 for k, v in rows.items()}
cpu = {k: statistics.mean(v["cpu"]) * 1000 for k, v in rows.items()}
lo = {k: min(v["times"]) * 1000 for k, v in rows.items()}
run, orig = "xdocker run --rm --network host", "xdocker -a create -b -e + destroy"
podman, bridge = "podman run --rm --network host", "xdocker run --rm (bridge)"
lines = [f"{k:36s} median {med[k]:8.2f} ms  min {lo[k]:7.2f} ms  cpu {cpu[k]:7.2f} ms  ({len(rows[k]['times'])} runs)" for k in rows]
lines.append(f"run / podman   median {med[run] / med[podman]:5.3f}x  cpu {cpu[run] / cpu[podman]:5.3f}x  (target < 0.2x)")
lines.append(f"run / original median {med[run] / med[orig]:5.3f}x  cpu {cpu[run] / cpu[orig]:5.3f}x  (target <= 1.1x)")
lines.append(f"run (bridge) / podman median {med[bridge] / med[podman]:5.3f}x")
text = "\n".join(lines) + "\n"
open(summary, "w").write(text)
print(text, end="")
PY
