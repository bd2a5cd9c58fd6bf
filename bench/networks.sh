#!/usr/bin/env bash
# User-defined networks benchmark (issue 21), with hyperfine.
#
#   bench/networks.sh [SECTION...]     sections: boot scale (default: both)
#
#   boot    boot-to-ready of an idle container on BRIDGE vs a user-defined
#           bridge network vs a static macvlan network vs a DHCP macvlan
#           network (against dnsmasq in a "LAN" namespace; the lease is taken
#           before the boot returns). Targets: user bridge within +0.5 ms of
#           BRIDGE, macvlan static no slower than BRIDGE, DHCP under 30 ms
#           added to BRIDGE.
#   scale   N containers (default 50) on one user bridge network booted one
#           after another (every boot rewrites the running members'
#           /etc/hosts); the Nth boot within 1.5x of the 1st.
#
# Environment: RUNS=30 WARMUP=3 N=50 BENCH_DIR=/tmp TAG= RESULTS_DIR=bench/results
#   XDOCKER=path XDOCKER_INIT=path (else built here, release), KEEP=1 keeps the temp dir.
#
# Everything it makes is private and removed by an EXIT trap: its own
# XDOCKER_HOME, bridges, subnets (10.24x.<random>.0/24), nftables table,
# cgroup parent, the LAN namespace and its veth, and dnsmasq (ended by its
# recorded PID). Traffic: DHCP inside the LAN namespace only.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
N=${N:-50}
BENCH_DIR=${BENCH_DIR:-/tmp}
TAG=${TAG:-}
KEEP=${KEEP:-0}
RESULTS_DIR=${RESULTS_DIR:-$here/results}
sections=("$@")
((${#sections[@]})) || sections=(boot scale)

BENCH_NAME=networks
# shellcheck source=lib.sh
. "$here/lib.sh"
[[ $(id -u) == 0 ]] || die "must run as root"
for s in "${sections[@]}"; do
    case $s in boot | scale) ;; *) die "unknown section $s" ;; esac
done
bench_install_missing hyperfine:hyperfine dnsmasq:dnsmasq-base
bench_need python3

bench_release_xdocker --bin xdocker
bench_static_init

bench_temp_dir xdocker-nets
RID=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
C=$((RID % 200 + 20))
BR=xdbb$RID          # BRIDGE
UBR=xdbu$RID         # the user bridge network's
TABLE=xdnbench$RID
CGP=xdocker-bench-nets-$RID
LAN=xdlanb$RID       # the LAN namespace
PARENT=xdmb$RID      # its veth on the host: the macvlan parent
LANNET=10.242.$C
pre=networks${TAG:+-$TAG}
export XDOCKER_SHARE_DIR=${XDOCKER_SHARE_DIR:-$repo}
bench_private_home "$CGP" "[network]" "bridge = \"$BR\"" "subnet = \"10.240.$C.0/24\"" "nft_table = \"$TABLE\""

cleanup() {
    set +e
    trap - EXIT INT TERM
    bench_remove_containers
    [[ -f $T/dnsmasq.pid ]] && kill "$(cat "$T/dnsmasq.pid")" 2>/dev/null
    ip netns del "$LAN" 2>/dev/null
    ip link del "$PARENT" 2>/dev/null
    ip link del "$BR" 2>/dev/null
    ip link del "$UBR" 2>/dev/null
    nft delete table ip "$TABLE" 2>/dev/null
    bench_remove_cgroups "$CGP"
    bench_remove_temp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "install_test image"
"$XD" -a install_test >/dev/null
"$XD" -a network_create --network ub --driver bridge --subnet "10.241.$C.0/24" --bridge "$UBR" >/dev/null
summary=$RESULTS_DIR/$pre-summary.txt
{
    echo "# bench/networks.sh $(date -Is)"
    echo "# xdocker: $(cd "$repo" && git rev-parse --short HEAD)$(cd "$repo" && git diff --quiet HEAD -- src xdockerinit || echo ' + changes'); $(nproc) cores; $(uname -r)"
    echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$summary"


if want boot; then
    log "the LAN: namespace $LAN, parent $PARENT, dnsmasq"
    ip netns add "$LAN"
    ip link add "$PARENT" type veth peer name lan0 netns "$LAN"
    ip link set "$PARENT" up
    ip -n "$LAN" addr add "$LANNET.1/24" dev lan0
    ip -n "$LAN" link set lan0 up
    ip -n "$LAN" link set lo up
    ip netns exec "$LAN" dnsmasq --no-resolv --no-hosts --port=0 --interface=lan0 --bind-interfaces \
        --dhcp-range="$LANNET.100,$LANNET.200,255.255.255.0,2m" \
        --dhcp-option=option:dns-server,"$LANNET.53" \
        --dhcp-leasefile="$T/dnsmasq.leases" --pid-file="$T/dnsmasq.pid"
    "$XD" -a network_create --network ms --driver macvlan --parent "$PARENT" --subnet "$LANNET.0/24" >/dev/null
    "$XD" -a network_create --network md --driver macvlan --parent "$PARENT" --dhcp >/dev/null
    "$XD" -a create -m test -c b --net BRIDGE >/dev/null
    "$XD" -a create -m test -c u --net ub >/dev/null
    "$XD" -a create -m test -c s --net ms --vip "$LANNET.10" >/dev/null
    "$XD" -a create -m test -c d --net md >/dev/null
    # Bridges made and the DHCP lease known to the server once, as on a real host.
    for c in b u s d; do "$XD" -a boot -c $c >/dev/null && "$XD" -a kill -c $c >/dev/null; done
    log "boot: BRIDGE vs user bridge vs macvlan static vs macvlan DHCP"
    hyperfine -N --runs "$RUNS" --warmup "$WARMUP" --export-json "$RESULTS_DIR/$pre-boot.json" \
        --export-markdown "$RESULTS_DIR/$pre-boot.md" \
        --prepare "$XD -a kill -c b -f" -n "boot BRIDGE" "$XD -a boot -c b" \
        --prepare "$XD -a kill -c u -f" -n "boot user bridge" "$XD -a boot -c u" \
        --prepare "$XD -a kill -c s -f" -n "boot macvlan static" "$XD -a boot -c s" \
        --prepare "$XD -a kill -c d -f" -n "boot macvlan DHCP" "$XD -a boot -c d"
    for c in b u s d; do "$XD" -a kill -c $c -f >/dev/null; done
    j=$RESULTS_DIR/$pre-boot.json
    b=$(median_ms "$j" 0) u=$(median_ms "$j" 1) s=$(median_ms "$j" 2) d=$(median_ms "$j" 3)
    {
        echo "boot-to-ready medians: BRIDGE $b ms, user bridge $u ms, macvlan static $s ms, macvlan DHCP $d ms"
        python3 - "$b" "$u" "$s" "$d" <<'EOF'
import sys
b, u, s, d = map(float, sys.argv[1:])
ok = lambda c: "met" if c else "MISSED"
print(f"user bridge vs BRIDGE: {u-b:+.2f} ms ({u/b:.2f}x; target within +0.5 ms: {ok(u-b <= 0.5)})")
print(f"macvlan static vs BRIDGE: {s-b:+.2f} ms ({s/b:.2f}x; target no slower: {ok(s <= b)})")
print(f"macvlan DHCP vs BRIDGE: {d-b:+.2f} ms ({d/b:.2f}x; target under 30 ms added: {ok(d-b < 30)})")
EOF
    } | tee -a "$summary"
fi

if want scale; then
    log "scale: $N containers on one user bridge network booted one after another"
    for i in $(seq 1 "$N"); do "$XD" -a create -m test -c "n$i" --net ub >/dev/null; done
    times=$T/scale-times.txt
    bench_boot_times n "$N" "$times"
    cp "$times" "$RESULTS_DIR/$pre-scale-us.txt"
    python3 - "$times" "$N" <<'EOF' | tee -a "$summary"
import statistics, sys
t = [int(x) / 1000 for x in open(sys.argv[1])]
n = int(sys.argv[2])
first, last = statistics.median(t[:5]), statistics.median(t[-5:])
print(f"scale: {n} boots on one user bridge network: 1st {t[0]:.2f} ms, {n}th {t[-1]:.2f} ms "
      f"(ratio {t[-1]/t[0]:.2f}); median of first 5 {first:.2f} ms, of last 5 {last:.2f} ms "
      f"(ratio {last/first:.2f}); target: {n}th within 1.5x of 1st: {'met' if t[-1] <= 1.5 * t[0] else 'MISSED'}")
EOF
    hosts=$("$XD" -a run -c n1 --cmd "grep -c n /etc/hosts" || true)
    echo "n1's /etc/hosts names $hosts lines with members" >&2
    for i in $(seq 1 "$N"); do "$XD" -a kill -c "n$i" >/dev/null; done
    left=$(nft list table ip "$TABLE" 2>/dev/null | grep -c chain || true)
    echo "after stopping all: $left chains left in table $TABLE, $(ip -o link show master "$UBR" | wc -l) ports on $UBR" | tee -a "$summary"
fi
echo "networks: results in $RESULTS_DIR/$pre-*" >&2
