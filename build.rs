//! Compiles the seccomp filters of containers once, at build time
//! (libseccomp, for the target's native and compat ABIs), into
//! `OUT_DIR/seccomp_default.bpf` (every container) and
//! `OUT_DIR/seccomp_privileged.bpf` (the default plus the mount guard of
//! privileged containers); `runtime/seccomp.rs` includes the bytes, so
//! boot only hands them to the kernel. It also sets `cfg(xdocker_not_root)`
//! when the build is not root's and not CI's, so that a user's `cargo test`
//! reports the root-only tests "ignored" (under `CI=true` none is ignored:
//! they run, and fail without root).

use std::env;
use std::fs::File;
use std::path::PathBuf;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

const DENIED: &[(&str, &str)] = include!("src/runtime/seccomp_denied.in");
const MOUNT_GUARD: &[(&str, u64, u64, &str)] = include!("src/runtime/seccomp_mount_guard.in");

/// The index of mount(2)'s flags among its arguments.
const MOUNT_FLAGS_ARG: u32 = 3;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/runtime/seccomp_denied.in");
    println!("cargo:rerun-if-changed=src/runtime/seccomp_mount_guard.in");
    // Root-only tests are reported as ignored when the build is not root's,
    // except under CI, where nothing may be skipped.
    println!("cargo::rustc-check-cfg=cfg(xdocker_not_root)");
    println!("cargo:rerun-if-env-changed=CI");
    // SAFETY: geteuid has no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root && env::var("CI").as_deref() != Ok("true") {
        println!("cargo:rustc-cfg=xdocker_not_root");
    }
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
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    export(&default_filter(arches), &out.join("seccomp_default.bpf"));
    let mut privileged = default_filter(arches);
    for (name, mask, value, _why) in MOUNT_GUARD {
        let call = syscall(name);
        let refuse = ScmpAction::Errno(libc::EPERM);
        let rule = if *mask == 0 {
            privileged.add_rule(refuse, call)
        } else {
            let cmp =
                ScmpArgCompare::new(MOUNT_FLAGS_ARG, ScmpCompareOp::MaskedEqual(*mask), *value);
            privileged.add_rule_conditional(refuse, call, &[cmp])
        };
        rule.unwrap_or_else(|e| panic!("seccomp: mount guard rule for {name}: {e}"));
    }
    export(&privileged, &out.join("seccomp_privileged.bpf"));
}

fn syscall(name: &str) -> ScmpSyscall {
    ScmpSyscall::from_name(name)
        .unwrap_or_else(|e| panic!("seccomp: unknown system call {name}: {e}"))
}

/// The deny list of every container, for `arches`.
fn default_filter(arches: &[ScmpArch]) -> ScmpFilterContext {
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
        filter
            .add_rule(ScmpAction::Errno(libc::EPERM), syscall(name))
            .unwrap_or_else(|e| panic!("seccomp: rule for {name}: {e}"));
    }
    filter
}

fn export(filter: &ScmpFilterContext, path: &std::path::Path) {
    let mut file = File::create(path).expect("create seccomp filter file");
    filter.export_bpf(&mut file).expect("seccomp_export_bpf");
}
