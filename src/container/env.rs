//! Environment variables of a container (`--env KEY=VALUE`, `--env-file
//! FILE`): validated once here, stored in its config as `KEY=VALUE`, and
//! given to every process it runs (the main process, `attach` shells,
//! `run` commands) byte for byte, no shell in between.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest `KEY=VALUE` the kernel passes to a program (MAX_ARG_STRLEN,
/// 32 pages, terminating NUL included).
pub const MAX_ENTRY_BYTES: usize = 32 * 4096 - 1;

/// Why a variable or an env file was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("'{0}' is not a variable name (letters, digits and _, not starting with a digit)")]
    BadKey(String),
    #[error("variable {0} is not set on the host (give {0}=VALUE)")]
    NotOnHost(String),
    #[error("variable {0}: the host's value is not UTF-8")]
    HostNotUtf8(String),
    #[error("variable {0}: a value cannot hold a NUL byte")]
    Nul(String),
    #[error(
        "variable {key}: KEY=VALUE is {len} bytes, more than the kernel passes ({MAX_ENTRY_BYTES})"
    )]
    TooLong { key: String, len: usize },
    #[error("env file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("env file {}: not UTF-8 text", .path.display())]
    NotText { path: PathBuf },
    #[error("env file {} line {line}: {source}", .path.display())]
    Line {
        path: PathBuf,
        line: usize,
        #[source]
        source: Box<EnvError>,
    },
}

/// True for a POSIX variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_name(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// One variable, checked: a POSIX name and a value without NUL (spaces,
/// `=`, quotes, newlines and any UTF-8 are kept as given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvVar {
    key: String,
    value: String,
}

impl EnvVar {
    pub fn new(key: &str, value: &str) -> Result<Self, EnvError> {
        if !is_name(key) {
            return Err(EnvError::BadKey(key.to_string()));
        }
        if value.contains('\0') {
            return Err(EnvError::Nul(key.to_string()));
        }
        let len = key.len() + 1 + value.len();
        if len > MAX_ENTRY_BYTES {
            return Err(EnvError::TooLong {
                key: key.to_string(),
                len,
            });
        }
        Ok(Self {
            key: key.to_string(),
            value: value.to_string(),
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}

/// `KEY=VALUE` (the value is everything after the first `=`).
impl FromStr for EnvVar {
    type Err = EnvError;
    fn from_str(s: &str) -> Result<Self, EnvError> {
        match s.split_once('=') {
            Some((key, value)) => Self::new(key, value),
            None => Err(EnvError::BadKey(s.to_string())),
        }
    }
}

impl fmt::Display for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

crate::stored_as_text!(EnvVar);

/// One `--env` argument or env file line: `KEY=VALUE`, or `KEY` alone,
/// which takes the host's value (as Docker does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvArg {
    Set(EnvVar),
    FromHost(String),
}

impl FromStr for EnvArg {
    type Err = EnvError;
    fn from_str(s: &str) -> Result<Self, EnvError> {
        if s.contains('=') {
            return s.parse().map(Self::Set);
        }
        if !is_name(s) {
            return Err(EnvError::BadKey(s.to_string()));
        }
        Ok(Self::FromHost(s.to_string()))
    }
}

impl EnvArg {
    /// The variable, a `KEY` alone taking its value from `host` (the
    /// host's environment); a key the host does not have is refused.
    pub fn resolve(self, host: &dyn Fn(&str) -> Option<OsString>) -> Result<EnvVar, EnvError> {
        match self {
            Self::Set(v) => Ok(v),
            Self::FromHost(key) => {
                let value = host(&key).ok_or_else(|| EnvError::NotOnHost(key.clone()))?;
                let value = value
                    .into_string()
                    .map_err(|_| EnvError::HostNotUtf8(key.clone()))?;
                EnvVar::new(&key, &value)
            }
        }
    }
}

/// The variables of an env file in Docker's format: one `KEY=VALUE` or
/// `KEY` per line, the value taken as written (quotes included, no
/// expansion); blank lines and lines starting with `#` are skipped,
/// leading white space is ignored, a line may end in CR LF.
pub fn parse_file(
    path: &Path,
    text: &str,
    host: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Vec<EnvVar>, EnvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut vars = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let var = line
            .parse::<EnvArg>()
            .and_then(|arg| arg.resolve(host))
            .map_err(|source| EnvError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                source: Box::new(source),
            })?;
        vars.push(var);
    }
    Ok(vars)
}

