#!/usr/bin/env bash
# Runtime benchmark: xdocker against crun, lxc-execute / lxc-start and
# systemd-nspawn, all on the same busybox root filesystem (the `test` image
# that `xdocker -a install_test` builds), with hyperfine.
#
#   bench/runtime.sh [SECTION...]      sections: cycle isolated breakdown boot rss scale diag
#                                      hardening (default: all but hardening, in that order)
#
#   cycle      create+boot+destroy of a container whose main process is /bin/true:
#              xdocker create -b -e /bin/true && destroy  vs  crun run,
#              crun run --cgroup-manager=disabled, lxc-execute, systemd-nspawn,
#              and a floor: unshare -fpmui /bin/true (namespaces, no root fs).
#              xdocker's default container is unprivileged (user namespace,
#              idmapped layers); a row with --userns off gives the privileged one
#   isolated   the cycle commands again, but one invocation at a time with a pause
#              (GAP seconds) before each, round-robin: what a single command
#              costs on an otherwise idle cgroup subsystem. Back-to-back runs
#              (hyperfine) are cheaper for every runtime that writes to a v1
#              cgroup.procs: see "diag" and bench/README.md.
#   breakdown  xdocker alone: create, create -b -e, boot -e, destroy, -s containers
#   boot       boot-to-ready of an idle host container: xdocker boot (default:
#              unprivileged; and --userns off)  vs  lxc-start -d
#   rss        VmRSS/Pss of an idle xdockerinit  vs  lxc-start monitor + busybox init
#   scale      N idle containers (c1..cN) at once, `-s containers` timed, teardown,
#              leftover cgroups checked, memory before/after
#   hardening  what the hardening costs: boot-to-ready of an idle privileged host
#              container (--userns off: capabilities dropped, /proc masked, seccomp
#              filter with the mount guard) vs --userns off --seccomp off vs, when
#              XDOCKER_BASE is given, a build from before any hardening; and the
#              /bin/true cycle with and without the seccomp filter, side by side with
#              crun run without and with a Docker-sized profile (an allow list of
#              every other x86_64 system call, default action EPERM). Both also with
#              the default (unprivileged: user namespace, idmapped layers).
#              Target: the hardening adds < 1 ms to xdocker's boot.
#   diag       where xdocker's time goes: strace -f -tt -T -y and strace -c of one
#              `create -b -e /bin/true`, perf stat over 10 cycles, and a cgroup v1
#              attach micro-benchmark (pid written to cgroup.procs by the parent
#              vs the child moving itself by writing 0 to `tasks`)
#
# Environment:
#   RUNS=30 WARMUP=3     hyperfine --runs / --warmup
#   N=500                containers for the scale section
#   ISO_RUNS=15 GAP=0.5  isolated section: invocations per command, pause before each
#   BENCH_DIR=/tmp       where the temporary directory (XDOCKER_HOME, root file
#                        systems, crun state, LXC path) goes. /tmp is ext4 on this
#                        VM: the fsyncs xdocker does and the syncfs of the upper
#                        file system when a container's overlay is unmounted then
#                        wait for whatever else is writing to that disk.
#                        BENCH_DIR=/dev/shm (tmpfs) takes the disk out.
#   TAG=                 results go to bench/results/runtime[-TAG]-*.{json,md,txt}
#   RESULTS_DIR=bench/results
#   XDOCKER=path         use this xdocker instead of scripts/build_static.sh xdocker release
#   XDOCKER_REV=text     what that binary was built from (printed in the summary)
#   XDOCKER_SHARE_DIR    where install_test finds scripts/ and templates/ (default: this repo)
#   XDOCKER_INIT=path    use this xdockerinit instead of scripts/build_static.sh xdockerinit release
#   XDOCKER_BASE=path    hardening section: an xdocker built from before the hardening
#                        (e.g. git worktree add /tmp/b b0be8d8^ && cargo build --release)
#   LXC_NET=empty        lxc.net.0.type of both LXC containers. `empty` (the issue's
#                        choice) gives LXC a new network namespace with only `lo`;
#                        xdocker's host containers and nspawn share the host's
#                        (a new netns costs ~1.5 ms here). `none` = host network.
#   CRUN_NETNS=1         keep the network namespace `crun spec` asks for; 0 drops it
#   KEEP=1               keep the temporary directory (its path is printed)
#   STRICT=1             exit 3 when a target is missed
#   WAIT_IDLE=N          before each timed section, wait up to N seconds for the
#                        1-minute load average to drop below 0.5; default 0
#
# crun on this host: /sys/fs/cgroup is cgroup v1 ("hybrid"), and crun refuses a
# hybrid layout whose v2 half has controllers ("cgroups in hybrid mode not
# supported, drop all controllers from cgroupv2"); here hugetlb is bound to v2.
# So the script runs itself in a private mount namespace (unshare -m) in which
# an empty file is bind-mounted over /sys/fs/cgroup/unified/cgroup.controllers.
# Nothing else changes; every tool (xdocker included) runs in that namespace.
# crun then uses its cgroupfs manager (v1 cgroups, like xdocker); the extra row
# `crun run (--cgroup-manager=disabled)` shows crun without cgroups.
#
# Never touches /var/xdocker. Everything it starts (containers, cgroups, LXC
# containers, crun state) is removed by an EXIT trap; processes are ended by
# the PIDs it recorded, never by name.
set -euo pipefail

self=$(readlink -f "${BASH_SOURCE[0]}")
here=$(dirname "$self")
repo=$(dirname "$here")

# ---------------------------------------------------------------- namespace
if [[ -z ${XDB_RT_NS:-} ]]; then
    [[ $(id -u) == 0 ]] || { echo "runtime: must run as root" >&2; exit 1; }
    export XDB_RT_NS=1
    exec unshare --mount --propagation private -- bash "$self" "$@"
fi

XDB_START=$(date +%s)
export XDB_START
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
N=${N:-500}
ISO_RUNS=${ISO_RUNS:-15}
GAP=${GAP:-0.5}
BENCH_DIR=${BENCH_DIR:-/tmp}
TAG=${TAG:-}
KEEP=${KEEP:-0}
STRICT=${STRICT:-0}
WAIT_IDLE=${WAIT_IDLE:-0}
LXC_NET=${LXC_NET:-empty}
CRUN_NETNS=${CRUN_NETNS:-1}
RESULTS_DIR=${RESULTS_DIR:-$here/results}
sections=("$@")
((${#sections[@]})) || sections=(cycle isolated breakdown boot rss scale diag)

BENCH_NAME=runtime
# shellcheck source=lib.sh
. "$here/lib.sh"

for s in "${sections[@]}"; do
    case $s in cycle | isolated | breakdown | boot | rss | scale | diag | hardening) ;; *) die "unknown section $s" ;; esac
done
[[ $RUNS =~ ^[0-9]+$ && $WARMUP =~ ^[0-9]+$ && $N =~ ^[0-9]+$ ]] && ((RUNS >= 2 && N >= 1)) ||
    die "RUNS, WARMUP, N must be integers (RUNS >= 2, N >= 1)"
case $LXC_NET in empty | none) ;; *) die "LXC_NET must be empty or none" ;; esac

# ---------------------------------------------------------------- tools
bench_install_missing hyperfine:hyperfine crun:crun lxc-execute:lxc systemd-nspawn:systemd-container \
    strace:strace perf:linux-perf
bench_need python3

