//! The command line through the real binary: help, version, grammar errors,
//! not-yet-implemented verbs, the home directory, the log and the config.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Run, TestHome};

/// Runs the binary with `env` set and `remove` unset; `cwd` as working dir.
fn run_env(cwd: &Path, env: &[(&str, &Path)], remove: &[&str], args: &[&str]) -> Run {
    let mut cmd = Command::new(common::bin());
    cmd.args(args).current_dir(cwd).stdin(Stdio::null());
    for key in remove {
        cmd.env_remove(key);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.output().expect("run xdocker");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn no_arguments_and_help_print_usage() {
    let home = TestHome::new();
    for args in [&[][..], &["--help"][..]] {
        let r = home.run_in(None, args);
        let out = r.ok();
        assert!(out.contains("-s SHOW"), "{args:?}: {out}");
        assert!(out.contains("-a ACTION"), "{args:?}: {out}");
        assert_eq!(r.stderr, "", "{args:?}");
    }
}

#[test]
fn dash_v_prints_the_version() {
    let home = TestHome::new();
    let r = home.run("-v");
    assert_eq!(r.ok(), format!("xdocker v{}\n", env!("CARGO_PKG_VERSION")));
    assert_eq!(r.stderr, "");
}

#[test]
fn options_may_come_in_any_order() {
    let home = TestHome::new();
    let a = home.run("-m test -a del_image");
    let b = home.run("-a del_image -m test");
    assert_eq!(
        a.fails(1, "image test not found"),
        b.fails(1, "image test not found")
    );
}

#[test]
fn missing_required_options_are_named() {
    let home = TestHome::new();
    for (line, needle) in [
        ("-a create", "-a create needs -m/--image"),
        ("-a run -c x", "-a run needs --cmd"),
        ("-a import", "-a import needs --image-file"),
        (
            "-a copy_image --from-image a",
            "-a copy_image needs --to-image",
        ),
        (
            "-s container_root",
            "-s container_root needs -c/--container",
        ),
    ] {
        home.run(line).fails(2, needle);
    }
}

#[test]
fn options_that_do_not_apply_are_refused() {
    let home = TestHome::new();
    home.run("-s images --vip 1.2.3.4")
        .fails(2, "--vip does not apply to -s images");
    home.run("-a boot -c web -h")
        .fails(2, "-h/--shutdown does not apply to -a boot");
}

#[test]
fn bad_values_get_one_line_and_exit_2() {
    let home = TestHome::new();
    let long = "n".repeat(65);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["-a", "vip", "-c", "a", "--vip", "300.1.1.1"],
            "'300.1.1.1'",
        ),
        (
            vec!["-a", "port_mapping", "-c", "a", "--port-mapping", "80"],
            "'80' is not HOST_PORT:CONTAINER_PORT",
        ),
        (
            vec!["-a", "port_mapping", "-c", "a", "--port-mapping", "0:80"],
            "'0' is not a port",
        ),
        (
            vec![
                "-a",
                "port_mapping",
                "-c",
                "a",
                "--port-mapping",
                "80:80/sctp",
            ],
            "protocol 'sctp' is not tcp or udp",
        ),
        (
            vec!["-a", "install_test", "--version", "../x"],
            "version '../x' contains '/'",
        ),
        (
            vec!["-a", "install_test", "--version", "a/b"],
            "version 'a/b' contains '/'",
        ),
        (
            vec!["-a", "boot", "-c", "../x"],
            "container name '../x' contains '/'",
        ),
        (vec!["-a", "boot", "-c=-x"], "must not start with '-'"),
        (
            vec!["-a", "boot", "--container=-x"],
            "must not start with '-'",
        ),
        (vec!["-a", "boot", "-c", &long], "longer than 64 characters"),
        (
            vec!["-a", "boot", "-c", "."],
            "container name '.' is not allowed",
        ),
        (
            vec!["-a", "boot", "-c", ".."],
            "container name '..' is not allowed",
        ),
        (
            vec!["-a", "frobnicate"],
            "invalid value 'frobnicate' for '--action <ACTION>'",
        ),
        (
            vec!["-s", "images", "--bogus"],
            "unexpected argument '--bogus' found",
        ),
        (
            vec!["-s", "images", "-a", "del_image", "-m", "x"],
            "give either -s SHOW or -a ACTION, not both",
        ),
    ];
    for (args, needle) in cases {
        let r = home.run_in(None, &args);
        assert_eq!(r.stdout, "", "{args:?}");
        r.fails(2, needle);
    }
}

