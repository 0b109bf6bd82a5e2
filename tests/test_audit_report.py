"""Exit report and `tracejail report` (aggregate, formats, --diff) over real
audit files written by AuditLog."""
from __future__ import annotations

import csv
import io
import json
import os

from tracejail.audit import AuditLog
from tracejail.audit.records import escape_bytes
from tracejail.audit.report import print_exit_report
from tracejail.verdict import Verdict

AT = 0xFFFFFF9C
HOSTILE = b"/data/\x1b[31mevil\n\xff"           # raw tracee bytes


def given_and_resolved(p):
    """What the supervisor hands the writer: decoded = escaped text, resolved = raw str."""
    raw = p if isinstance(p, bytes) else p.encode()
    return escape_bytes(raw), os.fsdecode(raw)


def write_run(path, argv, opens=(), denied=(), execs=(), connects=(), kill=None, exit_code=0):
    log = AuditLog(str(path))
    log.start({"argv": argv}, "d")
    for p, v in [(p, Verdict("ALLOW", rule="p:2")) for p in opens] + \
            [(p, Verdict("ERRNO", 13, rule="p:3")) for p in denied]:
        given, resolved = given_and_resolved(p)
        log.syscall(pid=1, tid=1, arch="x86_64", nr=257, name="openat", args=(AT, 1, 0, 0, 0, 0),
                    decoded={"dirfd": "AT_FDCWD", "pathname": given, "flags": "O_RDONLY"},
                    verdict=v, resolved={1: resolved})
    for p in execs:
        log.syscall(pid=1, tid=1, arch="x86_64", nr=59, name="execve", args=(1, 2, 3, 0, 0, 0),
                    decoded={"pathname": p, "argv": [p]}, verdict=Verdict("ERRNO", 1, rule="p:4"))
    for ip, port in connects:
        log.syscall(pid=1, tid=1, arch="x86_64", nr=42, name="connect", args=(3, 1, 16, 0, 0, 0),
                    decoded={"sockfd": 3, "addr": {"family": "AF_INET", "address": ip, "port": port},
                             "addrlen": 16}, verdict=Verdict("ERRNO", 1, rule="p:5"))
    if kill:
        v = Verdict("KILL", rule="p:9")
        log.syscall(pid=1, tid=1, arch="x86_64", nr=101, name=kill, args=(16, 1, 0, 0, 0, 0),
                    decoded={"request": "PTRACE_ATTACH"}, verdict=v)
        log.violation(pid=1, tid=1, name=kill, nr=101, arch="x86_64",
                      decoded={"request": "PTRACE_ATTACH"}, verdict=v)
    log.end(exit_code, "violation" if kill else "exited")
    return log


def test_exit_report_table(tmp_path):
    log = write_run(tmp_path / "a.jsonl", ["x"], opens=["/lib/a"] * 3, denied=[HOSTILE] * 2,
                    kill="ptrace", exit_code=159)
    buf = io.StringIO()
    print_exit_report(log, file=buf)
    out = buf.getvalue()
    assert out.isascii() and "\x1b" not in out
    rows = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if ln[:1].isalpha()}
    assert rows["openat"][:5] == ["5", "3", "2", "0", "2"]       # calls allowed denied killed errors
    assert rows["ptrace"][:5] == ["1", "0", "0", "1", "0"]
    assert rows["total"][:5] == ["6", "3", "2", "1", "2"]
    assert "p:3" in out and "ERRNO(EACCES)" in out and "p:9" in out and "violation" in out
    assert 'ptrace(PTRACE_ATTACH)' in out


def test_exit_report_without_audit_file():
    log = AuditLog(None)
    log.syscall(pid=1, tid=1, arch="x86_64", nr=2, name="open", args=(0,) * 6, decoded={},
                verdict=Verdict("ERRNO", 2, rule="r:1"))
    log.end(0, "exited")
    buf = io.StringIO()
    print_exit_report(log, file=buf)
    assert "open" in buf.getvalue() and "r:1" in buf.getvalue()
    buf = io.StringIO()
    print_exit_report(AuditLog(None), file=buf)
    assert buf.getvalue() == "tracejail: no supervised syscalls\n"


