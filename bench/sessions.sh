#!/usr/bin/env bash
# Sessions benchmark: `xdocker -a run` / attach PTY against lxc-attach, nsenter
# and ssh, on the busybox root filesystem of xdocker's `test` image, with
# hyperfine.
#
#   bench/sessions.sh [SECTION...]     sections: latency throughput (default: both)
#
#   latency     one hyperfine run, side by side:
#                 xdocker -a run -c C --cmd true      (socket, helper, sh -c true)
#                 lxc-attach -n L -- true             (an lxc-start -d container)
#                 nsenter -t PID -a true              (setns into C, no session)
#               plus `xdocker -v` (the CLI's own start-up, no session) as a floor,
#               and the protocol round trip alone (connect, Hello, OpenPipes
#               `sh -c true`, Exit) timed by a small python client in a loop.
#   throughput  `cat` of a SIZE_MB file (base64 text, so the terminal passes every
#               byte) through a PTY, to /dev/null, one hyperfine run each:
#               (a) a terminal on both ends, every client under `script`:
#                 xdocker -a run -c C --cmd 'cat F'   (stdin/stdout a tty: the PTY
#                                                     session attach uses)
#                 lxc-attach -n L -- cat F            (allocates a pty for a tty)
#                 ssh -tt root@127.0.0.1 cat F        (private sshd, own port)
#               (b) the container's PTY only (no client terminal):
#                 xdocker -a attach -c C < "cat F; exit"
#                 ssh -tt root@127.0.0.1 cat F < /dev/null
#               (lxc-attach has no way to force a pty without a terminal)
#
# Targets: run round trip median under 3 ms and below lxc-attach's; PTY
# throughput at least ssh's (xdocker time <= ssh time).
#
# Environment:
#   RUNS=200 WARMUP=20       hyperfine --runs / --warmup for latency
#   TRUNS=5 TWARMUP=1        the same for throughput
#   SIZE_MB=200              size of the file cat'ed
#   LXC_NET=none             lxc.net.0.type of the LXC container (none = host
#                            network, like the xdocker container here)
#   BENCH_DIR=/tmp RESULTS_DIR=bench/results TAG=
#   XDOCKER=path XDOCKER_INIT=path   use these binaries instead of building
#   KEEP=1                   keep the temporary directory
#   STRICT=1                 exit 3 when a target is missed
#   WAIT_IDLE=N              wait up to N s for the load average to drop below 0.5
#                            before each hyperfine run (default 0)
#
# Never touches /var/xdocker, the system sshd or ~/.ssh. Everything it starts
# (the xdocker container, the LXC container, sshd and its sessions) is ended
# by the PIDs it recorded, never by name, and removed on exit.
set -euo pipefail

self=$(readlink -f "${BASH_SOURCE[0]}")
here=$(dirname "$self")
repo=$(dirname "$here")

RUNS=${RUNS:-200}
WARMUP=${WARMUP:-20}
TRUNS=${TRUNS:-5}
TWARMUP=${TWARMUP:-1}
SIZE_MB=${SIZE_MB:-200}
LXC_NET=${LXC_NET:-none}
BENCH_DIR=${BENCH_DIR:-/tmp}
RESULTS_DIR=${RESULTS_DIR:-$here/results}
TAG=${TAG:-}
KEEP=${KEEP:-0}
STRICT=${STRICT:-0}
WAIT_IDLE=${WAIT_IDLE:-0}
sections=("$@")
((${#sections[@]})) || sections=(latency throughput)

BENCH_NAME="sessions bench"
# shellcheck source=lib.sh
. "$here/lib.sh"
for s in "${sections[@]}"; do
    case $s in latency | throughput) ;; *) die "unknown section $s" ;; esac
done
[[ $(id -u) == 0 ]] || die "run as root"
[[ $RUNS =~ ^[0-9]+$ && $TRUNS =~ ^[0-9]+$ && $SIZE_MB =~ ^[0-9]+$ ]] || die "RUNS, TRUNS, SIZE_MB must be integers"
case $LXC_NET in empty | none) ;; *) die "LXC_NET must be empty or none" ;; esac

# ---------------------------------------------------------------- tools
bench_install_missing hyperfine:hyperfine lxc-attach:lxc script:bsdutils nsenter:util-linux
bench_need python3 ssh ssh-keygen /usr/sbin/sshd

# ---------------------------------------------------------------- build
bench_static_binaries

# ---------------------------------------------------------------- temp dir
bench_temp_dir xdocker-sess
bench_random_id
CGP=xdocker-bench-$RID
LXCP=$T/lxc
LXC=xdb$RID-a
C=sess
pre=sessions${TAG:+-$TAG}
bench_lxc_note_pivot
bench_private_home "$CGP"
mkdir -p "$T/ssh"

