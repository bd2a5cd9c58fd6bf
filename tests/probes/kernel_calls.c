/* kernel_calls.c - a hostile root inside a container tries system calls
 * that reach the host's kernel; prints one line per call: NAME RESULT,
 * RESULT being "ok" or the errno name. Built statically by tests/hardening.rs
 * and copied into the container's image. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *name, long r)
{
    if (r >= 0)
        printf("%s ok\n", name);
    else
        printf("%s %s\n", name, errno == EPERM ? "EPERM" : strerrorname_np(errno));
}

int main(void)
{
    /* keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, create=1):
     * the kernel keyring is shared with the host (CVE-2016-0728 class). */
    report("keyctl", syscall(SYS_keyctl, 0, -2, 1));
    report("add_key", syscall(SYS_add_key, "user", "xdocker-probe", "x", 1, -2));
    /* userfaultfd: the usual helper of kernel race exploits. With
     * UFFD_USER_MODE_ONLY (1) the kernel lets anyone have one (without it,
     * vm.unprivileged_userfaultfd=0 asks for CAP_SYS_PTRACE). */
    report("userfaultfd", syscall(SYS_userfaultfd, 1));
    /* open_by_handle_at past the container's mounts (CVE-2014-3519, shocker). */
    report("open_by_handle_at", syscall(SYS_open_by_handle_at, -1, NULL, 0));
    report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    report("init_module", syscall(SYS_init_module, NULL, 0, ""));
    /* Allowed: what a system container needs. */
    report("getpid", syscall(SYS_getpid));
    report("unshare_uts", syscall(SYS_unshare, 0x04000000));
    return 0;
}
