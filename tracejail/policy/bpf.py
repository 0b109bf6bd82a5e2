"""Classic-BPF seccomp emulator and disassembler (pure Python).

Runs the exact bytes we load into the kernel over a ``seccomp_data``
(nr u32, arch u32, ip u64, args u64[6], little endian) so tests and
``policy explain/eval`` can say what the kernel will return.
"""
from __future__ import annotations

import struct

from tracejail.verdict import Verdict

# seccomp return values
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
RET_ACTION_FULL = 0xFFFF0000
RET_DATA = 0x0000FFFF

_ACTION_NAMES = {RET_KILL_PROCESS: "KILL_PROCESS", RET_KILL_THREAD: "KILL", RET_TRAP: "TRAP",
                 RET_ERRNO: "ERRNO", RET_USER_NOTIF: "USER_NOTIF", RET_TRACE: "TRACE",
                 RET_LOG: "LOG", RET_ALLOW: "ALLOW"}
ACTION_RET = {"KILL_PROCESS": RET_KILL_PROCESS, "KILL": RET_KILL_THREAD,
              "KILL_THREAD": RET_KILL_THREAD, "TRAP": RET_TRAP, "ERRNO": RET_ERRNO,
              "USER_NOTIF": RET_USER_NOTIF, "TRACE": RET_TRACE, "LOG": RET_LOG, "ALLOW": RET_ALLOW}

# instruction classes / fields
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = range(8)
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_LEN, BPF_MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
BPF_K, BPF_X, BPF_A = 0x00, 0x08, 0x10
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x20, 0x30, 0x40
_ALU = {0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and",
        0x60: "lsh", 0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xA0: "xor"}
SECCOMP_DATA_SIZE = 64
MAX_INSNS = 4096

INSN = struct.Struct("<HBBI")


class BPFError(Exception):
    pass


def decode(prog: bytes) -> list[tuple[int, int, int, int]]:
    if len(prog) % 8 or not prog:
        raise BPFError(f"program length {len(prog)} is not a positive multiple of 8")
    if len(prog) // 8 > MAX_INSNS:
        raise BPFError("program longer than 4096 instructions")
    return [INSN.unpack_from(prog, o) for o in range(0, len(prog), 8)]


def encode(insns) -> bytes:
    return b"".join(INSN.pack(*i) for i in insns)


def stmt(code: int, k: int) -> tuple:
    return (code, 0, 0, k & 0xFFFFFFFF)


def jump(code: int, k: int, jt: int, jf: int) -> tuple:
    return (code, jt, jf, k & 0xFFFFFFFF)


def seccomp_data(nr: int, arch: int, args=(), ip: int = 0) -> bytes:
    a = [int(x) & 0xFFFFFFFFFFFFFFFF for x in args] + [0] * (6 - len(args))
    return struct.pack("<IIQ6Q", nr & 0xFFFFFFFF, arch & 0xFFFFFFFF, ip & 0xFFFFFFFFFFFFFFFF, *a[:6])


def run(prog, data: bytes) -> int:
    """Execute; returns the 32-bit seccomp return value.  Any fault -> BPFError
    (the kernel would have rejected such a program at load time)."""
    return execute(prog, data)[0]


