//! A container's console log read back (`-s logs`): the ring of files
//! xdockerinit writes in `containers/C/log/` (record format and rotation in
//! [`xdockerinit::log`], one definition for both sides), ordered by the
//! time of their first record, `--tail` found by reading backwards from the
//! end in blocks, `--since` compared on the records' fixed-width UTC times,
//! and `--follow` reading on from file to file until the container stops.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use xdockerinit::log::{file_name, parse_record, Record, Stream, MAX_MAX_FILES, TIME_LEN};

/// Bytes read at once, forwards and backwards.
const BLOCK: usize = 256 << 10;

/// How often `--follow` looks for new records when nothing wakes it.
pub const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Errors reading a log.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("read log {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("write the log out: {0}")]
    Write(#[source] io::Error),
}

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> LogsError + '_ {
    move |source| LogsError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// `--since`: records from this time on, as the records write it (UTC,
/// nanoseconds), so that a byte comparison orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since(pub [u8; TIME_LEN]);

impl Since {
    /// An RFC 3339 time (`2024-05-01T12:00:00Z`, `...+02:00`, with or
    /// without fractions), a local date and time without a zone
    /// (`2024-05-01 12:00:00`, `2024-05-01T12:00`), a local date
    /// (`2024-05-01`, its midnight), Unix seconds (`1714564800`), or a
    /// duration before `now` (`10m`, `2h30m`, `45s`, `3d`, `1w`).
    pub fn parse(text: &str, now: DateTime<Utc>) -> Result<Since, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "--since '{text}' is not a time: give RFC 3339 (2024-05-01T12:00:00Z), a \
                 local date and time (2024-05-01 12:00), a date, Unix seconds or a duration \
                 ago (10m, 2h30m, 3d)"
            )
        };
        let at = if let Ok(t) = DateTime::parse_from_rfc3339(t) {
            t.with_timezone(&Utc)
        } else if let Some(d) = parse_duration(t) {
            now.checked_sub_signed(d).ok_or_else(bad)?
        } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            let secs: i64 = t.parse().map_err(|_| bad())?;
            DateTime::from_timestamp(secs, 0).ok_or_else(bad)?
        } else {
            let naive = [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
                "%Y-%m-%d %H:%M",
            ]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
            .or_else(|| {
                NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
            .ok_or_else(bad)?;
            Local
                .from_local_datetime(&naive)
                .earliest()
                .ok_or_else(bad)?
                .with_timezone(&Utc)
        };
        Ok(Since(xdockerinit::log::format_time(
            at.timestamp(),
            at.timestamp_subsec_nanos(),
        )))
    }
}

/// `10m`, `2h30m`, `1d12h`, `90s`, `1w`: whole numbers with units s, m,
/// h, d, w, in any order, summed.
fn parse_duration(text: &str) -> Option<chrono::Duration> {
    let mut total: i64 = 0;
    let mut number: Option<i64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(i64::from(d))?,
            );
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    if number.is_some() || text.is_empty() {
        return None;
    }
    chrono::Duration::try_seconds(total)
}

/// `--tail N` (`all`: no limit).
pub fn parse_tail(text: &str) -> Result<Option<u64>, String> {
    if text == "all" {
        return Ok(None);
    }
    match text.parse::<u64>() {
        Ok(n) if !text.starts_with('+') => Ok(Some(n)),
        _ => Err(format!(
            "--tail '{text}' is not a number of lines (0 or more, or all)"
        )),
    }
}

/// How records are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The lines as written: stdout and console records on stdout, stderr
    /// records on stderr, xdocker's own as `-- boot --`; `timestamps`
    /// puts each line's time first.
    Plain { timestamps: bool },
    /// One JSON object per record on stdout: `{"time", "stream", "log"}`
    /// (Docker's json-file fields; `log` ends with a newline unless the
    /// record is a piece of a longer line).
    Json,
}

/// What to show of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// The last N records only.
    pub tail: Option<u64>,
    pub since: Option<Since>,
    pub format: Format,
}

/// Where the records go.
pub struct Sinks<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

impl std::fmt::Debug for Sinks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sinks")
    }
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    time: &'a str,
    stream: &'a str,
    log: String,
}

