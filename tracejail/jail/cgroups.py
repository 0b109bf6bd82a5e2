"""Per-jail cgroup: pids.max / memory limit / CPU quota, and teardown that kills
every process left in it.

v2 is used when the unified hierarchy offers the needed controllers, else the
v1 per-controller hierarchies (this project's CI machine is v1 hybrid).  The
jail's first process (C) moves itself in before unsharing, so the supervisor
stays outside and the jail's cgroup namespace is rooted at the jail's group.
"""
from __future__ import annotations

import os
import signal
import time

from tracejail.errors import SetupError

V1_ROOT = "/sys/fs/cgroup"
PARENT = "tracejail"


def _write(path: str, value) -> None:
    with open(path, "w") as f:
        f.write(str(value))


def _v2_mount() -> str | None:
    for cand in (V1_ROOT, V1_ROOT + "/unified"):
        if os.path.exists(cand + "/cgroup.controllers") and os.path.exists(cand + "/cgroup.procs"):
            return cand
    return None


def _sweep_stale(parent: str) -> None:
    """Remove empty groups left by a tracejail that was SIGKILLed (its pid is in the name)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for n in names:
        parts = n.split(".")
        if len(parts) == 3 and parts[0] == "jail" and parts[1].isdigit():
            if not os.path.exists(f"/proc/{parts[1]}"):
                try:
                    os.rmdir(f"{parent}/{n}")
                except OSError:
                    pass


class Cgroup:
    """Create with the wanted limits (values 0 = not wanted); ``dirs`` empty = none."""

    def __init__(self, pids_max: int = 0, mem_max: int = 0, cpu_ms_per_sec: int = 0,
                 required: bool = True):
        self.limits = {"pids": pids_max, "memory": mem_max, "cpu": cpu_ms_per_sec}
        self.wanted = [c for c, v in self.limits.items() if v]
        self.required = required
        self.dirs: list[str] = []
        self.v2 = False
        self.name = f"jail.{os.getpid()}.{time.monotonic_ns() % 10**9}"

    def setup(self) -> None:
        if not self.wanted:
            return
        try:
            v2 = _v2_mount()
            if v2 and set(self.wanted) <= set(open(v2 + "/cgroup.controllers").read().split()):
                self._setup_v2(v2)
            else:
                self._setup_v1()
        except OSError as e:
            self.remove()
            raise SetupError(f"cgroup setup ({', '.join(self.wanted)}): {e.strerror or e}"
                             f"{' ' + e.filename if e.filename else ''}") from None

    def _setup_v1(self) -> None:
        for ctrl in self.wanted:
            base = f"{V1_ROOT}/{ctrl}"
            if not os.path.exists(base + "/cgroup.procs"):
                raise OSError(0, f"no cgroup v1 '{ctrl}' hierarchy at {base}")
            parent = f"{base}/{PARENT}"
            os.makedirs(parent, exist_ok=True)
            _sweep_stale(parent)
            d = f"{parent}/{self.name}"
            os.mkdir(d)
            self.dirs.append(d)
            v = self.limits[ctrl]
            if ctrl == "pids":
                _write(d + "/pids.max", v)
            elif ctrl == "memory":
                _write(d + "/memory.limit_in_bytes", v)
                if os.path.exists(d + "/memory.memsw.limit_in_bytes"):
                    _write(d + "/memory.memsw.limit_in_bytes", v)
            elif ctrl == "cpu":
                _write(d + "/cpu.cfs_period_us", 1000000)
                _write(d + "/cpu.cfs_quota_us", v * 1000)

    def _setup_v2(self, mnt: str) -> None:
        self.v2 = True
        enable = " ".join("+" + c for c in self.wanted)
        _write(mnt + "/cgroup.subtree_control", enable)
        parent = f"{mnt}/{PARENT}"
        os.makedirs(parent, exist_ok=True)
        _sweep_stale(parent)
        _write(parent + "/cgroup.subtree_control", enable)
        d = f"{parent}/{self.name}"
        os.mkdir(d)
        self.dirs.append(d)
        if self.limits["pids"]:
            _write(d + "/pids.max", self.limits["pids"])
        if self.limits["memory"]:
            _write(d + "/memory.max", self.limits["memory"])
            if os.path.exists(d + "/memory.swap.max"):
                _write(d + "/memory.swap.max", 0)
        if self.limits["cpu"]:
            _write(d + "/cpu.max", f"{self.limits['cpu'] * 1000} 1000000")

    def attach_self(self) -> None:
        """Called in the jail's first process before unshare."""
        for d in self.dirs:
            _write(d + "/cgroup.procs", os.getpid())

    def pids_current_path(self) -> str | None:
        """The kernel's live task count of the jail (threads included), if a pids
        controller is attached: the supervisor reads it to know a task is alone."""
        for d in self.dirs:
            if os.path.exists(d + "/pids.current"):
                return d + "/pids.current"
        return None

    def procs(self) -> set[int]:
        out: set[int] = set()
        for d in self.dirs:
            try:
                with open(d + "/cgroup.procs") as f:
                    out.update(int(x) for x in f.read().split())
            except (OSError, ValueError):
                pass
        return out

    def kill(self) -> None:
        """Kill every process in the group until it is empty (bounded)."""
        if not self.dirs:
            return
        if self.v2:
            try:
                _write(self.dirs[0] + "/cgroup.kill", 1)
            except OSError:
                pass
        for _ in range(200):
            pids = self.procs()
            if not pids:
                return
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)

    def remove(self) -> None:
        self.kill()
        for d in self.dirs:
            for _ in range(200):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)
        self.dirs = []
