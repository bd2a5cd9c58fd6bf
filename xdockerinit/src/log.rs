//! The container's console log, written by PID 1: what the main process
//! writes on stdout and stderr and what anything writes to `/dev/console`,
//! one record per line, timestamped when read, in size-rotated files of a
//! host directory that PID 1 reaches only through a descriptor.
//!
//! # Record format (shared with the reader, `xdocker -s logs`)
//!
//! The CRI log format of Kubernetes (`containerd`, CRI-O), one record per
//! line, raw bytes, nothing escaped:
//!
//! ```text
//! 2024-05-01T12:34:56.123456789Z stdout F a line as the process wrote it
//! 2024-05-01T12:34:56.123456789Z stderr P the first 16 KiB of a longer li
//! 2024-05-01T12:34:56.123456789Z xdocker F boot
//! ```
//!
//! The time is UTC, always 30 bytes with nine digits of nanoseconds (so the
//! byte order of two times is their order in time), taken when the bytes
//! were read (the records of one read share it; the first record of each
//! file of the ring is made a nanosecond later than the first of the file
//! before when it would not be, so that the files order by it). The stream is `stdout`, `stderr`, `console` or `xdocker`
//! (records of xdockerinit itself: the boot marker, the stop, lost bytes).
//! The tag is `F` for a whole line (its newline dropped) and `P` for a piece
//! of one (a line longer than [`MAX_LINE`], or an unfinished line when its
//! stream closed): the pieces of a line, in order, end with its `F` record.
//! A trailing carriage return is dropped from the lines of a terminal (the
//! console, the main process's pty).
//!
//! # Files
//!
//! A ring of files, `console.0` to `console.N-1` in the container's
//! `log/` directory, opened by the host and handed over as descriptors
//! (`--log-fds`, the one written last first): no directory of the host is
//! ever given to the container, whose processes could otherwise walk from
//! it to the host's root (CVE-2024-21626). When a record would take the
//! file being written past `max_size`, init goes on with the next
//! descriptor of the ring, truncated to nothing: the log never takes more
//! than `max_size` times the number of files, and a reader orders the files
//! by the time of their first record. A write that fails (the disk is full)
//! drops its records and counts them; the next write that works says how
//! many bytes were lost. Nothing here ever waits for a reader: the sources
//! are non-blocking and read a bounded amount per turn of the loop.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;

use crate::attach::MainTerminal;
use crate::sys;
use crate::ErrnoText;

/// Length of a record's time: `2024-05-01T12:34:56.123456789Z`.
pub const TIME_LEN: usize = 30;

/// The longest content of one record: a longer line is cut into `P`
/// pieces of this size (Docker and containerd cut at 16 KiB too).
pub const MAX_LINE: usize = 16 * 1024;

/// `--log-max-size` when not given, in bytes.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
/// `--log-max-files` when not given.
pub const DEFAULT_MAX_FILES: u32 = 5;
/// The smallest `max_size`: a few records of [`MAX_LINE`] fit in a file.
pub const MIN_MAX_SIZE: u64 = 64 << 10;
/// The most files.
pub const MAX_MAX_FILES: u32 = 100;

/// Bytes read from a source per read call.
const READ_CHUNK: usize = 64 << 10;
/// Reads from one source per turn of the loop at most, so that a process
/// writing without pause cannot keep the loop from its other work.
const READS_PER_TURN: usize = 16;
/// Records are written to the file when this many bytes are pending.
const FLUSH_AT: usize = 256 << 10;
/// Room kept in a file for the record that tells of lost bytes.
const NOTE_RESERVE: u64 = 128;
/// Bytes written to a terminal per write when its descriptor blocks: a
/// terminal that reports POLLOUT takes at least this much (see [`Tee`]).
const TTY_CHUNK: usize = 256;
/// Bytes written to a pipe or socket per write: POLLOUT on a pipe means a
/// free page, which takes PIPE_BUF bytes without waiting.
const PIPE_CHUNK: usize = libc::PIPE_BUF;

/// The name of file `index` of the log's ring, in the container's
/// `log/` directory.
pub fn file_name(index: u32) -> String {
    format!("console.{index}")
}

/// Where a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The main process's standard output.
    Stdout,
    /// The main process's standard error.
    Stderr,
    /// `/dev/console` inside the container.
    Console,
    /// xdockerinit's own records: boot, stop, lost bytes.
    Xdocker,
}

impl Stream {
    /// Every stream.
    pub const ALL: [Stream; 4] = [
        Stream::Stdout,
        Stream::Stderr,
        Stream::Console,
        Stream::Xdocker,
    ];

    /// The name in a record.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Console => "console",
            Stream::Xdocker => "xdocker",
        }
    }

    /// The stream of a record's name.
    pub fn from_name(name: &[u8]) -> Option<Stream> {
        Stream::ALL
            .into_iter()
            .find(|s| s.name().as_bytes() == name)
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One record, as read back from a log line (without its newline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// [`TIME_LEN`] bytes of RFC 3339 time.
    pub time: &'a [u8],
    pub stream: Stream,
    /// A piece of a line (`P`); the line goes on in the next record of the
    /// same stream.
    pub partial: bool,
    pub content: &'a [u8],
}

/// Parses one line of a log file (without its newline); `None` for a line
/// that is not a record (a record cut short by a crash).
pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    let time = line.get(..TIME_LEN)?;
    if time[4] != b'-' || time[10] != b'T' || time[TIME_LEN - 1] != b'Z' {
        return None;
    }
    let rest = line.get(TIME_LEN..)?.strip_prefix(b" ")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let stream = Stream::from_name(&rest[..space])?;
    let rest = &rest[space + 1..];
    let partial = match rest.first()? {
        b'F' => false,
        b'P' => true,
        _ => return None,
    };
    let content = match rest.get(1) {
        None => &[][..],
        Some(b' ') => &rest[2..],
        Some(_) => return None,
    };
    Some(Record {
        time,
        stream,
        partial,
        content,
    })
}

