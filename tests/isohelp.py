"""Helpers for the jail/CLI tests (issue 2): the usual read-only system binds."""
from __future__ import annotations

import os

SYS = ["-R", "/bin", "-R", "/lib", "-R", "/lib64", "-R", "/usr"]
QUIET = ["-Q", "--no-report", *os.environ.get("ISO_EXTRA", "").split()]


def jail_sh(tj, script: str, *opts: str, timeout: float = 60):
    """Run /bin/sh -c SCRIPT in a default jail with the system binds."""
    return tj(*QUIET, *SYS, *opts, "--", "/bin/sh", "-c", script, timeout=timeout)


def one_line_error(r) -> str:
    """stderr must be exactly one 'tracejail: ...' line, no traceback."""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("tracejail: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]
