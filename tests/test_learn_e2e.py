"""learn -> run round trips on real programs, merge, and refusal of what was not learned."""
import re


JAIL = ["-R", "/bin", "-R", "/lib", "-R", "/lib64", "-R", "/usr", "-R", "/etc", "-T", "/tmp"]


def learn(tj, out, cmd, *extra):
    p = tj("learn", "-q", *JAIL, *extra, "-o", str(out), "--", *cmd, timeout=120)
    assert p.returncode == 0, p.stderr
    assert out.exists() and "USE learned DEFAULT KILL" in out.read_text()
    return p


def run(tj, pol, cmd, *extra):
    return tj("run", "-q", *JAIL, *extra, "-P", str(pol), "--no-report", "--", *cmd)


def test_shell_script_round_trip_and_refusal(tj, tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    script = d / "job.sh"
    script.write_text("#!/bin/sh\nset -e\necho start\nls /etc > /tmp/list\nwc -l < /tmp/list >/tmp/n\n"
                      "cat /etc/hostname >/tmp/h\necho done\n")
    script.chmod(0o755)
    pol = tmp_path / "sh.policy"
    first = learn(tj, pol, [str(script)], "-R", str(d))
    assert first.stdout.split() == ["start", "done"]
    text = pol.read_text()
    assert "execve" in text and "path(filename)" in text
    ok = run(tj, pol, [str(script)], "-R", str(d))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["start", "done"]
    # something the learned run did not do: read /etc/passwd
    other = d / "other.sh"
    other.write_text("#!/bin/sh\necho start\ncat /etc/passwd >/tmp/p\necho done\n")
    other.chmod(0o755)
    bad = run(tj, pol, [str(other)], "-R", str(d))
    assert bad.returncode == 159
    assert "done" not in bad.stdout
    assert "policy violation" in bad.stderr


def test_python_import_json_round_trip(tj, tmp_path):
    pol = tmp_path / "py.policy"
    cmd = ["/usr/bin/python3", "-c", "import json; print(json.dumps([1, 2]))"]
    learn(tj, pol, cmd)
    text = pol.read_text()
    # the stdlib is one directory glob, not hundreds of files
    assert re.search(r'path\(filename\) in \[[^]]*"/usr/lib/(python3[^"/]*/)?\*\*"', text), text
    assert "/json/decoder.py" not in text.split("// learn-data")[0]
    ok = run(tj, pol, cmd)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "[1, 2]"
    # the socket module needs syscalls the learned run never made: refused
    bad = run(tj, pol, ["/usr/bin/python3", "-c", "import socket; socket.socket()"])
    assert bad.returncode == 159 and "policy violation" in bad.stderr


def test_c_program_integer_args_and_merge(tj, tmp_path, cc):
    prog = cc("dbg_learn.c")
    pol = tmp_path / "c.policy"
    learn(tj, pol, [str(prog), "/etc/hostname", "unix"], "-R", str(prog.parent))
    text = pol.read_text()
    assert "socket { family == 1 }" in text
    assert re.search(r"prctl \{ option == 0xf \}", text)        # PR_SET_NAME
    assert '"/etc/hostname"' in text
    ok = run(tj, pol, [str(prog), "/etc/hostname", "unix"], "-R", str(prog.parent))
    assert ok.returncode == 0 and "socket unix ok" in ok.stdout, ok.stderr
    # not learned: AF_INET sockets, and reading another file
    bad = run(tj, pol, [str(prog), "/etc/hostname", "inet"], "-R", str(prog.parent))
    assert bad.returncode == 159 and "socket(" in bad.stderr
    bad = run(tj, pol, [str(prog), "/etc/passwd", "unix"], "-R", str(prog.parent))
    assert bad.returncode == 159 and "/etc/passwd" in bad.stderr
    # a second run merged in: both families now pass, nothing else was widened
    merged = tmp_path / "m.policy"
    p = learn(tj, merged, [str(prog), "/etc/hostname", "inet"], "-R", str(prog.parent), "--merge", str(pol))
    assert "2 runs merged" in p.stderr
    assert "socket { family == 1 || family == 2 }" in merged.read_text()
    for fam in ("unix", "inet"):
        ok = run(tj, merged, [str(prog), "/etc/hostname", fam], "-R", str(prog.parent))
        assert ok.returncode == 0, ok.stderr
    assert run(tj, merged, [str(prog), "/etc/hostname", "inet6"], "-R", str(prog.parent)).returncode == 159


def test_learned_policy_keeps_protections(tj, tmp_path, cc):
    """The learned run may use ptrace; the learned policy still kills it."""
    prog = cc('#include <sys/ptrace.h>\n#include <stdio.h>\n'
              'int main(void){ long r = ptrace(PTRACE_TRACEME, 0, 0, 0); printf("r=%ld\\n", r); return 0; }\n')
    pol = tmp_path / "pt.policy"
    p = learn(tj, pol, [str(prog)], "-R", str(prog.parent))
    assert "still kills" in p.stderr and "ptrace" in p.stderr
    body = pol.read_text().split("ALLOW {", 1)[1]
    assert "ptrace" not in body.split("USE learned")[0]
    r = run(tj, pol, [str(prog)], "-R", str(prog.parent))
    assert r.returncode == 159 and "ptrace(" in r.stderr


def test_learn_bad_usage(tj, tmp_path):
    assert tj("learn", "-o", str(tmp_path / "x"), "/bin/true").returncode == 2
    p = tj("learn", *JAIL, "-o", str(tmp_path / "x"), "--merge", str(tmp_path / "missing"), "--", "/bin/true")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert not (tmp_path / "x").exists()


def test_threads_round_trip_without_noise(tj, tmp_path):
    """pthread_create: clone3 answers ENOSYS while learning too, so the clone() flags
    glibc falls back to are learned; learning prints no denial lines for it."""
    pol = tmp_path / "th.policy"
    cmd = ["/usr/bin/python3", "-c", "import threading; t = threading.Thread(target=print, args=('x',));"
           " t.start(); t.join()"]
    p = learn(tj, pol, cmd)
    assert "policy denied" not in p.stderr
    assert re.search(r"clone \{ clone_flags == 0x[0-9a-f]+ \}", pol.read_text())
    ok = run(tj, pol, cmd)
    assert ok.returncode == 0 and ok.stdout.strip() == "x", ok.stderr
