"""The classic-BPF emulator on hand-written programs (paths libseccomp rarely emits)."""
from __future__ import annotations

import pytest

from tracejail.policy import bpf

LD = bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS
RET = bpf.BPF_RET | bpf.BPF_K


def prog(*insns):
    return bpf.encode(insns)


def test_alu_scratch_and_jset():
    p = prog(bpf.stmt(LD, 16),                                   # A = args[0] low
             bpf.stmt(bpf.BPF_ALU | 0x50 | bpf.BPF_K, 0xF0),      # A &= 0xf0
             bpf.stmt(bpf.BPF_ST, 3),                             # M[3] = A
             bpf.stmt(bpf.BPF_LDX | bpf.BPF_MEM, 3),              # X = M[3]
             bpf.stmt(bpf.BPF_MISC | 0x80, 0),                    # A = X (txa)
             bpf.jump(bpf.BPF_JMP | bpf.BPF_JSET | bpf.BPF_K, 0x10, 0, 1),
             bpf.stmt(RET, bpf.RET_ERRNO | 7),
             bpf.stmt(RET, bpf.RET_ALLOW))
    assert bpf.run(p, bpf.seccomp_data(0, 0, (0x1F,))) == bpf.RET_ERRNO | 7
    assert bpf.run(p, bpf.seccomp_data(0, 0, (0x2F,))) == bpf.RET_ALLOW
    text = bpf.disassemble(p)
    assert "ld  args[0]_lo" in text and "jset #0x10" in text and "ret ERRNO(7)" in text


def test_high_word_and_arch_fields():
    p = prog(bpf.stmt(LD, 20), bpf.jump(bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K, 1, 0, 1),
             bpf.stmt(RET, bpf.RET_KILL_PROCESS), bpf.stmt(LD, 4), bpf.stmt(RET | 0x10, 0))
    assert bpf.run(p, bpf.seccomp_data(0, 0xAB, (1 << 32,))) == bpf.RET_KILL_PROCESS
    assert bpf.run(p, bpf.seccomp_data(0, 0xAB, (1,))) == 0xAB          # ret A


@pytest.mark.parametrize("ret,want", [(0x80000000, "KILL_PROCESS"), (0x80050001, "KILL_PROCESS"),
                                      (0, "KILL"), (0x00010000, "KILL_PROCESS"),
                                      (0x7FF00005, "TRACE(5)"), (0x00050016, "ERRNO(22)"),
                                      (0x7FFC0000, "LOG"), (0x7FC00000, "USER_NOTIF")])
def test_return_values_as_the_kernel_reads_them(ret, want):
    assert str(bpf.to_verdict(ret)) == want


@pytest.mark.parametrize("bad", [b"", b"\0" * 7, prog(bpf.stmt(LD, 64)), prog(bpf.stmt(LD, 2)),
                                 prog(bpf.stmt(LD, 0))])
def test_faults(bad):
    with pytest.raises(bpf.BPFError):
        bpf.run(bad, bpf.seccomp_data(0, 0))
