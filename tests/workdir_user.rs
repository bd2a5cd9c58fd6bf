//! `--workdir` and `--user` against real containers (root): the main
//! process and the sessions run as the user (resolved in the container's
//! own /etc/passwd and /etc/group), with its HOME, in the directory (made
//! when missing); `-s info` shows both; an unknown user ends the main
//! process with 126; bad values are refused before anything is made.

mod common;

use common::RuntimeHome;

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn the_main_process_and_sessions_run_as_the_user_in_the_workdir() {
    let h = RuntimeHome::with_test_image();
    // A name of the image's passwd: its uid, group and home.
    let r = h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "named",
            "--user",
            "nobody",
            "--workdir",
            "/srv/app",
            "-b",
            "-e",
            "id -u; id -g; id -G; pwd; echo \"home=$HOME\"; exit 4",
        ],
    );
    assert_eq!(r.code, 4, "{r:?}");
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        ["65534", "65534", "65534", "/srv/app", "home=/nonexistent"],
        "{r:?}"
    );
    let info = h.run("-s info -c named").ok().to_string();
    assert!(
        info.contains("workdir") && info.contains("/srv/app"),
        "{info}"
    );
    assert!(
        info.lines()
            .any(|l| l.starts_with("user") && l.contains("nobody")),
        "{info}"
    );
    let json = h.run("-s info -c named --json").ok().to_string();
    assert!(json.contains("\"workdir\": \"/srv/app\""), "{json}");
    assert!(json.contains("\"user\": \"nobody\""), "{json}");

    // Numbers need no passwd entry; a session runs as the container's
    // user in its directory; boot can change both (stored).
    h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "numbers",
            "--user",
            "1234:4321",
            "--workdir",
            "/data",
        ],
    )
    .ok();
    h.run("-a boot -c numbers").ok();
    let r = h.run_in(
        None,
        [
            "-a",
            "run",
            "-c",
            "numbers",
            "--cmd",
            "id -u; id -g; pwd; echo \"home=$HOME\"",
        ],
    );
    assert_eq!(
        r.ok().lines().collect::<Vec<_>>(),
        ["1234", "4321", "/data", "home=/"],
        "{r:?}"
    );
    h.run("-a shutdown -c numbers").ok();
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "numbers",
            "--user",
            "root",
            "--workdir",
            "/tmp",
            "-e",
            "id -u; pwd; echo \"home=$HOME\"",
        ],
    );
    assert_eq!(
        r.ok().lines().collect::<Vec<_>>(),
        ["0", "/tmp", "home=/root"],
        "{r:?}"
    );
    let info = h.run("-s info -c numbers --json").ok().to_string();
    assert!(info.contains("\"user\": \"root\""), "{info}");

    // A user the container does not have: the main process cannot run.
    let r = h.run_in(
        None,
        [
            "-a", "create", "-m", "test", "-c", "ghost", "--user", "ghost", "-b", "-e", "true",
        ],
    );
    assert_eq!(r.code, 126, "{r:?}");

    // Bad values: one line, nothing made.
    for (option, value, needle) in [
        ("--user", "a b", "is not NAME, UID, NAME:GROUP or UID:GID"),
        ("--user", "app:", "is not NAME, UID, NAME:GROUP or UID:GID"),
        ("--workdir", "data", "is not an absolute path"),
    ] {
        let r = h.run_in(
            None,
            ["-a", "create", "-m", "test", "-c", "bad", option, value],
        );
        r.fails(2, needle);
        assert!(!h.home.path().join("containers/bad").exists());
    }
    // Not an option of -a env.
    h.run("-a env -c named --user root").fails(2, "--user");
    for name in ["named", "numbers", "ghost"] {
        h.run_in(None, ["-a", "destroy", "-c", name, "-h"]).ok();
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn commit_and_to_image_record_the_workdir_and_user_for_the_next_container() {
    let h = RuntimeHome::with_test_image();
    let whoami = |c: &str, extra: &[&str]| {
        let args = [&["-a", "boot", "-c", c][..], extra, &["-e", "id -u; pwd"]].concat();
        let r = h.run_in(None, args);
        assert_eq!(r.code, 0, "{r:?}");
        r.stdout
    };
    h.run("-a create -m test -c made --user nobody --workdir /srv/app")
        .ok();
    // commit: a container of the new image runs as nobody in /srv/app
    // without saying so (as after docker commit).
    h.run("-a commit --from-container made --to-image snap")
        .ok();
    h.run("-a create -m snap -c second").ok();
    assert_eq!(whoami("second", &[]), "65534\n/srv/app\n");
    let info = h.run("-s info -c second --json").ok().to_string();
    assert!(info.contains("\"user\": \"nobody\""), "{info}");
    // to_image and back: the same; options given still win.
    h.run("-a to_image --from-container second --to-image moved")
        .ok();
    h.run("-a to_container --from-image moved --to-container third --workdir /tmp")
        .ok();
    assert_eq!(whoami("third", &[]), "65534\n/tmp\n");
    h.run("-a create -m snap -c fourth --user 0").ok();
    assert_eq!(whoami("fourth", &[]), "0\n/srv/app\n");
}
