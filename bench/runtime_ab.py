#!/usr/bin/env python3
"""Two (or more) xdocker builds, side by side, interleaved: the runtime
benchmark's cycle and boot figures of the build before a change against the
build after it, in the same session.

    bench/runtime_ab.py ROUNDS --bin LABEL=XDOCKER:XDOCKERINIT ... [--psi 5.0]

cycle  `xdocker -a create -m test -c cyc -b -e /bin/true` then
       `xdocker -a destroy -c cyc` (both timed, as bench/runtime.sh does)
boot   `xdocker -a boot -c idle` of an idle host container (boot-to-ready:
       it returns once xdockerinit runs); the kill after it is not timed

Each build gets its own XDOCKER_HOME (and cgroup parent) under a temporary
directory with the busybox `test` image; every round runs each build once,
in alternating order (A B, B A, ...), each run starting only when the CPU
pressure (/proc/pressure/cpu "some avg10") is below --psi %. Prints the
mean, median and min wall time per build and the ratios to the first one.
Needs root. Everything it made is removed at the end, containers by their
recorded PIDs (kill), cgroups by rmdir.
"""
import argparse
import os
import resource
import shutil
import signal
import statistics as st
import tempfile
import time

from benchlib import PrivateHome, wait_quiet


class Build(PrivateHome):
    def __init__(self, label, xdocker, init, top):
        self.label = label
        super().__init__(os.path.join(top, label), f"xdocker-ab-{os.getpid()}-{label}",
                         xdocker, os.path.join(top, f"xdocker-{label}"), init)

    def timed(self, *commands):
        """Wall time and CPU time (user + sys of xdocker and what it
        waited for) of `commands`, in ms. CPU time hardly moves when other
        work shares the machine; wall time does."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        for args in commands:
            self.run(*args)
        wall = (time.perf_counter() - start) * 1000.0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000.0
        return wall, cpu

    def cleanup(self):
        self.run("-a", "kill", "-c", "idle", "-f", check=False)
        self.run("-a", "destroy", "-c", "idle", "-f", check=False)
        self.run("-a", "destroy", "-c", "cyc", "-h", "-f", check=False)
        self.remove_cgroups()


def summary(name, results, labels):
    n = len(results[labels[0]])
    print(f"\n{name}, {n} runs each: wall ms (mean / median / min), CPU ms (median)")
    walls = {label: [w for w, _ in results[label]] for label in labels}
    cpus = {label: [c for _, c in results[label]] for label in labels}
    base = labels[0]
    for label in labels:
        w, c = walls[label], cpus[label]
        print(f"  {label:>10}  {st.mean(w):7.2f}  {st.median(w):7.2f}  {min(w):7.2f}"
              f"   cpu {st.median(c):6.2f}"
              f"   ratios to {base}: median {st.median(w) / st.median(walls[base]):.3f},"
              f" min {min(w) / min(walls[base]):.3f}, cpu {st.median(c) / st.median(cpus[base]):.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rounds", type=int)
    ap.add_argument("--bin", action="append", required=True,
                    help="LABEL=XDOCKER:XDOCKERINIT")
    ap.add_argument("--psi", type=float, default=5.0)
    a = ap.parse_args()
    # SIGTERM and SIGHUP end the run through the cleanup below, like Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    top = tempfile.mkdtemp(prefix="xdocker-ab-", dir=os.environ.get("BENCH_DIR", "/tmp"))
    builds = []
    try:
        for spec in a.bin:
            label, paths = spec.split("=", 1)
            xdocker, init = paths.split(":", 1)
            b = Build(label, xdocker, init, top)
            builds.append(b)
            b.run("-a", "install_test")
            b.run("-a", "create", "-m", "test", "-c", "idle")
        labels = [b.label for b in builds]
        cycle = {b.label: [] for b in builds}
        boot = {b.label: [] for b in builds}
        for i in range(a.rounds):
            order = builds if i % 2 == 0 else list(reversed(builds))
            for b in order:
                wait_quiet(a.psi)
                cycle[b.label].append(b.timed(
                    ("-a", "create", "-m", "test", "-c", "cyc", "-b", "-e", "/bin/true"),
                    ("-a", "destroy", "-c", "cyc")))
            for b in order:
                wait_quiet(a.psi)
                boot[b.label].append(b.timed(("-a", "boot", "-c", "idle")))
                b.run("-a", "kill", "-c", "idle")
        summary("cycle (create -b -e /bin/true + destroy)", cycle, labels)
        summary("boot (idle host container, to ready)", boot, labels)
    finally:
        for b in builds:
            b.cleanup()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
