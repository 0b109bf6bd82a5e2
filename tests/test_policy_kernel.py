"""The compiled BPF in a real kernel: what a filtered process observes.

A C helper loads cp.bpf with seccomp(2) and makes one syscall; we check the
ERRNO value it sees or that it died of SIGSYS (kill), including i386/x32 ABIs
and int arguments with garbage in the high 32 bits (threat A1-A3, #7, #27)."""
from __future__ import annotations

import signal
import subprocess

import pytest

from tracejail.policy import compile_policy, default_policy_path, load_policy_file, load_policy_text

TEST_POLICY = """
POLICY t {
  ERRNO(42) { getpriority { which == 1 } },
  ERRNO(7) { ioctl { cmd == TIOCSTI } },
  KILL_PROCESS { getpgid { pid == 12345 } },
  ERRNO(9) { getsid { pid > 100 } }
}
USE t DEFAULT ALLOW
"""


@pytest.fixture(scope="module")
def abi(cc):
    return cc("policy_abi.c")


def run(abi, tmp_path, cp, *args):
    f = tmp_path / "filter.bpf"
    f.write_bytes(cp.bpf)
    p = subprocess.run([str(abi), str(f), *args], capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout.split()


@pytest.fixture(scope="module")
def test_cp():
    return compile_policy(load_policy_text(TEST_POLICY))


@pytest.fixture(scope="module")
def default_cp():
    return compile_policy(load_policy_file(default_policy_path()))


def test_errno_values_seen_by_the_process(abi, tmp_path, test_cp):
    assert run(abi, tmp_path, test_cp, "raw", "140", "1", "0") == (0, ["-1", "42"])
    # int argument: high 32 bits are ignored by the kernel, so the rule still matches
    assert run(abi, tmp_path, test_cp, "raw", "140", hex(1 | 1 << 32), "0") == (0, ["-1", "42"])
    assert run(abi, tmp_path, test_cp, "raw", "140", "2", "0")[1][1] != "42"
    assert run(abi, tmp_path, test_cp, "raw", "16", "0", hex(0x5412 | 0xFFFF << 32)) == (0, ["-1", "7"])
    # 32-bit ordering compare (own BPF block): 101 > 100 but 2^32+5 is 5 for the kernel
    assert run(abi, tmp_path, test_cp, "raw", "124", "101") == (0, ["-1", "9"])
    assert run(abi, tmp_path, test_cp, "raw", "124", hex(5 | 1 << 32))[1][1] != "9"


def test_kill_process_is_sigsys(abi, tmp_path, test_cp):
    rc, _ = run(abi, tmp_path, test_cp, "raw", "121", "12345")
    assert rc == -signal.SIGSYS
    rc, out = run(abi, tmp_path, test_cp, "raw", "121", "1")
    assert rc == 0


@pytest.mark.parametrize("mode", ["i386", "x32"])
def test_foreign_abis_killed_even_with_default_allow(abi, tmp_path, test_cp, mode):
    assert test_cp.kernel_verdict(20 if mode == "i386" else 39, mode).action == "KILL_PROCESS"
    rc, _ = run(abi, tmp_path, test_cp, mode)
    assert rc == -signal.SIGSYS


def test_default_policy_in_the_kernel(abi, tmp_path, default_cp):
    cp = default_cp
    assert run(abi, tmp_path, cp, "raw", "39")[0] == 0                          # getpid allowed
    assert run(abi, tmp_path, cp, "raw", "16", "0", hex(0x5412 | 1 << 32))[0] == -signal.SIGSYS
    assert run(abi, tmp_path, cp, "raw", "272", "0")[0] == -signal.SIGSYS      # unshare
    assert run(abi, tmp_path, cp, "raw", "317", "1")[0] == -signal.SIGSYS      # seccomp
    assert run(abi, tmp_path, cp, "raw", "157", hex(22 | 1 << 32))[0] == -signal.SIGSYS  # PR_SET_SECCOMP
    assert run(abi, tmp_path, cp, "raw", "435", "0")[1] == ["-1", "38"]         # clone3 -> ENOSYS
    assert run(abi, tmp_path, cp, "raw", "135", hex(0x400000))[0] == -signal.SIGSYS  # READ_IMPLIES_EXEC
    assert run(abi, tmp_path, cp, "raw", "135", hex(0xFFFFFFFF))[0] == 0       # personality query
    assert run(abi, tmp_path, cp, "raw", "1000")[0] == -signal.SIGSYS          # unassigned number
    # a path rule with no tracer attached: the kernel fails TRACE with ENOSYS, never allows
    assert run(abi, tmp_path, cp, "raw", "257", hex(0xFFFFFF9C), "0")[1] == ["-1", "38"]
    for mode in ("i386", "x32"):
        assert run(abi, tmp_path, cp, mode)[0] == -signal.SIGSYS


def test_emulator_matches_the_real_kernel_on_random_rules(abi, tmp_path):
    """Random integer rules on harmless syscalls: the errno the kernel returns is
    the one the emulator (and interpreter) predicted, high-bit garbage included."""
    import random
    from tracejail.policy.interpreter import IntCall
    rnd = random.Random(7)
    calls = [("getpriority", 140, ["which", "who"]), ("getpgid", 121, ["pid"]), ("getsid", 124, ["pid"])]
    consts = [0, 1, 2, 5, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 32, (1 << 32) | 2]
    rules = []
    for k in range(8):
        name, _, args = rnd.choice(calls)
        a = rnd.choice(args)
        op = rnd.choice(["==", "!=", "<", ">=", "<=", ">"])
        rules.append(f"ERRNO({100 + k}) {{ {name} {{ {a} {op} {rnd.choice(consts)} }} }}")
    text = ",\n".join(rules) + (",\nALLOW { getpriority { which == 3 }, write, fstat, newfstatat, brk, mmap, "
                                 "munmap, exit_group, exit }\nDEFAULT ERRNO(199)")
    cp = compile_policy(load_policy_text(text))
    for _ in range(40):
        name, nr, args = rnd.choice(calls)
        vals = [rnd.choice(consts + [3, rnd.getrandbits(64)]) for _ in range(2)]
        k = cp.kernel_verdict(nr, "x86_64", vals)
        assert (k.action, k.value) == (lambda v: (v.action, v.value))(cp.decide(IntCall(nr, "x86_64", vals)))
        rc, out = run(abi, tmp_path, cp, "raw", str(nr), hex(vals[0]), hex(vals[1]))
        assert rc == 0
        err = int(out[1])
        if k.action == "ERRNO":
            assert (out[0], err) == ("-1", k.value), (text, name, vals, k)
        else:
            assert not 100 <= err <= 199, (text, name, vals, k, out)
