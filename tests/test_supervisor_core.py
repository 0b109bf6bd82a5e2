"""Supervisor on the real kernel, without the launcher: the test forks a child,
seizes it, the child loads a pyseccomp filter that routes chosen syscalls to
SECCOMP_RET_TRACE and execs a C program; the Supervisor decides with a small
policy object whose decide() is written here.  Also the harness other
test_supervisor_* files import."""
from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from tracejail.policy.syscalls import PATH_ARGS
from tracejail.supervisor import Supervisor
from tracejail.verdict import Verdict

TRACED = ("open", "openat", "openat2", "creat", "execve", "execveat", "chdir", "clone",
          "unlink", "stat", "newfstatat")


class PrefixPolicy:
    """Allow path syscalls whose resolved path is under one of ``allow``;
    deny others with EACCES (or kill if ``kill``); execve allowed under ``exec_ok``."""

    SYSTEM = ("/etc/ld.so.cache", "/lib", "/lib64", "/usr/lib", "/usr/lib64")

    def __init__(self, allow=(), exec_ok=("/",), kill=False):
        self.allow = tuple(allow) + self.SYSTEM
        self.exec_ok = tuple(exec_ok)
        self.kill = kill
        self.seen: list[tuple[str, str]] = []

    @staticmethod
    def _under(p, prefixes):
        return any(p == d or p.startswith(d.rstrip("/") + "/") for d in prefixes)

    def decide(self, call):
        name = call.name
        if name in ("execve", "execveat"):
            p = call.path(0 if name == "execve" else 1)
            self.seen.append((name, p))
            return Verdict("ALLOW", rule="exec") if self._under(p, self.exec_ok) \
                else Verdict("ERRNO", errno.EACCES, rule="exec-deny")
        if name not in PATH_ARGS:
            return Verdict("ALLOW", rule="no-path")
        p = call.path(PATH_ARGS[name][0][0])
        self.seen.append((name, p))
        if self._under(p, self.allow):
            return Verdict("ALLOW", rule="allow")
        return Verdict("KILL", rule="kill") if self.kill else Verdict("ERRNO", errno.EACCES, rule="deny")


