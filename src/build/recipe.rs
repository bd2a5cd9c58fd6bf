//! The recipe file (`Xdockerfile` / `Dockerfile`) parsed into stages and
//! instructions with Docker's grammar (parser directives, comments, line
//! continuations, JSON and shell forms, `KEY=VALUE` lists, flags), checked
//! whole before anything runs: an unknown or malformed instruction is one
//! error naming its line. Pure, no I/O; variables are substituted later,
//! when each step runs ([`expand`]), as Docker does.

use std::collections::HashMap;

/// Why a recipe was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipeError {
    #[error("recipe line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("recipe has no FROM instruction")]
    NoFrom,
}

fn at(line: usize) -> impl Fn(String) -> RecipeError {
    move |reason| RecipeError::Line { line, reason }
}

/// A command of RUN, CMD or ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Shell form: run by the SHELL (`/bin/sh -c` by default).
    Shell(String),
    /// Exec form (a JSON array): run as it is.
    Exec(Vec<String>),
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopySpec {
    /// `--from=STAGE|IMAGE` (COPY only).
    pub from: Option<String>,
    /// `--chown=USER[:GROUP]` (raw, substituted when run).
    pub chown: Option<String>,
    /// `--chmod=MODE` (octal).
    pub chmod: Option<u32>,
    /// Sources (raw words), relative to the context or the `--from` root.
    pub sources: Vec<String>,
    /// Destination (raw word).
    pub dest: String,
}

/// One instruction after FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `ARG NAME[=DEFAULT] ...` (raw defaults).
    Arg(Vec<(String, Option<String>)>),
    /// `ENV K=V ...` or `ENV K V` (raw values).
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Workdir(String),
    User(String),
    Run(Command),
    Cmd(Command),
    Entrypoint(Command),
    Shell(Vec<String>),
    Copy(CopySpec),
    Add(CopySpec),
    /// Raw words: `80`, `53/udp`.
    Expose(Vec<String>),
    /// Raw words (JSON or plain).
    Volume(Vec<String>),
    StopSignal(String),
}

impl Instruction {
    /// The instruction's keyword, as Docker prints it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Self::Arg(_) => "ARG",
            Self::Env(_) => "ENV",
            Self::Label(_) => "LABEL",
            Self::Workdir(_) => "WORKDIR",
            Self::User(_) => "USER",
            Self::Run(_) => "RUN",
            Self::Cmd(_) => "CMD",
            Self::Entrypoint(_) => "ENTRYPOINT",
            Self::Shell(_) => "SHELL",
            Self::Copy(_) => "COPY",
            Self::Add(_) => "ADD",
            Self::Expose(_) => "EXPOSE",
            Self::Volume(_) => "VOLUME",
            Self::StopSignal(_) => "STOPSIGNAL",
        }
    }
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line of the instruction's first line.
    pub line: usize,
    /// The instruction as written (continuations joined), for output.
    pub text: String,
    pub instruction: Instruction,
}

/// `FROM IMAGE [AS NAME]` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub line: usize,
    pub text: String,
    /// Raw: `$VAR`s of the global ARGs are substituted when run.
    pub base: String,
    /// `AS NAME`, lower-cased as Docker keeps it.
    pub name: Option<String>,
    pub steps: Vec<Step>,
}

/// A whole recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// ARGs before the first FROM: usable in FROM lines, and in a stage
    /// that declares them again without a value.
    pub global_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
}

impl Recipe {
    /// Index of the stage a `--target` or `--from` names (its `AS` name or
    /// its number).
    pub fn stage_index(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| name.parse::<usize>().ok().filter(|&i| i < before))
    }

    /// Number of steps (FROM lines included) of the stages `0..=last`.
    pub fn step_count(&self, stages: &[usize]) -> usize {
        stages.iter().map(|&i| 1 + self.stages[i].steps.len()).sum()
    }
}

