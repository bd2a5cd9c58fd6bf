//! The capabilities a container keeps: root inside keeps what a system
//! container needs (LXC's defaults for system containers, a few more
//! dropped), and loses for good what reaches the host's kernel or hardware:
//! modules, raw I/O, the clock, reboot of the host, the kernel log, MAC
//! policy, audit control, BPF and perf; and sys_ptrace (as Docker does), so
//! that xdockerinit, which is not dumpable, and the host descriptors it
//! holds stay out of reach (`--cap-add sys_ptrace` for gdb -p and the like;
//! strace of one's own children needs no capability). They leave the bounding set before
//! xdockerinit runs, with no inheritable or ambient capabilities, so no
//! process in the container can ever get them back.

/// Dropped from every container: (name, number from linux/capability.h).
pub const DROPPED: &[(&str, u32)] = &[
    ("sys_module", 16),
    ("sys_rawio", 17),
    ("sys_ptrace", 19),
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

/// Also dropped from a privileged container on the host's network (as
/// Docker drops them): with them, root inside would rewire the host's
/// interfaces, routes and firewall, and sniff its traffic. `--cap-add`
/// gives them back. A container with a user namespace keeps them: they
/// act only in namespaces it owns, never on the host's network.
pub const DROPPED_ON_HOST_NETWORK: &[(&str, u32)] = &[("net_admin", 12), ("net_raw", 13)];

/// Every capability the kernel defines (linux/capability.h), by name.
pub const ALL: &[(&str, u32)] = &[
    ("chown", 0),
    ("dac_override", 1),
    ("dac_read_search", 2),
    ("fowner", 3),
    ("fsetid", 4),
    ("kill", 5),
    ("setgid", 6),
    ("setuid", 7),
    ("setpcap", 8),
    ("linux_immutable", 9),
    ("net_bind_service", 10),
    ("net_broadcast", 11),
    ("net_admin", 12),
    ("net_raw", 13),
    ("ipc_lock", 14),
    ("ipc_owner", 15),
    ("sys_module", 16),
    ("sys_rawio", 17),
    ("sys_chroot", 18),
    ("sys_ptrace", 19),
    ("sys_pacct", 20),
    ("sys_admin", 21),
    ("sys_boot", 22),
    ("sys_nice", 23),
    ("sys_resource", 24),
    ("sys_time", 25),
    ("sys_tty_config", 26),
    ("mknod", 27),
    ("lease", 28),
    ("audit_write", 29),
    ("audit_control", 30),
    ("setfcap", 31),
    ("mac_override", 32),
    ("mac_admin", 33),
    ("syslog", 34),
    ("wake_alarm", 35),
    ("block_suspend", 36),
    ("audit_read", 37),
    ("perfmon", 38),
    ("bpf", 39),
    ("checkpoint_restore", 40),
];

/// A capability's canonical name: `NET_ADMIN`, `cap_net_admin` and
/// `net_admin` are all `net_admin`. None for a name the kernel lacks.
pub fn canonical(name: &str) -> Option<&'static str> {
    let lower = name.trim().to_ascii_lowercase();
    let bare = lower.strip_prefix("cap_").unwrap_or(&lower);
    ALL.iter().find(|(n, _)| *n == bare).map(|(n, _)| *n)
}

/// The capabilities a container loses: [`DROPPED`] (and, with
/// `privileged_on_host_network`, [`DROPPED_ON_HOST_NETWORK`]) without
/// `add`, plus `drop` (names as [`canonical`] returns them), in number
/// order.
pub fn drop_set(add: &[String], drop: &[String], privileged_on_host_network: bool) -> Vec<u32> {
    let mut out: Vec<u32> = ALL
        .iter()
        .filter(|(name, _)| {
            let host_network = privileged_on_host_network
                && DROPPED_ON_HOST_NETWORK.iter().any(|(n, _)| n == name);
            let by_default = host_network || DROPPED.iter().any(|(n, _)| n == name);
            let added = add.iter().any(|a| a == name);
            let dropped = drop.iter().any(|d| d == name);
            dropped || (by_default && !added)
        })
        .map(|(_, cap)| *cap)
        .collect();
    out.sort_unstable();
    out
}

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
/// root with every capability): drops `caps` (see [`drop_set`]) from its
/// bounding set and clears its inheritable and ambient sets. Capabilities
/// the running kernel does not know are skipped.
pub fn restrict(caps: &[u32]) -> Result<(), String> {
    for cap in caps {
        // SAFETY: prctl(PR_CAPBSET_DROP, cap) takes only integers.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, *cap as libc::c_ulong, 0, 0, 0) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(format!("drop capability {cap}: {e}"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_drop_sets() {
        assert_eq!(canonical("NET_ADMIN"), Some("net_admin"));
        assert_eq!(canonical("cap_sys_time"), Some("sys_time"));
        assert_eq!(canonical("sys_godmode"), None);
        for (name, cap) in DROPPED {
            assert_eq!(ALL.iter().find(|(n, _)| n == name).map(|c| c.1), Some(*cap));
        }
        let default = drop_set(&[], &[], false);
        assert_eq!(default.len(), DROPPED.len());
        let host = drop_set(&[], &[], true);
        assert_eq!(host.len(), DROPPED.len() + 2);
        assert!(host.contains(&12) && host.contains(&13), "{host:?}");
        let given_back = drop_set(&["net_admin".into()], &[], true);
        assert!(!given_back.contains(&12) && given_back.contains(&13));
        let custom = drop_set(
            &["sys_time".into()],
            &["net_raw".into(), "mknod".into()],
            false,
        );
        assert!(!custom.contains(&25), "sys_time added back");
        assert!(custom.contains(&13) && custom.contains(&27), "{custom:?}");
        assert!(custom.contains(&16), "sys_module still dropped");
    }
}
