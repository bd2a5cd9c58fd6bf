#!/usr/bin/env python3
"""inode_churn.py DIR - how much a new inode costs after many deletions.

On ext4 without a journal, a new inode skips every free inode deleted in
the last 60 s (360 s while its inode table block is dirty), scanning the
block group from its start (fs/ext4/ialloc.c, recently_deleted()). This
prints the time of a mkdir (and its rmdir) in DIR, first as it is, then
after creating and deleting 200, 1000 and 3000 files there. DIR must be on
the file system to test and is left empty; it is created if missing.
See bench/README.md ("ext4 without a journal").
"""
import os
import sys
import time


def mkdir_us(d, n=20):
    start = time.perf_counter()
    for i in range(n):
        os.mkdir(f"{d}/m{i}")
    took = (time.perf_counter() - start) / n * 1e6
    for i in range(n):
        os.rmdir(f"{d}/m{i}")
    return took


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    print(f"mkdir, as it is: {mkdir_us(d):.1f} us")
    for k in (200, 1000, 3000):
        for i in range(k):
            open(f"{d}/f{i}", "w").close()
        for i in range(k):
            os.unlink(f"{d}/f{i}")
        # inodes deleted within the current second are not skipped
        time.sleep(1.1)
        print(f"mkdir after {k} files made and deleted: {mkdir_us(d):.1f} us")


if __name__ == "__main__":
    main()
