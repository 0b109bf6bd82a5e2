"""The kernel filter dispatches on the syscall number through libseccomp's
binary tree (not a linear scan), and a tree the self-check faults is replaced
by the linear form rather than trusted."""
from __future__ import annotations

from tracejail.policy import bpf, compiler, compile_policy, default_policy_path, load_policy_file
from tracejail.policy import syscalls

ARCH = 0xC000003E


def _cost(cp, nr: int) -> int:
    return bpf.execute(cp.bpf, bpf.seccomp_data(nr, ARCH))[1]


def _default():
    return load_policy_file(default_policy_path())


def test_every_syscall_number_dispatches_right_and_fast(monkeypatch):
    monkeypatch.setenv("TRACEJAIL_NO_CACHE", "1")
    cp = compile_policy(_default())
    nrs = sorted(syscalls.rtable("x86_64")) + [500, 1000, 0x3FFF]
    for nr in nrs:
        ok, k, i = cp.agrees(nr, (0,) * 6)
        assert ok, (nr, k, i)
    # a scan over ~350 syscalls with rules costs hundreds of instructions to the
    # last ones (266 to openat before the tree); a tree stays near its depth
    assert max(_cost(cp, nr) for nr in nrs) < 80


def test_a_faulted_tree_falls_back_to_the_linear_filter(monkeypatch):
    monkeypatch.setenv("TRACEJAIL_NO_CACHE", "1")
    monkeypatch.setattr(compiler, "_verified_marker", lambda cp: None)
    pol = _default()
    routes = compile_policy(pol).routes
    ruleless = next(nr for nr in sorted(syscalls.rtable("x86_64")) if nr not in routes)
    real, calls = compiler._self_check, []

    def faulty(cp, emitted, routes):
        calls.append(cp.bpf)
        bad = real(cp, emitted, routes)
        # first build: a syscall with no rules reported misrouted (a broken tree)
        return bad or ([ruleless] if len(calls) == 1 else [])

    monkeypatch.setattr(compiler, "_self_check", faulty)
    cp = compile_policy(pol)
    assert len(calls) == 2 and calls[0] != calls[1]
    assert _cost(cp, syscalls.nr_of("openat")) > 150             # linear again
    for nr in sorted(syscalls.rtable("x86_64")):
        assert cp.agrees(nr, (0,) * 6)[0]
