//! The xdocker log: timestamped lines appended to `XDOCKER_HOME/xdocker.log`,
//! and echoed on stderr with `-d`. The sink is set up once by `main`; library
//! code only hands it lines, it never prints by itself. The log records
//! every command line verbatim (`--cmd` and `-e` text included, where a
//! password may be typed), so it is root's alone: mode 0600.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

#[derive(Debug)]
struct Sink {
    file: Option<File>,
    echo_debug: bool,
}

static SINK: OnceLock<Mutex<Sink>> = OnceLock::new();

/// The mode of the log: it holds command lines verbatim.
pub const LOG_MODE: u32 = 0o600;

/// Opens the log for appending: created [`LOG_MODE`], and a log made
/// with a wider mode (before xdocker made it 0600) narrowed to it. Returns
/// the file and, when narrowing failed, why (for a warning line).
fn open_log(path: &Path) -> std::io::Result<(File, Option<String>)> {
    use std::os::unix::fs::PermissionsExt;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(LOG_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    if mode & !LOG_MODE == 0 {
        return Ok((file, None));
    }
    let problem = file
        .set_permissions(std::fs::Permissions::from_mode(LOG_MODE))
        .err()
        .map(|e| {
            format!(
                "log {} has mode {mode:04o} and cannot be narrowed to {LOG_MODE:04o}: {e}",
                path.display()
            )
        });
    Ok((file, problem))
}

/// Opens the log file (created 0600, appended; a wider mode is narrowed)
/// and sets whether debug lines go to stderr too. Later calls are ignored.
pub fn init(path: &Path, echo_debug: bool) -> std::io::Result<()> {
    let (file, problem) = open_log(path)?;
    let _ = SINK.set(Mutex::new(Sink {
        file: Some(file),
        echo_debug,
    }));
    if let Some(problem) = problem {
        warn(&problem);
    }
    Ok(())
}

/// Formats one log line: RFC 3339 time with milliseconds, pid, level, text.
pub fn format_line(level: Level, msg: &str) -> String {
    let now = chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%.3f%:z");
    // One line per record: a newline inside `msg` must not forge a record.
    let msg = msg.replace(['\n', '\r'], " ");
    format!("{now} [{}] {} {msg}\n", std::process::id(), level.as_str())
}

/// Appends a line to the log (one write, so concurrent commands interleave
/// whole lines) and echoes debug lines on stderr when asked to.
pub fn log(level: Level, msg: &str) {
    let Some(sink) = SINK.get() else { return };
    let line = format_line(level, msg);
    let Ok(mut sink) = sink.lock() else { return };
    if let Some(f) = sink.file.as_mut() {
        let _ = f.write_all(line.as_bytes());
    }
    if sink.echo_debug {
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

/// Logs at debug level.
pub fn debug(msg: &str) {
    log(Level::Debug, msg);
}

/// Logs at info level.
pub fn info(msg: &str) {
    log(Level::Info, msg);
}

/// Logs at warn level.
pub fn warn(msg: &str) {
    log(Level::Warn, msg);
}

/// Logs at warn level and tells the user in one `xdocker: warning:` line
/// on stderr (for what a command did differently from what was asked).
#[allow(clippy::print_stderr)]
pub fn warn_user(msg: &str) {
    warn(msg);
    let msg = msg.replace(['\n', '\r'], " ");
    eprintln!("xdocker: warning: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_made_0600_and_a_wider_one_is_narrowed() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("xdocker.log");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
        let (_, problem) = open_log(&p).expect("create");
        assert_eq!((mode(&p), problem), (0o600, None));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let (_, problem) = open_log(&p).expect("open");
        assert_eq!((mode(&p), problem), (0o600, None));
        // Narrower stays as it is (write-only: a user who is not root can
        // still append to it, so the test needs no root).
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o200)).expect("chmod");
        open_log(&p).expect("open");
        assert_eq!(mode(&p), 0o200);
    }

    #[test]
    fn lines_are_timestamped_and_single() {
        let l = format_line(Level::Info, "import a\nforged line");
        assert_eq!(l.matches('\n').count(), 1);
        assert!(l.contains(" INFO import a forged line"), "{l}");
        let ts = l.split(' ').next().expect("timestamp");
        assert!(
            chrono::DateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.3f%:z").is_ok(),
            "{ts}"
        );
    }
}
