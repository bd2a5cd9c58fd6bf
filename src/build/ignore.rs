//! `.dockerignore` / `.xdockerignore`: which files of the build context
//! COPY and ADD never see (and that therefore never count in a cache key),
//! with Docker's pattern rules: one pattern a line, `#` comments, blanks
//! trimmed, a leading `/` ignored, paths cleaned, `*` `?` `[...]` within one
//! path component, `**` for any number of directories, `!` for an
//! exception; the last pattern that matches decides, and a pattern that
//! matches a directory covers everything below it. Also the glob matching
//! of COPY sources.

use std::path::{Component, Path};

/// One pattern of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    parts: Vec<String>,
    exception: bool,
}

/// The patterns of one context (none: nothing is ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

/// The ignore files looked for in the context, the first found counts.
pub const IGNORE_FILES: [&str; 2] = [".xdockerignore", ".dockerignore"];

impl Ignore {
    /// Parses the text of an ignore file.
    pub fn parse(text: &str) -> Self {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let parts = clean(body);
            if parts.is_empty() {
                continue;
            }
            patterns.push(Pattern { parts, exception });
        }
        Self { patterns }
    }

    /// Reads `.xdockerignore` or else `.dockerignore` of `context` (none:
    /// an empty set).
    pub fn of_context(context: &Path) -> std::io::Result<Self> {
        for name in IGNORE_FILES {
            match std::fs::read_to_string(context.join(name)) {
                Ok(text) => return Ok(Self::parse(&text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Self::default())
    }

    /// Whether the context path `rel` (relative, `/`-separated) is left
    /// out.
    pub fn ignored(&self, rel: &Path) -> bool {
        let parts: Vec<String> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        if parts.is_empty() {
            return false;
        }
        let mut ignored = false;
        for p in &self.patterns {
            // The path itself or one of its parent directories.
            let hit = (1..=parts.len()).any(|n| match_parts(&p.parts, &parts[..n]));
            if hit {
                ignored = !p.exception;
            }
        }
        ignored
    }

    /// Whether some exception could re-include a path below directory
    /// `rel` (then an ignored directory must still be walked).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }
}

/// A pattern's components after Go's `filepath.Clean` and without a
/// leading `/`.
fn clean(pattern: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p.to_string()),
        }
    }
    parts
}

/// Pattern components against path components, `**` matching any number
/// of components (none too).
pub fn match_parts(pattern: &[String], path: &[String]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_parts(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, path_rest)) => match_component(first, p) && match_parts(rest, path_rest),
            None => false,
        },
    }
}

/// `*`, `?`, `[...]` (with `^` or `!` negation and ranges) and `\` escapes
/// within one component (Go's `filepath.Match`).
pub fn match_component(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    let Some(&first) = p.first() else {
        return n.is_empty();
    };
    match first {
        '*' => (0..=n.len()).any(|skip| match_from(&p[1..], &n[skip..])),
        '?' => !n.is_empty() && match_from(&p[1..], &n[1..]),
        '[' => {
            let Some(&c) = n.first() else {
                return false;
            };
            let Some(close) = p.iter().skip(2).position(|&x| x == ']').map(|i| i + 2) else {
                return c == '[' && match_from(&p[1..], &n[1..]);
            };
            let mut class = &p[1..close];
            let negated = matches!(class.first(), Some('^' | '!'));
            if negated {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negated && match_from(&p[close + 1..], &n[1..])
        }
        '\\' if p.len() > 1 => n.first() == Some(&p[1]) && match_from(&p[2..], &n[1..]),
        c => n.first() == Some(&c) && match_from(&p[1..], &n[1..]),
    }
}

/// Whether a COPY source has glob characters.
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_pattern_rules() {
        let ig = Ignore::parse(
            "# comment\n\n  *.log  \n/build\n**/secret*\ndocs/**/*.md\n!docs/keep.md\n\
             tmp\n!tmp/wanted\n./cache/../cached\n[ab]?.txt\n",
        );
        let table = [
            ("x.log", true),
            ("dir/x.log", false), // * stays in one component
            ("build", true),
            ("build/out/a.o", true), // below an ignored directory
            ("src/build", false),
            ("secret.key", true),
            ("a/b/secret", true),
            ("docs/x.md", true),
            ("docs/a/b/x.md", true),
            ("docs/keep.md", false),
            ("docs/x.txt", false),
            ("tmp/other", true),
            ("tmp/wanted", false),
            ("tmp/wanted/deeper", false),
            ("cached", true),
            ("cache", false),
            ("a1.txt", true),
            ("c1.txt", false),
            ("main.rs", false),
        ];
        for (path, want) in table {
            assert_eq!(ig.ignored(Path::new(path)), want, "{path}");
        }
        assert!(ig.has_exceptions());
        assert!(!Ignore::default().ignored(Path::new("x")));
    }

    #[test]
    fn component_globs() {
        for (p, n, want) in [
            ("*", "abc", true),
            ("a*c", "abbbc", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[!a]x", "bx", true),
            ("[^a]x", "ax", false),
            ("[a-c]", "b", true),
            ("[a-c]", "d", false),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("*.tar.gz", "rootfs.tar.gz", true),
        ] {
            assert_eq!(match_component(p, n), want, "{p} {n}");
        }
        assert!(is_glob("a*") && !is_glob("plain/path"));
    }
}