/// Appends one record to `out`.
pub fn format_record(
    out: &mut Vec<u8>,
    time: &[u8; TIME_LEN],
    stream: Stream,
    partial: bool,
    content: &[u8],
) {
    out.extend_from_slice(time);
    out.push(b' ');
    out.extend_from_slice(stream.name().as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// The start of the records of one read of one stream (`TIME STREAM F `),
/// made once: each record is then one copy of it, one of its content and
/// a newline (with short lines the log's time is mostly these copies).
#[derive(Debug, Clone, Copy)]
pub struct Prefix {
    bytes: [u8; PREFIX_MAX],
    len: usize,
}

/// The longest prefix: a time, the longest stream name and ` F `.
const PREFIX_MAX: usize = TIME_LEN + 1 + 7 + 3;

impl Prefix {
    /// The prefix of `stream`'s records read at `time`.
    pub fn new(time: &[u8; TIME_LEN], stream: Stream) -> Prefix {
        let mut bytes = [b' '; PREFIX_MAX];
        bytes[..TIME_LEN].copy_from_slice(time);
        let name = stream.name().as_bytes();
        bytes[TIME_LEN + 1..TIME_LEN + 1 + name.len()].copy_from_slice(name);
        let len = TIME_LEN + 1 + name.len() + 3;
        bytes[len - 2] = b'F';
        Prefix { bytes, len }
    }

    fn time(&self) -> &[u8; TIME_LEN] {
        self.bytes[..TIME_LEN]
            .try_into()
            .unwrap_or(&[b'0'; TIME_LEN])
    }

    fn stream(&self) -> Stream {
        Stream::from_name(&self.bytes[TIME_LEN + 1..self.len - 3]).unwrap_or(Stream::Xdocker)
    }
}

/// The length of a record with `content_len` bytes of content.
#[cfg(test)]
fn record_len(stream: Stream, content_len: usize) -> usize {
    TIME_LEN + 1 + stream.name().len() + 3 + content_len + 1
}

/// Days since 1970-01-01 as a civil date (year, month, day), after Howard
/// Hinnant's `civil_from_days` (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `secs.nanos` since the epoch as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC).
/// Years outside 0..=9999 are clamped to its ends.
pub fn format_time(secs: i64, nanos: u32) -> [u8; TIME_LEN] {
    const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let (secs, nanos) = match secs {
        s if s < MIN => (MIN, 0),
        s if s > MAX => (MAX, 999_999_999),
        s => (s, nanos.min(999_999_999)),
    };
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    let mut out = *b"0000-00-00T00:00:00.000000000Z";
    let mut put = |at: usize, width: usize, mut value: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year as u64);
    put(5, 2, u64::from(month));
    put(8, 2, u64::from(day));
    put(11, 2, (of_day / 3600) as u64);
    put(14, 2, (of_day / 60 % 60) as u64);
    put(17, 2, (of_day % 60) as u64);
    put(20, 9, u64::from(nanos));
    out
}

/// Days since 1970-01-01 of a civil date, after Howard Hinnant's
/// `days_from_civil`.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400; // [0, 399]
    let mp = i64::from((month + 9) % 12); // March first
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// A record's time back to (seconds, nanoseconds) since the epoch.
pub fn parse_time(text: &[u8]) -> Option<(i64, u32)> {
    let t = text.get(..TIME_LEN)?;
    let num = |from: usize, to: usize| -> Option<u64> {
        let digits = t.get(from..to)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
        )
    };
    let seps = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (29, b'Z'),
    ];
    if seps.iter().any(|&(at, c)| t[at] != c) {
        return None;
    }
    let (month, day) = (num(5, 7)? as u32, num(8, 10)? as u32);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(num(0, 4)? as i64, month, day);
    let secs = days * 86_400 + (num(11, 13)? * 3600 + num(14, 16)? * 60 + num(17, 19)?) as i64;
    Some((secs, num(20, 29)? as u32))
}

/// The time one nanosecond after `time` (both formatted).
fn next_nanosecond(time: &[u8; TIME_LEN]) -> [u8; TIME_LEN] {
    let mut next = *time;
    for digit in next[20..29].iter_mut().rev() {
        if *digit < b'9' {
            *digit += 1;
            return next;
        }
        *digit = b'0';
    }
    // The last nanosecond of a second: the next second.
    match parse_time(time) {
        Some((secs, _)) => format_time(secs.saturating_add(1), 0),
        None => *time,
    }
}

/// The time now (CLOCK_REALTIME), formatted.
pub fn now() -> [u8; TIME_LEN] {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format_time(
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        since.subsec_nanos(),
    )
}

/// The first `\n` of `data` (libc's memchr: word-wise or vectorised, where
/// a byte loop would cost a third of the log's time on long outputs).
fn find_newline(data: &[u8]) -> Option<usize> {
    // SAFETY: memchr reads at most data.len() bytes from data's start; the
    // pointer it returns, if any, points into data.
    let found = unsafe { libc::memchr(data.as_ptr().cast(), i32::from(b'\n'), data.len()) };
    if found.is_null() {
        None
    } else {
        Some(found as usize - data.as_ptr() as usize)
    }
}

/// A failure of the log that init carries on after (the log is then off,
/// or loses records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogError {
    /// What we were doing.
    pub op: &'static str,
    /// Why.
    pub source: Errno,
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "console log: {}: {}", self.op, ErrnoText(self.source))
    }
}

impl std::error::Error for LogError {}

/// The files of the log: records are gathered in a buffer and written in
/// one call per batch, going on with the next file of the ring between
/// records.
#[derive(Debug)]
pub struct LogFile {
    /// The ring, in the order the files are written.
    files: Vec<OwnedFd>,
    /// The file being written.
    current: usize,
    /// Bytes in it.
    size: u64,
    max_size: u64,
    /// Records not written yet.
    buf: Vec<u8>,
    /// Bytes lost since the last write that worked, and the last reason.
    dropped: u64,
    drop_reason: Option<Errno>,
    /// Bytes lost in this boot, all told.
    dropped_total: u64,
    /// The time of the first record of the file being written (None: an
    /// earlier boot's file, not read back).
    file_first: Option<[u8; TIME_LEN]>,
}

