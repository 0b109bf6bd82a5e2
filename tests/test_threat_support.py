"""Shared helpers for the adversarial threat-model tests (tests/test_threat_*.py).

Every test runs a small escape program from tests/progs/tm_*.c through the real
CLI inside a real jail and checks the *safe outcome* the threat model asks for
(/work/shared/threat-model.md): the exit status (159 = killed by the seccomp
policy, 137 = time limit), what the program achieved (its ESCAPED/BLOCKED
lines, canary text), host-side state, and the audit log.

This module holds no tests; it lives under a test_ name only so pytest's
rootdir import puts it on sys.path for the other test_threat_* modules.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGS = Path(__file__).resolve().parent / "progs"
KILLED = 159             # 128 + SIGSYS: killed by the policy (nsjail's convention)
TIMEOUT = 137
BASE = ["-R", "/bin", "-R", "/lib", "-R", "/lib64", "-R", "/usr", "-T", "/tmp"]
CANARY = "TM-CANARY-7f3a9c"   # text of every canary file; must never reach stdout
# errnos that mean "the policy refused"; anything else means the call reached the kernel
DENY_ERRNOS = {"EPERM", "EACCES", "ENOSYS"}


@dataclass
class Run:
    rc: int
    out: str
    err: str
    argv: list[str]
    audit: list[dict] = field(default_factory=list)
    audit_raw: bytes = b""
    elapsed: float = 0.0

    def __str__(self) -> str:
        return (f"rc={self.rc}\nargv={' '.join(self.argv)}\n--- stdout\n{self.out}\n--- stderr\n"
                f"{self.err[-3000:]}")

    def achieved(self, what: str) -> bool:
        """The program printed 'ESCAPED <what>' (the call succeeded)."""
        return any(line.startswith(f"ESCAPED {what}") for line in self.out.splitlines())

    def errno_of(self, what: str) -> str | None:
        m = re.search(rf"^BLOCKED {re.escape(what)} errno=\d+ (\S+)", self.out, re.M)
        return m.group(1) if m else None

    def refused(self, what: str, errnos=DENY_ERRNOS) -> bool:
        """The policy stopped <what>: the jail was killed by it, or the call
        failed with a policy errno (not EBADF/EINVAL/...: those mean the kernel
        ran it)."""
        if self.achieved(what):
            return False
        if self.rc == KILLED:
            return True
        return self.errno_of(what) in errnos


def run_jail(tj, prog: Path, *args: str, opts=(), policy: str | None = None, audit_path: Path | None = None,
             timeout: float = 60) -> Run:
    """tracejail run BASE -R <prog dir> [opts] [-P policy] [--audit] -- prog args."""
    argv = ["run", *BASE, "-R", str(prog.parent), *opts]
    if policy is not None:
        argv += ["-P", policy]
    if audit_path is not None:
        argv += ["--audit", str(audit_path)]
    argv += ["--", str(prog), *args]
    t0 = time.monotonic()
    r = tj(*argv, timeout=timeout)
    run = Run(r.returncode, r.stdout, r.stderr, argv, elapsed=time.monotonic() - t0)
    if audit_path is not None and audit_path.exists():
        run.audit_raw = audit_path.read_bytes()
        run.audit = [json.loads(line) for line in run.audit_raw.splitlines() if line.strip()]
    return run


def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.err, str(run)


def assert_killed(run: Run, what: str = "") -> None:
    """The threat model's 'kill' outcome: exit 159 and nothing achieved."""
    assert run.rc == KILLED, f"expected policy kill (159) for {what}\n{run}"
    if what:
        assert not run.achieved(what), str(run)
    no_traceback(run)


def assert_refused(run: Run, what: str, errnos=DENY_ERRNOS) -> None:
    assert run.refused(what, errnos), f"{what} was not refused by the policy\n{run}"
    no_traceback(run)


def violations(run: Run) -> list[dict]:
    """Audit records that report a policy violation/kill (schema of docs/audit.md)."""
    out = []
    for rec in run.audit:
        kind = str(rec.get("type") or rec.get("kind") or rec.get("event") or "")
        verdict = str(rec.get("verdict") or rec.get("action") or "")
        if "violation" in kind or verdict.startswith("KILL"):
            out.append(rec)
    return out


def assert_audited_violation(run: Run, syscall: str) -> None:
    """The audit log has a violation record naming <syscall> (and nothing that
    says it was allowed)."""
    v = [rec for rec in violations(run) if rec.get("name") == syscall]
    assert v, f"no audited violation for {syscall}: {violations(run)}\n{run.audit_raw[-1500:]!r}"
    allowed = [rec for rec in run.audit if rec.get("type") == "syscall" and rec.get("name") == syscall
               and rec.get("verdict") == "ALLOW"]
    assert not allowed, allowed