# ---------------------------------------------------------------- build
xdocker_src="built from the work tree: $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo ?)$(cd "$repo" && git diff --quiet HEAD -- src xdockerinit Cargo.toml 2>/dev/null || echo ' + uncommitted changes')"
[[ -n ${XDOCKER:-} ]] && xdocker_src="given: XDOCKER=$XDOCKER${XDOCKER_REV:+ (${XDOCKER_REV})}"
# xdocker is copied (so that a rebuild of target/ mid-run changes nothing);
# the copy finds install_test's shipped files through XDOCKER_SHARE_DIR.
bench_static_binaries
XDOCKER_INIT_SRC=$XDOCKER_INIT

# ---------------------------------------------------------------- temp dir, names
bench_temp_dir xdocker-rt
bench_random_id
CGP=xdocker-bench-$RID           # xdocker's cgroup parent (and crun's cgroupsPath)
LXCP=$T/lxc                      # LXC path
LXCX=xdb$RID-x                   # lxc-execute container
LXCS=xdb$RID-s                   # lxc-start container
NSM=xdb$RID                      # systemd-nspawn machine name
CRUNID=xdb$RID
pre=runtime${TAG:+-$TAG}
nspawn_run_existed=0; [[ -e /run/systemd/nspawn ]] && nspawn_run_existed=1
bench_lxc_note_pivot
bench_private_home "$CGP"

# ---------------------------------------------------------------- cleanup
# Ends only what this script started: xdockerinit pids read from our own
# state.toml files (checked by /proc/PID/exe), our LXC containers, our crun
# containers; then removes our cgroups (leaf directories first).
cleanup() {
    set +e
    trap - EXIT INT TERM
    local d name pid home bin
    for home in "$XDOCKER_HOME" "$T/home-base"; do
        bin=$XD
        [[ $home == "$T/home-base" ]] && bin=$T/xdocker-base
        [[ -d $home/containers ]] || continue
        for d in "$home"/containers/*/; do
            [[ -d $d ]] || continue
            name=$(basename "$d")
            if [[ -f $d/state.toml ]]; then
                XDOCKER_HOME=$home "$bin" -a kill -c "$name" >/dev/null 2>&1
                pid=$(sed -n 's/^pid = \([0-9]*\)$/\1/p' "$d/state.toml" 2>/dev/null)
                if [[ -n $pid && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$T/xdockerinit"* ]]; then
                    kill -KILL "$pid" 2>/dev/null
                fi
            fi
            XDOCKER_HOME=$home "$bin" -a destroy -c "$name" >/dev/null 2>&1
        done
    done
    for name in "$LXCS" "$LXCX"; do
        [[ -d $LXCP/$name ]] && lxc-stop -k -n "$name" -P "$LXCP" >/dev/null 2>&1
    done
    if [[ -d $T/crun ]]; then
        for name in $(crun --root "$T/crun" list -q 2>/dev/null); do
            crun --root "$T/crun" delete -f "$name" >/dev/null 2>&1
        done
    fi
    bench_remove_cgroups "$CGP" "lxc.payload.xdb$RID-*" "lxc.monitor.xdb$RID-*"
    bench_lxc_remove_pivot
    ((nspawn_run_existed)) || rm -rf /run/systemd/nspawn
    bench_remove_temp
    if compgen -G "/sys/fs/cgroup/*/$CGP" >/dev/null; then
        echo "runtime: WARNING: cgroups left: $(echo /sys/fs/cgroup/*/"$CGP")" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- crun hybrid fix
bench_mask_v2_controllers

# ---------------------------------------------------------------- image, root file systems
log "xdocker -a install_test"
"$XD" -a install_test >/dev/null
ROOTFS=$XDOCKER_HOME/images/test/_/rlayer
[[ -x $ROOTFS/bin/busybox ]] || die "no busybox root file system at $ROOTFS"

qXD=$(q "$XD"); qT=$(q "$T"); qLXCP=$(q "$LXCP")

# crun: OCI bundle from `crun spec`, /bin/true, no terminal, writable root.
mkdir -p "$T/bundle" "$T/crun"
cp -a "$ROOTFS" "$T/bundle/rootfs"
(cd "$T/bundle" && crun spec)
python3 - "$T/bundle/config.json" "$CRUN_NETNS" "/$CGP/crun" <<'PY'
import json, sys
path, netns, cgpath = sys.argv[1:]
s = json.load(open(path))
s["process"]["terminal"] = False
s["process"]["args"] = ["/bin/true"]
s["root"]["readonly"] = False
s["linux"]["cgroupsPath"] = cgpath
if netns == "0":
    s["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"] if n["type"] != "network"]
json.dump(s, open(path, "w"), indent=1)
PY

# LXC: one container for lxc-execute, one for lxc-start -d (busybox init as
# PID 1; an /etc/inittab with only a sysinit line keeps it idle instead of
# respawning "askfirst" shells on ttys that do not exist).
bench_lxc_config "$LXCX"
bench_lxc_config "$LXCS"
bench_lxc_idle_inittab "$LXCS"

# systemd-nspawn: a plain directory tree.
mkdir -p "$T/nspawn"
cp -a "$ROOTFS" "$T/nspawn/$NSM"

# ---------------------------------------------------------------- helpers
loads=()
# wait_idle, then a warning when the machine is busy anyway.
quiet() {
    wait_idle "$1"
    awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v n="$(nproc)" 'BEGIN { exit !(l >= n / 2) }' &&
        log "WARNING: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs: other work will skew the numbers"
    return 0
}
# BENCH_DIR's file system type; for ext4 also whether it has a journal and
# discards synchronously. Without a journal every freed block is discarded
# at once (~0.1 ms per file or directory xdocker removes here), and new
# inodes skip those deleted in the last 60-360 s (fs/ext4/ialloc.c,
# recently_deleted()): xdocker's times then grow with the number of
# containers made and removed in the minutes before (bench/README.md).
bench_fs() {
    local src type opts dev journal
    read -r src type opts < <(findmnt -no SOURCE,FSTYPE,OPTIONS -T "$BENCH_DIR")
    if [[ $type != ext4 ]]; then
        echo "$type"
        return
    fi
    dev=$(basename "$src")
    journal=$(cat "/sys/fs/ext4/$dev/journal_task" 2>/dev/null || echo "?")
    [[ $journal == "<none>" ]] && journal="no journal" || journal="journal"
    echo "ext4, $journal$([[ ,$opts, == *,discard,* ]] && echo ", discard")"
}
hf=(hyperfine --warmup "$WARMUP" --runs "$RUNS" --style basic)
cmds_file=$RESULTS_DIR/$pre-commands.txt
: >"$cmds_file"
note() { printf '%s\n' "$@" >>"$cmds_file"; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }
pss_kb() { awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null; }
state_pid() { bench_container_pid "$1"; }

# Smoke test: every command of the cycle works once, untimed.
log "smoke test"
"$XD" -a create -m test -c cyc -b -e /bin/true || die "xdocker create -b -e /bin/true failed"
"$XD" -a destroy -c cyc >/dev/null || die "xdocker destroy failed"
crun --root "$T/crun" run -b "$T/bundle" "$CRUNID" </dev/null || die "crun run failed"
crun --root "$T/crun" --cgroup-manager=disabled run -b "$T/bundle" "$CRUNID" </dev/null ||
    die "crun run --cgroup-manager=disabled failed"
lxc-execute -n "$LXCX" -P "$LXCP" -- /bin/true </dev/null || die "lxc-execute failed"
systemd-nspawn -q -D "$T/nspawn/$NSM" -M "$NSM" --register=no --keep-unit /bin/true </dev/null 2>"$T/nspawn.err" ||
    { cat "$T/nspawn.err" >&2; die "systemd-nspawn failed"; }

