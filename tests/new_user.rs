//! What a new user meets first (issue 18): the tutorial's commands as
//! written, data the user did not ask to lose, two homes on one host, and
//! the help, messages and files that make the tool discoverable.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::sshd::Sshd;
use common::{RuntimeHome, TestHome};

// ------------------------------------------------------ discoverability

/// The man page as `man` shows it.
fn man_text() -> String {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/xdocker.1");
    let out = Command::new("man")
        .args(["--nh", "--nj", "-l"])
        .arg(&page)
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "")
        .output()
        .expect("man (package man-db)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One section of the shown man page, up to the next heading.
fn man_section(text: &str, heading: &str) -> String {
    let mut lines = text.lines().skip_while(|l| *l != heading);
    assert!(lines.next().is_some(), "no section {heading} in:\n{text}");
    lines
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn man_page_has_examples_files_environment_and_configuration() {
    let man = man_text();
    // The verb table keeps its lines ("info -c C [--json] Actions:" was
    // run together; -c is optional since info shows the home without it).
    let verbs = man_section(&man, "SHOWS AND ACTIONS");
    assert!(
        verbs.lines().any(|l| l.trim() == "Actions:")
            && verbs
                .lines()
                .any(|l| l.split_whitespace().take(4).collect::<Vec<_>>()
                    == ["info", "[-c", "C]", "[--json]"]),
        "{verbs}"
    );
    let examples = man_section(&man, "EXAMPLES");
    for command in [
        "xdocker -a install_test",
        "-a to_image",
        "-s ssearch --srepo",
        "-a rplfile",
    ] {
        assert!(
            examples.contains(command),
            "{command} in EXAMPLES:\n{examples}"
        );
    }
    let files = man_section(&man, "FILES");
    for f in [
        "xdocker.toml",
        "xdocker.log",
        "images/NAME/VERSION/",
        "containers/C/",
        "rwlayer/",
    ] {
        assert!(files.contains(f), "{f} in FILES:\n{files}");
    }
    let flat = files.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("every command line verbatim"), "{files}");
    let env = man_section(&man, "ENVIRONMENT");
    for v in [
        "XDOCKER_HOME",
        "XDOCKER_INIT",
        "XDOCKER_SHARE_DIR",
        "XDOCKER_SSH_DIR",
    ] {
        assert!(env.contains(v), "{v} in ENVIRONMENT:\n{env}");
    }
    assert!(man.contains("Ctrl-a q"), "Ctrl-a q");
    let networks = man_section(&man, "NETWORKS");
    let flat = networks.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("(the default) the host's network"),
        "{networks}"
    );
    // Every key of xdocker.toml, with its default.
    let config = man_section(&man, "CONFIGURATION");
    let config = config.split_whitespace().collect::<Vec<_>>().join(" ");
    let all = xdocker::config::Config {
        srepo: Some("ops@repo".into()),
        userns: xdocker::config::UsernsConfig {
            range: Some("1:2".into()),
        },
        ..Default::default()
    };
    let table: toml::Table = toml::from_str(&toml::to_string(&all).expect("toml")).expect("toml");
    let mut keys = 0;
    for (k, v) in &table {
        let entries: Vec<(String, &toml::Value)> = match v.as_table() {
            Some(t) => t
                .iter()
                .map(|(k2, v2)| (format!("[{k}] {k2}"), v2))
                .collect(),
            None => vec![(k.clone(), v)],
        };
        for (key, value) in entries {
            keys += 1;
            assert!(config.contains(&key), "{key} in CONFIGURATION:\n{config}");
            // Strings as they are, numbers as written ([logs] max_files).
            let default = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            if !["ops@repo", "1:2"].contains(&default.as_str()) {
                assert!(
                    config.contains(&format!("default {default}")),
                    "{key}'s default {default} in CONFIGURATION:\n{config}"
                );
            }
        }
    }
    assert_eq!(keys, 9, "{table:?}");
    // --help says the default network too.
    let help = TestHome::new().run("--help").ok().to_string();
    assert!(
        help.contains("(default HOST: the host's network)"),
        "{help}"
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn an_install_puts_the_scripts_on_path_and_the_readme_under_share_doc() {
    common::needs_root();
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let prefix = tempfile::Builder::new()
        .prefix("xdocker-prefix-")
        .tempdir()
        .expect("tempdir");
    let p = prefix.path();
    let out = Command::new(top.join("scripts/install_files.sh"))
        .arg(p)
        .arg(common::bin())
        .arg(common::static_init())
        .arg(env!("CARGO_BIN_EXE_xdocker-srepo"))
        .output()
        .expect("install_files.sh");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        fs::read(p.join("share/doc/xdocker/README.md")).expect("README"),
        fs::read(top.join("README.md")).expect("README")
    );
    // On PATH; the sourced one need not be executable (`.` reads it).
    for (script, mode) in [
        ("xdocker_create_image_debian.sh", 0o755),
        ("xdocker_container_root.sh", 0o644),
        ("xdocker_ldd_and_cp_lib64.sh", 0o755),
    ] {
        let m = fs::metadata(p.join("bin").join(script)).expect(script);
        assert_eq!(
            (m.is_file(), m.permissions().mode() & 0o777),
            (true, mode),
            "{script}"
        );
    }
    // The README's commands, from the install: the scripts by name on PATH.
    let home = TestHome::new();
    let stubs = home.scratch("stubs");
    fs::write(
        stubs.join("debootstrap"),
        "#!/bin/sh\necho 'stub debootstrap: no mirror here' >&2\nexit 1\n",
    )
    .expect("stub");
    fs::set_permissions(stubs.join("debootstrap"), fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let path = format!(
        "{}:{}:/usr/sbin:/usr/bin:/sbin:/bin",
        p.join("bin").display(),
        stubs.display()
    );
    let installed = |program: &str, args: &[&str]| {
        let out = Command::new(program)
            .args(args)
            .env("PATH", &path)
            .env("XDOCKER_HOME", home.path())
            .env("XDOCKER_INIT", common::static_init())
            .env_remove("XDOCKER_SHARE_DIR")
            .env_remove("XDOCKER")
            .env_remove("XDOCKER_TEMPLATES_DIR")
            .current_dir(home.path())
            .stdin(Stdio::null())
            .output()
            .expect(program);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The Debian script finds its templates and xdocker, and gets as far
    // as debootstrap.
    let (code, err) = installed(
        "xdocker_create_image_debian.sh",
        &["-o", home.scratch("images").to_str().expect("utf8")],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("stub debootstrap: no mirror here"), "{err}");
    assert!(!err.contains("templates"), "{err}");
    // The sourced one, found on PATH by `.`, runs xdocker from PATH.
    let (code, err) = installed("sh", &["-c", ". xdocker_container_root.sh", "sh", "nope"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("xdocker: error: container nope"), "{err}");
    // xdocker finds the shipped files under PREFIX/share/xdocker.
    let (code, err) = installed("xdocker", &["-a", "install_test"]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn dash_h_alone_prints_usage_and_a_misspelt_verb_gets_a_suggestion() {
    let home = TestHome::new();
    let help = home.run("-h");
    assert_eq!(help.code, 0, "{help:?}");
    assert!(
        help.stdout.starts_with("VM-like Linux system containers"),
        "{help:?}"
    );
    assert!(help.stdout.contains("Usage: xdocker -s SHOW"), "{help:?}");
    assert_eq!(help.stdout, home.run("--help").ok());
    home.run("-a destory -c web").fails(
        2,
        "'destory' for '--action <ACTION>': did you mean destroy?",
    );
    home.run("-s contianers")
        .fails(2, "did you mean containers?");
    home.run("-a create -m test --mem-limt 1G").fails(
        2,
        "unexpected argument '--mem-limt' found: did you mean --mem-limit?",
    );
}

#[test]
fn the_log_holding_command_lines_is_root_s_alone() {
    let home = TestHome::new();
    let log = home.path().join("xdocker.log");
    let mode = || fs::metadata(&log).expect("log").permissions().mode() & 0o7777;
    home.run_in(None, ["-a", "run", "-c", "web", "--cmd", "echo s3cret"])
        .fails(1, "container web");
    assert_eq!(mode(), 0o600);
    // What the docs say it records: the command line, verbatim.
    let text = fs::read_to_string(&log).expect("read");
    assert!(
        text.contains("command: xdocker -a run -c web --cmd echo s3cret"),
        "{text}"
    );
    // A log an older xdocker made world-readable is narrowed.
    fs::set_permissions(&log, fs::Permissions::from_mode(0o644)).expect("chmod");
    home.run("-s images").ok();
    assert_eq!(mode(), 0o600);
}

#[test]
fn images_shows_an_empty_image_s_size_with_a_unit() {
    let home = TestHome::new();
    home.make_image("empty", "1", |_| {});
    fs::write(
        home.path().join("images/empty/1/image.toml"),
        "name = \"empty\"\nversion = \"1\"\ncreated = \"2026-01-01T00:00:00+00:00\"\nsize = 0\n",
    )
    .expect("manifest");
    let out = home.run("-s images").ok().to_string();
    let row: Vec<&str> = out
        .lines()
        .nth(1)
        .expect("a row")
        .split_whitespace()
        .collect();
    assert_eq!((row[0], row[3]), ("empty", "0B"), "{out}");
    // --json keeps the number.
    let json: serde_json::Value =
        serde_json::from_str(home.run("-s images --json").ok()).expect("json");
    assert_eq!(json[0]["size"], 0, "{json}");
}

// ------------------------------------------------------ data not to lose

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn del_image_never_deletes_the_layer_of_a_running_container() {
    let h = RuntimeHome::with_test_image();
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

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn del_image_counts_a_paused_user_as_running_and_a_broken_one_as_a_user() {
    let h = RuntimeHome::with_test_image();
    h.run("-a copy_image --from-image test --to-image other")
        .ok();
    // A paused container's processes still have its layers open.
    h.run("-a create -m test -c frozen -b").ok();
    h.run("-a pause -c frozen").ok();
    h.run("-a del_image -m test -f")
        .fails(1, "running container frozen (paused): shut it down first");
    assert!(h.home.layer("test", "_").join("bin").exists());
    h.run("-a kill -c frozen").ok();
    // A broken container cannot say which images it has: it may use any
    // (it used to stop every del_image, -f too, with "manifest ...").
    h.run("-a create -m test -c broken").ok();
    fs::write(
        h.home.path().join("containers/broken/config.toml"),
        "garbage\n",
    )
    .expect("break the config");
    h.run("-a del_image -m other").fails(
        1,
        "image other:_ is used by container broken (broken: its config cannot be read, it may use it) (use -f",
    );
    h.run("-a del_image -m other -f").ok();
    assert!(!h.home.layer("other", "_").exists());
    h.run("-a destroy -c broken").ok();
    h.run("-a destroy -c frozen").ok();
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

#[test]
fn readme_runs_its_commands_as_root_and_says_what_the_log_records() {
    let readme = shipped("README.md");
    // A minimal Debian has no sudo: no command of the README asks for it.
    let mut in_code = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if in_code {
            assert!(
                !line.trim_start().starts_with("sudo "),
                "a README command needs sudo: {line}"
            );
        }
    }
    let quick = readme
        .split("## Quick start")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Quick start section");
    let flat = quick.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("as root (a minimal Debian has no sudo"),
        "{quick}"
    );
    // Where an install puts the README and the user's scripts.
    for says in [
        "PREFIX/share/doc/xdocker/README.md",
        "`PREFIX/bin`, the scripts a user runs: `xdocker_create_image_debian.sh`, `xdocker_container_root.sh` and `xdocker_ldd_and_cp_lib64.sh`",
    ] {
        assert!(flat.contains(says), "{says} in:\n{quick}");
    }
    let flat = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("`xdocker.log` (timestamped lines, one per event; `-d` echoes them on stderr; it records every command line verbatim, `--cmd` and `-e` text included")
            && flat.contains("it is mode 0600"),
        "the README says what xdocker.log records and its mode"
    );
}

// ------------------------------------------------------ the tutorial

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn ssearch_of_a_new_repository_lists_nothing_and_saves_it() {
    common::needs_root();
    let sshd = Sshd::start();
    let home = TestHome::new();
    let dir = sshd.repo().join("not/yet");
    let srepo = format!("root@127.0.0.1:{}{}", sshd.port, dir.display());
    let ssearch = |extra: &[&str]| {
        let mut args = vec!["-s", "ssearch"];
        args.extend_from_slice(extra);
        home.run_with(
            None,
            &args,
            &[
                ("XDOCKER_SSH_DIR", sshd.ssh_dir().as_os_str()),
                ("SSH_AUTH_SOCK", "".as_ref()),
            ],
        )
    };
    let table = ssearch(&["--srepo", &srepo]).ok().to_string();
    assert_eq!(
        table.split_whitespace().collect::<Vec<_>>(),
        ["image_id", "version", "modify_datetime", "size"],
        "{table}"
    );
    let config = fs::read_to_string(home.path().join("xdocker.toml")).expect("config");
    assert!(config.contains(&format!("srepo = \"{srepo}\"")), "{config}");
    assert_eq!(ssearch(&["--json"]).ok().trim(), "[]");
    assert!(!dir.exists(), "a search creates nothing on the server");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn rplfile_without_instance_file_instantiates_a_plain_template_in_place() {
    use std::os::unix::fs::MetadataExt;
    let h = RuntimeHome::with_test_image();
    // Privileged, so that the test reaches its files as host root.
    h.run("-a create -m test -c tpl -b --userns off").ok();
    let root = Path::new("/proc")
        .join(h.pid("tpl").expect("pid").to_string())
        .join("root");
    let mapping = h.home.scratch("maps").join("leaf.map");
    fs::write(&mapping, "${LEAF} a value with spaces\n").expect("write");
    let tpl = root.join("root/tpl.txt");
    fs::set_permissions(&tpl, fs::Permissions::from_mode(0o640)).expect("chmod");
    std::os::unix::fs::lchown(&tpl, Some(33), Some(44)).expect("chown");
    let rpl = |template: &str| {
        h.run_in(
            None,
            [
                "-a",
                "rplfile",
                "-c",
                "tpl",
                "--template-file",
                template,
                "--mapping-file",
                mapping.to_str().expect("utf8"),
            ],
        )
    };
    // The tutorial's step: the test image's /root/tpl.txt, in place.
    rpl("/root/tpl.txt").ok();
    assert_eq!(
        fs::read_to_string(&tpl).expect("read"),
        "{ \"leaf\":\"a value with spaces\" }\n"
    );
    let m = fs::metadata(&tpl).expect("stat");
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o640, 33, 44));
    let mut names: Vec<String> = fs::read_dir(root.join("root"))
        .expect("ls /root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        !names.iter().any(|n| n.contains("tmp")),
        "no temporary file left: {names:?}"
    );
    // The .tpl rule stands: X.tpl gives X, the template is kept.
    fs::write(root.join("etc/motd.tpl"), "leaf ${LEAF}\n").expect("write");
    rpl("/etc/motd.tpl").ok();
    assert_eq!(
        fs::read_to_string(root.join("etc/motd")).expect("read"),
        "leaf a value with spaces\n"
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/motd.tpl")).expect("read"),
        "leaf ${LEAF}\n"
    );
}

// ------------------------------------------------------ several homes

/// Removes a bridge and an nft table when dropped (a test's BRIDGE
/// container leaves both behind when it stops, as designed).
struct NetLeftovers {
    bridge: String,
    table: String,
}

impl Drop for NetLeftovers {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.table])
            .stderr(Stdio::null())
            .status();
    }
}

/// The `home` of `-s info -c C --json`.
fn home_names(h: &RuntimeHome, container: &str) -> serde_json::Value {
    let r = h.run(&format!("-s info -c {container} --json"));
    let v: serde_json::Value = serde_json::from_str(r.ok()).expect("json");
    v["home"].clone()
}

#[test]
fn info_without_a_container_answers_on_a_host_without_cgroups_too() {
    let h = TestHome::new();
    fs::write(
        h.path().join("xdocker.toml"),
        "[cgroups]\nroot = \"/nonexistent/cgroup\"\n",
    )
    .expect("xdocker.toml");
    let text = h.run("-s info").ok().to_string();
    assert!(
        text.contains(
            "cgroups: none (detect cgroup hierarchy at /nonexistent/cgroup: no such file or directory)"
        ),
        "{text}"
    );
    assert!(text.contains("containers: 0 (0 running"), "{text}");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn info_without_a_container_says_the_homes_derived_names_and_what_it_holds() {
    common::needs_root();
    let mut h = RuntimeHome::new();
    // Default settings: the names come from the home's path.
    fs::remove_file(h.home.path().join("xdocker.toml")).expect("rm xdocker.toml");
    // Before any container exists (it used to need -c).
    let empty: serde_json::Value =
        serde_json::from_str(h.run("-s info --json").ok()).expect("json");
    let parent = empty["cgroup_parent"].as_str().expect("parent").to_string();
    assert!(
        parent.starts_with("xdocker-") && parent.len() == 14,
        "{empty}"
    );
    assert_eq!(empty["bridge"], parent.as_str(), "{empty}");
    assert_eq!(empty["nft_table"], parent.as_str(), "{empty}");
    assert_eq!(empty["config_file_exists"], false, "{empty}");
    assert_eq!(empty["containers"]["total"], 0, "{empty}");
    assert_eq!(empty["images"], 0, "{empty}");
    h.cgroup_parent = parent.clone();
    h.install_test();
    h.run("-a create -m test -c idle").ok();
    h.run("-a create -m test -c up -b").ok();
    // Every container's info names the same home.
    assert_eq!(home_names(&h, "up")["cgroup_parent"], parent.as_str());
    let text = h.run("-s info").ok().to_string();
    for line in [
        format!("home: {}\n", h.home.path().display()),
        format!("cgroups: v1 at /sys/fs/cgroup, parent {parent}\n"),
        format!("nft_table: {parent}\n"),
        "containers: 2 (1 running, 0 paused, 1 stopped, 0 broken)\n".to_string(),
        "images: 1\n".to_string(),
        "networks: 0 (besides BRIDGE)\n".to_string(),
    ] {
        assert!(text.contains(&line), "{line:?} in:\n{text}");
    }
    assert!(
        text.contains(&format!("bridge: {parent} 172.30.")),
        "{text}"
    );
    // Docker's verb prints the same.
    assert_eq!(h.run("info").ok(), text);
    let docker: serde_json::Value =
        serde_json::from_str(h.run("info --format json").ok()).expect("json");
    assert_eq!(docker["containers"]["running"], 1, "{docker}");
    assert_eq!(docker["subnet"], empty["subnet"], "{docker}");
    h.run("-a kill -c up").ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn two_homes_with_default_settings_run_containers_of_the_same_name() {
    common::needs_root();
    let mut homes = [RuntimeHome::new(), RuntimeHome::new()];
    let mut names = Vec::new();
    for h in &mut homes {
        // Default settings: no xdocker.toml at all.
        fs::remove_file(h.home.path().join("xdocker.toml")).expect("rm xdocker.toml");
        h.install_test();
        h.run("-a create -m test -c same").ok();
        let n = home_names(h, "same");
        // Drop cleans up this parent's cgroups.
        h.cgroup_parent = n["cgroup_parent"].as_str().expect("parent").to_string();
        let text = h.run("-s info -c same").ok().to_string();
        assert!(
            text.contains(&format!("cgroup parent {}", h.cgroup_parent)),
            "{text}"
        );
        names.push(n);
    }
    for key in ["cgroup_parent", "bridge", "nft_table"] {
        assert_ne!(names[0][key], names[1][key], "{key}: {names:?}");
        for n in &names {
            assert_ne!(n[key], "xdocker", "{key} is not /var/xdocker's: {n}");
            assert_ne!(n[key], "xdocker0", "{key} is not /var/xdocker's: {n}");
        }
    }
    for n in &names {
        assert_ne!(n["subnet"], "172.30.254.0/24", "{n}");
    }
    // Both at once (before the fix: "create cgroup .../xdocker/same:
    // already in use by pids").
    for h in &homes {
        h.run("-a boot -c same").ok();
    }
    for h in &homes {
        let out = h.run("-s containers").ok().to_string();
        assert!(out.contains("RUNNING("), "{out}");
        assert!(
            !h.cgroup_dirs().is_empty(),
            "cgroup parent {}",
            h.cgroup_parent
        );
    }
    // The derived bridge and table work: a BRIDGE container of one home.
    let h = &homes[0];
    let (bridge, table) = (
        names[0]["bridge"].as_str().expect("bridge").to_string(),
        names[0]["nft_table"].as_str().expect("table").to_string(),
    );
    let _leftovers = NetLeftovers {
        bridge: bridge.clone(),
        table: table.clone(),
    };
    h.run("-a create -m test -c web --net BRIDGE -b").ok();
    let link = Command::new("ip")
        .args(["-o", "addr", "show", "dev", &bridge])
        .output()
        .expect("ip addr");
    let link = String::from_utf8_lossy(&link.stdout);
    let subnet = names[0]["subnet"].as_str().expect("subnet");
    let gateway = subnet.replace(".0/24", ".1/24");
    assert!(link.contains(&gateway), "{bridge}: {link}");
    let nft = Command::new("nft")
        .args(["list", "table", "ip", &table])
        .output()
        .expect("nft");
    assert!(nft.status.success(), "{nft:?}");
    assert!(String::from_utf8_lossy(&nft.stdout).contains("web-post"));
    for h in &homes {
        h.run("-a shutdown -c same").ok();
    }
    h.run("-a shutdown -c web").ok();
}
