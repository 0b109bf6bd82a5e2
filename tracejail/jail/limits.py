"""rlimits (nsjail names, units and defaults), nice level, CPU affinity, personality.

Values: a number in the option's unit, 'max'/'hard' (current hard limit),
'inf' (RLIM_INFINITY), 'def'/'soft' (current soft limit).  Both soft and hard
are set to the value, as nsjail does.
"""
from __future__ import annotations

import os
import resource

from tracejail.errors import SetupError, UsageError

MB = 1024 * 1024
# name -> (resource constant name, unit multiplier, nsjail default)
RLIMITS = {
    "as": ("RLIMIT_AS", MB, "4096"),
    "core": ("RLIMIT_CORE", MB, "0"),
    "cpu": ("RLIMIT_CPU", 1, "600"),
    "fsize": ("RLIMIT_FSIZE", MB, "1"),
    "nofile": ("RLIMIT_NOFILE", 1, "32"),
    "nproc": ("RLIMIT_NPROC", 1, "soft"),
    "stack": ("RLIMIT_STACK", MB, "soft"),
    "memlock": ("RLIMIT_MEMLOCK", 1024, "soft"),
    "rtprio": ("RLIMIT_RTPRIO", 1, "soft"),
    "msgqueue": ("RLIMIT_MSGQUEUE", 1, "soft"),
}

PERSONAS = {
    "persona_addr_compat_layout": 0x0200000,
    "persona_mmap_page_zero": 0x0100000,
    "persona_read_implies_exec": 0x0400000,
    "persona_addr_limit_3gb": 0x8000000,
    "persona_addr_no_randomize": 0x0040000,
}


def check_value(name: str, value) -> str:
    v = str(value).strip().lower()
    if v in ("max", "hard", "inf", "def", "soft"):
        return v
    if not v.isdigit():
        raise UsageError(f"bad --rlimit_{name} value {value!r} (want a number, max, inf, def, soft or hard)")
    return v


def resolve(name: str, value: str) -> int:
    res = getattr(resource, RLIMITS[name][0])
    soft, hard = resource.getrlimit(res)
    if value in ("max", "hard"):
        return hard
    if value == "inf":
        return resource.RLIM_INFINITY
    if value in ("def", "soft"):
        return soft
    return int(value) * RLIMITS[name][1]


def apply_rlimits(config) -> None:
    if config.disable_rlimits:
        return
    for name, (const, _unit, default) in RLIMITS.items():
        value = resolve(name, config.rlimits.get(name, default))
        try:
            resource.setrlimit(getattr(resource, const), (value, value))
        except (OSError, ValueError) as e:
            raise SetupError(f"setrlimit {const}={value}: {e}") from None


def apply_sched(config) -> None:
    if config.nice_level:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, config.nice_level)
        except OSError as e:
            raise SetupError(f"nice level {config.nice_level}: {e.strerror}") from None
    if config.max_cpus:
        cpus = sorted(os.sched_getaffinity(0))[: config.max_cpus]
        os.sched_setaffinity(0, cpus)


def apply_personality(config) -> None:
    if config.personality:
        from tracejail.jail import libc
        try:
            libc.personality(config.personality)
        except OSError as e:
            raise SetupError(f"personality: {e.strerror}") from None
