//! The default seccomp filter of containers: a deny list (kernel modules,
//! kexec, bpf, perf, keyrings, userfaultfd, the clock, raw I/O, ...) that
//! answers EPERM, for the native and the compat ABIs. It is compiled once
//! at build time by build.rs with libseccomp; boot only hands the bytes to
//! the kernel, just before xdockerinit runs, so it binds every process of
//! the container. No `no_new_privs`: setuid programs (su, sudo) keep working.
//!
//! Privileged containers (`--userns off`) get the mount guard on top
//! ([`MOUNT_GUARD`]): no remount, move, bare bind, unmount or new file
//! system, so that the read-only /proc/sys and /sys stay read-only and no
//! new procfs, sysfs or cgroupfs reaches the host's kernel. A container
//! with a user namespace needs none of it: the kernel locks its mounts and
//! refuses it those file systems.

use xdockerinit::sys::IoText;

/// Errors of loading a filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp filter of {0} instructions is too long")]
    TooLong(usize),
    /// The errno is kept for the parent.
    #[error("load seccomp filter: {}", IoText(.0))]
    Load(std::io::Error),
}

/// The refused system calls and why (the list build.rs compiled).
pub const DENIED: &[(&str, &str)] = include!("seccomp_denied.in");

/// The mount guard of privileged containers: (system call, mask of
/// mount(2)'s flags, the value that refuses, why); mask 0 refuses always.
pub const MOUNT_GUARD: &[(&str, u64, u64, &str)] = include!("seccomp_mount_guard.in");

/// The compiled filters: `struct sock_filter` records in native byte order.
static DEFAULT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seccomp_default.bpf"));
static PRIVILEGED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seccomp_privileged.bpf"));

/// The filter as the kernel takes it: the default, with the mount guard
/// for a privileged container.
pub fn program(privileged: bool) -> Vec<libc::sock_filter> {
    let compiled = if privileged { PRIVILEGED } else { DEFAULT };
    compiled
        .chunks_exact(8)
        .map(|r| libc::sock_filter {
            code: u16::from_ne_bytes([r[0], r[1]]),
            jt: r[2],
            jf: r[3],
            k: u32::from_ne_bytes([r[4], r[5], r[6], r[7]]),
        })
        .collect()
}

