//! The Docker-style `build` and what `run` takes from a built image (root):
//! the image's CMD is the default main process, a command given replaces
//! the CMD, `--entrypoint` replaces the ENTRYPOINT and drops the CMD, ENV
//! and WORKDIR reach the main process; a tag built again is replaced, but
//! not while a container stacks on it; a commit keeps the configuration.

mod common;

use common::{Run, RuntimeHome};

fn x(h: &RuntimeHome, args: &[&str]) -> Run {
    h.run_in(None, args)
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn run_takes_its_main_process_from_a_built_image() {
    let h = RuntimeHome::with_test_image();
    let ctx = h.home.scratch("ctx");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM test\n\
         ENV GREETING=hi\n\
         WORKDIR /srv\n\
         ENTRYPOINT [\"/bin/sh\", \"-c\", \"echo $GREETING from $(pwd) $0; exit 7\"]\n\
         CMD [\"image-cmd\"]\n",
    )
    .expect("recipe");
    let ctx_arg = ctx.display().to_string();
    let out = x(&h, &["build", "-t", "tool:1", &ctx_arg]).ok().to_string();
    assert!(out.contains("Step 1/5 : FROM test"), "{out}");
    assert!(out.contains("image tool:1 built"), "{out}");

    // No command: ENTRYPOINT + CMD, with the image's ENV and WORKDIR.
    let r = x(&h, &["run", "--rm", "tool:1"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (7, "hi from /srv image-cmd\n"),
        "{r:?}"
    );
    // A command replaces the CMD, the ENTRYPOINT stays.
    let r = x(&h, &["run", "--rm", "tool:1", "given"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (7, "hi from /srv given\n"),
        "{r:?}"
    );
    // --entrypoint replaces the ENTRYPOINT and drops the image's CMD.
    let r = x(&h, &["run", "--rm", "--entrypoint", "pwd", "tool:1"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "/srv\n"), "{r:?}");
    assert!(
        x(&h, &["ps", "-a", "-q"]).ok().is_empty(),
        "--rm left nothing"
    );

    // Built again under the same tag: replaced, as docker build does.
    let out = x(&h, &["build", "-t", "tool:1", &ctx_arg]).ok().to_string();
    assert!(out.contains("Using cache"), "{out}");
    // Not while a container stacks on it: its files would change.
    x(&h, &["create", "--name", "keep", "tool:1"]).ok();
    x(&h, &["build", "--no-cache", "-t", "tool:1", &ctx_arg])
        .fails(125, "image tool:1 is used by container keep");
    // A commit of such a container keeps the image's configuration.
    x(&h, &["commit", "keep", "kept:1"]).ok();
    x(&h, &["rm", "keep"]).ok();
    let r = x(&h, &["run", "--rm", "kept:1"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (7, "hi from /srv image-cmd\n"),
        "{r:?}"
    );
    // An option of the other grammar is refused naming the verb.
    x(&h, &["build", "--to-image", "x", &ctx_arg]).fails(125, "build");
}
