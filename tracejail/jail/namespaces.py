"""Namespace flags chosen from the config and the unshare(2) call.

The jail's child C unshares everything at once so the new user namespace owns
all the others (the kernel creates CLONE_NEWUSER first within one call).
"""
from __future__ import annotations

from tracejail.jail import libc

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

_FLAGS = (("clone_newuser", CLONE_NEWUSER), ("clone_newns", CLONE_NEWNS),
          ("clone_newnet", CLONE_NEWNET), ("clone_newipc", CLONE_NEWIPC),
          ("clone_newuts", CLONE_NEWUTS), ("clone_newcgroup", CLONE_NEWCGROUP),
          ("clone_newpid", CLONE_NEWPID), ("clone_newtime", CLONE_NEWTIME))


def flags_for(config) -> int:
    flags = 0
    for attr, bit in _FLAGS:
        if getattr(config, attr):
            flags |= bit
    return flags


def describe(flags: int) -> str:
    return ",".join(a[len("clone_new"):] for a, b in _FLAGS if flags & b) or "none"


def unshare(flags: int) -> None:
    if flags:
        libc.unshare(flags)
