"""Policy AST: kafel statements plus tracejail's supervisor predicates.

Nodes are plain value objects so importers (Docker/OCI) can build them and
``format_policy`` can print them back as policy text.  They behave as the
@dataclass(frozen=True) (statements: @dataclass) they used to be -- same
constructor, ==, hash, repr, FrozenInstanceError, pickle form -- but the methods
are written out once (tracejail._values): decorating 18 dataclasses exec()s ~100
generated methods, ~25 ms of every ``tracejail run``, and a run that finds its
compiled policy in the cache imports this module only to unpickle it.
"""
from __future__ import annotations

from tracejail._values import _Frozen, _node, _Node


@_node
class Loc(_Frozen):
    _fields = ("file", "line", "col")

    def __init__(self, file: str, line: int, col: int):
        self.__dict__.update(file=file, line=line, col=col)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    @property
    def short(self) -> str:
        """``basename:line`` used as the deciding-rule tag in verdicts and audit."""
        return f"{self.file.rsplit('/', 1)[-1]}:{self.line}"


NOLOC = Loc("<builder>", 0, 0)


# ---------------------------------------------------------------- actions
@_node
class Action(_Frozen):
    _fields = ("kind", "value")

    def __init__(self, kind: str, value: int = 0):
        # kind: ALLOW LOG KILL KILL_PROCESS ERRNO TRAP TRACE USER_NOTIF
        self.__dict__.update(kind=kind, value=value)

    def __str__(self) -> str:
        if self.kind in ("ERRNO", "TRAP", "TRACE"):
            return f"{self.kind}({self.value})"
        return self.kind


# ---------------------------------------------------------------- integer expressions
@_node
class Num(_Frozen):
    _fields = ("value", "loc")

    def __init__(self, value: int, loc: Loc = NOLOC):
        self.__dict__.update(value=value, loc=loc)


@_node
class ArgRef(_Frozen):
    _fields = ("name", "index", "bits", "loc")

    def __init__(self, name: str, index: int, bits: int = 64, loc: Loc = NOLOC):
        # name as written (for messages and formatting); index 0..5;
        # bits 32 when the kernel reads this argument as an int
        self.__dict__.update(name=name, index=index, bits=bits, loc=loc)


@_node
class BitOp(_Frozen):
    _fields = ("op", "left", "right", "loc")

    def __init__(self, op: str, left: object, right: object, loc: Loc = NOLOC):
        # op: "&" or "|"
        self.__dict__.update(op=op, left=left, right=right, loc=loc)


# ---------------------------------------------------------------- boolean expressions
@_node
class Cmp(_Frozen):
    _fields = ("op", "left", "right", "loc")

    def __init__(self, op: str, left: object, right: object, loc: Loc = NOLOC):
        # op: == != < <= > >=
        self.__dict__.update(op=op, left=left, right=right, loc=loc)


@_node
class And(_Frozen):
    _fields = ("left", "right")

    def __init__(self, left: object, right: object):
        self.__dict__.update(left=left, right=right)


@_node
class Or(_Frozen):
    _fields = ("left", "right", "comma")

    def __init__(self, left: object, right: object, comma: bool = False):
        # comma: written as kafel's lowest-precedence ','
        self.__dict__.update(left=left, right=right, comma=comma)


@_node
class Not(_Frozen):
    _fields = ("expr",)

    def __init__(self, expr: object):
        self.__dict__.update(expr=expr)


@_node
class StrPred(_Frozen):
    """path(arg) / string(arg) OP patterns.  OP: == != in under prefix, and
    ``on`` (values = ("ro_bind", mount table)): the path lies on a read-only bind."""
    _fields = ("kind", "arg", "op", "values", "loc")

    def __init__(self, kind: str, arg: ArgRef, op: str, values: tuple, loc: Loc = NOLOC):
        # kind: "path" or "string"
        self.__dict__.update(kind=kind, arg=arg, op=op, values=values, loc=loc)


@_node
class ArgvPred(_Frozen):
    """argv(arg)[index] OP patterns, or argv(arg) contains patterns (index None)."""
    _fields = ("arg", "index", "op", "values", "loc")

    def __init__(self, arg: ArgRef, index: int | None, op: str, values: tuple,
                 loc: Loc = NOLOC):
        # op: == != in prefix contains
        self.__dict__.update(arg=arg, index=index, op=op, values=values, loc=loc)


