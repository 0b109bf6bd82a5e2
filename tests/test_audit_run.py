"""Acceptance tests of issue 5 through the real CLI: `tracejail run --audit`
on real programs under the shipped default policy, then the records."""
from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracejail.audit.records import unescape

ROOT = Path(__file__).resolve().parent.parent
SYS = ["-R", "/bin", "-R", "/lib", "-R", "/lib64", "-R", "/usr"]


def records(path) -> list[dict]:
    data = Path(path).read_bytes()
    assert data.endswith(b"\n"), data[-300:]
    out = []
    for line in data.split(b"\n")[:-1]:
        assert line.isascii() and all(c >= 0x20 for c in line), line[:300]
        out.append(json.loads(line))
    return out


@pytest.fixture
def jail_dirs(tmp_path, build_dir):
    """(program dir bound at /opt/au, writable dir bound at /tmp, options)."""
    w = tmp_path / "w"
    w.mkdir()
    os.chmod(w, 0o777)
    return w, [*SYS, "-R", f"{build_dir}:/opt/au", "-B", f"{w}:/tmp"]


def test_round_trip_real_program(tj, cc, jail_dirs, tmp_path):
    prog = "/opt/au/" + cc("au_ops.c").name
    _, opts = jail_dirs
    audit = tmp_path / "audit.jsonl"
    r = tj(*opts, "--audit", str(audit), "--audit-results", "--", prog,
           "open:/data/secret", "hostile:/tmp", "connect:10.1.2.3:80", "exec:/nonexistent/prog",
           "creat:/tmp/made", "fault", timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert "open /data/secret EACCES" in out and "connect 10.1.2.3:80 EACCES" in out
    assert "exec /nonexistent/prog EACCES" in out and "creat /tmp/made ok" in out

    recs = records(audit)
    assert recs[0]["type"] == "start" and recs[-1]["type"] == "end"
    assert recs[0]["config"]["argv"][0] == prog and len(recs[0]["policy_digest"]) == 64
    sys_recs = [x for x in recs if x["type"] == "syscall"]
    end = recs[-1]
    assert end["syscalls"] == len(sys_recs) and end["exit_code"] == 0 and end["reason"] == "exited"
    assert end["denied"] == sum(x["verdict"] != "ALLOW" for x in sys_recs) >= 3
    assert all(x["v"] == 1 and x["arch"] == "x86_64" and len(x["args"]) == 6 for x in sys_recs)

    def one(pred):
        found = [x for x in sys_recs if pred(x)]
        assert len(found) == 1, found            # exactly once
        return found[0]

    secret = one(lambda x: x["name"] == "openat" and x["decoded"].get("pathname") == "/data/secret")
    assert secret["nr"] == 257 and secret["verdict"] == "ERRNO" and secret["errname"] == "EACCES"
    assert secret["decoded"]["dirfd"] == "AT_FDCWD"
    assert secret["decoded"]["flags"] == "O_RDONLY|O_CLOEXEC"
    assert secret["resolved"] == {"pathname": "/data/secret"}
    assert secret["rule"].startswith("default.policy:") and secret["ret"] == -13
    assert int(secret["rule"].rsplit(":", 1)[1]) > 0

    made = one(lambda x: x["decoded"].get("pathname") == "/tmp/made")
    assert made["decoded"]["flags"] == "O_WRONLY|O_CREAT|O_TRUNC" and made["decoded"]["mode"] == "0640"
    assert made["verdict"] == "ALLOW" and made["ret"] >= 0

    conn = one(lambda x: x["name"] == "connect")
    assert conn["decoded"]["addr"] == {"family": "AF_INET", "address": "10.1.2.3", "port": 80}
    assert conn["verdict"] == "ERRNO" and conn["errno"] == 13

    first = one(lambda x: x["name"] == "execve" and x["decoded"]["pathname"] == prog)
    assert first["decoded"]["argv"][:2] == [prog, "open:/data/secret"] and first["ret"] == 0
    ex = one(lambda x: x["name"] == "execve" and x["decoded"]["pathname"] == "/nonexistent/prog")
    assert ex["decoded"]["argv"] == ["/nonexistent/prog", "arg\\n1"] and ex["verdict"] == "ERRNO"

    faults = [x for x in sys_recs if x["name"] == "openat" and x["verdict"] == "ERRNO"
              and x.get("errname") == "EFAULT"]
    assert len(faults) == 2
    assert {json.dumps(x["decoded"]["pathname"]) for x in faults} == {"null", '{"fault": "EFAULT"}'}

    # hostile bytes: escaped, still one line each, and reversible to the raw path
    hostile = {unescape(x["decoded"]["pathname"]) for x in sys_recs
               if x["name"] == "openat" and x["decoded"].get("pathname", "").__class__ is str
               and x["decoded"]["pathname"].startswith("/tmp/") and x["decoded"]["pathname"] != "/tmp/made"}
    assert hostile == {b"/tmp/a\nb", b"/tmp/\x1b[31mred\x1b[0m", b"/tmp/\xff\xfe", b'/tmp/q"uote\\back'}

    kinds = [x["type"] for x in recs]
    assert "exec" in kinds and "exit" in kinds
    # the exit report: a per-syscall table on stderr, terminal-safe
    assert "\x1b" not in r.stderr
    table = {ln.split()[0]: ln.split()[1:6] for ln in r.stderr.splitlines()
             if ln.split() and ln.split()[0] in ("openat", "connect", "execve", "total")}
    n_open = sum(x["name"] == "openat" for x in sys_recs)
    assert table["openat"][0] == str(n_open) and table["connect"][:3] == ["1", "0", "1"]
    assert "default.policy:" in r.stderr

    # and the report command reads it back
    rep = tj("report", "--format", "json", str(audit))
    j = json.loads(rep.stdout)
    assert {row["syscall"]: row["calls"] for row in j["syscalls"]}["openat"] == n_open
    assert any(row["path"] == "/data/secret" for row in j["top_denied_paths"])
    assert any(row["address"] == "AF_INET 10.1.2.3:80" for row in j["top_denied_addresses"])


def test_no_report_and_audit_to_stderr(tj, cc, jail_dirs):
    prog = "/opt/au/" + cc("au_ops.c").name
    _, opts = jail_dirs
    r = tj(*opts, "-Q", "--no-report", "--audit", "-", "--", prog, "open:/data/x", timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("{")]
    recs = [json.loads(ln) for ln in lines]
    assert recs[0]["type"] == "start" and recs[-1]["type"] == "end"
    assert any(x.get("decoded", {}).get("pathname") == "/data/x" for x in recs)
    assert "Supervised syscalls" not in r.stderr


def test_audit_max_mb_drops_and_counts(tj, cc, jail_dirs, tmp_path):
    prog = "/opt/au/" + cc("au_ops.c").name
    _, opts = jail_dirs
    audit = tmp_path / "capped.jsonl"
    acts = [f"open:/data/f{i}" for i in range(300)]
    r = tj(*opts, "-Q", "--no-report", "--audit", str(audit), "--audit-max-mb", "0.02", "--",
           prog, *acts, timeout=120)
    assert r.returncode == 0, r.stderr
    recs = records(audit)
    end = recs[-1]
    written = sum(x["type"] == "syscall" for x in recs)
    assert end["type"] == "end" and end["dropped"] > 0
    assert end["syscalls"] >= 300 and written + end["dropped"] >= end["syscalls"]
    assert audit.stat().st_size <= 0.02 * 1024 * 1024 + 4096


def test_sigterm_mid_flood_log_is_complete(cc, jail_dirs, tmp_path):
    """SIGTERM to tracejail while 4 threads flood supervised openat: the log
    is valid JSONL with an end record, totals match the lines, and every open
    that really returned in the jail is in the log."""
    prog = "/opt/au/" + cc("au_flood.c", "-pthread").name
    w, opts = jail_dirs
    (w / "target").write_text("x")
    audit = tmp_path / "flood.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "tracejail", *opts, "-Q", "--audit", str(audit),
                          "--", prog, "/tmp/target", "/tmp/counter", "4"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"ready\n"
        time.sleep(1.0)
        p.send_signal(signal.SIGTERM)
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("tracejail did not end within 30 s of SIGTERM")
    finally:
        if p.poll() is None:
            p.kill()                     # EXITKILL takes the jail with it
            p.communicate(timeout=30)
    assert p.returncode == 128 + signal.SIGTERM, err
    recs = records(audit)
    end = recs[-1]
    assert end["type"] == "end" and end["reason"] == "terminated"
    opens = [x for x in recs if x["type"] == "syscall" and x["name"] == "openat"
             and x["decoded"].get("pathname") == "/tmp/target"]
    assert end["syscalls"] == sum(x["type"] == "syscall" for x in recs)
    assert end["dropped"] == 0
    counter = (w / "counter").read_bytes()
    returned = sum(struct.unpack_from("<Q", counter, 64 * i)[0] for i in range(16))
    assert returned > 50
    assert len(opens) >= returned, (len(opens), returned)
    assert b"Supervised syscalls" in err


def kill_policy(tmp_path) -> Path:
    """Opens are decided by the supervisor; under /kill they kill the jail."""
    p = tmp_path / "kill.policy"
    p.write_text("POLICY au_kill {\n"
                 "  KILL { openat(dirfd, pathname, flags, mode) { path(pathname) under \"/kill\" } }\n"
                 "  ALLOW { openat(dirfd, pathname, flags, mode) { path(pathname) under \"/\" } }\n"
                 "}\n"
                 "USE au_kill DEFAULT ALLOW\n")
    return p


def test_violation_kill_is_recorded_once(tj, cc, jail_dirs, tmp_path):
    prog = "/opt/au/" + cc("au_ops.c").name
    _, opts = jail_dirs
    audit = tmp_path / "kill.jsonl"
    r = tj(*opts, "-P", str(kill_policy(tmp_path)), "--audit", str(audit), "--", prog,
           "open:/data/a", "open:/kill/me", "open:/data/b", timeout=120)
    assert r.returncode == 159, r.stderr
    recs = records(audit)
    paths = [x["decoded"].get("pathname") for x in recs if x["type"] == "syscall"
             and x["name"] == "openat"]
    assert paths.count("/data/a") == 1 and paths.count("/kill/me") == 1
    assert "/data/b" not in paths                           # never ran: the jail was dead
    killed = [x for x in recs if x["type"] == "syscall" and x["decoded"].get("pathname") == "/kill/me"]
    assert killed[0]["verdict"] == "KILL" and killed[0]["rule"].startswith("kill.policy:")
    viol = [x for x in recs if x["type"] == "violation"]
    assert len(viol) == 1 and viol[0]["name"] == "openat" and viol[0]["rule"] == killed[0]["rule"]
    assert viol[0]["call"] == 'openat(AT_FDCWD, "/kill/me", O_RDONLY|O_CLOEXEC)'
    end = recs[-1]
    assert end["type"] == "end" and end["reason"] == "violation" and end["exit_code"] == 159
    assert end["killed"] == 1 and end["violations"] == 1
    assert end["syscalls"] == sum(x["type"] == "syscall" for x in recs)
    assert "violation" in r.stderr and "kill.policy:" in r.stderr     # exit report


def test_timeout_mid_flood_log_is_complete(cc, jail_dirs, tmp_path, tj):
    prog = "/opt/au/" + cc("au_flood.c", "-pthread").name
    w, opts = jail_dirs
    (w / "target").write_text("x")
    audit = tmp_path / "timeout.jsonl"
    r = tj(*opts, "-Q", "--no-report", "-t", "1", "--audit", str(audit), "--", prog,
           "/tmp/target", "/tmp/counter", "2", timeout=60)
    assert r.returncode == 137, r.stderr
    recs = records(audit)
    end = recs[-1]
    assert end["type"] == "end" and end["reason"] == "timeout"
    assert any(x["type"] == "limit" and x["limit"] == "time" for x in recs)
    n = sum(x["type"] == "syscall" for x in recs)
    assert n > 50 and end["syscalls"] == n
    counter = (w / "counter").read_bytes()
    returned = sum(struct.unpack_from("<Q", counter, 64 * i)[0] for i in range(16))
    assert n >= returned


def test_hostile_program_name_does_not_break_the_log(tj, cc, jail_dirs, tmp_path):
    """The jail copies itself to /tmp/"x<LF><ESC>[2J<0xff>" and execs that: the
    exec and execve records carry the name escaped, every line stays one
    ASCII JSON object, and the reports print no raw control bytes."""
    prog = "/opt/au/" + cc("au_ops.c").name
    _, opts = jail_dirs
    audit = tmp_path / "name.jsonl"
    pol = tmp_path / "exec.policy"                # exec of a jail-written file allowed here
    pol.write_text("POLICY au_exec {\n  ALLOW {\n"
                   "    execve(filename, argv, envp) { path(filename) under \"/\" },\n"
                   "    openat(dirfd, pathname, flags, mode) { path(pathname) under \"/\" }\n"
                   "  }\n}\nUSE au_exec DEFAULT ALLOW\n")
    r = tj(*opts, "-P", str(pol), "--audit", str(audit), "--", prog, "copyexec:/tmp",
           "open:/data/after", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "open /data/after ENOENT" in r.stdout, r.stdout
    recs = records(audit)                      # asserts: ASCII, no control bytes, one object a line
    hostile = b"/tmp/x\n\x1b[2J\xff"
    execs = [x for x in recs if x["type"] == "exec"]
    assert [unescape(x["path"]) for x in execs][-1] == hostile
    ex = [x for x in recs if x["type"] == "syscall" and x["name"] == "execve"][-1]
    assert unescape(ex["decoded"]["pathname"]) == hostile and ex["verdict"] == "ALLOW"
    assert unescape(ex["decoded"]["argv"][0]) == hostile
    assert "\x1b" not in r.stderr
    rep = tj("report", str(audit))
    assert rep.returncode == 0 and "\x1b" not in rep.stdout


REUSED_BUFFER = r"""
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    char buf[64];
    for (int i = 0; i < 300; i++) {          /* more than one formatting batch (256) */
        snprintf(buf, sizeof buf, "/etc/tj-%03d", i);
        int fd = open(buf, O_RDONLY);
        if (fd >= 0) close(fd);
    }
    strcpy(buf, "/etc/LAST");                /* what the buffer holds when records are formatted */
    return 0;
}
"""


def test_records_show_arguments_as_they_were_at_the_stop(tj, cc, jail_dirs, tmp_path):
    """Allowed calls are decoded when the writer formats its batch, later than the
    stop: the record must still show the bytes the policy saw, not the buffer's
    later contents (the program rewrites one buffer for every call)."""
    prog = "/opt/au/" + cc(REUSED_BUFFER).name
    _, opts = jail_dirs
    audit = tmp_path / "audit.jsonl"
    r = tj(*opts, "-R", "/etc", "--audit", str(audit), "--", prog, timeout=120)
    assert r.returncode == 0, r.stderr
    opens = [x for x in records(audit) if x["type"] == "syscall" and x["name"] == "openat"
             and "/etc/tj-" in x["decoded"]["pathname"]]
    assert [x["decoded"]["pathname"] for x in opens] == ["/etc/tj-%03d" % i for i in range(300)]
    assert [x["resolved"]["pathname"] for x in opens] == ["/etc/tj-%03d" % i for i in range(300)]
    assert all(x["verdict"] == "ALLOW" for x in opens)
