# shellcheck shell=sh
#
# xdocker_container_root.sh - sourced, not run: sets and exports
# XDOCKER_CONTAINER_ROOT to a host path where the running container's root
# filesystem can be read and written (`xdocker -s container_root -c C`).
#
# Usage:  . xdocker_container_root.sh CONTAINER
#         ls "$XDOCKER_CONTAINER_ROOT/etc"
#
# Works in sh, dash, bash and zsh. On error (no such container, not
# running) xdocker's one error line is printed, XDOCKER_CONTAINER_ROOT is
# unset and the status is 1. XDOCKER names the xdocker binary (default:
# xdocker on PATH).

unset XDOCKER_CONTAINER_ROOT
if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "xdocker_container_root.sh: usage: . xdocker_container_root.sh CONTAINER" >&2
    false
else
    # The name is passed as one argument, never evaluated by the shell.
    if _xd_root=$("${XDOCKER:-xdocker}" -s container_root -c "$1"); then
        XDOCKER_CONTAINER_ROOT=$_xd_root
        export XDOCKER_CONTAINER_ROOT
        unset _xd_root
        true
    else
        unset _xd_root
        false
    fi
fi
