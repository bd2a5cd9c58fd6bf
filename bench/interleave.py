#!/usr/bin/env python3
"""Interleaved re-measurement on a tree kept by `KEEP=1 bench/export_import.sh`.

    bench/interleave.py T ROUNDS export|import [--psi 2.0] [--bin LABEL=PATH ...]

T is the kept temporary directory (it holds xdocker, home/, x.xdockerimage,
t.tar.zst and grave/). Each round runs every command once, in alternating
order (A B C, C B A, ...); on a shared machine this is fairer than
hyperfine's back-to-back runs of one command. The commands and their untimed
prepare steps are the ones export_import.sh uses (IMPORT_MODE=fresh).
Prints each run, then the mean, median and min wall times, the median
user+sys CPU time, and each xdocker's ratios to the plain tools.

Every run (after its prepare step) starts only when the CPU pressure
(/proc/pressure/cpu "some avg10") is below --psi % (waiting at most
--max-wait s; "psi-before" shows what it was). On a machine shared with
builds this is what keeps the runs comparable.

--bin LABEL=PATH (repeatable) times these xdocker binaries instead of
T/xdocker, each in the same rounds: e.g. the build before and after a change.
Each exports to its own file (T/x.LABEL.xdockerimage); imports all read
T/x.xdockerimage.
"""
import argparse
import os
import resource
import statistics as st
import subprocess
import time

from benchlib import psi


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("t")
    ap.add_argument("rounds", type=int)
    ap.add_argument("which", choices=("export", "import"))
    ap.add_argument("--psi", type=float, default=2.0)
    ap.add_argument("--max-wait", type=float, default=300,
                    help="give up waiting for --psi after this many seconds (per run)")
    ap.add_argument("--bin", action="append", default=[], metavar="LABEL=PATH",
                    help="an xdocker binary to time (repeatable; default T/xdocker)")
    a = ap.parse_args()
    T = os.path.abspath(a.t)
    H = T + "/home"
    L = H + "/images/bench/1/rlayer"
    if os.path.realpath(H).startswith("/var/xdocker"):
        raise SystemExit("refusing XDOCKER_HOME below /var/xdocker")
    env = dict(os.environ, XDOCKER_HOME=H)
    os.makedirs(T + "/grave", exist_ok=True)
    bins = [("", T + "/xdocker")]
    if a.bin:
        bins = [tuple(b.split("=", 1)) for b in a.bin]
        if any(len(b) != 2 or not b[0] for b in bins):
            raise SystemExit("--bin wants LABEL=PATH")
        bins = [(" " + label, os.path.abspath(path)) for label, path in bins]
    if a.which == "import":
        cmds = [
            (f"xdocker import{label}",
             f"if [ -d {H}/images/imp/1 ]; then mv {H}/images/imp/1 {T}/grave/imp.$(date +%s%N); fi; sync",
             f"{xd} -a import --image-file {T}/x.xdockerimage -m imp:1 -f >/dev/null")
            for label, xd in bins
        ] + [
            ("zstd -d | tar x",
             f"if [ -d {T}/out ]; then mv {T}/out {T}/grave/out.$(date +%s%N); fi; sync",
             f"mkdir {T}/out && zstd -d -T0 -c {T}/t.tar.zst | tar -C {T}/out -xf -"),
        ]
    else:
        cmds = [
            (f"xdocker export{label}", "sync",
             f"{xd} -a export -m bench:1 --image-file {T}/x{label.replace(' ', '.')}.xdockerimage -f >/dev/null")
            for label, xd in bins
        ] + [
            ("tar|zstd", "sync", f"tar -C {L} -cf - . | zstd -T0 -3 -q -o {T}/t.tar.zst -f"),
            ("tar|zstd+fsync", "sync",
             f"tar -C {L} -cf - . | zstd -T0 -3 -q -o {T}/t2.tar.zst -f && sync {T}/t2.tar.zst"),
        ]
    width = max(len(name) for name, _, _ in cmds)
    res = {name: [] for name, _, _ in cmds}
    for i in range(a.rounds):
        for name, prep, cmd in (cmds if i % 2 == 0 else cmds[::-1]):
            subprocess.run(prep, shell=True, check=True, env=env)
            waited = 0
            while psi() > a.psi and waited < a.max_wait:
                time.sleep(2)
                waited += 2
            p0 = psi()
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, shell=True, check=True, env=env)
            wall = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            u, s = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
            res[name].append((wall, u + s))
            print(f"{name:{width}} wall {wall:6.2f} user {u:5.2f} sys {s:5.2f} "
                  f"psi-before {p0:5.2f} load {os.getloadavg()[0]:.2f}", flush=True)
    for name, v in res.items():
        w = [x[0] for x in v]
        c = [x[1] for x in v]
        print(f"{name:{width}} n={len(w)} wall mean {st.mean(w):.2f} median {st.median(w):.2f} "
              f"min {min(w):.2f} | user+sys median {st.median(c):.2f}")
    ref = res["zstd -d | tar x" if a.which == "import" else "tar|zstd"]
    ref_w = [x[0] for x in ref]
    for name, v in res.items():
        if name.startswith("xdocker"):
            w = [x[0] for x in v]
            print(f"ratio {name} / {'zstd -d | tar x' if a.which == 'import' else 'tar|zstd'}: "
                  f"mean {st.mean(w) / st.mean(ref_w):.2f} median {st.median(w) / st.median(ref_w):.2f} "
                  f"min {min(w) / min(ref_w):.2f}")


if __name__ == "__main__":
    main()
