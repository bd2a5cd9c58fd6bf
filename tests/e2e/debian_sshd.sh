#!/usr/bin/env bash
#
# tests/e2e/debian_sshd.sh - the original tool's main scenario, end to end,
# with a real Debian userland and the real OpenSSH client. Not part of CI:
# it downloads from the Debian mirror (debootstrap, apt-get) and takes a few
# minutes. Run as root from a checkout:
#
#   tests/e2e/debian_sshd.sh [BASE.xdockerimage]
#
# Steps (each checked; the first failure stops the run with its reason):
#   1. base image debian:12 with scripts/xdocker_create_image_debian.sh (or the
#      given base file), imported into a private XDOCKER_HOME
#   2. a BRIDGE container `build` on it; openssh-server installed through
#      `xdocker -a run` (apt-get through the bridge's NAT)
#   3. `to_image` -> sshd:1.0, an image holding only that layer (base recorded)
#   4. a service container `svc` on sshd:1.0 (base + sshd stacked) with BRIDGE
#      and a port map 127.0.0.1:PORT -> 22
#   5. rplfile instantiates templates/sshd_config.tpl with a mapping file;
#      an authorized key goes in with putfile
#   6. `ssh` with the real OpenSSH client into svc through the mapped port
#   7. spush debian:12 and sshd:1.0 to an ssh repository (a private sshd on
#      127.0.0.1), destroy svc, del_image both, spull sshd:1.0 (the highest
#      version) and debian:12, recreate svc the same way: ssh works again
#
# Environment: XDOCKER (default: target/release/xdocker, built if missing),
# XDOCKER_INIT (default: the static release init, built if missing),
# MIRROR (default http://deb.debian.org/debian), KEEP=1 keeps the work dir,
# The containers are unprivileged (the default: root inside is an
# unprivileged host id, checked); PRIVILEGED=1 runs them with `--userns off`.
# Everything lives in a temp dir with its own bridge, subnet and nftables
# table; all of it (containers, bridge, table, sshd) is removed at the end.

set -euo pipefail
umask 022
top=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
step() { printf '\n== %s\n' "$*" >&2; }
die() {
    echo "e2e: FAILED: $*" >&2
    exit 1
}
[ "$(id -u)" -eq 0 ] || die "run as root"
for t in ssh ssh-keygen /usr/sbin/sshd nft ip python3 debootstrap; do
    command -v "$t" >/dev/null || die "$t is required (scripts/install_deps.sh)"
done

if [ -z "${XDOCKER:-}" ]; then
    (cd "$top" && cargo build --release --quiet) || die "cargo build --release"
    XDOCKER=$top/target/release/xdocker
fi
if [ -z "${XDOCKER_INIT:-}" ]; then
    XDOCKER_INIT=$("$top/scripts/build_static_init.sh" release) || die "static xdockerinit"
fi
export XDOCKER XDOCKER_INIT

T=$(mktemp -d /var/tmp/xdocker-e2e.XXXXXX)
H=$T/home
tag=$(printf '%04x' $$ | tail -c 4)
bridge=xde2e$tag
table=xde2e_$tag
subnet_octet=$((200 + $$ % 50))
subnet=10.$subnet_octet.77.0/24
mkdir -p "$H" "$T/ssh" "$T/repo" "$T/out"
cat >"$H/xdocker.toml" <<EOF
[network]
bridge = "$bridge"
subnet = "$subnet"
nft_table = "$table"
[cgroups]
parent = "xdocker-e2e-$tag"
EOF
userns=()
if [ "${PRIVILEGED:-0}" = 1 ]; then
    userns=(--userns off)