impl LogFile {
    /// Takes the ring's files (regular files opened for writing, the one
    /// written last first: it is appended to) and makes them close-on-exec
    /// and append-only. A first file already past `max_size` is left for
    /// the next one at the first record.
    pub fn open(files: Vec<OwnedFd>, max_size: u64) -> Result<LogFile, LogError> {
        let fail = |op| move |source| LogError { op, source };
        if files.is_empty() {
            return Err(LogError {
                op: "open the log",
                source: Errno::EINVAL,
            });
        }
        for file in &files {
            let st = nix::sys::stat::fstat(file.as_raw_fd()).map_err(fail("look at a log file"))?;
            if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Err(LogError {
                    op: "a log file is not a regular file",
                    source: Errno::EINVAL,
                });
            }
            let raw = file.as_raw_fd();
            let flags = nix::fcntl::fcntl(raw, nix::fcntl::FcntlArg::F_GETFL)
                .map_err(fail("look at a log file"))?;
            let append = OFlag::from_bits_retain(flags) | OFlag::O_APPEND;
            nix::fcntl::fcntl(raw, nix::fcntl::FcntlArg::F_SETFL(append))
                .map_err(fail("make a log file append-only"))?;
            nix::fcntl::fcntl(
                raw,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )
            .map_err(fail("make a log file close-on-exec"))?;
        }
        let size = file_size(&files[0]);
        Ok(LogFile {
            files,
            current: 0,
            size,
            max_size: max_size.max(MIN_MAX_SIZE),
            buf: Vec::new(),
            dropped: 0,
            drop_reason: None,
            dropped_total: 0,
            file_first: None,
        })
    }

    /// The time of the first record of a file: `time`, or when that is not
    /// after the first record of the file before (a read that filled more
    /// than a file, a clock set back), the nanosecond after it, so that the
    /// ring's files are ordered by their first record's time. (Only there:
    /// a check per record costs a quarter of the log's time with short
    /// lines.)
    fn first_time(&mut self, time: &[u8; TIME_LEN]) -> [u8; TIME_LEN] {
        let first = match &self.file_first {
            Some(before) if time <= before => next_nanosecond(before),
            _ => *time,
        };
        self.file_first = Some(first);
        first
    }

    /// The size a file is kept under (after clamping).
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// Bytes lost in this boot so far.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// Adds one record, flushing first and going on with the next file
    /// when it would take the current one past `max_size`.
    pub fn push(&mut self, time: &[u8; TIME_LEN], stream: Stream, partial: bool, content: &[u8]) {
        self.push_prefixed(&Prefix::new(time, stream), partial, content);
    }

    /// [`LogFile::push`] with the prefix made once for many records.
    pub fn push_prefixed(&mut self, prefix: &Prefix, partial: bool, content: &[u8]) {
        let len = prefix.len + content.len() + 1;
        let reserve = if self.dropped > 0 { NOTE_RESERVE } else { 0 };
        let pending = self.size + self.buf.len() as u64;
        let starts_file = if pending > 0 && pending + len as u64 + reserve > self.max_size {
            self.flush();
            self.rotate();
            true
        } else {
            pending == 0
        };
        let first = starts_file.then(|| self.first_time(prefix.time()));
        match first {
            Some(time) if &time != prefix.time() => {
                format_record(&mut self.buf, &time, prefix.stream(), partial, content);
            }
            _ => {
                self.buf.reserve(len);
                self.buf.extend_from_slice(&prefix.bytes[..prefix.len]);
                if partial {
                    let tag = self.buf.len() - 2;
                    self.buf[tag] = b'P';
                }
                self.buf.extend_from_slice(content);
                self.buf.push(b'\n');
            }
        }
        if self.buf.len() >= FLUSH_AT {
            self.flush();
        }
    }

    /// Writes the pending records. A failure drops them (counted); the
    /// file is cut back to its last whole record.
    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        if self.dropped > 0 {
            let mut note = Vec::with_capacity(NOTE_RESERVE as usize);
            let reason = self.drop_reason.map(|e| ErrnoText(e).to_string());
            let text = format!(
                "dropped {} bytes of log: {}",
                self.dropped,
                reason.as_deref().unwrap_or("write failed")
            );
            format_record(&mut note, &now(), Stream::Xdocker, false, text.as_bytes());
            self.buf.splice(0..0, note);
        }
        let file = &self.files[self.current];
        let mut written = 0;
        let failure = loop {
            if written == self.buf.len() {
                break None;
            }
            match sys::write(file.as_fd(), &self.buf[written..]) {
                Ok(0) => break Some(Errno::ENOSPC),
                Ok(n) => written += n,
                // The file is regular: EAGAIN does not happen.
                Err(e) => break Some(e),
            }
        };
        match failure {
            None => {
                self.size += written as u64;
                self.dropped = 0;
                self.drop_reason = None;
                self.buf.clear();
                if self.buf.capacity() > 2 * FLUSH_AT {
                    self.buf.shrink_to(FLUSH_AT);
                }
            }
            Some(errno) => {
                if written > 0 {
                    // Half a record is no record: back to the last whole one.
                    let _ = nix::unistd::ftruncate(file, self.size as libc::off_t);
                }
                let lost = self.buf.len() as u64;
                self.dropped += lost;
                self.dropped_total += lost;
                self.drop_reason = Some(errno);
                self.buf.clear();
            }
        }
    }

    /// On with the next file of the ring (the oldest), truncated to
    /// nothing; with one file, that file starts over.
    fn rotate(&mut self) {
        self.current = (self.current + 1) % self.files.len();
        let file = &self.files[self.current];
        self.size = match nix::unistd::ftruncate(file, 0) {
            Ok(()) => 0,
            Err(_) => file_size(file),
        };
    }

    /// The descriptor of the file being written (tests swap it).
    #[cfg(test)]
    fn file_fd(&self) -> RawFd {
        self.files[self.current].as_raw_fd()
    }
}

/// The size of a regular file (0 when it cannot be read).
fn file_size(file: &OwnedFd) -> u64 {
    nix::sys::stat::fstat(file.as_raw_fd())
        .map(|st| u64::try_from(st.st_size).unwrap_or(0))
        .unwrap_or(0)
}

/// How the copy of a stream reaches its original destination (the
/// terminal or pipe `xdocker -a boot -e` was started with) without ever
/// making init wait on a slow or stopped reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TeeMode {
    /// A regular file or a device that is not a terminal: writes return.
    Direct,
    /// A non-blocking descriptor (xdocker opens the terminal afresh with
    /// O_NONBLOCK): write what it takes, keep the rest.
    NonBlocking,
    /// A blocking pipe, socket or terminal: write a chunk each time poll
    /// says there is room (a page for a pipe; for a terminal a best effort,
    /// xdocker always hands a non-blocking one).
    Chunked(usize),
}

/// Where a captured stream is copied to, as it is read.
#[derive(Debug)]
pub struct Tee {
    /// A descriptor of the process (1 or 2), not owned.
    fd: RawFd,
    mode: TeeMode,
    /// Bytes not written yet; the source is not read while there are any.
    pending: Vec<u8>,
}

/// What a tee did with its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TeeState {
    /// Everything written.
    Done,
    /// Bytes left: wait for POLLOUT.
    Waiting,
    /// The reader is gone (EPIPE): the source is closed, so that the
    /// writer gets EPIPE (or SIGPIPE) as it would have without the log.
    ReaderGone,
    /// Another failure (a terminal hung up): no more copies.
    Failed,
}

