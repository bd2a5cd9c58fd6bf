#!/usr/bin/env bash
# test_subids.sh - tests for xdocker_subids.sh on temporary files: a line
# for root is added once, an existing one is kept, an overlapping range of
# another user is refused without a change. Prints `N passed, M failed`.
set -uo pipefail
SUBIDS=$(dirname -- "$(readlink -f -- "$0")")/../xdocker_subids.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PASSED=0
FAILED=0
check() { # NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then PASSED=$((PASSED + 1)); else
        FAILED=$((FAILED + 1))
        printf 'FAIL %s\n  expected: %q\n  actual:   %q\n' "$1" "$2" "$3"
    fi
}
printf 'alice:100000:65536' >"$T/uid"   # no newline at the end
"$SUBIDS" "$T/uid" "$T/new" >/dev/null
check "appended after a line without newline" $'alice:100000:65536\nroot:1000000:1000000000' "$(cat "$T/uid")"
check "a missing file is made" "root:1000000:1000000000" "$(cat "$T/new")"
"$SUBIDS" "$T/uid" >/dev/null
check "run twice, added once" 1 "$(grep -c '^root:' "$T/uid")"
echo "root:200000:65536" >"$T/own"
"$SUBIDS" "$T/own" >/dev/null
check "root's own range is kept" "root:200000:65536" "$(cat "$T/own")"
echo "bob:999999:10" >"$T/clash"
"$SUBIDS" "$T/clash" 2>"$T/err" >/dev/null
check "an overlap fails" 1 "$?"
check "an overlap changes nothing" "bob:999999:10" "$(cat "$T/clash")"
check "an overlap is named" 1 "$(grep -c 'overlaps' "$T/err")"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
