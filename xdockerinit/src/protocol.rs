//! The session protocol between `xdocker` (client) and xdockerinit (server),
//! defined once here and used by both sides: the CLI links this crate as a
//! library. A running container keeps its xdockerinit for months while the
//! host's xdocker is upgraded, so the protocol is versioned and append-only,
//! after LXC's `commands.c` (DESIGN habit 7).
//!
//! # Frames
//!
//! ```text
//! u32 length (big endian) | u16 type (big endian) | payload
//! ```
//!
//! `length` counts the bytes after the length field (type and payload), so
//! it is at least 2 and at most [`MAX_FRAME`] (1 MiB); a larger length is a
//! protocol error (the connection is dropped), never an allocation.
//!
//! # Compatibility rules
//!
//! * The client speaks first with [`Message::Hello`] carrying its
//!   [`VERSION`]; the server answers with `Hello` carrying its own. Each side
//!   then uses only what both versions know (`min` of the two).
//! * Message types are never renumbered or removed; new ones get new numbers.
//!   A receiver skips a frame whose type it does not know.
//! * Fields are only ever appended to a message. A receiver ignores payload
//!   bytes after the fields it knows. Every variable-length field carries its
//!   own length (data too), so any message can grow.
//!
//! # Fields
//!
//! Integers are big endian. `bytes` is `u32 length | bytes`; a list is
//! `u32 count | items`. Text (terminal type, error message) is bytes, UTF-8
//! when it is meant for a person.
//!
//! | type | message | payload |
//! |---|---|---|
//! | 1 | `Hello` | `u16 version` |
//! | 2 | `OpenPty` | `u16 rows, u16 cols, bytes term, list<bytes> argv` (empty argv: root's login shell), then the [`SessionOptions`] (version 3) |
//! | 3 | `OpenPipes` | `list<bytes> argv` (non-empty), then the [`SessionOptions`] (version 3) |
//! | 4 | `Stdin` | `bytes data` |
//! | 5 | `StdinEof` | (nothing) |
//! | 6 | `Stdout` | `bytes data` |
//! | 7 | `Stderr` | `bytes data` |
//! | 8 | `Resize` | `u16 rows, u16 cols` |
//! | 9 | `Signal` | `i32 signal number` |
//! | 10 | `Exit` | `i32 code`: exit status, or 128+signal |
//! | 11 | `Error` | `bytes text` (one line, lowercase, for a person) |
//! | 12 | `QueryStatus` | (nothing); version 2 |
//! | 13 | `Status` | `list<bytes entry>`, each entry a [`ProcessStatus`]; version 2 |
//!
//! A session is: `Hello` both ways, one `OpenPty` or `OpenPipes` from the
//! client, then data both ways, and last `Exit` from the server (or `Error`
//! and the end of the connection when the command could not be started).
//! Or, from version 2 on: `Hello` both ways, `QueryStatus` from the client,
//! one `Status` from the server and the end of the connection. A client
//! sends `QueryStatus` only to a server whose `Hello` says 2 or more: an
//! older server would skip it and wait for an open request.
//!
//! A `Status` entry is itself a payload, so that fields can be appended
//! to it: `u8 role` (0 the `-e` main process, 1 a service), `bytes name`,
//! `bytes command`, `bytes policy` (`no`, `on-failure`, `on-failure:N`,
//! `always`), `bytes state` (`running`, `backoff`, `exited`), `i32 pid` (0:
//! none), `u32 restarts`, `i32 last exit code` (-1: none yet), `u32`
//! milliseconds until the next start (in `backoff`, else 0).
//!
//! The [`SessionOptions`] of an open request (version 3; absent from an
//! older client's, which is the same as all empty): `bytes workdir`,
//! `bytes user`, `list<bytes> env` (`KEY=VALUE`, over the container's).
//! An older server ignores them, so a client sends options that are not
//! empty only to a server whose `Hello` says 3 or more.

use std::fmt;

/// The protocol version this build speaks.
///
/// 1: sessions. 2: `QueryStatus` and `Status` (supervised processes).
/// 3: [`SessionOptions`] of the open requests.
pub const VERSION: u16 = 3;

