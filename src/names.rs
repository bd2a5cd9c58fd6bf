//! Validated names of images and containers, image references and the
//! version ordering: every name reaches paths and commands, so it is checked
//! once here and carried as a type afterwards (SPEC §1).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Longest accepted name or version, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// The version stored for an image that was given none.
pub const NO_VERSION: &str = "_";

/// Why a name, version or reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} '{value}' is longer than {MAX_NAME_LEN} characters")]
    TooLong { what: &'static str, value: String },
    #[error("{what} '{value}' contains '{ch}'; only letters, digits and =._- are allowed")]
    BadChar {
        what: &'static str,
        value: String,
        ch: char,
    },
    #[error("{what} '{value}' is not allowed")]
    Reserved { what: &'static str, value: String },
    #[error("{what} '{value}' must not start with '-'")]
    LeadingDash { what: &'static str, value: String },
}

/// Checks the rules shared by names and versions.
fn check(what: &'static str, value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty { what });
    }
    if let Some(ch) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '=' | '.' | '_' | '-')))
    {
        return Err(NameError::BadChar {
            what,
            value: value.to_string(),
            ch,
        });
    }
    if value.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            what,
            value: value.to_string(),
        });
    }
    if value == "." || value == ".." {
        return Err(NameError::Reserved {
            what,
            value: value.to_string(),
        });
    }
    if value.starts_with('-') {
        return Err(NameError::LeadingDash {
            what,
            value: value.to_string(),
        });
    }
    Ok(())
}

/// A valid image or container name: safe as one path component and as one
/// command argument.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// Validates `value` as the name of `what` ("image name", "container name").
    pub fn parse_as(what: &'static str, value: &str) -> Result<Self, NameError> {
        check(what, value)?;
        Ok(Self(value.to_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_as("name", s)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image version: a validated path component; `_` means "no version".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(String);

impl Version {
    /// The version of an image that was given none.
    pub fn none() -> Self {
        Self(NO_VERSION.to_string())
    }

    /// True for `_`.
    pub fn is_none(&self) -> bool {
        self.0 == NO_VERSION
    }

    /// The version as text (`_` when none).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Version {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check("version", s)?;
        Ok(Self(s.to_string()))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One dot-separated part of a version, as compared.
#[derive(Debug, PartialEq, Eq)]
enum Part<'a> {
    /// All digits; leading zeros stripped for comparison.
    Number(&'a str),
    Text(&'a str),
}

fn parts(version: &str) -> impl Iterator<Item = Part<'_>> {
    version.split('.').map(|p| {
        if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
            Part::Number(p.trim_start_matches('0'))
        } else {
            Part::Text(p)
        }
    })
}

fn cmp_part(a: &Part<'_>, b: &Part<'_>) -> Ordering {
    match (a, b) {
        // Digits without leading zeros: a longer one is larger, any length.
        (Part::Number(x), Part::Number(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
        (Part::Number(_), Part::Text(_)) => Ordering::Less,
        (Part::Text(_), Part::Number(_)) => Ordering::Greater,
        (Part::Text(x), Part::Text(y)) => x.cmp(y),
    }
}

impl Ord for Version {
    /// Dotted numbers compare numerically (`1.10.0` > `1.9.2`), a number part
    /// sorts before a text part, a missing part before any part, `_` lowest.
    /// Ties between spellings of one number (`1.01` and `1.1`) fall back to
    /// the text, so the order is total and agrees with equality.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.is_none(), other.is_none()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        let mut a = parts(&self.0);
        let mut b = parts(&other.0);
        loop {
            match (a.next(), b.next()) {
                (None, None) => return self.0.cmp(&other.0),
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => match cmp_part(&x, &y) {
                    Ordering::Equal => {}
                    unequal => return unequal,
                },
            }
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `NAME[:VERSION]` as the user wrote it: the version may be left open
/// (meaning "the highest" or "none", depending on the command). Stored in
/// configs in the same text form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef {
    pub name: Name,
    pub version: Option<Version>,
}

impl ImageRef {
    /// The version, `_` when none was given.
    pub fn version_or_none(&self) -> Version {
        self.version.clone().unwrap_or_else(Version::none)
    }
}

impl FromStr for ImageRef {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, version) = match s.split_once(':') {
            Some((n, v)) => (n, Some(v.parse::<Version>()?)),
            None => (s, None),
        };
        Ok(Self {
            name: Name::parse_as("image name", name)?,
            version,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}:{}", self.name, v),
            None => write!(f, "{}", self.name),
        }
    }
}

/// `TryFrom<String>` (through `FromStr`) and `From<T> for String`
/// (through `Display`) for a domain type stored in configs as the text the
/// user writes: what `#[serde(try_from = "String", into = "String")]`
/// needs, so a stored value is checked as strictly as a typed one.
#[macro_export]
macro_rules! stored_as_text {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = <$t as std::str::FromStr>::Err;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.to_string()
            }
        }
    };
}

stored_as_text!(ImageRef);

/// Adjectives and nouns of generated container names (Docker's habit:
/// `adjective_noun`).
const ADJECTIVES: &[&str] = &[
    "agile", "bold", "brave", "bright", "calm", "clever", "cool", "crisp", "daring", "eager",
    "fancy", "fast", "gentle", "glad", "happy", "honest", "jolly", "keen", "kind", "lively",
    "lucid", "merry", "modest", "neat", "nimble", "noble", "proud", "quick", "quiet", "rapid",
    "serene", "sharp", "shiny", "smart", "steady", "sunny", "swift", "tidy", "vivid", "witty",
];
const NOUNS: &[&str] = &[
    "babbage", "bell", "bohr", "boole", "curie", "darwin", "dijkstra", "einstein", "euler",
    "faraday", "fermat", "feynman", "gauss", "hopper", "hypatia", "joule", "kepler", "knuth",
    "lamport", "leibniz", "lovelace", "maxwell", "mendel", "newton", "noether", "pascal",
    "pasteur", "planck", "ritchie", "shannon", "tesla", "thompson", "torvalds", "turing", "volta",
    "wiles", "wozniak", "wright", "yonath", "zuse",
];

/// A readable container name that `taken` says is free: `adjective_noun`
/// picked at random, with a number after it once many are taken.
pub fn generated(taken: impl Fn(&str) -> bool) -> Name {
    let mut seed = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed))
        .is_ok();
    let mut state = if random {
        u64::from_ne_bytes(seed)
    } else {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    } | 1;
    // xorshift: enough to spread the picks.
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for attempt in 0u32.. {
        let a = ADJECTIVES[(next() % ADJECTIVES.len() as u64) as usize];
        let n = NOUNS[(next() % NOUNS.len() as u64) as usize];
        let text = match attempt {
            0..=49 => format!("{a}_{n}"),
            _ => format!("{a}_{n}_{}", next() % 10_000),
        };
        if !taken(&text) {
            if let Ok(name) = Name::parse_as("container name", &text) {
                return name;
            }
        }
    }
    unreachable!("an endless loop returns")
}

