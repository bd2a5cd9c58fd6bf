//! The console log of real containers (root): what the `-e` main process
//! writes on stdout and stderr and what is written to /dev/console, across
//! boots, rotated, read back with `-s logs` (`--tail`, `--since`,
//! `--follow`, `--json`), gone with the container.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, RuntimeHome};

fn xdocker(h: &RuntimeHome) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.env("XDOCKER_HOME", h.home.path())
        .env_remove("xdocker_HOME")
        .env("XDOCKER_INIT", common::static_init())
        .current_dir(h.home.path())
        .stdin(Stdio::null());
    cmd
}

/// Runs xdocker with these arguments (not split: commands have spaces).
fn run(h: &RuntimeHome, args: &[&str]) -> Run {
    h.run_in(None, args)
}

/// `[logs]` settings for the home's next boots.
fn set_logs(h: &RuntimeHome, max_size: &str, max_files: u32) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(h.home.path().join("xdocker.toml"))
        .expect("open xdocker.toml");
    writeln!(
        f,
        "[logs]\nmax_size = \"{max_size}\"\nmax_files = {max_files}"
    )
    .expect("write");
}

fn log_dir(h: &RuntimeHome, name: &str) -> PathBuf {
    h.home.path().join("containers").join(name).join("log")
}

/// (file name, size) of the log's files, sorted by name.
fn log_files(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                    (e.file_name().to_string_lossy().into_owned(), size)
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The records of `-s logs --json`: (stream, log).
fn json_records(h: &RuntimeHome, name: &str) -> Vec<(String, String)> {
    let r = run(h, &["-s", "logs", "-c", name, "--json"]);
    r.ok()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json record");
            assert!(
                v["time"]
                    .as_str()
                    .is_some_and(|t| t.len() == 30 && t.ends_with('Z')),
                "{l}"
            );
            (
                v["stream"].as_str().expect("stream").to_string(),
                v["log"].as_str().expect("log").to_string(),
            )
        })
        .collect()
}

