"""Thin ctypes layer over ptrace(2) and process_vm_readv(2).

Hand-rolled rather than python-ptrace's bindings because the hot path (one
seccomp stop) must make as few Python->C transitions as possible and allocate
nothing: every struct used per stop is preallocated once here and reused (the
supervisor is single-threaded, so sharing them is safe).
"""
from __future__ import annotations

import ctypes
import functools
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_ptrace = _libc.ptrace
_ptrace.restype = ctypes.c_long
_ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
# The per-stop calls skip argtypes conversion (~0.6 us a call here): they pass
# only small ints (libffi widens them to the register), None and byref().
_ptrace_hot = ctypes.CDLL(None, use_errno=True).ptrace
_ptrace_hot.restype = ctypes.c_long

PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_SYSCALL = 24
PTRACE_GETEVENTMSG = 0x4201
PTRACE_GETSIGINFO = 0x4202
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_GET_SYSCALL_INFO = 0x420E

PTRACE_O_TRACESYSGOOD = 1
PTRACE_O_TRACEFORK = 2
PTRACE_O_TRACEVFORK = 4
PTRACE_O_TRACECLONE = 8
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_O_EXITKILL = 0x100000
PTRACE_O_TRACEEXIT = 0x40   # issue 6: name the syscall of a kernel-filter kill (tracejail/violation.py)
OPTIONS = (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE
           | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL | PTRACE_O_TRACEEXIT)

PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_VFORK_DONE = 5
PTRACE_EVENT_EXIT = 6
PTRACE_EVENT_SECCOMP = 7
PTRACE_EVENT_STOP = 128

PTRACE_SYSCALL_INFO_NONE = 0
PTRACE_SYSCALL_INFO_ENTRY = 1
PTRACE_SYSCALL_INFO_EXIT = 2
PTRACE_SYSCALL_INFO_SECCOMP = 3

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
X32_SYSCALL_BIT = 0x40000000
ARCH_NAMES = {AUDIT_ARCH_X86_64: "x86_64", AUDIT_ARCH_I386: "i386"}

WALL = 0x40000000  # __WALL


class SyscallInfo(ctypes.Structure):
    """struct ptrace_syscall_info; the union is flattened: for ENTRY and
    SECCOMP ``nr``/``args`` overlay, for EXIT ``nr`` holds rval and the low
    byte of args[0] holds is_error."""
    _fields_ = [("op", ctypes.c_uint8), ("reserved", ctypes.c_uint8), ("flags", ctypes.c_uint16),
                ("arch", ctypes.c_uint32), ("ip", ctypes.c_uint64), ("sp", ctypes.c_uint64),
                ("nr", ctypes.c_uint64), ("args", ctypes.c_uint64 * 6), ("ret_data", ctypes.c_uint32),
                ("pad", ctypes.c_uint32)]


class Regs(ctypes.Structure):
    """struct user_regs_struct (x86_64)."""
    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx",
        "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base",
        "ds", "es", "fs", "gs")]


info = SyscallInfo()
_info_ref = ctypes.byref(info)
_info_size = ctypes.sizeof(SyscallInfo)
regs = Regs()
_regs_ref = ctypes.byref(regs)
_msg = ctypes.c_ulong()
_msg_ref = ctypes.byref(_msg)


def _fail(what: str, pid: int) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, f"{what} {pid}: {os.strerror(e)}")


def seize(pid: int, options: int = OPTIONS) -> None:
    if _ptrace(PTRACE_SEIZE, pid, None, options) != 0:
        raise _fail("PTRACE_SEIZE", pid)


def cont(pid: int, sig: int = 0) -> bool:
    """Resume; False if the tracee vanished (ESRCH: killed meanwhile)."""
    return _ptrace_hot(PTRACE_CONT, pid, None, sig) == 0


# cont(pid) for the per-stop path, with no Python frame: resume(pid, None, 0) -> 0, or -1 (ESRCH)
resume = functools.partial(_ptrace_hot, PTRACE_CONT)


def syscall(pid: int, sig: int = 0) -> bool:
    """Resume, stopping at the next syscall boundary (here: the exit of the held syscall)."""
    return _ptrace_hot(PTRACE_SYSCALL, pid, None, sig) == 0


def interrupt(pid: int) -> bool:
    return _ptrace(PTRACE_INTERRUPT, pid, None, None) == 0


def listen(pid: int) -> bool:
    return _ptrace(PTRACE_LISTEN, pid, None, None) == 0


def geteventmsg(pid: int) -> int:
    if _ptrace(PTRACE_GETEVENTMSG, pid, None, _msg_ref) != 0:
        raise _fail("PTRACE_GETEVENTMSG", pid)
    return _msg.value


_siginfo = (ctypes.c_int * 32)()     # siginfo_t is 128 bytes; si_code is the third int


