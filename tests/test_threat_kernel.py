"""Threat model C22, C23, E27-E29, E31, E32, R2: kernel attack surface,
nested namespaces, mount manipulation, handle opens, chroot escapes, signals
aimed outside, processes that try to outlive the jail, tracees that never
exit (tests/progs/tm_kernel.c, tm_signal.c)."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from test_threat_support import (KILLED, ROOT, TIMEOUT, assert_audited_violation, assert_killed,  # noqa: F401
                                 assert_refused, no_traceback, run_batch, run_jail, tm_bindir, tm_cc, wait_gone)


@pytest.fixture
def kern(tm_cc):
    return tm_cc("tm_kernel.c")


@pytest.fixture
def sig(tm_cc):
    return tm_cc("tm_signal.c")


# The issue-3 default policy *kills* these (exit 159).
KILL = [("bpf", "bpf MAP_CREATE"), ("perf_event_open", "perf_event_open"), ("keyctl", "keyctl GET_KEYRING_ID"),
        ("kexec_load", "kexec_load"), ("init_module", "init_module"), ("finit_module", "finit_module"),
        ("delete_module", "delete_module"), ("ptrace", "ptrace TRACEME"), ("unshare_user", "unshare NEWUSER"),
        ("unshare_ns", "unshare NEWNS"), ("unshare_net", "unshare NEWNET"), ("setns", "setns net"),
        ("open_by_handle_at", "open_by_handle_at")]
# Refused, by kill or errno.
REFUSE = [("userfaultfd", "userfaultfd"), ("add_key", "add_key user"), ("request_key", "request_key"),
          ("personality", "personality READ_IMPLIES_EXEC"), ("kcmp", "kcmp"), ("acct", "acct"),
          ("syslog", "syslog READ_ALL"), ("pidfd_getfd_self", "pidfd_getfd self fd 1"),
          ("clone_newuser", "clone NEWUSER|NEWNS"), ("clone_newnet", "clone NEWNET"),
          ("name_to_handle_at", "name_to_handle_at /"), ("chroot", "chroot /tmp/cr"), ("pivot_root", "pivot_root"),
          ("mount_proc", "mount proc"), ("mount_sysfs", "mount sysfs"), ("mount_cgroup", "mount cgroup v1")]


MOUNTS = [("mount_tmpfs", "/tmp", "mount tmpfs over dir"), ("remount_rw", "/usr", "remount bind rw"),
          ("umount", "/usr", "umount2")]


@pytest.fixture(scope="module")
def runs(tm_cc, tmp_path_factory):
    """One jail per item (each is killed at its forbidden call), run concurrently."""
    kern = tm_cc("tm_kernel.c")
    audits = tmp_path_factory.mktemp("audits")
    jobs = {m: (kern, (m,), {"audit_path": audits / f"{m}.jsonl"}) for m, _ in KILL}
    jobs.update({m: (kern, (m,), {}) for m, _ in REFUSE})
    jobs.update({m: (kern, (m, target), {}) for m, target, _ in MOUNTS})
    return run_batch(jobs)


@pytest.mark.parametrize("mode,what", KILL)
def test_e27_e28_c22_dangerous_syscalls_killed(runs, mode, what):
    assert_killed(runs[mode], what)
    assert_audited_violation(runs[mode], mode.split("_")[0] if mode.startswith("unshare") else mode)


@pytest.mark.parametrize("mode,what", REFUSE)
def test_e27_e28_e29_c22_c23_refused(runs, mode, what):
    r = runs[mode]
    assert_refused(r, what)
    assert "ESCAPED clone child" not in r.out and "ESCAPED persona" not in r.out, str(r)


@pytest.mark.parametrize("mode,target,what", MOUNTS)
def test_e29_mount_manipulation_refused(runs, mode, target, what):
    assert_refused(runs[mode], what)


def test_c23_host_tree_unreachable(tj, kern):
    """Old root detached: no spelling reaches a host file that was not bound."""
    host = ROOT / "README.md"
    assert host.exists()
    r = run_jail(tj, kern, "probe", str(host))
    assert r.rc == 0 and "PROBE hits=0 cwd=/" in r.out, str(r)
    assert "ESCAPED" not in r.out, str(r)


def test_e31_signals_cannot_leave_the_jail(tj, sig):
    """kill(-1), kill(0), kill(host pid), pidfd_send_signal, PRIO_USER and a
    pid sweep hit nothing outside; the sentinel runs as the outside uid the
    jail's root maps to, so only the pid namespace protects it."""
    def drop():
        os.setgid(65534)
        os.setuid(65534)
    sentinel = subprocess.Popen(["sleep", "60"], preexec_fn=drop)
    try:
        nice = os.getpriority(os.PRIO_PROCESS, sentinel.pid)
        r = run_jail(tj, sig, "outside", str(sentinel.pid), opts=["-t", "60"], timeout=90)
        assert r.rc == 0 and "DONE" in r.out, f"the jail (or tracejail) was signalled\n{r}"
        assert not r.achieved("kill host pid"), str(r)
        assert not r.achieved("pidfd_open host pid"), str(r)
        assert "SWEEP visible=0" in r.out, str(r)
        assert sentinel.poll() is None, "host sentinel was killed from inside the jail"
        assert os.getpriority(os.PRIO_PROCESS, sentinel.pid) == nice
        no_traceback(r)
    finally:
        sentinel.kill()
        sentinel.wait()


def _growth(path, wait=0.4):
    a = path.stat().st_size if path.exists() else 0
    time.sleep(wait)
    b = path.stat().st_size if path.exists() else 0
    return b - a


@pytest.mark.parametrize("mode", ["daemon", "subreaper"])
def test_e32_nothing_outlives_the_jail(tj, sig, tmp_path, mode):
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o777)
    r = run_jail(tj, sig, mode, "/out/hb", opts=["-B", f"{out}:/out"])
    assert r.rc == 0, str(r)
    assert wait_gone(sig) == [], "a jailed process outlived tracejail"
    assert _growth(out / "hb") == 0, "heartbeat still growing after tracejail exited"


R2 = ["busy", "pause", "sigstop", "ignore_term"]


@pytest.fixture(scope="module")
def r2_runs(tm_cc, tmp_path_factory):
    sig = tm_cc("tm_signal.c")
    jobs, outs = {}, {}
    for mode in R2:
        out = tmp_path_factory.mktemp(mode) / "out"
        out.mkdir()
        os.chmod(out, 0o777)
        outs[mode] = out
        jobs[mode] = (sig, (mode, "/out/hb"), {"opts": ["-t", "1", "-B", f"{out}:/out"], "timeout": 60})
    return run_batch(jobs), outs, sig


@pytest.mark.parametrize("mode", R2)
def test_r2_never_exiting_tracee_hits_time_limit(r2_runs, mode):
    runs, outs, sig = r2_runs
    r = runs[mode]
    assert r.rc == TIMEOUT, str(r)
    assert r.elapsed < 11, f"time limit 1 s took {r.elapsed:.1f} s"
    assert "time" in r.err.lower(), str(r)
    no_traceback(r)
    assert wait_gone(sig) == [], "processes survived the time limit"
    assert _growth(outs[mode] / "hb") == 0