fi
# shellcheck source=../../scripts/tests/private_sshd.sh
. "$top/scripts/tests/private_sshd.sh"
SSHD_PID=
cleanup() {
    local rc=$?
    if [ -d "$H/containers" ]; then
        for c in "$H"/containers/*/; do
            [ -d "$c" ] && XDOCKER_HOME=$H "$XDOCKER" -a destroy -c "$(basename "$c")" -h -f >/dev/null 2>&1
        done
    fi
    private_sshd_stop
    ip link del "$bridge" 2>/dev/null || true
    nft delete table ip "$table" 2>/dev/null || true
    for d in /sys/fs/cgroup/*/"xdocker-e2e-$tag" /sys/fs/cgroup/"xdocker-e2e-$tag"; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
    if [ "${KEEP:-0}" = 1 ]; then
        echo "e2e: kept $T" >&2
    else
        rm -rf --one-file-system "$T"
    fi
    [ "$rc" -eq 0 ] && echo "e2e: PASSED" >&2
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

x() { XDOCKER_HOME=$H "$XDOCKER" "$@"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
started=$(date +%s)

# ------------------------------------------------------------------ 1 base
if [ $# -ge 1 ]; then
    step "1. base image from $1"
    cp "$1" "$T/out/debian:12.xdockerimage"
else
    step "1. base image with debootstrap"
    XDOCKER_HOME=$T/unused "$top/scripts/xdocker_create_image_debian.sh" \
        --mirror "${MIRROR:-http://deb.debian.org/debian}" -o "$T/out" ||
        die "xdocker_create_image_debian.sh"
fi
x -a import --image-file "$T/out/debian:12.xdockerimage" >/dev/null || die "import the base image"
# The base as its manifest names it (a given file may call it otherwise).
base=$(x -s images --json | python3 -c 'import json, sys; i = json.load(sys.stdin)[0]; print(i["image_id"] + ":" + i["version"])')
x -s images

# ------------------------------------------------------------------ 2 build
step "2. container build (BRIDGE): apt-get install openssh-server through -a run"
x -a create -m "$base" -c build --net BRIDGE "${userns[@]}" -b >/dev/null || die "create -b build"
x -a run -c build --cmd 'export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends openssh-server >/dev/null &&
    apt-get clean && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_* && mkdir -p /var/lib/apt/lists/partial' ||
    die "installing openssh-server in build"
x -a run -c build --cmd 'test -x /usr/sbin/sshd' || die "sshd not installed"

# ------------------------------------------------------------------ 3 to_image
step "3. to_image build -> sshd:1.0"
x -a shutdown -c build >/dev/null || die "shutdown build"
x -a to_image --from-container build --to-image sshd --version 1.0 >/dev/null || die "to_image"
x -s images
[ -e "$H/images/sshd/1.0/rlayer/usr/sbin/sshd" ] || die "sshd:1.0 does not hold /usr/sbin/sshd"
[ ! -e "$H/images/sshd/1.0/rlayer/bin/bash" ] || die "sshd:1.0 holds more than its layer"

# ------------------------------------------------------------------ 4-6 service
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/id_ed25519"
PORT=$(free_port)
cat >"$T/sshd.map" <<EOF
\${SSHD_PORT} 22
\${SSHD_LISTEN} 0.0.0.0
\${SSHD_ROOT_LOGIN} prohibit-password
EOF

service() {
    step "4. service container svc on sshd:1.0 (BRIDGE, port map $PORT:22)"
    x -a create -m sshd:1.0 -c svc --host svc-e2e --net BRIDGE --port-mapping "$PORT:22" "${userns[@]}" -b >/dev/null ||
        die "create svc"
    x -s containers
    if [ ${#userns[@]} -eq 0 ]; then
        x -a run -c svc --cmd 'cat /proc/self/uid_map' | awk '{ exit !($1 == 0 && $2 >= 65536) }' ||
            die "svc: root inside is not an unprivileged host id (the default)"
    fi
    step "5. rplfile sshd_config from the template; authorized key by putfile"
    x -a putfile -c svc --src-file "$top/templates/sshd_config.tpl" --dst-file /etc/ssh/sshd_config.tpl >/dev/null ||
        die "putfile template"
    x -a rplfile -c svc --template-file /etc/ssh/sshd_config.tpl --mapping-file "$T/sshd.map" \
        --instance-file /etc/ssh/sshd_config >/dev/null || die "rplfile"
    x -a run -c svc --cmd 'mkdir -p -m 700 /root/.ssh' || die "mkdir .ssh"
    x -a putfile -c svc --src-file "$T/ssh/id_ed25519.pub" --dst-file /root/.ssh/authorized_keys >/dev/null ||
        die "putfile authorized_keys"
    x -a run -c svc --cmd 'chmod 600 /root/.ssh/authorized_keys && ssh-keygen -A >/dev/null &&
        mkdir -p /run/sshd && /usr/sbin/sshd -t && /usr/sbin/sshd' || die "starting sshd in svc"
    step "6. ssh root@127.0.0.1 -p $PORT"
    local out ok=0
    for _ in $(seq 50); do
        if out=$(ssh -p "$PORT" -i "$T/ssh/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
            -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=3 root@127.0.0.1 \
            'hostname; . /etc/os-release; echo "$ID $VERSION_ID"; grep -c "^Port 22$" /etc/ssh/sshd_config'); then
            ok=1
            break
        fi
        sleep 0.2
    done
    [ "$ok" = 1 ] || die "ssh into svc through 127.0.0.1:$PORT"
    echo "$out"
    [ "$out" = "$(printf 'svc-e2e\ndebian 12\n1')" ] || die "unexpected answer from svc: $out"
}
service

# ------------------------------------------------------------------ 7 repository
step "7. spush to an ssh repository on 127.0.0.1, del_image, spull, recreate"
private_sshd_start "$T/repo-sshd" "$T/ssh" || die "the repository's sshd did not start"
RPORT=$SSHD_PORT
export XDOCKER_SSH_DIR=$T/ssh
unset SSH_AUTH_SOCK
x -a spush -m "$base" --srepo "root@127.0.0.1:$RPORT$T/repo" >/dev/null || die "spush $base"
x -a spush -m sshd:1.0 >/dev/null || die "spush sshd:1.0"
x -s ssearch
x -a destroy -c svc -h >/dev/null || die "destroy svc"
x -a del_image -m sshd:1.0 >/dev/null || die "del_image sshd:1.0"
x -a del_image -m "$base" >/dev/null || die "del_image $base"
[ -z "$(x -s images --json | python3 -c 'import json,sys; print("".join(i["image_id"] for i in json.load(sys.stdin)))')" ] ||
    die "images left after del_image"
x -a spull -m sshd >/dev/null || die "spull sshd (highest version)"
x -a spull -m "$base" >/dev/null || die "spull $base"
x -s images
service

echo "e2e: all steps passed in $(($(date +%s) - started)) s" >&2
