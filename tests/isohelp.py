"""Helpers for the jail/CLI tests (issue 2): the usual read-only system binds."""
from __future__ import annotations

import os

import pytest

import tempfile

SYS = ["-R", "/bin", "-R", "/lib", "-R", "/lib64", "-R", "/usr"]

# Isolation tests run under an allow-all policy (still a loaded seccomp filter, still
# supervised): a denial by the default policy must not be what makes an isolation
# assertion pass.  The seed-example tests use the shipped default policy.
_DIR = tempfile.mkdtemp(prefix="tj-iso-")
os.chmod(_DIR, 0o755)
ALLOW = os.path.join(_DIR, "allow.policy")
with open(ALLOW, "w") as _f:
    _f.write("POLICY a { ALLOW { write } } USE a DEFAULT ALLOW\n")
QUIET = ["-Q", "--no-report", "-P", ALLOW]


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


@pytest.fixture
def allow_policy(tmp_path):
    """A kafel policy with no TRACE rules, for -Me (no supervisor) runs."""
    p = tmp_path / "allow.policy"
    p.write_text("POLICY a { ALLOW { write } } USE a DEFAULT ALLOW\n")
    return str(p)