def jailed_pids(exe: Path) -> list[int]:
    """Host pids whose executable is <exe> (processes left over from a jail)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if os.readlink(d / "exe") in (str(exe), f"{exe} (deleted)"):
                pids.append(int(d.name))
        except OSError:
            pass
    return pids


def wait_gone(exe: Path, seconds: float = 3.0) -> list[int]:
    end = time.monotonic() + seconds
    while True:
        left = jailed_pids(exe)
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)


def write_policy(tmp_path: Path, text: str, name: str = "tm.policy") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def popen_jail(prog: Path, *args: str, opts=(), **kw) -> subprocess.Popen:
    argv = [sys.executable, "-m", "tracejail", "run", *BASE, "-R", str(prog.parent), *opts, "--",
            str(prog), *args]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.fixture(scope="session")
def tm_bindir():
    """A world-traversable copy target for the test binaries: pytest's basetemp
    sits under a 0700 directory that the jail's unprivileged outside uid cannot
    bind from."""
    import shutil
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="tm-threat-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def tm_cc(cc, tm_bindir):
    """cc for the threat programs (they share tests/progs/tm_common.h); the
    binary is copied into tm_bindir so the jail can bind it."""
    import shutil

    def build(name: str, *flags: str) -> Path:
        src = cc(name, f"-I{PROGS}", *flags)
        dst = tm_bindir / src.name
        if not dst.exists():
            shutil.copy2(src, dst)
            os.chmod(dst, 0o755)
        return dst
    return build


@pytest.fixture
def data_dir(tmp_path):
    return make_data_dir(tmp_path)


def make_data_dir(tmp_path: Path) -> Path:
    """Host tree bound read-write at /data: canary files the guard policy
    forbids (world-writable, so only the policy stands in the way) and an
    allowed subtree.  Returns the host path."""
    d = tmp_path / "data"
    (d / "allowed").mkdir(parents=True)
    (d / "allowedX").mkdir()
    (d / "canary").write_text(CANARY + "\n")
    (d / "allowedX" / "secret").write_text(CANARY + "\n")
    (d / "allowed" / "file").write_text("ALLOWED-OK\n")
    (d / "forbidden").mkdir()
    (d / "forbidden" / "file").write_text(CANARY + "\n")
    for p in [d, *d.rglob("*")]:
        os.chmod(p, 0o777 if p.is_dir() else 0o666)
    os.chmod(tmp_path, 0o755)
    return d


def data_opts(data: Path) -> list[str]:
    return ["-B", f"{data}:/data"]


DEFAULT_POLICY_FILE = ROOT / "policies" / "default.policy"

# Path syscalls the guard rules cover: name(arg names) -> path argument names.
_GUARDED = {
    "open": ("pathname, flags, mode", ["pathname"]),
    "openat": ("dirfd, pathname, flags, mode", ["pathname"]),
    "openat2": ("dirfd, pathname, how, size", ["pathname"]),
    "creat": ("pathname, mode", ["pathname"]),
    "execve": ("filename, argv, envp", ["filename"]),
    "execveat": ("dirfd, filename, argv, envp, flags", ["filename"]),
    "truncate": ("path, length", ["path"]),
    "unlink": ("pathname", ["pathname"]),
    "unlinkat": ("dirfd, pathname, flags", ["pathname"]),
    "rename": ("oldname, newname", ["oldname", "newname"]),
    "renameat2": ("olddfd, oldname, newdfd, newname, flags", ["oldname", "newname"]),
    "link": ("oldname, newname", ["oldname", "newname"]),
    "linkat": ("olddfd, oldname, newdfd, newname, flags", ["oldname", "newname"]),
    "chmod": ("filename, mode", ["filename"]),
    "symlink": ("oldname, newname", ["newname"]),
    "symlinkat": ("oldname, newdfd, newname", ["newname"]),
    "mkdir": ("pathname, mode", ["pathname"]),
    "fchmodat": ("dfd, filename, mode", ["filename"]),
}


def guard_policy(tmp_path: Path, deny_under: str = "/data", allow_under: str = "/data/allowed",
                 action: str = "ERRNO(13)", first: str = "") -> str:
    """The shipped default policy with guard rules in front: a path syscall
    any of whose resolved paths is under <deny_under> but not under
    <allow_under> gets <action>; one whose paths are all under <allow_under>
    is allowed.  First match wins, so these rules decide (after <first>, rules
    placed before them)."""
    deny, allow = [], []
    for name, (params, pargs) in _GUARDED.items():
        d = " || ".join(f'(path({a}) under "{deny_under}" && !(path({a}) under "{allow_under}"))' for a in pargs)
        a = " && ".join(f'path({a}) under "{allow_under}"' for a in pargs)
        deny.append(f"    {name}({params}) {{ {d} }}")
        allow.append(f"    {name}({params}) {{ {a} }}")
    body = (first + f"  {action} {{\n" + ",\n".join(deny) + "\n  }\n"
            "  ALLOW {\n" + ",\n".join(allow) + "\n  }\n")
    return prepend_policy(tmp_path, body, "guard.policy")


def prepend_policy(tmp_path: Path, body: str, name: str = "tm.policy") -> str:
    """The shipped default policy with POLICY tm_guard { body } USEd first.

    The default's own top-level ``USE a, USE b ... DEFAULT X`` is replaced by
    ``USE tm_guard, USE a, USE b ... DEFAULT X`` (kafel allows one DEFAULT)."""
    text = DEFAULT_POLICY_FILE.read_text()
    m = re.search(r"^USE\b.*?DEFAULT\s+[A-Z_]+(?:\(\w+\))?", text, re.M | re.S)
    assert m, "cannot find the default policy's top-level USE list"
    uses = re.findall(r"USE\s+(\w+)", m.group(0))
    default = m.group(0).rsplit("DEFAULT", 1)[1].strip()
    text = (text[:m.start()] + f"\nPOLICY tm_guard {{\n{body}}}\n"
            + ", ".join(["USE tm_guard", *(f"USE {u}" for u in uses)]) + f" DEFAULT {default}\n"
            + text[m.end():])
    return write_policy(tmp_path, text, name)


def run_batch(jobs: dict, workers: int = 4) -> dict:
    """Run many independent jails concurrently (most threat items are one
    jail each, killed at the first forbidden call); jobs maps a key to
    (prog, args, run_jail keyword arguments).  Returns key -> Run."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import tracejail
    with ThreadPoolExecutor(workers) as ex:
        futs = {k: ex.submit(run_jail, tracejail, prog, *args, **kw) for k, (prog, args, kw) in jobs.items()}
        return {k: f.result() for k, f in futs.items()}
