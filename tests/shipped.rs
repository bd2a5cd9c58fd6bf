//! What the project ships besides the CLI: a statically linked xdockerinit,
//! manual pages and shell completions generated from the real argument
//! definitions (regenerate all: XDOCKER_UPDATE_MAN=1 cargo test --test shipped).

mod common;

use std::path::Path;
use std::process::Command;

use clap::CommandFactory;

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn xdockerinit_is_static_and_runs_in_an_empty_root() {
    common::needs_root();
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

/// Compares a generated file with the shipped one; XDOCKER_UPDATE_MAN=1
/// writes it instead.
#[track_caller]
fn shipped_is_up_to_date(rel: &str, rendered: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    if std::env::var_os("XDOCKER_UPDATE_MAN").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, rendered).expect("write generated file");
    }
    let shipped = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{rel}: {e} (regenerate: XDOCKER_UPDATE_MAN=1 cargo test --test shipped)")
    });
    assert!(
        shipped == rendered,
        "{rel} is out of date: run XDOCKER_UPDATE_MAN=1 cargo test --test shipped"
    );
}

/// Text as a roff no-fill block: lines kept, hyphens as `\-`, a leading
/// dot or quote made literal.
fn roff_block(text: &str) -> String {
    let mut out = String::from(".nf\n");
    for line in text.lines() {
        let line = line.replace('\\', "\\\\").replace('-', "\\-");
        if line.starts_with('.') || line.starts_with('\'') {
            out.push_str("\\&");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(".fi\n");
    out
}

/// man/xdocker.1: NAME, SYNOPSIS, DESCRIPTION and OPTIONS from the
/// argument definitions, SHOWS AND ACTIONS from the help's verb table (as
/// a no-fill block, one verb a line), then the hand-written sections of
/// man/xdocker.1.in (NETWORKS, SESSIONS, EXAMPLES, FILES, ENVIRONMENT,
/// CONFIGURATION, SEE ALSO), and VERSION.
fn xdocker_man() -> Vec<u8> {
    let man = clap_mangen::Man::new(xdocker::cli::Args::command());
    let mut out = Vec::new();
    man.render_title(&mut out).expect("render");
    man.render_name_section(&mut out).expect("render");
    man.render_synopsis_section(&mut out).expect("render");
    man.render_description_section(&mut out).expect("render");
    man.render_options_section(&mut out).expect("render");
    out.extend_from_slice(b".SH \"SHOWS AND ACTIONS\"\n");
    out.extend_from_slice(roff_block(xdocker::cli::VERBS_HELP).as_bytes());
    out.extend_from_slice(docker_verbs_section().as_bytes());
    let sections = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/xdocker.1.in");
    out.extend(std::fs::read(&sections).expect("man/xdocker.1.in"));
    man.render_version_section(&mut out).expect("render");
    out
}

/// DOCKER-STYLE VERBS: each verb's usage and options, from its argument
/// definitions (the grammar's rules are in man/xdocker.1.in).
fn docker_verbs_section() -> String {
    let mut cmd = xdocker::docker_cli::command();
    cmd.build();
    let mut out = String::from(".SH \"DOCKER-STYLE VERBS\"\n");
    for verb in cmd.get_subcommands_mut() {
        let help = verb.render_help().to_string();
        let name = verb.get_name().to_string();
        out.push_str(&format!(".SS {name}\n"));
        out.push_str(&roff_block(&help));
        // Verbs of their own (network create, ...): each one's options.
        for sub in verb.get_subcommands_mut() {
            let help = sub.render_help().to_string();
            out.push_str(&format!(".SS \"{name} {}\"\n", sub.get_name()));
            out.push_str(&roff_block(&help));
        }
    }
    out
}

#[test]
fn man_page_is_generated_from_the_argument_definitions() {
    shipped_is_up_to_date("man/xdocker.1", &xdocker_man());
}

/// `--exit-fd` as roff writes it.
fn roff(text: &str) -> String {
    text.replace('-', "\\-")
}

/// An option's names as roff writes them, short first.
fn roff_names(o: &xdockerinit::args::OptionSpec) -> Vec<String> {
    o.short
        .iter()
        .chain(o.long.iter())
        .map(|n| roff(n))
        .collect()
}

/// man/xdockerinit.8 with its SYNOPSIS and OPTIONS sections made from
/// xdockerinit's option table (the rest of the page is prose).
fn xdockerinit_man(shipped: &str) -> String {
    use xdockerinit::args::OPTIONS;
    let mut synopsis = String::from(".SH SYNOPSIS\n.B xdockerinit\n");
    for o in OPTIONS.iter().filter(|o| !o.is_mode()) {
        let name = roff(o.long.or(o.short).expect("a name"));
        synopsis.push_str(&match o.value {
            Some(v) => format!(".RB [ {name}\n.IR {v} ]\n"),
            None => format!(".RB [ {name} ]\n"),
        });
    }
    for o in OPTIONS.iter().filter(|o| o.is_mode()) {
        let names = roff_names(o);
        synopsis.push_str(&format!(".br\n.B xdockerinit\n.BR {}\n", names.join(" | ")));
    }
    let mut options = String::from(".SH OPTIONS\n");
    for o in OPTIONS {
        let names = roff_names(o);
        let head = match o.value {
            Some(v) => format!(".BI {} \" {v}\"", names.join(", ")),
            None => format!(".BR {}", names.join(" \", \" ")),
        };
        options.push_str(&format!(".TP\n{head}\n{}\n", o.manual));
    }
    let section = |text: &str, start: &str, end: &str| -> (usize, usize) {
        let a = text
            .find(start)
            .unwrap_or_else(|| panic!("{start} in the page"));
        let b = a + text[a..]
            .find(end)
            .unwrap_or_else(|| panic!("{end} after {start}"));
        (a, b)
    };
    let (a, b) = section(shipped, ".SH SYNOPSIS\n", ".SH DESCRIPTION\n");
    let page = format!("{}{synopsis}{}", &shipped[..a], &shipped[b..]);
    let (a, b) = section(&page, ".SH OPTIONS\n", ".SH SEE ALSO\n");
    format!("{}{options}{}", &page[..a], &page[b..])
}

#[test]
fn xdockerinit_man_page_is_generated_from_its_option_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/xdockerinit.8");
    let shipped = std::fs::read_to_string(&path).expect("man/xdockerinit.8");
    let rendered = xdockerinit_man(&shipped);
    shipped_is_up_to_date("man/xdockerinit.8", rendered.as_bytes());
    for o in xdockerinit::args::OPTIONS {
        assert!(rendered.contains(&roff(o.long.or(o.short).expect("name"))));
    }
}

fn completion(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    if shell == clap_complete::Shell::Bash {
        return bash_completion();
    }
    let mut cmd = xdocker::docker_cli::completion_command();
    clap_complete::generate(shell, &mut cmd, "xdocker", &mut out);
    out
}

/// bash: clap's script of each grammar (an option's value, `-a create`,
/// would read as the verb `create` in one script of both), and `_xdocker`
/// choosing by the first word: a bare word is a Docker-style verb.
fn bash_completion() -> Vec<u8> {
    let script = |mut cmd: clap::Command, function: &str| {
        let mut out = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "xdocker", &mut out);
        String::from_utf8(out)
            .expect("utf-8")
            .replace("_xdocker()", &format!("{function}()"))
            .replace("-F _xdocker ", &format!("-F {function} "))
    };
    let mut text = script(xdocker::cli::Args::command(), "_xdocker_options");
    text.push_str(&script(xdocker::docker_cli::command(), "_xdocker_verbs"));
    text.push_str(
        "_xdocker() {\n    \
         if [[ ${COMP_CWORD} -ge 1 && -n ${COMP_WORDS[1]} && ${COMP_WORDS[1]} != -* ]]; then\n        \
         _xdocker_verbs \"$@\"\n    \
         else\n        \
         _xdocker_options \"$@\"\n    \
         fi\n\
         }\n\n\
         if [[ \"${BASH_VERSINFO[0]}\" -eq 4 && \"${BASH_VERSINFO[1]}\" -ge 4 || \"${BASH_VERSINFO[0]}\" -gt 4 ]]; then\n    \
         complete -F _xdocker -o nosort -o bashdefault -o default xdocker\n\
         else\n    \
         complete -F _xdocker -o bashdefault -o default xdocker\n\
         fi\n",
    );
    text.into_bytes()
}

