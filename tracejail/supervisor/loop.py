"""The supervisor's event loop: one waitpid(__WALL) loop over the whole jail.

Stops are told apart only by what a tracee cannot forge: the seccomp stop is
``status>>8 == SIGTRAP | PTRACE_EVENT_SECCOMP<<8``, a syscall-exit stop is
``SIGTRAP|0x80`` (TRACESYSGOOD); any other SIGTRAP is a signal and goes back
to the tracee.  The syscall itself is read with PTRACE_GET_SYSCALL_INFO,
never from the filter's event message (which a jailed filter could spoof).

Fail closed everywhere: an exception inside the supervisor kills the whole
jail (tracees are never detached; PTRACE_O_EXITKILL covers the supervisor
itself dying) and is reported as SupervisorError.

TOCTOU (threats #11-13, #18): the policy decides on a snapshot of memory
and of the file tree.  Defences:
- before the first argument read, every other thread of the tracee's
  process is stopped (PTRACE_INTERRUPT) and stays stopped until the held
  syscall's exit stop, so the bytes checked are the bytes the kernel copies
  (a thread created just before, whose first stop comes later, is held
  then: _holder_of);
- an allowed open whose verdict read a path is stopped again at syscall exit
  and the fd the kernel returned is re-decided on its real path (a changed
  answer kills the jail), unless the task is alone in the jail by the
  kernel's own count (cgroup pids.current, which also counts a fork child
  whose first stop is still queued: hole H3) and no kernel-side writer of
  its memory was set up (ASYNC_SETUP): then nothing can change the path or
  its bytes between the verdict and the kernel's lookup (such a task's
  open/openat verdicts are also memoized: _memo_decide);
- an allowed execve is re-decided on /proc/PID/exe at the exec event (also
  catches a shebang to a forbidden interpreter).
- the other path syscalls (unlink, rename, mkdir, chmod, ...) have no object
  to re-check afterwards, and an open with O_CREAT/O_TRUNC does its damage
  before the re-check: when the task is not alone, every other task of the
  jail is stopped before the path is read and stays stopped (late arrivals
  too) until the call's exit stop (WORLD_FREEZE).
What remains weak when the task is not alone: a plain open can still have its
argument flipped by another task's write to shared memory or a symlink
swapped under it (#12, #18), caught after the fact by the fd re-check (the
jail is killed); once the policy allowed an ASYNC_SETUP call, a kernel-side
writer may flip memory even while the jail is stopped.
Network calls whose verdict read an address: netcalls.py.
Writers outside the jail (host processes, another jail
sharing a -B directory) are trusted.  An open
of a FIFO is not held frozen (it could wait for a frozen sibling).  The
cached root fd goes stale if the tracee chroots in a way not routed to the
supervisor (the default policy kills chroot/pivot_root).
"""
from __future__ import annotations

import errno
import os
import signal
import stat
import struct
import threading
import time

from tracejail._values import _Node, _node
from tracejail.errors import TracejailError
from tracejail.supervisor import memory
from tracejail.supervisor import ptrace_api as pt
from tracejail.supervisor.call import TraceeCall
from tracejail.supervisor.mountview import MOUNT_CHANGERS, MountView
from tracejail.supervisor.netcalls import HOLD, NOWAIT, SEND_FLAGS, NetCalls, same_fds
from tracejail.supervisor.paths import PATH_SYSCALLS, changes_on_open, path_spec
from tracejail.supervisor.tracees import Tracee
from tracejail.verdict import ALLOWING, ArgFault, Verdict

SECCOMP_STOP = signal.SIGTRAP | (pt.PTRACE_EVENT_SECCOMP << 8)
_INFO_SECCOMP, _X86_64, _X32_BIT = pt.PTRACE_SYSCALL_INFO_SECCOMP, pt.AUDIT_ARCH_X86_64, pt.X32_SYSCALL_BIT
_resume = pt.resume
SYSCALL_STOP = signal.SIGTRAP | 0x80
GROUP_STOP_SIGS = frozenset((signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU))
# Synchronous faults the kernel forces on a task; deadly unless caught.
FAULT_SIGS = frozenset((signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGTRAP,
                        signal.SIGSYS))
OPEN_CALLS = {"open": 0, "openat": 1, "openat2": 1, "creat": 0}
EXEC_CALLS = {"execve": 0, "execveat": 1}
# Path syscalls with no object to re-check afterwards (unlink, rename, mkdir,
# chmod...): while one of a task that is not alone is decided and run, every
# other task of the jail stays stopped (threats #12, #18).
WORLD_FREEZE = PATH_SYSCALLS - OPEN_CALLS.keys() - EXEC_CALLS.keys()
# ...and so do opens that change the file by opening it (paths.changes_on_open):
# the fd re-check would come after the damage


SPIN = 0.0005       # seconds _wait_stop polls without sleeping
SPIN_POLLS = 20     # waitpid(WNOHANG) polls before the event loop blocks in waitpid


