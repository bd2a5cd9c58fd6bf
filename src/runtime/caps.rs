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

use rustix::thread::{self, CapabilitySet};
use xdockerinit::sys::IoText;

/// A capability call that failed, and its errno (kept for the parent).
#[derive(Debug, thiserror::Error)]
#[error("{what}: {}", IoText(.error))]
pub struct CapsError {
    pub what: String,
    pub error: std::io::Error,
}

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

/// Restricts the calling process (the container's first process, still
/// root with every capability): drops `caps` (see [`drop_set`]) from its
/// bounding set and clears its inheritable and ambient sets. Capabilities
/// the running kernel does not know are skipped. The calls are rustix's
/// (prctl PR_CAPBSET_DROP and PR_CAP_AMBIENT, capget/capset), which keep
/// the errno; like the kernel's, they act on the calling thread.
pub fn restrict(caps: &[u32]) -> Result<(), CapsError> {
    let fail = |what: String| {
        move |e: rustix::io::Errno| CapsError {
            what,
            error: std::io::Error::from_raw_os_error(e.raw_os_error()),
        }
    };
    for &cap in caps {
        let Some(set) = 1u64.checked_shl(cap).map(CapabilitySet::from_bits_retain) else {
            continue;
        };
        match thread::remove_capability_from_bounding_set(set) {
            // EINVAL: a capability this kernel does not have.
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(e) => return Err(fail(format!("drop capability {}", name(cap)))(e)),
        }
    }
    // Fails only on kernels without ambient capabilities (EINVAL).
    let _ = thread::clear_ambient_capability_set();
    let mut sets = thread::capabilities(None).map_err(fail("read capabilities".into()))?;
    sets.inheritable = CapabilitySet::empty();
    thread::set_capabilities(None, sets).map_err(fail("clear inheritable capabilities".into()))
}

/// A capability's name by number, for messages.
fn name(cap: u32) -> String {
    ALL.iter()
        .find(|(_, n)| *n == cap)
        .map_or_else(|| cap.to_string(), |(name, _)| (*name).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a thread of its own: the bounding, inheritable and ambient sets
    /// are per thread, so the test's thread keeps its capabilities.
    #[test]
    fn restrict_acts_on_the_calling_thread() {
        let sys_time = CapabilitySet::SYS_TIME;
        let (result, bounding, inheritable) = std::thread::spawn(move || {
            // Also a capability number no kernel has: skipped.
            let result = restrict(&[25, 63]);
            let bounding = thread::capability_is_in_bounding_set(sys_time);
            let inheritable = thread::capabilities(None).map(|s| s.inheritable);
            (result, bounding, inheritable)
        })
        .join()
        .expect("thread");
        let has_setpcap =
            thread::capabilities(None).is_ok_and(|s| s.effective.contains(CapabilitySet::SETPCAP));
        let result = result.map_err(|e| (e.to_string(), e.error.raw_os_error()));
        if has_setpcap {
            assert_eq!(result, Ok(()));
            assert_eq!(bounding, Ok(false));
            assert_eq!(inheritable, Ok(CapabilitySet::empty()));
        } else {
            assert_eq!(
                result,
                Err((
                    "drop capability sys_time: operation not permitted".to_string(),
                    Some(libc::EPERM)
                ))
            );
        }
        assert_eq!(
            thread::capability_is_in_bounding_set(sys_time),
            Ok(true),
            "the test's own thread is untouched"
        );
    }

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