# shellcheck source=../scripts/tests/private_sshd.sh
. "$repo/scripts/tests/private_sshd.sh"
SSHD_PID=
cleanup() {
    set +e
    trap - EXIT INT TERM
    private_sshd_stop
    bench_kill_container "$C"
    [[ -d $XDOCKER_HOME/containers/$C ]] && "$XD" -a destroy -c "$C" -f >/dev/null 2>&1
    bench_lxc_remove "$LXC" "$LXCP"
    bench_remove_cgroups "$CGP"
    bench_remove_temp
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
XPID=$(bench_container_pid "$C")
[[ -n $XPID ]] || die "no pid for container $C"

log "lxc: an idle busybox container ($LXC, lxc.net.0.type = $LXC_NET)"
bench_lxc_config "$LXC" "lxc.pty.max = 16"
bench_lxc_idle_inittab "$LXC"
bench_lxc_start "$LXC"

qXD=$(q "$XD"); qLXCP=$(q "$LXCP")
c_xd="$qXD -a run -c $C --cmd true"
c_lxc="lxc-attach -n $LXC -P $qLXCP -- true"
c_ns="nsenter -t $XPID -a true"
log "smoke test"
$XD -a run -c "$C" --cmd true </dev/null || die "xdocker -a run failed"
lxc-attach -n "$LXC" -P "$LXCP" -- true </dev/null || die "lxc-attach failed"
nsenter -t "$XPID" -a true </dev/null || die "nsenter failed"

hf=(hyperfine --style basic -N)
summary=()

mean_s() {
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print("%.3f" % r["mean"])' "$1" "$2"
}
missed=0

# ---------------------------------------------------------------- latency
if want latency; then
    note "# latency" "xdocker : $c_xd" "lxc     : $c_lxc" "nsenter : $c_ns" "floor   : $qXD -v"
    wait_idle latency
    log "latency: hyperfine --runs $RUNS --warmup $WARMUP"
    "${hf[@]}" --warmup "$WARMUP" --runs "$RUNS" \
        --export-json "$RESULTS_DIR/$pre-latency.json" --export-markdown "$RESULTS_DIR/$pre-latency.md" \
        -n "xdocker -a run --cmd true" "$c_xd" \
        -n "lxc-attach -- true" "$c_lxc" \
        -n "nsenter -a true" "$c_ns" \
        -n "xdocker -v (CLI start-up only)" "$qXD -v" >&2
    # The protocol round trip without the CLI's start-up: connect, Hello,
    # OpenPipes /bin/sh -c true, StdinEof, read to Exit.
    proto=$(python3 - "$XDOCKER_HOME/containers/$C/session.sock" "$RUNS" <<'PY'
import socket, struct, sys, time
path, n = sys.argv[1], int(sys.argv[2])
frame = lambda t, p: struct.pack(">IH", len(p) + 2, t) + p
field = lambda b: struct.pack(">I", len(b)) + b
argv = [b"/bin/sh", b"-c", b"true"]
open_pipes = frame(3, struct.pack(">I", len(argv)) + b"".join(field(a) for a in argv))
times = []
for _ in range(n + 20):
    t = time.perf_counter()
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(frame(1, b"\0\1"))
    s.recv(64)
    s.sendall(open_pipes + frame(5, b""))
    buf = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        buf += d
        # Frames: u32 length, u16 type; stop at Exit (type 10).
        pos, done = 0, False
        while len(buf) - pos >= 6:
            ln = struct.unpack(">I", buf[pos:pos + 4])[0]
            if struct.unpack(">H", buf[pos + 4:pos + 6])[0] == 10:
                done = True
            pos += 4 + ln
        if done:
            break
    s.close()
    times.append(time.perf_counter() - t)
times = sorted(times[20:])
print("%.3f %.3f" % (times[len(times) // 2] * 1000, times[0] * 1000))
PY
)
    x=$(median_ms "$RESULTS_DIR/$pre-latency.json" 0)
    l=$(median_ms "$RESULTS_DIR/$pre-latency.json" 1)
    n=$(median_ms "$RESULTS_DIR/$pre-latency.json" 2)
    v=$(median_ms "$RESULTS_DIR/$pre-latency.json" 3)
    summary+=("latency (median): xdocker -a run ${x} ms, lxc-attach ${l} ms, nsenter ${n} ms, xdocker -v ${v} ms")
    summary+=("protocol round trip alone (python client, median/min): ${proto% *} / ${proto#* } ms")
    if awk -v x="$x" -v l="$l" 'BEGIN { exit !(x < 3 && x < l) }'; then
        summary+=("target run < 3 ms and < lxc-attach: met")
    else
        summary+=("target run < 3 ms and < lxc-attach: MISSED (${x} ms; lxc-attach ${l} ms)")
        missed=1
    fi
fi

# ---------------------------------------------------------------- throughput
if want throughput; then
    log "a ${SIZE_MB} MB text file in both containers and on the host"
    head -c $((SIZE_MB * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 76 >"$T/big.txt"
    bytes=$(stat -c %s "$T/big.txt")
    # putfile: host root creates no file through /proc/PID/root of an
    # unprivileged container (EOVERFLOW: uid 0 has no id inside).
    "$XD" -a putfile -c "$C" --src-file "$T/big.txt" --dst-file /big.txt >/dev/null
    cp "$T/big.txt" "$LXCP/$LXC/rootfs/big.txt"

    log "private sshd on 127.0.0.1"
    private_sshd_start "$T/sshd" "$T/ssh" || die "sshd did not start"
    PORT=$SSHD_PORT
    qT=$(q "$T")
    ssh_cmd="ssh -tt -q -p $PORT -i $qT/ssh/id_ed25519 -o UserKnownHostsFile=$qT/ssh/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -F /dev/null root@127.0.0.1"

    # (a) a terminal on both ends: each client under script(1).
    sc() { printf "script -qec %q /dev/null </dev/null >/dev/null" "$1"; }
    t_xd=$(sc "$qXD -a run -c $C --cmd 'cat /big.txt'")
    t_lxc=$(sc "lxc-attach -n $LXC -P $qLXCP -- cat /big.txt")
    t_ssh=$(sc "$ssh_cmd cat $qT/big.txt")
    # (b) the container's PTY only.
    printf 'cat /big.txt; exit\n' >"$T/attach-input"
    b_xd="$qXD -a attach -c $C <$qT/attach-input >/dev/null"
    b_ssh="$ssh_cmd cat $qT/big.txt </dev/null >/dev/null"
    note "# throughput ($bytes bytes)" "xdocker (a): $t_xd" "lxc (a)    : $t_lxc" "ssh (a)    : $t_ssh" \
        "xdocker (b): $b_xd" "ssh (b)    : $b_ssh"
    log "smoke test: output sizes"
    for c in "$t_xd" "$t_lxc" "$t_ssh"; do
        got=$(bash -c "${c%>/dev/null}" | wc -c)
        ((got >= bytes)) || die "short output ($got < $bytes bytes) from: $c"
    done
    got=$(bash -c "${b_xd%>/dev/null}" | wc -c)
    ((got >= bytes)) || die "short output ($got < $bytes bytes) from: $b_xd"

    wait_idle throughput-a
    log "throughput (a): hyperfine --runs $TRUNS --warmup $TWARMUP"
    hyperfine --style basic --warmup "$TWARMUP" --runs "$TRUNS" \
        --export-json "$RESULTS_DIR/$pre-pty-both.json" --export-markdown "$RESULTS_DIR/$pre-pty-both.md" \
        -n "xdocker -a run (pty)" "$t_xd" -n "lxc-attach (pty)" "$t_lxc" -n "ssh -tt" "$t_ssh" >&2
    wait_idle throughput-b
    log "throughput (b): hyperfine --runs $TRUNS --warmup $TWARMUP"
    hyperfine --style basic --warmup "$TWARMUP" --runs "$TRUNS" \
        --export-json "$RESULTS_DIR/$pre-pty-remote.json" --export-markdown "$RESULTS_DIR/$pre-pty-remote.md" \
        -n "xdocker -a attach" "$b_xd" -n "ssh -tt" "$b_ssh" >&2
    mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
    rate() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.0f MB/s", b / 1048576 / s }'; }
    xa=$(mean_s "$RESULTS_DIR/$pre-pty-both.json" 0)
    la=$(mean_s "$RESULTS_DIR/$pre-pty-both.json" 1)
    sa=$(mean_s "$RESULTS_DIR/$pre-pty-both.json" 2)
    xb=$(mean_s "$RESULTS_DIR/$pre-pty-remote.json" 0)
    sb=$(mean_s "$RESULTS_DIR/$pre-pty-remote.json" 1)
    summary+=("pty (a) ${mb} MB, terminal on both ends: xdocker ${xa} s ($(rate "$xa")), lxc-attach ${la} s ($(rate "$la")), ssh ${sa} s ($(rate "$sa"))")
    summary+=("pty (b) ${mb} MB, container pty only: xdocker attach ${xb} s ($(rate "$xb")), ssh -tt ${sb} s ($(rate "$sb"))")
    if awk -v x="$xa" -v s="$sa" -v xb="$xb" -v sb="$sb" 'BEGIN { exit !(x <= s && xb <= sb) }'; then
        summary+=("target pty throughput >= ssh: met")
    else
        summary+=("target pty throughput >= ssh: MISSED")
        missed=1
    fi
fi

# ---------------------------------------------------------------- summary
{
    echo "sessions benchmark, $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r)"
    echo "xdocker $("$XD" -v | cut -d' ' -f2), $(lxc-attach --version 2>&1 | sed 's/^/lxc /'), $(ssh -V 2>&1)"
    printf '%s\n' "${loads[@]}"
    printf '%s\n' "${summary[@]}"
} | tee "$RESULTS_DIR/$pre-summary.txt" >&2
((STRICT && missed)) && exit 3
exit 0
