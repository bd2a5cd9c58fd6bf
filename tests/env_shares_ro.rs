//! Environment variables, CPU shares and read-only volumes against real
//! containers (root): variables with awkward values reach the `-e` main
//! process, `run` commands, an `attach` shell (through tmux) and what they
//! start, byte for byte; `-a env` replaces them; the shares are in the
//! container's cgroup; a `:ro` volume refuses writes to root inside, also
//! after `mount -o remount,rw`, privileged or not; bad input changes
//! nothing.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::tmux::Tmux;
use common::{Run, RuntimeHome};

/// The awkward values, each in its own variable.
const VALUES: &[(&str, &str)] = &[
    ("SPACES", "  two  spaces  "),
    ("EQUALS", "a=b==c="),
    ("QUOTES", "'single' \"double\" `back`"),
    ("DOLLAR", "$HOME ${PATH} $(id)"),
    ("UTF8", "grüße, 日本, 🚀"),
    ("EMPTY", ""),
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A shell line printing `KEY:HEX` of each variable's value (od, so that
/// neither the terminal nor the pipe can change a byte on the way).
fn dump(keys: &[&str]) -> String {
    let keys: Vec<&str> = keys.to_vec();
    format!(
        "for k in {}; do eval \"v=\\${{$k}}\"; printf '%s:' \"$k\"; printf %s \"$v\" | od -An -tx1 | tr -d ' \\n'; echo; done",
        keys.join(" ")
    )
}

/// The `KEY:HEX` lines `dump` printed, checked against `want`.
#[track_caller]
fn assert_dump(out: &str, want: &[(&str, &str)]) {
    for (key, value) in want {
        let line = format!("{key}:{}", hex(value.as_bytes()));
        assert!(
            out.lines().any(|l| l == line),
            "{key}={value:?} expected as {line}:\n{out}"
        );
    }
}

/// xdocker with this home, the static init and `env` in its environment.
fn run_with_env(h: &RuntimeHome, args: &[&str], env: &[(&str, &str)]) -> Run {
    let init = common::static_init();
    let mut all: Vec<(&str, &OsStr)> = vec![("XDOCKER_INIT", init.as_os_str())];
    all.extend(env.iter().map(|(k, v)| (*k, OsStr::new(v))));
    h.home.run_with(None, args, &all)
}

fn info(h: &RuntimeHome, name: &str) -> String {
    h.run_in(None, ["-s", "info", "-c", name]).ok().to_string()
}

/// The `--env` arguments of [`VALUES`].
fn env_args() -> Vec<String> {
    VALUES
        .iter()
        .flat_map(|(k, v)| ["--env".to_string(), format!("{k}={v}")])
        .collect()
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn variables_reach_the_main_process_run_and_attach_byte_for_byte() {
    let h = RuntimeHome::with_test_image();
    let dir = h.home.scratch("env");
    let file = dir.join("app.env");
    std::fs::write(
        &file,
        "# settings of the app\n\n  FROM_FILE=a b # not a comment\nFROM_HOST\n\t# indented comment\n\
         OVERRIDDEN=by the file\r\n",
    )
    .expect("env file");
    let mut args: Vec<String> = ["-a", "create", "-m", "test", "-c", "env", "--env-file"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(file.display().to_string());
    args.extend(env_args());
    args.extend(["--env".into(), "OVERRIDDEN=by --env".into()]);
    args.extend(["--env".into(), "FROM_HOST_TOO".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_with_env(
        &h,
        &args,
        &[("FROM_HOST", "host's = value"), ("FROM_HOST_TOO", "2")],
    )
    .ok();
    let mut want: Vec<(&str, &str)> = VALUES.to_vec();
    want.extend([
        ("FROM_FILE", "a b # not a comment"),
        ("FROM_HOST", "host's = value"),
        ("FROM_HOST_TOO", "2"),
        ("OVERRIDDEN", "by --env"),
        ("HOME", "/root"),
    ]);
    let keys: Vec<&str> = want.iter().map(|(k, _)| *k).collect();
    let shown = info(&h, "env");
    assert!(
        shown.contains("env: FROM_FILE=a b # not a comment\n     FROM_HOST=host's = value\n"),
        "{shown}"
    );

    // The main process of `-e`, and what it starts (a program, not the
    // shell: env prints what it was given).
    let script = format!("{}; env | grep -c '^container=xdocker$'", dump(&keys));
    let r = h.run_in(None, ["-a", "boot", "-c", "env", "-e", &script]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_dump(&r.stdout, &want);
    assert!(r.stdout.ends_with("\n1\n"), "{r:?}");
    // Not from the host that boots it.
    let r = run_with_env(
        &h,
        &["-a", "boot", "-c", "env", "-e", "echo \"[$LEAK]\""],
        &[("LEAK", "host")],
    );
    assert_eq!(r.stdout, "[]\n", "{r:?}");

    // `run` commands, and a process a command starts.
    h.run_in(None, ["-a", "boot", "-c", "env"]).ok();
    let r = h.run_in(None, ["-a", "run", "-c", "env", "--cmd", &dump(&keys)]);
    assert_dump(r.ok(), &want);
    let r = h.run_in(
        None,
        [
            "-a",
            "run",
            "-c",
            "env",
            "--cmd",
            "sh -c 'env' | grep ^EQUALS=",
        ],
    );
    assert_eq!(r.ok(), "EQUALS=a=b==c=\n");

    // An interactive shell through a real terminal.
    let tmux = Tmux::start_with(&h, 200, 40, "LEAK=host");
    tmux.line("xdocker -a attach -c env");
    tmux.wait_for("the container's prompt", |s| s.contains("root@env:"));
    for (key, value) in &want {
        let got = tmux.ask(
            key,
            &format!("printf %s \"${key}\" | od -An -tx1 | tr -d ' \\n'"),
        );
        assert_eq!(got, hex(value.as_bytes()), "{key} in the attached shell");
    }
    // TERM is the terminal's.
    assert_eq!(tmux.ask("term", "echo $TERM"), "xterm-256color");
    tmux.line("exit");
    tmux.wait_for("the host prompt", |s| {
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.starts_with("host$"))
    });
    h.run_in(None, ["-a", "shutdown", "-c", "env"]).ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn env_replaces_the_variables_and_boot_adds_to_them() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c e --env A=1 --env B=2 -b").ok();
    let make_tool = "mkdir -p /opt/bin && printf '#!/bin/sh\\necho tool ran\\n' > /opt/bin/tool \
                     && chmod 755 /opt/bin/tool";
    h.run_in(None, ["-a", "run", "-c", "e", "--cmd", make_tool])
        .ok();
    h.run("-a shutdown -c e").ok();
    h.run("-a env -c e --env C=3 --env PATH=/opt/bin:/bin").ok();
    let shown = info(&h, "e");
    assert!(
        shown.contains("env: C=3\n     PATH=/opt/bin:/bin\n"),
        "{shown}"
    );
    let r = h.run_in(
        None,
        ["-a", "boot", "-c", "e", "-e", "echo \"[$A][$B][$C]\"; tool"],
    );
    assert_eq!(r.stdout, "[][][3]\ntool ran\n", "{r:?}");
    // A command of plain words is looked up in the container's PATH too.
    let r = h.run_in(None, ["-a", "boot", "-c", "e", "-e", "tool"]);
    assert_eq!(r.stdout, "tool ran\n", "{r:?}");
    // Given at boot: stored, over the stored ones.
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "e",
            "--env",
            "C=4",
            "--env",
            "D=5",
            "-e",
            "echo $C$D",
        ],
    );
    assert_eq!(r.stdout, "45\n", "{r:?}");
    assert!(info(&h, "e").contains("env: C=4\n     PATH=/opt/bin:/bin\n     D=5\n"));
    // A running container is not changed.
    h.run("-a boot -c e").ok();
    h.run("-a env -c e --env X=1").fails(1, "is running");
    h.run("-a boot -c e --env X=1").fails(1, "is running");
    h.run("-a shutdown -c e").ok();
    assert!(!info(&h, "e").contains("X=1"));
    // Nothing given: no variables.
    h.run("-a env -c e").ok();
    assert!(info(&h, "e").contains("env: -\n"));
    let r = h.run_in(
        None,
        ["-a", "boot", "-c", "e", "-e", "echo \"[$C]\"; echo $PATH"],
    );
    assert_eq!(
        r.stdout, "[]\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
        "{r:?}"
    );
    let config =
        std::fs::read_to_string(h.home.path().join("containers/e/config.toml")).expect("config");
    assert!(
        !config.contains("env = ["),
        "no variables, no key: {config}"
    );
}

/// The cgroup file holding a container's shares, and what it should hold
/// for `shares`.
fn shares_file(h: &RuntimeHome, name: &str, shares: u64) -> (PathBuf, String) {
    let v1 = Path::new("/sys/fs/cgroup/cpu")
        .join(&h.cgroup_parent)
        .join(name);
    if Path::new("/sys/fs/cgroup/cpu").is_dir() {
        (v1.join("cpu.shares"), shares.to_string())
    } else {
        let weight = 1 + ((shares - 2) * 9999) / 262_142;
        (
            Path::new("/sys/fs/cgroup")
                .join(&h.cgroup_parent)
                .join(name)
                .join("cpu.weight"),
            weight.to_string(),
        )
    }
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn cpu_shares_are_in_the_containers_cgroup() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c s --cpu-shares 512 -b").ok();
    let (file, want) = shares_file(&h, "s", 512);
    let got = std::fs::read_to_string(&file).expect("shares file");
    assert_eq!(got.trim(), want, "{}", file.display());
    assert!(info(&h, "s").contains("cpu_shares: 512\n"));
    h.run("-a shutdown -c s").ok();
    // Changed at boot: stored, and applied.
    h.run("-a boot -c s --cpu-shares 4096").ok();
    let (file, want) = shares_file(&h, "s", 4096);
    let got = std::fs::read_to_string(&file).expect("shares file");
    assert_eq!(got.trim(), want);
    assert!(info(&h, "s").contains("cpu_shares: 4096\n"));
    h.run("-a shutdown -c s").ok();
    // A container without shares has the kernel's default.
    h.run("-a create -m test -c plain -b").ok();
    let (file, want) = shares_file(&h, "plain", 1024);
    let got = std::fs::read_to_string(&file).expect("shares file");
    if file.ends_with("cpu.shares") {
        assert_eq!(got.trim(), want);
    }
    assert!(info(&h, "plain").contains("cpu_shares: -\n"));
    h.run("-a shutdown -c plain").ok();
}

/// What root inside tries against the read-only `/ro` (and the writable
/// `/rw`): a write, a remount read-write (old and new mount API through
/// busybox and, privileged or not, with a bind remount), then the write
/// again. Prints `WORD=rc` lines.
const ATTACK: &str = "touch /ro/new; echo write=$?; \
    mount -o remount,rw /ro; echo remount=$?; \
    mount -o remount,bind,rw /ro; echo bind_remount=$?; \
    touch /ro/new; echo write_after=$?; \
    echo changed > /ro/file; echo overwrite=$?; \
    umount /ro; echo umount=$?; \
    echo changed > /rofile; echo file_write=$?; \
    touch /rw/new; echo rw_write=$?; \
    grep -c ' /ro ro,' /proc/self/mountinfo";

#[track_caller]
fn assert_read_only(r: &Run, ro: &Path, what: &str) {
    let out = &r.stdout;
    for failed in [
        "write",
        "remount",
        "bind_remount",
        "write_after",
        "overwrite",
        "file_write",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{failed}=")) && l != format!("{failed}=0")),
            "{what}: {failed} must fail:\n{out}\n{}",
            r.stderr
        );
    }
    assert!(out.contains("rw_write=0\n"), "{what}: {out}\n{}", r.stderr);
    assert!(
        out.ends_with("\n1\n"),
        "{what}: still mounted read-only: {out}"
    );
    assert!(
        r.stderr.contains("Read-only file system"),
        "{what}: EROFS: {}",
        r.stderr
    );
    assert!(!ro.join("new").exists(), "{what}");
    assert_eq!(
        std::fs::read_to_string(ro.join("file")).expect("file"),
        "host's\n",
        "{what}"
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_read_only_volume_stays_read_only_for_root_inside() {
    let h = RuntimeHome::with_test_image();
    let ro = h.home.scratch("ro");
    let rw = h.home.scratch("rw");
    // Root of an unprivileged container is not root on the host.
    std::fs::set_permissions(&rw, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    std::fs::write(ro.join("file"), "host's\n").expect("file");
    // A file volume too, writable by anyone but through the mount.
    let file = h.home.scratch("file").join("conf");
    std::fs::write(&file, "host's\n").expect("file");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .expect("chmod");
    let volumes = [
        format!("{}:/ro:ro", ro.display()),
        format!("{}:/rw:rw", rw.display()),
        format!("{}:/rofile:ro", file.display()),
    ];
    for (name, userns) in [("unpriv", "on"), ("priv", "off")] {
        let r = h.run_in(
            None,
            [
                "-a",
                "create",
                "-m",
                "test",
                "-c",
                name,
                "--userns",
                userns,
                "--volume",
                &volumes[0],
                "--volume",
                &volumes[1],
                "--volume",
                &volumes[2],
                "-b",
                "-e",
                ATTACK,
            ],
        );
        assert_eq!(r.code, 0, "grep found the read-only mount: {r:?}");
        assert_read_only(&r, &ro, name);
        assert!(rw.join("new").exists());
        assert_eq!(std::fs::read_to_string(&file).expect("file"), "host's\n");
        std::fs::remove_file(rw.join("new")).expect("rm");
        let shown = info(&h, name);
        assert!(
            shown.contains(&format!(
                "volumes: {}:/ro:ro,{}:/rw,{}:/rofile:ro\n",
                ro.display(),
                rw.display(),
                file.display()
            )),
            "{shown}"
        );
    }
    // An unprivileged container's own mount namespace gets the mount
    // locked read-only by the kernel.
    let r = h.run_in(
        None,
        [
            "-a",
            "boot",
            "-c",
            "unpriv",
            "-e",
            "unshare -m sh -c 'mount -o remount,rw /ro; echo remount=$?; \
             mount -o remount,bind,rw /ro; echo bind_remount=$?; touch /ro/new; echo write=$?'",
        ],
    );
    assert!(
        r.stdout.contains("remount=")
            && !r.stdout.contains("remount=0")
            && !r.stdout.contains("write=0"),
        "{r:?}"
    );
    assert!(!ro.join("new").exists());
    // -a volume sets the mode too; rw (the default) is writable again.
    h.run_in(
        None,
        [
            "-a",
            "volume",
            "-c",
            "priv",
            "--volume",
            &format!("{}:/ro", ro.display()),
        ],
    )
    .ok();
    let r = h.run_in(None, ["-a", "boot", "-c", "priv", "-e", "touch /ro/new"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(ro.join("new").exists());
    h.run_in(
        None,
        [
            "-a",
            "volume",
            "-c",
            "priv",
            "--volume",
            &format!("{}:/ro:ro", ro.display()),
        ],
    )
    .ok();
    let r = h.run_in(None, ["-a", "boot", "-c", "priv", "-e", "rm /ro/new"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(ro.join("new").exists());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn to_container_takes_the_variables_shares_and_read_only_volumes() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c made").ok();
    h.run("-a to_image --from-container made --to-image conv")
        .ok();
    let dir = h.home.scratch("conv");
    let file = dir.join("app.env");
    std::fs::write(&file, "FROM_FILE=a b = c\n").expect("env file");
    let ro = h.home.scratch("ro");
    let volume = format!("{}:/ro:ro", ro.display());
    let rx = format!("{}:/ro:rx", ro.display());
    let to_container = |extra: &[&str]| {
        let mut args = vec![
            "-a",
            "to_container",
            "--from-image",
            "conv",
            "--to-container",
            "conv",
        ];
        args.extend_from_slice(extra);
        run_with_env(&h, &args, &[])
    };
    // Bad input consumes nothing.
    for (extra, code, needle) in [
        (&["--env", "1X=a"][..], 2, "'1X' is not a variable name"),
        (
            &["--env", "XDOCKER_TEST_SURELY_UNSET"][..],
            1,
            "variable XDOCKER_TEST_SURELY_UNSET is not set on the host",
        ),
        (
            &["--env-file", "/nonexistent/x.env"][..],
            1,
            "env file /nonexistent/x.env",
        ),
        (&["--cpu-shares", "1"][..], 2, "is not a CPU share count"),
        (&["--volume", &rx][..], 2, "'rx' is not a volume mode"),
    ] {
        to_container(extra).fails(code, needle);
        assert!(!h.home.path().join("containers/conv").exists(), "{extra:?}");
        assert!(h.home.layer("conv", "_").is_dir(), "{extra:?}: image kept");
    }
    to_container(&[
        "--env-file",
        file.to_str().expect("utf-8"),
        "--env",
        "SPACES=  two  spaces  ",
        "--cpu-shares",
        "512",
        "--volume",
        &volume,
    ])
    .ok();
    let shown = info(&h, "conv");
    for want in [
        "env: FROM_FILE=a b = c\n     SPACES=  two  spaces  \n".to_string(),
        "cpu_shares: 512\n".to_string(),
        format!("volumes: {volume}\n"),
    ] {
        assert!(shown.contains(&want), "{want:?} in:\n{shown}");
    }
    h.run("-a boot -c conv").ok();
    let (shares, want) = shares_file(&h, "conv", 512);
    assert_eq!(
        std::fs::read_to_string(&shares).expect("shares").trim(),
        want
    );
    let r = h.run_in(
        None,
        [
            "-a",
            "run",
            "-c",
            "conv",
            "--cmd",
            "echo \"[$FROM_FILE][$SPACES]\"; touch /ro/new 2>&1; echo write=$?",
        ],
    );
    let out = r.ok();
    assert!(
        out.starts_with("[a b = c][  two  spaces  ]\n") && out.ends_with("write=1\n"),
        "{out}"
    );
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!ro.join("new").exists());
    h.run("-a shutdown -c conv").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn variables_go_with_the_layer_through_commit_to_image_and_to_container() {
    let h = RuntimeHome::with_test_image();
    let echo = "echo \"[$A][$B][$C]\"";
    let boot_echo = |c: &str| {
        let r = h.run_in(None, ["-a", "boot", "-c", c, "-e", echo]);
        assert_eq!(r.code, 0, "{r:?}");
        r.stdout
    };
    h.run("-a create -m test -c first --env A=a=1 --env B=b")
        .ok();
    // commit: the image records the container's variables, a container
    // made from it has them (as after docker commit).
    h.run("-a commit --from-container first --to-image snap")
        .ok();
    h.run("-a create -m snap -c second --env B=over").ok();
    assert_eq!(boot_echo("second"), "[a=1][over][]\n");
    // to_image, then to_container: they go with the layer both ways.
    h.run("-a to_image --from-container second --to-image moved")
        .ok();
    h.run("-a to_container --from-image moved --to-container third --env C=c")
        .ok();
    assert!(info(&h, "third").contains("env: A=a=1\n     B=over\n     C=c\n"));
    assert_eq!(boot_echo("third"), "[a=1][over][c]\n");
    // Cleared on the container, none in the image.
    h.run("-a env -c third").ok();
    h.run("-a commit --from-container third --to-image bare")
        .ok();
    h.run("-a create -m bare -c fourth").ok();
    assert_eq!(boot_echo("fourth"), "[][][]\n");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn bad_input_is_refused_in_one_line_and_leaves_nothing_behind() {
    let h = RuntimeHome::with_test_image();
    let dir = h.home.scratch("bad");
    let bad_file = dir.join("bad.env");
    std::fs::write(&bad_file, "# ok\nA=1\nB C=2\n").expect("env file");
    let missing_key = dir.join("missing.env");
    std::fs::write(&missing_key, "XDOCKER_TEST_SURELY_UNSET\n").expect("env file");
    let vol = h.home.scratch("vol");
    let vol_rx = format!("{}:/v:rx", vol.display());
    let cases: Vec<(Vec<&str>, i32, String)> = vec![
        (
            vec!["--env", "1X=a"],
            2,
            "'1X' is not a variable name".into(),
        ),
        (
            vec!["--env", "XDOCKER_TEST_SURELY_UNSET"],
            1,
            "--env: variable XDOCKER_TEST_SURELY_UNSET is not set on the host".into(),
        ),
        (
            vec!["--env-file", bad_file.to_str().expect("utf-8")],
            1,
            format!(
                "env file {} line 3: 'B C' is not a variable name",
                bad_file.display()
            ),
        ),
        (
            vec!["--env-file", missing_key.to_str().expect("utf-8")],
            1,
            "line 1: variable XDOCKER_TEST_SURELY_UNSET is not set on the host".into(),
        ),
        (
            vec!["--env-file", "/nonexistent/x.env"],
            1,
            "env file /nonexistent/x.env: no such file or directory".into(),
        ),
        (
            vec!["--cpu-shares", "1"],
            2,
            "'1' is not a CPU share count of 2 to 262144".into(),
        ),
        (
            vec!["--volume", &vol_rx],
            2,
            "'rx' is not a volume mode (ro: read-only, rw: read-write)".into(),
        ),
    ];
    for (extra, code, needle) in &cases {
        let mut args = vec!["-a", "create", "-m", "test", "-c", "bad", "-b"];
        args.extend(extra);
        let r = run_with_env(&h, &args, &[]);
        r.fails(*code, needle);
        assert!(!h.home.path().join("containers/bad").exists(), "{extra:?}");
    }
    assert!(h.home.staging_leftovers().is_empty());
    assert!(h.run("-s containers").ok().lines().count() <= 1);
    assert!(
        h.cgroup_dirs().iter().all(|d| !d.join("bad").exists()),
        "no cgroup"
    );
    // Nor is a container changed by a bad -a env or boot.
    h.run("-a create -m test -c good --env A=1 --cpu-shares 100")
        .ok();
    let config = h.home.path().join("containers/good/config.toml");
    let before = std::fs::read_to_string(&config).expect("config");
    for (extra, code, needle) in &cases[..5] {
        for verb in [["-a", "env"], ["-a", "boot"]] {
            let mut args = verb.to_vec();
            args.extend(["-c", "good"]);
            args.extend(extra);
            run_with_env(&h, &args, &[]).fails(*code, needle);
        }
    }
    h.run("-a boot -c good --cpu-shares 1")
        .fails(2, "is not a CPU share count");
    assert_eq!(std::fs::read_to_string(&config).expect("config"), before);
    assert_eq!(h.run("-s containers").ok().matches("RUNNING").count(), 0);
}
