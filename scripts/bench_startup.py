#!/usr/bin/env python3
"""Start-up cost: median wall time of `tracejail run --chroot / -- /bin/true` (shipped
default policy, supervised) against `bwrap --ro-bind / / --unshare-all -- /bin/true`,
measured in the same invocation, alternating so machine noise hits both.
(--chroot / is the read-only host root, as bwrap's --ro-bind / /; without it the
jail's root is empty and /bin/true does not exist there.)

    python3 scripts/bench_startup.py [-n RUNS]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


# A user's Python caches bytecode; a sandbox that sets PYTHONDONTWRITEBYTECODE would
# make every run recompile tracejail's modules and measure that instead.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} exited {r.returncode}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=21)
    args = ap.parse_args()
    tj = shutil.which("tracejail")
    tj_cmd = [tj] if tj else [sys.executable, "-m", "tracejail"]
    tj_cmd += ["run", "-Q", "--no-report", "--chroot", "/", "--", "/bin/true"]
    bwrap = shutil.which("bwrap")
    if not bwrap:
        sys.exit("bench: bwrap not found (scripts/install.sh installs bubblewrap)")
    bw_cmd = [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--", "/bin/true"]
    timed(tj_cmd), timed(bw_cmd)          # warm caches
    t_tj, t_bw = [], []
    for _ in range(args.runs):
        t_tj.append(timed(tj_cmd))
        t_bw.append(timed(bw_cmd))
    m_tj, m_bw = statistics.median(t_tj), statistics.median(t_bw)
    print(f"tracejail run --chroot / -- /bin/true            median {m_tj * 1000:8.1f} ms  ({args.runs} runs)")
    print(f"bwrap --ro-bind / / --unshare-all -- /bin/true   median {m_bw * 1000:8.1f} ms  ({args.runs} runs)")
    print(f"ratio tracejail/bwrap: {m_tj / m_bw:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