/// Parses a recipe.
pub fn parse(text: &str) -> Result<Recipe, RecipeError> {
    let lines = logical_lines(text);
    let mut recipe = Recipe {
        global_args: Vec::new(),
        stages: Vec::new(),
    };
    for (line, body) in lines? {
        let trimmed = body.trim();
        let (word, rest) = match trimmed.find(char::is_whitespace) {
            Some(i) => (&trimmed[..i], trimmed[i..].trim_start()),
            None => (trimmed, ""),
        };
        let keyword = word.to_ascii_uppercase();
        let err = at(line);
        if keyword == "FROM" {
            let (base, name) = parse_from(rest).map_err(&err)?;
            check_substitutions(&base).map_err(&err)?;
            if let Some(n) = &name {
                if recipe.stages.iter().any(|s| s.name.as_ref() == Some(n)) {
                    return Err(err(format!("stage name '{n}' is used twice")));
                }
            }
            recipe.stages.push(Stage {
                line,
                text: trimmed.to_string(),
                base,
                name,
                steps: Vec::new(),
            });
            continue;
        }
        let instruction = parse_instruction(&keyword, word, rest).map_err(&err)?;
        for raw in substituted_words(&instruction) {
            check_substitutions(raw).map_err(&err)?;
        }
        match recipe.stages.last_mut() {
            Some(stage) => stage.steps.push(Step {
                line,
                text: trimmed.to_string(),
                instruction,
            }),
            None => match instruction {
                Instruction::Arg(args) => recipe.global_args.extend(args),
                other => {
                    return Err(err(format!(
                        "{} before the first FROM (only ARG may come before it)",
                        other.keyword()
                    )))
                }
            },
        }
    }
    if recipe.stages.is_empty() {
        return Err(RecipeError::NoFrom);
    }
    Ok(recipe)
}

/// The recipe's lines joined at continuations, comments and empty lines
/// dropped, each with the number of its first line. Parser directives
/// (`# escape=` and `# syntax=`, before anything else) are honoured:
/// `escape` chooses the continuation character (`\` or a backtick).
fn logical_lines(text: &str) -> Result<Vec<(usize, String)>, RecipeError> {
    let mut escape = '\\';
    let mut in_directives = true;
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = raw.trim_start();
        if in_directives {
            if let Some(d) = trimmed.strip_prefix('#') {
                if let Some((key, value)) = d.trim().split_once('=') {
                    let key = key.trim().to_ascii_lowercase();
                    if !key.contains(char::is_whitespace) && !key.is_empty() {
                        match key.as_str() {
                            "escape" => {
                                escape = match value.trim() {
                                    "\\" => '\\',
                                    "`" => '`',
                                    other => {
                                        return Err(at(number)(format!(
                                            "parser directive escape={other}: only \\ or ` \
                                             may be the escape character"
                                        )))
                                    }
                                };
                                continue;
                            }
                            // syntax= and unknown directives are comments.
                            _ => continue,
                        }
                    }
                }
            }
            in_directives = false;
        }
        // Comment lines go, also inside a continued instruction.
        if trimmed.starts_with('#') {
            continue;
        }
        if trimmed.is_empty() {
            if let Some(c) = current.take() {
                if !c.1.trim().is_empty() {
                    out.push(c);
                }
            }
            continue;
        }
        let end = raw.trim_end();
        let (piece, continues) = match end.strip_suffix(escape) {
            // An escaped escape (`\\`) at the end is no continuation.
            Some(p) if !p.ends_with(escape) || escape != '\\' => (p, true),
            _ => (end, false),
        };
        let entry = current.get_or_insert_with(|| (number, String::new()));
        entry.1.push_str(piece);
        if !continues {
            if let Some(c) = current.take() {
                out.push(c);
            }
        }
    }
    if let Some(c) = current.take() {
        if !c.1.trim().is_empty() {
            out.push(c);
        }
    }
    Ok(out)
}