class ListAudit:
    """Records every audit call (stands in for tracejail.audit.AuditLog)."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def rec(*a, **k):
            self.calls.append((name, a, k))
        return rec

    def of(self, name):
        return [c for c in self.calls if c[0] == name]


def supervise(argv, policy, tmp_path, trace=TRACED, config=None, audit=None, deadline=None,
              cwd=None, extra_filter=None, on_start=None, leak=None, setup=None):
    """Run argv under a fresh Supervisor; returns (outcome, stdout text, supervisor)."""
    import pyseccomp
    out = tmp_path / f"out-{time.monotonic_ns()}.txt"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            os.read(r, 1)
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            for n, p in (leak or {}).items():     # fds the jailed program inherits
                os.dup2(os.open(p, os.O_RDONLY), n, inheritable=True)
            if setup:
                setup()
            if cwd:
                os.chdir(cwd)
            f = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
            for n in trace:
                f.add_rule(pyseccomp.TRACE(0), n)
            if extra_filter:
                extra_filter(f, pyseccomp)
            f.load()
            os.execv(argv[0], [str(a) for a in argv])
        finally:
            os._exit(127)
    os.close(r)
    sup = Supervisor(policy, audit, config)
    sup.attach(pid)
    if on_start:
        on_start(pid)
    os.write(w, b"x")
    os.close(w)
    outcome = sup.run(pid, deadline)
    return outcome, out.read_text(), sup


def lines(text):
    return [ln for ln in text.splitlines() if ln.strip()]


@pytest.fixture
def tree(tmp_path):
    """/allowed with a file, a secret outside, and symlink tricks made inside /allowed."""
    base = tmp_path / "t"
    (base / "allowed" / "sub").mkdir(parents=True)
    (base / "allowed" / "f").write_text("ok")
    (base / "allowedX").mkdir()
    (base / "allowedX" / "f").write_text("x")
    (base / "secret").write_text("secret")
    os.symlink(base / "secret", base / "allowed" / "abs_link")
    os.symlink("../secret", base / "allowed" / "rel_link")
    os.symlink("f", base / "allowed" / "ok_link")
    os.symlink(base / "nowhere", base / "allowed" / "dangling")
    os.symlink(base / "allowed", base / "link_to_allowed")
    return base


def test_allow_and_deny_by_path(cc, tree, tmp_path):
    prog = cc("sv_paths.c")
    pol = PrefixPolicy(allow=[str(tree / "allowed"), str(Path(prog).parent)])
    out, text, _ = supervise([prog, f"open:{tree}/allowed/f", f"open:{tree}/secret"], pol, tmp_path)
    assert out.reason == "exited" and out.exit_code == 0, text
    assert lines(text) == [f"open {tree}/allowed/f ok", f"open {tree}/secret EACCES"]


def test_path_tricks_against_prefix_rule(cc, tree, tmp_path):
    prog = cc("sv_paths.c")
    A = str(tree / "allowed")
    pol = PrefixPolicy(allow=[A])
    acts = [f"open:{A}/../secret", f"open:/{A}/./sub/../../secret", f"open:{A}X/f",
            f"open:{A}/abs_link", f"open:{A}/rel_link", f"open:{A}/ok_link",
            f"open:{tree}/link_to_allowed/f", f"creat:{A}/dangling",
            f"nofollow:{A}/abs_link", f"open:{A}/f/", f"chdir:{A}/sub", "open:../f",
            "open:../../secret", "open:../rel_link", f"openat:{A}/sub:../f",
            f"openat:{A}/sub:../../secret", f"openat:{A}:/{tree}/secret"]
    out, text, _ = supervise([prog, *acts], pol, tmp_path)
    assert out.reason == "exited", text
    res = lines(text)
    assert res == [
        f"open {A}/../secret EACCES", f"open /{A}/./sub/../../secret EACCES",
        f"open {A}X/f EACCES", f"open {A}/abs_link EACCES", f"open {A}/rel_link EACCES",
        f"open {A}/ok_link ok", f"open {tree}/link_to_allowed/f ok",
        f"creat {A}/dangling EACCES",          # O_CREAT through a dangling link creates outside
        f"nofollow {A}/abs_link ok",           # the link itself lives under the prefix
        f"open {A}/f/ ENOTDIR",                # allowed by rule, the kernel then refuses
        f"chdir {A}/sub ok", "open ../f ok", "open ../../secret EACCES", "open ../rel_link EACCES",
        f"openat {A}/sub ok" if False else "openat ../f ok", "openat ../../secret EACCES",
        f"openat /{tree}/secret EACCES"], text
    assert not (tree / "nowhere").exists()


def test_unreadable_paths_fail_like_the_kernel(cc, tree, tmp_path):
    prog = cc("sv_paths.c")
    A = str(tree / "allowed")
    pol = PrefixPolicy(allow=["/"])
    acts = ["null", f"span:{A}/f", f"edge:{A}/f", f"long:4095:{A}", f"long:4096:{A}",
            f"long:4097:{A}"]
    out, text, _ = supervise([prog, *acts], pol, tmp_path)
    assert out.reason == "exited", text
    assert lines(text) == ["null - EFAULT", f"span {A}/f EFAULT", f"edge {A}/f ok",
                           "long 4095 ok", "long 4096 ENAMETOOLONG", "long 4097 ENAMETOOLONG"]


def test_kill_verdict_kills_jail_and_reports(cc, tree, tmp_path):
    prog = cc("sv_paths.c")
    A = str(tree / "allowed")
    audit = ListAudit()
    pol = PrefixPolicy(allow=[A], kill=True)
    out, text, _ = supervise([prog, f"open:{A}/f", f"creat:{tree}/canary", f"open:{A}/f"], pol,
                             tmp_path, audit=audit, trace=("openat", "execve"))
    assert out.exit_code == 159 and out.reason == "violation"
    v = out.violation
    assert v["syscall"] == "openat" and v["rule"] == "kill" and v["resolved"] == {1: f"{tree}/canary"}
    assert lines(text) == [f"open {A}/f ok"]
    assert not (tree / "canary").exists()
    assert audit.of("violation")


def test_proc_magic_links_resolve_to_their_objects(cc, tree, tmp_path):
    """Threat #19: /proc/self/fd/N, /dev/fd/N, /proc/self/root, /proc/self/cwd and
    /proc/thread-self are judged by the object they name, not by their text."""
    prog = cc("sv_paths.c", "-lpthread")
    A = str(tree / "allowed")
    pol = PrefixPolicy(allow=[A, "/proc", "/dev"])
    acts = ["open:/proc/self/fd/5", "open:/dev/fd/5", "open:/proc/self/fd/6",
            f"open:/proc/self/root{tree}/secret", "open:/proc/self/cwd/../secret",
            "open:/proc/self/cwd/f", "open:/proc/thread-self/fd/5", "open:/proc/self/fd/7/../secret",
            "nofollow:/proc/self/fd/5"]
    out, text, _ = supervise([prog, *acts], pol, tmp_path, cwd=A,
                             leak={5: str(tree / "secret"), 6: f"{A}/f", 7: A})
    assert out.reason == "exited", text
    assert lines(text) == [
        "open /proc/self/fd/5 EACCES", "open /dev/fd/5 EACCES", "open /proc/self/fd/6 ok",
        f"open /proc/self/root{tree}/secret EACCES", "open /proc/self/cwd/../secret EACCES",
        "open /proc/self/cwd/f ok", "open /proc/thread-self/fd/5 EACCES",
        "open /proc/self/fd/7/../secret EACCES",
        "nofollow /proc/self/fd/5 ok"]        # O_PATH|O_NOFOLLOW on the link itself: /proc/PID/fd/5
    assert ("openat", f"{A}/f") in pol.seen


def _jail_setup(root, binds):
    """In the child: private mount namespace, bind mounts, chroot."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.unshare(0x00020000) == 0                       # CLONE_NEWNS
    assert libc.mount(b"none", b"/", None, 0x40000 | 0x4000, None) == 0   # MS_PRIVATE|MS_REC
    for src, dst in binds:
        assert libc.mount(str(src).encode(), str(dst).encode(), None, 0x1000, None) == 0  # MS_BIND
    os.chroot(root)
    os.chdir("/")


