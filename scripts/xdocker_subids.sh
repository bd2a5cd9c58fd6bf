#!/usr/bin/env bash
# xdocker_subids.sh - make sure root has subordinate ids for unprivileged
# containers (the default): adds root:1000000:1000000000 (Incus' default
# range, 15258 containers of 65536 ids) to each file that has no line for
# root, as Incus packages do. A file that has one is left as it is.
#
# Usage: xdocker_subids.sh [FILE...]   (default: /etc/subuid /etc/subgid)
set -euo pipefail
line="root:1000000:1000000000"
[ $# -gt 0 ] || set -- /etc/subuid /etc/subgid
for f in "$@"; do
    if [ -f "$f" ] && grep -Eq '^(root|0):' "$f"; then
        echo "xdocker_subids.sh: $f: root has ids already"
        continue
    fi
    # Another user's range over the default one: say so, change nothing.
    if [ -f "$f" ] && awk -F: -v s=1000000 -v n=1000000000 \
        '!/^#/ && NF >= 3 && $2 < s + n && s < $2 + $3 { found = 1 } END { exit !found }' "$f"; then
        echo "xdocker_subids.sh: error: $f: a range overlaps $line; add a free one for root by hand" >&2
        exit 1
    fi
    [ -s "$f" ] && [ -n "$(tail -c1 "$f")" ] && echo >>"$f"
    echo "$line" >>"$f"
    echo "xdocker_subids.sh: $f: added $line"
done
