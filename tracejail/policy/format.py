"""Print policies back as text, and a small builder for importers.

Importers (Docker/OCI) can either emit text and parse it, or use
``PolicyBuilder``: ``b.add("ALLOW", "read")``, ``b.add("ERRNO(1)", "personality",
"persona == 0")`` -> ``b.text()`` / ``b.build()`` (a parsed Program).
"""
from __future__ import annotations

import json

from tracejail.policy.ast import (Action, ActionBlock, And, ArgRef, ArgvPred, BitOp, Cmp, Not,
                                  Num, Or, PolicyDef, Program, SockPred, StrPred, Use)
from tracejail.policy.parser import family_name


def _q(s: str) -> str:
    return json.dumps(s)


def _qlist(values) -> str:
    return _q(values[0]) if len(values) == 1 else "[" + ", ".join(_q(v) for v in values) + "]"


def format_int(e) -> str:
    if isinstance(e, Num):
        return hex(e.value) if e.value > 9 else str(e.value)
    if isinstance(e, ArgRef):
        return e.name if not e.name.isdigit() else f"arg{e.name}"
    if isinstance(e, BitOp):
        return f"({format_int(e.left)} {e.op} {format_int(e.right)})"
    raise TypeError(e)


def format_expr(e) -> str:
    if isinstance(e, Cmp):
        return f"{format_int(e.left)} {e.op} {format_int(e.right)}"
    if isinstance(e, And):
        return f"({format_expr(e.left)} && {format_expr(e.right)})"
    if isinstance(e, Or):
        return f"({format_expr(e.left)} || {format_expr(e.right)})"
    if isinstance(e, Not):
        return f"!({format_expr(e.expr)})"
    if isinstance(e, StrPred):
        if e.op == "on":
            return f"{e.kind}({format_int(e.arg)}) on {e.values[0]}"
        return f"{e.kind}({format_int(e.arg)}) {e.op} {_qlist(e.values)}"
    if isinstance(e, ArgvPred):
        if e.index is None:
            return f"argv({format_int(e.arg)}) contains {_qlist(e.values)}"
        return f"argv({format_int(e.arg)})[{e.index}] {e.op} {_qlist(e.values)}"
    if isinstance(e, SockPred):
        if e.msg:
            head = f"msgaddr({format_int(e.arg)}" + \
                (f", {format_int(e.lenarg)}" if e.lenarg is not None else "") + f").{e.field}"
        else:
            head = f"sockaddr({format_int(e.arg)}, {format_int(e.lenarg)}).{e.field}"
        if e.field == "family":
            return f"{head} {e.op} {family_name(e.values[0])}"
        if e.field == "port":
            return f"{head} {e.op} {e.values[0]}"
        return f"{head} {e.op} {_qlist(e.values)}"
    raise TypeError(e)


def format_rule(r) -> str:
    head = r.syscall if r.syscall is not None else f"SYSCALL[{r.nr}]"
    if r.params is not None:
        head += "(" + ", ".join(r.params) + ")"
    if r.archs:
        head += " ON " + (r.archs[0] if len(r.archs) == 1 else "{ " + ", ".join(r.archs) + " }")
    if r.expr is not None:
        head += " { " + format_expr(r.expr) + " }"
    return head


def _entries(entries, indent: str) -> str:
    parts = []
    for ent in entries:
        if isinstance(ent, Use):
            parts.append(f"{indent}USE {ent.name}")
        elif isinstance(ent, ActionBlock):
            body = (",\n").join(f"{indent}  {format_rule(r)}" for r in ent.rules)
            parts.append(f"{indent}{ent.action} {{\n{body}\n{indent}}}")
    return ",\n".join(parts)


def format_policy(p) -> str:
    """Program (or PolicyDef) -> policy text that parses back to the same rules."""
    if isinstance(p, PolicyDef):
        return f"POLICY {p.name} {{\n{_entries(p.entries, '  ')}\n}}\n"
    out = []
    for name, (value, _loc) in p.defines.items():
        out.append(f"#define {name} {value}")
    for pd in p.policies.values():
        out.append(format_policy(pd).rstrip("\n"))
    if p.main:
        out.append(_entries(p.main, ""))
    if p.default is not None:
        out.append(f"DEFAULT {p.default}")
    return "\n".join(out) + "\n"


class PolicyBuilder:
    """Build a policy rule by rule (conditions as policy-language text)."""

    def __init__(self, default: str | Action = "KILL", name: str = "imported"):
        self.default = str(default)
        self.name = name
        self.blocks: list[tuple[str, list[str]]] = []
        self.comments: list[str] = []

    def comment(self, text: str) -> None:
        self.comments.extend(text.splitlines())

    def add(self, action: str | Action, syscall: str | int, cond: str | None = None,
            params: tuple | None = None) -> None:
        """Append a rule; consecutive rules with the same action share one block."""
        head = f"SYSCALL[{syscall}]" if isinstance(syscall, int) else syscall
        if params:
            head += "(" + ", ".join(params) + ")"
        if cond:
            head += " { " + cond + " }"
        act = str(action)
        if self.blocks and self.blocks[-1][0] == act:
            self.blocks[-1][1].append(head)
        else:
            self.blocks.append((act, [head]))

    def text(self) -> str:
        lines = [f"// {c}" for c in self.comments]
        lines.append(f"POLICY {self.name} {{")
        for i, (act, rules) in enumerate(self.blocks):
            lines.append(f"  {act} {{")
            lines.append(",\n".join(f"    {r}" for r in rules))
            lines.append("  }" + ("," if i + 1 < len(self.blocks) else ""))
        lines.append("}")
        lines.append(f"USE {self.name} DEFAULT {self.default}")
        return "\n".join(lines) + "\n"

    def build(self, source_name: str = "<builder>") -> Program:
        from tracejail.policy import load_policy_text
        return load_policy_text(self.text(), name=source_name)
