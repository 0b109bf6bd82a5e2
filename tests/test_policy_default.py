"""The shipped default policy in a real jail: ordinary programs run, dangerous
calls die, writes outside the scratch dirs are refused by a path rule."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tracejail.errors import PolicyError
from tracejail.policy import default_policy_path, load_for_config

SYS = ["-R", "/usr", "-R", "/lib", "-R", "/lib64", "-R", "/bin", "-R", "/etc"]


def records(path):
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def test_load_for_config(tmp_path):
    pol = load_for_config(SimpleNamespace(seccomp_policy=None, seccomp_string=None))
    assert pol.name == default_policy_path()
    pol = load_for_config(SimpleNamespace(seccomp_policy=None, seccomp_string="ALLOW { read }"))
    assert [r.syscall for r in pol.rules] == ["read"]
    bad = tmp_path / "x.policy"
    bad.write_text("ALLOW { read")
    with pytest.raises(PolicyError, match=r"x.policy:1:13:"):
        load_for_config(SimpleNamespace(seccomp_policy=str(bad), seccomp_string=None))


@pytest.mark.parametrize("argv,expect", [
    (["/bin/sh", "-c", "ls / | grep -q usr && cat /etc/hostname | grep -q . && echo ok"], "ok"),
    (["/bin/bash", "-c", "x=$(echo sub); echo $x"], "sub"),
    (["/usr/bin/python3", "-c", "import json; print(json.dumps({'a': 1}))"], '{"a": 1}'),
])
def test_ordinary_programs_run(tj, argv, expect):
    p = tj("run", "-Q", *SYS, "--", *argv)
    assert p.returncode == 0, p.stderr
    assert expect in p.stdout


def test_write_outside_scratch_is_refused_by_path_rule(tj, tmp_path):
    audit = tmp_path / "a.jsonl"
    p = tj("run", "-Q", *SYS, "--audit", str(audit), "--", "/bin/sh", "-c", "echo x > /etc/evil")
    assert p.returncode != 0
    recs = [r for r in records(audit) if r.get("name") == "openat" and
            (r.get("resolved") or {}).get("pathname") == "/etc/evil"]
    assert recs and recs[0]["verdict"].startswith("ERRNO") and recs[0]["errname"] == "EACCES", recs
    assert recs[0]["rule"].startswith("default.policy:")


def test_dangerous_syscall_kills_the_jail(tj, cc):
    prog = cc("#define _GNU_SOURCE\n#include <sched.h>\n#include <stdio.h>\n"
              "int main(void){ unshare(CLONE_NEWUSER); puts(\"survived\"); return 0; }\n")
    p = tj("run", "-Q", *SYS, "-R", str(prog.parent), "--", str(prog))
    assert "survived" not in p.stdout
    assert p.returncode == 159, p.stderr          # tracejail's "killed by policy" status
    line = next(n for n, l in enumerate(open(default_policy_path()), 1) if l.strip().startswith("unshare,"))
    assert f"default.policy:{line}" in p.stderr and "unshare" in p.stderr
