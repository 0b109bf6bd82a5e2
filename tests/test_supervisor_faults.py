"""Crashes of the traced pid-namespace init: the kernel keeps a traced init
alive on a forced fault (it would kill an untraced one), so the supervisor
must make the outcome what it would be without tracing: 128+signal, fast."""
from __future__ import annotations

import os
import time

import pytest


@pytest.mark.parametrize("mode, code, out", [("segv", 139, ""), ("fpe", 136, ""), ("caught", 7, "caught\n")])
def test_fault_in_jail_init_ends_like_untraced(tj, cc, mode, code, out):
    prog = cc("sv_fault.c")
    start = time.monotonic()
    r = tj("run", "-q", "--no-report", "-t", "20", "-R", "/lib", "-R", "/lib64", "-R", "/usr",
           "-R", os.path.dirname(prog), "--", str(prog), mode)
    assert (r.returncode, r.stdout) == (code, out), r.stderr
    assert time.monotonic() - start < 10, "the crash was only ended by the time limit"