def test_report_aggregates_runs(tj, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_run(a, ["prog", "1"], opens=["/lib/a"], denied=["/etc/shadow"] * 3,
              connects=[("10.0.0.1", 80)])
    write_run(b, ["prog", "2"], denied=["/etc/shadow", HOSTILE], execs=["/bin/sh"],
              kill="ptrace", exit_code=159)
    with open(b, "a") as f:
        f.write('{"v":1,"type":"syscall","name":"ope')   # torn last line (SIGKILLed tracejail)
    r = tj("report", str(a), str(b))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "\x1b" not in out and "\\x1b[31mevil\\n\\xff" in out
    lines = out.splitlines()
    top = lines[lines.index("Top denied paths") + 3]
    assert top.split()[0] == "/etc/shadow" and top.split()[-1] == "4"
    assert any("/bin/sh" in ln for ln in lines[lines.index("Top denied programs"):])
    assert any("AF_INET 10.0.0.1:80" in ln for ln in lines)
    assert any("p:9" in ln and "ptrace" in ln for ln in lines[lines.index("Violations"):])
    runs = lines[lines.index("Runs"):]
    assert any("prog 2" in ln and "159" in ln and ln.split()[-1] == "1" for ln in runs)  # 1 bad line

    j = json.loads(tj("report", "--format", "json", str(a), str(b)).stdout)
    calls = {row["syscall"]: row for row in j["syscalls"]}
    assert calls["openat"]["calls"] == 6 and calls["openat"]["denied"] == 5
    assert calls["execve"]["denied"] == 1 and calls["ptrace"]["killed"] == 1
    assert j["violations"][0]["rule"] == "p:9" and j["violations"][0]["count"] == 1
    assert {r["file"] for r in j["runs"]} == {str(a), str(b)}

    text = tj("report", "--format", "csv", str(a)).stdout
    sections = text.split("\n\n")
    assert sections[0].startswith("# Syscalls\n")
    rows = list(csv.reader(io.StringIO(sections[0].split("\n", 1)[1])))
    assert rows[0][:6] == ["syscall", "calls", "allowed", "denied", "killed", "errors"]

    md = tj("report", "--format", "markdown", str(b)).stdout
    assert "### Syscalls" in md and "| syscall" in md and "\x1b" not in md


def test_report_diff(tj, tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    write_run(a, ["p"], opens=["/lib/a"], denied=["/etc/shadow"])
    write_run(b, ["p"], opens=["/lib/a"], denied=["/etc/shadow"], execs=["/bin/sh"],
              connects=[("1.2.3.4", 443)])
    write_run(c, ["p"], opens=["/lib/a"] * 5, denied=["/etc/shadow"])
    r = tj("report", "--diff", str(a), str(b), "--format", "json")
    assert r.returncode == 1, r.stderr
    j = json.loads(r.stdout)
    only_a = [k for k in j if k.startswith("only_in_a")][0]
    only_b = [k for k in j if k.startswith("only_in_b")][0]
    assert j[only_a] == []
    items = {(x["kind"], x["item"]) for x in j[only_b]}
    assert ("program", "/bin/sh") in items and ("address", "AF_INET 1.2.3.4:443") in items
    assert ("syscall", "connect") in items and ("verdict", "execve -> ERRNO(EPERM)") in items
    r = tj("report", "--diff", str(a), str(c))
    assert r.returncode == 0                           # same things, different counts
    assert "openat" in r.stdout.split("Syscall counts that differ")[1]
    assert tj("report", "--diff", str(a), str(a)).returncode == 0


def test_report_usage_errors(tj, tmp_path):
    for args in ([], [str(tmp_path / "missing.jsonl")], ["--format", "xml", "x"],
                 ["--diff", "a"]):
        r = tj("report", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("tracejail: ") and "Traceback" not in r.stderr
