#!/usr/bin/env python3
"""Micro-benchmark of the audit hot path (issue 5): decode + AuditLog.syscall.

    python3 scripts/bench_audit.py [N]

Prints microseconds per record for: decode() of an openat, AuditLog.syscall()
with no file (counters only), with a file (queue + batched formatting +
64 KiB writes), the supervisor's own path for an allowed call (decode.deferred
+ AuditLog.allowed: decoding at format time, repeated bodies reused), and the
generic json.dumps of the same record for comparison.
CPU time (process_time), best of 5 runs, so other load on the box matters less.
The end-to-end figure (audit on vs off per traced openat) is measured by
scripts/bench_syscalls.py.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tracejail.audit import AuditLog  # noqa: E402
from tracejail.supervisor.call import TraceeCall  # noqa: E402
from tracejail.supervisor.decode import decode, deferred  # noqa: E402
from tracejail.verdict import Verdict  # noqa: E402

ARGS = (0xFFFFFF9C, 0x7FFD12345678, 0o2000000, 0, 0, 0)
V = Verdict("ALLOW", rule="default.policy:53")
PATH = "/usr/lib/x86_64-linux-gnu/libc.so.6"


class Call:
    def string(self, i):
        return b"/usr/lib/x86_64-linux-gnu/libc.so.6"


def best(fn, n, rounds=5):
    out = []
    for _ in range(rounds):
        t = time.process_time()
        fn(n)
        out.append((time.process_time() - t) / n * 1e6)
    return min(out)


def bench_decode(n):
    c = Call()
    for _ in range(n):
        decode("openat", ARGS, c)


def bench_log(path):
    def run(n):
        log = AuditLog(path)
        c = Call()
        for i in range(n):
            log.syscall(pid=100, tid=100 + (i & 3), arch="x86_64", nr=257, name="openat",
                        args=ARGS, decoded=decode("openat", ARGS, c), verdict=V,
                        resolved={1: "/usr/lib/x86_64-linux-gnu/libc.so.6"})
        log.end(0, "exited")
    return run


def bench_allowed(path):
    def run(n):
        log = AuditLog(path)
        for i in range(n):
            c = TraceeCall(100, None, 257, "x86_64", "openat", ARGS)
            c._cache[1] = PATH.encode()                       # the bytes the policy read
            c.resolved = {1: PATH}
            log.allowed(100, 100 + (i & 3), c, deferred("openat", ARGS, c), V)
        log.end(0, "exited")
    return run


def bench_dumps(n):
    c = Call()
    for _ in range(n):
        json.dumps({"v": 1, "type": "syscall", "t": time.time(), "pid": 100, "tid": 100,
                    "arch": "x86_64", "nr": 257, "name": "openat", "args": list(ARGS),
                    "decoded": decode("openat", ARGS, c), "verdict": "ALLOW",
                    "rule": "default.policy:53",
                    "resolved": {"pathname": "/usr/lib/x86_64-linux-gnu/libc.so.6"}},
                   separators=(",", ":"))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    with tempfile.TemporaryDirectory() as d:
        dec = best(bench_decode, n)
        off = best(bench_log(None), n)
        on = best(bench_log(os.path.join(d, "a.jsonl")), n)
        allowed = best(bench_allowed(os.path.join(d, "b.jsonl")), n)
        dumps = best(bench_dumps, n)
        size = os.path.getsize(os.path.join(d, "a.jsonl")) / (n + 1)
    print(f"decode(openat)                         {dec:6.2f} us")
    print(f"decode + AuditLog(None).syscall        {off:6.2f} us   (counters only)")
    print(f"decode + AuditLog(file).syscall        {on:6.2f} us   ({size:.0f} bytes/record)")
    print(f"  -> writing costs                     {on - off:6.2f} us per record")
    print(f"deferred + AuditLog(file).allowed      {allowed:6.2f} us   (the supervisor's path)")
    print(f"decode + json.dumps of the same record {dumps:6.2f} us   (for comparison)")


if __name__ == "__main__":
    main()