# ---------------------------------------------------------------- cycle
if want cycle; then
    c_xd="$qXD -a create -m test -c cyc -b -e /bin/true && $qXD -a destroy -c cyc"
    c_xdp="$qXD -a create -m test -c cyc -b -e /bin/true --userns off && $qXD -a destroy -c cyc"
    c_crun="crun --root $qT/crun run -b $qT/bundle $CRUNID"
    c_crun0="crun --root $qT/crun --cgroup-manager=disabled run -b $qT/bundle $CRUNID"
    c_lxc="lxc-execute -n $LXCX -P $qLXCP -- /bin/true"
    c_ns="systemd-nspawn -q -D $qT/nspawn/$NSM -M $NSM --register=no --keep-unit /bin/true"
    c_floor="unshare -fpmui /bin/true"
    note "cycle (hyperfine via sh, shell start-up subtracted; stdio to /dev/null):"
    note "  xdocker : $c_xd" "  xdocker privileged: $c_xdp" "  crun    : $c_crun" "  crun0   : $c_crun0" "  lxc     : $c_lxc" \
        "  nspawn  : $c_ns" "  floor   : $c_floor"
    quiet "before cycle"
    log "cycle benchmark"
    "${hf[@]}" --export-json "$RESULTS_DIR/$pre-cycle.json" --export-markdown "$RESULTS_DIR/$pre-cycle.md" \
        -n "xdocker create -b -e /bin/true && destroy" "$c_xd" \
        -n "xdocker (--userns off) create -b -e /bin/true && destroy" "$c_xdp" \
        -n "crun run" "$c_crun" \
        -n "crun run (--cgroup-manager=disabled)" "$c_crun0" \
        -n "lxc-execute" "$c_lxc" \
        -n "systemd-nspawn" "$c_ns" \
        -n "floor: unshare -fpmui /bin/true" "$c_floor"
fi

# ---------------------------------------------------------------- isolated
if want isolated; then
    note "isolated (python, no shell; $ISO_RUNS rounds, round-robin, ${GAP}s pause before each invocation):"
    note "  xdocker : $qXD -a create -m test -c cyc -b -e /bin/true ; then $qXD -a destroy -c cyc (both timed)"
    note "  crun    : crun --root $qT/crun run -b $qT/bundle $CRUNID" "  crun0   : ... --cgroup-manager=disabled ..." \
        "  lxc     : lxc-execute -n $LXCX -P $qLXCP -- /bin/true"
    quiet "before isolated"
    log "isolated invocations ($ISO_RUNS rounds, ${GAP}s apart)"
    python3 - "$RESULTS_DIR/$pre-isolated.json" "$ISO_RUNS" "$GAP" "$XD" "$T" "$CRUNID" "$LXCX" "$LXCP" <<'PY'
import json, statistics as st, subprocess, sys, time
out, runs, gap, xd, t, crunid, lxcx, lxcp = sys.argv[1:]
runs, gap = int(runs), float(gap)
cmds = {
    "xdocker create -b -e /bin/true + destroy": [[xd, "-a", "create", "-m", "test", "-c", "cyc", "-b", "-e", "/bin/true"],
                                                 [xd, "-a", "destroy", "-c", "cyc"]],
    "xdocker create -b -e /bin/true (alone)": None,
    "crun run": [["crun", "--root", f"{t}/crun", "run", "-b", f"{t}/bundle", crunid]],
    "crun run (--cgroup-manager=disabled)": [["crun", "--root", f"{t}/crun", "--cgroup-manager=disabled", "run", "-b", f"{t}/bundle", crunid]],
    "lxc-execute": [["lxc-execute", "-n", lxcx, "-P", lxcp, "--", "/bin/true"]],
}
times = {k: [] for k in cmds}
for _ in range(runs):
    for name, argvs in cmds.items():
        if argvs is None:
            continue
        time.sleep(gap)
        parts = []
        for argv in argvs:
            a = time.perf_counter()
            subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            parts.append(time.perf_counter() - a)
        times[name].append(sum(parts))
        if name.startswith("xdocker"):
            times["xdocker create -b -e /bin/true (alone)"].append(parts[0])
res = []
for name, v in times.items():
    res.append({"command": name, "mean": st.mean(v), "stddev": st.stdev(v) if len(v) > 1 else 0.0,
                "median": st.median(v), "min": min(v), "max": max(v), "times": v, "user": 0, "system": 0})
json.dump({"results": res}, open(out, "w"), indent=1)
for r in res:
    print(f"  {r['command']:<44} median {r['median'] * 1000:7.2f} ms  mean {r['mean'] * 1000:7.2f}  min {r['min'] * 1000:6.2f}  max {r['max'] * 1000:7.2f}", file=sys.stderr)
PY
fi

# ---------------------------------------------------------------- breakdown
if want breakdown; then
    p_gone="sh -c '$qXD -a destroy -c brk >/dev/null 2>&1; true'"
    p_stopped="sh -c '$qXD -a destroy -c brk >/dev/null 2>&1; $qXD -a create -m test -c brk -b -e /bin/true'"
    p_created="sh -c '$qXD -a create -m test -c brk2 >/dev/null 2>&1; true'"
    note "breakdown (hyperfine -N; --prepare untimed):"
    note "  create       : prepare $p_gone" "                 $qXD -a create -m test -c brk"
    note "  create -b -e : prepare $p_gone" "                 $qXD -a create -m test -c brk -b -e /bin/true"
    note "  boot -e      : prepare $p_created" "                 $qXD -a boot -c brk2 -e /bin/true"
    note "  destroy      : prepare $p_stopped" "                 $qXD -a destroy -c brk"
    note "  -s containers: $qXD -s containers"
    quiet "before breakdown"
    log "breakdown benchmark"
    "${hf[@]}" -N --export-json "$RESULTS_DIR/$pre-breakdown.json" --export-markdown "$RESULTS_DIR/$pre-breakdown.md" \
        --prepare "$p_gone" -n "xdocker create" "$qXD -a create -m test -c brk" \
        --prepare "$p_gone" -n "xdocker create -b -e /bin/true" "$qXD -a create -m test -c brk -b -e /bin/true" \
        --prepare "$p_created" -n "xdocker boot -e /bin/true" "$qXD -a boot -c brk2 -e /bin/true" \
        --prepare "$p_stopped" -n "xdocker destroy (stopped)" "$qXD -a destroy -c brk" \
        --prepare "true" -n "xdocker -s containers (1 container)" "$qXD -s containers"
    "$XD" -a destroy -c brk >/dev/null 2>&1 || true
    "$XD" -a destroy -c brk2 >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------- boot
if want boot; then
    "$XD" -a create -m test -c boot >/dev/null
    "$XD" -a create -m test -c pboot --userns off >/dev/null
    p_xd="sh -c '$qXD -a kill -c boot >/dev/null 2>&1; true'"
    p_xdp="sh -c '$qXD -a kill -c pboot >/dev/null 2>&1; true'"
    p_lxc="sh -c 'lxc-stop -k -n $LXCS -P $qLXCP >/dev/null 2>&1; true'"
    note "boot-to-ready (hyperfine -N; --prepare untimed):"
    note "  xdocker  : prepare $p_xd" "             $qXD -a boot -c boot"
    note "  xdocker privileged: prepare $p_xdp" "             $qXD -a boot -c pboot"
    note "  lxc-start: prepare $p_lxc" "             lxc-start -d -n $LXCS -P $qLXCP"
    quiet "before boot"
    log "boot benchmark"
    "${hf[@]}" -N --export-json "$RESULTS_DIR/$pre-boot.json" --export-markdown "$RESULTS_DIR/$pre-boot.md" \
        --prepare "$p_xd" -n "xdocker boot (host container)" "$qXD -a boot -c boot" \
        --prepare "$p_xdp" -n "xdocker boot (host container, --userns off)" "$qXD -a boot -c pboot" \
        --prepare "$p_lxc" -n "lxc-start -d" "lxc-start -d -n $LXCS -P $qLXCP"
    for c in boot pboot; do
        "$XD" -a kill -c "$c" >/dev/null 2>&1 || true
        "$XD" -a destroy -c "$c" >/dev/null 2>&1 || true
    done
    lxc-stop -k -n "$LXCS" -P "$LXCP" >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------- hardening
