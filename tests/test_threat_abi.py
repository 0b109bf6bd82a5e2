"""Threat model A1-A6 (ABI and filter) and E30 (terminal injection): foreign
ABIs, x32 numbers, high argument bits, forgotten syscalls, clone3, io_uring,
each tried by tests/progs/tm_abi.c inside a real jail under the default policy.
Each item is its own jail (most die at their first call); they run
concurrently in one module fixture and each test checks its own result."""
from __future__ import annotations

import os

import pytest

from test_threat_support import (KILLED, assert_killed, assert_refused, no_traceback, run_batch, tm_bindir,  # noqa: F401
                                 tm_cc, violations)

DEFAULT_POLICY = "policies/default.policy"
I386 = ["i386_getpid", "i386_open", "i386_openat"]
X32 = ["x32_getpid", "x32_openat", "x32_execve"]
IOCTLS = [("tiocsti", "ioctl TIOCSTI"), ("tiocsti_hi", "ioctl TIOCSTI|1<<32"),
          ("tioclinux", "ioctl TIOCLINUX"), ("tioclinux_hi", "ioctl TIOCLINUX|1<<32")]
FORGOTTEN = [("fsopen", "fsopen tmpfs"), ("fsconfig", "fsconfig"), ("fsmount", "fsmount"),
             ("move_mount", "move_mount"), ("open_tree", "open_tree clone /tmp"),
             ("mount_setattr", "mount_setattr / rw"), ("pidfd_getfd", "pidfd_getfd"),
             ("process_madvise", "process_madvise"), ("nr1000", "syscall 1000")]
URING = ["io_uring_setup", "io_uring_enter", "io_uring_register"]
OTHER = ["no-such-mode", "nr_520", "clone3_newuser", "clone3_plain"]


@pytest.fixture(scope="module")
def runs(tm_cc, tmp_path_factory):
    """mode -> Run; the file-creating modes get a writable host bind at /out
    (returned as runs['outdir:'+mode]) and an audit log."""
    abi = tm_cc("tm_abi.c")
    jobs, outs = {}, {}
    for mode in I386 + X32:
        tmp = tmp_path_factory.mktemp(mode)
        out = tmp / "out"
        out.mkdir()
        os.chmod(out, 0o777)
        outs[mode] = out
        jobs[mode] = (abi, (mode, "/out/canary"), {"opts": ["-B", f"{out}:/out"], "audit_path": tmp / "a.jsonl"})
    for mode in [m for m, _ in IOCTLS + FORGOTTEN] + URING + OTHER:
        jobs[mode] = (abi, (mode,), {})
    res = run_batch(jobs)
    res.update({f"outdir:{m}": o for m, o in outs.items()})
    return res


def test_control_program_runs_in_jail(runs):
    """Without this, every 'killed' assertion below could pass on a broken jail."""
    r = runs["no-such-mode"]
    assert r.rc == 2 and "usage: unknown mode" in r.out, str(r)


@pytest.mark.parametrize("mode", I386)
def test_a1_i386_int80_killed(runs, mode):
    """int 0x80 from a 64-bit process uses i386 numbers (5 = open); the filter's
    arch check must kill it before any number is compared, the canary in a
    writable host bind must not appear, and the audit names the foreign arch."""
    r = runs[mode]
    assert_killed(r, "i386")
    assert not (runs[f"outdir:{mode}"] / "canary").exists()
    v = violations(r)
    assert v, f"audit has no violation record for the i386 syscall\n{r.audit_raw[-2000:]!r}"
    assert any("i386" in str(rec) for rec in v), f"violation does not name the foreign arch: {v}"


@pytest.mark.parametrize("mode", X32)
def test_a2_x32_numbers_killed(runs, mode):
    """nr | 0x40000000 (x32) must never reach an ALLOW, even for getpid."""
    r = runs[mode]
    assert_killed(r, "x32")
    assert not (runs[f"outdir:{mode}"] / "canary").exists()


def test_a2_x32_execve_number_without_x32_bit(runs):
    assert_refused(runs["nr_520"], "nr 520")


@pytest.mark.parametrize("mode,what", IOCTLS)
def test_a3_e30_terminal_injection_ioctls_refused(runs, mode, what):
    """stdin is a pipe: ENOTTY would prove the ioctl reached the tty layer,
    i.e. the filter let it through (with high bits set the kernel still sees
    TIOCSTI, CVE-2019-7303)."""
    assert_refused(runs[mode], what)


def test_a3_high_bits_same_verdict_in_policy(tj):
    """The compiled policy must mask ioctl's cmd to 32 bits, as the kernel does."""
    lo = tj("policy", "eval", DEFAULT_POLICY, "ioctl(0, 0x5412, 0)")
    hi = tj("policy", "eval", DEFAULT_POLICY, "ioctl(0, 0x100005412, 0)")
    assert lo.returncode == 0 and hi.returncode == 0, (lo.stderr, hi.stderr)
    assert lo.stdout.split()[0] == hi.stdout.split()[0], (lo.stdout, hi.stdout)
    assert not lo.stdout.startswith("ALLOW"), lo.stdout


@pytest.mark.parametrize("mode,what", FORGOTTEN)
def test_a4_forgotten_syscalls_denied(runs, mode, what):
    """New/rare syscalls must fall to a deny, not to an allow: EBADF/EINVAL
    here would mean the kernel executed them."""
    assert_refused(runs[mode], what)


@pytest.mark.parametrize("call", ["SYSCALL[1000]()", "openat2(AT_FDCWD, \"/tmp/x\", 0, 24)"])
def test_a4_default_policy_never_allows_unlisted(tj, call):
    """The kernel answers ENOSYS to nr 1000 anyway, so the live test cannot
    tell an allow from a deny; the policy's own verdict can."""
    r = tj("policy", "eval", DEFAULT_POLICY, call)
    assert r.returncode == 0, r.stderr
    assert not r.stdout.startswith("ALLOW"), r.stdout


def test_a5_clone3_with_namespace_flags_refused(runs):
    r = runs["clone3_newuser"]
    assert_refused(r, "clone3 NEWUSER|UNTRACED")
    assert "clone3 child running" not in r.out


def test_a5_plain_clone3_gets_enosys(runs):
    """clone3's flags live in memory the filter cannot see: ENOSYS makes libc
    fall back to clone(2) (whose flags the filter can check) without killing
    ordinary threaded programs."""
    r = runs["clone3_plain"]
    assert r.rc == 0 and r.errno_of("clone3 plain") == "ENOSYS", str(r)
    no_traceback(r)


@pytest.mark.parametrize("mode", URING)
def test_a6_io_uring_denied(runs, mode):
    assert_refused(runs[mode], mode)