/// The first protocol version with [`SessionOptions`].
pub const OPTIONS_VERSION: u16 = 3;

/// A session's own working directory, user and variables (each empty: the
/// container's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOptions {
    /// An absolute path of the container.
    pub workdir: Vec<u8>,
    /// `USER[:GROUP]`.
    pub user: Vec<u8>,
    /// `KEY=VALUE`, over the container's variables.
    pub env: Vec<Vec<u8>>,
}

impl SessionOptions {
    /// True when the container's defaults apply.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, &self.workdir);
        put_bytes(out, &self.user);
        put_list(out, &self.env);
    }

    /// The options after an open request's fields; none from an older
    /// client.
    fn decode(r: &mut Fields<'_>) -> Result<Self, ProtocolError> {
        if r.rest.is_empty() {
            return Ok(Self::default());
        }
        Ok(Self {
            workdir: r.bytes()?.to_vec(),
            user: r.bytes()?.to_vec(),
            env: r.list()?,
        })
    }
}

/// Largest value of a frame's length field: type and payload together.
pub const MAX_FRAME: usize = 1 << 20;

/// Bytes before the payload: length and type.
pub const HEADER: usize = 6;

/// Largest data a single `Stdin`/`Stdout`/`Stderr` frame can carry.
pub const MAX_DATA: usize = MAX_FRAME - 2 - 4;

/// Frame type numbers. Never renumber; only add.
pub mod kind {
    /// [`super::Message::Hello`].
    pub const HELLO: u16 = 1;
    /// [`super::Message::OpenPty`].
    pub const OPEN_PTY: u16 = 2;
    /// [`super::Message::OpenPipes`].
    pub const OPEN_PIPES: u16 = 3;
    /// [`super::Message::Stdin`].
    pub const STDIN: u16 = 4;
    /// [`super::Message::StdinEof`].
    pub const STDIN_EOF: u16 = 5;
    /// [`super::Message::Stdout`].
    pub const STDOUT: u16 = 6;
    /// [`super::Message::Stderr`].
    pub const STDERR: u16 = 7;
    /// [`super::Message::Resize`].
    pub const RESIZE: u16 = 8;
    /// [`super::Message::Signal`].
    pub const SIGNAL: u16 = 9;
    /// [`super::Message::Exit`].
    pub const EXIT: u16 = 10;
    /// [`super::Message::Error`].
    pub const ERROR: u16 = 11;
    /// [`super::Message::QueryStatus`] (version 2).
    pub const QUERY_STATUS: u16 = 12;
    /// [`super::Message::Status`] (version 2).
    pub const STATUS: u16 = 13;
}

/// The first protocol version with `QueryStatus` and `Status`.
pub const STATUS_VERSION: u16 = 2;

/// Who a supervised process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The `-e` main process.
    Main,
    /// A boot service.
    Service,
}

/// One supervised process as xdockerinit reports it (`Status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStatus {
    /// The main process or a service.
    pub role: Role,
    /// `main`, the service's name, or `boot.d/FILE`.
    pub name: String,
    /// What it runs.
    pub command: Vec<u8>,
    /// Its restart policy, as written on the command line.
    pub policy: String,
    /// `running`, `backoff` (waiting to be started again) or `exited`.
    pub state: String,
    /// Its PID while running.
    pub pid: Option<i32>,
    /// How many times it was started again.
    pub restarts: u32,
    /// The exit code of its last run (128+signal for a signal).
    pub last_exit: Option<i32>,
    /// In `backoff`: milliseconds until it starts again.
    pub next_start_ms: u32,
}

