"""The supervisor's compiled per-syscall decision functions (tracejail.policy.pyfast)
give exactly the reference interpreter's verdicts: same rule, same action, same
errno for unreadable memory, on the shipped policies and on a corpus that uses
every string operator."""
from __future__ import annotations

import errno
import random

import pytest

from tracejail.policy import compile_policy, load_policy_text
from tracejail.policy import pyfast
from tracejail.verdict import ArgFault

from test_policy_props import _constants, policies

STRINGS = """
POLICY s {
  ALLOW {
    openat { path(filename) == "/etc/passwd" && (flags & 3) == 0 },
    openat { path(filename) in ["/usr/**", "/lib/*.so*", "/tmp/[a-c]?x", "/data/**"] },
    openat { !(path(filename) under ["/", "/proc"]) || path(filename) prefix "/var/l" },
    mkdir { path(pathname) under ["/tmp/", "/x"] && mode != 0777 },
    unlink { path(pathname) != "/tmp/keep" },
    execve { string(filename) prefix ["/bin/", "/usr/bin/"] || path(filename) on ro_bind }
  },
  ERRNO(EACCES) { openat { path(filename) in ["/etc/shadow*"] }, mkdir },
  KILL { execve { path(filename) under "/tmp" } }
}
USE s DEFAULT ERRNO(EPERM)
"""

PATHS = ["/", "/etc/passwd", "/etc/shadow", "/etc/shadow-", "/usr", "/usr/lib/x.so", "/lib/a.so.1",
         "/lib/sub/a.so", "/tmp/abx", "/tmp/dbx", "/tmp/keep", "/tmp", "/tmp/", "/x", "/xy", "/proc",
         "/proc/self/fd/3", "/var/log/x", "/bin/sh", "/usr/bin/env", "pipe:[12]", "deleted:/tmp/a",
         "/data", "/data/a/b", "", "/ro/x"]


class FakeCall:
    """A SyscallCall whose memory answers are drawn once per argument (or fault)."""

    def __init__(self, nr, args, rng):
        self.nr, self.arch, self.args = nr, "x86_64", args
        self._p = {}
        self._rng = rng

    def _get(self, i):
        if i not in self._p:
            r = self._rng.random()
            self._p[i] = ArgFault(errno.EFAULT) if r < 0.1 else ArgFault(errno.ENAMETOOLONG) \
                if r < 0.15 else self._rng.choice(PATHS)
        v = self._p[i]
        if isinstance(v, ArgFault):
            raise v
        return v

    def path(self, i):
        return self._get(i)

    def string(self, i):
        return self._get(i).encode()


def _policies():
    out = dict(policies())
    out["strings"] = lambda: load_policy_text(STRINGS, mounts=(("/", "tmpfs", False),
                                                                ("/ro", "bind", False)))
    return out


@pytest.mark.parametrize("name", sorted(_policies()))
def test_fast_functions_agree_with_interpreter(name):
    pol = _policies()[name]()
    cp = compile_policy(pol)
    interp = cp.interpreter
    rng = random.Random(name)
    consts = _constants(pol)
    built = 0
    for nr in interp.by_nr:
        fn = pyfast.build_for(interp, nr)
        if fn is None:
            continue
        built += 1
        for _ in range(60):
            args = tuple(rng.choice(consts) for _ in range(6))
            seed = rng.random()
            want = interp.decide(FakeCall(nr, args, random.Random(seed)))
            got = fn(FakeCall(nr, args, random.Random(seed)))
            assert got == want, (name, nr, args, seed)
            assert cp.decide(FakeCall(nr, args, random.Random(seed))) == want
    assert built > 0


def test_rules_beyond_the_fast_path_fall_back():
    cp = compile_policy(load_policy_text(
        "ALLOW { connect(f, a, n) { sockaddr(a, n).port == 53 }, execve(p, v, e) { argv(v)[0] == \"sh\" } }"
        " DEFAULT KILL"))
    assert all(pyfast.build_for(cp.interpreter, nr) is None for nr in cp.interpreter.by_nr)
