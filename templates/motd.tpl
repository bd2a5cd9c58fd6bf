${HOST_ROLE} on ${HOSTNAME} - ${ENVIRONMENT}
Managed by xdocker: changes here are lost when the host is rebuilt from
its templates. Contact: ${CONTACT}
