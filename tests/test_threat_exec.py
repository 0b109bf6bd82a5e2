"""Threat model D24-D26: exec indirections around an exec rule, and a static
binary whose first instruction is forbidden.  The exec guard allows execve/
execveat only of programs under the test binaries' directory; /bin/echo
(printing RAN-FORBIDDEN) is the forbidden program (tests/progs/tm_exec.c)."""
from __future__ import annotations

import os

import pytest

from test_threat_support import (CANARY, KILLED, assert_killed, no_traceback, prepend_policy, run_batch,  # noqa: F401
                                 run_jail, tm_bindir, tm_cc)

LDSO = "/lib64/ld-linux-x86-64.so.2"
MARK = "RAN-FORBIDDEN"


@pytest.fixture
def prog(tm_cc):
    return tm_cc("tm_exec.c")


@pytest.fixture
def exec_guard(tmp_path, prog):
    return _exec_guard(tmp_path, prog)


def _exec_guard(tmp_path, prog):
    d = prog.parent
    body = ("  ERRNO(13) {\n"
            f'    execve(filename, argv, envp) {{ !(path(filename) under "{d}") }},\n'
            f'    execveat(dirfd, filename, argv, envp, flags) {{ !(path(filename) under "{d}") }}\n'
            "  }\n")
    return prepend_policy(tmp_path, body, "exec.policy")


def _not_run(r):
    assert MARK not in r.out, f"forbidden program ran\n{r}"
    assert r.rc in (0, KILLED), str(r)
    no_traceback(r)


def test_exec_guard_control(tj, prog, exec_guard, tm_cc):
    """The guard lets a program from the allowed directory run and refuses /bin/echo."""
    ok = tm_cc("tm_status.c")
    r = run_jail(tj, prog, "direct", str(ok), policy=exec_guard)
    assert "STATUS Seccomp" in r.out, str(r)
    r = run_jail(tj, prog, "direct", "/bin/echo", policy=exec_guard)
    assert r.errno_of("execve") == "EACCES", str(r)
    _not_run(r)


INDIRECT = ["execveat", "fexecve", "opath_fexecve", "memfd", "procfd", "copy"]


@pytest.fixture(scope="module")
def indirect_runs(tm_cc, tmp_path_factory):
    p = tm_cc("tm_exec.c")
    pol = _exec_guard(tmp_path_factory.mktemp("exec"), p)
    return run_batch({m: (p, (m, "/bin/echo", "/tmp/tm_payload"), {"policy": pol}) for m in INDIRECT})


@pytest.mark.parametrize("mode", INDIRECT)
def test_d24_exec_indirections(indirect_runs, mode):
    """memfd+execveat(AT_EMPTY_PATH), fexecve, exec /proc/self/fd/N, a copy in
    /tmp: the decision follows the file actually executed."""
    _not_run(indirect_runs[mode])


def test_d24_execveat_dirfd(tj, prog, exec_guard):
    r = run_jail(tj, prog, "execveat_dirfd", "/bin", "echo", policy=exec_guard)
    _not_run(r)


def test_d24_shebang_to_forbidden_interpreter(tj, prog, exec_guard):
    """The script is in the allowed directory; its interpreter is not.  The
    kernel loads the interpreter without a syscall the filter could see."""
    script = prog.parent / "tm_shebang.sh"
    script.write_text("#!/bin/echo RAN-FORBIDDEN\n")
    os.chmod(script, 0o755)
    r = run_jail(tj, prog, "direct", str(script), policy=exec_guard)
    _not_run(r)


def test_d24_ldso_runs_forbidden_elf(tj, prog, exec_guard):
    r = run_jail(tj, prog, "ldso", "/bin/echo", LDSO, policy=exec_guard)
    _not_run(r)


@pytest.mark.parametrize("mode", ["copy", "copy_ldso"])
def test_d24_jail_written_file_not_executable_by_default(tj, prog, mode):
    """Under the shipped default: a file the jail wrote into its tmpfs must not
    run, directly or through ld.so."""
    extra = "/tmp/tm_payload" if mode == "copy" else LDSO
    r = run_jail(tj, prog, mode, "/bin/echo", extra)
    _not_run(r)


def test_d24_prot_exec_mmap_of_jail_written_file(tj, prog):
    r = run_jail(tj, prog, "mmap_exec", "/bin/echo", "/tmp/tm_payload")
    assert not r.achieved("mmap PROT_EXEC jail-written file"), str(r)
    assert r.rc in (0, KILLED), str(r)


def test_d26_static_binary_first_instruction_killed(tj, tm_cc):
    """No libc, no loader: the filter must already be in place at _start."""
    st = tm_cc("tm_static.c", "-static", "-nostdlib")
    r = run_jail(tj, st)
    assert_killed(r, "static ptrace TRACEME")
    assert "BLOCKED static" not in r.out


def test_d25_setuid_binary_gains_nothing(tm_cc, tm_bindir, tj):
    """A setuid/setgid binary owned by a uid that *is* mapped in the jail (jail
    root = outside 100000) run by jail uid 1000: natively the bits work (control),
    in the jail no_new_privs keeps euid 1000 and no capabilities."""
    import shutil
    import subprocess
    st = tm_cc("tm_status.c")
    suid = tm_bindir / "tm_status_suid"
    shutil.copy2(st, suid)
    os.chown(suid, 100000, 100000)
    os.chmod(suid, 0o6755)

    def drop():
        os.setgid(101000)
        os.setuid(101000)
    native = subprocess.run([str(suid)], capture_output=True, text=True, preexec_fn=drop, timeout=30)
    assert "euid=100000" in native.stdout, native.stdout          # the setuid bit is live on this mount
    r = run_jail(tj, suid, opts=["-u", "1000:101000", "-g", "1000:101000", "-U", "0:100000:1", "-G", "0:100000:1"])
    assert r.rc == 0, str(r)
    assert "euid=1000" in r.out, f"setuid honoured inside the jail\n{r}"
    assert "STATUS CapEff:\t0000000000000000" in r.out, str(r)
    assert "STATUS NoNewPrivs:\t1" in r.out, str(r)
