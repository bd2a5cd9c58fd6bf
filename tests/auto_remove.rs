//! `--rm` containers whose main process ended in the background are
//! removed by the next command, whichever command released them: a
//! command killed right after releasing one (as a listing that sees it
//! stop releases it) leaves the removal to the next (root).

mod common;

use std::time::{Duration, Instant};

use common::RuntimeHome;

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_released_rm_container_is_removed_by_the_next_command() {
    let h = RuntimeHome::with_test_image();
    let name = "gone";
    h.run_in(None, ["run", "-d", "--rm", "--name", name, "test", "true"])
        .ok();
    // Its main process ends; its init with it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while h
        .pid(name)
        .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
    {
        assert!(Instant::now() < deadline, "{name} still running");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A command that releases it and dies before removing it.
    let init = common::static_init();
    let r = h.home.run_with(
        None,
        ["ps", "-a", "-q"],
        &[
            ("XDOCKER_INIT", init.as_os_str()),
            ("XDOCKER_TEST_CRASH_AT", "release.done".as_ref()),
        ],
    );
    assert_ne!(r.code, 0, "the crash point was reached: {r:?}");
    assert!(
        !h.home
            .path()
            .join("containers")
            .join(name)
            .join("state.toml")
            .exists(),
        "released"
    );
    // The next command removes it.
    let left = h.run_in(None, ["ps", "-a", "-q"]).ok().to_string();
    assert!(!left.contains(name), "{left}");
    assert!(!h.home.path().join("containers").join(name).exists());
    assert!(!h.home.path().join("running").join(name).exists());
}
