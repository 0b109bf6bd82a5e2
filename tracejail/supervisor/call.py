"""TraceeCall: tracejail.verdict.SyscallCall over a tracee held at a seccomp stop.

Memory is read only when the policy asks (most verdicts need one string or
none) and every read is cached, so the policy, the injector and the audit
decoder all see the same bytes, read once.  ``resolved`` collects the paths
the policy was shown: the loop re-checks them after the syscall (TOCTOU) and
the audit records them.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import struct

from tracejail.supervisor import memory
from tracejail.supervisor.paths import AT_FDCWD, path_spec
from tracejail.verdict import ArgFault, SockAddr

_MISS = object()
_PATH_KEYS = tuple(("p", i) for i in range(6))     # path(i)'s cache keys


def cache_key(method: str, i: int):
    """The key under which TraceeCall keeps string(i) (the bare index: the hot
    path) or argv(i); the audit's deferred decoding looks them up."""
    return i if method == "string" else ("v", i)

_FAMILIES = {1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK"}


class TraceeCall:
    __slots__ = ("tid", "resolver", "nr", "arch", "name", "args", "_cache", "resolved",
                 "override", "frozen", "before_read")

    def __init__(self, tid: int, resolver, nr: int, arch: str, name: str | None, args: tuple):
        self.tid, self.resolver = tid, resolver
        self.nr, self.arch, self.name, self.args = nr, arch, name, args
        self._cache: dict = {}
        self.resolved: dict[int, str] | None = None
        self.override: dict[int, str] | None = None   # path(i) answers fixed after the fact
        self.frozen = False                            # memory no longer the call's (after exec)
        self.before_read = None                        # hook run once before the first read

    def read_memory(self) -> bool:
        """Did a decision read the tracee's memory (what another task could change)?"""
        return bool(self._cache)

    def _cached(self, key, fn, *a):
        """fn(*a) once per key; an ArgFault is cached too and re-raised."""
        v = self._cache.get(key, _MISS)
        if v is _MISS:
            if self.frozen:
                raise ArgFault(errno.EFAULT, "argument no longer readable")
            if self.before_read is not None:
                hook, self.before_read = self.before_read, None
                hook()
            try:
                v = fn(*a)
            except ArgFault as e:
                v = e
            self._cache[key] = v
        if isinstance(v, ArgFault):
            raise v
        return v

    def unreadable(self) -> None:
        """What was read is not what the kernel could read (see memory.confirm)."""
        fault = ArgFault(errno.EFAULT, "unreadable memory")
        for k in self._cache:
            self._cache[k] = fault

    def string(self, i: int) -> bytes:
        return self._cached(i, memory.read_string, self.tid, self.args[i])

    def argv(self, i: int) -> list[bytes]:
        return self._cached(cache_key("argv", i), memory.read_argv, self.tid, self.args[i])

    def bytes_at(self, i: int, n: int) -> bytes:
        return self._cached(("b", i, n), memory.read_bytes, self.tid, self.args[i], n)

    def msg_sockaddrs(self, i: int, vlen_i: int | None) -> list:
        """The destinations in sendmsg's msghdr / sendmmsg's array (the
        interpreter's msg_addrs hook), read once: the audit shows what the
        policy saw."""
        from tracejail.policy.interpreter import read_msg_addrs
        return self._cached(("m", i, vlen_i), read_msg_addrs, self, i, vlen_i)

    def path(self, i: int) -> str:
        if self.override is not None and i in self.override:
            return self.override[i]
        p = self._cached(_PATH_KEYS[i], self._resolve, i)
        if self.resolved is None:
            self.resolved = {i: p}
        else:
            self.resolved[i] = p
        return p

    def known_path(self, i: int, p: str) -> None:
        """path(i) is p, known without a walk (the supervisor's decision memo)."""
        self._cache[_PATH_KEYS[i]] = p
        self.path(i)                                  # noted in ``resolved`` as path() does

    def _resolve(self, i: int) -> str:
        how = (0, 0)
        if self.name == "openat2":
            size = self.args[3]
            if size < 24:
                raise ArgFault(errno.EINVAL, "open_how too small")
            flags, _mode, resolve = struct.unpack("<QQQ", self.bytes_at(2, 24))
            how = (flags, resolve)
        # string(i), inline (the hot path; path()'s _cached ran the before-read checks)
        raw = self._cache.get(i)
        if raw is None:
            try:
                raw = memory.read_string(self.tid, self.args[i])
            except ArgFault as e:
                self._cache[i] = e
                raise
            self._cache[i] = raw
        elif raw.__class__ is not bytes:
            raise raw
        dirfd, follow, empty_ok, in_root = path_spec(self.name, i, self.args, how)
        if self.name == "utimensat" and self.args[i] == 0:
            return self.resolver.start_path(dirfd)    # NULL path: acts on dirfd itself
        return self.resolver.resolve(raw, dirfd, follow, empty_ok, in_root)

    def sockaddr(self, i: int, len_i: int) -> SockAddr:
        return self._cached(("a", i, len_i), self._sockaddr, i, len_i)

    def _sockaddr(self, i: int, len_i: int) -> SockAddr:
        n = self.args[len_i] & 0xFFFFFFFF
        if n > 128 or n < 2 or n & 0x80000000:
            raise ArgFault(errno.EINVAL, f"bad sockaddr length {n}")
        raw = memory.read_bytes(self.tid, self.args[i], n)
        fam = struct.unpack_from("<H", raw)[0]
        if fam == 2:
            if n < 16:
                raise ArgFault(errno.EINVAL, "short sockaddr_in")
            port = struct.unpack_from(">H", raw, 2)[0]
            return SockAddr("AF_INET", str(ipaddress.IPv4Address(raw[4:8])), port)
        if fam == 10:
            if n < 24:
                raise ArgFault(errno.EINVAL, "short sockaddr_in6")
            port = struct.unpack_from(">H", raw, 2)[0]
            a = ipaddress.IPv6Address(raw[8:24])
            text = str(a.ipv4_mapped) if a.ipv4_mapped else str(a)
            return SockAddr("AF_INET6", text, port)
        if fam == 1:
            body = raw[2:]
            if not body:
                return SockAddr("AF_UNIX", "")        # autobind
            if body[0] == 0:
                return SockAddr("AF_UNIX", "@" + os.fsdecode(body[1:]))
            given = body.split(b"\0", 1)[0]
            return SockAddr("AF_UNIX", self._unix_path(i, given), given=os.fsdecode(given))
        return SockAddr(_FAMILIES.get(fam, f"AF_UNKNOWN({fam})"))

    def _unix_path(self, i: int, raw: bytes) -> str:
        """A pathname sun_path names a file (threat C20): resolved like a path
        (cwd, symlinks, in the jail's view) so `.path` rules see what the kernel
        will use.  bind creates its last component and never follows it (an
        existing symlink there is EADDRINUSE); connect/sendto follow it.  Kept
        in ``resolved`` for the audit; the decoded address stays as given."""
        p = self.resolver.resolve(raw, AT_FDCWD, follow=self.name != "bind")
        if self.resolved is None:
            self.resolved = {}
        self.resolved[i] = p
        return p
