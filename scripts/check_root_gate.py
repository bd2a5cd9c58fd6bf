#!/usr/bin/env python3
"""check_root_gate.py - the root gate of the test suite, checked from the
source (no build, no root): every test that needs root, i.e. calls
`needs_root()` or `RuntimeHome::new()`/`RuntimeHome::with_test_image()`,
directly or through a helper of its file or of tests/common, carries
`#[cfg_attr(xdocker_not_root, ignore = "needs root")]`, so that a build by a
user reports it "ignored" instead of "ok"; no test looks at the uid itself
(a test that returns early without root would report "ok" having done
nothing); both build scripts set `xdocker_not_root`. Run by scripts/test.sh;
prints one line per problem and exits 1 if there is any.
"""

import re
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
ATTR = re.compile(r'cfg_attr\(\s*xdocker_not_root\s*,\s*ignore\s*=\s*"needs root"\s*\)')
MARKERS = re.compile(r"\bneeds_root\s*\(|\bRuntimeHome::(new|with_test_image)\s*\(")
UID = re.compile(r"\bgeteuid\b|\bis_root\s*\(|\bgetuid\b")
FN = re.compile(r"\bfn\s+(\w+)\s*(<[^{;]*?>)?\s*\(")
# Method names too common to follow by name alone (`x.run(...)`).
COMMON_NAMES = {"new", "run", "default", "from", "drop", "fmt", "path", "ok"}


def calls(body, key):
    """True when `body` calls the function `key` (`name` or `Type::name`)."""
    if "::" in key:
        ty, name = key.split("::")
        if re.search(rf"\b{ty}::{name}\s*(::<[^>]*>)?\s*\(", body):
            return True
        key = name
    if key in COMMON_NAMES:
        return False
    return re.search(rf"(?<![\w:])(\.\s*)?{key}\s*(::<[^>]*>)?\s*\(", body) is not None


def strip(text):
    """The source with comments and string/char literals blanked (lengths
    and newlines kept, so offsets and line numbers stay)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not re.match(r"\w", text[i - 1:i] or " "):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = '"' + hashes
            j = text.find(end, i + 2 + len(hashes))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append('"' + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + '"')
            i = j
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            out.append(" " * len(m.group(0)))
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


IMPL = re.compile(r"\bimpl\b(?:\s*<[^{]*?>)?\s+(?:[\w:<>, ]+\s+for\s+)?(\w+)[^{;]*\{")


def block_end(text, brace):
    """The offset of the brace closing the one at `brace`."""
    depth, j = 0, brace
    while j < len(text):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return j


def functions(path):
    """(key, attributes text, body text, line) of every fn with a body; the
    key is `Type::name` for a method, `name` for a free function."""
    raw = path.read_text()
    text = strip(raw)
    impls = [(m.end() - 1, block_end(text, m.end() - 1), m.group(1)) for m in IMPL.finditer(text)]
    found = []
    for m in FN.finditer(text):
        brace = text.find("{", m.end())
        semi = text.find(";", m.end())
        if brace < 0 or (0 <= semi < brace):
            continue  # a declaration without a body
        j = block_end(text, brace)
        owner = [t for start, end, t in impls if start < m.start() < end]
        key = f"{owner[-1]}::{m.group(1)}" if owner else m.group(1)
        # The attributes: the lines just above the fn line that are
        # attributes.
        line_start = text.rfind("\n", 0, m.start()) + 1
        above = raw[:line_start].rstrip("\n").split("\n")
        attrs = []
        while above and above[-1].strip().startswith("#["):
            attrs.append(above.pop())
        line = text.count("\n", 0, m.start()) + 1
        found.append((key, "\n".join(attrs), text[brace:j + 1], line))
    return found


def main():
    problems = []
    for build in ["build.rs", "xdockerinit/build.rs"]:
        if "rustc-cfg=xdocker_not_root" not in (TOP / build).read_text():
            problems.append(f"{build}: does not set cfg xdocker_not_root")
    files = sorted(
        p
        for d in ["src", "tests", "xdockerinit/src", "xdockerinit/tests"]
        for p in (TOP / d).rglob("*.rs")
    )
    fns = {p: functions(p) for p in files}
    common = [p for p in files if "tests/common" in str(p)]

    def root_names(scope_files):
        """The fns of `scope_files` that reach a marker through calls
        among themselves."""
        bodies = {}
        for p in scope_files:
            for name, _, body, _ in fns[p]:
                bodies.setdefault(name, []).append(body)
        root = {n for n, bs in bodies.items() if any(MARKERS.search(b) for b in bs)}
        while True:
            more = {
                n
                for n, bs in bodies.items()
                if n not in root
                and any(calls(b, r) for b in bs for r in root)
            }
            if not more:
                return root
            root |= more

    common_root = root_names(common)
    tests = attributed = 0
    for p in files:
        rel = p.relative_to(TOP)
        local = set() if "tests/common" in str(p) else root_names([p] + common)
        for name, attrs, body, line in fns[p]:
            is_test = re.search(r"#\[test\b", attrs) is not None
            in_tests = str(rel).startswith(("tests", "xdockerinit/tests"))
            if in_tests and UID.search(body) and p.name != "root_gate.rs":
                problems.append(f"{rel}:{line}: {name} looks at the uid itself (use common::needs_root)")
            if not is_test:
                continue
            tests += 1
            needs = MARKERS.search(body) or any(
                calls(body, r) for r in (local | common_root) if r != name
            )
            has_attr = ATTR.search(attrs) is not None
            if has_attr:
                attributed += 1
            if needs and not has_attr:
                problems.append(
                    f"{rel}:{line}: test {name} needs root but lacks "
                    '#[cfg_attr(xdocker_not_root, ignore = "needs root")]'
                )
            if has_attr and not needs:
                problems.append(
                    f"{rel}:{line}: test {name} is ignored without root but never calls "
                    "needs_root() (directly or through a helper)"
                )
    for line in problems:
        print(line)
    print(f"check_root_gate: {tests} tests, {attributed} marked needs root, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