impl Tee {
    /// A tee to this process's descriptor `fd` (1 or 2), which stays open
    /// as long as the tee.
    pub fn to(fd: RawFd) -> Tee {
        // SAFETY: fstat and fcntl on a descriptor number with a valid out
        // pointer; a closed one fails (the tee then writes directly and
        // fails at its first write).
        let (kind, flags) = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            let kind = if libc::fstat(fd, &mut st) == 0 {
                st.st_mode & libc::S_IFMT
            } else {
                0
            };
            (kind, libc::fcntl(fd, libc::F_GETFL))
        };
        // SAFETY: isatty takes a descriptor number.
        let tty = unsafe { libc::isatty(fd) } == 1;
        let mode = if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
            TeeMode::NonBlocking
        } else if tty {
            TeeMode::Chunked(TTY_CHUNK)
        } else if kind == libc::S_IFIFO || kind == libc::S_IFSOCK {
            TeeMode::Chunked(PIPE_CHUNK)
        } else {
            TeeMode::Direct
        };
        Tee {
            fd,
            mode,
            pending: Vec::new(),
        }
    }

    fn borrowed(&self) -> BorrowedFd<'_> {
        // SAFETY: the process keeps fds 1 and 2 open for its whole life;
        // the borrow lasts one system call.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }

    /// Copies `data` (or queues it) and writes what can be written now.
    fn push(&mut self, data: &[u8]) -> TeeState {
        if self.pending.is_empty() && self.mode == TeeMode::Direct {
            return match sys::write_all(self.borrowed(), data) {
                Ok(true) => TeeState::Done,
                Ok(false) => TeeState::ReaderGone,
                Err(_) => TeeState::Failed,
            };
        }
        self.pending.extend_from_slice(data);
        self.write_pending()
    }

    /// Writes `pending`, waiting for room until `deadline`; false when it
    /// could not (time is up, the reader is gone).
    fn flush_until(&mut self, deadline: std::time::Instant) -> bool {
        loop {
            match self.write_pending() {
                TeeState::Done => return true,
                TeeState::Waiting => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
                    if ms == 0
                        || !matches!(sys::wait_fd(self.borrowed(), libc::POLLOUT, ms), Ok(true))
                    {
                        return false;
                    }
                }
                TeeState::ReaderGone | TeeState::Failed => return false,
            }
        }
    }

    /// Writes as much of `pending` as goes without waiting.
    fn write_pending(&mut self) -> TeeState {
        let mut done = 0;
        let state = loop {
            if done == self.pending.len() {
                break TeeState::Done;
            }
            let chunk = match self.mode {
                TeeMode::Direct | TeeMode::NonBlocking => self.pending.len() - done,
                TeeMode::Chunked(size) => {
                    match sys::wait_fd(self.borrowed(), libc::POLLOUT, 0) {
                        Ok(true) => {}
                        Ok(false) => break TeeState::Waiting,
                        Err(_) => break TeeState::Failed,
                    }
                    size.min(self.pending.len() - done)
                }
            };
            match sys::write(self.borrowed(), &self.pending[done..done + chunk]) {
                Ok(n) => done += n,
                Err(Errno::EAGAIN) => break TeeState::Waiting,
                Err(Errno::EPIPE) => break TeeState::ReaderGone,
                Err(_) => break TeeState::Failed,
            }
        };
        self.pending.drain(..done);
        state
    }
}

/// A descriptor the loop reads and logs as one stream.
#[derive(Debug)]
struct Source {
    /// Non-blocking; None once closed.
    fd: Option<OwnedFd>,
    stream: Stream,
    /// A terminal's lines: a trailing `\r` is dropped.
    pty: bool,
    /// The unfinished line (shorter than [`MAX_LINE`]).
    carry: Vec<u8>,
    tee: Option<Tee>,
    /// Held open, never read: a pty master reads EIO (and polls POLLHUP
    /// for ever) while no slave is open, so its owner keeps one.
    hold: Option<OwnedFd>,
    /// The main process's terminal: its bytes go to the attached clients
    /// too ([`Capture::terminal`]).
    shared: bool,
}

/// Bytes from the user's terminal to the main process's pty (the input
/// half of `docker run -it`).
#[derive(Debug)]
struct Input {
    /// This process's fd 0, not owned; None once it ended.
    from: Option<RawFd>,
    /// The pty master (non-blocking).
    to: OwnedFd,
    pending: Vec<u8>,
}

/// What the loop polls for the log: opaque tokens with a descriptor and
/// the events to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
    /// Handed back to [`Capture::ready`].
    pub token: usize,
    pub fd: RawFd,
    pub events: libc::c_short,
}

/// Every captured stream and the log they go to. PID 1 owns one: it adds
/// the sources (the console, the main process's pipes or pty), polls
/// [`Capture::interests`] with the rest of its loop and calls
/// [`Capture::ready`]; other code hands it bytes with [`Capture::note`].
/// Without a log (no `--log-dir-fd`) the sources are still read and their
/// tees still fed.
#[derive(Debug)]
pub struct Capture {
    log: Option<LogFile>,
    sources: Vec<Source>,
    input: Option<Input>,
    /// One read buffer for every source, allocated at the first read.
    buf: Vec<u8>,
    /// The main process's terminal shared with attached clients
    /// (`--main-tty`), fed by the source added with [`Capture::add_shared`].
    terminal: Option<MainTerminal>,
}

/// The token of the input relay; sources are numbered from 0.
const INPUT_TOKEN: usize = usize::MAX;

impl Capture {
    /// A capture writing to `log` (None: no log, sources are only teed).
    pub fn new(log: Option<LogFile>) -> Capture {
        Capture {
            log,
            sources: Vec::new(),
            input: None,
            buf: Vec::new(),
            terminal: None,
        }
    }

    /// Whether records go to a log.
    pub fn has_log(&self) -> bool {
        self.log.is_some()
    }

    /// The log, when there is one.
    pub fn log(&self) -> Option<&LogFile> {
        self.log.as_ref()
    }