impl ProcessStatus {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self.role {
            Role::Main => 0,
            Role::Service => 1,
        });
        put_bytes(out, self.name.as_bytes());
        put_bytes(out, &self.command);
        put_bytes(out, self.policy.as_bytes());
        put_bytes(out, self.state.as_bytes());
        out.extend_from_slice(&self.pid.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&self.restarts.to_be_bytes());
        out.extend_from_slice(&self.last_exit.unwrap_or(-1).to_be_bytes());
        out.extend_from_slice(&self.next_start_ms.to_be_bytes());
    }

    fn decode(entry: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Fields {
            kind: kind::STATUS,
            rest: entry,
        };
        let role = match r.u8()? {
            0 => Role::Main,
            _ => Role::Service,
        };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok(ProcessStatus {
            role,
            name: text(r.bytes()?),
            command: r.bytes()?.to_vec(),
            policy: text(r.bytes()?),
            state: text(r.bytes()?),
            pid: Some(r.i32()?).filter(|&p| p > 0),
            restarts: r.u32()?,
            last_exit: Some(r.i32()?).filter(|&c| c >= 0),
            next_start_ms: r.u32()?,
        })
    }
}

/// One message of the session protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// First message of each side: the sender's protocol version.
    Hello {
        /// [`VERSION`] of the sender.
        version: u16,
    },
    /// Start a command on a new pseudo-terminal of this window size.
    OpenPty {
        /// Rows of the window.
        rows: u16,
        /// Columns of the window.
        cols: u16,
        /// `TERM` for the command (empty: none given).
        term: Vec<u8>,
        /// The command; empty for root's login shell.
        argv: Vec<Vec<u8>>,
        /// Its own directory, user and variables (version 3).
        options: SessionOptions,
    },
    /// Start a command with three pipes (stdout and stderr apart).
    OpenPipes {
        /// The command (argv[0] is a path, or searched in PATH).
        argv: Vec<Vec<u8>>,
        /// Its own directory, user and variables (version 3).
        options: SessionOptions,
    },
    /// Bytes for the command's stdin (or the terminal's input).
    Stdin(Vec<u8>),
    /// The client's stdin ended.
    StdinEof,
    /// Bytes the command wrote to stdout (or the terminal's output).
    Stdout(Vec<u8>),
    /// Bytes the command wrote to stderr (pipes only).
    Stderr(Vec<u8>),
    /// The client's window changed size.
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// Deliver this signal (to the terminal's foreground process group, or
    /// the command's process group).
    Signal(i32),
    /// The command ended: its exit status, or 128+signal.
    Exit {
        /// The code.
        code: i32,
    },
    /// Something failed on the server side; one line for a person.
    Error(String),
    /// Ask for the supervised processes (version 2).
    QueryStatus,
    /// The supervised processes: the main process and the services, in
    /// the order they were started (version 2).
    Status(Vec<ProcessStatus>),
}

