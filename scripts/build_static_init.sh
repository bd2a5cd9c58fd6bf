#!/usr/bin/env bash
# build_static_init.sh [debug|release] - build xdockerinit as a statically
# linked binary and print its path (see build_static.sh).
exec "$(dirname "$(readlink -f "$0")")/build_static.sh" xdockerinit "$@"
