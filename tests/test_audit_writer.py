"""AuditLog on real files: JSONL validity, escaping, caps, held results,
exactly-once under signals, write errors.  (issue 5)"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracejail.audit import AuditLog, AuditWriteError
from tracejail.audit.records import escape_bytes, escape_str, unescape
from tracejail.errors import SetupError
from tracejail.verdict import Verdict

ROOT = Path(__file__).resolve().parent.parent
ALLOW = Verdict("ALLOW", rule="t.policy:2")
DENY = Verdict("ERRNO", 13, rule="t.policy:3")
KILL = Verdict("KILL", rule="t.policy:4")


def records(path) -> list[dict]:
    """Every line must be one complete JSON object (ASCII, no raw control chars)."""
    data = Path(path).read_bytes()
    assert data.endswith(b"\n"), data[-200:]
    out = []
    for line in data.split(b"\n")[:-1]:
        assert line.isascii() and all(c >= 0x20 for c in line), line
        out.append(json.loads(line))
    return out


def sc(log, name="openat", verdict=ALLOW, **kw):
    kw.setdefault("decoded", {"dirfd": "AT_FDCWD", "pathname": "/x", "flags": "O_RDONLY"})
    log.syscall(pid=kw.pop("pid", 10), tid=kw.pop("tid", 10), arch="x86_64", nr=257, name=name,
                args=(0xFFFFFF9C, 1, 0, 0, 0, 0), verdict=verdict, **kw)


def test_records_round_trip(tmp_path):
    p = tmp_path / "a.jsonl"
    log = AuditLog(str(p))
    log.start({"argv": ["/bin/x", "a\nb"]}, "digest1")
    sc(log, resolved={1: "/real/x"})
    sc(log, verdict=DENY)
    log.process("spawn", 11, parent=10)
    log.signal(11, signal.SIGSEGV)
    log.limit("time", seconds=3)
    sc(log, name="ptrace", verdict=KILL, decoded={"request": "PTRACE_ATTACH"})
    log.violation(pid=10, tid=10, name="ptrace", nr=101, arch="x86_64",
                  decoded={"request": "PTRACE_ATTACH"}, verdict=KILL)
    log.process("exit", 10, code=0)
    log.end(159, "violation")
    recs = records(p)
    assert [r["type"] for r in recs] == ["start", "syscall", "syscall", "spawn", "signal", "limit",
                                         "syscall", "violation", "exit", "end"]
    assert all(r["v"] == 1 for r in recs)
    start, s1, s2 = recs[0], recs[1], recs[2]
    assert start["policy_digest"] == "digest1" and start["config"]["argv"] == ["/bin/x", "a\\nb"]
    assert s1["name"] == "openat" and s1["nr"] == 257 and s1["args"][0] == 0xFFFFFF9C
    assert s1["decoded"]["flags"] == "O_RDONLY" and s1["verdict"] == "ALLOW"
    assert s1["rule"] == "t.policy:2" and s1["resolved"] == {"pathname": "/real/x"}
    assert s2["verdict"] == "ERRNO" and s2["errno"] == 13 and s2["errname"] == "EACCES"
    assert recs[4]["signal"] == "SIGSEGV"
    assert recs[7]["call"] == "ptrace(PTRACE_ATTACH)" and recs[7]["rule"] == "t.policy:4"
    end = recs[-1]
    assert end["syscalls"] == 3 and end["allowed"] == 1 and end["denied"] == 1
    assert end["killed"] == 1 and end["violations"] == 1 and end["dropped"] == 0
    assert end["exit_code"] == 159 and end["records"] == len(recs)
    s = log.summary()
    assert s["openat"]["calls"] == 2 and s["openat"]["denied"] == 1 and s["ptrace"]["killed"] == 1


def test_lifecycle_strings_are_escaped_too(tmp_path):
    p = tmp_path / "l.jsonl"
    log = AuditLog(str(p))
    log.start({"argv": ["/bin/x", "a\nb\x1b[0m"], "cwd": "/tmp/\udcff"}, "d")
    log.process("exec", 5, path="/tmp/x\n\x1b[2J\udcff")
    log.end(0, "exited")
    recs = records(p)
    assert unescape(recs[1]["path"]) == b"/tmp/x\n\x1b[2J\xff"
    assert recs[0]["config"]["argv"][1] == "a\\nb\\x1b[0m"
    assert unescape(recs[0]["config"]["cwd"]) == b"/tmp/\xff"


def test_end_is_idempotent_and_late_records_get_a_new_end(tmp_path):
    p = tmp_path / "a.jsonl"
    log = AuditLog(str(p))
    sc(log)
    log.end(0, "exited")
    log.end(0, "exited")
    assert [r["type"] for r in records(p)] == ["syscall", "end"]
    sc(log)                                   # a straggler after end: written, never lost
    log.end(0, "exited")
    recs = records(p)
    assert [r["type"] for r in recs] == ["syscall", "end", "syscall", "end"]
    assert recs[-1]["syscalls"] == 2


@pytest.mark.parametrize("raw", [b"/tmp/a\nb", b"/tmp/\x1b[31mred\x1b[0m", b"/tmp/\xff\xfe",
                                 b'/tmp/q"uote\\back', b"/tmp/\xe2\x80\xae" + b"txt.exe",
                                 b"/tmp/\x00nul", "/tmp/caf\u00e9".encode()])
def test_hostile_bytes_are_escaped_and_reversible(tmp_path, raw):
    text = escape_bytes(raw)
    assert text.isprintable() and unescape(text) == raw
    p = tmp_path / "h.jsonl"
    log = AuditLog(str(p))
    sc(log, decoded={"pathname": text}, resolved={"pathname": os.fsdecode(raw)})
    log.end(0, "exited")
    recs = records(p)
    assert len(recs) == 2
    assert unescape(recs[0]["decoded"]["pathname"]) == raw
    assert unescape(recs[0]["resolved"]["pathname"]) == raw


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_escape_is_total_and_reversible(raw):
    text = escape_bytes(raw)
    assert text.isprintable() and "\n" not in text
    assert unescape(text) == raw
    assert escape_str(os.fsdecode(raw)) == text


def test_cap_counts_instead_of_writing(tmp_path):
    p = tmp_path / "cap.jsonl"
    log = AuditLog(str(p), max_mb=0.01)       # ~10 KB
    log.start({"argv": ["x"]}, "d")
    for _ in range(2000):
        sc(log, verdict=DENY)
    log.end(1, "exited")
    recs = records(p)
    assert p.stat().st_size < 0.01 * 1024 * 1024 + 2048
    end = recs[-1]
    written = sum(r["type"] == "syscall" for r in recs)
    assert end["type"] == "end" and end["dropped"] == 2000 - written > 0
    assert end["syscalls"] == 2000 and end["denied"] == 2000   # counters keep counting
    assert log.summary()["openat"]["calls"] == 2000


def test_counters_without_file():
    log = AuditLog(None)
    for _ in range(5):
        sc(log)
    sc(log, verdict=DENY, retval=-13)
    sc(log, verdict=ALLOW, retval=-2)
    sc(log, verdict=DENY, mode="would-deny")
    sc(log, verdict=Verdict("ERRNO", 5, rule="inject"), mode="injected")
    log.end(0, "exited")
    c = log.summary()["openat"]
    assert c == {"calls": 9, "allowed": 7, "denied": 1, "killed": 0, "errors": 3,
                 "would_deny": 1, "would_kill": 0, "injected": 1}
    kinds = {d["mode"]: d["count"] for d in log.denials()}
    assert kinds == {"denied": 1, "would-deny": 1, "injected": 1}


def test_held_results_and_unfinished(tmp_path):
    p = tmp_path / "r.jsonl"
    log = AuditLog(str(p))
    sc(log, tid=1, await_result=True)
    sc(log, tid=2, await_result=True)
    sc(log, tid=3, await_result=True)
    sc(log, tid=4, unfinished=True)           # the supervisor saw the task die first
    log.result(1, (1 << 64) - 2)              # -ENOENT as the raw register value
    log.process("exit", 2)                    # task 2 died inside its syscall
    log.end(137, "timeout")                   # task 3 never came back
    recs = [r for r in records(p) if r["type"] == "syscall"]
    by_tid = {r["tid"]: r for r in recs}
    assert len(recs) == 4 and set(by_tid) == {1, 2, 3, 4}
    assert by_tid[1]["ret"] == -2 and by_tid[1]["ret_errno"] == "ENOENT"
    assert "unfinished" not in by_tid[1]
    assert by_tid[2]["unfinished"] is True and by_tid[3]["unfinished"] is True
    assert by_tid[4]["unfinished"] is True
    assert records(p)[-1]["unfinished"] == 3
    assert log.summary()["openat"]["errors"] == 1


def test_stderr_mode():
    code = textwrap.dedent("""
        from tracejail.audit import AuditLog
        from tracejail.verdict import Verdict
        log = AuditLog("-")
        log.syscall(pid=1, tid=1, arch="x86_64", nr=2, name="open", args=(0,) * 6,
                    decoded={"pathname": "a\\\\nb"}, verdict=Verdict("ALLOW"))
        log.end(0, "exited")
        print("stdout-ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=30)
    assert r.returncode == 0 and r.stdout == "stdout-ok\n", r.stderr
    lines = r.stderr.splitlines()
    assert [json.loads(x)["type"] for x in lines] == ["syscall", "end"]


def test_open_failure_is_a_setup_error(tmp_path):
    with pytest.raises(SetupError):
        AuditLog(str(tmp_path / "no" / "such" / "dir.jsonl"))


def test_write_error_fails_closed():
    log = AuditLog("/dev/full", flush_bytes=1, batch=1)
    with pytest.raises(AuditWriteError):
        sc(log)
    log.end(1, "exited")                       # never raises
    assert log.write_error


def test_file_is_created_private_and_truncated(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text("old junk that is not json\n" * 10)
    log = AuditLog(str(p))
    log.end(0, "exited")
    assert [r["type"] for r in records(p)] == ["end"]


FLOOD = textwrap.dedent("""
    import os, signal, sys
    from tracejail.audit import AuditLog
    from tracejail.verdict import Verdict
    log = AuditLog(sys.argv[1], flush_bytes=int(sys.argv[2]), batch=int(sys.argv[4]))
    log.start({"argv": ["flood"]}, "d")
    mode = sys.argv[3]
    stop = []
    def on_term(signo, frame):
        if mode == "direct":
            log.end(143, "terminated")        # from the handler, mid-whatever
            os._exit(0)
        if mode == "raise":
            raise KeyboardInterrupt           # unwinds through whatever the writer was doing
        stop.append(signo)                   # the runner's way: flag, then end() in the main path
    signal.signal(signal.SIGTERM, on_term)
    if mode == "raise":                      # a second thread: the kernel may hand it the signal
        import threading
        threading.Thread(target=lambda: threading.Event().wait(), daemon=True).start()
    v = Verdict("ALLOW", rule="r:1")
    i = 0
    print("ready", flush=True)
    try:
        while not stop:
            i += 1
            log.syscall(pid=1, tid=1, arch="x86_64", nr=257, name="openat", args=(i, 0, 0, 0, 0, 0),
                        decoded={"pathname": "/tmp/f\\n%d" % i, "flags": "O_RDONLY"}, verdict=v)
    except KeyboardInterrupt:
        pass
    log.end(143, "terminated")
""")


@pytest.mark.parametrize("mode,flush,batch", [("flag", 65536, 256), ("direct", 300, 7),
                                              ("direct", 1, 1), ("raise", 300, 7)])
def test_sigterm_mid_flood_leaves_complete_log(tmp_path, mode, flush, batch):
    """SIGTERM while records pour in: every line complete, an end record last,
    each call exactly once (args[0] is a sequence number), totals match."""
    for attempt in range(2):                     # two timings per variant
        p = tmp_path / f"flood-{attempt}.jsonl"
        proc = subprocess.Popen([sys.executable, "-c", FLOOD, str(p), str(flush), mode, str(batch)],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline() == "ready\n"
        time.sleep(0.15 + 0.2 * attempt)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        recs = records(p)
        assert recs[0]["type"] == "start" and recs[-1]["type"] == "end"
        seq = [r["args"][0] for r in recs if r["type"] == "syscall"]
        assert seq == list(range(1, len(seq) + 1))          # none lost, none twice, in order
        assert len(seq) > 100
        end = recs[-1]
        if end.get("interrupted"):
            assert end["syscalls"] in (len(seq), len(seq) - 1)
        else:
            assert end["syscalls"] == len(seq)
        assert end["records"] == len(recs) and end["dropped"] == 0