if want hardening; then
    # crun with a Docker-sized seccomp profile: allow every x86_64 system call
    # but the ones xdocker's filter denies, everything else EPERM.
    cp -a "$T/bundle" "$T/bundle-sc"
    python3 - "$T/bundle-sc/config.json" "$repo/src/runtime/seccomp_denied.in" <<'PY'
import json, re, sys
path, denied_file = sys.argv[1:]
denied = set(re.findall(r'\("([a-z0-9_]+)"', open(denied_file).read()))
names = sorted({m.group(1) for m in re.finditer(r"#define __NR_([a-z0-9_]+)\s+\d+",
                open("/usr/include/x86_64-linux-gnu/asm/unistd_64.h").read())} - denied)
s = json.load(open(path))
s["linux"]["seccomp"] = {
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
}
json.dump(s, open(path, "w"), indent=1)
print(f"crun profile: {len(names)} system calls allowed", file=sys.stderr)
PY
    crun --root "$T/crun" run -b "$T/bundle-sc" "$CRUNID" </dev/null || die "crun run with seccomp failed"
    "$XD" -a create -m test -c hard --userns off >/dev/null
    "$XD" -a create -m test -c soft --userns off --seccomp off >/dev/null
    "$XD" -a create -m test -c uns >/dev/null
    boot_rows=(
        --prepare "sh -c '$qXD -a kill -c hard >/dev/null 2>&1; true'" -n "xdocker boot (--userns off, hardened: caps, /proc, seccomp)" "env XDOCKER_HOME=$(q "$XDOCKER_HOME") $qXD -a boot -c hard"
        --prepare "sh -c '$qXD -a kill -c soft >/dev/null 2>&1; true'" -n "xdocker boot (--userns off --seccomp off)" "env XDOCKER_HOME=$(q "$XDOCKER_HOME") $qXD -a boot -c soft"
        --prepare "sh -c '$qXD -a kill -c uns >/dev/null 2>&1; true'" -n "xdocker boot (default: hardened + user namespace)" "env XDOCKER_HOME=$(q "$XDOCKER_HOME") $qXD -a boot -c uns"
    )
    if [[ -n ${XDOCKER_BASE:-} ]]; then
        # Its own home (older on-disk formats stay apart), same cgroup parent.
        cp "$XDOCKER_BASE" "$T/xdocker-base"
        mkdir -p "$T/home-base"
        printf '[cgroups]\nparent = "%s"\n' "$CGP" >"$T/home-base/xdocker.toml"
        XDOCKER_HOME=$T/home-base "$T/xdocker-base" -a install_test >/dev/null || die "base: install_test failed"
        XDOCKER_HOME=$T/home-base "$T/xdocker-base" -a create -m test -c base >/dev/null || die "base: create failed"
        qXB="XDOCKER_HOME=$qT/home-base $(q "$T/xdocker-base")"
        boot_rows+=(--prepare "sh -c '$qXB -a kill -c base >/dev/null 2>&1; true'" -n "xdocker boot (before hardening)" "env $qXB -a boot -c base")
    fi
    note "hardening, boot-to-ready (hyperfine -N; prepare: kill, untimed):" "  ${boot_rows[*]}"
    quiet "before hardening boot"
    log "hardening: boot"
    "${hf[@]}" -N --export-json "$RESULTS_DIR/$pre-hardening-boot.json" \
        --export-markdown "$RESULTS_DIR/$pre-hardening-boot.md" "${boot_rows[@]}"
    for c in hard soft uns; do "$XD" -a kill -c "$c" >/dev/null 2>&1 || true; "$XD" -a destroy -c "$c" >/dev/null 2>&1 || true; done
    if [[ -n ${XDOCKER_BASE:-} ]]; then
        XDOCKER_HOME=$T/home-base "$T/xdocker-base" -a kill -c base >/dev/null 2>&1 || true
        XDOCKER_HOME=$T/home-base "$T/xdocker-base" -a destroy -c base >/dev/null 2>&1 || true
    fi
    c_h="$qXD -a create -m test -c cyc -b -e /bin/true --userns off && $qXD -a destroy -c cyc"
    c_s="$qXD -a create -m test -c cyc -b -e /bin/true --userns off --seccomp off && $qXD -a destroy -c cyc"
    c_u="$qXD -a create -m test -c cyc -b -e /bin/true && $qXD -a destroy -c cyc"
    c_c="crun --root $qT/crun run -b $qT/bundle $CRUNID"
    c_cs="crun --root $qT/crun run -b $qT/bundle-sc $CRUNID"
    note "hardening, cycle (hyperfine via sh):" "  $c_h" "  $c_s" "  $c_u" "  $c_c" "  $c_cs"
    quiet "before hardening cycle"
    log "hardening: cycle"
    "${hf[@]}" --export-json "$RESULTS_DIR/$pre-hardening-cycle.json" \
        --export-markdown "$RESULTS_DIR/$pre-hardening-cycle.md" \
        -n "xdocker cycle (--userns off, seccomp on)" "$c_h" \
        -n "xdocker cycle (--userns off --seccomp off)" "$c_s" \
        -n "xdocker cycle (default: user namespace)" "$c_u" \
        -n "crun run (no seccomp)" "$c_c" \
        -n "crun run (Docker-sized seccomp profile)" "$c_cs"
fi

# ---------------------------------------------------------------- rss
if want rss; then
    log "rss of idle inits"
    "$XD" -a create -m test -c rss -b >/dev/null
    lxc-start -d -n "$LXCS" -P "$LXCP"
    sleep 2
    xpid=$(state_pid rss)
    lpid=$(lxc-info -n "$LXCS" -P "$LXCP" -p -H)
    mpid=$(awk '$1 == "PPid:" { print $2 }' "/proc/$lpid/status")
    {
        echo "process pid comm VmRSS_kB Pss_kB RssAnon_kB RssFile_kB VmHWM_kB"
        for p in "$xpid" "$mpid" "$lpid"; do
            echo "$p $(tr ' ' '_' <"/proc/$p/comm") $(status_kb "$p" VmRSS) $(pss_kb "$p") $(status_kb "$p" RssAnon) $(status_kb "$p" RssFile) $(status_kb "$p" VmHWM)"
        done
        echo "# cmdline $xpid: $(tr '\0' ' ' <"/proc/$xpid/cmdline")"
        echo "# cmdline $mpid: $(tr '\0' ' ' <"/proc/$mpid/cmdline")"
        echo "# cmdline $lpid: $(tr '\0' ' ' <"/proc/$lpid/cmdline")"
    } | awk 'NR == 1 { print "role " $0; next }
             /^#/ { print; next }
             NR == 2 { print "xdockerinit " $0; next }
             NR == 3 { print "lxc-monitor " $0; next }
             NR == 4 { print "lxc-init " $0 }' >"$RESULTS_DIR/$pre-rss.txt"
    cat "$RESULTS_DIR/$pre-rss.txt" >&2
    "$XD" -a kill -c rss >/dev/null
    "$XD" -a destroy -c rss >/dev/null
    lxc-stop -k -n "$LXCS" -P "$LXCP" >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------- scale
