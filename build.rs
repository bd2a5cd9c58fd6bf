//! Compiles the default seccomp filter of containers once, at build time
//! (libseccomp, for the target's native and compat ABIs), into
//! `OUT_DIR/seccomp_default.bpf`; `runtime/seccomp.rs` includes the bytes,
//! so boot only hands them to the kernel.

use std::env;
use std::fs::File;
use std::path::PathBuf;

use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext, ScmpSyscall};

const DENIED: &[(&str, &str)] = include!("src/runtime/seccomp_denied.in");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/runtime/seccomp_denied.in");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("CARGO_CFG_TARGET_ARCH");
    // The target's ABIs: a 64-bit container may run 32-bit programs too.
    let arches: &[ScmpArch] = match arch.as_str() {
        "x86_64" => &[ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32],
        "aarch64" => &[ScmpArch::Aarch64, ScmpArch::Arm],
        "riscv64" => &[ScmpArch::Riscv64],
        "powerpc64" => &[ScmpArch::Ppc64Le],
        "s390x" => &[ScmpArch::S390X, ScmpArch::S390],
        other => panic!("no seccomp ABI list for target arch {other}"),
    };
    let mut filter = ScmpFilterContext::new(ScmpAction::Allow).expect("seccomp_init");
    let native = ScmpArch::native();
    for a in arches {
        if *a != native {
            filter.add_arch(*a).expect("seccomp_arch_add");
        }
    }
    if !arches.contains(&native) {
        filter.remove_arch(native).expect("seccomp_arch_remove");
    }
    for (name, _why) in DENIED {
        let call = ScmpSyscall::from_name(name)
            .unwrap_or_else(|e| panic!("seccomp: unknown system call {name}: {e}"));
        filter
            .add_rule(ScmpAction::Errno(libc::EPERM), call)
            .unwrap_or_else(|e| panic!("seccomp: rule for {name}: {e}"));
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("seccomp_default.bpf");
    let mut file = File::create(&out).expect("create seccomp_default.bpf");
    filter.export_bpf(&mut file).expect("seccomp_export_bpf");
}