/// Installs the filter on the calling thread (the container's first
/// process, which still has CAP_SYS_ADMIN, so no `no_new_privs` is needed).
pub fn load(program: &[libc::sock_filter]) -> Result<(), SeccompError> {
    if u16::try_from(program.len()).is_err() {
        return Err(SeccompError::TooLong(program.len()));
    }
    xdockerinit::sys::seccomp_set_filter(program).map_err(|e| SeccompError::Load(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `AUDIT_ARCH_*` of linux/audit.h.
    const X86_64: u32 = 0xc000_003e;
    const I386: u32 = 0x4000_0003;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;

    /// Runs the classic BPF program on one `struct seccomp_data` (the
    /// subset of instructions libseccomp emits for a deny list and for
    /// masked argument checks).
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        run_args(prog, arch, nr, &[0; 6])
    }

    fn run_args(prog: &[libc::sock_filter], arch: u32, nr: u32, args: &[u64; 6]) -> u32 {
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                // ld [k]: seccomp_data { nr @0, arch @4, ip @8, args @16 }
                0x20 => {
                    a = match i.k {
                        0 => nr,
                        4 => arch,
                        k @ 16..=63 => {
                            let arg = args[(k as usize - 16) / 8];
                            if k % 8 == 0 {
                                arg as u32
                            } else {
                                (arg >> 32) as u32
                            }
                        }
                        _ => 0,
                    }
                }
                0x06 => return i.k,         // ret k
                0x05 => pc += i.k as usize, // ja k
                0x15 | 0x25 | 0x35 | 0x45 => {
                    let taken = match i.code {
                        0x15 => a == i.k,  // jeq
                        0x25 => a > i.k,   // jgt
                        0x35 => a >= i.k,  // jge
                        _ => a & i.k != 0, // jset
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
                0x54 => a &= i.k, // and k
                other => panic!("instruction {other:#x} at {} not simulated", pc - 1),
            }
        }
    }

    #[test]
    fn the_compiled_filter_refuses_the_list_on_both_abis_and_allows_the_rest() {
        let prog = program(false);
        assert!(
            !prog.is_empty() && prog.len() < 512,
            "{} instructions",
            prog.len()
        );
        for nr in [
            libc::SYS_kexec_load,
            libc::SYS_init_module,
            libc::SYS_finit_module,
            libc::SYS_delete_module,
            libc::SYS_open_by_handle_at,
            libc::SYS_bpf,
            libc::SYS_perf_event_open,
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_request_key,
            libc::SYS_userfaultfd,
            libc::SYS_clock_settime,
            libc::SYS_iopl,
        ] {
            assert_eq!(run(&prog, X86_64, nr as u32), EPERM, "x86_64 syscall {nr}");
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_mount,
            libc::SYS_unshare,
            libc::SYS_clone,
            libc::SYS_ptrace,
            libc::SYS_setns,
            libc::SYS_clock_gettime,
            libc::SYS_reboot,
        ] {
            assert_eq!(run(&prog, X86_64, nr as u32), ALLOW, "x86_64 syscall {nr}");
        }
        // The i386 ABI of 64-bit kernels: keyctl is 288, init_module 128,
        // kexec_load 283, getpid 20, read 3.
        for nr in [288, 128, 283] {
            assert_eq!(run(&prog, I386, nr), EPERM, "i386 syscall {nr}");
        }
        for nr in [20, 3] {
            assert_eq!(run(&prog, I386, nr), ALLOW, "i386 syscall {nr}");
        }
        // The x32 ABI (syscall bit 30): keyctl is 0x40000000 + 250.
        assert_eq!(run(&prog, X86_64, 0x4000_0000 + 250), EPERM);
        // An ABI the filter does not know (aarch64) is never let through.
        assert_ne!(run(&prog, 0xc000_00b7, libc::SYS_read as u32), ALLOW);
    }

    #[test]
    fn the_privileged_filter_adds_the_mount_guard_by_flags() {
        let default = program(false);
        let prog = program(true);
        let mount = |flags: u64| {
            let args = [0, 0, 0, flags, 0, 0];
            (
                run_args(&prog, X86_64, libc::SYS_mount as u32, &args),
                run_args(&default, X86_64, libc::SYS_mount as u32, &args),
            )
        };
        let ms = u64::from;
        // Refused to a privileged container, allowed to the others.
        for (flags, what) in [
            (
                ms(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY),
                "remount",
            ),
            (ms(libc::MS_REMOUNT), "remount"),
            (0, "new procfs"),
            (ms(libc::MS_NOSUID | libc::MS_NODEV), "new sysfs"),
            (0xc0ed_0000, "new file system, MS_MGC_VAL"),
            (ms(libc::MS_BIND), "bare bind"),
            (ms(libc::MS_MOVE), "move"),
        ] {
            assert_eq!(mount(flags), (EPERM, ALLOW), "{what}: {flags:#x}");
        }
        // Recursive binds and propagation changes stay allowed.
        for flags in [
            ms(libc::MS_BIND | libc::MS_REC),
            ms(libc::MS_REC | libc::MS_PRIVATE),
            ms(libc::MS_SLAVE),
            0xc0ed_0000 | ms(libc::MS_SHARED),
        ] {
            assert_eq!(mount(flags), (ALLOW, ALLOW), "{flags:#x}");
        }
        for nr in [
            libc::SYS_umount2,
            libc::SYS_fsopen,
            libc::SYS_fspick,
            libc::SYS_fsmount,
            libc::SYS_open_tree,
            libc::SYS_move_mount,
            libc::SYS_mount_setattr,
        ] {
            assert_eq!(run(&prog, X86_64, nr as u32), EPERM, "syscall {nr}");
            assert_eq!(run(&default, X86_64, nr as u32), ALLOW, "syscall {nr}");
        }
        // The default list holds in both.
        assert_eq!(run(&prog, X86_64, libc::SYS_keyctl as u32), EPERM);
        assert_eq!(run(&prog, X86_64, libc::SYS_read as u32), ALLOW);
        // i386: umount is 22, mount 21 (remount refused there too).
        assert_eq!(run(&prog, I386, 22), EPERM);
        let remount = [0, 0, 0, ms(libc::MS_REMOUNT), 0, 0];
        assert_eq!(run_args(&prog, I386, 21, &remount), EPERM);
        for (i, (name, _, _, why)) in MOUNT_GUARD.iter().enumerate() {
            assert!(!why.is_empty(), "{name} #{i}");
        }
    }

    #[test]
    fn the_list_names_each_call_once_with_a_reason() {
        for (i, (name, why)) in DENIED.iter().enumerate() {
            assert!(!why.is_empty(), "{name}");
            assert!(!DENIED[..i].iter().any(|(n, _)| n == name), "{name} twice");
        }
    }
}
