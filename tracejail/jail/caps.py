"""Capabilities: drop everything except --cap names (or all with --keep_caps).

Order matters: the bounding set is trimmed while the jail still has
CAP_SETPCAP; KEEPCAPS keeps permitted caps across the uid switch; afterwards
capset() and ambient caps make the kept set survive execve for a non-root id.
"""
from __future__ import annotations

import ctypes

from tracejail.errors import UsageError
from tracejail.jail import libc

NAMES = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
         "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
         "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
         "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
         "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
         "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
         "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
         "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
         "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def parse_cap(name: str) -> int:
    n = name.strip().upper()
    if n.isdigit():
        v = int(n)
    else:
        if not n.startswith("CAP_"):
            n = "CAP_" + n
        if n not in NAMES:
            raise UsageError(f"unknown capability {name!r}")
        v = NAMES.index(n)
    if v > last_cap():
        raise UsageError(f"capability {name!r} not supported by this kernel")
    return v


class _Hdr(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_V3 = 0x20080522


def _capset(mask: int) -> None:
    hdr = _Hdr(_V3, 0)
    data = (_Data * 2)()
    for i in range(2):
        part = (mask >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = data[i].inheritable = part
    libc.raw_syscall(libc.SYS_capset, ctypes.byref(hdr), ctypes.byref(data), what="capset")


def kept_mask(config) -> int:
    if config.keep_caps:
        return (1 << (last_cap() + 1)) - 1
    mask = 0
    for c in config.caps:
        mask |= 1 << parse_cap(c)
    return mask


def before_id_switch(mask: int) -> None:
    """Trim the bounding set and ask to keep permitted caps over setresuid."""
    for cap in range(last_cap() + 1):
        if not mask & (1 << cap):
            libc.prctl(libc.PR_CAPBSET_DROP, cap, what=f"drop bounding {NAMES[cap] if cap < len(NAMES) else cap}")
    if mask:
        libc.prctl(libc.PR_SET_KEEPCAPS, 1, what="PR_SET_KEEPCAPS")


def after_id_switch(mask: int) -> None:
    """Leave exactly ``mask`` in E/P/I and ambient, so it survives execve."""
    _capset(mask)
    libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL, 0, what="clear ambient caps")
    for cap in range(last_cap() + 1):
        if mask & (1 << cap):
            libc.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_RAISE, cap, what="raise ambient cap")
    if mask:
        libc.prctl(libc.PR_SET_KEEPCAPS, 0, what="PR_SET_KEEPCAPS")
