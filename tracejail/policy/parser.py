"""Recursive-descent parser: kafel grammar (precedence as kafel's parser.y) plus predicates.

Precedence, lowest first: ``,`` < ``||`` < ``&&`` < ``!``/comparison < ``|`` < ``&``.
``!`` applies to a primary (``!a == 1`` is ``!(a == 1)``), as in kafel.
Identifiers in expressions resolve: ``#define`` > syscall argument > built-in constant.
"""
from __future__ import annotations

import ipaddress

from tracejail.errors import PolicyError
from tracejail.policy import syscalls
from tracejail.policy.ast import (Action, ActionBlock, And, ArgRef, ArgvPred, BitOp, Cmp, Loc,
                                  Not, Num, Or, PolicyDef, Program, Rule, RuleAst, SockPred,
                                  StrPred, Use)
from tracejail.policy.constants import AF_NAMES, CONSTANTS
from tracejail.policy.lexer import Lexer, Token, err

ACTIONS0 = {"ALLOW": "ALLOW", "LOG": "LOG", "KILL": "KILL", "KILL_THREAD": "KILL", "DENY": "KILL",
            "KILL_PROCESS": "KILL_PROCESS", "USER_NOTIF": "USER_NOTIF"}
ACTIONS1 = ("ERRNO", "TRAP", "TRACE")
KEYWORDS = {"POLICY", "USE", "DEFAULT", "SYSCALL", "ON", *ACTIONS0, *ACTIONS1}
CMP_OPS = ("==", "!=", "<", "<=", ">", ">=")
STR_OPS = ("==", "!=", "in", "under", "prefix")
PREDICATES = ("path", "string", "argv", "sockaddr", "msgaddr")
MAX_ARGS = 6
MAX_DEPTH = 64
MAX_OPS = 256          # operators per rule: keeps evaluation recursion bounded
U32 = 0xFFFFFFFF


def glob_ok(pattern: str, loc: Loc) -> None:
    from tracejail.policy.interpreter import glob_regex
    try:
        glob_regex(pattern)
    except Exception:   # re.error or bad class
        raise err(loc, f"bad glob pattern {pattern!r}") from None


