//! Entry point of `xdockerinit`: parse, run the library's init loop, print its
//! notices, exit with its code. The only place that prints or exits.
//!
//! `no_main`: the C `main` is ours and Rust's runtime start-up (stack-overflow
//! handler with its alternate stack, main-thread bookkeeping, SIGPIPE set to
//! ignored, fds 0-2 check) is skipped. Init does what it needs of that itself
//! (`init::ensure_std_fds`), and skipping the rest keeps the static binary's
//! idle RSS under 1 MiB (about 0.9 MiB against 1.07 MiB with `fn main`):
//! every text page touched at start-up maps its 64 KiB neighbourhood
//! (fault-around). Arguments come from `argv`, not `std::env::args_os`,
//! which relies on glibc's `.init_array` arguments and so would break on musl.
#![allow(clippy::print_stdout, clippy::print_stderr)]
#![no_main]

use std::ffi::{c_char, c_int, CStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::exit;

use xdockerinit::args::{self, Invocation};
use xdockerinit::init::{Init, Notice};

/// The C entry point, called by libc's start-up code.
///
/// # Safety
///
/// Only libc calls it, with the process's `argc` and `argv`.
#[no_mangle]
pub unsafe extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // SAFETY: argc and argv are what the C runtime passes to main: argv
    // holds argc valid NUL-terminated strings, alive for the whole process.
    let args = unsafe { arguments(argc, argv) };
    run(args)
}

/// Copies `argv[1..argc]`.
///
/// # Safety
///
/// `argv` must point to `argc` valid NUL-terminated strings (or be null).
unsafe fn arguments(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    let count = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() {
        return Vec::new();
    }
    (1..count)
        .filter_map(|i| {
            // SAFETY: i < argc, so argv[i] is within the array (caller's
            // contract); a null entry is skipped.
            let ptr = unsafe { *argv.add(i) };
            if ptr.is_null() {
                return None;
            }
            // SAFETY: a non-null argv entry is a NUL-terminated string.
            let arg = unsafe { CStr::from_ptr(ptr) };
            Some(OsString::from(std::ffi::OsStr::from_bytes(arg.to_bytes())))
        })
        .collect()
}

fn run(args: Vec<OsString>) -> c_int {
    let invocation = match args::parse(args) {
        Ok(invocation) => invocation,
        Err(e) => fail(&e),
    };
    let args = match invocation {
        Invocation::Version => {
            println!("xdockerinit v{}", xdockerinit::VERSION);
            return 0;
        }
        Invocation::Help => {
            println!("{}", args::usage());
            return 0;
        }
        Invocation::Run(args) => *args,
    };
    let dhcp = args.dhcp.clone().map(|host| (host, args.dhcp_timeout_secs));
    let init = Init::setup(args).unwrap_or_else(|e| fail(&e));
    // A DHCP lease before anything starts (signals are blocked by now: a
    // stop meanwhile waits in the signalfd).
    let lease =
        dhcp.map(|(host, secs)| xdockerinit::dhcp::start(&host, secs).unwrap_or_else(|e| fail(&e)));
    let mut notify = |notice: Notice<'_>| match notice {
        Notice::Error(e) => say(format_args!("xdockerinit: error: {e}")),
        Notice::GraceExpired { grace_secs } => say(format_args!(
            "xdockerinit: grace period of {grace_secs}s over with processes left: sent SIGKILL"
        )),
    };
    match init.run(&mut notify) {
        Ok(code) => {
            if let Some(lease) = lease {
                lease.release();
            }
            exit(code)
        }
        Err(e) => fail(&e),
    }
}

/// One line on stderr. Not `eprintln!`, which panics when the write
/// fails: with `-e` on a terminal, fd 2 is a non-blocking description of
/// it (EAGAIN while the terminal is stopped), and PID 1 must not die of
/// a message.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    say(format_args!("xdockerinit: error: {e}"));
    exit(1)
}
