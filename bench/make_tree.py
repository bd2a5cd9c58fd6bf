#!/usr/bin/env python3
"""Builds a deterministic, OS-image-like directory tree for the export/import
benchmark (python3 standard library only).

    bench/make_tree.py DIR [SIZE_MB] [--seed N]

DIR must not exist or be empty. SIZE_MB (default 500) is the target apparent
size; at 500 MB the tree holds roughly:

  * ~20,000 small files, 0.5-16 KiB (log-uniform): ~70 % text-like
    (config, docs, scripts), ~20 % "binary" (mixed random / zero runs /
    tables / strings, like small ELF objects), ~10 % incompressible
    (already-compressed data), spread over ~400 nested directories below
    an FHS-like skeleton (etc, usr/lib, usr/share/doc, var/lib, ...);
  * ~100 library-like files of 100-900 KiB (binary mix);
  * ~20 medium files of 1-5 MiB (half binary mix, half text);
  * 4 large files that take the remaining budget (~70 MiB each): one
    repetitive log-like text, one sparse-ish pattern file (zero runs and
    repeating records, like a disk image or a database), two random
    (like package caches or media);
  * ~200 symlinks (relative, absolute, to directories, a few dangling),
    ~60 hard links (one to a medium file), some executables (0755), some
    files owned by non-root uids/gids, fixed mtimes.

Counts of small/library/medium files scale with SIZE_MB; the large files
absorb the rest so the total apparent size is close to SIZE_MB * 2**20.
Same seed and size -> byte-identical tree (contents, names, modes, mtimes).
"""

import argparse
import math
import os
import random
import sys

MiB = 1 << 20
KiB = 1 << 10
MTIME = 1_700_000_000  # fixed mtimes: deterministic tree

# ------------------------------------------------------------------ content


