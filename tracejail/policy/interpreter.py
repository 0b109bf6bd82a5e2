"""Reference interpreter: evaluates the policy AST directly on one syscall.

This is the exact semantics the compiled BPF must agree with (property-tested),
and what the supervisor runs on every SECCOMP_RET_TRACE stop.  First matching
rule in policy order decides; ArgFault from a memory read -> ERRNO(errno).
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from tracejail.policy import syscalls
from tracejail.policy.ast import (And, ArgRef, ArgvPred, BitOp, Cmp, Not, Num, Or, SockPred,
                                  StrPred, find_leaf)
from tracejail.policy.constants import family_number
from tracejail.verdict import ArgFault, SockAddr, Verdict

U64 = (1 << 64) - 1
U32 = 0xFFFFFFFF


@lru_cache(maxsize=4096)
def glob_regex(pattern: str) -> re.Pattern:
    """``*`` = any chars but '/', ``**`` = anything, ``?`` = one char but '/', ``[..]`` class;
    a trailing ``/**`` also matches the directory itself."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("/**", i) and i + 3 == n:
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j < 0:
                raise ValueError("unterminated [")
            body = pattern[i + 1:j]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.S)


def under(path: str, d: str) -> bool:
    d = d.rstrip("/")
    return path == d or path.startswith(d + "/") or (d == "" and path.startswith("/"))


def on_ro_bind(path: str, mounts) -> bool:
    """Is ``path`` on a read-only bind mount of the jail?  The mount visible at a
    path is the LAST mounted one whose mount point is the path or an ancestor
    (a later mount on an ancestor hides earlier deeper ones)."""
    visible = None
    for dst, kind, rw in mounts:
        d = dst.rstrip("/")
        if d == "" or path == d or path.startswith(d + "/"):
            visible = (kind, rw)
    return visible is not None and visible[0] == "bind" and not visible[1]


def match_str(s: str | None, op: str, values: tuple) -> bool:
    if s is None:
        return op == "!="
    if op == "on":
        return on_ro_bind(s, values[1])
    if op == "==":
        return s == values[0]
    if op == "!=":
        return s != values[0]
    if op == "in":
        return any(glob_regex(v).fullmatch(s) for v in values)
    if op == "under":
        return any(under(s, v) for v in values)
    if op == "prefix":
        return any(s.startswith(v) for v in values)
    raise ValueError(op)


def _text(b) -> str:
    return b.decode("utf-8", "surrogateescape") if isinstance(b, (bytes, bytearray)) else str(b)


def eval_int(e, args) -> int:
    if isinstance(e, Num):
        return e.value
    if isinstance(e, ArgRef):
        v = args[e.index] & U64
        return v & U32 if e.bits == 32 else v
    if isinstance(e, BitOp):
        a, b = eval_int(e.left, args), eval_int(e.right, args)
        return a & b if e.op == "&" else a | b
    raise TypeError(f"not an integer expression: {e!r}")


_CMP = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


@lru_cache(maxsize=1024)
def _ip(addr: str):
    """An address as the policy compares it (IPv4-mapped IPv6 as IPv4), or None."""
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return None
    return ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped is not None else ip


@lru_cache(maxsize=1024)
def _net(v: str):
    """A policy's network constant, parsed once (IPv4-mapped /96+ as IPv4)."""
    net = ipaddress.ip_network(v, strict=False)
    if net.version == 6 and net.network_address.ipv4_mapped is not None and net.prefixlen >= 96:
        net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
    return net


def _ip_match(addr: str | None, op: str, values: tuple) -> bool:
    ip = _ip(addr) if addr else None
    if ip is None:
        return op == "!="

    def one(v: str) -> bool:
        net = _net(v)
        return ip.version == net.version and ip in net

    if op == "==":
        return one(values[0])
    if op == "!=":
        return not one(values[0])
    return any(one(v) for v in values)


def evaluate(e, call, ctx: dict | None = None) -> bool:
    """Evaluate a boolean expression; memory predicates read through ``call``
    (may raise ArgFault).  ``ctx``: per-decision cache of msghdr destinations and,
    under "k", which mmsghdr a ``msgaddr(v, vlen)`` means (absent: all must match)."""
    if isinstance(e, Cmp):
        return _CMP[e.op](eval_int(e.left, call.args), eval_int(e.right, call.args))
    if isinstance(e, And):
        return evaluate(e.left, call, ctx) and evaluate(e.right, call, ctx)
    if isinstance(e, Or):
        return evaluate(e.left, call, ctx) or evaluate(e.right, call, ctx)
    if isinstance(e, Not):
        return not evaluate(e.expr, call, ctx)
    if isinstance(e, StrPred):
        if e.kind == "path":
            s = _text(call.path(e.arg.index))
        else:
            s = _text(call.string(e.arg.index))
        return match_str(s, e.op, e.values)
    if isinstance(e, ArgvPred):
        argv = [_text(a) for a in call.argv(e.arg.index)]
        if e.index is None:
            return any(match_str(a, "in", e.values) or a in e.values for a in argv)
        s = argv[e.index] if e.index < len(argv) else None
        return match_str(s, e.op, e.values)
    if isinstance(e, SockPred):
        if e.msg:
            addrs = _cached_addrs(call, e.arg.index, e.lenarg.index if e.lenarg else None, ctx)
            entry = ctx.get("k") if ctx else None
            if entry is not None and e.lenarg is not None:
                return entry < len(addrs) and _sock_match(e, addrs[entry])
            return all(_sock_match(e, sa) for sa in addrs)
        return _sock_match(e, call.sockaddr(e.arg.index, e.lenarg.index))
    raise TypeError(f"not a boolean expression: {e!r}")


MSGHDR_SIZE, MMSGHDR_SIZE, UIO_MAXIOV = 56, 64, 1024


def msg_addrs(call, i: int, vlen_i: int | None) -> list:
    """Destinations of sendmsg's msghdr (vlen_i None) or sendmmsg's mmsghdr array.
    Uses ``call.msg_sockaddrs`` when the call provides it (the supervisor's
    TraceeCall: read once, cached for the audit), else read_msg_addrs."""
    fn = getattr(call, "msg_sockaddrs", None)
    if fn is not None:
        return fn(i, vlen_i)
    return read_msg_addrs(call, i, vlen_i)


def read_msg_addrs(call, i: int, vlen_i: int | None) -> list:
    """msg_addrs through ``call.bytes_at`` and ``call.sockaddr`` on a copy of the
    call whose args name msg_name/msg_namelen.  Anything unreadable is an
    ArgFault (the call is refused, never allowed)."""
    import errno
    import struct
    if not hasattr(call, "bytes_at"):
        raise ArgFault(errno.EFAULT, "msghdr not readable here")
    n = 1 if vlen_i is None else min(call.args[vlen_i] & U32, UIO_MAXIOV)
    stride = MSGHDR_SIZE if vlen_i is None else MMSGHDR_SIZE
    if n == 0:
        return []
    raw = call.bytes_at(i, stride * n)
    out = []
    for k in range(n):
        name, namelen = struct.unpack_from("<QI", raw, k * stride)
        if name == 0 or namelen == 0:
            out.append(SockAddr("AF_UNSPEC"))
            continue
        try:
            sub = type(call)(call.tid, call.resolver, call.nr, call.arch, call.name,
                             (name, namelen, 0, 0, 0, 0))
            sub.frozen = getattr(call, "frozen", False)
        except Exception:
            raise ArgFault(errno.EFAULT, "cannot read msg_name") from None
        out.append(sub.sockaddr(0, 1))
        if getattr(sub, "resolved", None):
            # a socket file (AF_UNIX pathname): the supervisor must know the call
            # resolved a path (it stops the jail for it) and the audit shows it
            if call.resolved is None:
                call.resolved = {}
            call.resolved[i if vlen_i is None else f"{i}[{k}]"] = sub.resolved[0]
    return out


def _sock_match(e, sa) -> bool:
    if e.field == "family":
        return _CMP[e.op](family_number(sa.family), e.values[0])
    if e.field == "port":
        if sa.port is None:
            return e.op == "!="
        return _CMP[e.op](sa.port, e.values[0])
    if e.field == "ip":
        return _ip_match(sa.address if sa.family in ("AF_INET", "AF_INET6") else None,
                         e.op, e.values)
    return match_str(sa.address if sa.family == "AF_UNIX" else None, e.op, e.values)


def _mmsg_pred(e):
    return find_leaf(e, lambda leaf: isinstance(leaf, SockPred) and leaf.msg
                     and leaf.lenarg is not None)


def _cached_addrs(call, i, vlen_i, ctx):
    if ctx is None:
        return msg_addrs(call, i, vlen_i)
    cache = ctx.setdefault("addrs", {})
    if (i, vlen_i) not in cache:
        cache[(i, vlen_i)] = msg_addrs(call, i, vlen_i)
    return cache[(i, vlen_i)]


def _disjuncts(e) -> list:
    if isinstance(e, Or):
        return _disjuncts(e.left) + _disjuncts(e.right)
    return [e]


def _first_loc(e):
    if isinstance(e, (And, Or)):
        return _first_loc(e.left) or _first_loc(e.right)
    if isinstance(e, Not):
        return _first_loc(e.expr)
    if isinstance(e, Cmp):
        return getattr(e.left, "loc", None) if getattr(getattr(e.left, "loc", None), "line", 0) \
            else e.loc
    return getattr(e, "loc", None)


def verdict_of(action, rule: str) -> Verdict:
    return Verdict(action.kind, action.value, rule)


class Interpreter:
    """Rules grouped by syscall number, evaluated in policy order."""

    def __init__(self, rules, default_action):
        self.default = default_action
        # per syscall: (action, disjunct, tag) -- a rule ``{ a, b || c }`` is tried
        # disjunct by disjunct so the verdict names the line that matched
        self.by_nr: dict[int, list] = {}
        self.rule_of_tag: dict = {}
        self.mmsg: dict[int, tuple] = {}     # nr -> (vector arg, vlen arg) of sendmmsg-like rules
        for r in rules:
            p = _mmsg_pred(r.expr)
            if p is not None:
                self.mmsg.setdefault(r.nr, (p.arg.index, p.lenarg.index, r.tag))
            for part in _disjuncts(r.expr):
                loc = _first_loc(part) or r.loc
                tag = f"{r.loc.file.rsplit('/', 1)[-1]}:{loc.line}"
                self.by_nr.setdefault(r.nr, []).append((r.action, part, tag))
                self.rule_of_tag.setdefault(tag, r)

    def decide(self, call) -> Verdict:
        arch = getattr(call, "arch", "x86_64")
        nr = call.nr
        if arch != "x86_64":
            return Verdict("KILL_PROCESS", 0, f"foreign-arch:{arch}")
        if nr < 0 or nr >= syscalls.X32_SYSCALL_BIT:
            return Verdict("KILL_PROCESS", 0, "foreign-arch:x32")
        if nr == syscalls.SECCOMP_NR and call.args[0] & U32 == syscalls.SECCOMP_SET_MODE_FILTER \
                and call.args[1] & syscalls.SECCOMP_FILTER_FLAG_NEW_LISTENER:
            return Verdict("KILL_PROCESS", 0, "builtin:seccomp-listener")
        if nr == syscalls.CLONE_NR and call.args[0] & syscalls.CLONE_UNTRACED:
            return Verdict("ERRNO", 1, "builtin:clone-untraced")
        ctx: dict = {"addrs": {}}
        vec = self.mmsg.get(nr)
        if vec is None:
            return self._first_match(nr, call, ctx)
        # sendmmsg: decided message by message; any refused message refuses the call
        try:
            n = len(_cached_addrs(call, vec[0], vec[1], ctx))
        except ArgFault as f:
            return Verdict("ERRNO", f.errno, vec[2])
        v = None
        for k in (range(n) if n else (None,)):
            v = self._first_match(nr, call, dict(ctx, k=k))
            if not v.allows:
                return v
        return v

    def _first_match(self, nr: int, call, ctx: dict) -> Verdict:
        for action, expr, tag in self.by_nr.get(nr, ()):
            try:
                if expr is None or evaluate(expr, call, ctx):
                    return verdict_of(action, tag)
            except ArgFault as f:
                return Verdict("ERRNO", f.errno, tag)
        return verdict_of(self.default, "default")

    def decide_ints(self, nr: int, args, arch: str = "x86_64") -> Verdict:
        """Decision on integer arguments only; memory predicates raise NeedsMemory."""
        return self.decide(IntCall(nr, arch, tuple(args)))


class NeedsMemory(Exception):
    """Raised by IntCall when a rule needs the tracee's memory."""


class IntCall:
    """A SyscallCall with only integer arguments (for kernel-vs-interpreter checks)."""

    def __init__(self, nr: int, arch: str, args):
        self.nr, self.arch = nr, arch
        self.args = tuple(args) + (0,) * (6 - len(args))
        self.name = syscalls.name_of(nr, arch)

    def path(self, i):
        raise NeedsMemory(i)

    string = argv = path

    def sockaddr(self, i, len_i):
        raise NeedsMemory(i)
