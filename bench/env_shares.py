#!/usr/bin/env python3
"""What 20 environment variables and --cpu-shares cost a boot: two
containers of the same build side by side, interleaved.

    bench/env_shares.py ROUNDS [--split] [--xdocker PATH] [--init PATH] [--psi 5.0]

plain  `create -m test -c plain`
env    `create -m test -c env --env K00=... (20 variables, values with
       spaces, '=', quotes and UTF-8) --cpu-shares 512`
--split  also `vars` (the 20 variables alone) and `shares` (--cpu-shares
       512 alone), to tell the two costs apart

boot   `xdocker -a boot -c C` (boot-to-ready: returns once xdockerinit
       runs; the kill after it is not timed)
exec   `xdocker -a boot -c C -e /bin/true` (boot, main process, stop:
       the variables reach the main process)

Every round boots both, in alternating order (plain env, env plain, ...),
each run starting only when the CPU pressure (/proc/pressure/cpu "some
avg10") is below --psi %. Prints mean, median, 10th percentile and min
per container (on a busy machine the low quantiles are the quiet runs), the
median of the paired differences (env - plain of the same round) and the
target: env costs under +0.3 ms. Needs root; uses its own XDOCKER_HOME and
cgroup parent in a temporary directory and removes everything at the end.
The build defaults to target/release (made with `cargo build --release`
if missing) and the static xdockerinit of scripts/build_static_init.sh.
"""
import argparse
import os
import shutil
import statistics as st
import subprocess
import tempfile
import time

from benchlib import REPO, PrivateHome, wait_quiet

TARGET_MS = 0.3


def variables():
    awkward = ["a b c", "x=y=z", "'single' \"double\"", "grüße 日本", "$HOME ${PATH}"]
    return [f"K{i:02}={awkward[i % len(awkward)]} {i}" for i in range(20)]


class Home(PrivateHome):
    def __init__(self, xdocker, init, top):
        super().__init__(os.path.join(top, "home"), f"xdocker-envbench-{os.getpid()}",
                         xdocker, os.path.join(top, "xdocker"), init)

    def timed(self, *args):
        start = time.perf_counter()
        self.run(*args)
        return (time.perf_counter() - start) * 1000.0

    def cleanup(self, names):
        for c in names:
            self.run("-a", "kill", "-c", c, "-f", check=False)
        self.remove_cgroups()


def summary(name, results):
    plain = results["plain"]
    print(f"\n{name}: ms (mean / median / 10th percentile / min over {len(plain)} runs)")
    for label, r in results.items():
        p10 = st.quantiles(r, n=10)[0]
        print(f"  {label:>6}  {st.mean(r):7.3f}  {st.median(r):7.3f}  {p10:7.3f}  {min(r):7.3f}")
    for label, r in results.items():
        if label == "plain":
            continue
        d = st.median([e - p for p, e in zip(plain, r)])
        verdict = "met" if d < TARGET_MS else "MISSED"
        print(f"  {label} - plain: median of paired differences {d:+.3f} ms, of medians "
              f"{st.median(r) - st.median(plain):+.3f} ms, ratio {st.median(r) / st.median(plain):.3f}"
              + (f" (target < +{TARGET_MS} ms: {verdict})" if label == "env" else ""))


def build_defaults(a):
    if a.xdocker is None:
        a.xdocker = os.path.join(REPO, "target/release/xdocker")
        if not os.path.exists(a.xdocker):
            subprocess.run(["cargo", "build", "--release", "--bin", "xdocker"], cwd=REPO,
                           check=True)
    if a.init is None:
        out = subprocess.run([os.path.join(REPO, "scripts/build_static_init.sh"), "release"],
                             check=True, stdout=subprocess.PIPE, text=True)
        a.init = out.stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rounds", type=int)
    ap.add_argument("--split", action="store_true")
    ap.add_argument("--xdocker")
    ap.add_argument("--init")
    ap.add_argument("--psi", type=float, default=5.0)
    a = ap.parse_args()
    build_defaults(a)
    top = tempfile.mkdtemp(prefix="xdocker-envbench-", dir=os.environ.get("BENCH_DIR", "/tmp"))
    h = Home(a.xdocker, a.init, top)
    env_args = [arg for v in variables() for arg in ("--env", v)]
    containers = {"plain": [], "env": [*env_args, "--cpu-shares", "512"]}
    if a.split:
        containers.update({"vars": env_args, "shares": ["--cpu-shares", "512"]})
    try:
        h.run("-a", "install_test")
        for c, options in containers.items():
            h.run("-a", "create", "-m", "test", "-c", c, *options)
        boot = {c: [] for c in containers}
        exe = {c: [] for c in containers}
        for i in range(a.rounds):
            order = list(containers) if i % 2 == 0 else list(reversed(containers))
            for c in order:
                wait_quiet(a.psi)
                boot[c].append(h.timed("-a", "boot", "-c", c))
                h.run("-a", "kill", "-c", c)
            for c in order:
                wait_quiet(a.psi)
                exe[c].append(h.timed("-a", "boot", "-c", c, "-e", "/bin/true"))
        with open("/proc/loadavg") as f:
            print(f"load average {f.read().split()[0]}; {a.rounds} rounds; {a.xdocker}")
        summary("boot (to ready)", boot)
        summary("boot -e /bin/true (to its end)", exe)
    finally:
        h.cleanup(containers)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
