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
