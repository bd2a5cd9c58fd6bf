//! One module per show or action: each turns checked options into one
//! library call and returns what `main` prints. Nothing here prints. No
//! command uses another; what they share is here and in [`args`] (options
//! mapped onto the library's requests).

mod args;
mod attach;
mod autostart;
mod boot;
mod build;
mod build_progress;
mod change;
mod commit;
mod containers;
mod convert;
mod copy_image;
mod create;
mod del_image;
mod destroy;
pub mod docker;
mod export;
mod files;
mod home_output;
mod images;
mod import;
mod info;
mod install_test;
mod log_output;
mod logs;
mod network;
mod pause;
mod progress_bar;
mod restart;
mod run;
mod service;
mod srepo;
mod stop;
mod version;

use std::os::fd::AsFd;

use anyhow::Result;

use crate::cli::{Action, Args, Show, Verb};
use crate::config::Config;
use crate::home::Home;
use crate::image::ImageStore;
use crate::lifecycle::{exit_code, Booted};
use crate::names::Name;
use crate::runtime::{Runtime, StopMode};
use crate::session::{End, Stdio};

/// What a successful command prints on stdout.
#[derive(Debug)]
pub enum Output {
    /// An action that succeeded: `OK`.
    Ok,
    /// An action that succeeded, and what it did: `OK: TEXT`.
    Done(String),
    /// A show's text (ends with a newline when not empty).
    Text(String),
    /// Exit with this code and print nothing (boot -e: CMD's exit code).
    Exit(i32),
    /// Exit with this code after this one error line (Docker-style verbs:
    /// 126 a command that cannot run, 127 one not found).
    Fail(i32, String),
}

impl Output {
    /// A show's `--json`: `value` pretty-printed, one newline after it.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Output> {
        Ok(Output::Text(serde_json::to_string_pretty(value)? + "\n"))
    }
}

/// Everything a command works with.
#[derive(Debug)]
pub struct Ctx {
    pub home: Home,
    pub config: Config,
    pub images: ImageStore,
    pub runtime: Runtime,
    pub force: bool,
}

/// The verbs of the ssh image repository. They run in the companion
/// program `xdocker-srepo` ([`dispatch_srepo`]), so that `xdocker` itself
/// does not link libssh2 and OpenSSL: their ~450 kB of tables to relocate
/// cost every command a third of a millisecond at start-up.
pub fn is_srepo(verb: Verb) -> bool {
    matches!(
        verb,
        Verb::Show(Show::Ssearch) | Verb::Action(Action::Spush | Action::Spull)
    )
}

/// Runs one checked request of the ssh image repository (`xdocker-srepo`).
pub fn dispatch_srepo(ctx: &Ctx, verb: Verb, args: &Args) -> Result<Output> {
    match verb {
        Verb::Show(Show::Ssearch) => srepo::search(ctx, args),
        Verb::Action(Action::Spush) => srepo::push(ctx, args),
        Verb::Action(Action::Spull) => srepo::pull(ctx, args),
        _ => anyhow::bail!("xdocker-srepo runs only ssearch, spush and spull"),
    }
}