#[test]
fn dash_h_means_shutdown_for_destroy() {
    let home = TestHome::new();
    // Accepted by the grammar (not help, not a usage error): the action
    // runs and finds no such container.
    let r = home.run("-a destroy -c web -h");
    r.fails(1, "container web not found");
    assert!(!r.stdout.contains("Usage"), "not help: {r:?}");
    home.run("-a destroy -c web -h -f").ok();
}

#[test]
fn container_verbs_name_a_missing_container() {
    let home = TestHome::new();
    for line in [
        "-a boot -c web",
        "-a attach -c web",
        "-a run -c web --cmd true",
        "-a shutdown -c web",
        "-a kill -c web",
        "-a destroy -c web",
        "-a vip -c web --vip 10.0.0.2",
        "-a rplfile -c web --template-file /t.tpl --mapping-file /m",
        "-a putfile -c web --src-file /a --dst-file /b",
        "-a getfile -c web --src-file /a --dst-file /b",
        "-s container_root -c web",
    ] {
        let r = home.run(line);
        r.fails(1, "container web not found");
        assert_eq!(r.stdout, "", "{line}");
    }
}

#[test]
fn xdocker_home_gets_the_layout() {
    let home = TestHome::new();
    home.run("-s images").ok();
    for dir in ["images", "containers"] {
        assert!(home.path().join(dir).is_dir(), "{dir}");
    }
    assert!(home.path().join("xdocker.log").is_file());
}

#[test]
fn seed_spelling_xdocker_home_is_used() {
    let home = TestHome::new();
    let cwd = home.scratch("cwd");
    let r = run_env(
        &cwd,
        &[("xdocker_HOME", home.path())],
        &["XDOCKER_HOME"],
        &["-s", "images"],
    );
    assert!(r.ok().starts_with("image_id"), "{r:?}");
    assert!(home.path().join("images").is_dir());
    assert!(home.path().join("xdocker.log").is_file());
}

#[test]
fn relative_xdocker_home_is_refused() {
    let home = TestHome::new();
    let cwd = home.scratch("cwd");
    let r = run_env(
        &cwd,
        &[("XDOCKER_HOME", Path::new("rel/home"))],
        &["xdocker_HOME"],
        &["-s", "images"],
    );
    r.fails(1, "home rel/home must be an absolute path");
    assert!(!cwd.join("rel").exists(), "nothing created");
}

/// Checks one log line: `TIMESTAMP [PID] LEVEL TEXT`; returns (level, text).
fn parse_log_line(line: &str) -> (String, String) {
    let mut parts = line.splitn(4, ' ');
    let ts = parts.next().expect("timestamp");
    chrono::DateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.3f%:z")
        .unwrap_or_else(|e| panic!("timestamp {ts:?} in {line:?}: {e}"));
    // Exactly milliseconds: 2024-01-02T03:04:05.678+01:00
    assert_eq!(ts.len(), 29, "{line}");
    let pid = parts.next().expect("pid");
    let digits = pid
        .strip_prefix('[')
        .and_then(|p| p.strip_suffix(']'))
        .expect("[pid]");
    assert!(digits.parse::<u32>().is_ok(), "{line}");
    let level = parts.next().expect("level").to_string();
    (level, parts.next().unwrap_or("").to_string())
}

