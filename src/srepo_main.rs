//! `xdocker-srepo`: the ssh image repository commands (`-s ssearch`,
//! `-a spush`, `-a spull`), executed by `xdocker` with its arguments. The
//! only program that links libssh2 and OpenSSL.

#[path = "entry.rs"]
mod entry;

fn main() {
    std::process::exit(entry::run(xdocker::commands::dispatch_srepo, None, None));
}
