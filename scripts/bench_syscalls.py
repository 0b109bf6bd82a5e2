#!/usr/bin/env python3
"""Per-syscall cost of supervision: native vs strace --seccomp-bpf vs tracejail.

One invocation measures a C loop of N openat+close and of N getppid under
  native, an allow-all seccomp filter (no tracer: the floor of any seccomp jail),
  `strace -f -qq --seccomp-bpf -e trace=openat -o /dev/null`,
  tracejail with a policy routing openat to the supervisor (path rule),
  and the same with --audit FILE.
The loop times itself (clock_gettime around the loop), so process and jail
start-up are not counted; nor are its first N/10 iterations (warm-up, timed
apart): one-time costs such as the audit loading its decoding tables at its
first record are start-up, reported on their own line, not per-syscall cost.  Prints a table: us per iteration, overhead per
iteration over native and the ratio.  Run as root:

    python3 scripts/bench_syscalls.py [-n 20000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

C_LOOP = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
static void loop(const char *what, const char *path, long n) {
    if (!strcmp(what, "openat")) {
        for (long i = 0; i < n; i++) {
            int fd = openat(AT_FDCWD, path, O_RDONLY);
            if (fd < 0) { perror("openat"); exit(1); }
            close(fd);
        }
    } else {
        for (long i = 0; i < n; i++) syscall(SYS_getppid);
    }
}
static double ns_since(struct timespec *a) {
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1e9 + (b.tv_nsec - a->tv_nsec);
}
/* loop WHAT N [WARMUP]: prints the ns of WARMUP iterations, then of N more */
int main(int argc, char **argv) {
    long n = strtol(argv[2], NULL, 10), w = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
    const char *path = "/etc/hostname";
    struct timespec a;
    clock_gettime(CLOCK_MONOTONIC, &a);
    loop(argv[1], path, w);
    printf("%.0f\n", ns_since(&a));
    clock_gettime(CLOCK_MONOTONIC, &a);
    loop(argv[1], path, n);
    printf("%.0f\n", ns_since(&a));
    return 0;
}
"""

POLICY = """
POLICY bench {
  ALLOW {
    openat(dirfd, pathname, flags, mode) { path(pathname) under ["/etc", "/usr", "/lib", "/lib64", "/bench"] }
  },
  ERRNO(EACCES) { openat }
}
USE bench DEFAULT ALLOW
"""


def run_loop(prefix: list[str], binary: str, what: str, n: int) -> tuple[float, float]:
    """(us per iteration after the warm-up, ms the warm-up took beyond that rate)."""
    w = max(1000, n // 10)
    p = subprocess.run([*prefix, binary, what, str(n), str(w)], capture_output=True, text=True)
    lines = [ln for ln in p.stdout.split() if ln.strip().replace(".", "").isdigit()]
    if p.returncode != 0 or len(lines) < 2:
        raise SystemExit(f"bench failed under {' '.join(prefix) or 'native'}: rc={p.returncode}\n"
                         f"{p.stdout}\n{p.stderr[-2000:]}")
    warm, steady = float(lines[-2]), float(lines[-1])
    per = steady / n / 1000.0
    return per, (warm / 1000.0 - per * w) / 1000.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20000, help="iterations per loop")
    ap.add_argument("--repeat", type=int, default=3, help="runs per setup; the best counts")
    a = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="tj-bench-")
    os.chmod(work, 0o755)
    try:
        src = os.path.join(work, "loop.c")
        binary = os.path.join(work, "loop")
        with open(src, "w") as f:
            f.write(C_LOOP)
        subprocess.run(["gcc", "-O2", "-o", binary, src], check=True)
        pol = os.path.join(work, "bench.policy")
        with open(pol, "w") as f:
            f.write(POLICY)
        audit = os.path.join(work, "audit.jsonl")
        tj = [sys.executable, "-m", "tracejail", "run", "-Q", "--no_report",
              "-R", "/bin", "-R", "/lib", "-R", "/lib64", "-R", "/usr", "-R", "/etc",
              "-R", f"{work}:/bench", "-P", pol]
        # the floor any seccomp jail pays: an allow-all filter, no tracer (the kernel
        # takes the slow syscall entry path once a filter is attached)
        allow_all = [sys.executable, "-c", "import os, sys, pyseccomp as s; "
                     "s.SyscallFilter(s.ALLOW).load(); os.execv(sys.argv[1], sys.argv[1:])"]
        setups = [("native", []),
                  ("seccomp allow-all", allow_all),
                  ("strace --seccomp-bpf", ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=openat",
                                            "-o", "/dev/null"]),
                  ("tracejail", [*tj, "--"]),
                  ("tracejail --audit", [*tj, "--audit", audit, "--"]),
                  # the shipped default policy: openat decided by its path rules
                  ("tracejail default --audit", [*tj[:-2], "--audit", audit, "--"])]
        if not shutil.which("strace"):
            setups.pop(2)
        results: dict[str, dict[str, float]] = {}
        once: dict[str, float] = {}                # openat warm-up beyond the steady rate, ms
        for what in ("openat", "getppid"):
            n = a.n if what == "openat" else a.n * 20     # cheap: more rounds against noise
            row = results[what] = {name: float("inf") for name, _ in setups}
            for _ in range(a.repeat):              # round robin: machine noise hits every setup
                for name, prefix in setups:
                    b = binary if not name.startswith("tracejail") else "/bench/loop"
                    per, extra = run_loop(prefix, b, what, n)
                    row[name] = min(row[name], per)
                    if what == "openat":
                        once[name] = min(once.get(name, float("inf")), extra)
        print(f"N = {a.n} openat+close iterations ({a.n * 20} getppid), best of {a.repeat} (round robin); "
              f"us per iteration")
        print(f"{'loop':8} {'setup':26} {'us/iter':>9} {'overhead us':>12} {'x native':>9}")
        for what, row in results.items():
            base = row["native"]
            for name, us in row.items():
                print(f"{what:8} {name:26} {us:9.3f} {us - base:12.3f} {us / base:9.2f}")
        print("one-time cost in the openat warm-up (ms beyond the steady rate): "
              + ", ".join(f"{name} {ms:.1f}" for name, ms in once.items()))
        if "strace --seccomp-bpf" in results["openat"]:
            s, t = results["openat"]["strace --seccomp-bpf"], results["openat"]["tracejail --audit"]
            print(f"traced openat with audit vs strace: {t / s:.2f}x")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
