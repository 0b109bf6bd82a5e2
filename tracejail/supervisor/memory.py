"""Bounded reads of tracee memory, failing the way the kernel would.

Reads go page by page so that a string ending just before an unmapped page is
readable while one running into it gives EFAULT.

Two ways in.  A pread on a kept-open /proc/TID/mem is about three times
cheaper here than process_vm_readv (no task lookup and access check per
call, no page pinning), but it reads through PROT_NONE pages (FOLL_FORCE)
where the kernel's own copy faults.  So the fast way's reads are listed in
``forced``, and before a call is refused on them the supervisor asks
``confirm()`` to re-read those ranges the faithful way: if the kernel could
not have read them, the answer is EFAULT, as the kernel's.  An *allowed*
call needs no confirmation: the kernel copies the argument itself and faults
there if it must.  process_vm_readv is used alone when no fd can be kept.
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
TASK_SIZE = 0x00007FFFFFFFF000  # x86_64 user address space end: above it copy_from_user faults
FIRST_READ = 256                # first chunk of a string; never crosses a page (same EFAULT answer)
PAGE_MASK = PAGE - 1
MAX_MEM_FDS = 256               # /proc/TID/mem fds kept open, all tracees together

_pread = os.pread
_fds: dict[int, int] = {}       # tid -> open /proc/TID/mem (its mm: reopened after exec)
forced: list[tuple[int, int, int]] = []   # (tid, addr, n) read through /proc/TID/mem


def forget(tid: int) -> None:
    """The task exited or exec'd (a new mm): drop its /proc/TID/mem fd."""
    fd = _fds.pop(tid, None)
    if fd is not None:
        os.close(fd)


def _mem_fd(pid: int) -> int | None:
    fd = _fds.get(pid)
    if fd is None and len(_fds) < MAX_MEM_FDS:
        try:
            fd = _fds[pid] = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ProcessLookupError(errno.ESRCH, f"tracee {pid} gone")
        except OSError:
            return None
    return fd


def _chunk(pid: int, addr: int, n: int) -> bytes | None:
    if addr <= 0 or addr + n > TASK_SIZE:
        return None
    fd = _mem_fd(pid)
    if fd is None:
        return read_chunk(pid, addr, n)
    try:
        data = os.pread(fd, n, addr)
    except OSError:
        return None                   # EIO: unmapped (FOLL_FORCE reads anything mapped)
    if len(data) != n:
        return None                   # 0: the mm is gone (task exiting)
    forced.append((pid, addr, n))
    return data


def confirm() -> bool:
    """Could the kernel itself have read every range listed in ``forced``?"""
    try:
        return all(read_chunk(pid, addr, n) is not None for pid, addr, n in forced)
    except OSError:
        return True                   # gone: nothing left to decide
    finally:
        forced.clear()


def read_string(pid: int, addr: int, limit: int = PATH_MAX, toolong: int = errno.ENAMETOOLONG) -> bytes:
    """NUL-terminated string at addr.  EFAULT if any byte before the NUL is
    unreadable; ``toolong`` if no NUL within ``limit`` bytes (limit includes the NUL)."""
    if addr == 0:
        raise ArgFault(errno.EFAULT, "NULL pointer")
    # the common case, inline: a short string, one read from a kept-open fd
    fd = _fds.get(pid)
    n = PAGE - (addr & PAGE_MASK)
    if n > FIRST_READ:
        n = FIRST_READ
    if fd is not None and n < limit and addr + n <= TASK_SIZE:
        try:
            data = _pread(fd, n, addr)
        except OSError:
            data = b""
        i = data.find(b"\0")
        if i >= 0 and len(data) == n:
            forced.append((pid, addr, n))
            return data[:i]
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
