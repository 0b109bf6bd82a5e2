"""`tracejail policy check|explain|dump|eval` through the real CLI."""
from __future__ import annotations

import json

DEFAULT = "policies/default.policy"


def test_check_ok_and_counts(tj):
    p = tj("policy", "check", DEFAULT)
    assert p.returncode == 0, p.stderr
    assert "ok:" in p.stdout and "supervisor" in p.stdout


def test_check_error_location_and_warnings(tj, tmp_path):
    bad = tmp_path / "bad.policy"
    bad.write_text("ALLOW {\n  read { fd == }\n}\n")
    p = tj("policy", "check", str(bad))
    assert p.returncode == 1
    assert p.stderr.startswith(f"{bad}:2:16: ")
    assert "Traceback" not in p.stderr
    w = tmp_path / "w.policy"
    w.write_text("ALLOW { read, read { fd == 1 }, socketcall } DEFAULT KILL\n")
    p = tj("policy", "check", str(w))
    assert p.returncode == 0
    assert f"{w}:1:15: warning: rule for read is unreachable" in p.stderr
    assert "syscall `socketcall' does not exist on x86_64" in p.stderr


def test_eval_lines(tj):
    def ev(call, *extra):
        p = tj("policy", "eval", DEFAULT, call, *extra)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()
    assert ev('openat(AT_FDCWD, "/etc/passwd", O_RDONLY)').startswith("ALLOW rule default.policy:")
    assert ev('openat(AT_FDCWD, "/etc/passwd", O_WRONLY)').startswith("ERRNO(13) rule default.policy:")
    assert ev('openat(AT_FDCWD, "/tmpx/a", O_RDWR|O_CREAT)').startswith("ERRNO(13)")
    assert ev("ioctl(1, 0x100005412)").startswith("KILL_PROCESS rule default.policy:")
    assert ev("SYSCALL[1000]()").startswith("KILL rule default")
    assert ev("getpid()").startswith("ALLOW")
    assert ev('execve("/usr/bin/ls", ["ls"], [])').startswith("ALLOW")
    assert ev('execve("/home/x/evil", ["evil"], [])').startswith("ERRNO(13)")
    assert ev('connect(3, "8.8.8.8:53", 16)').startswith("ERRNO(13)")
    # AF_UNIX paths follow the file rules (C20): host sockets no, scratch dirs yes
    assert ev('connect(3, "/run/dbus", 110)').startswith("ERRNO(13)")
    assert ev('connect(3, "/tmp/x.sock", 110)').startswith("ALLOW")
    assert ev('connect(3, "@abstract", 110)').startswith("ALLOW")
    assert ev('bind(3, "/data/made.sock", 110)').startswith("ERRNO(13)")
    assert ev('bind(3, "unix:", 2)').startswith("ALLOW")
    assert ev('bind(3, "unix:made.sock", 110)', "--cwd", "/tmp").startswith("ALLOW")
    assert ev('bind(3, "unix:../data/made.sock", 110)', "--cwd", "/tmp").startswith("ERRNO(13)")
    assert ev('sendto(3, 0, 0, 0, "/dev/log", 110)').startswith("ERRNO(13)")
    assert ev('sendmsg(3, "/tmp/s", 0)').startswith("ALLOW")
    assert ev("getpid()", "--arch", "i386").startswith("KILL_PROCESS")
    j = json.loads(ev('openat(-100, "/etc/passwd", 0x0)', "--json"))
    assert j["action"] == "ALLOW" and j["decided_in"] == "supervisor" and j["kernel"] == "TRACE(0)"
    assert j["rule"].startswith("default.policy:")


def test_eval_bad_call_is_one_line_error(tj):
    p = tj("policy", "eval", DEFAULT, "openat(AT_FDCWD, ")
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert p.stderr.startswith("tracejail: <call>:1:")


def test_explain_and_dump(tj):
    p = tj("policy", "explain", DEFAULT, "-s", "openat", "-s", "read", "-s", "ioctl")
    assert p.returncode == 0, p.stderr
    lines = {l.split()[0]: l for l in p.stdout.splitlines() if l.split()[:1] in (["openat"], ["read"], ["ioctl"])}
    assert " supervisor " in lines["openat"] and "memory" in lines["openat"]
    assert " kernel " in lines["read"] and " kernel " in lines["ioctl"]
    assert "BPF:" in p.stdout
    d = tj("policy", "dump", DEFAULT)
    assert d.returncode == 0
    assert "ret KILL_PROCESS" in d.stdout and "jge #0x40000000" in d.stdout
    assert "pseudo filter code" in d.stdout


def test_seccomp_string(tj):
    p = tj("policy", "eval", "-e", "ALLOW { read } DEFAULT ERRNO(5)", "write(1, 0, 0)")
    assert p.stdout.startswith("ERRNO(5) rule default"), p.stderr
