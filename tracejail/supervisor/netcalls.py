"""The supervisor's network calls (connect, sendto, sendmsg, sendmmsg): how
their verdicts hold against races (threats #33 with #11, #12, #18, #20).

A verdict on an address read from memory holds only if no other task can
change the address, or the file a socket path names, before the kernel reads
it; a task alone in the jail needs nothing more.  For a task that is not alone:
- an AF_UNIX connect is checked at its exit on its peer: the socket file the
  peer is bound to (sock_diag), or its abstract name (unixpeer.py).  It runs
  with the jail stopped, so that no other task writes to the socket between
  the connection and the check, until it sleeps inside the kernel (it may
  wait for an accept by a stopped task; weak: a connect that waited is
  checked after the jail ran again);
- a send on a TCP or AF_UNIX stream socket without MSG_FASTOPEN runs free
  (the kernel ignores its address); if its fd table is shared (threads,
  CLONE_FILES: another task could put another socket under the fd number),
  the socket is looked at with the jail stopped and only the tasks sharing
  the table stay stopped while it runs, until it sleeps inside the kernel
  (it has taken its fd by then: Supervisor._timed_wait), so that a sibling
  thread reading the other end of a full stream can drain it;
- any other send or connect leaves nothing to check afterwards: it is
  decided and run with the whole jail stopped (a send: stopped before its
  first read, _send_plan; a connect: decided again once stopped).  A send on
  an AF_UNIX datagram socket runs with MSG_DONTWAIT forced, so that it
  cannot wait for a stopped receiver, and is made again once the jail ran if
  it would have blocked; a blocking TCP connect runs with O_NONBLOCK forced
  and is made again, blocking, once under way (the kernel then ignores its
  address; the tasks sharing its fd table stay stopped until it returns or
  sleeps inside the kernel).

Processes that share an fd table (threads, CLONE_FILES) are grouped at their
clone event (kcmp KCMP_FILES): Supervisor._fd_tables.  NetCalls is a part of
Supervisor (loop.py), kept here so that the event loop stays readable.
"""
from __future__ import annotations

import errno
import fcntl
import os
import socket
import time

from tracejail.jail import libc
from tracejail.supervisor import ptrace_api as pt
from tracejail.supervisor import unixpeer
from tracejail.supervisor.call import TraceeCall
from tracejail.supervisor.tracees import Tracee
from tracejail.verdict import ArgFault, Verdict

# sends that carry a destination address: the index of their flags argument
SEND_FLAGS = {"sendto": 3, "sendmsg": 2, "sendmmsg": 3}
MSG_DONTWAIT, MSG_FASTOPEN, O_NONBLOCK = 0x40, 0x20000000, 0o4000
NR_KCMP, KCMP_FILES = 312, 2
_INET = (socket.AF_INET, socket.AF_INET6)
# what _send_plan asks for: the jail stopped (HOLD), and MSG_DONTWAIT as well (NOWAIT)
HOLD, NOWAIT = 1, 2


def _address_ignored(sock: tuple, flags: int) -> bool:
    """Does a send on this socket (family, type, protocol) ignore its
    destination?  A TCP or AF_UNIX stream socket does, without MSG_FASTOPEN."""
    family, kind, proto = sock
    return kind == socket.SOCK_STREAM and not flags & MSG_FASTOPEN and (
        family == socket.AF_UNIX or family in _INET and proto == socket.IPPROTO_TCP)


def same_fds(tid: int, other: int) -> bool:
    """Do two tasks share one fd table (kcmp KCMP_FILES)?  True when unsure."""
    try:
        return libc.raw_syscall(NR_KCMP, tid, other, KCMP_FILES, 0, 0, what="kcmp") == 0
    except OSError as e:
        return e.errno != errno.ESRCH