fn parse_from(rest: &str) -> Result<(String, Option<String>), String> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    if let Some(flag) = words.iter().find(|w| w.starts_with("--")) {
        return Err(format!("FROM: option {flag} is not supported"));
    }
    match words.as_slice() {
        [base] => Ok((base.to_string(), None)),
        [base, as_, name] if as_.eq_ignore_ascii_case("as") => {
            let name = name.to_ascii_lowercase();
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                || !name.starts_with(|c: char| c.is_ascii_alphabetic())
            {
                return Err(format!(
                    "FROM: stage name '{name}' must start with a letter and have only \
                     letters, digits and ._-"
                ));
            }
            Ok((base.to_string(), Some(name)))
        }
        [] => Err("FROM needs an image (or scratch, or an earlier stage)".into()),
        _ => Err("FROM takes IMAGE [AS NAME]".into()),
    }
}

fn parse_instruction(keyword: &str, word: &str, rest: &str) -> Result<Instruction, String> {
    let needs = |what: &str| -> Result<(), String> {
        match rest.is_empty() {
            true => Err(format!("{keyword} needs {what}")),
            false => Ok(()),
        }
    };
    Ok(match keyword {
        "ARG" => {
            needs("a NAME[=DEFAULT]")?;
            let mut args = Vec::new();
            for w in split_raw(rest)? {
                let (name, default) = match w.split_once('=') {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (w.clone(), None),
                };
                check_name(keyword, &name)?;
                args.push((name, default));
            }
            Instruction::Arg(args)
        }
        "ENV" | "LABEL" => {
            needs("KEY=VALUE")?;
            let pairs = key_values(keyword, rest)?;
            if keyword == "ENV" {
                for (k, _) in &pairs {
                    check_name(keyword, k)?;
                }
                Instruction::Env(pairs)
            } else {
                Instruction::Label(pairs)
            }
        }
        "WORKDIR" => {
            needs("a directory")?;
            Instruction::Workdir(rest.to_string())
        }
        "USER" => {
            needs("USER[:GROUP]")?;
            if split_raw(rest)?.len() != 1 {
                return Err("USER takes one USER[:GROUP]".into());
            }
            Instruction::User(rest.to_string())
        }
        "RUN" | "CMD" | "ENTRYPOINT" => {
            if let Some(flag) = rest.strip_prefix("--") {
                return Err(format!(
                    "{keyword}: option --{} is not supported",
                    flag.split_whitespace().next().unwrap_or_default()
                ));
            }
            needs("a command")?;
            let command = match json_array(rest)? {
                Some(argv) if argv.is_empty() && keyword == "RUN" => {
                    return Err("RUN [] has no command".into())
                }
                Some(argv) => Command::Exec(argv),
                None => Command::Shell(rest.to_string()),
            };
            match keyword {
                "RUN" => Instruction::Run(command),
                "CMD" => Instruction::Cmd(command),
                _ => Instruction::Entrypoint(command),
            }
        }
        "SHELL" => match json_array(rest)? {
            Some(argv) if !argv.is_empty() => Instruction::Shell(argv),
            _ => return Err("SHELL needs a JSON array, e.g. [\"/bin/bash\", \"-c\"]".into()),
        },
        "COPY" | "ADD" => {
            needs("SRC... DEST")?;
            let mut words = match json_array(rest)? {
                Some(argv) => argv,
                None => split_raw(rest)?,
            };
            let mut spec = CopySpec::default();
            while words.first().is_some_and(|w| w.starts_with("--")) {
                let flag = words.remove(0);
                let (name, value) = flag.split_once('=').unwrap_or((flag.as_str(), ""));
                match (name, keyword) {
                    ("--from", "COPY") if !value.is_empty() => spec.from = Some(value.into()),
                    ("--chown", _) if !value.is_empty() => spec.chown = Some(value.into()),
                    ("--chmod", _) => {
                        spec.chmod = Some(parse_mode(value).ok_or_else(|| {
                            format!("{keyword} --chmod={value}: not an octal mode")
                        })?)
                    }
                    ("--from", _) | ("--chown", _) if value.is_empty() => {
                        return Err(format!("{keyword} {name} needs a value ({name}=...)"))
                    }
                    _ => return Err(format!("{keyword}: option {name} is not supported")),
                }
            }
            if words.len() < 2 {
                return Err(format!(
                    "{keyword} needs at least one source and a destination"
                ));
            }
            spec.dest = words.pop().unwrap_or_default();
            spec.sources = words;
            if keyword == "ADD" {
                if let Some(url) = spec.sources.iter().find(|s| is_url(s)) {
                    return Err(format!(
                        "ADD {url}: URLs are not supported (xdocker builds do not download); \
                         fetch the file first and ADD or COPY it from the context"
                    ));
                }
                Instruction::Add(spec)
            } else {
                Instruction::Copy(spec)
            }
        }
        "EXPOSE" => {
            needs("a port")?;
            let ports = split_raw(rest)?;
            for p in &ports {
                if p.contains('$') {
                    continue;
                }
                check_port(p)?;
            }
            Instruction::Expose(ports)
        }
        "VOLUME" => {
            needs("a path")?;
            Instruction::Volume(match json_array(rest)? {
                Some(v) => v,
                None => split_raw(rest)?,
            })
        }
        "STOPSIGNAL" => {
            needs("a signal")?;
            Instruction::StopSignal(rest.to_string())
        }
        "MAINTAINER" => Instruction::Label(vec![("maintainer".into(), rest.to_string())]),
        "ONBUILD" | "HEALTHCHECK" => {
            return Err(format!("{keyword} is not supported by xdocker builds"))
        }
        _ => return Err(format!("unknown instruction '{word}'")),
    })
}

