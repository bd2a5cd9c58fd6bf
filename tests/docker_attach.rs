//! Docker's terminal main process (root, through tmux): `run -it CMD`
//! attaches to CMD's terminal, which xdockerinit keeps; `Ctrl-a q`
//! detaches with the container running on, `attach` comes back to the same
//! process (its window size following the client's), and the main
//! process's exit code ends the attached client; `run -dit` with no client
//! at all, then `attach`; the output in `logs` too; `create -t` + `start
//! -a`, and `attach` of it booted by `-a boot -e` (a shell); `run -dt
//! --rm` removed at its main process's end.

mod common;

use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::RuntimeHome;

/// The `ps -a` STATUS of container `name`, "" when it is not listed.
fn status(h: &RuntimeHome, name: &str) -> String {
    let out = h.run_in(None, ["ps", "-a", "--format", "json"]);
    out.ok()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["Names"] == name)
        .map(|v| v["Status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// Waits for the host shell's prompt on the last line of the screen.
fn host_prompt(tmux: &Tmux) -> String {
    tmux.wait_for("the host prompt", |s| {
        s.lines()
            .rfind(|l| !l.trim().is_empty())
            .is_some_and(|l| l.starts_with("host$"))
    })
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn run_it_detaches_and_attach_comes_back_to_the_same_shell() {
    common::needs_root();
    let h = RuntimeHome::with_test_image();
    let tmux = Tmux::start(&h, 100, 30);
    tmux.line("xdocker run -it --name t test sh");
    tmux.wait_for("the container's prompt", |s| {
        s.lines().any(|l| l.starts_with("/ #"))
    });
    tmux.line("V=kept-$((6*7))");
    assert_eq!(tmux.ask("v", "echo $V"), "kept-42");
    assert_eq!(tmux.ask("size", "stty size | tr ' ' x"), "30x100");
    tmux.keys(&["C-a", "q"]);
    tmux.wait_for("the detach line", |s| s.contains("[detached from t]"));
    host_prompt(&tmux);
    assert_eq!(tmux.ask("rc", "echo $?"), "0");
    assert!(status(&h, "t").starts_with("Up"), "{}", status(&h, "t"));

    tmux.line("xdocker attach t");
    // Attached: the last output of the shell is shown again first.
    tmux.wait_for("the output before the detach", |s| {
        s.lines().any(|l| l.starts_with("M-size-30x100-E"))
    });
    // The same shell: the variable set before detaching is still set.
    assert_eq!(tmux.ask("again", "echo $V"), "kept-42");
    tmux.resize(90, 20);
    assert_eq!(tmux.ask("resized", "stty size | tr ' ' x"), "20x90");
    tmux.line("exit 4");
    host_prompt(&tmux);
    assert_eq!(tmux.ask("rc2", "echo $?"), "4");
    let st = status(&h, "t");
    assert!(st.starts_with("Exited (4)"), "{st}");
    // What the shell printed is in the log as well.
    let logs = h.run_in(None, ["logs", "t"]);
    assert!(logs.ok().contains("M-v-kept-42-E"), "{logs:?}");
    h.run_in(None, ["rm", "t"]).ok();
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn run_dit_needs_no_client_then_attach() {
    common::needs_root();
    let h = RuntimeHome::with_test_image();
    let out = h.run_in(None, ["run", "-dit", "--name", "d", "test", "sh"]);
    assert_eq!(out.ok(), "d\n");
    assert!(status(&h, "d").starts_with("Up"), "{}", status(&h, "d"));
    let tmux = Tmux::start(&h, 80, 24);
    tmux.line("xdocker attach d");
    // The prompt printed before anyone attached is shown first.
    tmux.wait_for("the container's prompt", |s| {
        s.lines().any(|l| l.starts_with("/ #"))
    });
    assert_eq!(tmux.ask("in", "hostname"), "d");
    tmux.keys(&["C-a", "q"]);
    tmux.wait_for("the detach line", |s| s.contains("[detached from d]"));
    host_prompt(&tmux);
    assert!(status(&h, "d").starts_with("Up"), "{}", status(&h, "d"));
    let logs = h.run_in(None, ["logs", "d"]);
    assert!(logs.ok().contains("M-in-d-E"), "{logs:?}");
    // (An interactive sh ignores TERM: `stop` would wait its 10 s.)
    h.run_in(None, ["rm", "-f", "d"]).ok();

    // create -t, then start -a: on its terminal, its exit code ours (no
    // terminal here: the output relayed, stdin /dev/null without -i).
    h.run_in(
        None,
        [
            "create",
            "-t",
            "--name",
            "c",
            "test",
            "sh",
            "-c",
            "tty; exit 6",
        ],
    )
    .ok();
    let out = h.run_in(None, ["start", "-a", "c"]);
    assert_eq!(out.code, 6, "{out:?}");
    assert!(out.stdout.starts_with("/dev/pts/"), "{out:?}");
    assert!(
        status(&h, "c").starts_with("Exited (6)"),
        "{}",
        status(&h, "c")
    );

    // The same container booted by the original grammar's `-a boot -e`
    // (the caller's terminal, none kept): attach opens a shell instead.
    std::thread::scope(|s| {
        let boot = s.spawn(|| h.run_in(None, ["-a", "boot", "-c", "c", "-e", "sleep 3"]));
        let deadline = Instant::now() + Duration::from_secs(15);
        while !status(&h, "c").starts_with("Up") {
            assert!(Instant::now() < deadline, "c: {}", status(&h, "c"));
            std::thread::sleep(Duration::from_millis(100));
        }
        // (The shell is hung up when the container stops.)
        let out = h.run_in(None, ["attach", "c"]);
        assert!(out.stdout.contains("root@c:"), "a shell's prompt: {out:?}");
        assert_eq!(boot.join().expect("boot").code, 0);
    });
    h.run_in(None, ["rm", "c"]).ok();

    // -t without a client, --rm: removed once its main process ended.
    let out = h.run_in(
        None,
        [
            "run",
            "-dt",
            "--rm",
            "--name",
            "r",
            "test",
            "sh",
            "-c",
            "echo out; exit 3",
        ],
    );
    assert_eq!(out.ok(), "r\n");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !status(&h, "r").is_empty() {
        assert!(
            Instant::now() < deadline,
            "r still there: {}",
            status(&h, "r")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
