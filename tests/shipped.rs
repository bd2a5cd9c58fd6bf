//! What the project ships besides the CLI: a statically linked xdockerinit
//! and a manual page generated from the real argument definitions.

mod common;

use std::path::Path;
use std::process::Command;

use clap::CommandFactory;

#[test]
fn xdockerinit_is_static_and_runs_in_an_empty_root() {
    let init = common::static_init();
    let headers = Command::new("readelf")
        .arg("-lW")
        .arg(&init)
        .output()
        .expect("readelf");
    assert!(headers.status.success());
    let text = String::from_utf8_lossy(&headers.stdout);
    assert!(text.contains("LOAD"), "an ELF executable: {text}");
    assert!(!text.contains("INTERP"), "no dynamic loader needed: {text}");
    let out = Command::new(&init).arg("-v").output().expect("run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("xdockerinit v{}\n", env!("CARGO_PKG_VERSION"))
    );
    if !common::require_root("xdockerinit_is_static_and_runs_in_an_empty_root") {
        return;
    }
    // In a root holding nothing but the binary (no libc, no loader).
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&init, root.path().join("xdockerinit")).expect("copy");
    let out = Command::new("chroot")
        .arg(root.path())
        .arg("/xdockerinit")
        .arg("-v")
        .output()
        .expect("chroot");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("xdockerinit v{}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn man_page_is_generated_from_the_argument_definitions() {
    let cmd = xdocker::cli::Args::command();
    let mut rendered = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut rendered)
        .expect("render");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/xdocker.1");
    if std::env::var_os("XDOCKER_UPDATE_MAN").is_some() {
        std::fs::write(&path, &rendered).expect("write man page");
    }
    let shipped = std::fs::read(&path)
        .expect("man/xdocker.1 (regenerate: XDOCKER_UPDATE_MAN=1 cargo test --test shipped)");
    assert!(
        shipped == rendered,
        "man/xdocker.1 is out of date: run XDOCKER_UPDATE_MAN=1 cargo test --test shipped"
    );
}