class Parser:
    def __init__(self, tokens: list[Token], program: Program):
        self.toks = tokens
        self.i = 0
        self.p = program
        self.scope: dict[str, int] | None = None     # arg name -> index for the current rule
        self.scope_sys: str | None = None
        self.depth = 0
        self.ops = 0

    # ------------------------------------------------------------ token helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def at(self, value, kind: str | None = None) -> bool:
        t = self.tok
        return t.value == value and t.kind in ((kind,) if kind else ("PUNCT", "IDENT"))

    def advance(self) -> Token:
        t = self.tok
        if t.kind != "EOF":
            self.i += 1
        return t

    def expect(self, value, what: str | None = None) -> Token:
        if not self.at(value):
            self.fail(f"expected `{what or value}'")
        return self.advance()

    def fail(self, msg: str):
        t = self.tok
        shown = str(t.text or t.value)
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        found = "end of input" if t.kind == "EOF" else \
            (f'string "{shown}"' if t.kind == "STRING" else f"`{shown}'")
        raise err(t.loc, f"syntax error, {msg}, found {found}")

    def ident(self, what: str) -> Token:
        if self.tok.kind != "IDENT":
            self.fail(f"expected {what}")
        return self.advance()

    def warn(self, loc: Loc, msg: str) -> None:
        self.p.warnings.append((loc, msg))

    # ------------------------------------------------------------ program
    def parse_program(self) -> Program:
        if self.tok.kind == "EOF":
            raise err(self.tok.loc, "empty policy (no rules, USE or DEFAULT)")
        while self.tok.kind != "EOF":
            t = self.tok
            if self.at("#"):
                self.const_def()
            elif self.at("POLICY", "IDENT"):
                self.policy_def()
            elif self.at("DEFAULT", "IDENT"):
                self.advance()
                act = self.action()
                if self.p.default is not None:
                    raise err(t.loc, f"redefinition of default action (first at {self.p.default_loc})")
                self.p.default, self.p.default_loc = act, t.loc
            elif self.at(","):
                self.advance()
            else:
                self.p.main.extend(self.policy_statements(top=True))
        if not self.p.main and self.p.default is None:
            raise err(self.tok.loc, "no top-level rules, USE or DEFAULT: the policy would "
                                    "kill every syscall (did you forget `USE name DEFAULT ...'?)")
        return self.p

    def const_def(self) -> None:
        h = self.advance()
        d = self.ident("`define' or `include' after `#'")
        if d.value != "define":
            raise err(d.loc, f"unknown directive `#{d.value}'")
        name = self.ident("constant name after #define")
        if name.value in KEYWORDS:
            raise err(name.loc, f"cannot #define keyword `{name.value}'")
        saved, self.scope = self.scope, None
        self.ops = 0
        value = self.const_value(self.bit_or())
        self.scope = saved
        old = self.p.defines.get(name.value)
        if old is not None and old[0] != value:
            raise err(h.loc, f"redefinition of constant `{name.value}' with different value "
                             f"(was: {old[0]} at {old[1]}, is: {value})")
        if old is None:
            self.p.defines[name.value] = (value, h.loc)

    def const_value(self, e) -> int:
        if isinstance(e, Num):
            return e.value
        raise err(getattr(e, "loc", self.tok.loc), "expected a constant value")

    def policy_def(self) -> None:
        kw = self.advance()
        name = self.ident("policy name")
        if name.value in KEYWORDS:
            raise err(name.loc, f"`{name.value}' is a keyword, not a policy name")
        if name.value in self.p.policies:
            raise err(name.loc, f"redefinition of policy `{name.value}' "
                                f"(first at {self.p.policies[name.value].loc})")
        self.expect("{")
        entries = [] if self.at("}") else self.policy_statements(top=False)
        self.expect("}", "}' or `,")
        self.p.policies[name.value] = PolicyDef(name.value, entries, kw.loc)

    def policy_statements(self, top: bool) -> list:
        out = [self.policy_statement()]
        while True:
            if self.at(","):
                self.advance()
                out.append(self.policy_statement())
            elif not top and (self.at("USE", "IDENT") or self.is_action_start()):
                out.append(self.policy_statement())   # tolerate a missing comma
            else:
                return out

    def is_action_start(self) -> bool:
        return self.tok.kind == "IDENT" and (self.tok.value in ACTIONS0 or self.tok.value in ACTIONS1)

    def policy_statement(self):
        t = self.tok
        if self.at("USE", "IDENT"):
            self.advance()
            name = self.ident("policy name after USE")
            if name.value not in self.p.policies:
                raise err(name.loc, f"undefined policy `{name.value}'")
            return Use(name.value, t.loc)
        if self.is_action_start():
            act = self.action()
            self.expect("{")
            rules = []
            while not self.at("}"):
                rules.append(self.syscall_rule())
                if self.at(","):
                    self.advance()
                elif not self.at("}") and self.tok.kind != "IDENT":
                    self.fail("expected `,' or `}'")
            self.advance()
            return ActionBlock(act, rules, t.loc)
        self.fail("expected POLICY, USE, DEFAULT, #define or an action block")

    def action(self) -> Action:
        t = self.ident("an action")
        if t.value in ACTIONS0:
            return Action(ACTIONS0[t.value])
        if t.value in ACTIONS1:
            self.expect("(")
            v = self.tok
            if v.kind == "NUMBER":
                value = self.advance().value
            elif v.kind == "IDENT" and self.lookup_const(v.value) is not None:
                value = self.lookup_const(self.advance().value)
            else:
                self.fail(f"expected a number for {t.value}(...)")
            if value > 0xFFFF:
                raise err(v.loc, f"{t.value.capitalize()} value {value} out of range (0-65535)")
            self.expect(")")
            return Action(t.value, value)
        raise err(t.loc, f"unknown action `{t.value}'")

    # ------------------------------------------------------------ rules
    def syscall_index(self) -> int:
        """``SYSCALL[n]`` at the current token: consume it, return n."""
        self.advance()
        self.expect("[")
        n = self.tok
        if n.kind != "NUMBER":
            self.fail("expected a syscall number")
        self.advance()
        self.expect("]")
        return n.value

    def syscall_rule(self) -> RuleAst:
        t = self.tok
        custom = False
        if self.at("SYSCALL", "IDENT"):
            name, nr, custom = None, self.syscall_index(), True
        else:
            nt = self.ident("a syscall name")
            if nt.value in KEYWORDS:
                raise err(nt.loc, f"`{nt.value}' is a keyword, not a syscall")
            d = self.p.defines.get(nt.value)
            if d is not None:
                name, nr, custom = None, d[0], True
            else:
                name, nr = nt.value, None
        params = None
        if self.at("("):
            self.advance()
            params = []
            while not self.at(")"):
                a = self.ident("an argument name")
                if a.value in params:
                    raise err(a.loc, f"redefinition of argument `{a.value}'")
                if len(params) == MAX_ARGS:
                    raise err(a.loc, "too many arguments defined for syscall")
                params.append(a.value)
                if not self.at(")"):
                    self.expect(",", ",' or `)")
            self.advance()
            params = tuple(params)
        archs = None
        if self.at("ON", "IDENT"):
            self.advance()
            archs = self.arch_list()
        # resolve the syscall for x86_64
        applies = archs is None or "x86_64" in archs
        sysname = name
        if custom:
            if nr >= syscalls.X32_SYSCALL_BIT:
                raise err(t.loc, f"syscall number {nr} is not a valid x86_64 syscall number")
            sysname = syscalls.name_of(nr)
        elif name is not None:
            nr = syscalls.nr_of(name)
            if nr is None:
                if not syscalls.known_anywhere(name):
                    if applies:     # as kafel: a typo must not silently drop a rule
                        raise err(t.loc, f"undefined syscall `{name}'")
                elif applies:
                    # an i386/x32-only name (socketcall, stat64...): nothing to filter on
                    # x86_64; the rule is dropped, which is fail-closed (default applies)
                    self.warn(t.loc, f"syscall `{name}' does not exist on x86_64 (rule ignored)")
                applies = False
            else:
                sysname = syscalls.canonical(name)
        # argument scope for the filter expression
        if params is not None:
            self.scope = {a: k for k, a in enumerate(params)}
        else:
            self.scope = syscalls.implicit_args(sysname)
            for k in range(MAX_ARGS):
                self.scope.setdefault(f"arg{k}", k)
        self.scope_sys = sysname
        self.ops = 0
        expr = None
        if self.at("{"):
            self.advance()
            if not self.at("}"):
                expr = self.bool_expr()
            self.expect("}", "}' to close the argument filter")
        if self.at("ON", "IDENT") and archs is None:
            self.advance()
            archs = self.arch_list()
            applies = "x86_64" in archs and nr is not None
        self.scope = None
        return RuleAst(name, nr if applies else None, params, expr, archs, t.loc, custom)

    def arch_list(self) -> tuple:
        names = []
        if self.at("{"):
            self.advance()
            while True:
                names.append(self.arch_name())
                if self.at(","):
                    self.advance()
                    continue
                self.expect("}")
                break
        else:
            names.append(self.arch_name())
        return tuple(names)

    def arch_name(self) -> str:
        a = self.ident("an architecture name")
        if a.value not in syscalls.ARCH_NAMES:
            raise err(a.loc, f"unknown architecture `{a.value}'")
        return syscalls.ARCH_NAMES[a.value]

    # ------------------------------------------------------------ boolean expressions
    def count_op(self) -> None:
        self.ops += 1
        if self.ops > MAX_OPS:
            raise err(self.tok.loc, f"expression too long (more than {MAX_OPS} operators in one rule)")

    def bool_expr(self):
        e = self.or_expr()
        while self.at(","):
            self.count_op()
            self.advance()
            e = Or(e, self.or_expr(), comma=True)
        return e

    def or_expr(self):
        e = self.and_expr()
        while self.at("||"):
            self.count_op()
            self.advance()
            e = Or(e, self.and_expr())
        return e

    def and_expr(self):
        e = self.primary_bool()
        while self.at("&&"):
            self.count_op()
            self.advance()
            e = And(e, self.primary_bool())
        return e

    def primary_bool(self):
        if self.at("!"):
            self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise err(self.tok.loc, "expression nested too deeply")
            e = Not(self.primary_bool())
            self.depth -= 1
            return e
        if self.at("("):
            # '(' opens a boolean group unless its matching ')' is followed by a
            # comparison or bit operator: then it is part of an integer operand.
            # (Decided by scanning ahead: linear, no backtracking.)
            after = self.toks[self._matching(self.i) + 1]
            if not (after.kind == "PUNCT" and after.value in CMP_OPS + ("&", "|")):
                self.advance()
                self.depth += 1
                if self.depth > MAX_DEPTH:
                    raise err(self.tok.loc, "expression nested too deeply")
                e = self.bool_expr()
                self.depth -= 1
                self.expect(")")
                return e
            return self.comparison()
        if (self.tok.kind == "IDENT" and self.tok.value in PREDICATES and self.peek().value == "("
                and self.peek().kind == "PUNCT"):
            return self.predicate()
        return self.comparison()

    def _matching(self, i: int) -> int:
        depth = 0
        n = len(self.toks) - 1
        while i < n:
            t = self.toks[i]
            if t.kind == "PUNCT" and t.value == "(":
                depth += 1
            elif t.kind == "PUNCT" and t.value == ")":
                depth -= 1
                if depth == 0:
                    return i
            elif t.kind == "PUNCT" and t.value in ("{", "}"):
                return i      # unbalanced inside a filter: let the parser report it
            i += 1
        return n - 1 if n > 0 else 0

    def comparison(self):
        left = self.bit_or()
        t = self.tok
        if not (t.kind == "PUNCT" and t.value in CMP_OPS):
            self.fail("expected a comparison operator")
        self.advance()
        right = self.bit_or()
        return normalize_cmp(Cmp(t.value, left, right, t.loc))

    def bit_or(self):
        e = self.bit_and()
        while self.at("|"):
            self.count_op()
            t = self.advance()
            e = fold(BitOp("|", e, self.bit_and(), t.loc))
        return e

    def bit_and(self):
        e = self.operand()
        while self.at("&"):
            self.count_op()
            t = self.advance()
            e = fold(BitOp("&", e, self.operand(), t.loc))
        return e

    def operand(self):
        t = self.tok
        if t.kind == "NUMBER":
            self.advance()
            return Num(t.value, t.loc)
        if self.at("("):
            self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise err(t.loc, "expression nested too deeply")
            e = self.bit_or()
            self.depth -= 1
            self.expect(")")
            return e
        if t.kind == "IDENT":
            self.advance()
            return self.resolve_ident(t)
        self.fail("expected a number, constant or argument name")

    def lookup_const(self, name: str):
        d = self.p.defines.get(name)
        if d is not None:
            return d[0]
        return CONSTANTS.get(name)

    def resolve_ident(self, t: Token):
        d = self.p.defines.get(t.value)
        if d is not None:
            return Num(d[0], t.loc)
        if self.scope is not None and t.value in self.scope:
            return self.argref(t.value, self.scope[t.value], t.loc)
        if t.value in CONSTANTS:
            return Num(CONSTANTS[t.value], t.loc)
        if self.scope is None:
            raise err(t.loc, f"undefined constant `{t.value}'")
        raise err(t.loc, f"undefined argument `{t.value}'")

    def argref(self, name: str, index: int, loc: Loc) -> ArgRef:
        bits = 32 if syscalls.arg_is_32bit(self.scope_sys, index) else 64
        return ArgRef(name, index, bits, loc)

    def arg_operand(self, what: str) -> ArgRef:
        t = self.tok
        if t.kind == "NUMBER":
            self.advance()
            if t.value >= MAX_ARGS:
                raise err(t.loc, f"argument index {t.value} out of range (0-5)")
            return self.argref(f"{t.value}", t.value, t.loc)
        if t.kind == "IDENT" and self.scope is not None and t.value in self.scope:
            self.advance()
            return self.argref(t.value, self.scope[t.value], t.loc)
        if t.kind == "IDENT":
            raise err(t.loc, f"undefined argument `{t.value}' in {what}")
        self.fail(f"expected an argument name in {what}")

    # ------------------------------------------------------------ predicates
    def strlist(self) -> tuple:
        if self.tok.kind == "STRING":
            return (self.advance().value,)
        if self.at("["):
            self.advance()
            out = []
            while not self.at("]"):
                if self.tok.kind != "STRING":
                    self.fail("expected a string")
                out.append(self.advance().value)
                if not self.at("]"):
                    self.expect(",", ",' or `]")
            self.advance()
            if not out:
                raise err(self.tok.loc, "empty string list")
            return tuple(out)
        self.fail("expected a string or [list of strings]")

    def str_op(self, kind: str = "string") -> str:
        t = self.tok
        if (t.kind == "PUNCT" and t.value in ("==", "!=")) or (t.kind == "IDENT" and t.value in STR_OPS):
            self.advance()
            return t.value
        if kind == "path" and t.kind == "IDENT" and t.value == "on":
            self.advance()
            return "on"
        self.fail("expected ==, !=, in, under or prefix" + (" or on" if kind == "path" else ""))

    def check_patterns(self, kind: str, op: str, values: tuple, loc: Loc) -> None:
        if op in ("==", "!=") and len(values) != 1:
            raise err(loc, f"`{op}' takes one string; use `in [...]' for several")
        for v in values:
            if "\0" in v:
                raise err(loc, "NUL byte in string")
            if kind == "path" and op in ("==", "!=", "in", "under") and not v.startswith("/"):
                raise err(loc, f"path pattern {v!r} must be absolute (paths are resolved)")
            if op == "in":
                glob_ok(v, loc)

    def predicate(self):
        t = self.advance()
        kind = t.value
        self.expect("(")
        arg = self.arg_operand(f"{kind}(...)")
        lenarg = None
        if kind == "msgaddr":
            if self.at(","):
                self.advance()
                lenarg = self.arg_operand("msgaddr(...)")
            elif (self.scope_sys or "") == "sendmmsg":
                raise err(t.loc, "msgaddr(MSGVEC, VLEN): give the vlen argument for sendmmsg")
        elif kind == "sockaddr":
            if self.at(","):
                self.advance()
                lenarg = self.arg_operand("sockaddr(...)")
            else:
                pair = syscalls.SOCKADDR_ARGS.get(self.scope_sys or "")
                if pair is None or pair[0] != arg.index:
                    raise err(t.loc, "sockaddr(ADDR, LEN): give the length argument for this syscall")
                lenarg = self.argref(f"{pair[1]}", pair[1], t.loc)
        self.expect(")")
        if kind in ("path", "string"):
            op = self.str_op(kind)
            if op == "on":
                w = self.ident("`ro_bind' after `on'")
                if w.value != "ro_bind":
                    raise err(w.loc, f"unknown mount class `{w.value}' (expected ro_bind)")
                return StrPred(kind, arg, "on", ("ro_bind", self.p.mounts), t.loc)
            values = self.strlist()
            self.check_patterns(kind, op, values, t.loc)
            return StrPred(kind, arg, op, values, t.loc)
        if kind == "argv":
            if self.at("contains", "IDENT"):
                self.advance()
                values = self.strlist()
                return ArgvPred(arg, None, "contains", values, t.loc)
            self.expect("[", "[' or `contains")
            n = self.tok
            if n.kind != "NUMBER" or n.value > 4096:
                self.fail("expected an argv index")
            self.advance()
            self.expect("]")
            op = self.str_op()
            if op == "under":
                raise err(t.loc, "`under' applies to paths; use `prefix' or `in' on argv")
            values = self.strlist()
            self.check_patterns("string", op, values, t.loc)
            return ArgvPred(arg, n.value, op, values, t.loc)
        # sockaddr / msgaddr
        self.expect(".")
        f = self.ident("a sockaddr field (family, ip, port, path)")
        if f.value not in ("family", "ip", "port", "path"):
            raise err(f.loc, f"unknown sockaddr field `{f.value}'")
        field = f.value
        if field in ("family", "port"):
            op = self.tok
            if not (op.kind == "PUNCT" and op.value in CMP_OPS):
                self.fail("expected a comparison operator")
            self.advance()
            if field == "family" and op.value not in ("==", "!="):
                raise err(op.loc, "family compares with == or != only")
            saved, self.scope = self.scope, None
            v = self.bit_or()
            self.scope = saved
            if not isinstance(v, Num):
                raise err(op.loc, f"{field} compares with a constant")
            if field == "port" and v.value > 0xFFFF:
                raise err(v.loc, f"port {v.value} out of range (0-65535)")
            return SockPred(arg, lenarg, field, op.value, (v.value,), t.loc, kind == "msgaddr")
        op = self.str_op()
        values = self.strlist()
        if field == "ip":
            if op not in ("==", "!=", "in"):
                raise err(t.loc, "ip compares with ==, != or in")
            for v in values:
                try:
                    ipaddress.ip_network(v, strict=False)
                except ValueError:
                    raise err(t.loc, f"bad IP address or CIDR {v!r}") from None
            if op in ("==", "!=") and len(values) != 1:
                raise err(t.loc, f"`{op}' takes one address")
        else:
            self.check_patterns("string", op, values, t.loc)
        return SockPred(arg, lenarg, field, op, values, t.loc, kind == "msgaddr")


