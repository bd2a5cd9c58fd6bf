//! `-a build` from a recipe in Dockerfile syntax, on real containers: a
//! multi-stage build, every cache case, `--chown` by name, ADD of a
//! tar.gz, ENV/WORKDIR/USER seen by RUN and by a container made from the
//! image, the metadata through export and import, a failing or
//! interrupted build leaving nothing, and the cache's pruning.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{mounts_below, Run, RuntimeHome};

/// A build context in the test's home, with `files` (path, content).
fn context(h: &RuntimeHome, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = h.home.scratch(name);
    fs::create_dir_all(&dir).expect("context");
    for (path, text) in files {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }
    dir
}

fn build(h: &RuntimeHome, ctx: &Path, image: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "-a",
        "build",
        "--context",
        ctx.to_str().expect("utf-8"),
        "--to-image",
        image,
    ];
    args.extend_from_slice(extra);
    h.run_in(None, args)
}

/// How many RUN steps ran, and how many steps came from the cache.
fn counts(out: &str) -> (usize, usize) {
    (
        out.matches(" ---> Running in ").count(),
        out.matches(" ---> Using cache").count(),
    )
}

/// Runs `cmd` as the main process of a new container from `image`.
fn run_image(h: &RuntimeHome, image: &str, container: &str, cmd: &str) -> String {
    let out = h
        .run_in(
            None,
            [
                "-a", "create", "-m", image, "-c", container, "-b", "-e", cmd,
            ],
        )
        .ok()
        .to_string();
    h.run_in(None, ["-a", "destroy", "-c", container]).ok();
    out
}

fn nothing_left(h: &RuntimeHome) {
    let home = h.home.path();
    let containers: Vec<String> = fs::read_dir(home.join("containers"))
        .expect("containers")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(containers.is_empty(), "containers left: {containers:?}");
    assert!(
        h.home.staging_leftovers().is_empty(),
        "{:?}",
        h.home.staging_leftovers()
    );
    assert!(mounts_below(home).is_empty(), "{:?}", mounts_below(home));
}

