# shellcheck shell=bash
# private_sshd.sh - sourced by bench/srepo.sh, bench/sessions.sh and
# tests/e2e/debian_sshd.sh:
# a private OpenSSH server on 127.0.0.1 for an ssh image repository, from a
# config, host key and authorized_keys in a directory of the caller's; the
# system sshd and ~/.ssh are never touched.
#
#   private_sshd_start DIR CLIENT_SSH_DIR
#     DIR             where sshd's files go (created)
#     CLIENT_SSH_DIR  holds the client key id_ed25519 (made when missing);
#                     known_hosts there gets the server's host key
#   Sets SSHD_PID and SSHD_PORT; returns 1 (with sshd's log on stderr) when
#   the server does not come up within 10 s. End it with private_sshd_stop.

private_sshd_start() {
    local dir=$1 client=$2
    mkdir -p "$dir" "$client" /run/sshd
    [[ -f $client/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -f "$client/id_ed25519"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
    cp "$client/id_ed25519.pub" "$dir/authorized_keys"
    SSHD_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$dir/sshd_config" <<EOC
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PrintMotd no
PrintLastLog no
Subsystem sftp internal-sftp
EOC
    echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" >"$client/known_hosts"
    /usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
    SSHD_PID=$!
    disown "$SSHD_PID"
    local _
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$SSHD_PORT") 2>/dev/null && return 0
        kill -0 "$SSHD_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/sshd.log" >&2
    return 1
}

# Kills the server and every session it forked (sessions call setsid), by
# PID; a no-op when none was started.
private_sshd_stop() {
    [[ -n ${SSHD_PID:-} ]] || return 0
    local pids=$SSHD_PID more p
    while :; do
        more=$(ps -eo pid=,ppid= | awk -v set=" $pids " 'index(set, " " $2 " ") && !index(set, " " $1 " ") { print $1 }')
        [[ -z $more ]] && break
        for p in $more; do pids="$pids $p"; done
    done
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    SSHD_PID=
}
