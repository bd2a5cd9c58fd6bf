//! The capabilities a container keeps: root inside keeps what a system
//! container needs (LXC's defaults for system containers, a few more
//! dropped), and loses for good what reaches the host's kernel or hardware:
//! modules, raw I/O, the clock, reboot of the host, the kernel log, MAC
//! policy, audit control, BPF and perf. They leave the bounding set before
//! xdockerinit runs, with no inheritable or ambient capabilities, so no
//! process in the container can ever get them back.

/// Dropped from every container: (name, number from linux/capability.h).
pub const DROPPED: &[(&str, u32)] = &[
    ("sys_module", 16),
    ("sys_rawio", 17),
    ("sys_boot", 22),
    ("sys_time", 25),
    ("audit_control", 30),
    ("mac_override", 32),
    ("mac_admin", 33),
    ("syslog", 34),
    ("wake_alarm", 35),
    ("perfmon", 38),
    ("bpf", 39),
];

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Restricts the calling process (the container's first process, still
/// root with every capability): drops [`DROPPED`] from its bounding set and
/// clears its inheritable and ambient sets. Capabilities the running
/// kernel does not know are skipped.
pub fn restrict() -> Result<(), String> {
    for (name, cap) in DROPPED {
        // SAFETY: prctl(PR_CAPBSET_DROP, cap) takes only integers.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, *cap as libc::c_ulong, 0, 0, 0) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(format!("drop capability {name}: {e}"));
            }
        }
    }
    // SAFETY: as above; EINVAL only on kernels without ambient capabilities.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget fills two data structs for version 3 of the header.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(format!(
            "read capabilities: {}",
            std::io::Error::last_os_error()
        ));
    }
    for d in &mut data {
        d.inheritable = 0;
    }
    // SAFETY: capset reads the header and two data structs.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(format!(
            "clear inheritable capabilities: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
