"""Threat model F34 (hostile pointers, log injection) and R1 (malformed
policies).  tm_mem runs natively and in the jail; the supervisor must answer
every hostile pointer exactly as the kernel does."""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile

import pytest

from test_threat_support import CANARY, no_traceback, run_batch, run_jail, tm_bindir, tm_cc, write_policy  # noqa: F401,E501


def _cases(text):
    return dict(re.findall(r"^CASE (\S+) (rc=\S+ errno=\S+)$", text, re.M))


def test_f34_hostile_pointers_answered_like_the_kernel(tj, tm_cc, tmp_path):
    prog = tm_cc("tm_mem.c")
    with tempfile.TemporaryDirectory() as d:
        native = subprocess.run([str(prog), d], capture_output=True, text=True, timeout=60)
    want = _cases(native.stdout)
    assert native.returncode == 0 and len(want) >= 19, native.stdout
    audit = tmp_path / "audit.jsonl"
    r = run_jail(tj, prog, "/tmp", audit_path=audit, opts=["-t", "60"], timeout=90)
    got = _cases(r.out)
    assert r.rc == 0 and "DONE" in r.out, str(r)
    diff = {k: (want[k], got.get(k)) for k in want if got.get(k) != want[k]}
    assert not diff, f"jail differs from the kernel (native, jail): {diff}\n{r}"
    no_traceback(r)


def test_f34_log_injection_bytes_stay_inside_one_record(tj, tm_cc, tmp_path):
    """A path with newline, JSON, ANSI escapes and invalid UTF-8 must not forge
    audit records nor reach the terminal raw."""
    prog = tm_cc("tm_mem.c")
    audit = tmp_path / "audit.jsonl"
    r = run_jail(tj, prog, "/tmp", audit_path=audit, opts=["-t", "60"], timeout=90)
    assert r.rc == 0, str(r)
    assert audit.exists() and audit.stat().st_size > 0, "no audit written"
    raw = audit.read_bytes()
    assert b"\x1b" not in raw and b"\r" not in raw, "raw control bytes in the audit log"
    for line in raw.splitlines():
        rec = json.loads(line)          # every line one JSON object
        assert isinstance(rec, dict)
        assert rec != {"fake": "record"}, "forged record"
    assert "\x1b" not in r.err, "raw escape sequence reached tracejail's stderr"
    assert b"fake" in raw, "the evil path was not audited at all"


BAD_POLICIES = {
    "truncated": b"POLICY x { ALLOW { read, write } }\nUSE x DEFAULT",
    "unknown_syscall": b"POLICY x { ALLOW { no_such_syscall_tm } }\nUSE x DEFAULT KILL\n",
    "non_utf8": b"POLICY x { ALLOW { read \xff\xfe } }\nUSE x DEFAULT KILL\n",
    "empty": b"",
    "undefined_use": b"USE nowhere DEFAULT ALLOW\n",
    "bad_number": b"POLICY x { ALLOW { read(fd) { fd == 0x1zz } } }\nUSE x DEFAULT KILL\n",
    "huge_number": b"POLICY x { ALLOW { read(fd) { fd == 99999999999999999999999 } } }\nUSE x DEFAULT KILL\n",
    "bad_glob": b'POLICY x { ALLOW { openat(d, p, f, m) { path(p) in "/a/[" } } }\nUSE x DEFAULT KILL\n',
    "relative_path_rule": b'POLICY x { ALLOW { openat(d, p, f, m) { path(p) under "tmp" } } }\nUSE x DEFAULT KILL\n',
}


def _out():
    d = tempfile.mkdtemp(prefix="tm-r1-")
    os.chmod(d, 0o777)
    return d


R1_CASES = sorted(BAD_POLICIES) + ["recursive_include", "missing_file", "seccomp_string"]


@pytest.fixture(scope="module")
def r1_runs(tm_cc, tmp_path_factory):
    prog = tm_cc("tm_path.c")
    tmp = tmp_path_factory.mktemp("r1")
    jobs, outs = {}, {}
    for name in R1_CASES:
        if name == "recursive_include":
            pol = tmp / "rec.policy"
            pol.write_text(f'#include "{pol}"\nPOLICY x {{ ALLOW {{ read }} }}\nUSE x DEFAULT KILL\n')
            opts = ["-P", str(pol)]
        elif name == "missing_file":
            opts = ["-P", str(tmp / "nope.policy")]
        elif name == "seccomp_string":
            opts = ["--seccomp_string", "POLICY x { ALLOW { read "]
        else:
            pol = tmp / f"{name}.policy"
            pol.write_bytes(BAD_POLICIES[name])
            opts = ["-P", str(pol)]
        outs[name] = _out()
        jobs[name] = (prog, ("creat:/out/ran",), {"opts": ["-B", f"{outs[name]}:/out", *opts]})
    return run_batch(jobs), outs


@pytest.mark.parametrize("name", R1_CASES)
def test_r1_malformed_policy_refused_before_running(r1_runs, name):
    """A bad policy: exit 2, one 'tracejail: ...' line, and the command never ran
    (it would have created a file in a writable host bind)."""
    runs, outs = r1_runs
    r = runs[name]
    assert r.rc == 2, str(r)
    assert not os.path.exists(os.path.join(outs[name], "ran")), "the command ran under a malformed policy"
    msgs = [line for line in r.err.splitlines() if line.startswith("tracejail:")]
    assert len(msgs) == 1, str(r)
    no_traceback(r)


def test_r1_control_good_policy_runs(tj, tm_cc):
    """The same command under the default policy does run (so exit 2 above is the policy's doing)."""
    out = _out()
    r = run_jail(tj, tm_cc("tm_path.c"), "creat:/tmp/ok", opts=["-B", f"{out}:/out"])
    assert r.rc == 0 and "ESCAPED creat /tmp/ok" in r.out, str(r)