def _wait_stop(tid: int, limit: float = 0.02) -> tuple[int, int]:
    """waitpid(tid) for up to ``limit`` seconds (none if it sits in vfork, waiting
    for its child): (0, 0) if it has not stopped.  A running or sleeping task
    stops within microseconds of PTRACE_INTERRUPT: the first SPIN seconds are
    polled without sleeping (a sleep costs ~100 us here, more than the wait)."""
    wpid, status = os.waitpid(tid, pt.WALL | os.WNOHANG)
    if wpid:
        return wpid, status
    try:
        with open(f"/proc/{tid}/syscall", "rb") as f:
            if f.read(3) == b"58 ":                   # vfork
                return 0, 0
    except OSError:
        pass
    now = time.monotonic()
    spin, end = now + SPIN, now + limit
    pause = 0.00005
    while True:
        wpid, status = os.waitpid(tid, pt.WALL | os.WNOHANG)
        if wpid:
            return wpid, status
        now = time.monotonic()
        if now >= end:
            return 0, 0
        if now < spin:
            os.sched_yield()
        else:
            time.sleep(pause)
            pause = min(pause * 2, 0.002)


KEEP_POLL = 0.001    # seconds between looks while a held call keeps tasks stopped


def _asleep_in(tid: int, nr: int) -> bool:
    """Is the task asleep (interruptibly: waiting, not faulting) inside syscall nr?"""
    try:
        with open(f"/proc/{tid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        with open(f"/proc/{tid}/syscall", "rb") as f:
            return state == b"S" and f.read().split(b" ", 1)[0] == b"%d" % nr
    except (OSError, IndexError):
        return False


# Set-up of memory the kernel writes asynchronously (AIO rings and O_DIRECT
# reads, io_uring, perf and bpf ring buffers, userfaultfd).  The runner has
# them routed here whenever the policy may allow them: once one is allowed,
# "the task is alone" no longer means nothing can change its memory.
ASYNC_SETUP = ("io_setup", "io_uring_setup", "userfaultfd", "perf_event_open", "bpf")
_ASYNC = frozenset(ASYNC_SETUP)
_MOUNTS = frozenset(MOUNT_CHANGERS)
# clone3's flags are in memory, out of the filter's reach: CLONE_UNTRACED is refused here
# Packet and XDP sockets can map rings the kernel writes packets into (PACKET_RX_RING,
# XDP UMEM): socket() of those families counts as an ASYNC_SETUP call
RING_FAMILIES = (17, 44)                                 # AF_PACKET, AF_XDP
WATCHED = ASYNC_SETUP + MOUNT_CHANGERS + ("clone3", ("socket", 0, RING_FAMILIES))
# (the runner's compile_policy(watch=...): socket only if the policy may allow those families)
CLONE_UNTRACED = 0x00800000
CLONE_ARGS_FLAGS = struct.Struct("<Q")      # struct clone_args starts with u64 flags
# what a stop must look at, per syscall number (Supervisor._kind)
K_WORLD, K_OPEN, K_EXEC, K_CLONE, K_WATCHED, K_MEMO, K_CONNECT, K_SEND = 1, 2, 4, 8, 16, 32, 64, 128
K_NOWAIT = 256           # per stop, from Supervisor._send_plan: run it with MSG_DONTWAIT
MEMO_ENTRIES = 4096
EXIT_POLICY_KILL = 159       # nsjail's status for a seccomp kill (128 + SIGSYS)
EXIT_TIMEOUT = 137


@_node
class Outcome(_Node):
    """How the jail ended (a _values class: no dataclass machinery at start-up)."""
    _fields = ("exit_code", "reason", "violation")

    def __init__(self, exit_code: int, reason: str, violation: dict | None = None):
        self.exit_code, self.reason, self.violation = exit_code, reason, violation


class SupervisorError(TracejailError):
    """The supervisor itself failed; the jail was killed (fail closed)."""
    exit_code = 1


def _names():
    from tracejail.policy.syscalls import rtable
    return rtable("x86_64")


def _decoder():
    try:
        from tracejail.supervisor.decode import decode, deferred
        return decode, deferred
    except ImportError:
        return None, None


class Supervisor(NetCalls):
    def __init__(self, compiled=None, audit=None, config=None):
        self.compiled, self.audit, self.config = compiled, audit, config
        self.main_pid: int | None = None
        self.tracees: dict[int, Tracee] = {}
        self.groups: dict[int, set[int]] = {}          # tgid -> live tids
        self.outcome: Outcome | None = None
        self.killing = False
        self.kill_reason: str | None = None
        self.violation: dict | None = None
        self.violations = 0
        self.fatal_signal: int | None = None   # a fault the kernel would not deliver to traced init
        self.names = _names()
        self.decode, self.deferred = _decoder()
        # a counters-only log (no file) never shows an allowed call's arguments
        self.decode_allowed = getattr(audit, "path", True) is not None
        self.audit_results = bool(getattr(config, "audit_results", False))
        self.permissive = bool(getattr(config, "permissive", False))
        self.max_violations = getattr(config, "max_violations", None)
        self.async_io = False    # an ASYNC_SETUP call was allowed: see _alone()
        self.view = MountView()  # stable directories, walk cache (off once mounts change)
        self._count_fd = None    # the jail cgroup's pids.current
        self._solo = None        # tid last found alone; dropped on any other event
        self._world = None       # the task whose held call has the whole jail stopped
        self._kinds: dict[int, int] = {}    # nr -> K_* bits
        self._deciders: dict = {}           # nr -> the policy's decision function (x86_64)
        self._memo: dict = {}               # see _memo_decide
        self._fd_tables: dict[int, int] = {}  # tgid/tid -> fd-table group, if another task shares it
        self._keeping: dict = {}   # Tracee -> since when its held call keeps tasks it may wait for
        self.inject = None
        specs = getattr(config, "inject", None)
        if specs:
            from tracejail.supervisor.inject import parse_injections
            self.inject = parse_injections(specs)

    # -- public API --------------------------------------------------------
    def attach(self, pid: int) -> None:
        pt.seize(pid)
        self.main_pid = pid

    def count_tasks_with(self, path: str | None) -> None:
        """Where the kernel counts the jail's live tasks (cgroup pids.current).
        Unreadable: no count, so no task is ever taken to be alone (slower, safe)."""
        if path is not None and self._count_fd is None:
            try:
                self._count_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                pass

    def _alone(self, tid: int) -> bool:
        """Is the stopped task the only one in the jail, with no kernel-side
        writer of its memory?  Then nothing can swap a path component or flip
        an argument between the verdict and the kernel's own lookup.  The
        kernel's count, not ours: it includes children whose first stop we
        have not seen yet (hole H3).  Once seen alone, a task stays alone
        until the loop sees anything but its seccomp stops: a new task needs
        a fork event (untraced clones are refused by the filter's guard and,
        for clone3, in _decide_and_resume)."""
        if self._solo == tid:
            return True
        if self._count_fd is None or self.async_io:
            return False
        try:
            alone = os.pread(self._count_fd, 16, 0) == b"1\n"
        except OSError:
            return False
        if alone:
            self._solo = tid
        return alone

    def kill_all(self, reason: str | None = None) -> None:
        """SIGKILL every jailed task.  Async-signal-safe in the Python sense:
        sets flags and sends signals, touches no shared structure in place
        (tasks not yet known are killed at their first stop)."""
        if reason and not self.kill_reason:
            self.kill_reason = reason
        self.killing = True
        for tid in [self.main_pid, *list(self.tracees)]:
            if tid:
                try:
                    os.kill(tid, signal.SIGKILL)
                except OSError:
                    pass

    def run(self, pid: int, deadline: float | None = None) -> Outcome:
        self.main_pid = pid
        timer = None
        if deadline is not None:
            timer = threading.Timer(max(0.0, deadline - time.monotonic()), self.kill_all, ("timeout",))
            timer.daemon = True
            timer.start()
        outcome = None
        try:
            outcome = self._loop(pid)
        except BaseException as e:
            self.kill_all("error")
            self._drain()
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            self._audit("limit", "supervisor-error", error=f"{type(e).__name__}: {e}")
            raise SupervisorError(f"supervisor failure, jail killed: {type(e).__name__}: {e}") from e
        finally:
            if timer is not None:
                timer.cancel()
            if self._count_fd is not None:
                os.close(self._count_fd)
                self._count_fd = None
        return outcome

    # -- the loop ----------------------------------------------------------
    def _loop(self, main: int) -> Outcome:
        waitpid = os.waitpid
        tracees = self.tracees
        wall = pt.WALL
        nohang, sched_yield = wall | os.WNOHANG, os.sched_yield
        # until the main process and every task we know of are gone (not until
        # ECHILD: the caller may have children of its own that are none of ours)
        while self.outcome is None or tracees:
            try:
                if self._keeping:
                    wpid, status = self._timed_wait()
                    if not wpid:
                        continue
                else:
                    # a tracee resumed a moment ago usually stops again within
                    # microseconds: a few polls save the sleep and wake-up in
                    # wait4 (about 10 us a stop here, a fifth of a traced openat)
                    for _ in range(SPIN_POLLS):
                        wpid, status = waitpid(-1, nohang)
                        if wpid:
                            break
                        sched_yield()
                    else:
                        wpid, status = waitpid(-1, wall)
            except ChildProcessError:
                break
            if status >> 8 == SECCOMP_STOP:
                if wpid == self._solo and not self.killing:
                    t = tracees.get(wpid)
                    if t is not None:
                        self._seccomp_stop(t)             # a lone task: nothing is frozen
                        continue
            self._solo = None
            if status & 0x7F == 0x7F:                      # stopped
                if self.killing:
                    self._sigkill(wpid)
                    pt.cont(wpid)      # a SIGKILLed task may sit in PTRACE_EVENT_EXIT stop (TRACEEXIT)
                    continue
                t = tracees.get(wpid)
                w = None
                if t is None:
                    # first stop of a new task (may arrive before the parent's fork event)
                    t = self._new_tracee(wpid)
                    w = self._holder_of(t)
                w = t.frozen_by or self._world or w
                if w is not None and t is not w and t.held is None:
                    t.held = status                       # a late stop: stays stopped too
                    if t.frozen_by is None:
                        t.frozen_by = w
                        w.frozen.append(t)
                    continue
                self._dispatch(t, status)
            else:
                self._on_exit(wpid, status)
        if self.outcome is None:                          # main reaped elsewhere: should not happen
            self.outcome = Outcome(EXIT_POLICY_KILL if self.violation else 1,
                                   "violation" if self.violation else "terminated", self.violation)
        return self.outcome

    def _new_tracee(self, tid: int) -> Tracee:
        t = self.tracees[tid] = Tracee(tid, self.view)
        g = self.groups.get(t.tgid)
        if g is None:
            g = self.groups[t.tgid] = set()
        g.add(tid)
        return t

    def _forget(self, tid: int) -> Tracee | None:
        t = self.tracees.pop(tid, None)
        if t is None or tid != t.tgid:
            self._fd_tables.pop(tid, None)                # a thread's mark from its clone event
        if t is not None:
            t.resolver.close()
            g = self.groups.get(t.tgid)
            if g is not None:
                g.discard(tid)
                if not g:
                    del self.groups[t.tgid]
                    self._fd_tables.pop(t.tgid, None)
        if self.inject is not None:
            self.inject.forget(tid)
        return t

    def _dispatch(self, t: Tracee, status: int) -> None:
        st = status >> 8
        if st == SECCOMP_STOP:
            self._seccomp_stop(t)
        elif st == SYSCALL_STOP:
            self._syscall_exit(t)
        else:
            self._other_stop(t, st & 0xFF, st >> 8)

    def _on_exit(self, wpid: int, status: int) -> None:
        t = self._forget(wpid)
        if t is not None and t.frozen:
            self._thaw(t)                                 # it died holding others stopped
        if t is not None and t.pending is not None and self.audit is not None:
            # audit (issue 5): a held call whose exit stop never came still gets its record
            call, v, mode = t.pending[:3]
            self.audit.syscall(pid=t.tgid, tid=t.tid, arch=call.arch, nr=call.nr, name=call.name,
                               args=call.args, decoded=self._decoded(call), verdict=v,
                               resolved=call.resolved, mode=mode, unfinished=True)
        if os.WIFEXITED(status):
            self._audit("process", "exit", wpid, code=os.WEXITSTATUS(status))
        else:
            self._audit("process", "exit", wpid, signal=os.WTERMSIG(status))
        if wpid == self.main_pid and self.outcome is None:
            self.outcome = self._outcome(status)
            if self.tracees:
                self.kill_all()

    # -- freezing other tasks while a decided call runs (TOCTOU #11, #12, #18) ------
    def _freeze(self, t: Tracee, world: bool = False, tids=None) -> None:
        """Stop every other thread of t's process (world: every other task of
        the jail; or the tasks ``tids``) before its argument is read, so the
        bytes and the tree checked are the ones the kernel will use."""
        frozen = []
        for tid in list(tids if tids is not None else self.tracees if world
                        else self.groups.get(t.tgid, ())):
            u = self.tracees.get(tid)
            if u is None or u is t or u.held is not None or u.frozen_by is not None:
                continue                                  # gone, or already kept stopped
            if pt.interrupt(tid):
                frozen.append(u)
                u.frozen_by = t
        for u in frozen:
            try:
                wpid, status = _wait_stop(u.tid)
            except ChildProcessError:
                continue
            if wpid == 0:
                # not stopped yet: blocked in the kernel, e.g. a vfork parent waiting
                # for its child, stopped too (maybe t itself).  It stops before it
                # runs user code again; the loop holds that stop (frozen_by).
                continue
            if status & 0x7F == 0x7F:
                u.held = status
            else:
                self._on_exit(wpid, status)
        t.frozen = frozen if t.frozen is None else t.frozen + frozen
        if world:
            self._world = t

    def _thaw(self, t: Tracee, keep=None) -> None:
        """Resume the tasks t's held call stopped; ``keep(u)`` true: u stays
        stopped (and t's) until the next _thaw(t), or until t is found asleep
        inside its call (_timed_wait)."""
        if self._world is t:
            self._world = None
        frozen, t.frozen = t.frozen, None
        self._keeping.pop(t, None)
        if keep is not None:
            # kept even if empty: a sharer whose first stop is still queued joins
            # it when it comes (_holder_of), and is released with the others
            t.frozen = [u for u in frozen or () if keep(u)]
            frozen = [u for u in frozen or () if not keep(u)]
            self._keeping[t] = time.monotonic()
        for i, u in enumerate(frozen or ()):
            w = self._world
            if w is not None:
                # a task resumed above stopped the jail again: the rest stay stopped for it
                for v in frozen[i:]:
                    if v is not w and v.frozen_by is t:
                        v.frozen_by = w
                        w.frozen.append(v)
                return
            u.frozen_by = None
            status, u.held = u.held, None
            if status is not None and not self.killing and self.tracees.get(u.tid) is u:
                self._dispatch(u, status)

    def _holder_of(self, t: Tracee) -> Tracee | None:
        """The task whose held call keeps t's kin stopped: a thread of t's
        process (its thread group), or a network call keeping the sharers of
        t's fd table.  A new task was not there to be stopped with them, but
        its first stop is held the same (it could change what was decided on)."""
        for tid in self.groups.get(t.tgid, ()):
            u = self.tracees.get(tid)
            if u is not None and u is not t and u.frozen is not None:
                return u
        for h in self._keeping:
            if self._shares_fds(h)(t):
                return h
        return None

    def _timed_wait(self) -> tuple[int, int]:
        """waitpid(-1) while a held call keeps tasks stopped that it may wait
        for (netcalls: the sharers of its fd table): a short poll.  A holder
        found asleep inside its call has taken its fd and its arguments by then
        (the kernel takes them before it waits), so the tasks it keeps resume:
        a thread reading the other end of a full stream can then drain it.
        The first KEEP_POLL seconds of a hold are polled without sleeping: most
        held calls return within microseconds."""
        while True:
            wpid, status = os.waitpid(-1, pt.WALL | os.WNOHANG)
            if wpid:
                return wpid, status
            now = time.monotonic()
            if now - min(self._keeping.values()) < KEEP_POLL:
                os.sched_yield()
                continue
            for t, since in list(self._keeping.items()):
                if now - since >= KEEP_POLL and t.pending is not None and \
                        _asleep_in(t.tid, t.pending[0].nr):
                    self._thaw(t)
            if not self._keeping:
                return 0, 0
            time.sleep(KEEP_POLL)

    def _fault_kills_init(self, t: Tracee, sig: int) -> bool:
        """A kernel-sent fault in the jail's pid-namespace init (the command).

        Untraced, the kernel lifts init's immunity to SIG_DFL signals for a
        forced fault and the task dies; while traced it does not, so the
        re-injected signal is dropped and the task faults forever.  Emulate
        the untraced outcome: the signal kills unless a handler will run."""
        if t.resolver.nstgid != 1 or (pt.signal_code(t.tid) or 0) <= 0:
            return False
        try:
            with open(f"/proc/{t.tid}/status") as f:
                fields = dict(line.split(":\t", 1) for line in f if ":\t" in line)
            bit = 1 << (sig - 1)
            caught = int(fields["SigCgt"], 16) & bit
            blocked = int(fields["SigBlk"], 16) & bit
        except (OSError, KeyError, ValueError):
            return True
        return not caught or bool(blocked)

    def _outcome(self, status: int) -> Outcome:
        if self.violation is not None:
            return Outcome(EXIT_POLICY_KILL, "violation", self.violation)
        if self.fatal_signal is not None:
            return Outcome(128 + self.fatal_signal, "signaled")
        if self.kill_reason == "timeout":
            return Outcome(EXIT_TIMEOUT, "timeout")
        if os.WIFEXITED(status):
            code = os.WEXITSTATUS(status)
            return Outcome(code, "terminated" if self.kill_reason == "terminated" else "exited")
        sig = os.WTERMSIG(status)
        return Outcome(128 + sig, "terminated" if self.kill_reason == "terminated" else "signaled")

    def _drain(self) -> None:
        """After kill_all: reap every remaining tracee (kill late arrivals)."""
        while True:
            try:
                wpid, status = os.waitpid(-1, pt.WALL)
            except ChildProcessError:
                return
            except OSError:
                return
            if status & 0x7F == 0x7F:
                self._sigkill(wpid)
                pt.cont(wpid)          # may sit in PTRACE_EVENT_EXIT stop (TRACEEXIT)
            else:
                self._forget(wpid)

    @staticmethod
    def _sigkill(tid: int) -> None:
        try:
            os.kill(tid, signal.SIGKILL)
        except OSError:
            pass

    def _resume(self, t: Tracee, sig: int = 0) -> None:
        if t.pending is not None:
            pt.syscall(t.tid, sig)
        else:
            pt.cont(t.tid, sig)

    # -- stops ---------------------------------------------------------------
    def _other_stop(self, t: Tracee, sig: int, event: int) -> None:
        tid = t.tid
        if event == 0:                                    # signal-delivery stop: re-inject
            t.started = True
            self._audit("signal", tid, sig)
            if sig in FAULT_SIGS and self._fault_kills_init(t, sig):
                self.fatal_signal = sig
                self.kill_all()
                return
            self._resume(t, sig)
        elif event == pt.PTRACE_EVENT_STOP:
            if t.started and sig in GROUP_STOP_SIGS:
                pt.listen(tid)                            # group stop: stay stopped, keep tracing
            else:
                t.started = True                          # initial auto-attach stop / INTERRUPT
                self._resume(t)
        elif event in (pt.PTRACE_EVENT_FORK, pt.PTRACE_EVENT_VFORK, pt.PTRACE_EVENT_CLONE):
            try:
                child = pt.geteventmsg(tid)
            except OSError:
                return
            self._audit("process", "spawn", child, parent=tid,
                        thread=event == pt.PTRACE_EVENT_CLONE)
            if same_fds(tid, child):                     # a thread, or clone(CLONE_FILES)
                self._fd_tables[child] = self._fd_tables.setdefault(t.tgid, t.tgid)
            self._resume(t)
        elif event == pt.PTRACE_EVENT_EXEC:
            self._exec_event(t)
        elif event == pt.PTRACE_EVENT_EXIT:               # issue 6: kernel kills get named
            from tracejail.violation import on_exit_event
            on_exit_event(self, t)
            self._resume(t)
        else:
            self._resume(t)

    def _exec_event(self, t: Tracee) -> None:
        tid = t.tid
        try:
            former = pt.geteventmsg(tid)
        except OSError:
            return
        if former != tid:
            # a non-leader thread exec'd and took over the leader's tid; the
            # former tid never reports its exit
            old = self._forget(former)
            if old is not None:
                t.exec_check, t.pending = old.exec_check, old.pending
                if self.inject is not None:
                    self.inject.forget(former)
        g = self.groups.get(t.tgid)
        t.resolver.close()
        t.refresh()
        self._fd_tables.pop(t.tgid, None)                 # execve unshares the fd table
        if g is not None:
            g.add(tid)
        check, t.exec_check = t.exec_check, None
        try:
            exe = t.resolver.object_path(f"/proc/{tid}/exe")
        except OSError:
            return                                        # gone
        if check is not None:
            call, verdict = check
            i = EXEC_CALLS[call.name]
            if call.resolved and call.resolved.get(i) != exe:
                call.override = {i: exe}
                call.frozen = True
                call.tid = tid
                call.resolver = t.resolver
                again = self._decide(call)
                if not again.allows and not self.permissive:
                    self._violate(t, call, again, note=f"exec of {exe} (decided on {call.resolved[i]})")
                    return
        self._audit("process", "exec", tid, path=exe, former_tid=former)
        self._resume(t)

    def _decide(self, call: TraceeCall) -> Verdict:
        decide = self._deciders.get(call.nr)
        if decide is None or call.arch != "x86_64":
            decider = getattr(self.compiled, "decider", None)   # else only the decide() contract
            decide = decider(call.nr, call.arch) if decider is not None else self.compiled.decide
            if call.arch == "x86_64":
                self._deciders[call.nr] = decide
        try:
            v = decide(call)
        except ArgFault as f:
            v = Verdict("ERRNO", f.errno, rule="fault")
        if v.__class__ is not Verdict:
            raise TypeError(f"policy returned {v!r}, not a Verdict")
        if memory.forced:
            # refused on bytes read through /proc/TID/mem: the kernel may not have
            # been able to read them (PROT_NONE); then its answer is EFAULT
            if v.action not in ALLOWING and not memory.confirm():
                call.unreadable()
                return Verdict("ERRNO", errno.EFAULT, rule="fault")
            memory.forced.clear()
        return v

    def _kind(self, nr: int, name: str | None) -> int:
        """What the stop handling must look at for this syscall (bits K_*),
        worked out once per syscall number (the caller looks in _kinds first)."""
        k = self._kinds[nr] = (
            (K_WORLD if name in WORLD_FREEZE else 0) | (K_OPEN if name in OPEN_CALLS else 0)
            | (K_EXEC if name in EXEC_CALLS else 0)
            | (K_CLONE if name in ("clone", "clone3") else 0)
            | (K_WATCHED if name in _MOUNTS or name in _ASYNC or name in ("clone3", "socket") else 0)
            | (K_MEMO if name in ("open", "openat") else 0)
            | (K_CONNECT if name == "connect" else 0) | (K_SEND if name in SEND_FLAGS else 0))
        return k

    def _memo_decide(self, call: TraceeCall, name: str) -> Verdict:
        """_decide() for an open/openat of a lone task, memoized.  Their verdict
        depends only on the integer arguments and the path (the one thing in
        memory they point to), and the path's resolution on the tree; so an
        allowing verdict is reused for the same (nr, args, path bytes) for as
        long as the walk cache vouches for the same resolution (an absolute
        path through stable directories only, at most mountview.TTL old).
        Alone, nothing can change the bytes before the kernel reads them."""
        i = OPEN_CALLS[name]
        try:
            raw = call.string(i)
        except ArgFault:
            return self._decide(call)
        key = (call.nr, call.args, raw)
        hit = self._memo.get(key)
        if hit is not None:
            v, p, wkey = hit
            if self.view.walk(wkey) == p:
                memory.forced.clear()                     # allowed: nothing to confirm
                call.known_path(i, p)
                return v
        v = self._decide(call)
        if v.action in ALLOWING and raw[:1] == b"/" and call.resolved is not None:
            p = call.resolved.get(i)
            wkey = (raw, path_spec(name, i, call.args)[1])
            if p is not None and self.view.walk(wkey) == p:
                if len(self._memo) >= MEMO_ENTRIES:
                    self._memo.clear()
                self._memo[key] = (v, p, wkey)
        return v

    def _seccomp_stop(self, t: Tracee) -> None:
        tid = t.tid
        t.started = True
        if memory.forced:
            memory.forced.clear()                         # reads made after the last decision
        try:
            info = pt.seccomp_info(tid)
        except OSError as e:
            if e.errno == errno.ESRCH:
                return                                    # killed meanwhile
            raise
        op, arch, nr = info[0], info[1], info[2]
        args = info[3:]
        if op != _INFO_SECCOMP:
            raise RuntimeError(f"seccomp stop of {tid} without seccomp syscall info (op {op})")
        if arch != _X86_64 or nr & _X32_BIT:
            aname = pt.ARCH_NAMES.get(arch, hex(arch))
            if arch == pt.AUDIT_ARCH_X86_64:
                aname = "x32"
            call = TraceeCall(tid, t.resolver, nr, aname, None, args)
            self._violate(t, call, Verdict("KILL", rule="foreign-arch"))
            return
        name = self.names.get(nr)
        kind = self._kinds.get(nr)
        if kind is None:
            kind = self._kind(nr, name)
        t.resolver._root = None
        call = TraceeCall(tid, t.resolver, nr, "x86_64", name, args)
        if self._solo != tid:                             # a lone task has no one to freeze
            if kind & K_SEND:
                plan = self._send_plan(t, name, args)     # 0 when alone: it asks _alone itself
                if plan & HOLD:
                    kind |= K_WORLD | (K_NOWAIT if plan & NOWAIT else 0)
                world = plan & HOLD
            else:
                world = (kind & K_WORLD or kind & K_OPEN and changes_on_open(name, args)) \
                    and not self._alone(tid)
            if world:
                call.before_read = lambda: self._freeze(t, world=True)
            elif not kind & K_EXEC:
                g = self.groups.get(t.tgid)
                if g is not None and len(g) > 1:
                    call.before_read = lambda: self._freeze(t)
        try:
            self._decide_and_resume(t, call, name, kind)
        except OSError as e:
            if e.errno != errno.ESRCH:
                raise
        if t.frozen is not None and t.pending is None:
            self._thaw(t)

    def _decide_and_resume(self, t: Tracee, call: TraceeCall, name, kind: int) -> None:
        tid = t.tid
        if kind & K_CLONE and (call.args[0] & CLONE_UNTRACED if name == "clone"
                               else self._clone3_untraced(call)):
            v = Verdict("ERRNO", errno.EPERM, rule="supervisor:clone-untraced")
        elif kind & K_MEMO and self._solo == tid:
            v = self._memo_decide(call, name)
        else:
            v = self._decide(call)
        unix = False          # an AF_UNIX connect, checked at its exit (netcalls)
        if kind & K_CONNECT and v.action in ALLOWING and call.read_memory() \
                and not self._alone(tid):
            unix = self._unix_connect(call)
            if unix:
                self._stop_until_it_waits(t)
            elif not self._connect_resumed(t, call):
                call, v = self._connect_decided_stopped(t, call)
        mode = None
        if v.action not in ALLOWING:
            if not self.permissive:
                self._refuse(t, call, v)
                return
            mode = "would-kill" if v.kills else "would-deny"
            if self._count_violation(t, call, v):
                return
        elif self.inject is not None:
            err = self._injected(t, call, name)
            if err is not None:
                v, mode = Verdict("ERRNO", err, rule=self.inject.rule(name, call)), "injected"
                pt.skip_syscall(tid, -err)
                self._log_call(t, call, v, mode, -err, resume=True)
                return
        if self.killing:
            return
        if kind & K_WATCHED:
            if name in _MOUNTS:
                t.resolver.close()
                self.view.disable()
            elif name in _ASYNC:
                self.async_io = True
            elif name == "socket":
                if call.args[0] & 0xFFFFFFFF in RING_FAMILIES:
                    self.async_io = True
            else:                                         # clone3: a new task, maybe
                self._solo = None
        # H3: re-check a path-decided open on the fd the kernel returns unless
        # the task is alone (kernel count: our own misses a just-forked child
        # whose first stop is still queued behind the opener's stops).
        # ...and an AF_UNIX connect on its peer (_connect_as_decided)
        verify = (kind & K_OPEN and call.resolved is not None and not self._alone(tid)
                  or unix)
        if kind & K_EXEC:
            t.exec_check = (call, v) if call.resolved is not None else None
            if self.audit is not None:
                self._decoded(call)   # audit: cache argv now, a successful exec frees that memory
        hold = t.frozen is not None and not self._may_block(t, call, name)
        keep = None           # while it runs, only these stay stopped (netcalls: shared fd tables)
        if hold and self._world is t:
            # a network call run with a flag forced: verify is then what to put back
            if kind & K_NOWAIT:
                verify = self._send_dontwait(t, call, name)
            elif kind & K_SEND:
                how = self._shared_table_send(t, call, name)
                if how.__class__ is tuple:
                    verify = how
                else:
                    keep = how
            elif kind & K_CONNECT:
                verify = self._connect_nowait(t, call) or verify
        if verify or hold or self.audit_results:
            t.pending = (call, v, mode, verify)
            pt.syscall(tid)
            if t.frozen is not None and (not hold or keep is not None):
                self._thaw(t, keep)       # a FIFO open may wait for a frozen task
        else:
            self._log_call(t, call, v, mode, None, resume=True)

    def _refuse(self, t: Tracee, call: TraceeCall, v: Verdict) -> None:
        """A refusing verdict (not in permissive mode): fail the call with its
        errno, or kill the jail."""
        if v.kills or v.action != "ERRNO":
            self._violate(t, call, v)
            return
        err = v.value & 0xFFF or errno.EPERM
        pt.skip_syscall(t.tid, -err)
        self._log_call(t, call, v, None, -err)
        if not self._count_violation(t, call, v):
            pt.cont(t.tid)

    @staticmethod
    def _clone3_untraced(call: TraceeCall) -> bool:
        if call.args[1] < CLONE_ARGS_FLAGS.size:
            return False                                  # the kernel refuses it (EINVAL)
        try:
            return bool(CLONE_ARGS_FLAGS.unpack(call.bytes_at(0, 8))[0] & CLONE_UNTRACED)
        except ArgFault:
            return False                                  # the kernel fails it (EFAULT)

    @staticmethod
    def _may_block(t: Tracee, call: TraceeCall, name) -> bool:
        """An open of a FIFO waits for the other end, maybe a frozen sibling, so
        it is not held frozen (the fd re-check protects it)."""
        if name not in OPEN_CALLS or not call.resolved:
            return False
        p = call.resolved.get(OPEN_CALLS[name])
        if not p or not p.startswith("/"):
            return False
        try:
            return stat.S_ISFIFO(os.stat(f"/proc/{t.tid}/root{p}").st_mode)
        except OSError:
            return False

    def _injected(self, t: Tracee, call: TraceeCall, name: str | None):
        if name is None:
            return None
        if t.counts is None:
            t.counts = {}
        n = t.counts[name] = t.counts.get(name, 0) + 1
        return self.inject.match(name, n, call, tid=t.tid)

    def _syscall_exit(self, t: Tracee) -> None:
        pending, t.pending = t.pending, None
        try:
            self._after_syscall(t, pending)
        except OSError as e:
            if e.errno != errno.ESRCH:
                raise
        if t.frozen is not None:
            self._thaw(t)

    def _after_syscall(self, t: Tracee, pending) -> None:
        if pending is None:
            pt.cont(t.tid)
            return
        call, v, mode, verify = pending
        try:
            info = pt.get_syscall_info(t.tid)
        except OSError as e:
            if e.errno == errno.ESRCH:
                return
            raise
        rval = None
        if info.op == pt.PTRACE_SYSCALL_INFO_EXIT:
            rval = info.nr - (1 << 64) if info.nr & (1 << 63) else info.nr
        if verify.__class__ is tuple:
            if (self._connect_restarted if call.name == "connect" else self._send_restarted)(
                    t, call, verify, rval):
                return
        elif verify and rval == 0 and call.name == "connect":
            rval = self._connect_as_decided(t, call)
            if rval is None:
                return                                    # the jail was killed
        elif verify and rval is not None and rval >= 0:
            i = OPEN_CALLS[call.name]
            try:
                real = t.resolver.object_path(f"/proc/{t.tid}/fd/{rval}")
            except FileNotFoundError:
                real = "closed:"       # another thread closed it already: nothing was gained
            if real != "closed:" and call.resolved.get(i) != real:
                call.override = {i: real}
                call.frozen = True
                again = self._decide(call)
                if not again.allows and not self.permissive:
                    self._violate(t, call, again, note=f"opened {real} (decided on {call.resolved[i]})")
                    return
        self._log_call(t, call, v, mode, rval if self.audit_results else None, resume=True)

    # -- violations, audit -----------------------------------------------------
    def _count_violation(self, t: Tracee, call: TraceeCall, v: Verdict) -> bool:
        """Count a denial; True if max_violations is reached and the jail was killed."""
        self.violations += 1
        if self.max_violations and self.violations >= self.max_violations:
            self._violate(t, call, Verdict("KILL", rule=f"max-violations({self.max_violations})"),
                          note=f"after denial by {v.rule}")
            return True
        return False

    def _violate(self, t: Tracee, call: TraceeCall, v: Verdict, note: str | None = None) -> None:
        """Kill the whole jail for a KILL verdict: the held syscall never runs."""
        self.kill_all("violation")
        decoded = self._decoded(call)
        vio = {"pid": t.tgid, "tid": t.tid, "syscall": call.name or f"syscall_{call.nr}",
               "nr": call.nr, "arch": call.arch, "args": decoded, "rule": v.rule,
               "action": v.action}
        if call.resolved:
            vio["resolved"] = dict(call.resolved)
        if note:
            vio["note"] = note
        if self.violation is None:
            self.violation = vio
        if self.audit is not None:
            self.audit.syscall(pid=t.tgid, tid=t.tid, arch=call.arch, nr=call.nr, name=call.name,
                               args=call.args, decoded=decoded, verdict=v, resolved=call.resolved,
                               retval=None, mode=None)
            self.audit.violation(pid=t.tgid, tid=t.tid, name=call.name, nr=call.nr, arch=call.arch,
                                 decoded=decoded, verdict=v)

    def _decoded(self, call: TraceeCall) -> dict:
        if self.decode is None:
            return {}
        try:
            return self.decode(call.name, call.args, call)
        except Exception:
            return {}

    def _log_call(self, t: Tracee, call: TraceeCall, v: Verdict, mode, retval,
                  resume: bool = False) -> None:
        """Queue the call's audit record; with ``resume``, continue the tracee
        as soon as every byte the record needs is read, before queueing (and
        maybe formatting a batch), so the tracee need not wait for the audit
        where the scheduler runs the two apart."""
        audit = self.audit
        if audit is None:
            if resume:
                _resume(t.tid, None, 0)
            return
        allowed = mode is None and v.action in ALLOWING
        if allowed:
            # an allowed call's arguments are decoded when the writer formats its batch
            decoded = {} if not self.decode_allowed else \
                self.deferred and self.deferred(call.name, call.args, call) or self._decoded(call)
        else:
            decoded = self._decoded(call)
        if resume:
            _resume(t.tid, None, 0)
        if allowed and retval is None:
            audit.allowed(t.tgid, t.tid, call, decoded, v)
            return
        audit.syscall(pid=t.tgid, tid=t.tid, arch=call.arch, nr=call.nr, name=call.name,
                      args=call.args, decoded=decoded, verdict=v,
                      resolved=call.resolved, retval=retval, mode=mode)

    def _audit(self, what: str, *a, **kw) -> None:
        if self.audit is not None:
            getattr(self.audit, what)(*a, **kw)