mem_line() { free -m | awk '/^Mem:/ { printf "used %s MiB, free %s MiB, available %s MiB", $3, $4, $7 }'; }
slab_kb() { awk '$1 == "Slab:" { print $2 }' /proc/meminfo; }
if want scale; then
    scale=$RESULTS_DIR/$pre-scale.txt
    quiet "before scale"
    log "scale: creating and booting $N containers"
    mem0=$(mem_line); slab0=$(slab_kb); avail0=$(awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo)
    free -m >"$T/free-before.txt"
    : >"$T/scale-times.txt"
    reached=0; fail=
    t0=$(date +%s%N)
    for ((i = 1; i <= N; i++)); do
        a=$(date +%s%N)
        if ! out=$("$XD" -a create -m test -c "c$i" 2>&1); then fail="create c$i: $out"; break; fi
        b=$(date +%s%N)
        if ! out=$("$XD" -a boot -c "c$i" 2>&1); then fail="boot c$i: $out"; break; fi
        c=$(date +%s%N)
        echo "$i $(((b - a) / 1000)) $(((c - b) / 1000))" >>"$T/scale-times.txt"
        reached=$i
        ((i % 100 == 0)) && log "  $i booted"
    done
    t1=$(date +%s%N)
    free -m >"$T/free-after.txt"
    mem1=$(mem_line); slab1=$(slab_kb); avail1=$(awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo)
    running=0; rss_sum=0; pss_sum=0
    for ((i = 1; i <= reached; i++)); do
        p=$(state_pid "c$i")
        if [[ -n $p && -d /proc/$p ]]; then
            running=$((running + 1))
            rss_sum=$((rss_sum + $(status_kb "$p" VmRSS)))
            pss_sum=$((pss_sum + $(pss_kb "$p")))
        fi
    done
    if [[ -n $fail ]]; then
        log "scale: stopped at $reached: $fail"
        {
            echo "limits when it failed:"
            echo "  kernel.pid_max $(cat /proc/sys/kernel/pid_max), threads-max $(cat /proc/sys/kernel/threads-max), ulimit -u $(ulimit -u), ulimit -n $(ulimit -n)"
            echo "  user.max_mnt_namespaces $(cat /proc/sys/user/max_mnt_namespaces), user.max_pid_namespaces $(cat /proc/sys/user/max_pid_namespaces), fs.mount-max $(cat /proc/sys/fs/mount-max)"
            echo "  processes $(ls -d /proc/[0-9]* | wc -l), mounts in this namespace $(wc -l </proc/self/mountinfo)"
            echo "  $(mem_line)"
        } >"$T/scale-fail.txt"
    fi
    c_ls="$qXD -s containers"
    c_js="$qXD -s containers --json"
    note "scale: for i in 1..$N: $qXD -a create -m test -c c\$i; $qXD -a boot -c c\$i"
    note "  then (hyperfine -N): $c_ls | $c_js"
    if ((reached > 0)); then
        "$XD" -s containers >"$T/containers-table.txt"
        log "hyperfine -s containers with $reached running containers"
        "${hf[@]}" -N --export-json "$RESULTS_DIR/$pre-containers$N.json" --export-markdown "$RESULTS_DIR/$pre-containers$N.md" \
            -n "xdocker -s containers ($reached running)" "$c_ls" \
            -n "xdocker -s containers --json ($reached running)" "$c_js"
    fi
    # The table's status column must say running for each (checked once).
    listed_running=$(grep -c -i 'running' "$T/containers-table.txt" 2>/dev/null || true)
    # What one command costs with all of them there: each command first runs
    # release_stale() over every container, and -s containers reads them all.
    if ((reached > 0)); then
        strace -f -c -o "$T/scale-strace-ls.txt" "$XD" -s containers >/dev/null
        strace -f -c -o "$T/scale-strace-create.txt" "$XD" -a create -m test -c probe >/dev/null
        strace -f -c -o "$T/scale-strace-boot.txt" "$XD" -a boot -c probe -e /bin/true
        "$XD" -a destroy -c probe >/dev/null
        for f in ls create boot; do
            echo "strace -c with $reached running: $(case $f in ls) echo "-s containers" ;; create) echo "-a create -m test -c probe" ;; boot) echo "-a boot -c probe -e /bin/true" ;; esac)"
            awk '/^-+/ { n++ } n == 1 && !/^-/ { print }' "$T/scale-strace-$f.txt" | sort -k4 -n -r | head -6 |
                awk '{ printf "    %-14s %6s calls  %s s\n", $NF, $4, $2 }'
            awk '/total/ { printf "    total          %6s calls  %s s\n", $4, $2 }' "$T/scale-strace-$f.txt"
        done >"$T/scale-strace.txt"
    fi
    log "scale: tearing down (first half kill + destroy, second half destroy -h)"
    : >"$T/teardown-times.txt"
    t2=$(date +%s%N)
    half=$(((reached + 1) / 2))
    for ((i = 1; i <= reached; i++)); do
        a=$(date +%s%N)
        if ((i <= half)); then
            "$XD" -a kill -c "c$i" >/dev/null || echo "kill c$i failed" >>"$T/teardown-errors.txt"
            b=$(date +%s%N)
            "$XD" -a destroy -c "c$i" >/dev/null || echo "destroy c$i failed" >>"$T/teardown-errors.txt"
        else
            b=$a
            "$XD" -a destroy -h -c "c$i" >/dev/null || echo "destroy -h c$i failed" >>"$T/teardown-errors.txt"
        fi
        c=$(date +%s%N)
        echo "$i $(((b - a) / 1000)) $(((c - b) / 1000))" >>"$T/teardown-times.txt"
    done
    # a failed create/boot may leave c$((reached+1)) behind
    "$XD" -a destroy -h -c "c$((reached + 1))" >/dev/null 2>&1 || true
    t3=$(date +%s%N)
    sleep 1
    left=$(find /sys/fs/cgroup/*/"$CGP" -mindepth 1 -type d 2>/dev/null | wc -l)
    left_list=$(find /sys/fs/cgroup/*/"$CGP" -mindepth 1 -type d 2>/dev/null | head -5 | tr '\n' ' ')
    leftover_procs=0
    for d in /proc/[0-9]*; do
        if [[ $(readlink "$d/exe" 2>/dev/null) == "$T/xdockerinit"* ]]; then leftover_procs=$((leftover_procs + 1)); fi
    done
    mem2=$(mem_line); slab2=$(slab_kb); avail2=$(awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo)
    python3 - "$T/scale-times.txt" "$T/teardown-times.txt" "$N" "$reached" "$(((t1 - t0) / 1000000))" "$(((t3 - t2) / 1000000))" <<'PY' >"$scale"
import statistics as st, sys
boot_f, down_f, n, reached, up_ms, down_ms = sys.argv[1:]
def cols(p):
    rows = [list(map(int, l.split())) for l in open(p) if l.strip()]
    return rows
def desc(v):
    if not v:
        return "-"
    v = sorted(x / 1000 for x in v)
    p90 = v[min(len(v) - 1, int(0.9 * len(v)))]
    return f"median {st.median(v):6.1f} ms  mean {st.mean(v):6.1f}  p90 {p90:6.1f}  max {v[-1]:7.1f}"
b = cols(boot_f); d = cols(down_f)
print(f"containers asked: {n}, created and booted: {reached}, wall time {int(up_ms)/1000:.1f} s")
print(f"  create (each)            {desc([r[1] for r in b])}")
print(f"  boot (each)              {desc([r[2] for r in b])}")
for lo, hi in (((1, 50), (int(reached) - 49, int(reached))) if int(reached) >= 100 else ()):
    part = [r for r in b if lo <= r[0] <= hi]
    if part:
        print(f"  boot, containers {lo}-{hi}: {desc([r[2] for r in part])}")
        print(f"  create, containers {lo}-{hi}: {desc([r[1] for r in part])}")
