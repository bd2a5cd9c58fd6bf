//! `xdocker`: one command (see `entry`), in either grammar; the ssh
//! repository commands are handed to `xdocker-srepo`.

#[path = "entry.rs"]
mod entry;

fn main() {
    std::process::exit(entry::run(
        xdocker::commands::dispatch,
        Some(xdocker::commands::docker::dispatch),
        Some(entry::Handoff {
            wants: xdocker::commands::is_srepo,
            env: "XDOCKER_SREPO",
            program: "xdocker-srepo",
        }),
    ));
}