/// Waits for `child` at most `limit`; kills it and fails when it is late.
fn wait_for(child: &mut Child, what: &str, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads `pipe` on a thread until it ends.
fn collect(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = pipe.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn both_streams_across_two_boots_are_kept_apart_with_markers() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c two").ok();
    let r = run(
        &h,
        &[
            "-a",
            "boot",
            "-c",
            "two",
            "-e",
            "echo out1; echo err1 >&2; echo out2",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    // The main process's output still reaches the caller, stream by stream.
    assert_eq!(r.stdout, "out1\nout2\n");
    assert_eq!(r.stderr, "err1\n");
    let r = run(
        &h,
        &["-a", "boot", "-c", "two", "-e", "echo second; exit 3"],
    );
    assert_eq!(r.code, 3, "{r:?}");
    let r = run(&h, &["-s", "logs", "-c", "two"]);
    assert_eq!(
        r.ok(),
        "-- boot -e echo out1; echo err1 >&2; echo out2 --\nout1\nout2\n\
         -- stop: exit code 0 --\n-- boot -e echo second; exit 3 --\nsecond\n\
         -- stop: exit code 3 --\n"
    );
    assert_eq!(r.stderr, "err1\n", "stderr records go to stderr");
    let records = json_records(&h, "two");
    assert!(
        records.contains(&("stderr".into(), "err1\n".into())),
        "{records:?}"
    );
    assert!(
        records.contains(&("stdout".into(), "out2\n".into())),
        "{records:?}"
    );
    assert_eq!(
        records
            .iter()
            .filter(|(s, l)| s == "xdocker" && l.starts_with("boot"))
            .count(),
        2
    );
    // --timestamps: each line starts with its RFC 3339 time, of this test.
    let started = chrono::Utc::now() - chrono::Duration::minutes(5);
    let r = run(&h, &["-s", "logs", "-c", "two", "--timestamps"]);
    for line in r.ok().lines() {
        let (time, rest) = line.split_once(' ').expect("time first");
        let t = chrono::DateTime::parse_from_rfc3339(time).expect(line);
        assert!(t > started && t <= chrono::Utc::now(), "{line}");
        assert!(!rest.is_empty());
    }
    // The log outlives the stop; -s info tells where it is.
    let info = h.run("-s info -c two --json");
    let v: serde_json::Value = serde_json::from_str(info.ok()).expect("info json");
    assert_eq!(v["log"]["files"], 1);
    assert!(v["log"]["bytes"].as_u64().unwrap_or(0) > 100, "{v}");
    assert_eq!(v["log"]["max_files"], 5);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn rotation_keeps_the_newest_records_within_max_size_times_max_files() {
    let h = RuntimeHome::with_test_image();
    set_logs(&h, "64K", 3);
    h.run("-a create -m test -c rot").ok();
    let script = "i=0; while [ $i -lt 6000 ]; do echo \"line $i of the rotation test\"; \
                  i=$((i+1)); done";
    let r = run(&h, &["-a", "boot", "-c", "rot", "-e", script]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 6000, "all of it reached stdout");
    let files = log_files(&log_dir(&h, "rot"));
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["console.0", "console.1", "console.2"]);
    for (name, size) in &files {
        assert!(*size <= 64 << 10, "{name}: {size}");
    }
    // The newest records, in order, none lost between the files.
    let r = run(&h, &["-s", "logs", "-c", "rot"]);
    let numbers: Vec<u32> = r
        .ok()
        .lines()
        .filter_map(|l| l.strip_prefix("line ")?.split(' ').next()?.parse().ok())
        .collect();
    let first = numbers[0];
    assert!(first > 0, "the oldest were rotated away");
    assert_eq!(numbers, (first..6000).collect::<Vec<_>>());
    assert!(r
        .ok()
        .ends_with("line 5999 of the rotation test\n-- stop: exit code 0 --\n"));
    // --tail reads from the end, across files.
    let r = run(&h, &["-s", "logs", "-c", "rot", "--tail", "2"]);
    assert_eq!(
        r.ok(),
        "line 5999 of the rotation test\n-- stop: exit code 0 --\n"
    );
    let r = run(&h, &["-s", "logs", "-c", "rot", "--tail", "2000"]);
    assert_eq!(r.ok().lines().count(), 2000);
    assert!(r.ok().starts_with("line 4001 of"), "{}", &r.ok()[..40]);
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn tail_and_since_choose_records() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c ts").ok();
    run(&h, &["-a", "boot", "-c", "ts", "-e", "echo first"]).ok();
    std::thread::sleep(Duration::from_millis(1100));
    let between = chrono::Utc::now().to_rfc3339();
    std::thread::sleep(Duration::from_millis(100));
    run(&h, &["-a", "boot", "-c", "ts", "-e", "echo second"]).ok();
    let logs = |extra: &[&str]| {
        let mut args = vec!["-s", "logs", "-c", "ts"];
        args.extend_from_slice(extra);
        run(&h, &args).ok().to_string()
    };
    assert_eq!(logs(&["--tail", "0"]), "");
    assert_eq!(logs(&["--tail", "1"]), "-- stop: exit code 0 --\n");
    assert_eq!(logs(&["--tail", "all"]).lines().count(), 6);
    assert_eq!(
        logs(&["--since", &between]),
        "-- boot -e echo second --\nsecond\n-- stop: exit code 0 --\n"
    );
    assert_eq!(
        logs(&["--since", &between, "--tail", "2"]),
        "second\n-- stop: exit code 0 --\n"
    );
    assert_eq!(logs(&["--since", "1h"]).lines().count(), 6);
    assert_eq!(logs(&["--since", "2099-01-01T00:00:00Z"]), "");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn follow_prints_new_records_and_ends_when_the_container_stops() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c fol").ok();
    h.run("-a boot -c fol").ok();
    let mut follow = xdocker(&h)
        .args(["-s", "logs", "-c", "fol", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn follow");
    let out = collect(follow.stdout.take().expect("stdout"));
    std::thread::sleep(Duration::from_millis(300));
    run(
        &h,
        &[
            "-a",
            "run",
            "-c",
            "fol",
            "--cmd",
            "echo while-following > /dev/console",
        ],
    )
    .ok();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        follow.try_wait().expect("try_wait").is_none(),
        "still following"
    );
    h.run("-a shutdown -c fol").ok();
    let status = wait_for(&mut follow, "--follow", Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert_eq!(
        out.join().expect("reader"),
        "-- boot --\nwhile-following\n-- stop: exit code 0 --\n"
    );
    // Of a stopped container: the log, then the end.
    let mut follow = xdocker(&h)
        .args(["-s", "logs", "-c", "fol", "--follow", "--tail", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn follow");
    let out = collect(follow.stdout.take().expect("stdout"));
    wait_for(
        &mut follow,
        "--follow of a stopped container",
        Duration::from_secs(5),
    );
    assert_eq!(out.join().expect("reader"), "-- stop: exit code 0 --\n");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn follow_of_a_main_process_goes_on_across_rotations() {
    let h = RuntimeHome::with_test_image();
    set_logs(&h, "64K", 2);
    h.run("-a create -m test -c rotf").ok();
    let script = "i=0; while [ $i -lt 3000 ]; do echo \"record $i of a followed log\"; \
                  i=$((i+1)); [ $((i % 500)) = 0 ] && sleep 0.2; done";
    let mut main = xdocker(&h)
        .args(["-a", "boot", "-c", "rotf", "-e", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("boot -e");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(log_dir(&h, "rotf").join("console.0")).map_or(true, |m| m.len() == 0)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut follow = xdocker(&h)
        .args(["-s", "logs", "-c", "rotf", "--follow", "--tail", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn follow");
    let out = collect(follow.stdout.take().expect("stdout"));
    wait_for(&mut main, "the main process", Duration::from_secs(60));
    wait_for(&mut follow, "--follow", Duration::from_secs(10));
    let out = out.join().expect("reader");
    let numbers: Vec<u32> = out
        .lines()
        .filter_map(|l| l.strip_prefix("record ")?.split(' ').next()?.parse().ok())
        .collect();
    // Whatever it started with, nothing after that was lost or doubled,
    // though the log rotated many times meanwhile.
    assert!(!numbers.is_empty(), "{out}");
    let first = numbers[0];
    assert_eq!(numbers, (first..3000).collect::<Vec<_>>());
    assert!(out.ends_with("-- stop: exit code 0 --\n"), "{out}");
}

/// `echo x > /dev/console` of a `run` command is logged as the console
/// stream, unprivileged (the default) and privileged.
fn console_of_run(userns: &str) {
    let h = RuntimeHome::with_test_image();
    let name = format!("con-{userns}");
    run(
        &h,
        &[
            "-a", "create", "-m", "test", "-c", &name, "--userns", userns,
        ],
    )
    .ok();
    run(&h, &["-a", "boot", "-c", &name]).ok();
    let r = run(
        &h,
        &[
            "-a",
            "run",
            "-c",
            &name,
            "--cmd",
            "echo to the console > /dev/console && printf 'no newline' > /dev/console && \
             stat -c '%u %a %t' /dev/console",
        ],
    );
    // Root's own, 0600, a pty (major 136).
    assert_eq!(r.ok(), "0 600 88\n", "{r:?}");
    h.run(&format!("-a shutdown -c {name}")).ok();
    let records = json_records(&h, &name);
    assert_eq!(
        records,
        [
            ("xdocker".to_string(), "boot\n".to_string()),
            ("console".to_string(), "to the console\n".to_string()),
            ("console".to_string(), "no newline".to_string()),
            ("xdocker".to_string(), "stop: exit code 0\n".to_string()),
        ]
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn console_output_of_an_unprivileged_container_is_logged() {
    console_of_run("on");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn console_output_of_a_privileged_container_is_logged() {
    console_of_run("off");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_fast_writer_is_not_held_back_and_the_disk_stays_bounded() {
    let h = RuntimeHome::with_test_image();
    set_logs(&h, "64K", 2);
    h.run("-a create -m test -c fast").ok();
    const BYTES: usize = 20 << 20;
    let mut main = xdocker(&h)
        .args([
            "-a",
            "boot",
            "-c",
            "fast",
            "-e",
            &format!("yes | head -c {BYTES}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("boot -e");
    // Ten million two-byte lines, each a record of its own.
    let out = main.stdout.take().expect("stdout");
    let counted = std::thread::spawn(move || {
        let mut out = out;
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0;
        while let Ok(got) = out.read(&mut buf) {
            if got == 0 {
                break;
            }
            n += got;
        }
        n
    });
    let status = wait_for(&mut main, "the fast writer", Duration::from_secs(120));
    assert!(status.success(), "{status}");
    assert_eq!(
        counted.join().expect("reader"),
        BYTES,
        "every byte reached stdout"
    );
    let files = log_files(&log_dir(&h, "fast"));
    let total: u64 = files.iter().map(|(_, s)| s).sum();
    assert!(files.len() <= 2 && total <= 2 * (64 << 10), "{files:?}");
    let r = run(&h, &["-s", "logs", "-c", "fast", "--tail", "2"]);
    assert_eq!(r.ok(), "y\n-- stop: exit code 0 --\n");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_reader_that_goes_away_stops_the_main_process_as_before() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c pipe").ok();
    // `xdocker -a boot -e yes | head -1`: yes gets SIGPIPE, as without
    // the log, and the container stops.
    let mut main = xdocker(&h)
        .args(["-a", "boot", "-c", "pipe", "-e", "yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("boot -e");
    let mut out = main.stdout.take().expect("stdout");
    let mut first = [0u8; 2];
    out.read_exact(&mut first).expect("read");
    assert_eq!(&first, b"y\n");
    drop(out);
    let status = wait_for(
        &mut main,
        "yes with its reader gone",
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(128 + libc::SIGPIPE), "{status}");
}

/// Shell `line` run by `script` on a terminal of its own, with this home;
/// stdin and stdout piped (stdin must stay open: see the test below).
fn under_script(h: &RuntimeHome, line: &str, stderr: Stdio) -> Child {
    Command::new("script")
        .args(["-qec", line, "/dev/null"])
        .env("XDOCKER_HOME", h.home.path())
        .env("XDOCKER_INIT", common::static_init())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("script")
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_main_process_on_a_terminal_gets_a_pty_logged_as_stdout() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c tty").ok();
    let line = format!(
        "{} -a boot -c tty -e 'tty; echo to-out; echo to-err >&2; exit 5'",
        common::bin().display()
    );
    // script's stdin stays open: at its EOF script sends ^D into the
    // terminal, and one that lands before init puts the terminal in raw
    // mode is read back as a NUL key (echoed "^@" into the output).
    let mut script = under_script(&h, &line, Stdio::piped());
    let keys = script.stdin.take().expect("stdin");
    let r = script.wait_with_output().expect("script");
    drop(keys);
    let shown = String::from_utf8_lossy(&r.stdout).replace('\r', "");
    assert!(shown.contains("/dev/pts/"), "a terminal inside: {shown}");
    assert!(
        shown.contains("to-out\n") && shown.contains("to-err\n"),
        "{shown}"
    );
    let records = json_records(&h, "tty");
    let logs: Vec<(&str, &str)> = records
        .iter()
        .map(|(s, l)| (s.as_str(), l.as_str()))
        .collect();
    assert!(logs.contains(&("stdout", "to-out\n")), "{logs:?}");
    // Both on the one terminal: one pty, logged as stdout (docker run -t).
    assert!(logs.contains(&("stdout", "to-err\n")), "{logs:?}");
    assert!(
        logs.contains(&(
            "xdocker",
            "stderr shares the terminal of stdout: logged as stdout\n"
        )),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            // (script's end of input may be echoed before it.)
            .any(|(s, l)| *s == "stdout" && l.contains("/dev/pts/")),
        "{logs:?}"
    );
    assert_eq!(logs.last(), Some(&("xdocker", "stop: exit code 5\n")));
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn the_log_is_the_containers_not_its_images_and_goes_with_destroy() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c keep").ok();
    run(
        &h,
        &["-a", "boot", "-c", "keep", "-e", "echo kept; touch /made"],
    )
    .ok();
    assert!(log_dir(&h, "keep").join("console.0").is_file());
    run(
        &h,
        &[
            "-a",
            "to_image",
            "--from-container",
            "keep",
            "--to-image",
            "fromkeep",
        ],
    )
    .ok();
    // The image holds the container's files, not its log.
    let image = h.home.path().join("images/fromkeep");
    let mut stack = vec![image.clone()];
    let mut made = false;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read image").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with("console."), "{:?}", e.path());
            made |= name == "made";
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    assert!(made, "the image has the container's change");
    run(
        &h,
        &[
            "-a",
            "to_container",
            "--from-image",
            "fromkeep",
            "--to-container",
            "again",
        ],
    )
    .ok();
    assert_eq!(
        run(&h, &["-s", "logs", "-c", "again"]).ok(),
        "",
        "a new container, a new log"
    );
    run(&h, &["-a", "boot", "-c", "again", "-e", "echo again"]).ok();
    assert!(run(&h, &["-s", "logs", "-c", "again"])
        .ok()
        .contains("again\n"));
    h.run("-a destroy -c again").ok();
    assert!(!h.home.path().join("containers/again").exists());
    h.run("-s logs -c again")
        .fails(1, "container again not found");
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn bad_input_is_refused_in_one_line() {
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c bad").ok();
    h.run("-s logs -c bad --tail -1")
        .fails(2, "--tail '-1' is not a number of lines");
    run(
        &h,
        &[
            "-s",
            "logs",
            "-c",
            "bad",
            "--since",
            "yesterday-ish garbage",
        ],
    )
    .fails(2, "--since 'yesterday-ish garbage' is not a time");
    h.run("-s logs -c ghost")
        .fails(1, "container ghost not found");
    h.run("-s logs").fails(2, "-s logs needs -c/--container");
    h.run("-s logs -c bad --json --timestamps")
        .fails(2, "--timestamps and --json cannot be used together");
    // A bad [logs] setting stops the boot before anything is made.
    set_logs(&h, "1K", 2);
    h.run("-a boot -c bad")
        .fails(1, "[logs] max_size '1K' is below 64K");
    assert!(!log_dir(&h, "bad").exists());
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn on_a_terminal_keys_reach_the_main_process_and_the_terminal_is_restored() {
    use std::io::Write;
    let h = RuntimeHome::with_test_image();
    h.run("-a create -m test -c keys").ok();
    // Under script, stdin and stdout are one terminal in the foreground:
    // the main process gets a pty as its controlling terminal, the keys
    // are relayed (Ctrl-C included), the terminal's modes come back.
    let line = format!(
        "stty -g; {} -a boot -c keys -e 'read x; echo got $x; sleep 100'; echo rc=$?; stty -g",
        common::bin().display()
    );
    let mut script = under_script(&h, &line, Stdio::null());
    let out = collect(script.stdout.take().expect("stdout"));
    let mut keys = script.stdin.take().expect("stdin");
    let deadline = Instant::now() + Duration::from_secs(20);
    let init_runs = || {
        let state = h.home.path().join("containers/keys/state.toml");
        std::fs::read_to_string(state).is_ok_and(|s| s.contains("pid = "))
    };
    while !init_runs() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    keys.write_all(b"typed\n").expect("keys");
    std::thread::sleep(Duration::from_millis(500));
    keys.write_all(b"\x03").expect("ctrl-c");
    wait_for(&mut script, "script", Duration::from_secs(30));
    drop(keys);
    let shown = out.join().expect("reader").replace('\r', "");
    assert!(shown.contains("got typed\n"), "{shown:?}");
    assert!(
        shown.contains("rc=130\n"),
        "Ctrl-C reached sleep inside: {shown:?}"
    );
    let modes: Vec<&str> = shown
        .lines()
        .filter(|l| l.split(':').count() > 10)
        .collect();
    assert_eq!(modes.len(), 2, "{shown:?}");
    assert_eq!(modes[0], modes[1], "the terminal's modes are restored");
    let records = json_records(&h, "keys");
    assert!(
        records.contains(&("stdout".to_string(), "got typed\n".to_string())),
        "{records:?}"
    );
    assert_eq!(
        records.last(),
        Some(&("xdocker".to_string(), "stop: exit code 130\n".to_string()))
    );
}

#[test]
#[cfg_attr(xdocker_not_root, ignore = "needs root")]
fn a_restarted_main_process_is_captured_the_same_way() {
    let h = RuntimeHome::with_test_image();
    run(
        &h,
        &[
            "-a",
            "create",
            "-m",
            "test",
            "-c",
            "again",
            "--restart",
            "on-failure:2",
        ],
    )
    .ok();
    let r = run(
        &h,
        &[
            "-a",
            "boot",
            "-c",
            "again",
            "-e",
            "echo run; echo oops >&2; exit 1",
        ],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stdout, "run\nrun\nrun\n", "every run reaches the caller");
    assert_eq!(r.stderr, "oops\noops\noops\n");
    let records = json_records(&h, "again");
    let count = |stream: &str, log: &str| {
        records
            .iter()
            .filter(|(s, l)| s == stream && l == log)
            .count()
    };
    assert_eq!(count("stdout", "run\n"), 3, "{records:?}");
    assert_eq!(count("stderr", "oops\n"), 3, "{records:?}");
    let restarts: Vec<&str> = records
        .iter()
        .filter(|(s, l)| s == "xdocker" && l.starts_with("restart -e"))
        .map(|(_, l)| l.as_str())
        .collect();
    assert_eq!(
        restarts,
        [
            "restart -e (restart 1, the last run ended with exit code 1)\n",
            "restart -e (restart 2, the last run ended with exit code 1)\n"
        ]
    );
    assert_eq!(
        records.last(),
        Some(&("xdocker".to_string(), "stop: exit code 1\n".to_string()))
    );
}
