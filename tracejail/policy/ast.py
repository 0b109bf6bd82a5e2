"""Policy AST: kafel statements plus tracejail's supervisor predicates.

Nodes are plain frozen dataclasses so importers (Docker/OCI) can build them
and ``format_policy`` can print them back as policy text.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Loc:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    @property
    def short(self) -> str:
        """``basename:line`` used as the deciding-rule tag in verdicts and audit."""
        return f"{self.file.rsplit('/', 1)[-1]}:{self.line}"


NOLOC = Loc("<builder>", 0, 0)


# ---------------------------------------------------------------- actions
@dataclass(frozen=True)
class Action:
    kind: str          # ALLOW LOG KILL KILL_PROCESS ERRNO TRAP TRACE USER_NOTIF
    value: int = 0

    def __str__(self) -> str:
        if self.kind in ("ERRNO", "TRAP", "TRACE"):
            return f"{self.kind}({self.value})"
        return self.kind


# ---------------------------------------------------------------- integer expressions
@dataclass(frozen=True)
class Num:
    value: int
    loc: Loc = NOLOC


@dataclass(frozen=True)
class ArgRef:
    name: str          # as written (for messages and formatting)
    index: int         # 0..5
    bits: int = 64     # 32 when the kernel reads this argument as an int
    loc: Loc = NOLOC


@dataclass(frozen=True)
class BitOp:
    op: str            # "&" or "|"
    left: object
    right: object
    loc: Loc = NOLOC


# ---------------------------------------------------------------- boolean expressions
@dataclass(frozen=True)
class Cmp:
    op: str            # == != < <= > >=
    left: object
    right: object
    loc: Loc = NOLOC


@dataclass(frozen=True)
class And:
    left: object
    right: object


@dataclass(frozen=True)
class Or:
    left: object
    right: object
    comma: bool = False   # written as kafel's lowest-precedence ','


@dataclass(frozen=True)
class Not:
    expr: object


@dataclass(frozen=True)
class StrPred:
    """path(arg) / string(arg) OP patterns.  OP: == != in under prefix, and
    ``on`` (values = ("ro_bind", mount table)): the path lies on a read-only bind."""
    kind: str          # "path" or "string"
    arg: ArgRef
    op: str
    values: tuple
    loc: Loc = NOLOC


@dataclass(frozen=True)
class ArgvPred:
    """argv(arg)[index] OP patterns, or argv(arg) contains patterns (index None)."""
    arg: ArgRef
    index: int | None
    op: str            # == != in prefix contains
    values: tuple
    loc: Loc = NOLOC


@dataclass(frozen=True)
class SockPred:
    """sockaddr(arg, lenarg).field OP value(s).  field: family ip port path.

    With ``msg`` set it is ``msgaddr(arg[, vlen])``: the destination in a struct
    msghdr (sendmsg) or in each of ``vlen`` struct mmsghdr (sendmmsg, true only if
    every entry satisfies it); no destination (NULL name or zero length, a
    connected socket) has family AF_UNSPEC.  ``lenarg`` is then the vlen argument
    or None."""
    arg: ArgRef
    lenarg: ArgRef | None
    field: str
    op: str
    values: tuple      # ints for family/port, strings for ip (IP or CIDR) and path
    loc: Loc = NOLOC
    msg: bool = False


MEMORY_PREDICATES = (StrPred, ArgvPred, SockPred)


# ---------------------------------------------------------------- statements
@dataclass(frozen=True)
class RuleAst:
    syscall: str | None        # name as written (None for SYSCALL[n] / #define number)
    nr: int | None             # x86_64 number (None when the rule does not apply here)
    params: tuple | None       # declared argument names, None if implicit
    expr: object | None        # None: unconditional
    archs: tuple | None        # ON guard, None if none
    loc: Loc = NOLOC
    custom: bool = False       # written as SYSCALL[n] or a #define'd number


@dataclass
class ActionBlock:
    action: Action
    rules: list
    loc: Loc = NOLOC


@dataclass
class Use:
    name: str
    loc: Loc = NOLOC


@dataclass
class PolicyDef:
    name: str
    entries: list
    loc: Loc = NOLOC


@dataclass(frozen=True)
class Rule:
    """One flattened rule of the entry policy, in policy order."""
    order: int
    action: Action
    syscall: str               # canonical x86_64 name or "SYSCALL[n]"
    nr: int
    expr: object | None
    loc: Loc
    source: RuleAst

    @property
    def tag(self) -> str:
        return self.loc.short


@dataclass
class Program:
    """A parsed policy file: definitions, the implicit top-level policy, default."""
    policies: dict = field(default_factory=dict)     # name -> PolicyDef
    main: list = field(default_factory=list)          # entries of the implicit top-level policy
    default: Action | None = None
    default_loc: Loc | None = None
    defines: dict = field(default_factory=dict)
    sources: list = field(default_factory=list)       # (name, text) of every file read
    warnings: list = field(default_factory=list)      # (Loc, message)
    name: str = "<string>"
    rules: list = field(default_factory=list)         # flattened Rule list (x86_64)
    # the jail's mount table for `path(x) on ro_bind`: ((dst, kind, rw), ...) in mount
    # order, the root first; empty when unknown (then `on ro_bind` never matches)
    mounts: tuple = ()

    @property
    def default_action(self) -> Action:
        return self.default or Action("KILL")


def is_memory_expr(e) -> bool:
    """Does evaluating ``e`` need the tracee's memory (a supervisor predicate)?"""
    if e is None:
        return False
    if isinstance(e, MEMORY_PREDICATES):
        return True
    if isinstance(e, (And, Or)):
        return is_memory_expr(e.left) or is_memory_expr(e.right)
    if isinstance(e, Not):
        return is_memory_expr(e.expr)
    return False