def signal_code(pid: int) -> int | None:
    """si_code of the signal a tracee is stopped for (> 0: sent by the kernel), or None."""
    if _ptrace(PTRACE_GETSIGINFO, pid, None, ctypes.byref(_siginfo)) != 0:
        return None
    return _siginfo[2]


def get_syscall_info(pid: int) -> SyscallInfo:
    """Fill and return the shared SyscallInfo (valid until the next call)."""
    if _ptrace(PTRACE_GET_SYSCALL_INFO, pid, _info_size, _info_ref) <= 0:
        raise _fail("PTRACE_GET_SYSCALL_INFO", pid)
    return info


_SECCOMP_VIEW = struct.Struct("<B3xI16xQ6Q")     # op, arch, nr, args[6] of SyscallInfo
_info_mem = memoryview(info).cast("B")


def seccomp_info(pid: int) -> tuple:
    """(op, arch, nr, arg0, ..., arg5) of a stopped tracee, unpacked in one C
    call (reading the ctypes fields one by one costs more than the ptrace call)."""
    if _ptrace_hot(PTRACE_GET_SYSCALL_INFO, pid, _info_size, _info_ref) <= 0:
        raise _fail("PTRACE_GET_SYSCALL_INFO", pid)
    return _SECCOMP_VIEW.unpack_from(_info_mem)


def skip_syscall(pid: int, retval: int) -> None:
    """At a seccomp stop: make the kernel skip the syscall (orig_rax = -1)
    and return ``retval`` (e.g. -errno) to the tracee."""
    _set_rax(pid, retval, skip=True)


def set_return(pid: int, retval: int) -> None:
    """At a syscall-exit stop: the value the syscall returns to the tracee."""
    _set_rax(pid, retval)


_ARG_REGS = ("rdi", "rsi", "rdx", "r10", "r8", "r9")      # x86_64 syscall arguments, in order


def set_arg(pid: int, i: int, value: int, restart_nr: int | None = None) -> None:
    """Set syscall argument ``i`` (at a seccomp stop: the value the syscall
    runs with; at its exit stop: the value the tracee sees in the register
    afterwards).  ``restart_nr`` (exit stop only): also rewind to the 2-byte
    ``syscall`` instruction with rax = that number, so the tracee makes the
    call again when resumed (as the kernel's own restarts do)."""
    _get_regs(pid)
    setattr(regs, _ARG_REGS[i], value & 0xFFFFFFFFFFFFFFFF)
    if restart_nr is not None:
        regs.rip -= 2
        regs.rax = restart_nr
    _set_regs(pid)


def _set_rax(pid: int, retval: int, skip: bool = False) -> None:
    _get_regs(pid)
    if skip:
        regs.orig_rax = 0xFFFFFFFFFFFFFFFF
    regs.rax = retval & 0xFFFFFFFFFFFFFFFF
    _set_regs(pid)


def _get_regs(pid: int) -> None:
    """Fill the shared ``regs`` from the stopped tracee (PTRACE_GETREGS)."""
    if _ptrace_hot(PTRACE_GETREGS, pid, None, _regs_ref) != 0:
        raise _fail("PTRACE_GETREGS", pid)


def _set_regs(pid: int) -> None:
    if _ptrace_hot(PTRACE_SETREGS, pid, None, _regs_ref) != 0:
        raise _fail("PTRACE_SETREGS", pid)


# --- process_vm_readv -----------------------------------------------------------

class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


_pvr = _libc.process_vm_readv
_pvr.restype = ctypes.c_ssize_t
_pvr.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                 ctypes.c_ulong]

PAGE = os.sysconf("SC_PAGE_SIZE")
_buf = ctypes.create_string_buffer(PAGE)
_buf_addr = ctypes.addressof(_buf)
_string_at = ctypes.string_at
_local = IoVec(_buf_addr, PAGE)
_remote = IoVec(0, 0)
_local_ref = ctypes.byref(_local)
_remote_ref = ctypes.byref(_remote)


def read_chunk(pid: int, addr: int, n: int) -> bytes | None:
    """Read n bytes (n <= PAGE, not crossing a page boundary) of tracee memory.

    Returns None if the page is unmapped/unreadable (EFAULT), raises OSError
    for other errors (ESRCH: tracee gone; EPERM/ENOSYS: caller falls back)."""
    _local.len = n
    _remote.base = addr
    _remote.len = n
    got = _pvr(pid, _local_ref, 1, _remote_ref, 1, 0)
    if got == n:
        return _string_at(_buf_addr, n)
    if got >= 0:
        return None
    e = ctypes.get_errno()
    if e == 14:  # EFAULT
        return None
    raise OSError(e, f"process_vm_readv {pid}: {os.strerror(e)}")