def _err_pos(e: PolicyError):
    """Sort key: the error that got further into the input is the better message."""
    try:
        _, line, col = str(e).split(":", 3)[:3]
        return (int(line), int(col))
    except ValueError:
        return (0, 0)


def width(e) -> int | None:
    """Bits of an integer expression's value; None for a constant."""
    if isinstance(e, Num):
        return None
    if isinstance(e, ArgRef):
        return e.bits
    if isinstance(e, BitOp):
        a, b = width(e.left), width(e.right)
        if e.op == "&":
            ws = [w for w in (a, b) if w is not None]
            return min(ws) if ws else None
        ws = [w for w in (a, b) if w is not None]
        return max(ws) if ws else None
    return 64


def fold(e: BitOp):
    if isinstance(e.left, Num) and isinstance(e.right, Num):
        v = e.left.value & e.right.value if e.op == "&" else e.left.value | e.right.value
        return Num(v, e.left.loc)
    return e


def normalize_cmp(c: Cmp) -> Cmp:
    """A negative 32-bit constant written as 64-bit (-1, -100) compared with a 32-bit
    argument means its 32-bit value, as kafel compares int arguments on 32 bits."""
    wl, wr = width(c.left), width(c.right)
    left, right = c.left, c.right
    if wl == 32 and isinstance(right, Num) and right.value >> 32 == U32 and right.value & 0x80000000:
        right = Num(right.value & U32, right.loc)
    if wr == 32 and isinstance(left, Num) and left.value >> 32 == U32 and left.value & 0x80000000:
        left = Num(left.value & U32, left.loc)
    return Cmp(c.op, left, right, c.loc)