/// Reads and parses an env file ([`parse_file`]).
pub fn read_file(
    path: &Path,
    host: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Vec<EnvVar>, EnvError> {
    let bytes = std::fs::read(path).map_err(|source| EnvError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| EnvError::NotText {
        path: path.to_path_buf(),
    })?;
    parse_file(path, &text, host)
}

/// `over` on top of `base`: a key given again takes the new value, in the
/// place it had; new keys follow in their order.
pub fn merge(base: &[EnvVar], over: &[EnvVar]) -> Vec<EnvVar> {
    let mut out = base.to_vec();
    for v in over {
        match out.iter_mut().find(|o| o.key == v.key) {
            Some(slot) => *slot = v.clone(),
            None => out.push(v.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(key: &str) -> Option<OsString> {
        match key {
            "FROM_HOST" => Some("host value".into()),
            "EMPTY_ON_HOST" => Some(OsString::new()),
            _ => None,
        }
    }

    #[test]
    fn names_are_posix_names() {
        for good in ["A", "_", "a1", "_X_9", "path"] {
            assert!(is_name(good), "{good}");
        }
        for bad in ["", "1X", "A-B", "A B", "É", "A.B", "A=B"] {
            assert!(!is_name(bad), "{bad}");
        }
    }

    #[test]
    fn values_are_kept_as_given() {
        for value in [
            "",
            "a b  c ",
            "x=y=z",
            "'single' \"double\"",
            "$HOME `id` \\n",
            "grüße 🚀",
            "two\nlines",
        ] {
            let v: EnvVar = format!("K={value}").parse().expect(value);
            assert_eq!((v.key(), v.value()), ("K", value));
            assert_eq!(v.to_string(), format!("K={value}"));
        }
        assert!(matches!(
            "K=a\0b".parse::<EnvVar>(),
            Err(EnvError::Nul(k)) if k == "K"
        ));
        let long = format!("K={}", "x".repeat(MAX_ENTRY_BYTES));
        let e = long.parse::<EnvVar>().expect_err("too long");
        assert!(e.to_string().starts_with("variable K: KEY=VALUE is"), "{e}");
    }

    #[test]
    fn bad_keys_are_named_in_one_line() {
        let e = "1X=a".parse::<EnvArg>().expect_err("digit first");
        assert_eq!(
            e.to_string(),
            "'1X' is not a variable name (letters, digits and _, not starting with a digit)"
        );
        assert!("=a".parse::<EnvArg>().is_err());
        assert!("A B".parse::<EnvArg>().is_err());
    }

    #[test]
    fn a_key_alone_takes_the_hosts_value_or_is_refused() {
        let arg: EnvArg = "FROM_HOST".parse().expect("name");
        assert_eq!(arg.resolve(&host).expect("on host").value(), "host value");
        let arg: EnvArg = "EMPTY_ON_HOST".parse().expect("name");
        assert_eq!(arg.resolve(&host).expect("on host").value(), "");
        let arg: EnvArg = "NOT_ON_HOST".parse().expect("name");
        let e = arg.resolve(&host).expect_err("missing");
        assert_eq!(
            e.to_string(),
            "variable NOT_ON_HOST is not set on the host (give NOT_ON_HOST=VALUE)"
        );
    }

    #[test]
    fn env_files_in_dockers_format() {
        let text = "\u{feff}# a comment\n\nA=1\n  B = spaced \r\n\t# indented comment\n\
                    C=\"quoted\" and 'kept'\nFROM_HOST\nD=x=y\n   \nE=\n";
        // A key with a space is refused, with the line.
        let e = parse_file(Path::new("f.env"), text, &host).expect_err("B is refused");
        assert_eq!(
            e.to_string(),
            "env file f.env line 4: 'B ' is not a variable name (letters, digits and _, not \
             starting with a digit)"
        );
        let text = text.replace("  B = spaced \r\n", "  B= spaced \r\n");
        let vars = parse_file(Path::new("f.env"), &text, &host).expect("parse");
        let shown: Vec<String> = vars.iter().map(EnvVar::to_string).collect();
        assert_eq!(
            shown,
            [
                "A=1",
                "B= spaced ",
                "C=\"quoted\" and 'kept'",
                "FROM_HOST=host value",
                "D=x=y",
                "E=",
            ]
        );
        let e = parse_file(Path::new("f.env"), "A=1\nMISSING\n", &host).expect_err("missing");
        assert_eq!(
            e.to_string(),
            "env file f.env line 2: variable MISSING is not set on the host (give MISSING=VALUE)"
        );
    }

    #[test]
    fn reading_a_file_names_it() {
        let e = read_file(Path::new("/nonexistent/x.env"), &host).expect_err("missing");
        assert!(
            e.to_string().starts_with("env file /nonexistent/x.env: "),
            "{e}"
        );
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("bin.env");
        std::fs::write(&p, b"A=\xff\n").expect("write");
        let e = read_file(&p, &host).expect_err("not utf-8");
        assert!(e.to_string().ends_with(": not UTF-8 text"), "{e}");
    }

    #[test]
    fn later_values_win_in_place() {
        let v = |s: &str| s.parse::<EnvVar>().expect(s);
        let merged = merge(&[v("A=1"), v("B=2")], &[v("C=3"), v("A=4")]);
        let shown: Vec<String> = merged.iter().map(EnvVar::to_string).collect();
        assert_eq!(shown, ["A=4", "B=2", "C=3"]);
    }

    #[test]
    fn stored_as_key_value_strings() {
        #[derive(Serialize, Deserialize)]
        struct T {
            env: Vec<EnvVar>,
        }
        let t = T {
            env: vec![
                "A=x y".parse().expect("var"),
                "B=\"q\"\nz".parse().expect("var"),
            ],
        };
        let text = toml::to_string(&t).expect("toml");
        let back: T = toml::from_str(&text).expect("parse");
        assert_eq!(back.env, t.env);
        assert!(toml::from_str::<T>("env = [\"1X=a\"]").is_err());
    }
}
