"""Shared types between the policy layer and the supervisor.

``Verdict`` is what a policy decides for one syscall.  ``SyscallCall`` is what
the policy reads to decide: the supervisor implements it over a stopped
tracee (lazy memory reads), ``policy eval`` implements it over literal values.
"""
from __future__ import annotations

from typing import Protocol

from tracejail._values import _Frozen, _node

# Actions, as in kafel.  KILL is kafel's KILL (== KILL_THREAD in the kernel);
# tracejail's supervisor kills the whole jail for KILL, KILL_THREAD and
# KILL_PROCESS alike (a half-killed jail is not a state we want).
ACTIONS = ("ALLOW", "LOG", "ERRNO", "TRAP", "TRACE", "USER_NOTIF",
           "KILL", "KILL_THREAD", "KILL_PROCESS")
ALLOWING = frozenset(("ALLOW", "LOG", "TRACE", "USER_NOTIF"))


# Verdict and SockAddr behave as the frozen dataclasses they were (same ==, hash,
# repr; the audit encodes them by their fields): tracejail._values says why not @dataclass.
@_node
class Verdict(_Frozen):
    _fields = ("action", "value", "rule")

    def __init__(self, action: str, value: int = 0, rule: str | None = None):
        # action: one of ACTIONS;  value: errno for ERRNO, data for TRAP/TRACE
        # rule: "file:line" of the deciding rule, "default", or a tag
        self.__dict__.update(action=action, value=value, rule=rule)

    @property
    def allows(self) -> bool:
        return self.action in ALLOWING

    @property
    def kills(self) -> bool:
        return self.action in ("KILL", "KILL_THREAD", "KILL_PROCESS")

    def __str__(self) -> str:
        if self.action in ("ERRNO", "TRAP", "TRACE"):
            return f"{self.action}({self.value})"
        return self.action


class ArgFault(Exception):
    """A pointer argument could not be read (EFAULT) or is too long
    (ENAMETOOLONG, E2BIG).  The supervisor turns it into ERRNO(errno): a
    syscall whose argument cannot be checked is never allowed on a guess."""

    def __init__(self, errno: int, what: str = ""):
        super().__init__(what or f"errno {errno}")
        self.errno = errno


@_node
class SockAddr(_Frozen):
    _fields = ("family", "address", "port", "given")
    _compare = ("family", "address", "port")        # not ``given``: == and hash ignore it

    def __init__(self, family: str, address: str | None = None, port: int | None = None,
                 given: str | None = None):
        # family: "AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK", "AF_UNKNOWN(n)"
        # address: IPv4/IPv6 text (v4-mapped v6 given as IPv4), or unix path ("@name" = abstract)
        # given: a pathname AF_UNIX address as the program gave it; ``address`` is then the
        # resolved path the policy sees (threat C20).  None: address is as given.
        self.__dict__.update(family=family, address=address, port=port, given=given)


class SyscallCall(Protocol):
    """One syscall as the policy sees it.  Integer args are raw 64-bit
    register values; the policy masks to 32 bits where the kernel does."""
    nr: int
    arch: str                   # "x86_64", "i386" or "x32"
    name: str | None            # kernel name on that arch, None if unknown
    args: tuple[int, ...]       # 6 raw values

    def path(self, i: int) -> str:
        """Arg i as a path resolved the way the kernel would for this call
        (dirfd, cwd, root, symlinks per the syscall's follow rules), in the
        jail's view.  Raises ArgFault."""

    def string(self, i: int) -> bytes:
        """Arg i as a NUL-terminated string, raw.  Raises ArgFault."""

    def argv(self, i: int) -> list[bytes]:
        """Arg i as a NULL-terminated array of strings (execve argv/envp)."""

    def sockaddr(self, i: int, len_i: int) -> SockAddr:
        """Arg i as a struct sockaddr of length arg len_i.  Raises ArgFault."""