/// A comma-separated list of image references (`-m a,b:1.0`), bottom first.
pub fn parse_image_list(s: &str) -> Result<Vec<ImageRef>, NameError> {
    s.split(',').map(str::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_readable_valid_and_free() {
        let a = generated(|_| false);
        let (adj, noun) = a.as_str().split_once('_').expect("adjective_noun");
        assert!(ADJECTIVES.contains(&adj) && NOUNS.contains(&noun), "{a}");
        // Taken ones are skipped; with all pairs taken a number follows.
        let b = generated(|n| n == a.as_str());
        assert_ne!(a, b);
        let c = generated(|n| n.matches('_').count() == 1);
        assert_eq!(c.as_str().matches('_').count(), 2, "{c}");
    }
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        s.parse().expect("valid version")
    }

    #[test]
    fn names_follow_the_spec() {
        for ok in ["a", "web-1", "x=y", "A.b_c", "_", "a..b", &"n".repeat(64)] {
            assert!(Name::parse_as("name", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "-x",
            "a/b",
            "a b",
            "a:b",
            "é",
            &"n".repeat(65),
            "a\0",
        ] {
            assert!(Name::parse_as("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_object_and_reason() {
        let e = Name::parse_as("container name", "a/b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "container name 'a/b' contains '/'; only letters, digits and =._- are allowed"
        );
    }

    #[test]
    fn versions_order_as_dotted_numbers() {
        assert!(v("1.10.0") > v("1.9.2"));
        assert!(v("2") > v("1.99.99"));
        assert!(v("1.0") < v("1.0.1"));
        assert!(v("1.0") < v("1.beta"), "numbers sort before text");
        assert!(v("_") < v("0"));
        assert!(v("_") < v("alpha"));
        assert!(v("1.01") != v("1.1"));
        assert_eq!(v("1.01").cmp(&v("1.1")), "1.01".cmp("1.1"));
        assert!(v("100000000000000000000000") > v("99999999999999999999999"));
    }

    #[test]
    fn image_refs_parse() {
        let r: ImageRef = "web:1.2".parse().expect("valid");
        assert_eq!(r.name.as_str(), "web");
        assert_eq!(r.version, Some(v("1.2")));
        let r: ImageRef = "web".parse().expect("valid");
        assert_eq!(r.version, None);
        assert_eq!(r.version_or_none(), Version::none());
        assert!("web:".parse::<ImageRef>().is_err());
        assert!("web:1:2".parse::<ImageRef>().is_err());
        assert!(":1".parse::<ImageRef>().is_err());
        let l = parse_image_list("a,b:1.0").expect("valid");
        assert_eq!(l.len(), 2);
        assert!(parse_image_list("a,,b").is_err());
    }

    fn version_strategy() -> impl Strategy<Value = Version> {
        prop_oneof![
            Just(Version::none()),
            "[0-9]{1,3}(\\.[0-9a-c]{1,3}){0,3}".prop_map(|s| v(&s)),
        ]
    }

    proptest! {
        #[test]
        fn order_is_total_and_consistent(a in version_strategy(), b in version_strategy(), c in version_strategy()) {
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
            if a <= b && b <= c { prop_assert!(a <= c); }
        }

        #[test]
        fn numeric_parts_compare_as_numbers(x in 0u64..1_000_000, y in 0u64..1_000_000, p in 0u64..100) {
            let a = v(&format!("{p}.{x}"));
            let b = v(&format!("{p}.{y}"));
            prop_assert_eq!(a.cmp(&b), x.cmp(&y));
        }

        #[test]
        fn none_is_lowest(a in version_strategy()) {
            prop_assert!(Version::none() <= a);
        }

        #[test]
        fn valid_names_are_one_safe_path_component(s in "\\PC{0,80}") {
            if let Ok(n) = Name::parse_as("name", &s) {
                let p = std::path::Path::new(n.as_str());
                let comps: Vec<_> = p.components().collect();
                prop_assert_eq!(comps.len(), 1);
                prop_assert!(matches!(comps[0], std::path::Component::Normal(_)));
                prop_assert!(!n.as_str().starts_with('-'));
                prop_assert!(n.as_str().len() <= MAX_NAME_LEN);
            }
        }

        #[test]
        fn names_of_the_allowed_alphabet_are_accepted(s in "[A-Za-z0-9=_][A-Za-z0-9=._-]{0,63}") {
            prop_assume!(s != "." && s != "..");
            prop_assert!(Name::parse_as("name", &s).is_ok());
        }
    }
}