    /// The slave of the console's pty that init holds (O_NOCTTY): what a
    /// process is given as its stdout and stderr to be logged as stream
    /// `console` (boot services), without a lookup of `/dev/console` in a
    /// tree the container controls.
    pub fn console(&self) -> Option<BorrowedFd<'_>> {
        self.sources
            .iter()
            .find(|s| s.stream == Stream::Console && s.fd.is_some())
            .and_then(|s| s.hold.as_ref())
            .map(AsFd::as_fd)
    }

    /// Reads `fd` (made non-blocking here) as `stream`; `pty`: a terminal
    /// master, whose lines lose a trailing `\r`; `hold`: a descriptor kept
    /// open as long as the source (the master's own slave); `tee`: where
    /// the bytes are copied as read.
    pub fn add(
        &mut self,
        stream: Stream,
        fd: OwnedFd,
        pty: bool,
        hold: Option<OwnedFd>,
        tee: Option<Tee>,
    ) -> Result<(), LogError> {
        sys::set_nonblocking(fd.as_fd()).map_err(|source| LogError {
            op: "make a source non-blocking",
            source,
        })?;
        self.sources.push(Source {
            fd: Some(fd),
            stream,
            pty,
            carry: Vec::new(),
            tee,
            hold,
            shared: false,
        });
        Ok(())
    }

    /// Reads pty master `fd` as `stream`, as [`Capture::add`] does, and
    /// hands what it reads to `terminal` too.
    pub fn add_shared(
        &mut self,
        stream: Stream,
        fd: OwnedFd,
        terminal: MainTerminal,
    ) -> Result<(), LogError> {
        self.add(stream, fd, true, None, None)?;
        if let Some(source) = self.sources.last_mut() {
            source.shared = true;
        }
        self.terminal = Some(terminal);
        Ok(())
    }

    /// The main process's terminal shared with attached clients, if any.
    pub fn terminal(&mut self) -> Option<&mut MainTerminal> {
        self.terminal.as_mut()
    }

    /// Relays what this process reads on `from` (fd 0, a terminal in raw
    /// mode) to `to` (a pty master, made non-blocking here).
    pub fn relay_input(&mut self, from: RawFd, to: OwnedFd) -> Result<(), LogError> {
        sys::set_nonblocking(to.as_fd()).map_err(|source| LogError {
            op: "make the pty non-blocking",
            source,
        })?;
        self.input = Some(Input {
            from: Some(from),
            to,
            pending: Vec::new(),
        });
        Ok(())
    }

    /// One whole record of xdockerinit's own (`stream` xdocker), written
    /// at once: the boot marker, the stop. Newlines in `text` become spaces.
    pub fn note(&mut self, text: &str) {
        let Some(log) = self.log.as_mut() else {
            return;
        };
        let text: Vec<u8> = text
            .bytes()
            .map(|b| if b == b'\n' { b' ' } else { b })
            .take(MAX_LINE)
            .collect();
        log.push(&now(), Stream::Xdocker, false, &text);
        log.flush();
    }

    /// The descriptors to poll now: each open source (or its tee while
    /// bytes wait to be copied) and the input relay.
    pub fn interests(&self) -> Vec<Interest> {
        let mut out = Vec::with_capacity(self.sources.len() + 1);
        for (token, source) in self.sources.iter().enumerate() {
            let Some(fd) = &source.fd else { continue };
            match &source.tee {
                Some(tee) if !tee.pending.is_empty() => out.push(Interest {
                    token,
                    fd: tee.fd,
                    events: libc::POLLOUT,
                }),
                _ => out.push(Interest {
                    token,
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                }),
            }
        }
        if let Some(input) = &self.input {
            match input.from {
                Some(_) if !input.pending.is_empty() => out.push(Interest {
                    token: INPUT_TOKEN,
                    fd: input.to.as_raw_fd(),
                    events: libc::POLLOUT,
                }),
                Some(from) => out.push(Interest {
                    token: INPUT_TOKEN,
                    fd: from,
                    events: libc::POLLIN,
                }),
                None => {}
            }
        }
        out
    }

    /// An interest of [`Capture::interests`] is ready.
    pub fn ready(&mut self, token: usize) {
        if token == INPUT_TOKEN {
            self.relay();
        } else if token < self.sources.len() {
            self.service(token, READS_PER_TURN);
        }
    }

    /// Reads every source until it has nothing more (at most `reads`
    /// chunks each) and writes the records: before the stop's SIGKILL and
    /// after the last process is gone.
    pub fn drain(&mut self, reads: usize) {
        for index in 0..self.sources.len() {
            self.service(index, reads);
        }
        if let Some(log) = self.log.as_mut() {
            log.flush();
        }
    }

    /// Whether every tee has written all its source had: nothing pending,
    /// nothing left to read (the stop waits for that, see
    /// [`crate::init`]'s draining).
    pub fn flushed(&self) -> bool {
        self.sources
            .iter()
            .all(|source| match (&source.fd, &source.tee) {
                (Some(fd), Some(tee)) => tee.pending.is_empty() && sys::readable(fd.as_fd()) == 0,
                _ => true,
            })
    }

    /// The end of the boot, every process gone: all that is left in the
    /// sources is read and logged (unfinished lines as `P` pieces), tees
    /// get up to `tee_wait` in all to take their share (a tee that does
    /// not is dropped), and the `stop` record is written last.
    pub fn finish(&mut self, stop: &str, tee_wait: std::time::Duration) {
        let deadline = std::time::Instant::now() + tee_wait;
        let Capture {
            log,
            sources,
            buf,
            terminal,
            ..
        } = self;
        if buf.is_empty() {
            buf.resize(READ_CHUNK, 0);
        }
        for source in sources.iter_mut() {
            // Bounded: no writer is left, so the sources only hold what
            // their buffers hold.
            for _ in 0..1024 {
                if let Some(tee) = source.tee.as_mut() {
                    if !tee.flush_until(deadline) {
                        source.tee = None;
                    }
                }
                let Some(fd) = source.fd.as_ref() else { break };
                let n = match sys::read(fd.as_fd(), buf) {
                    Ok(n) if n > 0 => n,
                    Err(Errno::EAGAIN) => break,
                    _ => {
                        close(source, log.as_mut());
                        break;
                    }
                };
                if let Some(log) = log.as_mut() {
                    log_bytes(log, source, &now(), &buf[..n]);
                }
                if let (true, Some(t)) = (source.shared, terminal.as_mut()) {
                    t.output(&buf[..n]);
                }
                if let Some(tee) = source.tee.as_mut() {
                    tee.pending.extend_from_slice(&buf[..n]);
                }
            }
            if let Some(tee) = source.tee.as_mut() {
                tee.flush_until(deadline);
            }
            if let Some(log) = log.as_mut() {
                if !source.carry.is_empty() {
                    log.push(&now(), source.stream, true, &source.carry);
                    source.carry.clear();
                }
            }
        }
        self.note(stop);
    }

    /// Reads up to `reads` chunks of source `index`, logs them and feeds
    /// its tee (or first writes what its tee holds).
    fn service(&mut self, index: usize, reads: usize) {
        let Capture {
            log,
            sources,
            buf,
            terminal,
            ..
        } = self;
        let source = &mut sources[index];
        if let Some(tee) = source.tee.as_mut() {
            if !tee.pending.is_empty() {
                match tee.write_pending() {
                    TeeState::Done => {}
                    TeeState::Waiting => return,
                    TeeState::ReaderGone => return close(source, log.as_mut()),
                    TeeState::Failed => source.tee = None,
                }
            }
        }
        if buf.is_empty() {
            buf.resize(READ_CHUNK, 0);
        }
        for _ in 0..reads {
            let Some(fd) = source.fd.as_ref() else { return };
            let n = match sys::read(fd.as_fd(), buf) {
                Ok(0) => return close(source, log.as_mut()),
                Ok(n) => n,
                Err(Errno::EAGAIN) => break,
                // EIO: a pty whose slaves are all closed (hung up).
                Err(_) => return close(source, log.as_mut()),
            };
            let data = &buf[..n];
            if let Some(log) = log.as_mut() {
                log_bytes(log, source, &now(), data);
            }
            if let (true, Some(t)) = (source.shared, terminal.as_mut()) {
                t.output(data);
            }
            if let Some(tee) = source.tee.as_mut() {
                match tee.push(data) {
                    TeeState::Done => {}
                    TeeState::Waiting => break,
                    TeeState::ReaderGone => return close(source, log.as_mut()),
                    TeeState::Failed => source.tee = None,
                }
            }
            if n < buf.len() {
                // The pipe is empty for now: no need for a read that says so.
                break;
            }
        }
        if let Some(log) = log.as_mut() {
            log.flush();
        }
    }

    /// Copies the user's keys to the main process's pty.
    fn relay(&mut self) {
        let Some(input) = self.input.as_mut() else {
            return;
        };
        let Some(from) = input.from else { return };
        if input.pending.is_empty() {
            let mut keys = [0u8; 4096];
            // SAFETY: fd 0 stays open for the process's life; the borrow
            // lasts one read.
            let stdin = unsafe { BorrowedFd::borrow_raw(from) };
            match sys::read(stdin, &mut keys) {
                Ok(n) if n > 0 => input.pending.extend_from_slice(&keys[..n]),
                Err(Errno::EAGAIN) => return,
                // The terminal hung up (EOF, EIO): no more input.
                _ => {
                    input.from = None;
                    return;
                }
            }
        }
        match sys::write(input.to.as_fd(), &input.pending) {
            Ok(n) => {
                input.pending.drain(..n);
            }
            Err(Errno::EAGAIN) => {}
            Err(_) => input.from = None,
        }
    }
}

