"""What the python benchmarks share: the CPU pressure they wait on and an
xdocker with a home of its own (bench/env_shares.py, bench/runtime_ab.py;
bench/interleave.py uses psi).

Each home is a private XDOCKER_HOME with a cgroup parent of its own and a
private copy of the xdocker binary (a rebuild of target/ mid-run cannot
change it); remove_cgroups() takes the parent's cgroups away again.
"""
import os
import shutil
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def psi():
    """CPU pressure, /proc/pressure/cpu "some avg10" (%), 0.0 without PSI."""
    try:
        with open("/proc/pressure/cpu") as f:
            return float(f.readline().split()[1].split("=")[1])
    except OSError:
        return 0.0


def wait_quiet(limit, max_wait=30.0):
    """Wait (at most max_wait s) until the CPU pressure is at most limit %."""
    deadline = time.monotonic() + max_wait
    while psi() > limit and time.monotonic() < deadline:
        time.sleep(0.2)


class PrivateHome:
    """An XDOCKER_HOME `home` with cgroup parent `parent`, run by a copy of
    `xdocker` at `copy` with xdockerinit `init`."""

    def __init__(self, home, parent, xdocker, copy, init):
        if os.path.realpath(home).startswith("/var/xdocker"):
            raise SystemExit(f"refusing XDOCKER_HOME={home}")
        self.home = home
        os.makedirs(self.home)
        self.parent = parent
        with open(os.path.join(self.home, "xdocker.toml"), "w") as f:
            f.write(f'[cgroups]\nparent = "{self.parent}"\n')
        self.xdocker = copy
        shutil.copy(xdocker, self.xdocker)
        self.env = dict(os.environ, XDOCKER_HOME=self.home, XDOCKER_INIT=init,
                        XDOCKER_SHARE_DIR=REPO)

    def run(self, *args, check=True):
        """`xdocker ARGS` in this home, output discarded (stderr kept for errors)."""
        return subprocess.run([self.xdocker, *args], env=self.env, check=check,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def remove_cgroups(self):
        """rmdir the cgroup parent's directories in every hierarchy, leaves first."""
        for c in os.listdir("/sys/fs/cgroup"):
            d = os.path.join("/sys/fs/cgroup", c, self.parent)
            if not os.path.isdir(d):
                continue
            for sub, _, _ in os.walk(d, topdown=False):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
