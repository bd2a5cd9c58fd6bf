//! Entry point of `xdockerinit`: parse, run the library's init loop, print its
//! notices, exit with its code. The only place that prints or exits.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::exit;

use xdockerinit::args::{self, Invocation, USAGE};
use xdockerinit::init::{Init, Notice};

fn main() {
    let invocation = match args::parse(std::env::args_os().skip(1)) {
        Ok(invocation) => invocation,
        Err(e) => fail(&e),
    };
    let args = match invocation {
        Invocation::Version => {
            println!("xdockerinit v{}", xdockerinit::VERSION);
            return;
        }
        Invocation::Help => {
            println!("{USAGE}");
            return;
        }
        Invocation::Run(args) => args,
    };
    let init = Init::setup(args).unwrap_or_else(|e| fail(&e));
    let mut notify = |notice: Notice<'_>| match notice {
        Notice::Error(e) => eprintln!("xdockerinit: error: {e}"),
        Notice::GraceExpired { grace_secs } => eprintln!(
            "xdockerinit: grace period of {grace_secs}s over with processes left: sent SIGKILL"
        ),
    };
    match init.run(&mut notify) {
        Ok(code) => exit(code),
        Err(e) => fail(&e),
    }
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("xdockerinit: error: {e}");
    exit(1)
}