/// The raw words of an instruction that get variables substituted.
fn substituted_words(i: &Instruction) -> Vec<&str> {
    match i {
        Instruction::Arg(a) => a.iter().filter_map(|(_, d)| d.as_deref()).collect(),
        Instruction::Env(p) | Instruction::Label(p) => p
            .iter()
            .flat_map(|(k, v)| [k.as_str(), v.as_str()])
            .collect(),
        Instruction::Workdir(w) | Instruction::User(w) | Instruction::StopSignal(w) => vec![w],
        Instruction::Copy(c) | Instruction::Add(c) => c
            .sources
            .iter()
            .map(String::as_str)
            .chain([c.dest.as_str()])
            .chain(c.chown.as_deref())
            .collect(),
        Instruction::Expose(w) | Instruction::Volume(w) => w.iter().map(String::as_str).collect(),
        Instruction::Run(_) | Instruction::Cmd(_) | Instruction::Entrypoint(_) => Vec::new(),
        Instruction::Shell(_) => Vec::new(),
    }
}

fn is_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    ["http://", "https://", "git@", "git://", "ftp://"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// An octal mode such as `755` or `0644`.
pub fn parse_mode(s: &str) -> Option<u32> {
    (!s.is_empty() && s.len() <= 5)
        .then(|| u32::from_str_radix(s, 8).ok())
        .flatten()
        .filter(|m| *m <= 0o7777)
}

/// `80`, `80/tcp`, `53/udp`, `8000-8010`.
pub fn check_port(p: &str) -> Result<(), String> {
    let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto_ok = matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp");
    let number = |s: &str| s.parse::<u16>().ok().filter(|n| *n > 0);
    let ports_ok = match ports.split_once('-') {
        Some((a, b)) => number(a).zip(number(b)).is_some_and(|(a, b)| a <= b),
        None => number(ports).is_some(),
    };
    match proto_ok && ports_ok {
        true => Ok(()),
        false => Err(format!("EXPOSE {p}: not a port (PORT[/tcp|udp])")),
    }
}

fn check_name(keyword: &str, name: &str) -> Result<(), String> {
    match crate::container::env::is_name(name) {
        true => Ok(()),
        false => Err(format!("{keyword} {name}: not a valid variable name")),
    }
}

/// `K=V K2="a b"` or the old form `K value with spaces`.
fn key_values(keyword: &str, rest: &str) -> Result<Vec<(String, String)>, String> {
    let words = split_raw(rest)?;
    if !words[0].contains('=') {
        // The old form: the key, then the rest of the line.
        let key = words[0].clone();
        let value = rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..].trim_start();
        if value.is_empty() {
            return Err(format!("{keyword} {key} needs a value ({key}=VALUE)"));
        }
        return Ok(vec![(key, value.to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((unquote_key(k), v.to_string())),
            _ => Err(format!("{keyword} {w}: expected KEY=VALUE")),
        })
        .collect()
}

/// A LABEL key may be quoted.
fn unquote_key(k: &str) -> String {
    expand(k, &|_| None).unwrap_or_else(|_| k.to_string())
}

/// A JSON array of strings (exec form), or None when `rest` is not one
/// (then it is the shell form, as Docker decides).
fn json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    if !rest.starts_with('[') {
        return Ok(None);
    }
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(v) => Ok(Some(v)),
        Err(_) => Ok(None),
    }
}