/// A source ends: its unfinished line is logged as a piece, its
/// descriptor closed.
fn close(source: &mut Source, log: Option<&mut LogFile>) {
    if let Some(log) = log {
        if !source.carry.is_empty() {
            log.push(&now(), source.stream, true, &source.carry);
            source.carry.clear();
        }
        log.flush();
    }
    source.fd = None;
    source.tee = None;
}

/// Cuts `data` into records: each finished line (with the unfinished one
/// carried from before) is one `F` record, longer ones are cut into `P`
/// pieces; what follows the last newline is carried.
fn log_bytes(log: &mut LogFile, source: &mut Source, time: &[u8; TIME_LEN], data: &[u8]) {
    let prefix = Prefix::new(time, source.stream);
    let mut rest = data;
    while let Some(at) = find_newline(rest) {
        let line = &rest[..at];
        rest = &rest[at + 1..];
        if source.carry.is_empty() {
            push_line(log, &prefix, source.pty, line);
        } else {
            let mut whole = std::mem::take(&mut source.carry);
            whole.extend_from_slice(line);
            push_line(log, &prefix, source.pty, &whole);
            whole.clear();
            source.carry = whole;
        }
    }
    source.carry.extend_from_slice(rest);
    if source.carry.len() >= MAX_LINE {
        let whole = source.carry.len() / MAX_LINE * MAX_LINE;
        for piece in source.carry[..whole].chunks(MAX_LINE) {
            log.push_prefixed(&prefix, true, piece);
        }
        source.carry.drain(..whole);
    }
}

