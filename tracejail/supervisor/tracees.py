"""Per-task supervisor state.

One small slotted object per live task, created on the task's first stop and
dropped on its exit (or, for the thread whose tid vanishes in a non-leader
execve, at the exec event), so memory stays bounded however many short-lived
children the jail makes and a recycled tid never inherits stale state.
"""
from __future__ import annotations

from tracejail.supervisor.paths import Resolver


def _status_ids(tid: int) -> tuple[int, int, int]:
    """(tgid, innermost ns tgid, innermost ns pid) from /proc/TID/status."""
    tgid = nstgid = nspid = tid
    with open(f"/proc/{tid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"Tgid:"):
                tgid = int(line.split()[1])
            elif line.startswith(b"NStgid:"):
                nstgid = int(line.split()[-1])
            elif line.startswith(b"NSpid:"):
                nspid = int(line.split()[-1])
                break
    return tgid, nstgid, nspid


class Tracee:
    __slots__ = ("tid", "tgid", "resolver", "pending", "exec_check", "counts", "started",
                 "held", "frozen", "view", "frozen_by", "connecting")

    def __init__(self, tid: int, view=None):
        self.tid = tid
        self.view = view          # the jail's MountView, shared by every resolver
        self.started = False
        self.pending = None       # (call, verdict, mode) awaiting the syscall-exit stop
        self.exec_check = None    # (call, verdict) of an allowed execve, checked at the exec event
        self.counts = None        # per-syscall invocation counts (only with --inject)
        self.held = None          # wait status taken while frozen, not yet handled
        self.frozen = None        # sibling threads this task's held syscall froze
        self.frozen_by = None     # the task whose held syscall keeps this one stopped
        self.connecting = None    # (fd, socket inode) of a connect made again to wait (loop.py)
        self.refresh()

    def refresh(self) -> None:
        """(Re)read ids: at creation and after an execve changed the thread group."""
        try:
            tgid, nstgid, nspid = _status_ids(self.tid)
        except (FileNotFoundError, ProcessLookupError):
            tgid, nstgid, nspid = self.tid, self.tid, self.tid
        self.tgid = tgid
        self.resolver = Resolver(self.tid, nspid, nstgid, self.view)