# ---------------------------------------------------------------- flattening
def flatten(p: Program) -> list[Rule]:
    """Expand USE statements of the implicit top-level policy into the ordered rule list."""
    rules: list[Rule] = []

    def walk(entries, depth):
        if depth > 64:
            raise PolicyError("USE nesting too deep")
        for ent in entries:
            if isinstance(ent, Use):
                walk(p.policies[ent.name].entries, depth + 1)
                continue
            for r in ent.rules:
                if r.nr is None:
                    continue
                name = syscalls.name_of(r.nr) or f"SYSCALL[{r.nr}]"
                rules.append(Rule(len(rules), ent.action, name, r.nr, r.expr, r.loc, r))

    walk(p.main, 0)
    # warnings: rules after an unconditional rule for the same syscall never match
    first_uncond: dict[int, Rule] = {}
    for r in rules:
        prev = first_uncond.get(r.nr)
        if prev is not None:
            p.warnings.append((r.loc, f"rule for {r.syscall} is unreachable: shadowed by the "
                                      f"unconditional rule at {prev.loc}"))
        elif r.expr is None:
            first_uncond[r.nr] = r
    used = set()
    for ent in p.main:
        _collect_uses(p, ent, used)
    for name, pd in p.policies.items():
        if name not in used:
            p.warnings.append((pd.loc, f"policy `{name}' is never used"))
    return rules


def _collect_uses(p, ent, used):
    if isinstance(ent, Use) and ent.name not in used:
        used.add(ent.name)
        for e in p.policies[ent.name].entries:
            _collect_uses(p, e, used)


def parse(text: str, name: str = "<string>", basedir: str | None = None,
          include_paths=(), mounts=()) -> Program:
    prog = Program(name=name, mounts=tuple(mounts))
    lx = Lexer(include_paths, prog.sources)
    toks = lx.tokenize(text, name, basedir)
    Parser(toks, prog).parse_program()
    prog.rules = flatten(prog)
    return prog


def parse_file(path: str, include_paths=(), mounts=()) -> Program:
    prog = Program(name=path, mounts=tuple(mounts))
    lx = Lexer(include_paths, prog.sources)
    toks = lx.tokenize_file(path)
    Parser(toks, prog).parse_program()
    prog.rules = flatten(prog)
    return prog


def family_name(v: int) -> str:
    return AF_NAMES.get(v, str(v))