/// Writes records in the chosen format; remembers per stream whether
/// the next byte starts a line (for `--timestamps` after `P` pieces).
struct Printer<'s, 'a> {
    sinks: &'s mut Sinks<'a>,
    query: Query,
    at_line_start: [bool; 4],
    /// The sink written last (true: err): the other is flushed when the
    /// stream changes, so a terminal shows the lines in their order.
    on_err: bool,
}

fn stream_index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
        Stream::Console => 2,
        Stream::Xdocker => 3,
    }
}

impl Printer<'_, '_> {
    /// One line of a log file (without its newline).
    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        let Some(record) = parse_record(line) else {
            return Ok(());
        };
        if let Some(since) = &self.query.since {
            if record.time < &since.0[..] {
                return Ok(());
            }
        }
        self.record(&record)
    }

    fn record(&mut self, r: &Record<'_>) -> io::Result<()> {
        let time = std::str::from_utf8(r.time).unwrap_or_default();
        match self.query.format {
            Format::Json => {
                let mut log = String::from_utf8_lossy(r.content).into_owned();
                if !r.partial {
                    log.push('\n');
                }
                let json = JsonRecord {
                    time,
                    stream: r.stream.name(),
                    log,
                };
                serde_json::to_writer(&mut *self.sinks.out, &json)?;
                self.sinks.out.write_all(b"\n")
            }
            Format::Plain { timestamps } => {
                let to_err = r.stream == Stream::Stderr;
                if to_err != self.on_err {
                    self.on_err = to_err;
                    match to_err {
                        true => self.sinks.out.flush()?,
                        false => self.sinks.err.flush()?,
                    }
                }
                let out: &mut dyn Write = match to_err {
                    true => &mut *self.sinks.err,
                    false => &mut *self.sinks.out,
                };
                if r.stream == Stream::Xdocker {
                    // A marker starts a line of its own, even after an
                    // unfinished one of stdout or the console.
                    for s in [Stream::Stdout, Stream::Console] {
                        let start = &mut self.at_line_start[stream_index(s)];
                        if !*start {
                            *start = true;
                            out.write_all(b"\n")?;
                        }
                    }
                }
                if timestamps && self.at_line_start[stream_index(r.stream)] {
                    out.write_all(time.as_bytes())?;
                    out.write_all(b" ")?;
                }
                if r.stream == Stream::Xdocker {
                    out.write_all(b"-- ")?;
                    out.write_all(r.content)?;
                    return out.write_all(b" --\n");
                }
                out.write_all(r.content)?;
                self.at_line_start[stream_index(r.stream)] = !r.partial;
                if !r.partial {
                    out.write_all(b"\n")?;
                }
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sinks.out.flush()?;
        self.sinks.err.flush()
    }
}

/// One file of the log, open, and how far it was read.
#[derive(Debug)]
struct Part {
    path: PathBuf,
    file: File,
    /// The time of its first record: the ring's files are in this order.
    first: [u8; TIME_LEN],
    /// Next byte to read.
    pos: u64,
    /// Bytes of an unfinished record (being written while we read).
    partial: Vec<u8>,
}

/// What is at a file name of the ring.
enum Found {
    /// Nothing: the ring ends before.
    Missing,
    /// A file without a record (not written yet, or just truncated).
    Empty,
    Part(Part),
}

/// The time at the start of `file`, when it begins with a record.
fn first_time(file: &File) -> Option<[u8; TIME_LEN]> {
    let mut head = [0u8; TIME_LEN];
    file.read_exact_at(&mut head, 0).ok()?;
    (head[4] == b'-' && head[10] == b'T' && head[TIME_LEN - 1] == b'Z').then_some(head)
}

impl Part {
    /// Opens a file of the log: never through a symlink, never a FIFO.
    fn open(path: &Path) -> Result<Found, LogsError> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Missing),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(Found::Empty),
            Err(e) => return Err(read_err(path)(e)),
        };
        if !file.metadata().map_err(read_err(path))?.is_file() {
            return Ok(Found::Empty);
        }
        Ok(match first_time(&file) {
            Some(first) => Found::Part(Part {
                path: path.to_path_buf(),
                file,
                first,
                pos: 0,
                partial: Vec::new(),
            }),
            None => Found::Empty,
        })
    }

    /// The writer came round the ring to this file again: it holds newer
    /// records than when it was opened.
    fn recycled(&self) -> bool {
        first_time(&self.file) != Some(self.first)
    }

    fn len(&self) -> Result<u64, LogsError> {
        Ok(self.file.metadata().map_err(read_err(&self.path))?.len())
    }

    /// Reads from `pos` to the end, handing each whole line to `line`;
    /// an unfinished last line waits for the next call.
    fn pump(&mut self, line: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> Result<(), LogsError> {
        let mut buf = vec![0u8; BLOCK];
        loop {
            let n = self
                .file
                .read_at(&mut buf, self.pos)
                .map_err(read_err(&self.path))?;
            if n == 0 {
                return Ok(());
            }
            self.pos += n as u64;
            let mut data = &buf[..n];
            while let Some(at) = data.iter().position(|&b| b == b'\n') {
                let result = if self.partial.is_empty() {
                    line(&data[..at])
                } else {
                    self.partial.extend_from_slice(&data[..at]);
                    let whole = std::mem::take(&mut self.partial);
                    line(&whole)
                };
                result.map_err(LogsError::Write)?;
                data = &data[at + 1..];
            }
            self.partial.extend_from_slice(data);
        }
    }
}

