//! The exit record: how a stopped container tells the host its exit code.
//!
//! The host opens a regular file before pivot_root and passes its descriptor
//! with `--exit-fd N`; nothing in the container can reach that file (init is
//! not dumpable and containers lack CAP_SYS_PTRACE by default), and the
//! descriptor is made close-on-exec before anything runs, so no process of
//! the container inherits it. At the stop, xdockerinit writes one line
//! `exit_code=<N>\n` with `pwrite` at offset 0, then `ftruncate` to its length:
//! a reader sees either the old content or a first line that is already the
//! new record, never an empty file between the two. No fsync: the record is
//! read right after the stop, from the page cache, and a host crash voids
//! it anyway; waiting for the disk would sit in every container's stop.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::stat::{fstat, SFlag};

use crate::ErrnoText;

/// How a boot service ended its run, as the record keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    /// The service's name (`boot.d/FILE` for an image's own).
    pub name: String,
    /// How many times it was started again.
    pub restarts: u32,
    /// The exit code of its last run (None: it never ran).
    pub last_exit: Option<i32>,
}

/// The text of the record for an exit code, and, in `-e` mode, how many
/// times the main process was restarted (a second line, which readers of
/// the first line alone skip), then a line per boot service:
/// `service=RESTARTS LAST_EXIT NAME` (`-` for no exit; control characters
/// of the name written as `?`, so that a name is one line).
pub fn format(code: i32, restarts: Option<u32>, services: &[ServiceRecord]) -> String {
    let mut text = format!("exit_code={code}\n");
    if let Some(n) = restarts {
        text.push_str(&format!("restarts={n}\n"));
    }
    for s in services {
        let last = s.last_exit.map_or("-".to_string(), |c| c.to_string());
        let name: String = s
            .name
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        text.push_str(&format!("service={} {last} {name}\n", s.restarts));
    }
    text
}

/// Reads a record back (the host side's view): `None` when the file holds no
/// complete record (xdockerinit never wrote one).
pub fn parse(text: &str) -> Option<i32> {
    let line = text.strip_suffix('\n').unwrap_or(text);
    let line = line.lines().next()?;
    line.strip_prefix("exit_code=")?.parse().ok()
}

/// The `restarts=N` line of a record: None when there is none (a host
/// container, or a record of an xdockerinit before supervision).
pub fn parse_restarts(text: &str) -> Option<u32> {
    parse(text)?;
    text.lines()
        .find_map(|l| l.strip_prefix("restarts="))
        .and_then(|n| n.parse().ok())
}

/// The services' lines of a record, in the order they were started.
pub fn parse_services(text: &str) -> Vec<ServiceRecord> {
    if parse(text).is_none() {
        return Vec::new();
    }
    text.lines()
        .filter_map(|l| {
            let mut parts = l.strip_prefix("service=")?.splitn(3, ' ');
            let restarts = parts.next()?.parse().ok()?;
            let last_exit = match parts.next()? {
                "-" => None,
                code => Some(code.parse().ok()?),
            };
            let name = parts.next()?.to_string();
            Some(ServiceRecord {
                name,
                restarts,
                last_exit,
            })
        })
        .collect()
}

/// A record read back whole (the host side's view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub code: i32,
    /// The `-e` main process's restarts (None: a host container).
    pub restarts: Option<u32>,
    pub services: Vec<ServiceRecord>,
}

/// Reads a whole record: `None` when the text holds no complete one.
pub fn parse_record(text: &str) -> Option<Record> {
    Some(Record {
        code: parse(text)?,
        restarts: parse_restarts(text),
        services: parse_services(text),
    })
}

/// What went wrong with the exit descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitRecordError {
    /// A system call on the descriptor failed.
    Sys {
        /// The descriptor number from `--exit-fd`.
        fd: RawFd,
        /// The step that failed ("make it close-on-exec", "write the record", ...).
        op: &'static str,
        /// Why.
        source: Errno,
    },
    /// The descriptor is open read-only (or `O_PATH`).
    NotWritable {
        /// The descriptor number.
        fd: RawFd,
    },
    /// The descriptor is a pipe, socket, tty...: `pwrite`/`ftruncate` need a file.
    NotAFile {
        /// The descriptor number.
        fd: RawFd,
    },
}