@_node
class SockPred(_Frozen):
    """sockaddr(arg, lenarg).field OP value(s).  field: family ip port path.

    With ``msg`` set it is ``msgaddr(arg[, vlen])``: the destination in a struct
    msghdr (sendmsg) or in each of ``vlen`` struct mmsghdr (sendmmsg, true only if
    every entry satisfies it); no destination (NULL name or zero length, a
    connected socket) has family AF_UNSPEC.  ``lenarg`` is then the vlen argument
    or None."""
    _fields = ("arg", "lenarg", "field", "op", "values", "loc", "msg")

    def __init__(self, arg: ArgRef, lenarg: ArgRef | None, field: str, op: str, values: tuple,
                 loc: Loc = NOLOC, msg: bool = False):
        # values: ints for family/port, strings for ip (IP or CIDR) and path
        self.__dict__.update(arg=arg, lenarg=lenarg, field=field, op=op, values=values, loc=loc,
                             msg=msg)


MEMORY_PREDICATES = (StrPred, ArgvPred, SockPred)


# ---------------------------------------------------------------- statements
@_node
class RuleAst(_Frozen):
    _fields = ("syscall", "nr", "params", "expr", "archs", "loc", "custom")

    def __init__(self, syscall: str | None, nr: int | None, params: tuple | None,
                 expr: object | None, archs: tuple | None, loc: Loc = NOLOC, custom: bool = False):
        # syscall: name as written (None for SYSCALL[n] / #define number)
        # nr: x86_64 number (None when the rule does not apply here)
        # params: declared argument names, None if implicit
        # expr: None = unconditional;  archs: ON guard, None if none
        # custom: written as SYSCALL[n] or a #define'd number
        self.__dict__.update(syscall=syscall, nr=nr, params=params, expr=expr, archs=archs,
                             loc=loc, custom=custom)


@_node
class ActionBlock(_Node):
    """``ACTION { rules }`` inside a policy (mutable, unhashable: a statement)."""
    _fields = ("action", "rules", "loc")

    def __init__(self, action: Action, rules: list, loc: Loc = NOLOC):
        self.__dict__.update(action=action, rules=rules, loc=loc)


@_node
class Use(_Node):
    _fields = ("name", "loc")

    def __init__(self, name: str, loc: Loc = NOLOC):
        self.__dict__.update(name=name, loc=loc)


@_node
class PolicyDef(_Node):
    _fields = ("name", "entries", "loc")

    def __init__(self, name: str, entries: list, loc: Loc = NOLOC):
        self.__dict__.update(name=name, entries=entries, loc=loc)


@_node
class Rule(_Frozen):
    """One flattened rule of the entry policy, in policy order."""
    _fields = ("order", "action", "syscall", "nr", "expr", "loc", "source")

    def __init__(self, order: int, action: Action, syscall: str, nr: int, expr: object | None,
                 loc: Loc, source: RuleAst):
        # syscall: canonical x86_64 name or "SYSCALL[n]"
        self.__dict__.update(order=order, action=action, syscall=syscall, nr=nr, expr=expr,
                             loc=loc, source=source)

    @property
    def tag(self) -> str:
        return self.loc.short


@_node
class Program(_Node):
    """A parsed policy file: definitions, the implicit top-level policy, default."""
    _fields = ("policies", "main", "default", "default_loc", "defines", "sources", "warnings",
               "name", "rules", "mounts")

    def __init__(self, policies: dict | None = None, main: list | None = None,
                 default: Action | None = None, default_loc: Loc | None = None,
                 defines: dict | None = None, sources: list | None = None,
                 warnings: list | None = None, name: str = "<string>",
                 rules: list | None = None, mounts: tuple = ()):
        self.policies = {} if policies is None else policies   # name -> PolicyDef
        self.main = [] if main is None else main       # entries of the implicit top-level policy
        self.default = default
        self.default_loc = default_loc
        self.defines = {} if defines is None else defines
        self.sources = [] if sources is None else sources        # (name, text) of every file read
        self.warnings = [] if warnings is None else warnings     # (Loc, message)
        self.name = name
        self.rules = [] if rules is None else rules    # flattened Rule list (x86_64)
        # the jail's mount table for `path(x) on ro_bind`: ((dst, kind, rw), ...) in mount
        # order, the root first; empty when unknown (then `on ro_bind` never matches)
        self.mounts = mounts

    @property
    def default_action(self) -> Action:
        return self.default or Action("KILL")


def find_leaf(e, test):
    """The first leaf of boolean expression ``e`` (through And/Or/Not, left first)
    for which test(leaf) is true, or None."""
    if isinstance(e, (And, Or)):
        return find_leaf(e.left, test) or find_leaf(e.right, test)
    if isinstance(e, Not):
        return find_leaf(e.expr, test)
    return e if e is not None and test(e) else None


def is_memory_expr(e) -> bool:
    """Does evaluating ``e`` need the tracee's memory (a supervisor predicate)?"""
    return find_leaf(e, lambda leaf: isinstance(leaf, MEMORY_PREDICATES)) is not None