/// A frame that breaks the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// The length field is above [`MAX_FRAME`].
    Oversized {
        /// The announced length.
        length: usize,
    },
    /// The length field is below 2 (no room for the type).
    Undersized {
        /// The announced length.
        length: usize,
    },
    /// The payload of a known type ends before its fields do.
    Truncated {
        /// The frame type.
        kind: u16,
    },
    /// The stream ended in the middle of a frame.
    TruncatedStream {
        /// Bytes of the partial frame.
        have: usize,
    },
    /// A field holds a value that cannot be (an empty command, ...).
    Invalid {
        /// The frame type.
        kind: u16,
        /// What is wrong.
        what: &'static str,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Oversized { length } => write!(
                f,
                "session protocol: frame of {length} bytes is over the limit of {MAX_FRAME}"
            ),
            ProtocolError::Undersized { length } => {
                write!(f, "session protocol: frame length {length} is too short")
            }
            ProtocolError::Truncated { kind } => {
                write!(f, "session protocol: message of type {kind} is truncated")
            }
            ProtocolError::TruncatedStream { have } => write!(
                f,
                "session protocol: connection closed in the middle of a frame ({have} bytes)"
            ),
            ProtocolError::Invalid { kind, what } => {
                write!(f, "session protocol: message of type {kind}: {what}")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Appends the frame header for a payload of `payload_len` bytes.
fn header(out: &mut Vec<u8>, kind: u16, payload_len: usize) {
    let length = u32::try_from(payload_len + 2).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_list(out: &mut Vec<u8>, items: &[Vec<u8>]) {
    let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for item in items {
        put_bytes(out, item);
    }
}

/// Appends a data frame (`Stdin`, `Stdout` or `Stderr`) without building a
/// [`Message`]: the relays' hot path. `data` must be at most [`MAX_DATA`].
pub fn encode_data(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    debug_assert!(data.len() <= MAX_DATA);
    header(out, kind, 4 + data.len());
    put_bytes(out, data);
}

impl Message {
    /// The frame type number.
    pub fn kind(&self) -> u16 {
        match self {
            Message::Hello { .. } => kind::HELLO,
            Message::OpenPty { .. } => kind::OPEN_PTY,
            Message::OpenPipes { .. } => kind::OPEN_PIPES,
            Message::Stdin(_) => kind::STDIN,
            Message::StdinEof => kind::STDIN_EOF,
            Message::Stdout(_) => kind::STDOUT,
            Message::Stderr(_) => kind::STDERR,
            Message::Resize { .. } => kind::RESIZE,
            Message::Signal(_) => kind::SIGNAL,
            Message::Exit { .. } => kind::EXIT,
            Message::Error(_) => kind::ERROR,
            Message::QueryStatus => kind::QUERY_STATUS,
            Message::Status(_) => kind::STATUS,
        }
    }

    /// Appends this message as one frame. A message whose payload would
    /// exceed [`MAX_FRAME`] is the caller's bug (data is sent in chunks of
    /// at most [`MAX_DATA`]); the receiver refuses such a frame.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut payload = Vec::new();
        match self {
            Message::Hello { version } => payload.extend_from_slice(&version.to_be_bytes()),
            Message::OpenPty {
                rows,
                cols,
                term,
                argv,
                options,
            } => {
                payload.extend_from_slice(&rows.to_be_bytes());
                payload.extend_from_slice(&cols.to_be_bytes());
                put_bytes(&mut payload, term);
                put_list(&mut payload, argv);
                options.encode(&mut payload);
            }
            Message::OpenPipes { argv, options } => {
                put_list(&mut payload, argv);
                options.encode(&mut payload);
            }
            Message::Stdin(data) | Message::Stdout(data) | Message::Stderr(data) => {
                put_bytes(&mut payload, data)
            }
            Message::StdinEof => {}
            Message::Resize { rows, cols } => {
                payload.extend_from_slice(&rows.to_be_bytes());
                payload.extend_from_slice(&cols.to_be_bytes());
            }
            Message::Signal(n) => payload.extend_from_slice(&n.to_be_bytes()),
            Message::Exit { code } => payload.extend_from_slice(&code.to_be_bytes()),
            Message::Error(text) => put_bytes(&mut payload, text.as_bytes()),
            Message::QueryStatus => {}
            Message::Status(entries) => {
                let items: Vec<Vec<u8>> = entries
                    .iter()
                    .map(|e| {
                        let mut item = Vec::new();
                        e.encode(&mut item);
                        item
                    })
                    .collect();
                put_list(&mut payload, &items);
            }
        }
        header(out, self.kind(), payload.len());
        out.extend_from_slice(&payload);
    }

    /// This message as one frame.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes the payload of a frame of type `kind`. `Ok(None)` for a type
    /// this build does not know (the caller skips it). Bytes after the known
    /// fields are ignored.
    pub fn decode(kind: u16, payload: &[u8]) -> Result<Option<Message>, ProtocolError> {
        let mut r = Fields {
            kind,
            rest: payload,
        };
        let message = match kind {
            kind::HELLO => Message::Hello { version: r.u16()? },
            kind::OPEN_PTY => Message::OpenPty {
                rows: r.u16()?,
                cols: r.u16()?,
                term: r.bytes()?.to_vec(),
                argv: r.list()?,
                options: SessionOptions::decode(&mut r)?,
            },
            kind::OPEN_PIPES => {
                let argv = r.list()?;
                if argv.is_empty() {
                    return Err(ProtocolError::Invalid {
                        kind,
                        what: "empty command",
                    });
                }
                Message::OpenPipes {
                    argv,
                    options: SessionOptions::decode(&mut r)?,
                }
            }
            kind::STDIN => Message::Stdin(r.bytes()?.to_vec()),
            kind::STDIN_EOF => Message::StdinEof,
            kind::STDOUT => Message::Stdout(r.bytes()?.to_vec()),
            kind::STDERR => Message::Stderr(r.bytes()?.to_vec()),
            kind::RESIZE => Message::Resize {
                rows: r.u16()?,
                cols: r.u16()?,
            },
            kind::SIGNAL => Message::Signal(r.i32()?),
            kind::EXIT => Message::Exit { code: r.i32()? },
            kind::ERROR => Message::Error(String::from_utf8_lossy(r.bytes()?).into_owned()),
            kind::QUERY_STATUS => Message::QueryStatus,
            kind::STATUS => Message::Status(
                r.list()?
                    .iter()
                    .map(|e| ProcessStatus::decode(e))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Ok(None),
        };
        Ok(Some(message))
    }
}

/// Reads the fields of one payload in order.
struct Fields<'a> {
    kind: u16,
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if self.rest.len() < n {
            return Err(ProtocolError::Truncated { kind: self.kind });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, ProtocolError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, ProtocolError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self) -> Result<i32, ProtocolError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn bytes(&mut self) -> Result<&'a [u8], ProtocolError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn list(&mut self) -> Result<Vec<Vec<u8>>, ProtocolError> {
        let count = self.u32()? as usize;
        // Each item takes at least its 4-byte length: a count the payload
        // cannot hold is refused before anything is allocated for it.
        if count > self.rest.len() / 4 {
            return Err(ProtocolError::Truncated { kind: self.kind });
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(self.bytes()?.to_vec());
        }
        Ok(items)
    }
}