class Content:
    """Deterministic content generators sharing one PRNG."""

    def __init__(self, rng):
        self.rng = rng
        # A vocabulary of pseudo-words with Zipf-like frequencies: text made
        # from it compresses like real English/config text (~3x with zstd -3).
        letters = "etaoinshrdlucmfwypvbgkqjxz"
        lw = [12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8,
              2.8, 2.4, 2.2, 2.4, 2.0, 1.9, 1.0, 1.5, 2.0, 0.8, 0.1, 0.2, 0.2, 0.1]
        words = set()
        while len(words) < 6000:
            n = max(1, min(14, int(rng.gauss(6, 2.5))))
            words.add("".join(rng.choices(letters, weights=lw, k=n)))
        words = sorted(words)
        rng.shuffle(words)
        punct = [" ", " ", " ", " ", " ", " ", ", ", ". ", "\n", " = ", "_", "/",
                 ": ", "\t", "-", "(", ") ", "\"", "; "]
        self.tokens = [w + p for w in words[:1500] for p in punct[:1]] + \
            [w + rng.choice(punct) for w in words]
        self.cum = list(_accumulate(1.0 / (i + 3) for i in range(len(self.tokens))))
        # Tables of "symbol names" for binary files.
        self.symbols = [("_ZN" + rng.choice(words) + "_" + rng.choice(words)).encode()
                        for _ in range(3000)]

    def text(self, n):
        """~n bytes of text-like content (exactly n bytes)."""
        out = []
        got = 0
        rng = self.rng
        while got < n:
            k = max(16, (n - got) // 6 + 1)
            chunk = "".join(rng.choices(self.tokens, cum_weights=self.cum, k=min(k, 65536)))
            out.append(chunk)
            got += len(chunk)
        return "".join(out).encode()[:n]

    def random(self, n):
        return self.rng.randbytes(n)

    def binary(self, n):
        """A mix like compiled code/data: random runs, zero runs, strings,
        repeating tables (compresses ~1.5-2.5x)."""
        rng = self.rng
        parts = []
        got = 0
        while got < n:
            kind = rng.random()
            size = rng.randint(64, 4096)
            if kind < 0.40:
                b = rng.randbytes(size)
            elif kind < 0.55:
                b = bytes(size)
            elif kind < 0.75:
                b = b"\0".join(rng.choices(self.symbols, k=size // 24 + 1))[:size]
            elif kind < 0.90:
                rec = rng.randbytes(rng.choice((4, 8, 16, 24)))
                b = (rec * (size // len(rec) + 1))[:size]
            else:
                b = self.text(size)
            parts.append(b)
            got += len(b)
        return b"".join(parts)[:n]

    def log_text(self, n):
        """Repetitive log-like text: templated lines (compresses ~8-15x)."""
        rng = self.rng
        hosts = ["node%02d" % i for i in range(8)]
        units = ["systemd", "kernel", "sshd", "cron", "dbus-daemon", "NetworkManager"]
        msgs = [self.text(rng.randint(20, 70)).decode("ascii", "replace").replace("\n", " ")
                for _ in range(40)]
        out = []
        got = 0
        t = 0
        while got < n:
            t += rng.randint(0, 3)
            line = "2024-01-%02d %02d:%02d:%02d %s %s[%d]: %s\n" % (
                1 + (t // 86400) % 28, (t // 3600) % 24, (t // 60) % 60, t % 60,
                rng.choice(hosts), rng.choice(units), rng.randint(1, 4000),
                rng.choice(msgs))
            out.append(line)
            got += len(line)
        return "".join(out).encode()[:n]

    def sparse(self, n):
        """Sparse-ish: long zero runs, repeating fixed-size records with a
        counter, occasional random blocks (like a disk or database image)."""
        rng = self.rng
        parts = []
        got = 0
        rec_no = 0
        while got < n:
            kind = rng.random()
            if kind < 0.45:
                b = bytes(rng.randint(4, 256) * KiB)
            elif kind < 0.85:
                tmpl = rng.randbytes(32)
                recs = []
                for _ in range(rng.randint(64, 2048)):
                    rec_no += 1
                    recs.append(rec_no.to_bytes(8, "little") + tmpl + bytes(24))
                b = b"".join(recs)
            else:
                b = rng.randbytes(rng.randint(4, 64) * KiB)
            parts.append(b)
            got += len(b)
        return b"".join(parts)[:n]


def _accumulate(it):
    s = 0.0
    for x in it:
        s += x
        yield s


# ------------------------------------------------------------------ tree


SKELETON = [
    "bin", "boot", "dev", "etc", "etc/default", "etc/systemd", "etc/systemd/system",
    "etc/ssl", "etc/ssl/certs", "home", "lib", "opt", "root", "run", "sbin", "srv",
    "tmp", "usr", "usr/bin", "usr/sbin", "usr/include", "usr/lib",
    "usr/lib/x86_64-linux-gnu", "usr/lib/python3", "usr/lib/python3/dist-packages",
    "usr/libexec", "usr/local", "usr/local/bin", "usr/share", "usr/share/doc",
    "usr/share/man", "usr/share/man/man1", "usr/share/man/man5", "usr/share/locale",
    "usr/share/zoneinfo", "usr/share/perl5", "var", "var/cache", "var/cache/apt",
    "var/lib", "var/lib/dpkg", "var/lib/dpkg/info", "var/log",
]

# Where the generated directories hang (realistic: most below usr/).
PARENTS_WEIGHTED = [
    ("usr/share/doc", 6), ("usr/lib/python3/dist-packages", 5), ("usr/include", 3),
    ("usr/share/locale", 2), ("usr/share/zoneinfo", 2), ("usr/lib/x86_64-linux-gnu", 3),
    ("usr/share/perl5", 2), ("usr/lib", 2), ("etc", 2), ("usr/share", 2), ("opt", 1),
    ("var/lib", 1),
]


class Stats:
    def __init__(self):
        self.files = self.dirs = self.symlinks = self.hardlinks = 0
        self.bytes = 0


def write_file(path, data, mode=0o644, uid=None):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    if uid is not None:
        os.chown(path, uid, uid)
    os.utime(path, (MTIME, MTIME))


def build(root, size_mb, seed):
    rng = random.Random(seed)
    c = Content(rng)
    st = Stats()
    target = size_mb * MiB
    scale = size_mb / 500.0

    n_small = max(20, round(20000 * scale))
    n_dirs = max(10, round(400 * min(1.0, scale) if scale < 1 else 400 * math.sqrt(scale)))
    n_libs = max(2, round(100 * scale))
    n_medium = max(2, round(20 * scale))
    n_symlinks = max(5, round(200 * scale))
    n_hardlinks = max(3, round(60 * scale))

    def name(k=None):
        base = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789-_", k=k or rng.randint(3, 12)))
        return base.strip("-_") or "x"

    # Directories.
    dirs = list(SKELETON)
    for d in dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    gen_dirs = []
    parents = [p for p, w in PARENTS_WEIGHTED for _ in range(w)]
    while len(gen_dirs) < n_dirs:
        if gen_dirs and rng.random() < 0.55:
            parent = rng.choice(gen_dirs)
            if parent.count("/") >= 7:
                continue
        else:
            parent = rng.choice(parents)
        d = parent + "/" + name()
        if d in gen_dirs or os.path.exists(os.path.join(root, d)):
            continue
        os.makedirs(os.path.join(root, d))
        gen_dirs.append(d)
    dirs += gen_dirs
    st.dirs = len(dirs)
    file_dirs = gen_dirs + ["etc", "etc/default", "etc/systemd/system", "usr/bin", "usr/sbin",
                            "var/lib/dpkg/info", "usr/share/man/man1", "usr/share/man/man5"]

    used = set()

    def new_path(dirs_from, ext=""):
        while True:
            p = rng.choice(dirs_from) + "/" + name() + ext
            if p not in used and not os.path.lexists(os.path.join(root, p)):
                used.add(p)
                return p

    small_files = []
    # Small files.
    exts_text = ["", ".conf", ".txt", ".py", ".h", ".pm", ".md", ".list", ".sh", ".service"]
    for i in range(n_small):
        size = int(math.exp(rng.uniform(math.log(512), math.log(16 * KiB))))
        r = rng.random()
        if r < 0.70:
            data, ext = c.text(size), rng.choice(exts_text)
        elif r < 0.90:
            data, ext = c.binary(size), rng.choice(["", ".so", ".o", ".mo", ".pyc"])
        else:
            data, ext = c.random(size), rng.choice([".gz", ".xz", ".png", ".zst"])
        p = new_path(file_dirs, ext)
        mode = 0o755 if (ext in ("", ".sh") and rng.random() < 0.3) else 0o644
        uid = rng.choice((1, 100, 101, 33, 1000)) if rng.random() < 0.02 else None
        write_file(os.path.join(root, p), data, mode, uid)
        small_files.append(p)
        st.files += 1
        st.bytes += size

    # Library-like files.
    lib_dirs = ["usr/lib/x86_64-linux-gnu", "usr/lib", "usr/bin", "usr/sbin", "usr/libexec"] + \
        [d for d in gen_dirs if d.startswith("usr/lib")][:40]
    for i in range(n_libs):
        size = rng.randint(100 * KiB, 900 * KiB)
        p = new_path(lib_dirs, rng.choice([".so.1", ".so", "", ".a"]))
        write_file(os.path.join(root, p), c.binary(size), 0o755)
        st.files += 1
        st.bytes += size

    # Medium files.
    medium = []
    for i in range(n_medium):
        size = rng.randint(1 * MiB, 5 * MiB)
        if i % 2 == 0:
            data = c.binary(size)
            p = new_path(lib_dirs, ".so")
        else:
            data = c.text(size)
            p = new_path(["usr/share/doc", "var/lib/dpkg", "usr/share"] + gen_dirs[:20], ".dat")
        write_file(os.path.join(root, p), data, 0o644)
        medium.append(p)
        st.files += 1
        st.bytes += size

    # Large files take what is left (at least 1 MiB each).
    left = max(4 * MiB, target - st.bytes)
    shares = [0.27, 0.23, 0.26, 0.24]
    large = [("var/log/journal.log", c.log_text), ("var/lib/disk.img", c.sparse),
             ("var/cache/apt/pkgcache.zst", c.random), ("opt/media.bin", c.random)]
    for (p, gen), share in zip(large, shares):
        size = max(MiB, int(left * share))
        full = os.path.join(root, p)
        with open(full, "wb") as f:
            done = 0
            while done < size:
                n = min(8 * MiB, size - done)
                f.write(gen(n))
                done += n
        os.chmod(full, 0o644)
        os.utime(full, (MTIME, MTIME))
        st.files += 1
        st.bytes += size

    # Hard links: to small files, and one to a medium file.
    targets = rng.sample(small_files, min(len(small_files), n_hardlinks - 1)) + [medium[0]]
    for t in targets:
        p = new_path(file_dirs)
        os.link(os.path.join(root, t), os.path.join(root, p))
        st.hardlinks += 1

    # Symlinks: relative to files, absolute, to directories, some dangling.
    for i in range(n_symlinks):
        p = new_path(file_dirs)
        r = rng.random()
        if r < 0.6:
            t = rng.choice(small_files)
            tgt = os.path.relpath(t, os.path.dirname(p))
        elif r < 0.8:
            tgt = "/" + rng.choice(small_files)
        elif r < 0.95:
            tgt = os.path.relpath(rng.choice(dirs), os.path.dirname(p))
        else:
            tgt = "../nonexistent/" + name()
        full = os.path.join(root, p)
        os.symlink(tgt, full)
        os.utime(full, (MTIME, MTIME), follow_symlinks=False)
        st.symlinks += 1
        st.bytes += len(tgt)

    # Directory mtimes last (creating entries changes them).
    for d in sorted(dirs, key=lambda d: -d.count("/")):
        os.utime(os.path.join(root, d), (MTIME, MTIME))
    os.utime(root, (MTIME, MTIME))
    return st


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("size_mb", nargs="?", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20240501)
    a = ap.parse_args()
    if a.size_mb < 8:
        sys.exit("make_tree: SIZE_MB must be at least 8")
    os.makedirs(a.dir, exist_ok=True)
    if os.listdir(a.dir):
        sys.exit(f"make_tree: {a.dir} is not empty")
    os.umask(0o022)
    st = build(a.dir, a.size_mb, a.seed)
    print(f"make_tree: {a.dir}: {st.files} files, {st.dirs} dirs, {st.symlinks} symlinks, "
          f"{st.hardlinks} hard links, {st.bytes} bytes ({st.bytes / MiB:.1f} MiB) apparent")


if __name__ == "__main__":
    main()