/// The files of the log in `dir` that hold records, oldest first: the
/// ring `console.0`, `console.1`... as far as it goes, ordered by the time
/// of their first record.
fn open_parts(dir: &Path) -> Result<Vec<Part>, LogsError> {
    let mut parts: Vec<Part> = Vec::new();
    for index in 0..=MAX_MAX_FILES {
        match Part::open(&dir.join(file_name(index)))? {
            Found::Part(p) => parts.push(p),
            Found::Empty => {}
            Found::Missing => break,
        }
    }
    parts.sort_by_key(|p| p.first);
    Ok(parts)
}

/// The indexes of the ring's `count` files in the order xdockerinit is to
/// write them: the one written last first (the newest first record: it is
/// appended to), then the empty ones, then the others oldest first (each
/// is truncated when its turn comes).
pub fn ring_order(dir: &Path, count: u32) -> Vec<u32> {
    let times: Vec<Option<[u8; TIME_LEN]>> = (0..count)
        .map(|i| {
            let file = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(dir.join(file_name(i)))
                .ok()?;
            first_time(&file)
        })
        .collect();
    let current = (0..count)
        .filter(|&i| times[i as usize].is_some())
        .max_by_key(|&i| times[i as usize])
        .unwrap_or(0);
    let mut used: Vec<u32> = (0..count)
        .filter(|&i| i != current && times[i as usize].is_some())
        .collect();
    used.sort_by_key(|&i| times[i as usize]);
    let mut order = vec![current];
    order.extend((0..count).filter(|&i| i != current && times[i as usize].is_none()));
    order.extend(used);
    order
}

/// Where the last `n` records start: (part, offset). Reads each file
/// backwards from its last newline in blocks, counting newlines, so a
/// 1 GB log answers from its last kilobytes.
fn tail_start(parts: &[Part], mut n: u64) -> Result<(usize, u64), LogsError> {
    let mut buf = vec![0u8; BLOCK];
    if n == 0 {
        // Nothing old: from the end of the newest file's last record.
        let Some(part) = parts.last() else {
            return Ok((0, 0));
        };
        let end = last_newline(part, &mut buf)?.map_or(0, |at| at + 1);
        return Ok((parts.len() - 1, end));
    }
    for (index, part) in parts.iter().enumerate().rev() {
        // Records end with a newline: an unfinished one after the last
        // newline does not count.
        let Some(end) = last_newline(part, &mut buf)? else {
            continue; // no whole record in this file
        };
        // Count the newlines before the last one: the n-th from the end
        // is where the last n records start.
        let mut pos = end;
        while pos > 0 {
            let from = pos.saturating_sub(BLOCK as u64);
            let len = (pos - from) as usize;
            part.file
                .read_exact_at(&mut buf[..len], from)
                .map_err(read_err(&part.path))?;
            for (i, &b) in buf[..len].iter().enumerate().rev() {
                if b == b'\n' {
                    n -= 1;
                    if n == 0 {
                        return Ok((index, from + i as u64 + 1));
                    }
                }
            }
            pos = from;
        }
        // The whole file is one record short of n or more: the first
        // record counts, and older files give the rest.
        n -= 1;
        if n == 0 {
            return Ok((index, 0));
        }
    }
    Ok((0, 0))
}

