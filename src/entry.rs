//! One command from start to end, for both programs (`xdocker`, and
//! `xdocker-srepo` for the ssh repository): parse, open the home and its
//! log, dispatch, print, exit code. The only code that prints. A first
//! argument that is a bare word is a Docker-style verb
//! ([`xdocker::docker_cli`]), with Docker's exit codes; anything else is
//! the original `-s`/`-a` grammar.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use xdocker::cli::{Args, Request, Verb};
use xdocker::commands::{Ctx, Output};
use xdocker::config::Config;
use xdocker::container::ContainerStore;
use xdocker::docker_cli::{self, DockerRequest, DockerVerb};
use xdocker::home::Home;
use xdocker::image::ImageStore;
use xdocker::logging;
use xdocker::runtime::Runtime;

/// Exit code of a command line that cannot be run.
const EXIT_USAGE: i32 = 2;
/// Exit code of a command that failed.
const EXIT_FAILURE: i32 = 1;

/// Exit code of a Docker-style command that failed in xdocker (Docker's).
const EXIT_DOCKER_ERROR: i32 = 125;

/// Runs a checked request in this program.
pub type Dispatch = fn(&Ctx, Verb, &Args) -> anyhow::Result<Output>;

/// Runs a checked Docker-style request.
pub type DockerDispatch = fn(&Ctx, &DockerVerb) -> anyhow::Result<Output>;

/// Verbs this program leaves to a companion program, which is executed
/// with the same arguments before anything else is done.
pub struct Handoff {
    pub wants: fn(Verb) -> bool,
    pub env: &'static str,
    pub program: &'static str,
}

fn fail(code: i32, message: &str) -> i32 {
    // One line, whatever a lower layer's message looked like.
    let message: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let message = message.join(" ");
    logging::log(logging::Level::Error, &message);
    eprintln!("xdocker: error: {message}");
    code
}

/// Runs the command line of this process; returns the exit code.
/// `docker`: this program's Docker-style verbs, if it has them.
pub fn run(dispatch: Dispatch, docker: Option<DockerDispatch>, handoff: Option<Handoff>) -> i32 {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(docker) = docker.filter(|_| docker_cli::is_docker(&argv)) {
        return run_docker(docker, &argv);
    }
    let (verb, args) = match Request::from_args(argv.clone()) {
        Ok(Request::Help(text)) => {
            print!("{text}");
            return 0;
        }
        Ok(Request::PrintVersion) => {
            println!("xdocker v{}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Ok(Request::Run { verb, args }) => (verb, args),
        Err(e) => return fail(EXIT_USAGE, &e.to_string()),
    };
    if let Some(h) = handoff.filter(|h| (h.wants)(verb)) {
        return fail(
            EXIT_FAILURE,
            &xdocker::companion::exec(h.env, h.program, &argv[1..]),
        );
    }
    let ctx = match open(&argv, args.debug, args.force) {
        Ok(ctx) => ctx,
        Err(message) => return fail(EXIT_FAILURE, &message),
    };
    match dispatch(&ctx, verb, &args) {
        Ok(Output::Ok) => {
            logging::info("result: OK");
            println!("OK");
            0
        }
        Ok(Output::Done(what)) => {
            logging::info(&format!("result: OK: {what}"));
            println!("OK: {what}");
            0
        }
        Ok(Output::Exit(code)) => {
            logging::info(&format!("result: exit code {code}"));
            code
        }
        Ok(Output::Text(text)) => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = out.write_all(text.as_bytes());
            0
        }
        Ok(Output::Fail(code, message)) => fail(code, &message),
        Err(e) => fail(EXIT_FAILURE, &render(&e)),
    }
}

/// The home, its log and config, and the runtime over them.
fn open(argv: &[std::ffi::OsString], debug: bool, force: bool) -> Result<Ctx, String> {
    let home = Home::from_env().map_err(|e| e.to_string())?;
    logging::init(&home.log_path(), debug)
        .map_err(|e| format!("open log {}: {e}", home.log_path().display()))?;
    home.remove_stale_staging();
    let line: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    logging::info(&format!("command: xdocker {}", line.join(" ")));
    let config = Config::load(&home.config_path()).map_err(|e| e.to_string())?;
    let images = ImageStore::new(&home);
    let mut runtime = Runtime::new(ContainerStore::new(&home), images.clone(), config.clone());
    runtime.force = force;
    Ok(Ctx {
        runtime,
        images,
        home,
        config,
        force,
    })
}

/// A Docker-style command line: its verb's output, Docker's exit codes
/// (125 for an error of xdocker's, usage errors included).
fn run_docker(dispatch: DockerDispatch, argv: &[std::ffi::OsString]) -> i32 {
    let verb = match docker_cli::parse(argv) {
        Ok(DockerRequest::Help(text)) => {
            print!("{text}");
            return 0;
        }
        Ok(DockerRequest::Run(verb)) => verb,
        Err(e) => return fail(EXIT_DOCKER_ERROR, &e.to_string()),
    };
    let ctx = match open(argv, false, false) {
        Ok(ctx) => ctx,
        Err(message) => return fail(EXIT_DOCKER_ERROR, &message),
    };
    match dispatch(&ctx, &verb) {
        Ok(Output::Exit(code)) => {
            logging::info(&format!("result: exit code {code}"));
            code
        }
        Ok(Output::Text(text)) => {
            logging::info("result: OK");
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            0
        }
        Ok(Output::Ok | Output::Done(_)) => {
            logging::info("result: OK");
            0
        }
        Ok(Output::Fail(code, message)) => fail(code, &message),
        Err(e) => fail(EXIT_DOCKER_ERROR, &render(&e)),
    }
}

/// The error and its causes on one line, each cause once, OS errors as
/// plain lowercase words ("no such file or directory").
fn render(e: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
        .split(": ")
        .map(tidy_os_error)
        .collect::<Vec<_>>()
        .join(": ")
}

/// "No such file or directory (os error 2)" -> "no such file or directory".
fn tidy_os_error(part: &str) -> String {
    match part.find(" (os error ") {
        Some(i) if part.ends_with(')') => {
            let mut chars = part[..i].chars();
            chars
                .next()
                .map(|c| c.to_lowercase().chain(chars).collect())
                .unwrap_or_default()
        }
        _ => part.to_string(),
    }
}
