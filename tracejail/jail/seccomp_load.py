"""Load the compiled policy (raw struct sock_filter[] bytes) with seccomp(2).

Fail closed: any problem is an error, the caller must not exec unfiltered."""
from __future__ import annotations

import ctypes

from tracejail.errors import SetupError
from tracejail.jail import libc

SECCOMP_SET_MODE_FILTER = 1
BPF_MAXINSNS = 4096


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load(bpf: bytes) -> None:
    if not isinstance(bpf, (bytes, bytearray)) or not bpf or len(bpf) % 8:
        raise SetupError("seccomp filter is not a whole number of sock_filter instructions")
    n = len(bpf) // 8
    if n > BPF_MAXINSNS:
        raise SetupError(f"seccomp filter too long ({n} > {BPF_MAXINSNS} instructions)")
    buf = ctypes.create_string_buffer(bytes(bpf), len(bpf))
    prog = _SockFprog(n, ctypes.cast(buf, ctypes.c_void_p))
    try:
        libc.raw_syscall(libc.SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(prog),
                         what="seccomp(SET_MODE_FILTER)")
    except OSError as e:
        hint = " (no NO_NEW_PRIVS and no CAP_SYS_ADMIN)" if e.errno == 13 else ""
        raise SetupError(f"loading the seccomp filter failed: {e.strerror}{hint}") from None