half = (int(reached) + 1) // 2
print(f"teardown wall time {int(down_ms)/1000:.1f} s")
print(f"  kill (each, 1-{half})          {desc([r[1] for r in d if r[0] <= half])}")
print(f"  destroy after kill (each)    {desc([r[2] for r in d if r[0] <= half])}")
print(f"  destroy -h (each, {half+1}-{reached}) {desc([r[2] for r in d if r[0] > half])}")
PY
    {
        echo "memory before: $mem0 (Slab $((slab0 / 1024)) MiB)"
        echo "memory with $reached running: $mem1 (Slab $((slab1 / 1024)) MiB)"
        echo "  MemAvailable dropped by $(((avail0 - avail1) / 1024)) MiB = $(((avail0 - avail1) / (reached > 0 ? reached : 1))) KiB per container"
        echo "  xdockerinit VmRSS summed: $((rss_sum / 1024)) MiB ($((rss_sum / (reached > 0 ? reached : 1))) KiB each); Pss summed: $((pss_sum / 1024)) MiB"
        echo "  Slab grew by $(((slab1 - slab0) / 1024)) MiB"
        echo "memory after teardown: $mem2 (Slab $((slab2 / 1024)) MiB; MemAvailable $(((avail2 - avail0) / 1024)) MiB vs before)"
        echo "running xdockerinit found via state.toml: $running; table rows saying running: $listed_running"
        echo "cgroup dirs left under /sys/fs/cgroup/*/$CGP after teardown: $left ${left_list}"
        echo "xdockerinit processes left: $leftover_procs"
        [[ -s $T/teardown-errors.txt ]] && { echo "teardown errors:"; sed 's/^/  /' "$T/teardown-errors.txt"; }
        [[ -s $T/scale-strace.txt ]] && cat "$T/scale-strace.txt"
        [[ -n $fail ]] && { echo "FAILED at container $((reached + 1)): $fail"; cat "$T/scale-fail.txt"; }
        echo "free -m before:"; sed 's/^/  /' "$T/free-before.txt"
        echo "free -m with $reached running:"; sed 's/^/  /' "$T/free-after.txt"
    } >>"$scale"
    cat "$scale" >&2
fi

# ---------------------------------------------------------------- diag
if want diag; then
    diag=$RESULTS_DIR/$pre-diag.txt
    log "diag: strace / perf stat of xdocker -a create -m test -c dg -b -e /bin/true"
    quiet "before diag"
    "$XD" -a destroy -c dg >/dev/null 2>&1 || true
    strace -f -tt -T -y -s 96 -o "$T/strace-tt.txt" "$XD" -a create -m test -c dg -b -e /bin/true
    "$XD" -a destroy -c dg >/dev/null
    strace -f -c -o "$T/strace-c.txt" "$XD" -a create -m test -c dg -b -e /bin/true
    "$XD" -a destroy -c dg >/dev/null
    strace -f -tt -T -y -s 96 -o "$T/strace-destroy.txt" sh -c "$qXD -a create -m test -c dg -b -e /bin/true; exec $qXD -a destroy -c dg" >/dev/null
    cp "$T/strace-tt.txt" "$RESULTS_DIR/$pre-strace-create-b-e.txt"
    # perf trace (much less overhead than strace): phases of 7 runs.
    for k in 1 2 3 4 5 6 7; do
        perf trace -o "$T/ptrace-$k.txt" -- "$XD" -a create -m test -c dg -b -e /bin/true 2>/dev/null ||
            echo "perf trace failed" >"$T/ptrace-$k.txt"
        "$XD" -a destroy -c dg >/dev/null
        sleep 0.3
    done
    cp "$T/ptrace-1.txt" "$RESULTS_DIR/$pre-perftrace-create-b-e.txt"
    python3 - "$T"/ptrace-[1-7].txt >"$T/phases.txt" <<'PY' || echo "phase analysis failed" >"$T/phases.txt"
import re, statistics as st, sys
PH = ["start -> created (config.toml, fsyncs)", "created -> clone3 (lock, cgroup mkdir + limits)",
      "clone3 -> go sent (parent: [cgroup.procs writes], state.toml)",
      "  of which the cgroup attach (parent: cgroup.procs / child: tasks)",
      "go -> xdockerinit exec'd (child: [tasks], overlay, /proc, /sys, /dev, pivot)",
      "xdockerinit: exec -> exit_group (sh -c /bin/true, exit record)",
      "init exit_group -> reaped (pid+mount ns teardown, overlay umount)",
      "reaped -> xdocker exit (release: cgroup rmdir, state unlink)", "total (perf trace clock)"]
rows = []
for path in sys.argv[1:]:
    ev = []
    for l in open(path):
        m = re.match(r"\s*([\d.]+) \(\s*([\d.]*)\s*(?:ms)?\s*\): (\S+)/(\d+) (.*)", l)
        if m:
            ev.append((float(m[1]), float(m[2]) if m[2] else 0.0, m[3], int(m[4]), m[5]))
    if not ev:
        continue
    main = ev[0][3]
    def first(pred, end=False):
        for t, d, c, p, x in ev:
            if pred(t, d, c, p, x):
                return t + d if end else t
        return None
    try:
        t0 = min(t for t, d, c, p, x in ev if p == main)
        clone = first(lambda t, d, c, p, x: p == main and "clone3(" in x)
        # create ends with fsync(containers/): the last fsync before clone3
        created = max(t + d for t, d, c, p, x in ev if p == main and x.startswith("fsync(") and t < clone)
        child = next(int(re.search(r"= (\d+)$", x.strip())[1]) for t, d, c, p, x in ev
                     if p == main and "clone3(" in x and re.search(r"= [1-9]\d*$", x.strip()))
        go = first(lambda t, d, c, p, x: p == main and x.startswith("sendto("))
        # perf trace's fd -> path names are unreliable (stale per-pid caches):
        # the child's self-join writes are its writes before unshare().
        unsh = first(lambda t, d, c, p, x: p == child and x.startswith("unshare("))
        w = [(t, t + d) for t, d, c, p, x in ev if d > 0 and x.startswith("write(") and
             ((p == main and "cgroup.procs>" in x and clone < t < go) or
              (p == child and unsh is not None and t < unsh))]
        if not w:
            raise ValueError("no cgroup.procs / tasks write found")
        attach = sum(b - a for a, b in w)
        execd = first(lambda t, d, c, p, x: p == child and "execveat(" in x and d > 0, end=True)
        iexit = first(lambda t, d, c, p, x: p == child and x.startswith("exit_group"))
        reaped = first(lambda t, d, c, p, x: p == main and "wait4(" in x and d > 0 and re.search(rf"= {child}\b", x), end=True)
        mexit = first(lambda t, d, c, p, x: p == main and x.startswith("exit_group"))
        if None in (clone, go, execd, iexit, reaped, mexit):
            raise ValueError("a marker is missing")
    except (ValueError, StopIteration, TypeError) as e:
        print(f"{path}: could not find the phases ({e!r})")
        continue
    rows.append([created - t0, clone - created, go - clone, attach, execd - go, iexit - execd,
                 reaped - iexit, mexit - reaped, mexit - t0])
if rows:
    print(f"phases of xdocker -a create -m test -c dg -b -e /bin/true under perf trace, ms, {len(rows)} runs")
    print(f"  {'phase':<74} {'median':>7} {'min':>6} {'max':>6}   runs")
    for i, name in enumerate(PH):
        v = [r[i] for r in rows]
        print(f"  {name:<74} {st.median(v):7.2f} {min(v):6.2f} {max(v):6.2f}   " + " ".join(f"{x:.1f}" for x in v))
