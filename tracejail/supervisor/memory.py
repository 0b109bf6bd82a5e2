"""Bounded reads of tracee memory, failing the way the kernel would.

Reads go page by page so that a string ending just before an unmapped page is
readable while one running into it gives EFAULT (process_vm_readv would fail a
whole multi-page iovec).  /proc/PID/mem is the fallback when process_vm_readv
is refused; note it reads PROT_NONE pages the kernel's own copy would not, so
it is only used when the primary path is unavailable.
"""
from __future__ import annotations

import errno
import os
import struct

from tracejail.supervisor.ptrace_api import PAGE, read_chunk
from tracejail.verdict import ArgFault

PATH_MAX = 4096                 # includes the NUL
MAX_ARG_STRLEN = 32 * PAGE      # execve: one argv/envp string
ARGV_MAX_BYTES = 8 << 20        # bound on all strings of one argv/envp array together
ARGV_MAX_COUNT = 1 << 20
TASK_SIZE = 0x00007FFFFFFFF000
FIRST_READ = 256                # first chunk of a string; never crosses a page (same EFAULT answer)  # x86_64 user address space end: above it copy_from_user faults

_use_mem_fallback = False


def _chunk(pid: int, addr: int, n: int) -> bytes | None:
    global _use_mem_fallback
    if addr <= 0 or addr + n > TASK_SIZE:
        return None
    if not _use_mem_fallback:
        try:
            return read_chunk(pid, addr, n)
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOSYS):
                raise
            _use_mem_fallback = True
    try:
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ProcessLookupError(errno.ESRCH, f"tracee {pid} gone")
    try:
        data = os.pread(fd, n, addr)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == n else None


def read_string(pid: int, addr: int, limit: int = PATH_MAX, toolong: int = errno.ENAMETOOLONG) -> bytes:
    """NUL-terminated string at addr.  EFAULT if any byte before the NUL is
    unreadable; ``toolong`` if no NUL within ``limit`` bytes (limit includes the NUL)."""
    if addr == 0:
        raise ArgFault(errno.EFAULT, "NULL pointer")
    parts = []
    got = 0
    first = FIRST_READ               # most paths are short: copy 256 bytes, not the page's rest
    while got < limit:
        n = min(PAGE - (addr % PAGE), limit - got, first)
        first = PAGE
        data = _chunk(pid, addr, n)
        if data is None:
            raise ArgFault(errno.EFAULT, f"unreadable memory at {addr:#x}")
        i = data.find(b"\0")
        if i >= 0:
            parts.append(data[:i])
            return b"".join(parts) if len(parts) > 1 else parts[0]
        parts.append(data)
        got += n
        addr += n
    raise ArgFault(toolong, f"string longer than {limit - 1} bytes")


def read_bytes(pid: int, addr: int, n: int) -> bytes:
    """Exactly n bytes at addr (structs such as open_how, sockaddr); EFAULT otherwise."""
    if n == 0:
        return b""
    if addr == 0:
        raise ArgFault(errno.EFAULT, "NULL pointer")
    parts = []
    while n > 0:
        k = min(PAGE - (addr % PAGE), n)
        data = _chunk(pid, addr, k)
        if data is None:
            raise ArgFault(errno.EFAULT, f"unreadable memory at {addr:#x}")
        parts.append(data)
        addr += k
        n -= k
    return b"".join(parts)


def read_argv(pid: int, addr: int) -> list[bytes]:
    """NULL-terminated array of string pointers (execve argv/envp).  NULL
    array = empty (Linux accepts it); E2BIG past the kernel's limits."""
    out: list[bytes] = []
    if addr == 0:
        return out
    total = 0
    while True:
        if len(out) >= ARGV_MAX_COUNT:
            raise ArgFault(errno.E2BIG, "too many argv entries")
        # read the rest of the current page of pointers at once
        k = PAGE - (addr % PAGE)
        raw = read_bytes(pid, addr, max(8, k - k % 8))
        for (p,) in struct.iter_unpack("<Q", raw):
            if p == 0:
                return out
            s = read_string(pid, p, MAX_ARG_STRLEN, errno.E2BIG)
            total += len(s) + 1
            if total > ARGV_MAX_BYTES:
                raise ArgFault(errno.E2BIG, "argument list too long")
            out.append(s)
        addr += len(raw)
