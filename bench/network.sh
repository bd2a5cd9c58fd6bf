#!/usr/bin/env bash
# BRIDGE networking benchmark (issue 5), with hyperfine.
#
#   bench/network.sh [SECTION...]     sections: boot setup scale (default: all)
#
#   boot    boot-to-ready of an idle container: --net HOST vs CUSTOM (own netns,
#           lo only) vs BRIDGE (veth, VIP, route, NAT chains, one port map).
#           Target: BRIDGE adds under 3 ms to HOST.
#   setup   the network setup of one BRIDGE container alone: the veth pair into
#           the bridge and a named netns, VIP, lo and eth0 up, default route;
#           done by 6 `ip` commands vs in one process over netlink
#           (examples/net_setup.rs, the code boot uses).
#   scale   N BRIDGE containers (default 200) booted one after another, each
#           boot timed; the Nth boot within 1.5x of the 1st (medians of the
#           first and last 10 are reported too, being less noisy).
#
# Environment: RUNS=30 WARMUP=3 N=200 BENCH_DIR=/tmp TAG= RESULTS_DIR=bench/results
#   XDOCKER=path XDOCKER_INIT=path (else built here), KEEP=1 keeps the temp dir.
#
# Everything it makes is private and removed by an EXIT trap: its own
# XDOCKER_HOME, bridge (xdbn<random>), subnet (10.250.<random>.0/24), nftables
# table, cgroup parent and netns; processes are ended by recorded PID only.
# Traffic: none (nothing is sent; only links and rules are made).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
N=${N:-200}
BENCH_DIR=${BENCH_DIR:-/tmp}
TAG=${TAG:-}
KEEP=${KEEP:-0}
RESULTS_DIR=${RESULTS_DIR:-$here/results}
sections=("$@")
((${#sections[@]})) || sections=(boot setup scale)

BENCH_NAME=network
# shellcheck source=lib.sh
. "$here/lib.sh"
[[ $(id -u) == 0 ]] || die "must run as root"
for s in "${sections[@]}"; do
    case $s in boot | setup | scale) ;; *) die "unknown section $s" ;; esac
done
bench_install_missing hyperfine:hyperfine
bench_need python3

bench_release_xdocker --bin xdocker --example net_setup
NET_SETUP=${NET_SETUP:-$(dirname "$XDOCKER")/examples/net_setup}
bench_static_init
export XDOCKER_SHARE_DIR=${XDOCKER_SHARE_DIR:-$repo}

bench_temp_dir xdocker-net
RID=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
BR=xdbn$RID
SUBNET_C=$((RID % 200 + 20))
NET=10.250.$SUBNET_C
TABLE=xdbench$RID
CGP=xdocker-bench-net-$RID
NS=xdbns$RID          # the netns of the `setup` section
pre=network${TAG:+-$TAG}
bench_private_home "$CGP" "[network]" "bridge = \"$BR\"" "subnet = \"$NET.0/24\"" "nft_table = \"$TABLE\""
[[ -x $NET_SETUP ]] && cp "$NET_SETUP" "$T/net_setup"

cleanup() {
    set +e
    trap - EXIT INT TERM
    bench_remove_containers
    ip netns del "$NS" 2>/dev/null
    ip link del "vxb$RID" 2>/dev/null
    ip link del "$BR" 2>/dev/null
    nft delete table ip "$TABLE" 2>/dev/null
    bench_remove_cgroups "$CGP"
    bench_remove_temp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "install_test image"
"$XD" -a install_test >/dev/null
summary=$RESULTS_DIR/$pre-summary.txt
{
    echo "# bench/network.sh $(date -Is)"
    echo "# xdocker: $(cd "$repo" && git rev-parse --short HEAD)$(cd "$repo" && git diff --quiet HEAD -- src || echo ' + changes'); $(nproc) cores; $(uname -r)"
    echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg); br_netfilter: $(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo not loaded)"
} >"$summary"


if want boot; then
    log "boot: HOST vs CUSTOM vs BRIDGE"
    "$XD" -a create -m test -c h >/dev/null
    "$XD" -a create -m test -c c --net CUSTOM >/dev/null
    "$XD" -a create -m test -c b --net BRIDGE --port-mapping "2$((RID % 1000 + 8000)):80" >/dev/null
    "$XD" -a boot -c b >/dev/null && "$XD" -a kill -c b >/dev/null # bridge made once, as on a real host
    hyperfine -N --runs "$RUNS" --warmup "$WARMUP" --export-json "$RESULTS_DIR/$pre-boot.json" \
        --export-markdown "$RESULTS_DIR/$pre-boot.md" \
        --prepare "$XD -a kill -c h -f" -n "boot HOST" "$XD -a boot -c h" \
        --prepare "$XD -a kill -c c -f" -n "boot CUSTOM" "$XD -a boot -c c" \
        --prepare "$XD -a kill -c b -f" -n "boot BRIDGE" "$XD -a boot -c b"
    for c in h c b; do "$XD" -a kill -c $c -f >/dev/null; done
    j=$RESULTS_DIR/$pre-boot.json
    h=$(median_ms "$j" 0) c=$(median_ms "$j" 1) b=$(median_ms "$j" 2)
    {
        echo "boot-to-ready medians: HOST $h ms, CUSTOM $c ms, BRIDGE $b ms"
        python3 -c "import sys; h,c,b=map(float,sys.argv[1:]); print('BRIDGE adds %.2f ms to HOST (target < 3 ms: %s), %.2f ms to CUSTOM' % (b-h, 'met' if b-h < 3 else 'MISSED', b-c))" "$h" "$c" "$b"
    } | tee -a "$summary"
fi

if want setup; then
    log "setup: 6 ip commands vs one process over netlink"
    [[ -x $T/net_setup ]] || die "no examples/net_setup ($NET_SETUP)"
    ip netns add "$NS"
    V=vxb$RID
    if ! ip link show "$BR" >/dev/null 2>&1; then
        ip link add "$BR" type bridge && ip addr add "$NET.1/24" dev "$BR" && ip link set "$BR" up
    fi
    cat >"$T/ip_setup.sh" <<EOF
ip link add $V type veth peer name eth0 netns $NS
ip link set $V master $BR up
ip -n $NS addr add $NET.250/24 dev eth0
ip -n $NS link set eth0 up
ip -n $NS link set lo up
ip -n $NS route add default via $NET.1
EOF
    # Each run starts from a namespace without eth0 (deleting the host end
    # deletes both), and lo down.
    reset="ip link del $V; ip -n $NS link set lo down"
    hyperfine --runs "$RUNS" --warmup "$WARMUP" --export-json "$RESULTS_DIR/$pre-setup.json" \
        --export-markdown "$RESULTS_DIR/$pre-setup.md" \
        --prepare "sh -c '$reset' 2>/dev/null || true" -n "6 ip commands" "sh -e $T/ip_setup.sh" \
        --prepare "sh -c '$reset' 2>/dev/null || true" -n "netlink in one process" \
        "$T/net_setup $BR /run/netns/$NS $V $NET.250/24 $NET.1"
    ip link del "$V" 2>/dev/null || true
    j=$RESULTS_DIR/$pre-setup.json
    a=$(median_ms "$j" 0) n=$(median_ms "$j" 1)
    echo "setup medians (process start included): 6 ip commands $a ms, netlink in one process $n ms" | tee -a "$summary"
fi

if want scale; then
    log "scale: $N BRIDGE containers booted one after another"
    for i in $(seq 1 "$N"); do "$XD" -a create -m test -c "s$i" --net BRIDGE --port-mapping "$((30000 + i)):80" >/dev/null; done
    times=$T/scale-times.txt
    bench_boot_times s "$N" "$times"
    cp "$times" "$RESULTS_DIR/$pre-scale-us.txt"
    python3 - "$times" "$N" <<'EOF' | tee -a "$summary"
import statistics, sys
t = [int(x) / 1000 for x in open(sys.argv[1])]
n = int(sys.argv[2])
first, last = statistics.median(t[:10]), statistics.median(t[-10:])
print(f"scale: {n} BRIDGE boots one after another: 1st {t[0]:.2f} ms, {n}th {t[-1]:.2f} ms "
      f"(ratio {t[-1]/t[0]:.2f}); median of first 10 {first:.2f} ms, of last 10 {last:.2f} ms "
      f"(ratio {last/first:.2f}); target: {n}th within 1.5x of 1st: {'met' if t[-1] <= 1.5 * t[0] else 'MISSED'}")
EOF
    log "stopping $N containers"
    for i in $(seq 1 "$N"); do "$XD" -a kill -c "s$i" >/dev/null; done
    left=$(nft list table ip "$TABLE" | grep -c chain || true)
    echo "after stopping all: $left chains left in table $TABLE, $(ip -o link show master "$BR" | wc -l) ports on $BR" | tee -a "$summary"
fi
echo "network: results in $RESULTS_DIR/$pre-*" >&2