/// Cuts a byte stream into messages: bytes go in as they arrive (any split),
/// whole messages come out; frames of unknown types are skipped.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    pos: usize,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Adds bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received and not yet returned as messages.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next whole message; `Ok(None)` when more bytes are needed. A
    /// frame that breaks the protocol is an error; the stream cannot be
    /// resynchronised after it, so the caller drops the connection.
    pub fn next_message(&mut self) -> Result<Option<Message>, ProtocolError> {
        loop {
            let avail = &self.buf[self.pos..];
            if avail.len() < 4 {
                return Ok(None);
            }
            let length = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
            if length > MAX_FRAME {
                return Err(ProtocolError::Oversized { length });
            }
            if length < 2 {
                return Err(ProtocolError::Undersized { length });
            }
            if avail.len() < 4 + length {
                return Ok(None);
            }
            let kind = u16::from_be_bytes([avail[4], avail[5]]);
            let decoded = Message::decode(kind, &avail[HEADER..4 + length]);
            self.pos += 4 + length;
            match decoded? {
                Some(message) => return Ok(Some(message)),
                None => continue,
            }
        }
    }

    /// The stream ended: an error if it ended inside a frame.
    pub fn finish(&self) -> Result<(), ProtocolError> {
        match self.pending() {
            0 => Ok(()),
            have => Err(ProtocolError::TruncatedStream { have }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_messages() -> Vec<Message> {
        vec![
            Message::Hello { version: VERSION },
            Message::OpenPty {
                rows: 24,
                cols: 80,
                term: b"xterm-256color".to_vec(),
                argv: vec![],
                options: SessionOptions::default(),
            },
            Message::OpenPty {
                rows: 1,
                cols: 65535,
                term: vec![],
                argv: vec![b"/bin/sh".to_vec(), b"-c".to_vec(), b"top".to_vec()],
                options: SessionOptions {
                    workdir: b"/srv".to_vec(),
                    user: b"app:staff".to_vec(),
                    env: vec![b"A=1".to_vec()],
                },
            },
            Message::OpenPipes {
                argv: vec![b"/bin/sh".to_vec(), b"-c".to_vec(), b"echo \xff".to_vec()],
                options: SessionOptions::default(),
            },
            Message::OpenPipes {
                argv: vec![b"id".to_vec()],
                options: SessionOptions {
                    workdir: vec![],
                    user: b"1000".to_vec(),
                    env: vec![],
                },
            },
            Message::Stdin(b"hello\n".to_vec()),
            Message::Stdin(vec![]),
            Message::StdinEof,
            Message::Stdout(vec![0; 70_000]),
            Message::Stderr(b"oops\n".to_vec()),
            Message::Resize {
                rows: 50,
                cols: 132,
            },
            Message::Signal(libc::SIGINT),
            Message::Exit { code: 137 },
            Message::Exit { code: -1 },
            Message::Error("exec /bin/sh: no such file or directory".into()),
            Message::QueryStatus,
            Message::Status(vec![]),
            Message::Status(vec![
                ProcessStatus {
                    role: Role::Service,
                    name: "web".into(),
                    command: b"httpd -f".to_vec(),
                    policy: "always".into(),
                    state: "running".into(),
                    pid: Some(12),
                    restarts: 0,
                    last_exit: None,
                    next_start_ms: 0,
                },
                ProcessStatus {
                    role: Role::Main,
                    name: "main".into(),
                    command: b"exit 1".to_vec(),
                    policy: "on-failure:3".into(),
                    state: "backoff".into(),
                    pid: None,
                    restarts: 2,
                    last_exit: Some(1),
                    next_start_ms: 400,
                },
            ]),
        ]
    }

    fn decode_all(bytes: &[u8]) -> Result<Vec<Message>, ProtocolError> {
        let mut d = Decoder::new();
        d.push(bytes);
        let mut out = Vec::new();
        while let Some(m) = d.next_message()? {
            out.push(m);
        }
        d.finish()?;
        Ok(out)
    }

    #[test]
    fn every_message_round_trips() {
        for m in all_messages() {
            let frame = m.to_frame();
            assert_eq!(decode_all(&frame), Ok(vec![m.clone()]), "{m:?}");
        }
    }

    #[test]
    fn wire_format_is_fixed() {
        // These bytes are what an old xdockerinit in a running container
        // speaks: they must never change.
        assert_eq!(
            Message::Hello { version: 1 }.to_frame(),
            [0, 0, 0, 4, 0, 1, 0, 1]
        );
        assert_eq!(
            Message::Stdout(b"hi".to_vec()).to_frame(),
            [0, 0, 0, 8, 0, 6, 0, 0, 0, 2, b'h', b'i']
        );
        assert_eq!(
            Message::Exit { code: 130 }.to_frame(),
            [0, 0, 0, 6, 0, 10, 0, 0, 0, 130]
        );
        assert_eq!(
            Message::Resize { rows: 2, cols: 3 }.to_frame(),
            [0, 0, 0, 6, 0, 8, 0, 2, 0, 3]
        );
        assert_eq!(Message::StdinEof.to_frame(), [0, 0, 0, 2, 0, 5]);
        let mut fast = Vec::new();
        encode_data(&mut fast, kind::STDOUT, b"hi");
        assert_eq!(fast, Message::Stdout(b"hi".to_vec()).to_frame());
    }

    #[test]
    fn byte_by_byte_arrival() {
        let mut stream = Vec::new();
        for m in all_messages() {
            m.encode(&mut stream);
        }
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for b in &stream {
            d.push(std::slice::from_ref(b));
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, all_messages());
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn unknown_types_are_skipped() {
        let mut stream = Message::Hello { version: 1 }.to_frame();
        // A type from the future, with a payload.
        stream.extend_from_slice(&[0, 0, 0, 5, 0x7f, 0x01, 1, 2, 3]);
        // And one with no payload at all.
        stream.extend_from_slice(&[0, 0, 0, 2, 0xff, 0xff]);
        Message::Exit { code: 3 }.encode(&mut stream);
        assert_eq!(
            decode_all(&stream),
            Ok(vec![
                Message::Hello { version: 1 },
                Message::Exit { code: 3 }
            ])
        );
    }

    #[test]
    fn appended_fields_are_ignored() {
        // A newer peer's Hello with a field this build does not know.
        let frame = [0, 0, 0, 8, 0, 1, 0, 2, 0xaa, 0xbb, 0xcc, 0xdd];
        assert_eq!(decode_all(&frame), Ok(vec![Message::Hello { version: 2 }]));
        // A Resize with something appended.
        let frame = [0, 0, 0, 7, 0, 8, 0, 10, 0, 20, 9];
        assert_eq!(
            decode_all(&frame),
            Ok(vec![Message::Resize { rows: 10, cols: 20 }])
        );
    }

    #[test]
    fn status_entries_may_grow() {
        let entry = ProcessStatus {
            role: Role::Main,
            name: "main".into(),
            command: b"x".to_vec(),
            policy: "always".into(),
            state: "running".into(),
            pid: Some(3),
            restarts: 1,
            last_exit: Some(0),
            next_start_ms: 0,
        };
        let mut item = Vec::new();
        entry.encode(&mut item);
        // A newer xdockerinit appends a field to each entry.
        item.extend_from_slice(&[0xaa, 0xbb]);
        let mut payload = Vec::new();
        put_list(&mut payload, &[item]);
        assert_eq!(
            Message::decode(kind::STATUS, &payload),
            Ok(Some(Message::Status(vec![entry])))
        );
        // A short entry is an error, not a guess.
        let mut payload = Vec::new();
        put_list(&mut payload, &[vec![0, 0, 0, 0, 4, b'm']]);
        assert_eq!(
            Message::decode(kind::STATUS, &payload),
            Err(ProtocolError::Truncated { kind: kind::STATUS })
        );
        assert_eq!(Message::QueryStatus.to_frame(), [0, 0, 0, 2, 0, 12]);
    }

    #[test]
    fn truncated_payloads_are_errors() {
        // Hello with one byte of its u16.
        assert_eq!(
            decode_all(&[0, 0, 0, 3, 0, 1, 0]),
            Err(ProtocolError::Truncated { kind: kind::HELLO })
        );
        // Stdout claiming 10 bytes of data, holding 2.
        assert_eq!(
            decode_all(&[0, 0, 0, 8, 0, 6, 0, 0, 0, 10, 1, 2]),
            Err(ProtocolError::Truncated { kind: kind::STDOUT })
        );
        // An argv count that the payload cannot hold allocates nothing.
        assert_eq!(
            decode_all(&[0, 0, 0, 6, 0, 3, 0xff, 0xff, 0xff, 0xff]),
            Err(ProtocolError::Truncated {
                kind: kind::OPEN_PIPES
            })
        );
        assert_eq!(
            decode_all(&[0, 0, 0, 6, 0, 3, 0, 0, 0, 0]),
            Err(ProtocolError::Invalid {
                kind: kind::OPEN_PIPES,
                what: "empty command"
            })
        );
    }

    #[test]
    fn truncated_stream_waits_then_fails_at_the_end() {
        let frame = Message::Stdout(b"abcdef".to_vec()).to_frame();
        let mut d = Decoder::new();
        d.push(&frame[..frame.len() - 1]);
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(
            d.finish(),
            Err(ProtocolError::TruncatedStream {
                have: frame.len() - 1
            })
        );
        d.push(&frame[frame.len() - 1..]);
        assert_eq!(
            d.next_message(),
            Ok(Some(Message::Stdout(b"abcdef".to_vec())))
        );
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn oversized_and_undersized_frames_are_refused() {
        let mut d = Decoder::new();
        // Refused from the header alone: nothing is buffered up to 4 GiB.
        d.push(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            d.next_message(),
            Err(ProtocolError::Oversized {
                length: 0xffff_ffff
            })
        );
        let mut d = Decoder::new();
        d.push(&((MAX_FRAME + 1) as u32).to_be_bytes());
        assert!(matches!(
            d.next_message(),
            Err(ProtocolError::Oversized { .. })
        ));
        let mut d = Decoder::new();
        d.push(&[0, 0, 0, 1, 0]);
        assert_eq!(
            d.next_message(),
            Err(ProtocolError::Undersized { length: 1 })
        );
        // The largest data frame is accepted.
        let big = Message::Stdout(vec![7; MAX_DATA]);
        assert_eq!(big.to_frame().len(), HEADER + MAX_FRAME - 2);
        assert_eq!(decode_all(&big.to_frame()), Ok(vec![big]));
    }

    #[test]
    fn errors_are_one_lowercase_line() {
        let errors = [
            ProtocolError::Oversized { length: 5 },
            ProtocolError::Undersized { length: 1 },
            ProtocolError::Truncated { kind: 1 },
            ProtocolError::TruncatedStream { have: 3 },
            ProtocolError::Invalid {
                kind: 3,
                what: "empty command",
            },
        ];
        for e in errors {
            let text = e.to_string();
            assert!(text.starts_with("session protocol: "), "{text}");
            assert!(!text.contains('\n') && !text.ends_with('.'), "{text}");
        }
    }

    #[test]
    fn open_requests_of_older_clients_have_no_options() {
        let mut payload = Vec::new();
        put_list(&mut payload, &[b"id".to_vec()]);
        assert_eq!(
            Message::decode(kind::OPEN_PIPES, &payload),
            Ok(Some(Message::OpenPipes {
                argv: vec![b"id".to_vec()],
                options: SessionOptions::default(),
            }))
        );
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..64)
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            any::<u16>().prop_map(|version| Message::Hello { version }),
            (
                any::<u16>(),
                any::<u16>(),
                bytes(),
                proptest::collection::vec(bytes(), 0..4)
            )
                .prop_map(|(rows, cols, term, argv)| Message::OpenPty {
                    rows,
                    cols,
                    term,
                    argv,
                    options: SessionOptions::default(),
                }),
            (proptest::collection::vec(bytes(), 1..4), bytes(), bytes()).prop_map(
                |(argv, workdir, user)| Message::OpenPipes {
                    argv,
                    options: SessionOptions {
                        workdir,
                        user,
                        env: vec![b"K=V".to_vec()],
                    },
                }
            ),
            bytes().prop_map(Message::Stdin),
            Just(Message::StdinEof),
            bytes().prop_map(Message::Stdout),
            bytes().prop_map(Message::Stderr),
            (any::<u16>(), any::<u16>()).prop_map(|(rows, cols)| Message::Resize { rows, cols }),
            any::<i32>().prop_map(Message::Signal),
            any::<i32>().prop_map(|code| Message::Exit { code }),
            ".{0,40}".prop_map(Message::Error),
            Just(Message::QueryStatus),
            proptest::collection::vec(
                (".{0,10}", bytes(), any::<u32>(), 0i32..300).prop_map(
                    |(name, command, restarts, code)| ProcessStatus {
                        role: Role::Service,
                        name,
                        command,
                        policy: "on-failure".into(),
                        state: "running".into(),
                        pid: Some(7),
                        restarts,
                        last_exit: Some(code),
                        next_start_ms: 0,
                    }
                ),
                0..3
            )
            .prop_map(Message::Status),
        ]
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(ms in proptest::collection::vec(message(), 0..8), cut in any::<prop::sample::Index>()) {
            let mut stream = Vec::new();
            for m in &ms {
                m.encode(&mut stream);
            }
            // Whole, and split at an arbitrary point.
            prop_assert_eq!(decode_all(&stream), Ok(ms.clone()));
            let at = if stream.is_empty() { 0 } else { cut.index(stream.len()) };
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for part in [&stream[..at], &stream[at..]] {
                d.push(part);
                while let Some(m) = d.next_message().unwrap() {
                    got.push(m);
                }
            }
            prop_assert_eq!(got, ms);
        }

        #[test]
        fn arbitrary_bytes_never_panic(junk in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut d = Decoder::new();
            d.push(&junk);
            for _ in 0..junk.len() + 1 {
                match d.next_message() {
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
            let _ = d.finish();
        }

        #[test]
        fn arbitrary_payloads_never_panic(kind in 0u16..16, payload in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Message::decode(kind, &payload);
        }
    }
}
