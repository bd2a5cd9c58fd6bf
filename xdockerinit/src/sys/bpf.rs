//! Loading filters into the kernel: bpf(2) for a cgroup's device program
//! (load, attach, count what is attached) and seccomp(2) for a process's
//! system call filter. nix has neither.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

// linux/bpf.h
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_QUERY: libc::c_long = 16;

/// One `struct bpf_insn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct BpfInsn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// The head of `union bpf_attr` for BPF_PROG_LOAD (the kernel takes a
/// shorter struct as long as what it does not know is zero).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_PROG_ATTACH.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `union bpf_attr` for BPF_PROG_QUERY (counting only: no id buffer).
#[repr(C)]
#[derive(Default)]
struct ProgQueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
}

/// Marks the `union bpf_attr` layouts above, the only types [`bpf`] passes.
trait BpfAttr {}
impl BpfAttr for ProgLoadAttr {}
impl BpfAttr for ProgAttachAttr {}
impl BpfAttr for ProgQueryAttr {}

fn bpf<T: BpfAttr>(cmd: libc::c_long, attr: &mut T) -> nix::Result<libc::c_long> {
    // SAFETY: bpf(2) reads (and for PROG_QUERY writes back into) a `union
    // bpf_attr` of the size passed, which `attr` is; every pointer inside
    // it (instructions, license) points to memory the caller keeps alive
    // for the call, and no log buffer is given.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    Errno::result(r)
}

/// How many programs of `attach_type` are attached to `target` (a cgroup
/// directory).
pub fn bpf_prog_count(target: BorrowedFd<'_>, attach_type: u32) -> nix::Result<u32> {
    let mut query = ProgQueryAttr {
        target_fd: target.as_raw_fd() as u32,
        attach_type,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut query)?;
    Ok(query.prog_cnt)
}

/// Loads a program; `name` is cut to the kernel's 15 bytes.
pub fn bpf_prog_load(
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[BpfInsn],
    license: &CStr,
    name: &str,
) -> nix::Result<OwnedFd> {
    let mut prog_name = [0u8; 16];
    let n = name.len().min(15);
    prog_name[..n].copy_from_slice(&name.as_bytes()[..n]);
    let mut load = ProgLoadAttr {
        prog_type,
        insn_cnt: u32::try_from(insns.len()).map_err(|_| Errno::E2BIG)?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name,
        expected_attach_type,
        ..Default::default()
    };
    let fd = bpf(BPF_PROG_LOAD, &mut load)?;
    // SAFETY: BPF_PROG_LOAD returned a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches the program `prog` to `target` (a cgroup directory).
pub fn bpf_prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
) -> nix::Result<()> {
    let mut attach = ProgAttachAttr {
        target_fd: target.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attach).map(drop)
}

/// Installs a classic BPF system call filter on the calling thread
/// (seccomp(2) SECCOMP_SET_MODE_FILTER): from here on every call it and
/// its children make is filtered. Needs CAP_SYS_ADMIN or `no_new_privs`.
/// A program longer than 65535 instructions is EINVAL.
pub fn seccomp_set_filter(program: &[libc::sock_filter]) -> nix::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| Errno::EINVAL)?;
    let fprog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: seccomp(SET_MODE_FILTER) reads `fprog` and the `len`
    // instructions it points to (the kernel copies them, it never writes
    // through the pointer), which live until the call returns.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    Errno::result(r).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpf_insn_is_the_kernels_eight_bytes() {
        assert_eq!(std::mem::size_of::<BpfInsn>(), 8);
    }

    #[test]
    fn seccomp_refuses_an_empty_program() {
        // The kernel checks the length before anything else: no filter is
        // installed on the test thread.
        assert_eq!(seccomp_set_filter(&[]), Err(Errno::EINVAL));
    }

    #[test]
    fn counting_programs_on_a_non_cgroup_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fd = std::fs::File::open(dir.path()).expect("open");
        use std::os::fd::AsFd;
        assert!(bpf_prog_count(fd.as_fd(), 6).is_err());
    }
}