#[test]
fn log_gets_a_timestamped_line_per_command_and_errors() {
    let home = TestHome::new();
    home.run("-s images").ok();
    home.run("-a del_image -m nope")
        .fails(1, "image nope not found");
    let log = std::fs::read_to_string(home.path().join("xdocker.log")).expect("log");
    let lines: Vec<(String, String)> = log.lines().map(parse_log_line).collect();
    let has = |level: &str, text: &str| lines.iter().any(|(l, t)| l == level && t == text);
    assert!(has("INFO", "command: xdocker -s images"), "{log}");
    assert!(
        has("INFO", "command: xdocker -a del_image -m nope"),
        "{log}"
    );
    assert!(has("ERROR", "image nope not found"), "{log}");
}

#[test]
fn debug_echoes_log_lines_on_stderr() {
    let home = TestHome::new();
    let r = home.run("-d -s images");
    r.ok();
    assert!(
        r.stderr.contains(" INFO command: xdocker -d -s images\n"),
        "{r:?}"
    );
    let quiet = home.run("-s images");
    quiet.ok();
    assert_eq!(quiet.stderr, "", "no echo without -d");
}

#[test]
fn broken_config_fails_every_command_with_one_line() {
    let home = TestHome::new();
    let config = home.path().join("xdocker.toml");
    std::fs::write(&config, "[network]\nbrigde = \"br0\"\n").expect("write config");
    for line in [
        "-s images",
        "-a del_image -m x",
        "-a copy_image --from-image a --to-image b",
    ] {
        let r = home.run(line);
        r.fails(
            1,
            &format!(
                "config {}: line 2: unknown field `brigde`",
                config.display()
            ),
        );
    }
}

#[test]
fn ssh_repository_commands_are_handed_to_xdocker_srepo() {
    let home = TestHome::new();
    let dir = home.path().join("helper");
    std::fs::create_dir_all(&dir).expect("mkdir");
    // A stand-in that shows what it was given.
    let fake = dir.join("fake-srepo");
    std::fs::write(&fake, "#!/bin/sh\necho \"srepo got: $0 $*\"\nexit 7\n").expect("write");
    let mut perm = std::fs::metadata(&fake).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&fake, perm).expect("chmod");
    let env = [
        ("XDOCKER_HOME", home.path()),
        ("XDOCKER_SREPO", fake.as_path()),
    ];
    let r = run_env(
        home.path(),
        &env,
        &[],
        &["-a", "spush", "-m", "base:1", "--srepo", "u@h"],
    );
    assert_eq!(r.code, 7, "{r:?}");
    assert!(
        r.stdout.ends_with("-a spush -m base:1 --srepo u@h\n"),
        "{r:?}"
    );
    // Other verbs stay in xdocker; a bad command line never reaches it.
    assert_eq!(run_env(home.path(), &env, &[], &["-s", "images"]).code, 0);
    assert_eq!(run_env(home.path(), &env, &[], &["-a", "spush"]).code, 2);

    // Without the companion: one line naming where it was looked for.
    let missing = dir.join("missing");
    let r = run_env(
        home.path(),
        &[("XDOCKER_HOME", home.path()), ("XDOCKER_SREPO", &missing)],
        &[],
        &["-s", "ssearch", "--srepo", "u@h"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "xdocker: error: xdocker-srepo not found (looked in {}); set XDOCKER_SREPO to its path\n",
            missing.display()
        )
    );

    // xdocker itself links neither libssh2 nor OpenSSL (their relocations
    // cost every command start-up); xdocker-srepo does.
    let linked = |bin: &Path, prefix: &str| {
        let out = Command::new("nm").arg(bin).output().expect("nm (binutils)");
        String::from_utf8_lossy(&out.stdout).lines().any(|l| {
            l.split_whitespace()
                .last()
                .is_some_and(|s| s.starts_with(prefix))
        })
    };
    let xdocker = common::bin();
    let srepo = xdocker.with_file_name("xdocker-srepo");
    for prefix in ["libssh2_", "EVP_", "SSL_"] {
        assert!(!linked(&xdocker, prefix), "xdocker links {prefix}*");
        assert!(linked(&srepo, prefix), "xdocker-srepo lacks {prefix}*");
    }
}