PY
    perf stat -e task-clock,context-switches,cpu-migrations,page-faults -o "$T/perf.txt" -- \
        sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do $qXD -a create -m test -c dg -b -e /bin/true && $qXD -a destroy -c dg >/dev/null; done" ||
        echo "perf stat failed" >"$T/perf.txt"
    # cgroup v1 attach: the first write of a pid to cgroup.procs in a
    # migration waits for an RCU grace period (percpu_down_write of
    # cgroup_threadgroup_rwsem); a single-threaded task moving itself by
    # writing 0 to `tasks` does not take that lock (kernel/cgroup/cgroup.c,
    # cgroup_procs_write_start()).
    if [[ -d /sys/fs/cgroup/cpu && ! -f /sys/fs/cgroup/cgroup.controllers ]]; then
        python3 - "$CGP" >"$T/cgattach.txt" <<'PY' || echo "cgroup attach test failed" >"$T/cgattach.txt"
import os, statistics as st, sys, time
base, par = "/sys/fs/cgroup", sys.argv[1] + "/attach-test"
ctrls = [c for c in ("cpu", "cpuacct", "cpuset", "memory", "pids") if os.path.isdir(f"{base}/{c}")]
def setup():
    for c in ctrls:
        os.makedirs(f"{base}/{c}/{par}", exist_ok=True)
    if "cpuset" in ctrls:
        for f in ("cpuset.cpus", "cpuset.mems"):
            up = f"{base}/cpuset/{sys.argv[1]}/{f}"
            if not open(up).read().strip():
                open(up, "w").write(open(f"{base}/cpuset/{f}").read().strip())
            open(f"{base}/cpuset/{par}/{f}", "w").write(open(up).read().strip())
def teardown(pid):
    for c in ctrls:
        open(f"{base}/{c}/cgroup.procs", "w").write(str(pid))
    os.kill(pid, 9); os.waitpid(pid, 0)
    for c in ctrls:
        os.rmdir(f"{base}/{c}/{par}")
def once(mode):
    setup()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        ts = []
        if mode == "child writes 0 to tasks":
            for c in ctrls:
                t = time.perf_counter()
                with open(f"{base}/{c}/{par}/tasks", "w") as f:
                    f.write("0")
                ts.append(time.perf_counter() - t)
        os.write(w, " ".join(map(str, ts)).encode()); os.close(w)
        time.sleep(30); os._exit(0)
    os.close(w)
    ts = [float(x) for x in os.read(r, 4096).split()]
    os.close(r)
    if mode == "parent writes pid to cgroup.procs":
        for c in ctrls:
            t = time.perf_counter()
            with open(f"{base}/{c}/{par}/cgroup.procs", "w") as f:
                f.write(str(pid))
            ts.append(time.perf_counter() - t)
    inside = str(pid) in open(f"{base}/{ctrls[-1]}/{par}/cgroup.procs").read().split()
    teardown(pid)
    return ts, inside
print(f"controllers: {' '.join(ctrls)}; 10 runs each, 0.2 s apart; ms per write, in controller order")
for mode in ("parent writes pid to cgroup.procs", "child writes 0 to tasks"):
    first, total, ok = [], [], True
    for _ in range(10):
        ts, inside = once(mode)
        ok &= inside
        first.append(ts[0] * 1000); total.append(sum(ts) * 1000)
        time.sleep(0.2)
    print(f"{mode:<36} first write: median {st.median(first):6.2f} max {max(first):6.2f}; "
          f"all {len(ctrls)} writes: median {st.median(total):6.2f} max {max(total):6.2f}; in group: {ok}")
PY
    else
        echo "not a cgroup v1 host: attach test skipped" >"$T/cgattach.txt"
    fi
    python3 - "$T/strace-tt.txt" "$T/strace-destroy.txt" <<'PY' >"$diag"
import re, sys
def parse(path):
    ev = []
    for l in open(path):
        m = re.match(r"(\d+) (\d+):(\d+):([\d.]+) (.*)", l.rstrip("\n"))
        if not m:
            continue
        t = (int(m[2]) * 3600 + int(m[3]) * 60 + float(m[4])) * 1000
        d = re.search(r"<([\d.]+)>$", m[5])
        ev.append((int(m[1]), t, m[5], float(d[1]) * 1000 if d else None))
    return ev
def report(path, title):
    ev = parse(path)
    if not ev:
        print(f"{title}: no trace"); return
    t0 = ev[0][1]
    print(f"{title}: {ev[-1][1] - t0:.1f} ms under strace, {len(ev)} lines, pids {sorted({e[0] for e in ev})}")
    print("  syscalls that took >= 0.5 ms (ms from start, pid, duration ms, call):")
    for pid, t, text, d in ev:
        if d is not None and d >= 0.5:
            print(f"  {t - t0:8.2f} {pid:>7} {d:7.2f}  {text[:150]}")
    print("  process exits: exit_group -> '+++ exited' (kernel teardown: namespaces, mounts):")
    ex = {}
    for pid, t, text, d in ev:
        if text.startswith("exit_group"):
            ex[pid] = t
        elif text.startswith("+++ exited") and pid in ex:
            print(f"  {ex[pid] - t0:8.2f} {pid:>7} {t - ex[pid]:7.2f}")
    print()
report(sys.argv[1], "create -m test -c dg -b -e /bin/true")
report(sys.argv[2], "create -b -e /bin/true, then destroy (sh -c)")
PY
    {
        echo "== strace -f -c (create -b -e /bin/true)"; cat "$T/strace-c.txt"; echo
        echo "== perf stat over 10 x (create -b -e /bin/true && destroy)"; cat "$T/perf.txt"; echo
        echo "== cgroup v1 attach micro-benchmark"; cat "$T/cgattach.txt"; echo
        echo "== perf trace"; cat "$T/phases.txt"
    } >>"$diag"
    cat "$diag" >&2
fi

# ---------------------------------------------------------------- summary
summary=$RESULTS_DIR/$pre-summary.txt
rc=0
python3 - "$RESULTS_DIR" "$pre" "$N" >"$summary" <<'PY' || rc=$?
import json, os, statistics as st, sys
rd, pre, n = sys.argv[1:]
def load(name):
    p = os.path.join(rd, f"{pre}-{name}.json")
    if not os.path.exists(p) or os.path.getmtime(p) < float(os.environ.get("XDB_START", "0")):
        return None
    return {r["command"]: r for r in json.load(open(p))["results"]}
ok = True
def med(r): return st.median(r["times"]) * 1000
def mean(r): return r["mean"] * 1000
def table(res, title):
    print(title)
    print(f"  {'command':<46} {'median ms':>9} {'mean ms':>8} {'± sd':>6} {'min':>6} {'max':>7}")
    for name, r in res.items():
        print(f"  {name:<46} {med(r):9.2f} {mean(r):8.2f} {(r['stddev'] or 0) * 1000:6.2f} "
              f"{r['min'] * 1000:6.2f} {r['max'] * 1000:7.2f}")
    print()
def check(label, value, target, unit="", le=True):
    global ok
    hit = value <= target if le else value >= target
    ok &= hit
    print(f"  {label:<52} {value:8.2f}{unit}  target {'<' if le else '>'} {target}{unit}  {'PASS' if hit else 'MISS'}")
def ratios(res, x, others):
    for o in others:
        if o in res:
            a, b = res[x], res[o]
            if med(b) <= 0 or mean(b) <= 0:
                print(f"  {'xdocker / ' + o:<52} (no ratio: {o} measured 0 ms after hyperfine's shell correction)")
                continue
            print(f"  {'xdocker / ' + o:<52} median {med(a) / med(b):5.2f}   mean {mean(a) / mean(b):5.2f}")
