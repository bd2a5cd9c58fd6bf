# /etc/ssh/sshd_config of an xdocker service container.
# From xdocker's templates/sshd_config.tpl, instantiated with
#   xdocker -a rplfile -c C --template-file /etc/ssh/sshd_config.tpl \
#       --mapping-file sshd_config.map --instance-file /etc/ssh/sshd_config
# (sample mapping: templates/sshd_config.map). Keys only, no passwords.
Port ${SSHD_PORT}
ListenAddress ${SSHD_LISTEN}
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_rsa_key
PermitRootLogin ${SSHD_ROOT_LOGIN}
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
PrintMotd yes
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
