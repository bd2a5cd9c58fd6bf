//! Sets `cfg(xdocker_not_root)` when the build does not run as root (and
//! not under `CI=true`, where nothing may be skipped), so that the root-only
//! integration tests are reported as ignored, not as passed
//! (`#[cfg_attr(xdocker_not_root, ignore = "needs root")]`).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(xdocker_not_root)");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CI");
    if !running_as_root() && std::env::var("CI").as_deref() != Ok("true") {
        println!("cargo:rustc-cfg=xdocker_not_root");
    }
}

/// The effective uid of the build, from /proc/self/status.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}