fn cache_ids(h: &RuntimeHome) -> Vec<String> {
    let text = h.run("-s build_cache --json").ok().to_string();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).expect("json");
    rows.iter()
        .map(|r| r["layer_id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn multi_stage_metadata_env_workdir_user() {
    let h = RuntimeHome::with_test_image();
    let ctx = context(
        &h,
        "ms",
        &[(
            "Xdockerfile",
            "# a binary made in one stage, copied into a slim one\n\
             FROM test AS builder\n\
             WORKDIR /src\n\
             RUN printf '#!/bin/sh\\necho tool says $1\\n' > tool && chmod 755 tool \\\n\
             \x20   && echo made-by-builder > /src/junk\n\
             \n\
             FROM test\n\
             COPY --from=builder /src/tool /usr/local/bin/tool\n\
             RUN echo 'app:x:1000:1001::/home/app:/bin/sh' >> /etc/passwd \\\n\
             \x20 && echo 'staff:x:1001:' >> /etc/group && mkdir -p /home/app && chown app:staff /home/app\n\
             # Docker substitutes from the variables before the line: x\n\
             ENV GREETING=hello TARGET=${GREETING:-x}-world\n\
             WORKDIR /home/app\n\
             USER app\n\
             RUN tool built > out.txt && id -u >> out.txt && pwd >> out.txt && echo $GREETING $TARGET >> out.txt\n\
             EXPOSE 8080 53/udp\n\
             LABEL org.example.role=web \"quoted key\"=\"a b\"\n\
             STOPSIGNAL SIGQUIT\n\
             ENTRYPOINT [\"tool\"]\n\
             CMD [\"default\"]\n",
        )],
    );
    let out = build(&h, &ctx, "slim", &["--version", "1.0"])
        .ok()
        .to_string();
    assert!(out.contains("Step 1/15 : FROM test AS builder"), "{out}");
    assert!(out.contains("Step 11/15 : EXPOSE 8080 53/udp"), "{out}");
    assert_eq!(counts(&out).0, 3, "{out}");
    // RUN saw the tool, the user, the working directory and the variables.
    let seen = run_image(&h, "slim:1.0", "c1", "cat /home/app/out.txt");
    assert_eq!(seen, "tool says built\n1000\n/home/app\nhello x-world\n");
    // A container made from the image gets its env, workdir and user.
    let defaults = run_image(
        &h,
        "slim:1.0",
        "c2",
        "pwd; id -u; echo $GREETING; ls /src 2>&1 || true",
    );
    assert!(
        defaults.starts_with("/home/app\n1000\nhello\n"),
        "{defaults}"
    );
    // Nothing of the builder stage but the tool.
    assert!(defaults.contains("No such file"), "{defaults}");
    let manifest =
        fs::read_to_string(h.home.path().join("images/slim/1.0/image.toml")).expect("manifest");
    let meta: toml::Value = toml::from_str(&manifest).expect("toml");
    let c = &meta["config"];
    assert_eq!(c["workdir"].as_str(), Some("/home/app"));
    assert_eq!(c["user"].as_str(), Some("app"));
    assert_eq!(c["entrypoint"].as_array().map(Vec::len), Some(1));
    assert_eq!(c["cmd"][0].as_str(), Some("default"));
    assert_eq!(c["exposed_ports"][0].as_str(), Some("53/udp"));
    assert_eq!(c["exposed_ports"][1].as_str(), Some("8080/tcp"));
    assert_eq!(c["labels"]["quoted key"].as_str(), Some("a b"));
    assert_eq!(c["stop_signal"].as_str(), Some("SIGQUIT"));
    // The step layers are the image's base layers, in the cache.
    let bases = meta["base_layers"].as_array().expect("bases");
    assert_eq!(bases[0].as_str(), Some("test:_"));
    assert!(bases[1..]
        .iter()
        .all(|b| b.as_str().is_some_and(|b| b.starts_with("=build:"))));
    // Export and import carry the metadata.
    let file = h.home.scratch("export").join("slim.xdockerimage");
    h.run_in(
        None,
        [
            "-a",
            "export",
            "-m",
            "slim:1.0",
            "--image-file",
            file.to_str().expect("utf-8"),
        ],
    )
    .ok();
    h.run_in(None, ["-a", "del_image", "-m", "slim:1.0"]).ok();
    h.run_in(
        None,
        [
            "-a",
            "import",
            "--image-file",
            file.to_str().expect("utf-8"),
        ],
    )
    .ok();
    let back =
        fs::read_to_string(h.home.path().join("images/slim/1.0/image.toml")).expect("manifest");
    let back: toml::Value = toml::from_str(&back).expect("toml");
    assert_eq!(back["config"], meta["config"]);
    // --squash: one layer, no base layers, the same files.
    build(&h, &ctx, "flat", &["--squash"]).ok();
    let flat: toml::Value = toml::from_str(
        &fs::read_to_string(h.home.path().join("images/flat/_/image.toml")).expect("manifest"),
    )
    .expect("toml");
    assert!(flat
        .get("base_layers")
        .and_then(|b| b.as_array())
        .is_none_or(Vec::is_empty));
    assert_eq!(
        run_image(&h, "flat", "c3", "cat /home/app/out.txt; tool x"),
        "tool says built\n1000\n/home/app\nhello x-world\ntool says x\n"
    );
    // --target builds the first stage only.
    let out = build(&h, &ctx, "builder", &["--target", "builder"])
        .ok()
        .to_string();
    assert!(out.contains("Step 3/3"), "{out}");
    assert_eq!(
        run_image(&h, "builder", "c4", "cat /src/junk"),
        "made-by-builder\n"
    );
    nothing_left(&h);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn every_cache_case() {
    let h = RuntimeHome::with_test_image();
    let ctx = context(
        &h,
        "cache",
        &[
            (
                "Dockerfile",
                "FROM test\n\
                 COPY app/ /app/\n\
                 RUN cat /app/a.txt > /copy\n\
                 ARG V=1\n\
                 RUN echo v=$V > /v\n\
                 RUN ls /app > /listing\n",
            ),
            ("app/a.txt", "one\n"),
            ("app/notes.log", "left out\n"),
            (".dockerignore", "# logs stay out\n**/*.log\n"),
        ],
    );
    let first = build(&h, &ctx, "c:1", &[]).ok().to_string();
    assert_eq!(counts(&first), (3, 0), "{first}");
    // Unchanged: no step runs.
    let same = build(&h, &ctx, "c:2", &[]).ok().to_string();
    assert_eq!(counts(&same), (0, 4), "{same}");
    // Only the time of a source changes: nothing runs.
    let past = nix::sys::time::TimeSpec::new(1_000_000, 0);
    nix::sys::stat::utimensat(
        None,
        &ctx.join("app/a.txt"),
        &past,
        &past,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .expect("utimensat");
    let touched = build(&h, &ctx, "c:3", &[]).ok().to_string();
    assert_eq!(counts(&touched), (0, 4), "{touched}");
    // An ignored file changes: nothing runs, and it is not in the image.
    fs::write(ctx.join("app/notes.log"), "changed\n").expect("write");
    fs::write(ctx.join("app/more.log"), "new\n").expect("write");
    let ignored = build(&h, &ctx, "c:4", &[]).ok().to_string();
    assert_eq!(counts(&ignored), (0, 4), "{ignored}");
    assert_eq!(run_image(&h, "c:4", "l", "cat /listing"), "a.txt\n");
    // A build arg changes: from its first use on.
    let arg = build(&h, &ctx, "c:5", &["--build-arg", "V=2"])
        .ok()
        .to_string();
    assert_eq!(counts(&arg), (2, 2), "{arg}");
    assert!(
        arg.contains("Step 5/6 : RUN echo v=$V > /v\n ---> Running in"),
        "{arg}"
    );
    assert_eq!(run_image(&h, "c:5", "v", "cat /v"), "v=2\n");
    // The COPY's content changes: from that step on, every later step runs.
    fs::write(ctx.join("app/a.txt"), "two\n").expect("write");
    let changed = build(&h, &ctx, "c:6", &[]).ok().to_string();
    assert_eq!(counts(&changed), (3, 0), "{changed}");
    assert!(
        changed.contains("Step 2/6 : COPY app/ /app/\n ---> "),
        "{changed}"
    );
    assert!(
        !changed.contains("Step 2/6 : COPY app/ /app/\n ---> Using cache"),
        "{changed}"
    );
    assert_eq!(run_image(&h, "c:6", "x", "cat /copy /v"), "two\nv=1\n");
    // --no-cache runs everything.
    let fresh = build(&h, &ctx, "c:7", &["--no-cache"]).ok().to_string();
    assert_eq!(counts(&fresh), (3, 0), "{fresh}");
    // An existing image is not replaced without -f.
    build(&h, &ctx, "c:7", &[]).fails(1, "image c:7 already exists");
    nothing_left(&h);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn chown_by_name_and_add_of_a_tar_gz() {
    let h = RuntimeHome::with_test_image();
    let ctx = context(
        &h,
        "files",
        &[
            (
                "Dockerfile",
                "FROM test\n\
                 RUN echo 'web:x:1200:1300::/srv:/bin/sh' >> /etc/passwd && echo 'www:x:1300:' >> /etc/group\n\
                 COPY --chown=web f.txt /srv/data/\n\
                 COPY --chown=web:www --chmod=640 f.txt /srv/other.txt\n\
                 ADD pkg.tar.gz /opt/\n\
                 ADD plain.txt /opt/plain.txt\n\
                 ADD pkg.tar.xz pkg.tar.bz2 /xz-and-bz2/\n",
            ),
            ("f.txt", "file\n"),
            ("plain.txt", "not an archive\n"),
            ("pkg/hello", "from the tarball\n"),
            ("pkg/bin/run", "#!/bin/sh\n"),
        ],
    );
    let status = Command::new("tar")
        .args(["czf", "pkg.tar.gz", "--owner=7", "--group=8", "pkg"])
        .current_dir(&ctx)
        .status()
        .expect("tar");
    assert!(status.success());
    for (flag, file) in [("cJf", "pkg.tar.xz"), ("cjf", "pkg.tar.bz2")] {
        let status = Command::new("tar")
            .args([flag, file, "--transform", &format!("s,^pkg,{file},"), "pkg"])
            .current_dir(&ctx)
            .status()
            .expect("tar");
        assert!(status.success());
    }
    fs::remove_dir_all(ctx.join("pkg")).expect("rm");
    build(&h, &ctx, "files", &[]).ok();
    let out = run_image(
        &h,
        "files",
        "f",
        "ls -ln /srv/data/f.txt; ls -ln /srv/other.txt; ls -ln /opt/pkg/hello; cat /opt/pkg/hello /opt/plain.txt",
    );
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(&lines[0][..4], ["-rw-r--r--", "1", "1200", "1300"], "{out}");
    assert_eq!(&lines[1][..4], ["-rw-r-----", "1", "1200", "1300"], "{out}");
    // The archive's own owners are kept.
    assert_eq!(&lines[2][..4], ["-rw-r--r--", "1", "7", "8"], "{out}");
    assert!(out.ends_with("from the tarball\nnot an archive\n"), "{out}");
    assert_eq!(
        run_image(
            &h,
            "files",
            "g",
            "cat /xz-and-bz2/pkg.tar.xz/hello /xz-and-bz2/pkg.tar.bz2/hello"
        ),
        "from the tarball\nfrom the tarball\n"
    );
    // An unknown user is refused with the step and line.
    fs::write(
        ctx.join("Dockerfile"),
        "FROM test\nCOPY --chown=nobody2 f.txt /x\n",
    )
    .expect("write");
    build(&h, &ctx, "bad", &[]).fails(
        1,
        "step 2/2 (line 2) COPY: /etc/passwd of the image: no user nobody2",
    );
    nothing_left(&h);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_failing_or_interrupted_build_leaves_nothing() {
    let h = RuntimeHome::with_test_image();
    let ctx = context(
        &h,
        "fail",
        &[
            (
                "Dockerfile",
                "FROM test\nRUN echo fine > /f\nRUN echo about to fail; exit 3\n",
            ),
            ("Slow", "FROM test\nRUN echo started; sleep 30\n"),
            ("Bad", "FROM test\nRUN true\nFROB x\n"),
        ],
    );
    let run = build(&h, &ctx, "bad", &[]);
    run.fails(1, "step 3/3 (line 3) RUN: the command exited with code 3");
    assert!(run.stdout.contains("about to fail"), "{run:?}");
    assert!(!h.home.path().join("images/bad").exists());
    nothing_left(&h);
    let layers = cache_ids(&h);
    assert_eq!(layers.len(), 1, "the step that worked stays cached");
    // A malformed recipe is refused before anything runs.
    let run = build(
        &h,
        &ctx,
        "bad",
        &["--file", ctx.join("Bad").to_str().expect("utf-8")],
    );
    run.fails(1, "line 3: unknown instruction 'FROB'");
    assert!(!run.stdout.contains("Step"), "{run:?}");
    // Ctrl-C: SIGINT to the build's process group.
    for signal in ["INT", "KILL"] {
        let child = Command::new(common::bin())
            .args([
                "-a",
                "build",
                "--context",
                ctx.to_str().expect("utf-8"),
                "--file",
            ])
            .arg(ctx.join("Slow"))
            .args(["--to-image", "slow"])
            .env("XDOCKER_HOME", h.home.path())
            .env("XDOCKER_INIT", common::static_init())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawn");
        // Until the step's container runs.
        let started = std::time::Instant::now();
        while !fs::read_dir(h.home.path().join("containers"))
            .expect("ls")
            .flatten()
            .any(|e| e.path().join("state.toml").exists())
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no build container"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        let pgid = nix::unistd::Pid::from_raw(-(child.id() as i32));
        let sig = match signal {
            "INT" => nix::sys::signal::Signal::SIGINT,
            _ => nix::sys::signal::Signal::SIGKILL,
        };
        nix::sys::signal::kill(pgid, sig).expect("kill");
        let out = child.wait_with_output().expect("wait");
        assert!(!out.status.success());
        if signal == "INT" {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("interrupted by SIGINT"), "{err}");
        } else {
            // The next command removes what the kill left.
            h.run("-s containers").ok();
        }
        nothing_left(&h);
        assert_eq!(cache_ids(&h), layers, "{signal}: no new cache entry");
        assert!(!h.home.path().join("images/slow").exists());
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn pruning_never_takes_an_image_layer() {
    let h = RuntimeHome::with_test_image();
    let ctx = context(
        &h,
        "prune",
        &[(
            "Dockerfile",
            "FROM test AS one\nRUN echo a > /a\nFROM test\nRUN echo b > /b\n",
        )],
    );
    build(&h, &ctx, "kept", &[]).ok();
    let layers = cache_ids(&h);
    assert_eq!(layers.len(), 2);
    // Freshly used: a plain prune keeps both.
    h.run("-a prune_build_cache").ok();
    assert_eq!(cache_ids(&h).len(), 2);
    let used = h.run("-s build_cache --json").ok().to_string();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&used).expect("json");
    let used_id = rows
        .iter()
        .find(|r| !r["used_by"].as_array().expect("users").is_empty())
        .expect("a used layer")["layer_id"]
        .as_str()
        .expect("id")
        .to_string();
    // --all takes the stage layer no image uses, never the image's.
    h.run("-a prune_build_cache --all").ok();
    assert_eq!(cache_ids(&h), vec![used_id.clone()]);
    h.run_in(
        None,
        ["-a", "del_image", "-m", &format!("=build:{used_id}")],
    )
    .fails(1, "is a layer of the build cache");
    assert_eq!(run_image(&h, "kept", "k", "cat /b"), "b\n");
    h.run("-a del_image -m kept").ok();
    h.run("-a prune_build_cache --all").ok();
    assert!(cache_ids(&h).is_empty());
    let size: u64 = fs::read_dir(h.home.path().join("build_cache"))
        .map(|d| {
            d.flatten()
                .map(|e| e.metadata().map(|m| m.size()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(size, 0);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn args_before_from_are_scoped_as_docker_scopes_them() {
    let h = RuntimeHome::with_test_image();
    let ctx = context(
        &h,
        "args",
        &[(
            "Dockerfile",
            "ARG BASE=nothing-here\nARG TAG=x\nFROM $BASE\n\
             RUN echo \"tag=[$TAG]\" > /seen\n\
             ARG TAG\nRUN echo \"tag=[$TAG]\" >> /seen\n\
             SHELL [\"/bin/sh\", \"-c\"]\nRUN [\"sh\", \"-c\", \"echo exec-form >> /seen\"]\n",
        )],
    );
    build(&h, &ctx, "a", &[]).fails(1, "step 1/6 (line 3) FROM: image nothing-here not found");
    build(
        &h,
        &ctx,
        "a",
        &["--build-arg", "BASE=test", "--build-arg", "TAG=given"],
    )
    .ok();
    // TAG is not in scope in the stage until declared there again.
    assert_eq!(
        run_image(&h, "a", "a", "cat /seen"),
        "tag=[]\ntag=[given]\nexec-form\n"
    );
    nothing_left(&h);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn metadata_through_the_ssh_repository() {
    let h = RuntimeHome::with_test_image();
    let sshd = common::sshd::Sshd::start();
    let ctx = context(
        &h,
        "repo",
        &[(
            "Dockerfile",
            "FROM test\nENV MODE=prod\nWORKDIR /srv\nRUN echo data > file\n\
             EXPOSE 80\nCMD [\"cat\", \"file\"]\n",
        )],
    );
    // Squashed: one self-contained layer to ship.
    build(&h, &ctx, "shipped:2", &["--squash"]).ok();
    let manifest = |h: &RuntimeHome| -> toml::Value {
        toml::from_str(
            &fs::read_to_string(h.home.path().join("images/shipped/2/image.toml")).expect("read"),
        )
        .expect("toml")
    };
    let before = manifest(&h);
    let srepo = format!("root@127.0.0.1:{}{}", sshd.port, sshd.repo().display());
    let ssh_dir = sshd.ssh_dir();
    let xd = |args: &[&str]| {
        h.home.run_with(
            None,
            args,
            &[
                ("XDOCKER_SSH_DIR", ssh_dir.as_os_str()),
                ("SSH_AUTH_SOCK", std::ffi::OsStr::new("")),
            ],
        )
    };
    xd(&["-a", "spush", "-m", "shipped:2", "--srepo", &srepo]).ok();
    h.run("-a del_image -m shipped:2").ok();
    xd(&["-a", "spull", "-m", "shipped:2"]).ok();
    let after = manifest(&h);
    assert_eq!(after["config"], before["config"]);
    assert_eq!(after["config"]["env"][0].as_str(), Some("MODE=prod"));
    assert_eq!(
        run_image(&h, "shipped:2", "s", "pwd; echo $MODE; cat file"),
        "/srv\nprod\ndata\n"
    );
    nothing_left(&h);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_build_killed_at_any_step_leaves_nothing_after_the_next_command() {
    let h = RuntimeHome::with_test_image();
    let ctx = context(
        &h,
        "crash",
        &[(
            "Dockerfile",
            "FROM test\nCOPY Dockerfile /recipe\nRUN echo ran > /ran\n",
        )],
    );
    for point in [
        "build.created",
        "build.ran",
        "build.taken",
        "build.staged",
        "build.image",
    ] {
        let before = cache_ids(&h);
        let run = h.home.run_with(
            None,
            [
                "-a",
                "build",
                "--no-cache",
                "--context",
                ctx.to_str().expect("utf-8"),
                "--to-image",
                "crashed",
            ],
            &[
                ("XDOCKER_INIT", common::static_init().as_os_str()),
                ("XDOCKER_TEST_CRASH_AT", std::ffi::OsStr::new(point)),
            ],
        );
        assert_eq!(run.code, -1, "{point}: killed: {run:?}");
        // The next command repairs what the kill left.
        h.run("-s containers").ok();
        nothing_left(&h);
        assert!(!h.home.path().join("images/crashed").exists(), "{point}");
        // Complete layers only: every one listed is whole and readable.
        let after = cache_ids(&h);
        assert!(after.len() >= before.len(), "{point}");
        for id in &after {
            assert!(
                h.home
                    .path()
                    .join("build_cache")
                    .join(id)
                    .join("rlayer")
                    .is_dir(),
                "{point}: {id}"
            );
        }
    }
    // And a build after all that works.
    build(&h, &ctx, "crashed", &[]).ok();
    assert_eq!(run_image(&h, "crashed", "c", "cat /ran"), "ran\n");
}