/// Runs one checked request (all but [`is_srepo`] ones).
pub fn dispatch(ctx: &Ctx, verb: Verb, args: &Args) -> Result<Output> {
    // Whatever stopped since the last command (init killed, xdocker killed
    // mid-way) is released now, before anything looks at containers.
    // `--rm` containers among them are removed.
    crate::lifecycle::release_stopped(&ctx.runtime)?;
    // A conversion killed half-way is finished or rolled back first.
    crate::conversion::finish_interrupted(&ctx.runtime);
    // Build containers a killed build left go (issue 22).
    crate::lifecycle::build_leftovers(&ctx.runtime);
    match verb {
        Verb::Show(Show::Containers) => containers::list(ctx, args.json),
        Verb::Show(Show::ContainerRoot) => containers::root(ctx, args),
        Verb::Show(Show::Info) => info::run(ctx, args),
        Verb::Show(Show::Logs) => logs::run(ctx, args),
        Verb::Action(Action::Autostart) => autostart::run(ctx, args),
        Verb::Action(Action::Create) => create::run(ctx, args),
        Verb::Action(Action::Boot) => boot::run(ctx, args),
        Verb::Action(Action::Attach) => attach::run(ctx, args),
        Verb::Action(Action::Run) => run::run(ctx, args),
        Verb::Action(Action::Shutdown) => stop::run(ctx, args, StopMode::Shutdown),
        Verb::Action(Action::Kill) => stop::run(ctx, args, StopMode::Kill),
        Verb::Action(Action::Destroy) => destroy::run(ctx, args),
        Verb::Action(Action::ToImage) => convert::to_image(ctx, args),
        Verb::Action(Action::ToContainer) => convert::to_container(ctx, args),
        Verb::Action(Action::Commit) => commit::run(ctx, args),
        Verb::Action(a @ (Action::Vip | Action::PortMapping | Action::Volume | Action::Env)) => {
            change::run(ctx, args, a)
        }
        Verb::Show(Show::Images) => images::run(ctx, args.json),
        Verb::Action(Action::InstallTest) => install_test::run(ctx, args),
        Verb::Action(Action::Version) => version::run(ctx, args),
        Verb::Action(Action::CopyImage) => copy_image::run(ctx, args),
        Verb::Action(Action::DelImage) => del_image::run(ctx, args),
        Verb::Action(Action::Export) => export::run(ctx, args),
        Verb::Action(Action::Import) => import::run(ctx, args),
        Verb::Show(Show::Ssearch) | Verb::Action(Action::Spush | Action::Spull) => {
            anyhow::bail!("the ssh repository commands are run by xdocker-srepo")
        }
        Verb::Action(Action::Putfile) => files::putfile(ctx, args),
        Verb::Action(Action::Getfile) => files::getfile(ctx, args),
        Verb::Action(Action::Rplfile) => files::rplfile(ctx, args),
        Verb::Action(Action::Service) => service::run(ctx, args),
        Verb::Action(Action::Pause) => pause::pause(ctx, args),
        Verb::Action(Action::Continue) => pause::resume(ctx, args),
        Verb::Action(Action::Restart) => restart::run(ctx, args),
        Verb::Show(Show::Networks) => network::list(ctx, args.json),
        Verb::Action(Action::NetworkCreate) => network::create(ctx, args),
        Verb::Action(Action::NetworkRemove) => network::remove(ctx, args),
        Verb::Action(Action::Net) => network::change(ctx, args),
        // builds (issue 22)
        Verb::Action(Action::Build) => build::run(ctx, args),
        Verb::Action(Action::PruneBuildCache) => build::prune(ctx, args),
        Verb::Show(Show::BuildCache) => build::show(ctx, args.json),
    }
}

/// The one image a command was given with `-m` (the grammar allows a list).
fn single_image(args: &Args, action: &str) -> Result<crate::names::ImageRef> {
    match args.images.as_ref().map(|l| l.0.as_slice()) {
        Some([one]) => Ok(one.clone()),
        _ => anyhow::bail!("-a {action} takes exactly one image with -m"),
    }
}

/// A progress bar on stderr for a transfer of `total` bytes (drawn on a
/// terminal, for large ones), for the library's [`crate::progress`] seam.
fn progress_bar(what: &str, total: u64) -> Box<dyn crate::progress::Progress> {
    Box::new(progress_bar::Bar::new(what, total))
}

/// Runs `f` with this process's standard streams (for a session).
fn with_stdio<T>(f: impl FnOnce(Stdio<'_>) -> T) -> T {
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    f(Stdio {
        stdin: stdin.as_fd(),
        stdout: stdout.as_fd(),
        stderr: stderr.as_fd(),
    })
}

/// What the user sees of an attached session's end: the shell's exit
/// code, or `[detached from C]` on a line of its own (wherever the shell
/// left the cursor).
fn session_ended(name: &Name, end: End) -> Output {
    match end {
        End::Detached => Output::Text(format!("\n[detached from {name}]\n")),
        other => Output::Exit(exit_code(other)),
    }
}

/// What the user sees of a boot: `OK`, the `-e` command's exit code, or
/// the attached session's end.
fn booted(name: &Name, booted: Booted) -> Output {
    match booted {
        Booted::Detached { .. } => Output::Ok,
        Booted::Exited { code } => Output::Exit(code),
        Booted::Attached(end) => session_ended(name, end),
    }
}

/// Human size, always with a unit: 0B, 1023B, 1.0K, 12.3M, 4.0G.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1}{}", UNITS[unit])
}

/// Left-aligned columns separated by two spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_tables() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1023), "1023B");
        assert_eq!(human_size(1536), "1.5K");
        assert_eq!(human_size(5 << 30), "5.0G");
        let t = table(&["a", "bb"], &[vec!["long".into(), "x".into()]]);
        assert_eq!(t, "a     bb\nlong  x\n");
    }
}
