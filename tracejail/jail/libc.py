"""ctypes access to the libc calls Python's os module lacks (mount, unshare, prctl...).

Each wrapper raises OSError with errno on failure so callers can turn it into
one SetupError line naming the step.
"""
from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.personality.argtypes = [ctypes.c_ulong]

SYS_pivot_root = 155
SYS_capget = 125
SYS_capset = 126
SYS_seccomp = 317

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


def _enc(s):
    return None if s is None else os.fsencode(s)


def _check(ret: int, what: str) -> int:
    if ret < 0 or (ret == -1):
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return ret


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0, what: str = "prctl") -> int:
    return _check(_libc.prctl(option, a2, a3, a4, a5), what)


def mount(src, target, fstype, flags: int, data=None) -> None:
    _check(_libc.mount(_enc(src), _enc(target), _enc(fstype), flags, _enc(data)),
           f"mount {src or fstype!s} on {target}")


def umount2(target, flags: int) -> None:
    _check(_libc.umount2(_enc(target), flags), f"umount {target}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(SYS_pivot_root, _enc(new_root), _enc(put_old)), "pivot_root")


def personality(persona: int) -> None:
    _check(_libc.personality(persona), "personality")


def raw_syscall(nr: int, *args, what: str = "syscall") -> int:
    return _check(_libc.syscall(nr, *args), what)
