//! Entry point of `xdockerinit`: for now it only reports its version; the init
//! loop (reaping, signals, sessions) arrives with the container runtime.
#![allow(clippy::print_stdout, clippy::print_stderr)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("-v") | Some("--version") => println!("xdockerinit v{}", xdockerinit::VERSION),
        _ => {
            eprintln!(
                "xdockerinit v{}: only -v is supported yet",
                xdockerinit::VERSION
            );
            std::process::exit(2);
        }
    }
}