/// The offset of the last newline of a file.
fn last_newline(part: &Part, buf: &mut [u8]) -> Result<Option<u64>, LogsError> {
    let mut pos = part.len()?;
    while pos > 0 {
        let from = pos.saturating_sub(buf.len() as u64);
        let len = (pos - from) as usize;
        part.file
            .read_exact_at(&mut buf[..len], from)
            .map_err(read_err(&part.path))?;
        if let Some(i) = buf[..len].iter().rposition(|&b| b == b'\n') {
            return Ok(Some(from + i as u64));
        }
        pos = from;
    }
    Ok(None)
}

/// The time of the last whole record of a file, to skip files older than
/// `--since` without reading them.
fn last_time(part: &Part) -> Result<Option<[u8; TIME_LEN]>, LogsError> {
    let (_, start) = tail_start(std::slice::from_ref(part), 1)?;
    let mut head = [0u8; TIME_LEN];
    match part.file.read_exact_at(&mut head, start) {
        Ok(()) => Ok(Some(head)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(read_err(&part.path)(e)),
    }
}

/// How `--follow` waits: called with the longest wait, it returns true
/// once the container has stopped (then every record is in the files).
pub type Wait<'a> = &'a mut dyn FnMut(Duration) -> bool;

/// Shows the log in `dir` (`containers/C/log`) per `query`; with
/// `follow`, goes on with new records, across rotations, until it says
/// the container stopped. A reader that went away (a closed pipe) ends it
/// quietly. A missing directory is an empty log.
pub fn show(
    dir: &Path,
    query: &Query,
    sinks: &mut Sinks<'_>,
    follow: Option<Wait<'_>>,
) -> Result<(), LogsError> {
    match show_inner(dir, query, sinks, follow) {
        Err(LogsError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn show_inner(
    dir: &Path,
    query: &Query,
    sinks: &mut Sinks<'_>,
    follow: Option<Wait<'_>>,
) -> Result<(), LogsError> {
    let mut printer = Printer {
        sinks,
        query: *query,
        at_line_start: [true; 4],
        on_err: false,
    };
    let mut parts = open_parts(dir)?;
    let (mut first, mut offset) = match query.tail {
        Some(n) => tail_start(&parts, n)?,
        None => (0, 0),
    };
    if let Some(since) = &query.since {
        // Whole files older than --since are skipped.
        while first + 1 < parts.len() {
            match last_time(&parts[first])? {
                Some(t) if t < since.0 => {
                    first += 1;
                    offset = 0;
                }
                _ => break,
            }
        }
    }
    parts.drain(..first);
    if let Some(p) = parts.first_mut() {
        p.pos = offset;
    }
    // The files that are done stay open until the end: a rotation that
    // renames them meanwhile does not hide them.
    let last = parts.len().saturating_sub(1);
    for (i, part) in parts.iter_mut().enumerate() {
        part.pump(&mut |l| printer.line(l))?;
        if i < last {
            // A finished file: nothing more will come.
            part.partial.clear();
        }
    }
    printer.flush().map_err(LogsError::Write)?;
    let Some(wait) = follow else {
        return Ok(());
    };
    let mut current = match parts.pop() {
        Some(p) => p,
        None => loop {
            // No record yet (the container's first boot is starting).
            let stopped = wait(FOLLOW_POLL);
            if let Some(p) = open_parts(dir)?.pop() {
                break p;
            }
            if stopped {
                return Ok(());
            }
        },
    };
    loop {
        let stopped = wait(FOLLOW_POLL);
        if !current.recycled() {
            current.pump(&mut |l| printer.line(l))?;
        }
        let newer: Vec<Part> = open_parts(dir)?
            .into_iter()
            .filter(|p| p.first > current.first)
            .collect();
        if !newer.is_empty() {
            // The writer went on to the next file: what it wrote in ours
            // before, then the newer ones in order.
            if !current.recycled() {
                current.pump(&mut |l| printer.line(l))?;
            }
            for mut part in newer {
                part.pump(&mut |l| printer.line(l))?;
                current = part;
            }
        }
        printer.flush().map_err(LogsError::Write)?;
        if stopped {
            return Ok(());
        }
    }
}

/// Bytes and files of the log in `dir` (for `-s info`).
pub fn usage(dir: &Path) -> (u64, usize) {
    let Ok(parts) = open_parts(dir) else {
        return (0, 0);
    };
    let bytes = parts.iter().filter_map(|p| p.len().ok()).sum();
    (bytes, parts.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xdockerinit::log::format_record;

    const T0: &[u8; TIME_LEN] = b"2024-05-01T12:00:00.000000000Z";

    fn time(secs: u32) -> [u8; TIME_LEN] {
        xdockerinit::log::format_time(1_714_564_800 + i64::from(secs), 0)
    }

    fn write_log(path: &Path, records: &[(u32, Stream, bool, &str)]) {
        let mut out = Vec::new();
        for (t, s, p, c) in records {
            format_record(&mut out, &time(*t), *s, *p, c.as_bytes());
        }
        std::fs::write(path, out).expect("write");
    }

    fn run(dir: &Path, query: Query) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        show(
            dir,
            &query,
            &mut Sinks {
                out: &mut out,
                err: &mut err,
            },
            None,
        )
        .expect("show");
        (
            String::from_utf8(out).expect("utf8"),
            String::from_utf8(err).expect("utf8"),
        )
    }

    fn plain() -> Query {
        Query {
            tail: None,
            since: None,
            format: Format::Plain { timestamps: false },
        }
    }

    #[test]
    fn times_match_chrono() {
        for secs in [
            0i64,
            951_782_400,
            1_709_251_199,
            4_102_444_800,
            1_234_567_890,
        ] {
            for nanos in [0u32, 1, 999_999_999] {
                let ours = xdockerinit::log::format_time(secs, nanos);
                let theirs = DateTime::from_timestamp(secs, nanos)
                    .expect("time")
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                assert_eq!(std::str::from_utf8(&ours).expect("ascii"), theirs);
            }
        }
    }

    #[test]
    fn streams_are_shown_apart_with_boot_markers() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_log(
            &dir.path().join("console.0"),
            &[
                (0, Stream::Xdocker, false, "boot -e sh"),
                (1, Stream::Stdout, false, "out"),
                (2, Stream::Stderr, false, "err"),
                (3, Stream::Console, true, "con"),
                (3, Stream::Console, false, "sole"),
                (4, Stream::Stdout, false, ""),
                (4, Stream::Stdout, true, "unfinished"),
                (5, Stream::Xdocker, false, "stop: exit code 0"),
            ],
        );
        let (out, err) = run(dir.path(), plain());
        assert_eq!(
            out,
            "-- boot -e sh --\nout\nconsole\n\nunfinished\n-- stop: exit code 0 --\n"
        );
        assert_eq!(err, "err\n");
        let (out, _) = run(
            dir.path(),
            Query {
                format: Format::Plain { timestamps: true },
                ..plain()
            },
        );
        let t = |s| String::from_utf8(time(s).to_vec()).expect("ascii");
        assert!(
            out.starts_with(&format!(
                "{} -- boot -e sh --\n{} out\n{} console\n",
                t(0),
                t(1),
                t(3)
            )),
            "{out}"
        );
        let (json, err) = run(
            dir.path(),
            Query {
                format: Format::Json,
                ..plain()
            },
        );
        assert_eq!(err, "");
        let lines: Vec<serde_json::Value> = json
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines.len(), 8);
        assert_eq!(lines[2]["stream"], "stderr");
        assert_eq!(lines[2]["log"], "err\n");
        assert_eq!(lines[3]["log"], "con", "a piece has no newline");
        assert_eq!(lines[0]["time"], t(0));
    }

    #[test]
    fn files_are_read_oldest_first_and_tail_reaches_back_into_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let line = |i: u32| format!("line {i}");
        let texts: Vec<String> = (0..30).map(line).collect();
        // A ring that went round: console.0 is the newest.
        for (file, range) in [
            ("console.1", 0..10),
            ("console.2", 10..20),
            ("console.0", 20..30),
        ] {
            let records: Vec<(u32, Stream, bool, &str)> = range
                .map(|i| (i, Stream::Stdout, false, texts[i as usize].as_str()))
                .collect();
            write_log(&dir.path().join(file), &records);
        }
        // A stale file beyond a gap is not part of the log.
        write_log(
            &dir.path().join("console.4"),
            &[(99, Stream::Stdout, false, "stale")],
        );
        let all: String = texts.iter().map(|t| format!("{t}\n")).collect();
        assert_eq!(run(dir.path(), plain()).0, all);
        for n in [0u64, 1, 5, 10, 11, 25, 30, 31, 1000] {
            let (out, _) = run(
                dir.path(),
                Query {
                    tail: Some(n),
                    ..plain()
                },
            );
            let want: String = texts[30 - n.min(30) as usize..]
                .iter()
                .map(|t| format!("{t}\n"))
                .collect();
            assert_eq!(out, want, "--tail {n}");
        }
        // --since skips whole files and the start of the next.
        let since = Since(time(15));
        let (out, _) = run(
            dir.path(),
            Query {
                since: Some(since),
                ..plain()
            },
        );
        assert!(
            out.starts_with("line 15\n") && out.ends_with("line 29\n"),
            "{out}"
        );
        let (out, _) = run(
            dir.path(),
            Query {
                since: Some(since),
                tail: Some(3),
                ..plain()
            },
        );
        assert_eq!(out, "line 27\nline 28\nline 29\n");
        let (out, _) = run(
            dir.path(),
            Query {
                since: Some(Since(time(28))),
                tail: Some(10),
                ..plain()
            },
        );
        assert_eq!(out, "line 28\nline 29\n");
    }

    #[test]
    fn an_unfinished_record_and_garbage_are_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut data = Vec::new();
        format_record(&mut data, T0, Stream::Stdout, false, b"whole");
        data.extend_from_slice(b"not a record\n");
        format_record(&mut data, T0, Stream::Stdout, false, b"second");
        data.extend_from_slice(&T0[..10]);
        std::fs::write(dir.path().join("console.0"), data).expect("write");
        assert_eq!(run(dir.path(), plain()).0, "whole\nsecond\n");
        assert_eq!(
            run(
                dir.path(),
                Query {
                    tail: Some(1),
                    ..plain()
                }
            )
            .0,
            "second\n"
        );
        assert_eq!(
            run(
                dir.path(),
                Query {
                    tail: Some(3),
                    ..plain()
                }
            )
            .0,
            "whole\nsecond\n"
        );
    }

    #[test]
    fn no_log_is_an_empty_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            run(&dir.path().join("missing"), plain()),
            (String::new(), String::new())
        );
        assert_eq!(usage(&dir.path().join("missing")), (0, 0));
    }

    #[test]
    fn tail_of_a_big_file_reads_only_its_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.0");
        // 16 MiB of records: a full read would take far longer than the
        // few blocks --tail needs.
        let mut block = Vec::new();
        for i in 0..1000 {
            format_record(
                &mut block,
                T0,
                Stream::Stdout,
                false,
                format!("{i:060}").as_bytes(),
            );
        }
        let mut file = File::create(&path).expect("create");
        for _ in 0..(16 << 20) / block.len() {
            file.write_all(&block).expect("write");
        }
        drop(file);
        let start = std::time::Instant::now();
        let (out, _) = run(
            dir.path(),
            Query {
                tail: Some(100),
                ..plain()
            },
        );
        assert_eq!(out.lines().count(), 100);
        assert_eq!(out.lines().last(), Some(format!("{:060}", 999).as_str()));
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn follow_reads_on_round_the_ring_until_stopped() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_log(
            &dir.path().join("console.0"),
            &[(0, Stream::Stdout, false, "a")],
        );
        for empty in ["console.1", "console.2"] {
            std::fs::write(dir.path().join(empty), b"").expect("empty");
        }
        let mut round = 0;
        let d = dir.path().to_path_buf();
        let mut wait = |_: Duration| {
            round += 1;
            let append = |name: &str, rec: &[u8]| {
                let mut f = OpenOptions::new()
                    .append(true)
                    .open(d.join(name))
                    .expect("open");
                f.write_all(rec).expect("append");
            };
            let truncate = |name: &str| {
                OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(d.join(name))
                    .expect("truncate");
            };
            let rec = |t: u32, s: &str| {
                let mut v = Vec::new();
                format_record(&mut v, &time(t), Stream::Stdout, false, s.as_bytes());
                v
            };
            match round {
                1 => append("console.0", &rec(1, "b")),
                2 => {
                    // Two files further before we look again.
                    append("console.0", &rec(2, "c"));
                    truncate("console.1");
                    append("console.1", &rec(3, "d"));
                    truncate("console.2");
                    // Half a record: shown once whole.
                    append("console.2", &rec(4, "e")[..20]);
                }
                3 => append("console.2", &rec(4, "e")[20..]),
                _ => {}
            }
            round >= 4
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        show(
            dir.path(),
            &plain(),
            &mut Sinks {
                out: &mut out,
                err: &mut err,
            },
            Some(&mut wait),
        )
        .expect("follow");
        assert_eq!(String::from_utf8(out).expect("utf8"), "a\nb\nc\nd\ne\n");
    }

    #[test]
    fn the_ring_is_written_from_the_newest_file_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(ring_order(dir.path(), 3), [0, 1, 2], "a new log");
        write_log(
            &dir.path().join("console.0"),
            &[(5, Stream::Stdout, false, "x")],
        );
        write_log(
            &dir.path().join("console.1"),
            &[(9, Stream::Stdout, false, "y")],
        );
        write_log(
            &dir.path().join("console.3"),
            &[(1, Stream::Stdout, false, "z")],
        );
        // 1 is appended to, 2 (empty) and 4 (missing) come next, then the
        // oldest, 3, then 0.
        assert_eq!(ring_order(dir.path(), 5), [1, 2, 4, 3, 0]);
        assert_eq!(ring_order(dir.path(), 1), [0]);
    }

    #[test]
    fn since_and_tail_parse_or_say_why_not() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .expect("now")
            .with_timezone(&Utc);
        let s =
            |t: &str| Since::parse(t, now).map(|s| String::from_utf8(s.0.to_vec()).expect("ascii"));
        assert_eq!(s("10m").as_deref(), Ok("2024-05-01T11:50:00.000000000Z"));
        assert_eq!(s("1h30m").as_deref(), Ok("2024-05-01T10:30:00.000000000Z"));
        assert_eq!(s("2d").as_deref(), Ok("2024-04-29T12:00:00.000000000Z"));
        assert_eq!(
            s("2024-05-01T10:00:00.5+02:00").as_deref(),
            Ok("2024-05-01T08:00:00.500000000Z")
        );
        assert_eq!(
            s("1714564800").as_deref(),
            Ok("2024-05-01T12:00:00.000000000Z")
        );
        assert!(s("2024-05-01").is_ok());
        assert!(s("2024-05-01 10:00").is_ok());
        for bad in [
            "yesterday-ish",
            "",
            "10",
            "10x",
            "m",
            "2024-13-01",
            "1h-5m",
            "99999999999999999999d",
        ] {
            let Err(e) = s(bad) else {
                // "10" is Unix seconds.
                assert_eq!(bad, "10");
                continue;
            };
            assert!(
                e.starts_with(&format!("--since '{bad}' is not a time")),
                "{e}"
            );
            assert!(!e.contains('\n'));
        }
        assert_eq!(parse_tail("100"), Ok(Some(100)));
        assert_eq!(parse_tail("0"), Ok(Some(0)));
        assert_eq!(parse_tail("all"), Ok(None));
        for bad in ["-1", "+1", "x", "", "1.5"] {
            let e = parse_tail(bad).expect_err(bad);
            assert_eq!(
                e,
                format!("--tail '{bad}' is not a number of lines (0 or more, or all)")
            );
        }
    }
}