/// One finished line: `P` pieces of [`MAX_LINE`] and the last one `F`.
fn push_line(log: &mut LogFile, prefix: &Prefix, pty: bool, line: &[u8]) {
    let line = match line {
        [head @ .., b'\r'] if pty => head,
        _ => line,
    };
    let mut rest = line;
    while rest.len() > MAX_LINE {
        log.push_prefixed(prefix, true, &rest[..MAX_LINE]);
        rest = &rest[MAX_LINE..];
    }
    log.push_prefixed(prefix, false, rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The ring `console.0` .. `console.N-1` in `dir`, opened (created
    /// when missing) the way the host opens it, `console.0` first.
    fn log_in(dir: &Path, max_size: u64, files: u32) -> LogFile {
        let fds = (0..files)
            .map(|i| {
                sys::open(
                    &dir.join(file_name(i)),
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::from_bits_truncate(0o640),
                )
                .expect("open log file")
            })
            .collect();
        LogFile::open(fds, max_size).expect("log")
    }

    /// The first file of the ring, written first.
    fn first(dir: &Path) -> std::path::PathBuf {
        dir.join(file_name(0))
    }

    fn records(path: &Path) -> Vec<(Stream, bool, Vec<u8>)> {
        let text = std::fs::read(path).unwrap_or_default();
        text.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let r =
                    parse_record(l).unwrap_or_else(|| panic!("{:?}", String::from_utf8_lossy(l)));
                (r.stream, r.partial, r.content.to_vec())
            })
            .collect()
    }

    const T: &[u8; TIME_LEN] = b"2024-05-01T12:34:56.123456789Z";

    #[test]
    fn times_are_rfc3339_utc_with_nanoseconds() {
        assert_eq!(&format_time(0, 0), b"1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            &format_time(951_782_400, 5),
            b"2000-02-29T00:00:00.000000005Z"
        );
        assert_eq!(
            &format_time(1_709_251_199, 999_999_999),
            b"2024-02-29T23:59:59.999999999Z"
        );
        assert_eq!(&format_time(-1, 0), b"1969-12-31T23:59:59.000000000Z");
        assert_eq!(
            &format_time(253_402_300_799, 0),
            b"9999-12-31T23:59:59.000000000Z"
        );
        assert_eq!(&format_time(i64::MAX, 0), b"9999-12-31T23:59:59.999999999Z");
        assert_eq!(&format_time(i64::MIN, 7), b"0000-01-01T00:00:00.000000000Z");
        // Every day of four centuries against a naive day count.
        let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for days in 0..146_097i64 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let len = match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
        let t = now();
        assert!(parse_record(&[&t[..], b" xdocker F x"].concat()).is_some());
    }

    #[test]
    fn times_parse_back_and_files_start_at_times_of_their_own() {
        for secs in [
            0i64,
            -1,
            951_782_400,
            1_709_251_199,
            253_402_300_799,
            -62_167_219_200,
        ] {
            for nanos in [0u32, 1, 999_999_999] {
                assert_eq!(parse_time(&format_time(secs, nanos)), Some((secs, nanos)));
            }
        }
        assert_eq!(parse_time(b"2024-13-01T00:00:00.000000000Z"), None);
        assert_eq!(parse_time(b"2024-05-01 00:00:00.000000000Z"), None);
        assert_eq!(
            &next_nanosecond(b"2024-05-01T12:34:56.123456789Z"),
            b"2024-05-01T12:34:56.123456790Z"
        );
        assert_eq!(
            &next_nanosecond(b"2024-12-31T23:59:59.999999999Z"),
            b"2025-01-01T00:00:00.000000000Z"
        );
        // A read that fills files: each one's first record is later than
        // the one before, whatever the clock says.
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = log_in(dir.path(), MIN_MAX_SIZE, 3);
        for _ in 0..150 {
            log.push(T, Stream::Stdout, false, &[b'x'; 1000]);
        }
        log.push(&format_time(0, 0), Stream::Stdout, false, b"clock set back");
        log.flush();
        let mut firsts: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                std::fs::read(dir.path().join(file_name(i))).expect("read")[..TIME_LEN].to_vec()
            })
            .collect();
        assert_eq!(
            firsts[0],
            T.to_vec(),
            "the first file starts at the read's time"
        );
        assert_eq!(firsts[1], b"2024-05-01T12:34:56.123456790Z".to_vec());
        firsts.dedup();
        assert_eq!(firsts.len(), 3, "{firsts:?}");
    }

    #[test]
    fn a_prefix_makes_the_same_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = log_in(dir.path(), 10 << 20, 1);
        let mut want = Vec::new();
        for stream in Stream::ALL {
            let prefix = Prefix::new(T, stream);
            assert_eq!(prefix.stream(), stream);
            assert_eq!(prefix.time(), T);
            for partial in [false, true] {
                log.push_prefixed(&prefix, partial, b"same bytes");
                format_record(&mut want, T, stream, partial, b"same bytes");
            }
        }
        log.flush();
        assert_eq!(std::fs::read(first(dir.path())).expect("read"), want);
    }

    #[test]
    fn records_round_trip_with_any_bytes() {
        for (stream, partial, content) in [
            (Stream::Stdout, false, &b"hello world"[..]),
            (Stream::Stderr, true, b""),
            (Stream::Console, false, b"  spaces  and \t tabs \r"),
            (Stream::Xdocker, false, b"\xff\x00 binary F P"),
        ] {
            let mut out = Vec::new();
            format_record(&mut out, T, stream, partial, content);
            assert_eq!(out.len(), record_len(stream, content.len()));
            assert_eq!(out.last(), Some(&b'\n'));
            let r = parse_record(&out[..out.len() - 1]).expect("parses");
            assert_eq!(
                (r.time, r.stream, r.partial, r.content),
                (&T[..], stream, partial, content)
            );
        }
        for bad in [
            &b""[..],
            b"2024-05-01T12:34:56.123456789Z",
            b"2024-05-01T12:34:56.123456789Z stdout",
            b"2024-05-01T12:34:56.123456789Z stdin F x",
            b"2024-05-01T12:34:56.123456789Z stdout X x",
            b"2024-05-01T12:34:56.123456789Z stdout Fx",
            b"garbage garbage garbage garbage garbage stdout F x",
        ] {
            assert_eq!(
                parse_record(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // An empty line: no content.
        let r = parse_record(b"2024-05-01T12:34:56.123456789Z stdout F").expect("empty");
        assert_eq!(r.content, b"");
    }

    #[test]
    fn lines_are_cut_at_newlines_and_long_ones_into_pieces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = log_in(dir.path(), 10 << 20, 2);
        let mut src = Source {
            fd: None,
            stream: Stream::Stdout,
            pty: false,
            carry: Vec::new(),
            tee: None,
            hold: None,
            shared: false,
        };
        log_bytes(&mut log, &mut src, T, b"one\ntw");
        log_bytes(&mut log, &mut src, T, b"o\n\nthree");
        assert_eq!(src.carry, b"three");
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        log_bytes(&mut log, &mut src, T, b"\n");
        log_bytes(&mut log, &mut src, T, &long);
        assert_eq!(src.carry.len(), 10, "whole pieces go at once");
        log_bytes(&mut log, &mut src, T, b"end\r\n");
        let mut tty = Source {
            pty: true,
            stream: Stream::Console,
            ..src
        };
        tty.carry.clear();
        log_bytes(&mut log, &mut tty, T, b"crlf\r\n");
        log.flush();
        let got = records(&first(dir.path()));
        let x = |n| vec![b'x'; n];
        assert_eq!(
            got,
            vec![
                (Stream::Stdout, false, b"one".to_vec()),
                (Stream::Stdout, false, b"two".to_vec()),
                (Stream::Stdout, false, b"".to_vec()),
                (Stream::Stdout, false, b"three".to_vec()),
                (Stream::Stdout, true, x(MAX_LINE)),
                (Stream::Stdout, true, x(MAX_LINE)),
                (Stream::Stdout, false, [&x(10)[..], b"end\r"].concat()),
                (Stream::Console, false, b"crlf".to_vec()),
            ]
        );
    }

    #[test]
    fn rotation_goes_round_the_ring_each_file_under_max_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let max = MIN_MAX_SIZE;
        let mut log = log_in(dir.path(), max, 3);
        let line = [b'y'; 1000];
        for i in 0..1000u32 {
            let mut content = i.to_string().into_bytes();
            content.extend_from_slice(&line);
            log.push(
                &format_time(i64::from(i), 0),
                Stream::Stdout,
                false,
                &content,
            );
        }
        log.flush();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["console.0", "console.1", "console.2"]);
        // Oldest first: by the time of their first record, as -s logs reads.
        type Recs = Vec<(Stream, bool, Vec<u8>)>;
        let mut files: Vec<(Vec<u8>, Recs)> = (0..3)
            .map(|i| {
                let path = dir.path().join(file_name(i));
                let size = std::fs::metadata(&path).expect("stat").len();
                assert!(size <= max, "{path:?}: {size}");
                let text = std::fs::read(&path).expect("read");
                (text[..TIME_LEN].to_vec(), records(&path))
            })
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut numbers = Vec::new();
        for (i, (_, recs)) in files.iter().enumerate() {
            let size: usize = recs.iter().map(|r| record_len(r.0, r.2.len())).sum();
            if i < 2 {
                assert!(size as u64 > max - 1100, "left only when full: {size}");
            }
            for (_, _, content) in recs {
                let digits: Vec<u8> = content
                    .iter()
                    .copied()
                    .take_while(u8::is_ascii_digit)
                    .collect();
                numbers.push(
                    String::from_utf8(digits)
                        .expect("digits")
                        .parse::<u32>()
                        .expect("n"),
                );
            }
        }
        // The newest records, in order, none lost or doubled.
        let first_kept = numbers[0];
        assert_eq!(numbers, (first_kept..1000).collect::<Vec<_>>());
        assert!(first_kept > 0, "the oldest were overwritten");
        // A second boot appends to the file it is given first.
        drop(log);
        let before = std::fs::metadata(first(dir.path())).expect("stat").len();
        let mut log = log_in(dir.path(), max, 3);
        log.push(T, Stream::Xdocker, false, b"boot");
        log.flush();
        let after = std::fs::metadata(first(dir.path())).expect("stat").len();
        assert_eq!(after, before + record_len(Stream::Xdocker, 4) as u64);
    }

    #[test]
    fn one_file_only_starts_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = log_in(dir.path(), MIN_MAX_SIZE, 1);
        for _ in 0..200 {
            log.push(T, Stream::Stdout, false, &[b'z'; 1000]);
        }
        log.flush();
        let size = std::fs::metadata(first(dir.path())).expect("stat").len();
        assert!(size <= MIN_MAX_SIZE);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn a_full_disk_drops_and_counts_then_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = log_in(dir.path(), 10 << 20, 2);
        log.push(T, Stream::Stdout, false, b"before");
        log.flush();
        // The file becomes /dev/full: every write fails with ENOSPC.
        let full = sys::open("/dev/full", OFlag::O_WRONLY, nix::sys::stat::Mode::empty())
            .expect("/dev/full");
        let fd = log.file_fd();
        nix::unistd::dup2(full.as_raw_fd(), fd).expect("dup2");
        log.push(T, Stream::Stdout, false, b"lost");
        log.flush();
        let lost = record_len(Stream::Stdout, 4) as u64;
        assert_eq!(log.dropped_total(), lost);
        // The disk has room again: the same descriptor, the real file.
        let real = sys::open(
            &first(dir.path()),
            OFlag::O_WRONLY | OFlag::O_APPEND,
            nix::sys::stat::Mode::empty(),
        )
        .expect("reopen");
        nix::unistd::dup2(real.as_raw_fd(), fd).expect("dup2");
        log.push(T, Stream::Stdout, false, b"after");
        log.flush();
        let got = records(&first(dir.path()));
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].2, b"before");
        assert_eq!(got[1].0, Stream::Xdocker);
        assert_eq!(
            String::from_utf8_lossy(&got[1].2),
            format!("dropped {lost} bytes of log: no space left on device")
        );
        assert_eq!(got[2].2, b"after");
    }

    #[test]
    fn only_regular_files_make_a_log() {
        let (r, _w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
        let e = LogFile::open(vec![r], MIN_MAX_SIZE).expect_err("a pipe");
        assert_eq!(e.op, "a log file is not a regular file");
        assert!(LogFile::open(Vec::new(), MIN_MAX_SIZE).is_err());
    }

    #[test]
    fn a_capture_logs_and_tees_a_pipe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = log_in(dir.path(), 10 << 20, 2);
        let mut capture = Capture::new(Some(log));
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
        let (tee_r, tee_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
        capture
            .add(
                Stream::Stderr,
                r,
                false,
                None,
                Some(Tee::to(tee_w.as_raw_fd())),
            )
            .expect("add");
        capture.note("boot");
        sys::write_all(w.as_fd(), b"first\nsecond").expect("write");
        let interests = capture.interests();
        assert_eq!(interests.len(), 1);
        assert_eq!(interests[0].events, libc::POLLIN);
        capture.ready(interests[0].token);
        let mut copy = [0u8; 64];
        let n = sys::read(tee_r.as_fd(), &mut copy).expect("read tee");
        assert_eq!(&copy[..n], b"first\nsecond", "the tee gets bytes as read");
        drop(w);
        capture.ready(0);
        assert!(capture.interests().is_empty(), "closed at EOF");
        capture.finish("stop: exit code 0", std::time::Duration::ZERO);
        let got: Vec<(Stream, bool, String)> = records(&first(dir.path()))
            .into_iter()
            .map(|(s, p, c)| (s, p, String::from_utf8(c).expect("utf8")))
            .collect();
        assert_eq!(
            got,
            vec![
                (Stream::Xdocker, false, "boot".into()),
                (Stream::Stderr, false, "first".into()),
                (Stream::Stderr, true, "second".into()),
                (Stream::Xdocker, false, "stop: exit code 0".into()),
            ]
        );
    }

    #[test]
    fn the_held_console_slave_feeds_the_console_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut capture = Capture::new(Some(log_in(dir.path(), 10 << 20, 2)));
        assert!(capture.console().is_none());
        let pty = nix::pty::openpty(None, None).expect("openpty");
        capture
            .add(Stream::Console, pty.master, true, Some(pty.slave), None)
            .expect("add");
        let console = capture.console().expect("console slave");
        // A terminal's line discipline makes "\n" "\r\n": the log drops "\r".
        sys::write_all(console, b"service started\n").expect("write");
        assert!(sys::wait_fd(
            capture.sources[0].fd.as_ref().expect("master").as_fd(),
            libc::POLLIN,
            1000
        )
        .expect("poll"));
        capture.ready(0);
        capture.finish("stop", std::time::Duration::ZERO);
        let got = records(&first(dir.path()));
        assert_eq!(
            got[0],
            (Stream::Console, false, b"service started".to_vec())
        );
    }

    #[test]
    fn a_full_tee_pipe_holds_the_source_and_a_closed_one_closes_it() {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
        let (tee_r, tee_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
        let mut capture = Capture::new(None);
        capture
            .add(
                Stream::Stdout,
                r,
                false,
                None,
                Some(Tee::to(tee_w.as_raw_fd())),
            )
            .expect("add");
        sys::set_nonblocking(w.as_fd()).expect("nonblock");
        // Fill the source; the tee pipe (64 KiB) fills too.
        let chunk = [b'a'; 4096];
        let mut written = 0;
        while written < 128 << 10 {
            match sys::write(w.as_fd(), &chunk) {
                Ok(n) => written += n,
                Err(Errno::EAGAIN) => capture.ready(0),
                Err(e) => panic!("{e}"),
            }
        }
        capture.ready(0);
        let interests = capture.interests();
        assert_eq!(interests[0].fd, tee_w.as_raw_fd(), "waits for the tee");
        assert_eq!(interests[0].events, libc::POLLOUT);
        assert!(!capture.flushed(), "bytes wait for the tee");
        // The tee's reader goes away: the source is closed, its writer
        // gets EPIPE as it would have without the log.
        drop(tee_r);
        capture.ready(0);
        assert!(capture.interests().is_empty());
        assert!(capture.flushed());
        assert_eq!(sys::write(w.as_fd(), b"x"), Err(Errno::EPIPE));
    }
}