/// Splits at unquoted blanks, keeping quotes and backslashes in the words
/// (they are resolved by [`expand`]). An open quote is an error.
pub fn split_raw(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                continue;
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), _) => {}
            (_, '\\') => {
                word.push(c);
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
                continue;
            }
            _ => {}
        }
        word.push(c);
        in_word = true;
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote in: {s}"));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Resolves quotes and backslashes in `raw` and substitutes `$VAR`,
/// `${VAR}`, `${VAR:-default}` and `${VAR:+alternative}` (also without
/// the colon) from `vars`, as Docker does for ENV, ARG, LABEL, WORKDIR,
/// USER, COPY, ADD, EXPOSE, VOLUME, STOPSIGNAL and FROM: not inside single
/// quotes, and not after a backslash. An unset variable is empty.
pub fn expand(raw: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => out.push(c),
            (_, '\\') if i + 1 < chars.len() => {
                i += 1;
                let next = chars[i];
                // Inside double quotes only \ " $ are escaped (as sh).
                if quote == Some('"') && !matches!(next, '\\' | '"' | '$') {
                    out.push('\\');
                }
                out.push(next);
            }
            (_, '$') => {
                let (value, used) = substitute(&chars[i + 1..], vars)?;
                out.push_str(&value);
                i += used;
            }
            (_, c) => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// The value of the variable reference after a `$`, and how many chars
/// of `rest` it took.
fn substitute(
    rest: &[char],
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, usize), String> {
    let is_name_char = |c: &char| c.is_ascii_alphanumeric() || *c == '_';
    match rest.first() {
        Some('{') => {
            let Some(close) = rest.iter().position(|c| *c == '}') else {
                return Err(format!(
                    "missing }} in ${}",
                    rest.iter().collect::<String>()
                ));
            };
            let inner: String = rest[1..close].iter().collect();
            let name_len = inner.chars().take_while(is_name_char).count();
            let (name, op) = inner.split_at(name_len);
            if name.is_empty() {
                return Err(format!("bad substitution ${{{inner}}}"));
            }
            let value = vars(name);
            let set = value.as_deref().is_some_and(|v| !v.is_empty());
            let result = match op {
                "" => value.unwrap_or_default(),
                _ => {
                    let (word, colon) = match op.strip_prefix(':') {
                        Some(o) => (o, true),
                        None => (op, false),
                    };
                    let present = if colon { set } else { value.is_some() };
                    match (word.chars().next(), word.get(1..)) {
                        (Some('-'), Some(default)) => match present {
                            true => value.unwrap_or_default(),
                            false => expand(default, vars)?,
                        },
                        (Some('+'), Some(alternative)) => match present {
                            true => expand(alternative, vars)?,
                            false => String::new(),
                        },
                        _ => return Err(format!("bad substitution ${{{inner}}}")),
                    }
                }
            };
            Ok((result, close + 1))
        }
        Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
            let len = rest.iter().take_while(|c| is_name_char(c)).count();
            let name: String = rest[..len].iter().collect();
            Ok((vars(&name).unwrap_or_default(), len))
        }
        // A `$` not followed by a name stays.
        _ => Ok(("$".to_string(), 0)),
    }
}

/// [`expand`] with a map.
pub fn expand_with(raw: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    expand(raw, &|k| vars.get(k).cloned())
}

/// Checks every substitution of `raw` (with nothing set), so that a
/// malformed one is refused before anything runs.
pub fn check_substitutions(raw: &str) -> Result<(), String> {
    expand(raw, &|_| None).map(|_| ())
}

#[cfg(test)]
mod tests;
