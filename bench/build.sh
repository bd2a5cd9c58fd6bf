#!/usr/bin/env bash
# Times recipe builds, xdocker's `-a build` side by side with
# `buildah bud --layers` (Debian's buildah with runc, its default OCI
# isolation), on the same recipe and
# context: FROM scratch, ADD of a busybox rootfs tarball, 6 RUN steps, a
# COPY of a 50 MB context directory. Three cases, each with hyperfine:
#
#   cold     no cached layer (the cache emptied before each run)
#   cached   nothing changed since the last build
#   changed  one COPY'd file changed (the COPY and everything after rerun)
#
# and prints the means and the ratios xdocker/buildah (targets, issue 22:
# cold < 0.8, cached < 0.3 and < 0.5 s, changed < 0.5).
#
#   bench/build.sh                      # release build of this tree
#   RUNS=5 SIZE_MB=50 bench/build.sh
#   XDOCKER=/usr/local/bin/xdocker bench/build.sh
#
# Root only (containers); never touches /var/xdocker or buildah's own
# storage (both get homes under a temp dir). Needs hyperfine and buildah
# (scripts/install_deps.sh installs both).
set -euo pipefail

RUNS=${RUNS:-3}
SIZE_MB=${SIZE_MB:-50}
BENCH_DIR=${BENCH_DIR:-/tmp}
HERE=$(cd "$(dirname "$0")/.." && pwd)
repo=$HERE
BENCH_NAME=bench/build.sh
# shellcheck source=lib.sh
. "$HERE/bench/lib.sh"
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
bench_install_missing hyperfine:hyperfine buildah:buildah runc:runc jq:jq bc:bc
bench_temp_dir xdocker-build-bench
cleanup() {
    set +e
    trap - EXIT INT TERM
    buildah --root "$T/buildah" --runroot "$T/buildah-run" rm --all >/dev/null 2>&1
    buildah --root "$T/buildah" --runroot "$T/buildah-run" rmi --all --force >/dev/null 2>&1
    umount -R "$T/buildah" 2>/dev/null
    umount "$T/buildah/overlay" 2>/dev/null
    bench_remove_home_network
    bench_remove_cgroups xdocker-build-bench
    bench_remove_temp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_release_xdocker
bench_static_init
export XDOCKER_SHARE_DIR=$HERE
bench_private_home xdocker-build-bench
X=$XD
B="buildah --root $T/buildah --runroot $T/buildah-run --storage-driver overlay"

# The context: a busybox rootfs tarball (the test image's layer), the
# recipe, and SIZE_MB of data in 10 files.
"$X" -a install_test >/dev/null
CTX=$T/ctx
mkdir -p "$CTX/data"
tar -C "$XDOCKER_HOME/images/test/_/rlayer" -czf "$CTX/rootfs.tar.gz" .
i=0
while [ $i -lt 10 ]; do
    head -c $((SIZE_MB * 104857)) /dev/urandom >"$CTX/data/f$i"
    i=$((i + 1))
done
cat >"$CTX/Dockerfile" <<'EOF'
FROM scratch
ADD rootfs.tar.gz /
RUN mkdir -p /srv/app && echo one > /srv/app/1
RUN echo two > /srv/app/2 && ls /srv/app > /srv/list
RUN addgroup -g 1000 app && adduser -D -u 1000 -G app app || echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd
RUN for i in 1 2 3 4 5; do echo line $i; done > /srv/app/lines
RUN sha1sum /bin/busybox > /srv/app/busybox.sha1
RUN date > /srv/built-at
COPY data/ /srv/data/
RUN ls -l /srv/data | wc -l > /srv/data-count
EOF

xb() { echo "$X -a build -f --context $CTX --to-image bench --version 1"; }
# runc: Debian's crun refuses this host's hybrid cgroups (v1 + v2).
bb() { echo "$B bud --runtime runc --layers --network host -q -t bench:1 $CTX"; }
empty_x="$X -a del_image -m bench:1 >/dev/null 2>&1; $X -a prune_build_cache --all >/dev/null"
empty_b="$B rmi --all --force >/dev/null 2>&1 || true"
change="head -c 1024 /dev/urandom > $CTX/data/f3"

run() {
    label=$1 prep_x=$2 prep_b=$3
    hyperfine --runs "$RUNS" --export-json "$T/$label.json" \
        -n "xdocker $label" --prepare "$prep_x" "$(xb) >/dev/null" \
        -n "buildah $label" --prepare "$prep_b" "$(bb) >/dev/null"
    xm=$(jq '.results[0].mean' "$T/$label.json")
    bm=$(jq '.results[1].mean' "$T/$label.json")
    echo "$label: xdocker ${xm}s, buildah ${bm}s, ratio $(echo "$xm / $bm" | bc -l | cut -c1-5)" >>"$T/summary"
}

run cold "$empty_x" "$empty_b"
# Warm both caches, then the cached case.
eval "$(xb)" >/dev/null
eval "$(bb)" >/dev/null
run cached true true
run changed "$change" "$change"
echo
cat "$T/summary"
