"""--permissive end to end, and the violation message of an enforcing run.

dbg_violate does three things the test policy refuses: chdir (ERRNO, line 3),
opening a file outside the allowed paths (KILL, line 6), uname (KILL, line 2).
Permissive: it runs to completion and the audit/report say would-deny/would-kill
with the rule.  Enforcing: the first kill ends the jail with one stderr line
naming the syscall, its arguments, the rule and the audit file."""
import json

import pytest

JAIL = ["-R", "/bin", "-R", "/lib", "-R", "/lib64", "-R", "/usr", "-R", "/etc"]
POLICY = """POLICY p {
  KILL { uname },
  ERRNO(13) { chdir },
  ALLOW { openat { path(filename) in ["/etc/ld.so.cache", "/lib/**", "/lib64/**", "/usr/lib/**",
                                      "/etc/passwd"] } },
  KILL { openat }
}
USE p DEFAULT ALLOW
"""


@pytest.fixture
def setup(tmp_path, cc):
    pol = tmp_path / "p.policy"
    pol.write_text(POLICY)
    return cc("dbg_violate.c"), pol, tmp_path / "audit.jsonl"


def run(tj, prog, pol, audit, *flags, target="/etc/hostname"):
    return tj("run", "-q", *JAIL, "-R", str(prog.parent), "-P", str(pol), "--audit", str(audit), *flags,
              "--", str(prog), target)


def records(audit):
    return [json.loads(line) for line in audit.read_text().splitlines()]


def test_permissive_runs_to_completion_and_records_would_verdicts(tj, setup):
    prog, pol, audit = setup
    p = run(tj, prog, pol, audit, "--permissive")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["chdir=0", "open=0", "uname=0", "survived"]
    recs = [r for r in records(audit) if r.get("type") == "syscall" and r.get("mode")]
    by = {(r["name"], r["mode"]): r for r in recs}
    assert by[("chdir", "would-deny")]["rule"] == "p.policy:3"
    assert by[("chdir", "would-deny")]["verdict"] == "ERRNO"
    o = by[("openat", "would-kill")]
    assert o["rule"] == "p.policy:6" and "/etc/hostname" in json.dumps(o)
    assert by[("uname", "would-kill")]["rule"] == "p.policy:2"
    # allowed opens are not would-anything
    assert not [r for r in recs if r["name"] == "openat" and "ld.so.cache" in json.dumps(r)]
    end = [r for r in records(audit) if r.get("type") == "end"][0]
    assert end["would_deny"] >= 1 and end["would_kill"] >= 2 and end["exit_code"] == 0
    # the exit report lists them with their rules; nothing is reported as a violation
    report = [l for l in p.stderr.splitlines() if "would-" in l]
    assert any("p.policy:3" in l and "chdir" in l and "would-deny" in l for l in report), p.stderr
    assert any("p.policy:6" in l and "openat" in l and "would-kill" in l for l in report), p.stderr
    assert any("p.policy:2" in l and "uname" in l and "would-kill" in l for l in report), p.stderr
    assert "policy violation" not in p.stderr


def test_enforcing_run_names_the_violation_on_one_line(tj, setup):
    prog, pol, audit = setup
    p = run(tj, prog, pol, audit, "--no-report")
    assert p.returncode == 159
    assert p.stdout.split() == ["chdir=13"]          # killed at the open, before printing it
    lines = [l for l in p.stderr.splitlines() if "policy violation" in l]
    assert len(lines) == 1, p.stderr
    line = lines[0]
    assert "openat(" in line and "/etc/hostname" in line and "p.policy:6" in line
    assert str(audit) in line and "KILL" in line
    vio = [r for r in records(audit) if r.get("type") == "violation"]
    assert len(vio) == 1 and vio[0]["name"] == "openat" and vio[0]["rule"] == "p.policy:6"


def test_kernel_decided_kill_is_named_too(tj, setup):
    """uname is killed by the kernel filter itself: the supervisor still names it
    (PTRACE_EVENT_EXIT with the syscall's registers)."""
    prog, pol, audit = setup
    p = run(tj, prog, pol, audit, "--no-report", target="/etc/passwd")
    assert p.returncode == 159
    assert p.stdout.split() == ["chdir=13", "open=0"]
    line = [l for l in p.stderr.splitlines() if "policy violation" in l]
    assert len(line) == 1 and "uname(" in line[0] and "p.policy:2" in line[0], p.stderr
    vio = [r for r in records(audit) if r.get("type") == "violation"]
    assert [v["name"] for v in vio] == ["uname"]


def test_supervisor_denial_is_reported(tj, tmp_path, cc):
    """An ERRNO decided by the supervisor (path rule) gets a 'policy denied' line."""
    prog = cc("dbg_violate.c")
    pol = tmp_path / "d.policy"
    pol.write_text(POLICY.replace("KILL { openat }", "ERRNO(1) { openat }").replace("KILL { uname },", ""))
    audit = tmp_path / "a.jsonl"
    p = run(tj, prog, pol, audit, "--no-report")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["chdir=13", "open=1", "uname=0", "survived"]
    line = [l for l in p.stderr.splitlines() if "policy denied" in l]
    assert line and "openat(" in line[0] and "/etc/hostname" in line[0] and "d.policy:" in line[0]


def test_foreign_abi_kill_is_named(tj, cc, tmp_path):
    """int 0x80 (i386 getpid) dies in the kernel's arch check; the line says so."""
    prog = cc('#include <stdio.h>\nint main(void){ long r; printf("before\\n"); fflush(stdout);\n'
              ' __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");\n'
              ' printf("after %ld\\n", r); return 0; }\n')
    audit = tmp_path / "a.jsonl"
    p = tj("run", "-q", *JAIL, "-R", str(prog.parent), "--seccomp_string",
           "POLICY a { ALLOW { write } } USE a DEFAULT ALLOW", "--audit", str(audit), "--no-report",
           "--", str(prog))
    assert p.returncode == 159 and p.stdout.split() == ["before"]
    line = [l for l in p.stderr.splitlines() if "policy violation" in l]
    assert len(line) == 1 and "[i386]" in line[0] and "foreign-arch" in line[0], p.stderr
    vio = [r for r in records(audit) if r.get("type") == "violation"]
    assert len(vio) == 1 and vio[0]["arch"] == "i386" and vio[0]["nr"] == 20
