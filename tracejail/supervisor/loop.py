"""Minimal placeholder event loop: seize, allow every stop, wait for exit.

Replaced by the real supervisor; exists so the launcher can be built and
tested end to end meanwhile.
"""
from __future__ import annotations

import ctypes
import os
import signal
import time
from dataclasses import dataclass

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

PTRACE_CONT = 7
PTRACE_SEIZE = 0x4206
PTRACE_O_TRACESYSGOOD = 1
PTRACE_O_TRACEFORK = 2
PTRACE_O_TRACEVFORK = 4
PTRACE_O_TRACECLONE = 8
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_O_EXITKILL = 0x100000
OPTIONS = (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE
           | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL)


@dataclass
class Outcome:
    exit_code: int
    reason: str
    violation: dict | None = None


class Supervisor:
    def __init__(self, policy=None, audit=None, config=None):
        self.policy, self.audit, self.config = policy, audit, config
        self.main_pid = None

    def attach(self, pid: int) -> None:
        if _libc.ptrace(PTRACE_SEIZE, pid, None, OPTIONS) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"PTRACE_SEIZE {pid}: {os.strerror(e)}")
        self.main_pid = pid

    def kill_all(self) -> None:
        if self.main_pid:
            try:
                os.kill(self.main_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def run(self, pid: int, deadline: float | None = None) -> Outcome:
        while True:
            wpid, status = os.waitpid(-1, os.__dict__.get("WALL", 0x40000000))
            if wpid == pid and os.WIFEXITED(status):
                return Outcome(os.WEXITSTATUS(status), "exited")
            if wpid == pid and os.WIFSIGNALED(status):
                return Outcome(128 + os.WTERMSIG(status), "signaled")
            if os.WIFSTOPPED(status):
                sig = os.WSTOPSIG(status)
                inject = 0 if sig in (signal.SIGTRAP, signal.SIGTRAP | 0x80) or (status >> 16) else sig
                _libc.ptrace(PTRACE_CONT, wpid, None, inject)
            if deadline is not None and time.monotonic() > deadline:
                self.kill_all()