def execute(prog, data: bytes) -> tuple[int, int]:
    """run(), plus the number of instructions executed (the filter's cost)."""
    insns = decode(prog) if isinstance(prog, (bytes, bytearray)) else prog
    A = X = 0
    M = [0] * 16
    pc = 0
    n = len(insns)
    steps = 0
    while True:
        if pc >= n:
            raise BPFError("fell off the end of the program")
        steps += 1
        if steps > n + 1:
            raise BPFError("backward jump")   # classic BPF only jumps forward
        code, jt, jf, k = insns[pc]
        cls = code & 0x07
        if cls == BPF_LD:
            mode = code & 0xE0
            if mode == BPF_ABS and code & 0x18 == BPF_W:
                if k % 4 or k + 4 > SECCOMP_DATA_SIZE:
                    raise BPFError(f"bad load offset {k}")
                A = struct.unpack_from("<I", data, k)[0]
            elif mode == BPF_IMM:
                A = k
            elif mode == BPF_MEM:
                A = M[k & 15]
            elif mode == BPF_LEN:
                A = SECCOMP_DATA_SIZE
            else:
                raise BPFError(f"unsupported load 0x{code:02x}")
        elif cls == BPF_LDX:
            mode = code & 0xE0
            if mode == BPF_IMM:
                X = k
            elif mode == BPF_MEM:
                X = M[k & 15]
            elif mode == BPF_LEN:
                X = SECCOMP_DATA_SIZE
            else:
                raise BPFError(f"unsupported ldx 0x{code:02x}")
        elif cls == BPF_ST:
            M[k & 15] = A
        elif cls == BPF_STX:
            M[k & 15] = X
        elif cls == BPF_ALU:
            op = code & 0xF0
            src = X if code & BPF_X else k
            if op == 0x00: A = (A + src) & 0xFFFFFFFF
            elif op == 0x10: A = (A - src) & 0xFFFFFFFF
            elif op == 0x20: A = (A * src) & 0xFFFFFFFF
            elif op == 0x30:
                if src == 0: raise BPFError("division by zero")
                A = A // src
            elif op == 0x90:
                if src == 0: raise BPFError("division by zero")
                A = A % src
            elif op == 0x40: A |= src
            elif op == 0x50: A &= src
            elif op == 0xA0: A ^= src
            elif op == 0x60: A = (A << src) & 0xFFFFFFFF if src < 32 else 0
            elif op == 0x70: A = A >> src if src < 32 else 0
            elif op == 0x80: A = (-A) & 0xFFFFFFFF
            else: raise BPFError(f"bad alu 0x{code:02x}")
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == BPF_JA:
                pc += 1 + k
                continue
            src = X if code & BPF_X else k
            if op == BPF_JEQ: cond = A == src
            elif op == BPF_JGT: cond = A > src
            elif op == BPF_JGE: cond = A >= src
            elif op == BPF_JSET: cond = bool(A & src)
            else: raise BPFError(f"bad jump 0x{code:02x}")
            pc += 1 + (jt if cond else jf)
            continue
        elif cls == BPF_RET:
            rv = code & 0x18
            return (A if rv == BPF_A else k), steps
        elif cls == BPF_MISC:
            if code & 0xF8 == 0x00: X = A      # tax
            else: A = X                        # txa
        pc += 1


def to_verdict(ret: int, rule: str = "kernel") -> Verdict:
    action = ret & RET_ACTION_FULL
    if action & 0x80000000:
        action = RET_KILL_PROCESS
    name = _ACTION_NAMES.get(action)
    if name is None:
        # the kernel treats unknown actions as KILL_PROCESS
        return Verdict("KILL_PROCESS", 0, rule)
    data = ret & RET_DATA if name in ("ERRNO", "TRAP", "TRACE") else 0
    return Verdict(name, data, rule)


def ret_of(action_kind: str, value: int = 0) -> int:
    return ACTION_RET[action_kind] | (value & RET_DATA if action_kind in ("ERRNO", "TRAP", "TRACE") else 0)


_FIELDS = {0: "nr", 4: "arch", 8: "ip_lo", 12: "ip_hi"}


def _field(k: int) -> str:
    if k in _FIELDS:
        return _FIELDS[k]
    if 16 <= k < 64:
        i, half = divmod(k - 16, 8)
        return f"args[{i}]_{'lo' if half == 0 else 'hi'}"
    return f"[{k}]"


def _ret_text(k: int) -> str:
    v = to_verdict(k)
    return str(v)


def disassemble(prog) -> str:
    insns = decode(prog) if isinstance(prog, (bytes, bytearray)) else prog
    out = []
    for pc, (code, jt, jf, k) in enumerate(insns):
        cls = code & 0x07
        if cls == BPF_LD:
            mode = code & 0xE0
            txt = (f"ld  {_field(k)}" if mode == BPF_ABS else
                   f"ld  #0x{k:x}" if mode == BPF_IMM else
                   f"ld  M[{k}]" if mode == BPF_MEM else f"ld  ?0x{code:02x}")
        elif cls == BPF_LDX:
            txt = f"ldx #0x{k:x}" if code & 0xE0 == BPF_IMM else f"ldx M[{k}]"
        elif cls == BPF_ST:
            txt = f"st  M[{k}]"
        elif cls == BPF_STX:
            txt = f"stx M[{k}]"
        elif cls == BPF_ALU:
            src = "x" if code & BPF_X else f"#0x{k:x}"
            txt = f"{_ALU.get(code & 0xF0, '?')} {src}"
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == BPF_JA:
                txt = f"ja  {pc + 1 + k}"
            else:
                name = {BPF_JEQ: "jeq", BPF_JGT: "jgt", BPF_JGE: "jge", BPF_JSET: "jset"}.get(op, "j?")
                src = "x" if code & BPF_X else f"#0x{k:x}"
                txt = f"{name} {src}, {pc + 1 + jt}, {pc + 1 + jf}"
        elif cls == BPF_RET:
            txt = "ret a" if code & 0x18 == BPF_A else f"ret {_ret_text(k)}"
        else:
            txt = "tax" if code & 0xF8 == 0 else "txa"
        out.append(f"{pc:4d}: {txt}")
    return "\n".join(out)
