"""Guards every compiled filter carries, whatever the policy allows."""
from __future__ import annotations

import json
import os
from pathlib import Path

from test_threat_support import tm_bindir, tm_cc  # noqa: F401  (fixtures)

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


ALLOW_ALL = "ALLOW { read } DEFAULT ALLOW"


def _allow_all_run(tj, prog, mode):
    return tj("run", "-q", "--no-report", "--seccomp_string", ALLOW_ALL, "-R", "/lib", "-R", "/lib64",
              "-R", "/usr", "-R", os.path.dirname(prog), "--", str(prog), mode)


def test_untraced_clones_refused_even_when_policy_allows_clone(tj, tm_cc):
    """An untraced child would escape the supervisor, the audit and the kernel's
    count of a lone task (threat #10): refused whatever the policy says, by the
    filter for clone and by the supervisor for clone3 (flags in memory)."""
    ptr, abi = tm_cc("tm_ptrace.c"), tm_cc("tm_abi.c")
    r = _allow_all_run(tj, ptr, "clone_untraced")
    assert "ESCAPED" not in r.stdout and "clone CLONE_UNTRACED" in r.stdout, r.stdout + r.stderr
    assert "EPERM" in r.stdout.split("clone CLONE_UNTRACED", 1)[1].splitlines()[0], r.stdout
    r = _allow_all_run(tj, abi, "clone3_untraced")
    assert "ESCAPED" not in r.stdout and "EPERM" in r.stdout, r.stdout + r.stderr
    r = _allow_all_run(tj, abi, "clone3_plain")        # control: clone3 itself is allowed
    assert "CHILD clone3 child running" in r.stdout, r.stdout + r.stderr


def test_clone_untraced_guard_in_eval(tj):
    r = tj("policy", "eval", DOCKER, "clone(0x800011, 0, 0, 0, 0)")
    assert r.stdout.startswith("ERRNO(1) rule builtin:clone-untraced"), r.stdout + r.stderr


def test_default_policy_refuses_host_secrets_by_name(tj, tmp_path):
    """Even as jail root mapped to a host id that could read them, /etc/shadow & co. stay closed."""
    audit = tmp_path / "a.jsonl"
    r = tj("run", "-q", "--no-report", "--audit", str(audit), "-R", "/usr", "-R", "/lib", "-R", "/lib64",
           "-R", "/bin", "-R", "/etc", "--", "/bin/sh", "-c", "cat /etc/gshadow; cat /etc/hostname")
    assert r.returncode == 0, r.stderr
    assert "policy denied openat" in r.stderr and "/etc/gshadow" in r.stderr
    recs = [json.loads(line) for line in audit.read_text().splitlines()]
    denied = [x for x in recs if x.get("type") == "syscall" and x.get("name") == "openat"
              and "/etc/gshadow" in json.dumps(x)]
    assert denied and all(x["verdict"].startswith("ERRNO") for x in denied), denied
