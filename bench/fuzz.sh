#!/usr/bin/env bash
# Fuzzing of the parsers that read untrusted input, with cargo-fuzz
# (libFuzzer, nightly Rust): the session protocol decoder, the rplfile
# mapping file and template engine, the image manifest, and the archive
# reader of import/spull (which must never write outside the layer).
# Not part of CI.
#
#   bench/fuzz.sh [TARGET...]      (default: all four)
#
# Environment:
#   SECONDS_EACH=60     -max_total_time per target
#   TOOLCHAIN=nightly   the toolchain cargo-fuzz builds with
#   RESULTS_DIR=bench/results
# The corpus lives in fuzz/corpus/TARGET (seeded here on first use),
# crashes in fuzz/artifacts/TARGET; the summary goes to
# RESULTS_DIR/fuzz-summary.txt, the end of each target's log to
# RESULTS_DIR/fuzz-TARGET.log (the whole log: fuzz/target/). Exit status 1
# when a target crashed.
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
repo=$(dirname "$here")
SECONDS_EACH=${SECONDS_EACH:-60}
TOOLCHAIN=${TOOLCHAIN:-nightly}
RESULTS_DIR=${RESULTS_DIR:-$here/results}
targets=("$@")
((${#targets[@]})) || targets=(session_protocol mapping_file image_manifest archive_reader)

die() { echo "fuzz: $*" >&2; exit 1; }
[[ $SECONDS_EACH =~ ^[0-9]+$ ]] || die "SECONDS_EACH must be a number"
rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1 || die "no $TOOLCHAIN toolchain (rustup toolchain install $TOOLCHAIN)"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install --quiet cargo-fuzz || die "cargo install cargo-fuzz failed"
fi

cd "$repo/fuzz"
# Seeds: real inputs of each parser, so that the fuzzer starts past the
# first checks.
seed() { # TARGET NAME (stdin: the bytes)
    mkdir -p "corpus/$1"
    [[ -e corpus/$1/$2 ]] || cat >"corpus/$1/$2"
}
printf '${KEY} value with spaces\n# comment\n\n${B} b\n\0text ${KEY} and ${B}\n' | seed mapping_file basic
printf 'format = 1\nname = "web"\nversion = "1.0"\ncreated = "2026-01-01T00:00:00+00:00"\nbase_layers = []\nsize = 10\n' |
    seed image_manifest basic
if [[ ! -d corpus/archive_reader ]]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/home/images/seed/1/rlayer/etc" "$tmp/plain/etc"
    echo hello >"$tmp/home/images/seed/1/rlayer/etc/hello"
    ln -s hello "$tmp/home/images/seed/1/rlayer/etc/link"
    printf 'name = "seed"\nversion = "1"\ncreated = "2026-01-01T00:00:00+00:00"\nsize = 6\n' \
        >"$tmp/home/images/seed/1/image.toml"
    (cd "$repo" && cargo build --quiet) || die "cargo build failed"
    XDOCKER_HOME=$tmp/home "$repo/target/debug/xdocker" -a export -m seed:1 --image-file "$tmp/seed.xdockerimage" >/dev/null ||
        die "exporting the seed image failed"
    seed archive_reader xdockerimage <"$tmp/seed.xdockerimage"
    seed image_manifest xdockerimage <"$tmp/seed.xdockerimage"
    echo hi >"$tmp/plain/etc/hi"
    tar -C "$tmp/plain" -cf - . | seed archive_reader plain-tar
fi

summary=$RESULTS_DIR/fuzz-summary.txt
mkdir -p "$RESULTS_DIR"
{
    echo "fuzz run $(date -u +%FT%TZ), ${SECONDS_EACH}s per target, $(rustup run "$TOOLCHAIN" rustc --version)"
} >"$summary"
rc=0
for t in "${targets[@]}"; do
    echo "== $t (${SECONDS_EACH}s)" >&2
    mkdir -p target
    log=target/fuzz-$t.log
    if cargo "+$TOOLCHAIN" fuzz run "$t" -- -max_total_time="$SECONDS_EACH" \
        -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        rc=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{ s += $2 } END { print s + 0 }')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{ print $2 }')
    printf '%-18s %-6s %10s runs  cov %s\n' "$t" "$status" "$runs" "${cov:-?}" | tee -a "$summary" >&2
    tail -n 40 "$log" >"$RESULTS_DIR/fuzz-$t.log"
done
exit "$rc"
