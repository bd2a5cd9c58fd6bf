//! The parser's table tests: every instruction form and every refusal.

use super::*;

fn one(line: &str) -> Instruction {
    let r = parse(&format!("FROM scratch\n{line}\n")).expect(line);
    r.stages[0].steps[0].instruction.clone()
}

fn refused(text: &str) -> String {
    parse(text).expect_err(text).to_string()
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn every_instruction_form() {
    let exec = |v: &[&str]| Command::Exec(v.iter().map(|x| s(x)).collect());
    let table: Vec<(&str, Instruction)> = vec![
        ("ARG V", Instruction::Arg(vec![(s("V"), None)])),
        (
            "arg A=1 B",
            Instruction::Arg(vec![(s("A"), Some(s("1"))), (s("B"), None)]),
        ),
        (
            "ENV A=1 B=\"x y\"",
            Instruction::Env(vec![(s("A"), s("1")), (s("B"), s("\"x y\""))]),
        ),
        (
            "ENV A hello world",
            Instruction::Env(vec![(s("A"), s("hello world"))]),
        ),
        (
            "LABEL \"com.x\"=1 a=b",
            Instruction::Label(vec![(s("com.x"), s("1")), (s("a"), s("b"))]),
        ),
        ("WORKDIR /app", Instruction::Workdir(s("/app"))),
        (
            "USER nobody:nogroup",
            Instruction::User(s("nobody:nogroup")),
        ),
        (
            "RUN echo hi && ls",
            Instruction::Run(Command::Shell(s("echo hi && ls"))),
        ),
        (
            "RUN [\"/bin/ls\", \"-l\"]",
            Instruction::Run(exec(&["/bin/ls", "-l"])),
        ),
        // Not valid JSON: the shell form, as Docker reads it.
        (
            "RUN [ -f x ]",
            Instruction::Run(Command::Shell(s("[ -f x ]"))),
        ),
        ("CMD [\"sh\"]", Instruction::Cmd(exec(&["sh"]))),
        (
            "CMD echo hi",
            Instruction::Cmd(Command::Shell(s("echo hi"))),
        ),
        (
            "ENTRYPOINT [\"/init\"]",
            Instruction::Entrypoint(exec(&["/init"])),
        ),
        (
            "SHELL [\"/bin/bash\", \"-c\"]",
            Instruction::Shell(vec![s("/bin/bash"), s("-c")]),
        ),
        (
            "COPY a b /dst/",
            Instruction::Copy(CopySpec {
                sources: vec![s("a"), s("b")],
                dest: s("/dst/"),
                ..CopySpec::default()
            }),
        ),
        (
            "COPY --from=build --chown=app:app --chmod=0640 /out/bin /usr/bin/",
            Instruction::Copy(CopySpec {
                from: Some(s("build")),
                chown: Some(s("app:app")),
                chmod: Some(0o640),
                sources: vec![s("/out/bin")],
                dest: s("/usr/bin/"),
            }),
        ),
        (
            "COPY [\"a b\", \"/d/\"]",
            Instruction::Copy(CopySpec {
                sources: vec![s("a b")],
                dest: s("/d/"),
                ..CopySpec::default()
            }),
        ),
        (
            "ADD --chown=1:2 rootfs.tar.gz /",
            Instruction::Add(CopySpec {
                chown: Some(s("1:2")),
                sources: vec![s("rootfs.tar.gz")],
                dest: s("/"),
                ..CopySpec::default()
            }),
        ),
        (
            "EXPOSE 80 53/udp 8000-8010/tcp",
            Instruction::Expose(vec![s("80"), s("53/udp"), s("8000-8010/tcp")]),
        ),
        (
            "VOLUME /data /logs",
            Instruction::Volume(vec![s("/data"), s("/logs")]),
        ),
        ("VOLUME [\"/data\"]", Instruction::Volume(vec![s("/data")])),
        ("STOPSIGNAL SIGQUIT", Instruction::StopSignal(s("SIGQUIT"))),
        (
            "MAINTAINER ops",
            Instruction::Label(vec![(s("maintainer"), s("ops"))]),
        ),
    ];
    for (line, want) in table {
        assert_eq!(one(line), want, "{line}");
    }
}

#[test]
fn every_refusal_names_its_line() {
    let table: &[(&str, &str)] = &[
        ("FROM scratch\nFROB x\n", "recipe line 2: unknown instruction 'FROB'"),
        ("", "recipe has no FROM instruction"),
        ("# only a comment\n", "recipe has no FROM instruction"),
        ("RUN x\nFROM scratch\n", "recipe line 1: RUN before the first FROM (only ARG may come before it)"),
        ("FROM\n", "recipe line 1: FROM needs an image (or scratch, or an earlier stage)"),
        ("FROM a b\n", "recipe line 1: FROM takes IMAGE [AS NAME]"),
        ("FROM --platform=x a\n", "recipe line 1: FROM: option --platform=x is not supported"),
        ("FROM a AS 1x\n", "recipe line 1: FROM: stage name '1x' must start with a letter and have only letters, digits and ._-"),
        ("FROM a AS x\nFROM b AS x\n", "recipe line 2: stage name 'x' is used twice"),
        ("FROM a\n\nRUN\n", "recipe line 3: RUN needs a command"),
        ("FROM a\nRUN []\n", "recipe line 2: RUN [] has no command"),
        ("FROM a\nRUN --mount=type=cache x\n", "recipe line 2: RUN: option --mount=type=cache is not supported"),
        ("FROM a\nENV\n", "recipe line 2: ENV needs KEY=VALUE"),
        ("FROM a\nENV A\n", "recipe line 2: ENV A needs a value (A=VALUE)"),
        ("FROM a\nENV 1A=x\n", "recipe line 2: ENV 1A: not a valid variable name"),
        ("FROM a\nENV A=1 =2\n", "recipe line 2: ENV =2: expected KEY=VALUE"),
        ("FROM a\nENV A=\"x\n", "recipe line 2: unterminated \" quote in: A=\"x"),
        ("FROM a\nARG\n", "recipe line 2: ARG needs a NAME[=DEFAULT]"),
        ("FROM a\nARG a-b\n", "recipe line 2: ARG a-b: not a valid variable name"),
        ("FROM a\nWORKDIR\n", "recipe line 2: WORKDIR needs a directory"),
        ("FROM a\nUSER a b\n", "recipe line 2: USER takes one USER[:GROUP]"),
        ("FROM a\nSHELL /bin/bash -c\n", "recipe line 2: SHELL needs a JSON array, e.g. [\"/bin/bash\", \"-c\"]"),
        ("FROM a\nCOPY x\n", "recipe line 2: COPY needs at least one source and a destination"),
        ("FROM a\nCOPY --link x y\n", "recipe line 2: COPY: option --link is not supported"),
        ("FROM a\nCOPY --chmod=999 x y\n", "recipe line 2: COPY --chmod=999: not an octal mode"),
        ("FROM a\nCOPY --from= x y\n", "recipe line 2: COPY --from needs a value (--from=...)"),
        ("FROM a\nADD --from=b x y\n", "recipe line 2: ADD: option --from is not supported"),
        ("FROM a\nADD https://x.org/a.tgz /\n", "recipe line 2: ADD https://x.org/a.tgz: URLs are not supported (xdocker builds do not download); fetch the file first and ADD or COPY it from the context"),
        ("FROM a\nEXPOSE 80/xyz\n", "recipe line 2: EXPOSE 80/xyz: not a port (PORT[/tcp|udp])"),
        ("FROM a\nEXPOSE 0\n", "recipe line 2: EXPOSE 0: not a port (PORT[/tcp|udp])"),
        ("FROM a\nSTOPSIGNAL\n", "recipe line 2: STOPSIGNAL needs a signal"),
        ("FROM a\nONBUILD RUN x\n", "recipe line 2: ONBUILD is not supported by xdocker builds"),
        ("FROM a\nHEALTHCHECK NONE\n", "recipe line 2: HEALTHCHECK is not supported by xdocker builds"),
        ("FROM a\nCOPY ${x y\n", "recipe line 2: missing } in ${x"),
        ("FROM a\nWORKDIR ${x!}\n", "recipe line 2: bad substitution ${x!}"),
        ("FROM a\nWORKDIR ${:-x}\n", "recipe line 2: bad substitution ${:-x}"),
        ("FROM ${a\n", "recipe line 1: missing } in ${a"),
        ("# escape=x\nFROM a\n", "recipe line 1: parser directive escape=x: only \\ or ` may be the escape character"),
        ("FROM a\nRUN a \\\n\nFOO\n", "recipe line 4: unknown instruction 'FOO'"),
    ];
    for (text, want) in table {
        assert_eq!(refused(text), *want, "{text:?}");
    }
}

#[test]
fn continuations_comments_and_directives() {
    let text = "# syntax=docker/dockerfile:1\n# escape=\\\n\nARG BASE=test\n# a comment\nFROM $BASE AS Build\nRUN echo a \\\n  # comment inside\n  && echo b\\\n  c\nCOPY x \\\n y\n";
    let r = parse(text).expect("parse");
    assert_eq!(r.global_args, vec![(s("BASE"), Some(s("test")))]);
    let st = &r.stages[0];
    assert_eq!(
        (st.line, st.base.as_str(), st.name.as_deref()),
        (6, "$BASE", Some("build"))
    );
    assert_eq!(st.steps[0].line, 7);
    assert_eq!(
        st.steps[0].instruction,
        Instruction::Run(Command::Shell(s("echo a   && echo b  c")))
    );
    assert_eq!(st.steps[1].line, 11);
    let backtick = parse("# escape=`\nFROM a\nRUN echo \\ `\n x\n").expect("parse");
    assert_eq!(
        backtick.stages[0].steps[0].instruction,
        Instruction::Run(Command::Shell(s("echo \\  x")))
    );
    // A directive after the first instruction is a comment.
    let late = parse("FROM a\n# escape=`\nRUN x `\n").expect("parse");
    assert_eq!(late.stages[0].steps.len(), 1);
    assert_eq!(r.stage_index("build", 1), Some(0));
    assert_eq!(r.stage_index("BUILD", 1), Some(0));
    assert_eq!(r.stage_index("0", 1), Some(0));
    assert_eq!(r.stage_index("build", 0), None);
}

#[test]
fn substitution_as_docker_does_it() {
    let vars: HashMap<String, String> = [("A", "x"), ("E", ""), ("P", "/usr/bin")]
        .iter()
        .map(|(k, v)| (s(k), s(v)))
        .collect();
    let table = [
        ("$A", "x"),
        ("${A}y", "xy"),
        ("$A$A", "xx"),
        ("${U:-def}", "def"),
        ("${E:-def}", "def"),
        ("${E-def}", ""),
        ("${U-def}", "def"),
        ("${A:-def}", "x"),
        ("${A:+alt}", "alt"),
        ("${E:+alt}", ""),
        ("${E+alt}", "alt"),
        ("${U:+alt}", ""),
        ("${U:-$P/x}", "/usr/bin/x"),
        ("$U", ""),
        ("'$A'", "$A"),
        ("\"$A b\"", "x b"),
        ("\\$A", "$A"),
        ("a\\ b", "a b"),
        ("\"a\\nb\"", "a\\nb"),
        ("$", "$"),
        ("5$", "5$"),
        ("$1", "$1"),
        ("cost: $$", "cost: $$"),
    ];
    for (raw, want) in table {
        assert_eq!(expand_with(raw, &vars).expect(raw), want, "{raw}");
    }
    assert_eq!(
        split_raw("a 'b c' \"d \\\" e\" f\\ g").expect("split"),
        vec![s("a"), s("'b c'"), s("\"d \\\" e\""), s("f\\ g")]
    );
}

#[test]
fn the_shipped_sshd_recipe_parses() {
    let r = parse(include_str!("../../../templates/sshd.Xdockerfile")).expect("parse");
    assert_eq!(r.global_args, vec![(s("BASE"), Some(s("debian:12")))]);
    assert_eq!(r.stages.len(), 1);
    let copy = r.stages[0]
        .steps
        .iter()
        .find(|s| s.instruction.keyword() == "COPY")
        .expect("COPY");
    assert!(copy.text.contains("sshd_config.tpl"));
}