#[test]
fn shell_completions_are_generated_from_the_argument_definitions() {
    shipped_is_up_to_date(
        "completions/xdocker.bash",
        &completion(clap_complete::Shell::Bash),
    );
    shipped_is_up_to_date(
        "completions/_xdocker",
        &completion(clap_complete::Shell::Zsh),
    );
}

/// What bash offers after `xdocker WORDS` with the shipped completion.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/xdocker.bash");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prev = if words.len() >= 2 {
        words[words.len() - 2]
    } else {
        ""
    };
    let program = format!(
        "source '{}'; COMP_WORDS=(xdocker {}); COMP_CWORD={}; COMP_LINE=\"xdocker {}\"; COMP_POINT=${{#COMP_LINE}}; \
         _xdocker xdocker '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len(),
        words.join(" "),
        words.last().copied().unwrap_or(""),
        if words.len() >= 2 { prev } else { "xdocker" },
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("bash");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_shows_actions_and_options() {
    let actions = bash_completes(&["-a", "to_"]);
    assert!(
        actions.contains(&"to_image".to_string()) && actions.contains(&"to_container".to_string()),
        "{actions:?}"
    );
    assert!(bash_completes(&["-s", "in"]).contains(&"info".to_string()));
    assert!(bash_completes(&["--net", ""]).contains(&"BRIDGE".to_string()));
    assert!(bash_completes(&["-a", "create", "--auto"]).contains(&"--autostart".to_string()));
    // The Docker-style verbs and their options.
    let verbs = bash_completes(&["r"]);
    for verb in ["run", "restart", "rm", "rmi"] {
        assert!(verbs.contains(&verb.to_string()), "{verb}: {verbs:?}");
    }
    assert!(bash_completes(&["run", "--pub"]).contains(&"--publish".to_string()));
    assert!(bash_completes(&["ps", "--for"]).contains(&"--format".to_string()));
}

#[test]
fn zsh_completion_is_valid_zsh_offering_every_action() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/_xdocker");
    let out = Command::new("zsh")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("zsh (scripts/install_deps.sh installs it)");
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&script).expect("read");
    for action in ["to_image", "autostart", "rplfile"] {
        assert!(text.contains(action), "{action} missing from _xdocker");
    }
    for verb in ["run", "exec", "logs", "unpause"] {
        assert!(
            text.contains(&format!("'{verb}:")),
            "verb {verb} missing from _xdocker"
        );
    }
}

