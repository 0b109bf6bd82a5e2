"""Guards every compiled filter carries, whatever the policy allows."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER = str(ROOT / "tests" / "data" / "docker-default.json")


def test_seccomp_listener_killed_even_when_policy_allows_seccomp(tj, cc):
    """Docker's profile allows seccomp(); a listener would still outrank RET_TRACE (threat #7)."""
    prog = cc("tm_listener.c")
    base = ["run", "-q", "--no-report", "-P", DOCKER, "-R", "/lib", "-R", "/lib64", "-R", "/usr",
            "-R", os.path.dirname(prog), "--", str(prog)]
    control = tj(*base, "plain")
    assert (control.returncode, control.stdout) == (0, "PLAIN 0\n"), control.stderr
    r = tj(*base)
    assert r.returncode == 159, (r.returncode, r.stdout, r.stderr)
    assert "LISTENER" not in r.stdout


def test_listener_guard_in_eval(tj):
    r = tj("policy", "eval", DOCKER, "seccomp(1, 0x100000008, 0)")
    assert r.stdout.startswith("KILL_PROCESS rule builtin:seccomp-listener"), r.stdout + r.stderr
