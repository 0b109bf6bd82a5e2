"""Supervisor rules compiled to one Python function per syscall.

The interpreter walks the AST on every stop; on a ptrace stop that walk is a
large share of the supervisor's time.  Here each syscall's rules (in policy
order, the same first-match semantics, the same ArgFault -> ERRNO per rule)
become the source of one flat function, compiled once.  Constants (strings,
globs, values) live in the function's namespace, never in the source text.

Syscalls whose rules use argv() or sockaddr() predicates, sendmmsg-style
vectors or a built-in guard (seccomp listener, clone untraced) keep the
interpreter: they are rare on hot paths.  tests/test_policy_fastpath.py checks
these functions against the interpreter.
"""
from __future__ import annotations

import re

from tracejail.policy import syscalls
from tracejail.policy.ast import And, ArgRef, BitOp, Cmp, Not, Num, Or, StrPred
from tracejail.policy.interpreter import U32, U64, glob_regex, on_ro_bind, verdict_of
from tracejail.verdict import ArgFault, Verdict


class Unsupported(Exception):
    pass


class _Gen:
    def __init__(self):
        self.ns: dict = {"ArgFault": ArgFault, "Verdict": Verdict, "on_ro_bind": on_ro_bind}
        self.strs: dict[tuple, str] = {}     # (kind, index) -> local variable holding the text

    def const(self, value) -> str:
        name = "_c%d" % len(self.ns)
        self.ns[name] = value
        return name

    def int_expr(self, e) -> str:
        if isinstance(e, Num):
            return str(int(e.value))
        if isinstance(e, ArgRef):
            return "(a[%d] & %d)" % (e.index, U32 if e.bits == 32 else U64)
        if isinstance(e, BitOp) and e.op in ("&", "|"):
            return "(%s %s %s)" % (self.int_expr(e.left), e.op, self.int_expr(e.right))
        raise Unsupported(f"integer expression {e!r}")

    def text(self, kind: str, index: int) -> str:
        """The argument's text, read on first use and kept in a local."""
        var = "_%s%d" % (kind[0], index)
        self.strs[(kind, index)] = var
        read = ("call.path(%d)" % index if kind == "path"
                else "call.string(%d).decode('utf-8', 'surrogateescape')" % index)
        return "(%s if %s is not None else (%s := %s))" % (var, var, var, read)

    def str_pred(self, e: StrPred) -> str:
        if e.kind not in ("path", "string"):
            raise Unsupported(e.kind)
        s = self.text(e.kind, e.arg.index)
        vals = e.values
        if e.op == "==":
            return "(%s == %s)" % (s, self.const(vals[0]))
        if e.op == "!=":
            return "(%s != %s)" % (s, self.const(vals[0]))
        if e.op == "prefix":
            return "%s.startswith(%s)" % (s, self.const(tuple(vals)))
        if e.op == "under":
            dirs = [v.rstrip("/") for v in vals]
            return "((_t := %s) in %s or _t.startswith(%s))" % (
                s, self.const(frozenset(dirs)), self.const(tuple(d + "/" for d in dirs)))
        if e.op == "in":
            rx = re.compile("|".join("(?:%s)" % glob_regex(v).pattern for v in vals), re.S)
            return "(%s.fullmatch(%s) is not None)" % (self.const(rx), s)
        if e.op == "on":
            return "on_ro_bind(%s, %s)" % (s, self.const(vals[1]))
        raise Unsupported(e.op)

    def bool_expr(self, e) -> str:
        if isinstance(e, Cmp):
            return "(%s %s %s)" % (self.int_expr(e.left), e.op, self.int_expr(e.right))
        if isinstance(e, And):
            return "(%s and %s)" % (self.bool_expr(e.left), self.bool_expr(e.right))
        if isinstance(e, Or):
            return "(%s or %s)" % (self.bool_expr(e.left), self.bool_expr(e.right))
        if isinstance(e, Not):
            return "(not %s)" % self.bool_expr(e.expr)
        if isinstance(e, StrPred):
            return self.str_pred(e)
        raise Unsupported(type(e).__name__)


def build(nr: int, rules: list, default) -> object:
    """The decision function of one syscall: fn(call) -> Verdict.
    ``rules``: the interpreter's [(action, expr, tag)] for nr, in order."""
    g = _Gen()
    body = []
    for action, expr, tag in rules:
        v = g.const(verdict_of(action, tag))
        if expr is None:
            body.append("    return %s" % v)
            break
        body += ["    try:",
                 "        if %s:" % g.bool_expr(expr),
                 "            return %s" % v,
                 "    except ArgFault as f:",
                 "        return Verdict('ERRNO', f.errno, %s)" % g.const(tag)]
    else:
        body.append("    return %s" % g.const(verdict_of(default, "default")))
    head = ["def decide(call):", "    a = call.args"]
    head += ["    %s = None" % var for var in sorted(set(g.strs.values()))]
    exec(compile("\n".join(head + body), "<policy fast path %d>" % nr, "exec"), g.ns)
    return g.ns["decide"]


def build_for(interpreter, nr: int):
    """The decision function of syscall nr, or None where the interpreter must decide."""
    rules = interpreter.by_nr.get(nr)
    if not rules or nr in (syscalls.SECCOMP_NR, syscalls.CLONE_NR) or nr in interpreter.mmsg:
        return None
    try:
        return build(nr, rules, interpreter.default)
    except Unsupported:
        return None