#[test]
fn systemd_unit_runs_autostart_and_passes_systemd_analyze_verify() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit =
        std::fs::read_to_string(top.join("systemd/xdocker-autostart.service")).expect("unit");
    // Installed as install.sh does it, into a prefix holding the binary and
    // the manual (verify checks both ExecStart/ExecStop and Documentation).
    let prefix = tempfile::tempdir().expect("tempdir");
    let bin = prefix.path().join("bin");
    let man1 = prefix.path().join("share/man/man1");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::create_dir_all(&man1).expect("mkdir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xdocker"), bin.join("xdocker")).expect("link");
    std::fs::copy(top.join("man/xdocker.1"), man1.join("xdocker.1")).expect("copy");
    let rendered = unit
        .replace("@PREFIX@", &prefix.path().display().to_string())
        .replace("@XDOCKER_HOME@", "/var/xdocker");
    assert!(
        !rendered.contains('@'),
        "every placeholder filled: {rendered}"
    );
    let path = prefix.path().join("xdocker-autostart.service");
    std::fs::write(&path, &rendered).expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .env("MANPATH", prefix.path().join("share/man"))
        .output()
        .expect("systemd-analyze (package systemd)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Its commands are ones xdocker accepts.
    for key in ["ExecStart=", "ExecStop="] {
        let line = rendered
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} missing"));
        let argv: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(argv[0], bin.join("xdocker").display().to_string());
        let request = xdocker::cli::Request::from_args(argv.clone());
        assert!(
            matches!(request, Ok(xdocker::cli::Request::Run { .. })),
            "{line}: {request:?}"
        );
        assert_eq!(argv[1..3], ["-a", "autostart"], "{line}");
    }
}