impl fmt::Display for ExitRecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitRecordError::Sys { fd, op, source } => {
                write!(f, "exit fd {fd}: {op}: {}", ErrnoText(*source))
            }
            ExitRecordError::NotWritable { fd } => {
                write!(f, "exit fd {fd}: not open for writing")
            }
            ExitRecordError::NotAFile { fd } => write!(f, "exit fd {fd}: not a regular file"),
        }
    }
}

impl std::error::Error for ExitRecordError {}

/// The adopted exit descriptor.
#[derive(Debug)]
pub struct ExitRecord {
    fd: OwnedFd,
}

impl ExitRecord {
    /// Takes `fd` over: makes it close-on-exec, checks it is a regular file
    /// open for writing, and clears `O_APPEND`, because on Linux `pwrite` on
    /// an `O_APPEND` descriptor appends whatever the offset (pwrite(2), BUGS).
    ///
    /// # Safety
    ///
    /// `fd` must not be owned by anything else in this process: it is closed
    /// when the `ExitRecord` is dropped. On error it is left open (and
    /// close-on-exec unless that very step failed).
    pub unsafe fn adopt(fd: RawFd) -> Result<ExitRecord, ExitRecordError> {
        let fail = |op, source| ExitRecordError::Sys { fd, op, source };
        // First, so that the descriptor cannot leak into a child even if a
        // later check fails. EBADF here also tells a closed descriptor.
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
            .map_err(|e| fail("make it close-on-exec", e))?;
        let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| fail("read its flags", e))?;
        let flags = OFlag::from_bits_truncate(flags);
        if flags & OFlag::O_ACCMODE == OFlag::O_RDONLY || flags.contains(OFlag::O_PATH) {
            return Err(ExitRecordError::NotWritable { fd });
        }
        let stat = fstat(fd).map_err(|e| fail("stat", e))?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            // pwrite/ftruncate need a file; a pipe or tty would lose the record.
            return Err(ExitRecordError::NotAFile { fd });
        }
        if flags.contains(OFlag::O_APPEND) {
            fcntl(fd, FcntlArg::F_SETFL(flags - OFlag::O_APPEND))
                .map_err(|e| fail("clear O_APPEND", e))?;
        }
        // SAFETY: fd is open (the fcntl calls above succeeded) and the caller
        // guarantees nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(ExitRecord { fd })
    }

    /// Writes the record for `code` (and the main process's `restarts`),
    /// replacing whatever the file held.
    pub fn write(
        &self,
        code: i32,
        restarts: Option<u32>,
        services: &[ServiceRecord],
    ) -> Result<(), ExitRecordError> {
        let raw = self.fd.as_raw_fd();
        let fail = |op, source| ExitRecordError::Sys {
            fd: raw,
            op,
            source,
        };
        let text = format(code, restarts, services);
        let bytes = text.as_bytes();
        let mut done = 0;
        while done < bytes.len() {
            let rest = &bytes[done..];
            // SAFETY: the buffer is valid for rest.len() bytes and the fd is
            // owned by self for the whole call.
            let n =
                unsafe { libc::pwrite(raw, rest.as_ptr().cast(), rest.len(), done as libc::off_t) };
            match n {
                n if n > 0 => done += n as usize,
                0 => return Err(fail("write the record", Errno::EIO)),
                _ => match Errno::last() {
                    Errno::EINTR => continue,
                    e => return Err(fail("write the record", e)),
                },
            }
        }
        nix::unistd::ftruncate(self.fd.as_fd(), bytes.len() as libc::off_t)
            .map_err(|e| fail("truncate after the record", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::IntoRawFd;

    #[test]
    fn format_and_parse() {
        assert_eq!(format(0, None, &[]), "exit_code=0\n");
        assert_eq!(format(137, None, &[]), "exit_code=137\n");
        assert_eq!(format(1, Some(3), &[]), "exit_code=1\nrestarts=3\n");
        assert_eq!(parse("exit_code=1\nrestarts=3\n"), Some(1));
        assert_eq!(parse_restarts("exit_code=1\nrestarts=3\n"), Some(3));
        assert_eq!(parse_restarts("exit_code=1\n"), None);
        assert_eq!(parse_restarts("restarts=3\n"), None);
        assert_eq!(parse("exit_code=7\n"), Some(7));
        assert_eq!(parse("exit_code=7"), Some(7));
        assert_eq!(parse(""), None);
        assert_eq!(parse("exit_code=\n"), None);
        assert_eq!(parse("status=1\n"), None);
    }

    #[test]
    fn services_go_in_a_line_each_and_come_back() {
        let services = [
            ServiceRecord {
                name: "sshd".into(),
                restarts: 2,
                last_exit: Some(143),
            },
            ServiceRecord {
                name: "boot.d/odd name\nhere".into(),
                restarts: 0,
                last_exit: None,
            },
        ];
        let text = format(0, Some(1), &services);
        assert_eq!(
            text,
            "exit_code=0\nrestarts=1\nservice=2 143 sshd\nservice=0 - boot.d/odd name?here\n"
        );
        let record = parse_record(&text).expect("record");
        assert_eq!((record.code, record.restarts), (0, Some(1)));
        let back = record.services;
        assert_eq!(back[0], services[0]);
        assert_eq!(back[1].name, "boot.d/odd name?here");
        assert_eq!(back[1].last_exit, None);
        // The main process's count is not a service's, and the other way.
        assert_eq!(parse_restarts(&text), Some(1));
        assert_eq!(parse_restarts("exit_code=0\nservice=2 1 a\n"), None);
        // No record, no services; a bad line is skipped.
        assert!(parse_services("service=2 1 a\n").is_empty());
        assert_eq!(
            parse_services("exit_code=0\nservice=x 1 a\nservice=1 -1 b c\n").len(),
            1
        );
    }

    fn adopt(file: std::fs::File) -> Result<ExitRecord, ExitRecordError> {
        // SAFETY: into_raw_fd gives up the File's ownership of the descriptor.
        unsafe { ExitRecord::adopt(file.into_raw_fd()) }
    }

    #[test]
    fn rewrites_from_the_start_even_with_o_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exit");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"some older and longer content\n").unwrap();
        let record = adopt(file).unwrap();
        record.write(137, Some(2), &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "exit_code=137\nrestarts=2\n"
        );
        record.write(0, None, &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "exit_code=0\n");
    }

    #[test]
    fn adopted_fd_is_close_on_exec() {
        let file = tempfile::tempfile().unwrap();
        let record = adopt(file).unwrap();
        let flags = fcntl(record.fd.as_raw_fd(), FcntlArg::F_GETFD).unwrap();
        assert!(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC));
    }

    #[test]
    fn refuses_read_only_and_non_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro");
        std::fs::write(&path, "").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let fd = file.as_raw_fd();
        let err = adopt(file).unwrap_err();
        assert_eq!(err, ExitRecordError::NotWritable { fd });
        assert_eq!(
            err.to_string(),
            format!("exit fd {fd}: not open for writing")
        );
        // The error leaves the descriptor open: close it.
        // SAFETY: nothing else owns fd (adopt took it from the File).
        drop(unsafe { OwnedFd::from_raw_fd(fd) });

        let (_r, w) = nix::unistd::pipe().unwrap();
        let fd = w.into_raw_fd();
        // SAFETY: into_raw_fd gave up w's ownership of the descriptor.
        let err = unsafe { ExitRecord::adopt(fd) }.unwrap_err();
        assert_eq!(err, ExitRecordError::NotAFile { fd });
        // SAFETY: nothing else owns fd (adopt took it from the pipe).
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }

    #[test]
    fn names_a_closed_descriptor() {
        // Far above any descriptor this test process opens (they are
        // allocated lowest first), so no other test thread can own it.
        let fd = 999_999;
        // SAFETY: a descriptor number that is not open is owned by nobody.
        let err = unsafe { ExitRecord::adopt(fd) }.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("exit fd {fd}: make it close-on-exec: bad file number")
        );
    }
}
