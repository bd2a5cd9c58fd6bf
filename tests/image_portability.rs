//! Images made from containers are portable: what xdocker writes into a
//! container at run time (/etc/hostname, /etc/hosts, /etc/resolv.conf,
//! volume mount points) stays out of the image (DESIGN.md 19).

mod common;

use common::RuntimeHome;

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn to_image_keeps_the_containers_run_time_files_out_of_the_image() {
    let h = RuntimeHome::with_test_image();
    let vol = h.home.scratch("vol");
    std::fs::create_dir_all(&vol).expect("volume source");
    h.run_in(
        None,
        [
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "c1",
            "--host",
            "oldhost",
            "--volume",
            &format!("{}:/srv/data/vol", vol.display()),
        ],
    )
    .ok();
    h.run("-a boot -c c1").ok();
    h.run_in(
        None,
        [
            "-a",
            "run",
            "-c",
            "c1",
            "--cmd",
            "echo kept > /root/marker; cat /etc/hosts",
        ],
    )
    .ok();
    h.run("-a shutdown -c c1").ok();
    h.run("-a to_image --from-container c1 --to-image portable")
        .ok();
    let layer = h.home.layer("portable", "_");
    assert!(
        layer.join("root/marker").is_file(),
        "the user's file is kept"
    );
    for gone in [
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
        "srv/data/vol",
        "srv/data",
    ] {
        assert!(
            std::fs::symlink_metadata(layer.join(gone)).is_err(),
            "{gone} went into the image"
        );
    }
    // A container made from it gets its own files, not the old host's.
    h.run("-a create -m portable -c c2 --host newhost").ok();
    h.run("-a boot -c c2").ok();
    let hosts = h
        .run_in(
            None,
            [
                "-a",
                "run",
                "-c",
                "c2",
                "--cmd",
                "cat /etc/hosts /etc/hostname",
            ],
        )
        .ok()
        .to_string();
    assert!(hosts.contains("newhost"), "{hosts}");
    assert!(!hosts.contains("oldhost"), "{hosts}");
    h.run("-a destroy -c c2 -h").ok();
}
