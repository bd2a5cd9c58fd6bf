//! The Docker-style command line against real containers (root): each
//! verb's effect and exit code (a table run in order), `run --rm` with a
//! command, `run -d` with a published port, `run -it` through tmux, `cp`
//! both ways, `ps --format json`, the image verbs, and options of the
//! other grammar refused in one line naming the verb and the option.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{Run, RuntimeHome};

/// xdocker with the test home; arguments as given.
fn x(h: &RuntimeHome, args: &[&str]) -> Run {
    h.run_in(None, args)
}

/// The names `ps -a -q` lists.
fn names(h: &RuntimeHome) -> Vec<String> {
    x(h, &["ps", "-a", "-q"])
        .ok()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The `ps -a --format json` object of container `name`.
fn ps_entry(h: &RuntimeHome, name: &str) -> serde_json::Value {
    let out = x(h, &["ps", "-a", "--format", "json"]).ok().to_string();
    out.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("one JSON object a line"))
        .find(|v| v["Names"] == name)
        .unwrap_or_else(|| panic!("{name} not in ps: {out}"))
}

/// What a step checks besides its exit code.
enum Want {
    /// stdout is exactly this.
    Out(&'static str),
    /// stdout holds this.
    Holds(&'static str),
    /// The one error line holds this.
    Error(&'static str),
    /// The container's `ps` STATUS starts with this.
    Status(&'static str, &'static str),
    /// The container is gone.
    Gone(&'static str),
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn each_verb_has_its_effect_and_exit_code() {
    let h = RuntimeHome::with_test_image();
    let dir = h.home.scratch("files");
    std::fs::write(dir.join("in.txt"), "from the host\n").expect("write");
    let file = |name: &str| dir.join(name).display().to_string();
    let (in_txt, out_txt) = (file("in.txt"), file("hostname.txt"));
    let (saved, exported) = (file("snap.xdockerimage"), file("bg.xdockerimage"));
    let steps: Vec<(Vec<&str>, i32, Want)> = vec![
        // run: a command in the foreground, its exit code ours.
        (
            vec!["run", "--rm", "-e", "A=1", "test", "sh", "-c", "echo $A; exit 3"],
            3,
            Want::Out("1\n"),
        ),
        (vec!["run", "-d", "--name", "web", "-p", "18080:80", "test"], 0, Want::Out("web\n")),
        (vec!["ps"], 0, Want::Holds("0.0.0.0:18080->80/tcp")),
        (vec!["ps"], 0, Want::Status("web", "Up ")),
        // exec: the command's exit code and output; its own user,
        // directory and variables; 127 for a program not found.
        (vec!["exec", "web", "sh", "-c", "hostname; exit 4"], 4, Want::Out("web\n")),
        (
            vec!["exec", "-u", "nobody", "-w", "/tmp", "-e", "Z=9", "web", "sh", "-c", "id -u; pwd; echo $Z"],
            0,
            Want::Out("65534\n/tmp\n9\n"),
        ),
        (vec!["exec", "web", "no-such-program"], 127, Want::Error("no such file or directory")),
        (vec!["exec", "ghost", "true"], 125, Want::Error("container ghost not found")),
        // A main process in the background: its output is the log.
        (
            vec!["run", "-d", "--name", "bg", "test", "sh", "-c", "echo out; echo err >&2; exec sleep 300"],
            0,
            Want::Out("bg\n"),
        ),
        (vec!["top", "web"], 0, Want::Holds("xdockerinit")),
        (vec!["top", "bg"], 0, Want::Holds("sleep 300")),
        (vec!["pause", "web"], 0, Want::Out("web\n")),
        (vec!["ps"], 0, Want::Status("web", "Paused")),
        (vec!["unpause", "web"], 0, Want::Out("web\n")),
        // cp both ways.
        (vec!["cp", in_txt.as_str(), "web:/root/in.txt"], 0, Want::Out("")),
        (vec!["exec", "web", "cat", "/root/in.txt"], 0, Want::Out("from the host\n")),
        (vec!["cp", "web:/etc/hostname", out_txt.as_str()], 0, Want::Out("")),
        (vec!["inspect", "web"], 0, Want::Holds("\"container_id\": \"web\"")),
        (vec!["inspect", "test"], 0, Want::Holds("\"image\": \"test:_\"")),
        // stop, restart, kill, rm.
        (vec!["stop", "-t", "5", "web"], 0, Want::Out("web\n")),
        (vec!["ps", "-a"], 0, Want::Status("web", "Exited (")),
        (vec!["restart", "web"], 0, Want::Out("web\n")),
        (vec!["ps"], 0, Want::Status("web", "Up ")),
        (vec!["kill", "web"], 0, Want::Out("web\n")),
        (vec!["rm", "web"], 0, Want::Out("web\n")),
        (vec!["ps", "-a"], 0, Want::Gone("web")),
        // create and start: the stored command is the main process.
        (vec!["create", "--name", "job", "test", "sh", "-c", "exit 6"], 0, Want::Out("job\n")),
        (vec!["ps", "-a"], 0, Want::Status("job", "Created")),
        (vec!["start", "-a", "job"], 6, Want::Out("")),
        (vec!["ps", "-a"], 0, Want::Status("job", "Exited (6)")),
        (vec!["rm", "job"], 0, Want::Out("job\n")),
        // Images: commit, tag, save, rmi, load, export, import.
        (vec!["commit", "bg", "snap:1"], 0, Want::Out("snap:1\n")),
        (vec!["tag", "snap:1", "snap2"], 0, Want::Out("")),
        (vec!["images", "-q"], 0, Want::Holds("snap2:_\n")),
        (vec!["save", "snap:1", "-o", saved.as_str()], 0, Want::Out("")),
        (vec!["rmi", "snap:1"], 0, Want::Out("Deleted: snap:1\n")),
        (vec!["load", "-i", saved.as_str()], 0, Want::Out("Loaded image: snap:1\n")),
        (vec!["export", "bg", "-o", exported.as_str()], 0, Want::Out("")),
        (vec!["import", exported.as_str(), "bgimg:1"], 0, Want::Out("bgimg:1\n")),
        (vec!["rmi", "snap:1", "snap2", "bgimg:1"], 0, Want::Holds("Deleted: bgimg:1")),
        (vec!["rm", "bg"], 125, Want::Error("is running")),
        (vec!["rm", "-f", "bg"], 0, Want::Out("bg\n")),
        // The other grammar's options, and this grammar's in the other.
        (
            vec!["run", "--net", "BRIDGE", "test"],
            125,
            Want::Error("run: unknown option '--net', an option of the -s/-a grammar"),
        ),
        (
            vec!["-a", "create", "-m", "test", "--name", "x"],
            2,
            Want::Error("-a create: unexpected argument '--name' found (an option of the Docker-style verbs"),
        ),
        (vec!["frobnicate"], 125, Want::Error("unknown verb 'frobnicate'")),
    ];
    for (args, code, want) in &steps {
        let r = x(&h, args);
        assert_eq!(r.code, *code, "{args:?}: {r:?}");
        match want {
            Want::Out(text) => assert_eq!(r.stdout, *text, "{args:?}: {r:?}"),
            Want::Holds(text) => assert!(r.stdout.contains(text), "{args:?}: {r:?}"),
            Want::Error(text) => {
                r.fails(*code, text);
            }
            Want::Status(name, status) => {
                let entry = ps_entry(&h, name);
                assert!(
                    entry["Status"]
                        .as_str()
                        .is_some_and(|s| s.starts_with(status)),
                    "{args:?}: {name}: {entry}"
                );
            }
            Want::Gone(name) => assert!(!names(&h).contains(&name.to_string()), "{args:?}"),
        }
    }
    assert_eq!(
        std::fs::read_to_string(&out_txt).expect("copied out"),
        "web\n"
    );
    assert!(names(&h).is_empty(), "{:?}", names(&h));
    assert!(!Path::new(&h.home.path().join("containers/web")).exists());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn logs_ps_json_names_and_both_grammars() {
    let h = RuntimeHome::with_test_image();
    // A generated name, printed with -d: adjective_noun.
    let name = x(
        &h,
        &[
            "run",
            "-d",
            "test",
            "sh",
            "-c",
            "echo out; echo err >&2; exec sleep 300",
        ],
    )
    .ok()
    .trim()
    .to_string();
    let (adjective, noun) = name.split_once('_').expect("adjective_noun");
    assert!(adjective.chars().all(|c| c.is_ascii_lowercase()), "{name}");
    assert!(noun.chars().all(|c| c.is_ascii_lowercase()), "{name}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let logs = loop {
        let r = x(&h, &["logs", &name]);
        if (r.stdout.contains("out") && r.stderr.contains("err")) || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(logs.stdout.lines().any(|l| l == "out"), "{logs:?}");
    assert!(logs.stderr.lines().any(|l| l == "err"), "{logs:?}");
    let ts = x(&h, &["logs", "-t", "--tail", "1", &name]);
    assert!(
        ts.code == 0 && ts.stdout.lines().count() + ts.stderr.lines().count() == 1,
        "{ts:?}"
    );

    // ps --format json: one object a line, Docker's keys.
    let entry = ps_entry(&h, &name);
    assert_eq!(entry["Image"], "test:_");
    assert_eq!(entry["State"], "running");
    assert!(
        entry["Command"]
            .as_str()
            .is_some_and(|c| c.contains("sleep 300")),
        "{entry}"
    );
    assert!(
        entry["Status"]
            .as_str()
            .is_some_and(|s| s.starts_with("Up")),
        "{entry}"
    );

    // Every container shows in both grammars, and either works on it.
    x(&h, &["-a", "create", "-m", "test", "-c", "orig"]).ok();
    assert!(names(&h).contains(&"orig".to_string()));
    assert_eq!(ps_entry(&h, "orig")["Status"], "Created");
    let listed = x(&h, &["-s", "containers"]).ok().to_string();
    assert!(listed.contains(&name), "{listed}");
    x(&h, &["start", "orig"]).ok();
    x(&h, &["-a", "shutdown", "-c", "orig"]).ok();
    x(&h, &["-a", "kill", "-c", &name]).ok();
    assert!(ps_entry(&h, &name)["Status"]
        .as_str()
        .is_some_and(|s| s.starts_with("Exited")));
    x(&h, &["rm", "orig", &name]).ok();

    // Only -i gives the main process stdin.
    let fed = |args: &[&str]| {
        let mut child = std::process::Command::new(common::bin())
            .args(args)
            .env("XDOCKER_HOME", h.home.path())
            .env("XDOCKER_INIT", common::static_init())
            .env("XDOCKER_SHARE_DIR", env!("CARGO_MANIFEST_DIR"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("xdocker");
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"fed\n").expect("write");
        drop(stdin);
        let out = child.wait_with_output().expect("wait");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(
        fed(&["run", "--rm", "-i", "test", "cat"]),
        (Some(0), "fed\n".to_string())
    );
    assert_eq!(
        fed(&["run", "--rm", "test", "cat"]),
        (Some(0), String::new())
    );

    // A --rm container in the background goes once its command ends.
    let gone = x(&h, &["run", "-d", "--rm", "test", "true"])
        .ok()
        .trim()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while names(&h).contains(&gone) {
        assert!(Instant::now() < deadline, "{gone} still there");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(names(&h).is_empty(), "{:?}", names(&h));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn run_it_gives_the_command_the_terminal() {
    common::needs_root();
    let h = RuntimeHome::with_test_image();
    let tmux = Tmux::start(&h, 100, 30);
    tmux.line("xdocker run -it --rm --name tty -w /tmp test sh");
    tmux.wait_for("the container's prompt", |s| {
        s.lines().any(|l| l.starts_with("/tmp #"))
    });
    assert_eq!(tmux.ask("size", "stty size | tr ' ' x"), "30x100");
    assert_eq!(tmux.ask("host", "hostname"), "tty");
    tmux.line("exit 5");
    tmux.wait_for("the host prompt", |s| {
        s.lines()
            .rfind(|l| !l.trim().is_empty())
            .is_some_and(|l| l.starts_with("host$"))
    });
    assert_eq!(tmux.ask("rc", "echo $?"), "5");
    assert!(names(&h).is_empty(), "--rm: {:?}", names(&h));
}