def test_paths_in_chroot_with_bind_mounts(cc, tree, tmp_path):
    """Inside a chroot with a bind mount the policy sees the jail's paths: the
    kernel prints host paths for /proc/PID/{root,cwd,fd} and the supervisor
    strips the tracee's root; bind-mounted directories keep their jail path."""
    import shutil
    prog = cc("sv_paths.c", "-static")
    root = tmp_path / "root"
    for d in ("data", "bin", "outside_link_dir"):
        (root / d).mkdir(parents=True)
    shutil.copy(prog, root / "bin" / "p")
    (root / "secret").write_text("s")
    os.symlink("/secret", root / "data_link")                  # absolute: inside the jail root
    pol = PrefixPolicy(allow=["/data", "/bin"])
    acts = ["open:/data/f", "open:/data/../secret", "open:/secret", "open:/data_link",
            "open:/../../../../data/f", "chdir:/data", "open:f", "open:../secret", "open:sub/../f",
            f"open:{tree}/secret"]
    out, text, _ = supervise(["/bin/p", *acts], pol, tmp_path,
                             setup=lambda: _jail_setup(str(root), [(tree / "allowed", root / "data")]))
    assert out.reason == "exited", text
    assert lines(text) == ["open /data/f ok", "open /data/../secret EACCES", "open /secret EACCES",
                           "open /data_link EACCES", "open /../../../../data/f ok", "chdir /data ok",
                           "open f ok", "open ../secret EACCES", "open sub/../f ok",
                           f"open {tree}/secret EACCES"]
    assert ("openat", "/data/f") in pol.seen and ("openat", "/secret") in pol.seen


def test_openat2_in_root_and_empty_path(cc, tree, tmp_path):
    """openat2(RESOLVE_IN_ROOT) resolves absolute paths and `..` inside dirfd,
    as the kernel does; AT_EMPTY_PATH names dirfd itself."""
    prog = cc("sv_paths.c", "-lpthread")
    A = str(tree / "allowed")
    pol = PrefixPolicy(allow=[A])
    out, text, _ = supervise([prog, f"in_root:{A}:/f", f"in_root:{A}:/../../f", f"in_root:{tree}:/secret",
                              f"in_root:{tree}:/allowed/f", f"empty:{A}", f"empty:{tree}"],
                             pol, tmp_path, trace=("openat2", "newfstatat", "execve"))  # dir opens untraced
    assert out.reason == "exited", text
    assert lines(text) == ["in_root /f ok", "in_root /../../f ok", "in_root /secret EACCES",
                           "in_root /allowed/f ok", f"empty {A} ok", f"empty {tree} EACCES"]
    assert ("openat2", f"{A}/f") in pol.seen and ("newfstatat", str(tree)) in pol.seen