class NetCalls:
    """Supervisor methods for network calls (see the module docstring)."""

    def _send_plan(self, t: Tracee, name: str, args: tuple) -> int:
        """Sends of a task that is not alone may be decided on an address that
        another task could change before the kernel reads it (threats #11,
        #12, #18, #20, #33): such a send is decided and run with the whole jail
        stopped (HOLD), with MSG_DONTWAIT forced on an AF_UNIX datagram
        socket (NOWAIT: only an AF_UNIX receiver, maybe a stopped task, makes
        a datagram wait).  Not needed (0) when alone, or when the kernel
        ignores the address (_address_ignored) and the fd table is the
        process's own.  A shared table (threads, CLONE_FILES) could put another
        socket under the fd number after this look: its socket is looked at
        once the jail is stopped (_shared_table_send)."""
        if self._alone(t.tid):
            return 0
        if t.tgid in self._fd_tables:
            return HOLD
        sock = self._socket_of(t, args[0])
        if _address_ignored(sock, args[SEND_FLAGS[name]]):
            return 0
        return HOLD | NOWAIT if sock[0] == socket.AF_UNIX else HOLD

    def _shared_table_send(self, t: Tracee, call: TraceeCall, name: str):
        """A send of a process that shares its fd table, held with the jail
        stopped, where its socket can be looked at without a race.  If the kernel
        ignores the address, the send may wait for a reader: the jail runs
        again while it does, but not the tasks sharing the fd table (returns
        the test for those).  An AF_UNIX datagram socket gets MSG_DONTWAIT
        (returns _send_dontwait's tuple).  Else None: the jail stays stopped."""
        sock = self._socket_of(t, call.args[0])
        if _address_ignored(sock, call.args[SEND_FLAGS[name]]):
            return self._shares_fds(t)
        return self._send_dontwait(t, call, name) if sock[0] == socket.AF_UNIX else None

    def _shares_fds(self, t: Tracee):
        """A test: does a task use t's fd table (a thread of t's process, or
        in a process made with CLONE_FILES from it or its kin)?"""
        table = self._fd_tables.get(t.tgid)
        return lambda u: u.tgid == t.tgid or table is not None and self._fd_tables.get(u.tgid) == table

    @staticmethod
    def _socket_of(t: Tracee, fd: int) -> tuple:
        """(family, type, protocol) of the task's socket fd; Nones if it is none."""
        try:
            s = unixpeer.dup(t.tgid, fd & 0xFFFFFFFF)
        except OSError:
            return None, None, None
        try:
            return s.family, s.type, s.proto
        finally:
            s.close()

    @staticmethod
    def _unix_connect(call: TraceeCall) -> bool:
        """A connect to an AF_UNIX name: its peer is checked at its exit
        (_connect_as_decided), and it runs with the jail stopped only until it
        waits (_stop_until_it_waits)."""
        try:
            sa = call.sockaddr(1, 2)
        except ArgFault:
            return False
        return sa.family == "AF_UNIX" and bool(sa.address)

    def _stop_until_it_waits(self, t: Tracee, tids=None) -> None:
        """Run t's call with the whole jail (or the tasks ``tids``) stopped until
        it returns, or until it sleeps inside the kernel (Supervisor._timed_wait):
        an AF_UNIX connect may wait for an accept by a task that is stopped.
        Until then no other task can write to the socket (a dup of it, a sibling
        thread) once it is connected and before its peer is checked."""
        self._freeze(t, world=tids is None, tids=tids)
        # even if no one was stopped: a task whose first stop is still queued
        # joins the hold when it comes (_holder_of), and must be released too
        self._keeping[t] = time.monotonic()

    def _connect_decided_stopped(self, t: Tracee, call: TraceeCall):
        """Any other connect of a task that is not alone, decided on an address
        another task could change before the kernel reads it: stop the whole
        jail and decide again on what it reads now, which is what the kernel
        will use (a connection leaves nothing to check after): (call, verdict)."""
        self._freeze(t, world=True)
        call = TraceeCall(t.tid, t.resolver, call.nr, call.arch, call.name, call.args)
        return call, self._decide(call)

    def _connect_nowait(self, t: Tracee, call: TraceeCall) -> tuple | None:
        """A blocking TCP connect held with the jail stopped would keep it
        stopped for a round trip, or for good if a stopped task's listener has a
        full backlog.  But its address only matters until the kernel has sent
        the SYN: it runs with O_NONBLOCK set on its file, and _connect_restarted
        makes it again, blocking, once it is under way (_connect_resumed).
        (dup of the socket, its file flags) for the exit stop, or None."""
        try:
            s = unixpeer.dup(t.tgid, call.args[0] & 0xFFFFFFFF)
        except OSError:
            return None
        flags = fcntl.fcntl(s, fcntl.F_GETFL)
        if s.type != socket.SOCK_STREAM or s.family not in (socket.AF_INET, socket.AF_INET6) \
                or flags & O_NONBLOCK:
            s.close()
            return None
        fcntl.fcntl(s, fcntl.F_SETFL, flags | O_NONBLOCK)      # the jail is stopped: nobody sees it
        return s, flags

    @staticmethod
    def _connect_restarted(t: Tracee, call: TraceeCall, held: tuple, rval: int | None) -> bool:
        """At the exit of a connect run with O_NONBLOCK forced: put the file's
        flags back; if the connection is under way (EINPROGRESS), rewind the
        task to make the call again, now blocking: on a connecting socket the
        kernel ignores the address and waits for the handshake (True then)."""
        s, flags = held
        try:
            fcntl.fcntl(s, fcntl.F_SETFL, flags)
            ino = os.fstat(s.fileno()).st_ino
        finally:
            s.close()
        if rval != -errno.EINPROGRESS:
            return False
        t.connecting = (call.args[0] & 0xFFFFFFFF, ino)
        pt.set_arg(t.tid, 0, call.args[0], restart_nr=call.nr)
        pt.cont(t.tid)
        return True

    def _connect_resumed(self, t: Tracee, call: TraceeCall) -> bool:
        """Is this the connect _connect_restarted made again, on the same socket?
        Then it runs free: the kernel only waits for the handshake under way;
        but the tasks sharing its fd table stay stopped until it returns (they
        could put another socket under the fd number)."""
        mark, t.connecting = t.connecting, None
        if mark is None or mark[0] != call.args[0] & 0xFFFFFFFF:
            return False
        if t.tgid in self._fd_tables:
            shares = self._shares_fds(t)
            self._stop_until_it_waits(t, [u.tid for u in self.tracees.values() if shares(u)])
        try:
            return os.readlink(f"/proc/{t.tid}/fd/{mark[0]}") == f"socket:[{mark[1]}]"
        except OSError:
            return False

    @staticmethod
    def _send_dontwait(t: Tracee, call: TraceeCall, name: str) -> tuple:
        """A send held with the jail stopped must not wait for a stopped receiver:
        it runs with MSG_DONTWAIT, and _send_restarted makes it again if it
        would have blocked.  (flags index, original flags) for the exit stop."""
        i = SEND_FLAGS[name]
        pt.set_arg(t.tid, i, call.args[i] | MSG_DONTWAIT)
        return i, call.args[i]

    @staticmethod
    def _send_restarted(t: Tracee, call: TraceeCall, flags: tuple, rval: int | None) -> bool:
        """At the exit of a send run with MSG_DONTWAIT forced: put the flags
        register back, and if the send would have blocked (EAGAIN for a call that
        asked to block) rewind the task so it makes the call again once the jail
        runs (the receiver may be a task that was stopped): True then."""
        i, orig = flags
        again = rval == -errno.EAGAIN and not orig & MSG_DONTWAIT
        if again:
            try:
                with open(f"/proc/{t.tid}/fdinfo/{call.args[0] & 0xFFFFFFFF}", "rb") as f:
                    again = not int(f.read().split(b"flags:", 1)[1].split()[0], 8) & O_NONBLOCK
            except (OSError, IndexError, ValueError):
                again = False
        pt.set_arg(t.tid, i, orig, restart_nr=call.nr if again else None)
        if again:
            pt.cont(t.tid)
        return again

    def _connect_as_decided(self, t: Tracee, call: TraceeCall) -> int | None:
        """An allowed AF_UNIX connect() of a task that is not alone, at its exit:
        is its peer bound to the file the decision resolved (or, for an abstract
        address, to the name decided on)?  Another task may have swapped a
        symlink on the path or changed the address meanwhile (threats #11, #12,
        #18, #20); a connect may wait for its peer, so the jail was not held stopped.
        Verified: 0.  Another file: the jail is killed (None).  The kernel cannot
        say: the connection is cut off and the connect fails, ECONNREFUSED."""
        decided, fd = call.sockaddr(1, 2).address, call.args[0] & 0xFFFFFFFF
        try:
            if decided[0] == "@":                         # abstract: its name is all there is
                want = b"\0" + os.fsencode(decided[1:])
                got = unixpeer.peer_name(t.tgid, fd)
            else:
                want = unixpeer.file_id(f"/proc/{t.tid}/root{decided}")
                got = unixpeer.peer_file(t.tid, fd)
        except (OSError, unixpeer.PeerUnknown):
            got = want = None
        if got is not None and got == want or self.permissive:
            return 0
        if got is None:
            try:
                unixpeer.cut_off(t.tgid, fd)
                pt.set_return(t.tid, -errno.ECONNREFUSED)
                return -errno.ECONNREFUSED
            except OSError as e:
                why = f"connect to {decided}: its peer cannot be checked nor cut off ({e})"
        else:
            why = f"connected to a socket other than {decided}"
        self._violate(t, call, Verdict("KILL", rule="supervisor:connect-recheck"), note=why)
        return None
