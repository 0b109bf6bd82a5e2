"""--inject end to end: a C program observes the injected errno and the when= pattern.

The expected patterns were checked against `strace -e inject=chdir:error=ENOENT:when=...`
on the same program (identical output)."""
import json

import pytest

JAIL = ["-R", "/bin", "-R", "/lib", "-R", "/lib64", "-R", "/usr", "-R", "/etc"]
ALLOW_ALL = "POLICY a { ALLOW { chdir, openat } } USE a DEFAULT ALLOW"


def run(tj, prog, *args, inject=(), policy=ALLOW_ALL, extra=()):
    flags = []
    for s in inject:
        flags += ["--inject", s]
    return tj("run", "-q", *JAIL, "-R", str(prog.parent), "--no-report", "--seccomp_string", policy,
              *flags, *extra, "--", str(prog), *args)


@pytest.mark.parametrize("when,expected", [
    ("2+3", "0 2 0 0 2 0 0 2 0 0"),
    ("3", "0 0 2 0 0 0 0 0 0 0"),
    ("2..9+3", "0 2 0 0 2 0 0 2 0 0"),
])
def test_when_pattern_seen_by_the_program(tj, cc, when, expected):
    p = run(tj, cc("dbg_inject.c"), "chdir", "10", inject=[f"chdir:errno=ENOENT:when={when}"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == expected


def test_path_filter_counts_matching_calls_and_is_audited(tj, cc, tmp_path):
    audit = tmp_path / "a.jsonl"
    p = run(tj, cc("dbg_inject.c"), "openat", "6", "/etc/passwd", "/usr/bin/env",
            inject=["openat:errno=EACCES:when=2+:path=/etc/pass*"], extra=["--audit", str(audit)])
    assert p.returncode == 0, p.stderr
    # passwd env passwd env passwd env: the 2nd and later matching opens fail (ld.so.cache,
    # libc... are opened too but do not match, so they are not counted)
    assert p.stdout.strip() == "0 0 13 0 13 0"
    recs = [json.loads(line) for line in audit.read_text().splitlines()]
    inj = [r for r in recs if r.get("type") == "syscall" and r.get("mode") == "injected"]
    assert len(inj) == 2
    for r in inj:
        assert r["name"] == "openat" and r["errno"] == 13 and r["verdict"] == "ERRNO"
        assert "inject:" in r["rule"] and "/etc/pass*" in r["rule"]
        assert list(r["resolved"].values()) == ["/etc/passwd"]
        assert r.get("ret", -13) == -13


def test_policy_denial_wins_over_injection(tj, cc):
    pol = "POLICY a { ERRNO(13) { chdir } } USE a DEFAULT ALLOW"
    p = run(tj, cc("dbg_inject.c"), "chdir", "3", inject=["chdir:errno=ENOENT"], policy=pol)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "13 13 13"


def test_other_syscalls_untouched(tj, cc):
    p = run(tj, cc("dbg_inject.c"), "getpid", "3", inject=["chdir:errno=ENOENT"])
    assert p.returncode == 0 and p.stdout.strip() == "0 0 0"


@pytest.mark.parametrize("spec", ["chdir", "nosuch:errno=EIO", "chdir:errno=EIO:when=0",
                                  "getpid:errno=EIO:path=/x"])
def test_bad_spec_is_refused_before_running(tj, cc, spec):
    p = run(tj, cc("dbg_inject.c"), "chdir", "1", inject=[spec])
    assert p.returncode == 2
    assert p.stdout == ""                      # the program never ran
    assert "--inject" in p.stderr and "Traceback" not in p.stderr
