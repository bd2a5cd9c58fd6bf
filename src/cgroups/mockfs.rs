//! A fake kernel for the unit tests: plays cgroupfs's mkdir (a new group
//! comes with its interface files) and rmdir (they go with it) on a temp
//! dir, never signals a process and never waits. Everything else the
//! backends do is a plain read or write and needs no faking: a freezer
//! state written is the state read back (frozen at once), unless a test
//! writes what the kernel would say.

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;

use super::KernelOps;

pub(crate) const OPS: KernelOps = KernelOps {
    mkdir,
    rmdir,
    kill,
    devices,
    sleep,
};

fn sleep(_: Duration) {}

/// Records the rules where the kernel would hold the attached program
/// (once, as the real one attaches once).
fn devices(path: &Path, rules: &[super::devices::Rule]) -> io::Result<()> {
    if path.join("devices.bpf").exists() {
        return Ok(());
    }
    let lines: Vec<String> = rules.iter().map(|r| r.v1_line()).collect();
    fs::write(path.join("devices.bpf"), lines.join("\n"))
}

fn mkdir(path: &Path) -> io::Result<()> {
    fs::create_dir(path)?;
    let parent = path
        .parent()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let put = |file: &str, value: &str| fs::write(path.join(file), value);
    put("cgroup.procs", "")?;
    if parent.join("cgroup.controllers").exists() {
        // v2: a child may use what its parent enabled in subtree_control.
        let enabled: Vec<String> = fs::read_to_string(parent.join("cgroup.subtree_control"))?
            .split_whitespace()
            .map(|t| t.trim_start_matches('+').to_string())
            .collect();
        put("cgroup.controllers", &format!("{}\n", enabled.join(" ")))?;
        put("cgroup.subtree_control", "")?;
        put("cgroup.events", "populated 0\nfrozen 0\n")?;
        put("cgroup.freeze", "0\n")?;
        put("cgroup.kill", "")?;
        put("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n")?;
        for c in &enabled {
            match c.as_str() {
                "cpu" => {
                    put("cpu.max", "max 100000\n")?;
                    put("cpu.weight", "100\n")?;
                }
                "memory" => {
                    put("memory.max", "max\n")?;
                    put("memory.swap.max", "max\n")?;
                    put("memory.current", "0\n")?;
                }
                "cpuset" => {
                    put("cpuset.cpus", "")?;
                    let effective = fs::read_to_string(parent.join("cpuset.cpus.effective"))?;
                    put("cpuset.cpus.effective", &effective)?;
                }
                "pids" => put("pids.max", "max\n")?,
                _ => {}
            }
        }
    } else if parent.join("cpuset.cpus").exists() {
        // v1 cpuset with cgroup.clone_children 0: empty until written.
        put("cpuset.cpus", "")?;
        put("cpuset.mems", "")?;
    } else if path
        .ancestors()
        .any(|a| a.file_name() == Some("freezer".as_ref()))
    {
        // v1 freezer (mounted at `freezer/`): every group but the root
        // has the state file.
        put("freezer.state", "THAWED\n")?;
    }
    Ok(())
}

fn rmdir(path: &Path) -> io::Result<()> {
    let entries = fs::read_dir(path)?.collect::<io::Result<Vec<_>>>()?;
    // The kernel refuses to remove a group with child groups or processes.
    let has_pids = |e: &fs::DirEntry| {
        matches!(e.file_name().to_str(), Some("cgroup.procs" | "tasks"))
            && fs::read_to_string(e.path()).is_ok_and(|t| !t.trim().is_empty())
    };
    if entries.iter().any(|e| e.path().is_dir() || has_pids(e)) {
        return Err(io::Error::from_raw_os_error(libc::EBUSY));
    }
    for entry in entries {
        fs::remove_file(entry.path())?;
    }
    fs::remove_dir(path)
}

fn kill(_pid: i32) -> Result<(), Errno> {
    Ok(())
}
