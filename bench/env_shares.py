#!/usr/bin/env python3
"""What 20 environment variables and --cpu-shares cost a boot: two
containers of the same build side by side, interleaved.

    bench/env_shares.py ROUNDS [--xdocker PATH] [--init PATH] [--psi 5.0]

plain  `create -m test -c plain`
env    `create -m test -c env --env K00=... (20 variables, values with
       spaces, '=', quotes and UTF-8) --cpu-shares 512`

boot   `xdocker -a boot -c C` (boot-to-ready: returns once xdockerinit
       runs; the kill after it is not timed)
exec   `xdocker -a boot -c C -e /bin/true` (boot, main process, stop:
       the variables reach the main process)

Every round boots both, in alternating order (plain env, env plain, ...),
each run starting only when the CPU pressure (/proc/pressure/cpu "some
avg10") is below --psi %. Prints mean, median and min per container, the
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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_MS = 0.3


def psi():
    try:
        with open("/proc/pressure/cpu") as f:
            return float(f.readline().split()[1].split("=")[1])
    except OSError:
        return 0.0


def wait_quiet(limit, max_wait=30.0):
    deadline = time.monotonic() + max_wait
    while psi() > limit and time.monotonic() < deadline:
        time.sleep(0.2)


def variables():
    awkward = ["a b c", "x=y=z", "'single' \"double\"", "grüße 日本", "$HOME ${PATH}"]
    return [f"K{i:02}={awkward[i % len(awkward)]} {i}" for i in range(20)]


class Home:
    def __init__(self, xdocker, init, top):
        self.home = os.path.join(top, "home")
        os.makedirs(self.home)
        self.parent = f"xdocker-envbench-{os.getpid()}"
        with open(os.path.join(self.home, "xdocker.toml"), "w") as f:
            f.write(f'[cgroups]\nparent = "{self.parent}"\n')
        self.xdocker = os.path.join(top, "xdocker")
        shutil.copy(xdocker, self.xdocker)
        self.env = dict(os.environ, XDOCKER_HOME=self.home, XDOCKER_INIT=init,
                        XDOCKER_SHARE_DIR=REPO)

    def run(self, *args, check=True):
        return subprocess.run([self.xdocker, *args], env=self.env, check=check,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def timed(self, *args):
        start = time.perf_counter()
        self.run(*args)
        return (time.perf_counter() - start) * 1000.0

    def cleanup(self):
        for c in ("plain", "env"):
            self.run("-a", "kill", "-c", c, "-f", check=False)
        for c in os.listdir("/sys/fs/cgroup"):
            d = os.path.join("/sys/fs/cgroup", c, self.parent)
            if os.path.isdir(d):
                for sub in os.listdir(d):
                    p = os.path.join(d, sub)
                    if os.path.isdir(p):
                        try:
                            os.rmdir(p)
                        except OSError:
                            pass
                try:
                    os.rmdir(d)
                except OSError:
                    pass


def summary(name, results):
    plain, env = results["plain"], results["env"]
    print(f"\n{name}: ms (mean / median / min over {len(plain)} runs)")
    for label in ("plain", "env"):
        r = results[label]
        print(f"  {label:>6}  {st.mean(r):7.3f}  {st.median(r):7.3f}  {min(r):7.3f}")
    diffs = [e - p for p, e in zip(plain, env)]
    d = st.median(diffs)
    verdict = "met" if d < TARGET_MS else "MISSED"
    print(f"  env - plain: median of paired differences {d:+.3f} ms, of medians "
          f"{st.median(env) - st.median(plain):+.3f} ms, ratio {st.median(env) / st.median(plain):.3f}"
          f" (target < +{TARGET_MS} ms: {verdict})")


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
    ap.add_argument("--xdocker")
    ap.add_argument("--init")
    ap.add_argument("--psi", type=float, default=5.0)
    a = ap.parse_args()
    build_defaults(a)
    top = tempfile.mkdtemp(prefix="xdocker-envbench-", dir=os.environ.get("BENCH_DIR", "/tmp"))
    h = Home(a.xdocker, a.init, top)
    try:
        h.run("-a", "install_test")
        h.run("-a", "create", "-m", "test", "-c", "plain")
        env_args = [arg for v in variables() for arg in ("--env", v)]
        h.run("-a", "create", "-m", "test", "-c", "env", *env_args, "--cpu-shares", "512")
        boot = {"plain": [], "env": []}
        exe = {"plain": [], "env": []}
        for i in range(a.rounds):
            order = ["plain", "env"] if i % 2 == 0 else ["env", "plain"]
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
        h.cleanup()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
