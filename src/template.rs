//! The `rplfile` engine (SPEC §6), pure: parse a mapping file into rules and
//! instantiate a template with them in one pass. Values are never scanned
//! again (cocker applied its rules one after the other, so a value holding
//! a key looped or was replaced twice), and where keys overlap at a position
//! the longest one wins (`${AB}` before `${A}`).
//!
//! Keys live in a byte trie, so each template position costs at most the
//! length of the longest key, however many keys there are.

use std::fmt;

/// Why a mapping could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The same KEY on two lines.
    #[error("line {line}: key {key} is already defined on line {first}")]
    DuplicateKey {
        line: usize,
        first: usize,
        key: String,
    },
    /// A rule with an empty key (only through [`Rules::insert`]; a mapping
    /// line always has a key).
    #[error("rule {line}: empty key")]
    EmptyKey { line: usize },
}

/// Blanks separate KEY from VALUE.
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// One trie node: children sorted by byte, and the rule ending here.
#[derive(Debug, Clone, Default)]
struct Node {
    children: Vec<(u8, u32)>,
    rule: Option<u32>,
}

impl Node {
    fn child(&self, b: u8) -> Option<u32> {
        self.children
            .binary_search_by_key(&b, |&(c, _)| c)
            .ok()
            .map(|i| self.children[i].1)
    }
}

/// The replacement rules of a mapping file.
#[derive(Clone)]
pub struct Rules {
    keys: Vec<Vec<u8>>,
    values: Vec<Vec<u8>>,
    /// Line (or rule number) each rule came from, for error messages.
    lines: Vec<usize>,
    /// Trie over the keys; node 0 is the root.
    nodes: Vec<Node>,
    /// Root children by first byte (0 = none: the root is nobody's child).
    first: Box<[u32; 256]>,
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<(String, String)> = self
            .keys
            .iter()
            .zip(&self.values)
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        f.debug_struct("Rules").field("rules", &pairs).finish()
    }
}

impl Default for Rules {
    fn default() -> Self {
        Self::new()
    }
}

impl Rules {
    pub fn new() -> Self {
        Self {
            keys: Vec::new(),
            values: Vec::new(),
            lines: Vec::new(),
            nodes: vec![Node::default()],
            first: Box::new([0; 256]),
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The rules as (key, value) pairs, in the order they were given.
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.keys
            .iter()
            .zip(&self.values)
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// Adds a rule; its number (for errors) is its position, from 1.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<(), TemplateError> {
        let line = self.len() + 1;
        self.add(key, value, line)
    }

    fn add(&mut self, key: &[u8], value: &[u8], line: usize) -> Result<(), TemplateError> {
        let Some((&head, tail)) = key.split_first() else {
            return Err(TemplateError::EmptyKey { line });
        };
        let mut node = match self.first[usize::from(head)] {
            0 => {
                let n = self.new_node();
                self.first[usize::from(head)] = n;
                n
            }
            n => n,
        };
        for &b in tail {
            let children = &self.nodes[node as usize].children;
            node = match children.binary_search_by_key(&b, |&(c, _)| c) {
                Ok(i) => children[i].1,
                Err(i) => {
                    let n = self.new_node();
                    self.nodes[node as usize].children.insert(i, (b, n));
                    n
                }
            };
        }
        if let Some(r) = self.nodes[node as usize].rule {
            return Err(TemplateError::DuplicateKey {
                line,
                first: self.lines[r as usize],
                key: String::from_utf8_lossy(key).into_owned(),
            });
        }
        self.nodes[node as usize].rule = Some(self.keys.len() as u32);
        self.keys.push(key.to_vec());
        self.values.push(value.to_vec());
        self.lines.push(line);
        Ok(())
    }

    fn new_node(&mut self) -> u32 {
        self.nodes.push(Node::default());
        (self.nodes.len() - 1) as u32
    }

    /// The longest key that starts at `text[at]`: (rule, end of the match).
    fn longest_at(&self, text: &[u8], at: usize) -> Option<(u32, usize)> {
        let mut node = match self.first[usize::from(text[at])] {
            0 => return None,
            n => n,
        };
        let mut best = None;
        let mut end = at + 1;
        loop {
            let n = &self.nodes[node as usize];
            if let Some(r) = n.rule {
                best = Some((r, end));
            }
            match text.get(end).and_then(|&b| n.child(b)) {
                Some(next) => {
                    node = next;
                    end += 1;
                }
                None => return best,
            }
        }
    }
}

/// Parses a mapping file: one rule a line, `KEY VALUE`. KEY is the first run
/// of non-blank bytes; VALUE is the rest of the line after the blanks that
/// follow KEY (it may hold spaces; a line with only a key gives an empty
/// value). Empty lines, blank lines and lines whose first non-blank byte is
/// `#` are skipped. A CR before the newline (CRLF files) is not part of the
/// value. A KEY defined twice is an error naming both lines.
pub fn parse_mapping(text: &[u8]) -> Result<Rules, TemplateError> {
    let mut rules = Rules::new();
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let start = line.iter().position(|&b| !is_blank(b));
        let Some(start) = start else { continue };
        let line = &line[start..];
        if line[0] == b'#' {
            continue;
        }
        let key_end = line.iter().position(|&b| is_blank(b)).unwrap_or(line.len());
        let (key, rest) = line.split_at(key_end);
        let value_start = rest
            .iter()
            .position(|&b| !is_blank(b))
            .unwrap_or(rest.len());
        rules.add(key, &rest[value_start..], i + 1)?;
    }
    Ok(rules)
}