cyc = load("cycle")
if cyc:
    table(cyc, "cycle: create + boot + destroy, main process /bin/true (hyperfine via sh)")
    x = "xdocker create -b -e /bin/true && destroy"
    xp = "xdocker (--userns off) create -b -e /bin/true && destroy"
    print(" ratios (< 1: xdocker faster; xdocker = the default, unprivileged):")
    ratios(cyc, x, [xp, "crun run", "crun run (--cgroup-manager=disabled)", "lxc-execute", "systemd-nspawn",
                    "floor: unshare -fpmui /bin/true"])
    print(" targets:")
    check("xdocker cycle median", med(cyc[x]), 8, " ms")
    check("xdocker / crun run (median)", med(cyc[x]) / med(cyc["crun run"]), 1)
    check("xdocker / lxc-execute (median)", med(cyc[x]) / med(cyc["lxc-execute"]), 1)
    print()
iso = load("isolated")
if iso:
    table(iso, "isolated: one invocation at a time, a pause before each (python timer, no shell)")
    x = "xdocker create -b -e /bin/true + destroy"
    print(" ratios (< 1: xdocker faster):")
    ratios(iso, x, ["crun run", "crun run (--cgroup-manager=disabled)", "lxc-execute"])
    print()
brk = load("breakdown")
if brk:
    table(brk, "breakdown: xdocker steps alone (hyperfine -N, prepare untimed)")
boot = load("boot")
if boot:
    table(boot, "boot-to-ready of an idle host container (hyperfine -N, prepare: kill / lxc-stop -k)")
    x, l = "xdocker boot (host container)", "lxc-start -d"
    print(" ratios (xdocker = the default, unprivileged):")
    ratios(boot, x, ["xdocker boot (host container, --userns off)", l])
    print(" targets:")
    check("xdocker boot median", med(boot[x]), 6, " ms")
    check("xdocker boot / lxc-start -d (median)", med(boot[x]) / med(boot[l]), 1)
    print()
hb = load("hardening-boot")
if hb:
    table(hb, "hardening: boot-to-ready of an idle host container (hyperfine -N)")
    h, soft = "xdocker boot (--userns off, hardened: caps, /proc, seccomp)", "xdocker boot (--userns off --seccomp off)"
    base = "xdocker boot (before hardening)"
    print(f"  seccomp filter adds        {med(hb[h]) - med(hb[soft]):6.2f} ms (median)")
    if base in hb:
        print(f"  all hardening adds         {med(hb[h]) - med(hb[base]):6.2f} ms (median, vs the build before it)")
    uns = "xdocker boot (default: hardened + user namespace)"
    if uns in hb:
        print(f"  the user namespace adds    {med(hb[uns]) - med(hb[h]):6.2f} ms (median)")
    print(" targets:")
    check("hardening added to boot", med(hb[h]) - med(hb[base if base in hb else soft]), 1, " ms")
    print()
hc = load("hardening-cycle")
if hc:
    table(hc, "hardening: /bin/true cycle with and without seccomp, xdocker and crun (hyperfine via sh)")
    xs, xo = "xdocker cycle (--userns off, seccomp on)", "xdocker cycle (--userns off --seccomp off)"
    cs, co = "crun run (Docker-sized seccomp profile)", "crun run (no seccomp)"
    print(f"  xdocker: seccomp adds      {med(hc[xs]) - med(hc[xo]):6.2f} ms (median)")
    xu = "xdocker cycle (default: user namespace)"
    if xu in hc:
        print(f"  xdocker: the user namespace adds {med(hc[xu]) - med(hc[xs]):6.2f} ms (median)")
    print(f"  crun: the profile adds     {med(hc[cs]) - med(hc[co]):6.2f} ms (median)")
    print(" ratios (< 1: xdocker faster):")
    ratios(hc, xs, [cs])
    print()
rss_p = os.path.join(rd, f"{pre}-rss.txt")
if os.path.exists(rss_p) and os.path.getmtime(rss_p) >= float(os.environ.get("XDB_START", "0")):
    rows = {}
    for line in open(rss_p):
        f = line.split()
        if f and f[0] in ("xdockerinit", "lxc-monitor", "lxc-init"):
            rows[f[0]] = [int(v) if v.isdigit() else 0 for v in f[3:8]]
    print("RSS of idle inits (kB: VmRSS / Pss / RssAnon / RssFile)")
    for k, v in rows.items():
        print(f"  {k:<14} {v[0]:6d} / {v[1]:6d} / {v[2]:6d} / {v[3]:6d}")
    if len(rows) == 3:
        lx = rows["lxc-monitor"][0] + rows["lxc-init"][0]
        lxp = rows["lxc-monitor"][1] + rows["lxc-init"][1]
        xd = rows["xdockerinit"]
        print(f"  LXC monitor + init: VmRSS {lx} kB, Pss {lxp} kB")
        print(f"  xdockerinit / (LXC monitor + init): VmRSS {xd[0] / lx:.2f}, Pss {xd[1] / lxp:.2f}")
        print(" targets:")
        check("xdockerinit VmRSS", xd[0] / 1024, 1, " MiB")
    print()
sc = load(f"containers{n}")
if sc:
    table(sc, f"-s containers with the scale section's containers running (hyperfine -N)")
    print(" targets:")
    for name, r in sc.items():
        if "--json" not in name:
            check(f"{name} mean", mean(r), 100, " ms")
    print()
print("TARGETS MET" if ok else "TARGETS MISSED")
sys.exit(0 if ok else 3)
PY
{
    echo
    scale=$RESULTS_DIR/$pre-scale.txt
    if want scale && [[ -f $scale ]]; then echo "scale section:"; sed 's/^/  /' "$scale"; echo; fi
    if want diag && [[ -f $RESULTS_DIR/$pre-diag.txt ]]; then
        echo "diag: see $pre-diag.txt (slow syscalls, strace -c, perf stat, cgroup attach test)"
        grep -A3 '^== cgroup v1 attach' "$RESULTS_DIR/$pre-diag.txt" | tail -n +2 | sed 's/^/  /'
        sed -n '/^== perf trace/,$p' "$RESULTS_DIR/$pre-diag.txt" | tail -n +2 | sed 's/^/  /'
        echo
    fi
    echo "setup: BENCH_DIR=$BENCH_DIR ($(bench_fs)), RUNS=$RUNS WARMUP=$WARMUP N=$N LXC_NET=$LXC_NET CRUN_NETNS=$CRUN_NETNS"
    [[ -n $v2_ctrls ]] && echo "crun: /sys/fs/cgroup/unified/cgroup.controllers ($v2_ctrls) masked with an empty file in a private mount namespace"
    echo "exact commands: $pre-commands.txt (T=$T, RID=$RID)"
    echo "xdocker: $xdocker_src; XDOCKER_INIT=$XDOCKER_INIT_SRC"
    printf '%s\n' "${loads[@]}"
    echo "host: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -m | awk '/^Mem:/ { print $2 }') MiB RAM"
    echo "tools: $(hyperfine --version), crun $(crun --version | awk 'NR == 1 { print $3 }'), lxc $(lxc-execute --version), $(systemd-nspawn --version | head -1)"
} >>"$summary"
cat "$summary"
echo "results: $RESULTS_DIR/$pre-*" >&2
if [[ $rc -eq 3 && $STRICT == 1 ]]; then exit 3; fi
[[ $rc -eq 0 || $rc -eq 3 ]] || die "summary failed"
