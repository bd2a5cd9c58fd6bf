//! What a new user meets first (issue 18): the tutorial's commands as
//! written, data the user did not ask to lose, two homes on one host, and
//! the help, messages and files that make the tool discoverable.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{RuntimeHome, TestHome};

// ------------------------------------------------------ data not to lose

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn del_image_never_deletes_the_layer_of_a_running_container() {
    let Some(h) =
        RuntimeHome::with_test_image("del_image_never_deletes_the_layer_of_a_running_container")
    else {
        return;
    };
    h.run("-a create -m test -c runner").ok();
    h.run("-a create -m test -c idle").ok();
    h.run("-a boot -c runner").ok();
    // Neither without nor with -f: the running user is named.
    for line in ["-a del_image -m test", "-a del_image -m test -f"] {
        let r = h.run(line);
        let e = r.fails(1, "running container runner");
        assert!(!e.contains("idle"), "{e}");
    }
    assert!(h.home.layer("test", "_").join("bin").exists());
    h.run("-a run -c runner --cmd true").ok();
    // Once it stopped, -f overrides the check for stopped users only.
    h.run("-a shutdown -c runner").ok();
    h.run("-a del_image -m test")
        .fails(1, "used by container idle, runner (use -f");
    h.run("-a del_image -m test -f").ok();
    assert!(!h.home.layer("test", "_").exists());
}

/// The repository's file `rel`.
fn shipped(rel: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).expect(rel)
}

#[test]
fn help_man_page_and_readme_say_what_conversions_consume() {
    let help = TestHome::new().run("--help").ok().to_string();
    let man = shipped("man/xdocker.1");
    let readme = shipped("README.md");
    for (what, text) in [("--help", &help), ("man page", &man)] {
        assert!(
            text.contains("consumes C: its writable layer becomes the image")
                && text.contains("consumes the image: its layer becomes"),
            "{what}:\n{text}"
        );
    }
    assert!(
        readme.contains("`to_image` consumes the container, `to_container` consumes the image"),
        "README"
    );
}