/// Replaces every occurrence of every key in one left-to-right pass: at each
/// position the longest key starting there is replaced by its value and the
/// scan resumes after the key; inserted values are never scanned.
pub fn instantiate(template: &[u8], rules: &Rules) -> Vec<u8> {
    let mut out = Vec::with_capacity(template.len());
    if rules.is_empty() {
        out.extend_from_slice(template);
        return out;
    }
    let mut copied = 0;
    let mut at = 0;
    while at < template.len() {
        match rules.longest_at(template, at) {
            Some((rule, end)) => {
                out.extend_from_slice(&template[copied..at]);
                out.extend_from_slice(&rules.values[rule as usize]);
                at = end;
                copied = end;
            }
            None => at += 1,
        }
    }
    out.extend_from_slice(&template[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules(pairs: &[(&str, &str)]) -> Rules {
        let mut r = Rules::new();
        for (k, v) in pairs {
            r.insert(k.as_bytes(), v.as_bytes()).expect("insert");
        }
        r
    }

    fn apply(t: &str, pairs: &[(&str, &str)]) -> String {
        String::from_utf8(instantiate(t.as_bytes(), &rules(pairs))).expect("utf8")
    }

    /// The definition, written the slow and obvious way.
    fn naive(template: &[u8], pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < template.len() {
            let best = pairs
                .iter()
                .filter(|(k, _)| !k.is_empty() && template[at..].starts_with(k))
                .max_by_key(|(k, _)| k.len());
            match best {
                Some((k, v)) => {
                    out.extend_from_slice(v);
                    at += k.len();
                }
                None => {
                    out.push(template[at]);
                    at += 1;
                }
            }
        }
        out
    }

    #[test]
    fn the_test_image_template() {
        let r = parse_mapping(b"${LEAF} a value with spaces\n").expect("parse");
        let out = instantiate(br#"{ "leaf":"${LEAF}" }"#, &r);
        assert_eq!(out, br#"{ "leaf":"a value with spaces" }"#);
    }

    #[test]
    fn mapping_lines() {
        let text = b"# comment\n\n   \nA 1\nB   two words  \n\tC\t tab\r\nD\n  # indented comment\nE#x y\n";
        let r = parse_mapping(text).expect("parse");
        let got: Vec<(String, String)> = r
            .pairs()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        let want = [
            ("A", "1"),
            ("B", "two words  "),
            ("C", "tab"),
            ("D", ""),
            ("E#x", "y"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
        assert!(parse_mapping(b"").expect("empty").is_empty());
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let e = parse_mapping(b"A 1\n# c\nB 2\nA 3\n").unwrap_err();
        assert_eq!(
            e,
            TemplateError::DuplicateKey {
                line: 4,
                first: 1,
                key: "A".into()
            }
        );
        assert_eq!(e.to_string(), "line 4: key A is already defined on line 1");
        let mut r = Rules::new();
        assert_eq!(
            r.insert(b"", b"x"),
            Err(TemplateError::EmptyKey { line: 1 })
        );
    }

    #[test]
    fn one_pass_and_longest_key() {
        // A value holding its own key is not scanned again.
        assert_eq!(apply("a ${A} b", &[("${A}", "<${A}>")]), "a <${A}> b");
        // Values are not scanned for other keys either.
        assert_eq!(
            apply("${A}${B}", &[("${A}", "${B}"), ("${B}", "b")]),
            "${B}b"
        );
        // Longest key wins, whatever the order of the rules.
        assert_eq!(
            apply(
                "${A} ${AB} ${ABC}",
                &[("${A", "1"), ("${AB}", "2"), ("${A}", "3")]
            ),
            "3 2 1BC}"
        );
        assert_eq!(apply("${A} ${AB}", &[("${AB}", "2"), ("${A}", "3")]), "3 2");
        // Leftmost match first, then the scan continues after it.
        assert_eq!(apply("abc", &[("ab", "X"), ("bc", "Y")]), "Xc");
        assert_eq!(apply("aaaa", &[("aa", "a")]), "aa");
        assert_eq!(apply("no keys here", &[("${X}", "y")]), "no keys here");
        assert_eq!(apply("", &[("${X}", "y")]), "");
        assert_eq!(apply("${X}", &[]), "${X}");
        assert_eq!(apply("${X", &[("${X}", "y")]), "${X");
        assert_eq!(apply("x${X}", &[("${X}", "")]), "x");
    }

    #[test]
    fn many_keys_sharing_a_prefix() {
        let mut r = Rules::new();
        for i in 0..5000 {
            r.insert(format!("${{K{i}}}").as_bytes(), format!("v{i}").as_bytes())
                .expect("insert");
        }
        let template: String = (0..5000).map(|i| format!("${{K{i}}}-")).collect();
        let want: String = (0..5000).map(|i| format!("v{i}-")).collect();
        assert_eq!(instantiate(template.as_bytes(), &r), want.as_bytes());
    }

    /// Keys and values from a small alphabet, so that they overlap often.
    fn pairs_strategy() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
        prop::collection::btree_map(
            prop::collection::vec(prop::sample::select(b"ab${}".to_vec()), 1..5),
            prop::collection::vec(prop::sample::select(b"ab${} ".to_vec()), 0..6),
            0..8,
        )
        .prop_map(|m| m.into_iter().collect())
    }

    fn build(pairs: &[(Vec<u8>, Vec<u8>)]) -> Rules {
        let mut r = Rules::new();
        for (k, v) in pairs {
            r.insert(k, v).expect("unique keys");
        }
        r
    }

    proptest! {
        #[test]
        fn equals_the_naive_definition(
            template in prop::collection::vec(prop::sample::select(b"ab${}x".to_vec()), 0..64),
            pairs in pairs_strategy(),
        ) {
            prop_assert_eq!(instantiate(&template, &build(&pairs)), naive(&template, &pairs));
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            template in prop::collection::vec(any::<u8>(), 0..256),
            pairs in prop::collection::btree_map(
                prop::collection::vec(any::<u8>(), 1..4),
                prop::collection::vec(any::<u8>(), 0..8),
                0..16,
            ),
        ) {
            let pairs: Vec<_> = pairs.into_iter().collect();
            prop_assert_eq!(instantiate(&template, &build(&pairs)), naive(&template, &pairs));
        }

        #[test]
        fn a_value_holding_its_key_appears_once(
            before in "[a-z ]{0,10}",
            after in "[a-z ]{0,10}",
            key in "\\$\\{[A-Z]{1,5}\\}",
            pre in "[a-z]{0,3}",
            post in "[a-z]{0,3}",
        ) {
            let value = format!("{pre}{key}{post}");
            let template = format!("{before}{key}{after}");
            let mut r = Rules::new();
            r.insert(key.as_bytes(), value.as_bytes()).expect("insert");
            let out = String::from_utf8(instantiate(template.as_bytes(), &r)).expect("utf8");
            prop_assert_eq!(&out, &format!("{before}{value}{after}"));
            prop_assert_eq!(out.matches(key.as_str()).count(), 1);
        }

        #[test]
        fn text_without_keys_is_unchanged(
            template in "[a-z \n]{0,80}",
            pairs in prop::collection::btree_map("[A-Z${}]{1,6}", "[a-z ]{0,6}", 0..8),
        ) {
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = pairs
                .into_iter()
                .map(|(k, v)| (k.into_bytes(), v.into_bytes()))
                .collect();
            prop_assert_eq!(instantiate(template.as_bytes(), &build(&pairs)), template.as_bytes());
        }

        #[test]
        fn mapping_text_round_trips(
            pairs in prop::collection::btree_map("[!-~&&[^#]][!-~]{0,8}", "[ -~]{0,12}", 0..10),
        ) {
            // Values as the parser sees them: no leading blanks.
            let pairs: Vec<(String, String)> = pairs
                .into_iter()
                .map(|(k, v)| (k, v.trim_start().to_string()))
                .collect();
            let text: String = pairs.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
            let r = parse_mapping(text.as_bytes()).expect("parse");
            let got: Vec<(String, String)> = r
                .pairs()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(k).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect();
            prop_assert_eq!(got, pairs);
        }
    }
}
