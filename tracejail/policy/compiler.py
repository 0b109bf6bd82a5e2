"""Policy -> (libseccomp kernel filter, supervisor routing).

Per syscall, the rules are turned into disjoint libseccomp rules that keep
kafel's first-match order: rule i fires on ``C_i and not C_1 .. not C_{i-1}``,
each written as a DNF of comparisons libseccomp can express exactly (one
comparison per argument per rule; 32-bit arguments through MASKED_EQ on the
low word).  The first rule that cannot be expressed (memory predicate,
ordering compare on an int argument, arg-vs-arg...) and everything after it
becomes SECCOMP_RET_TRACE: the supervisor re-evaluates that syscall exactly
with the reference interpreter.  A self-check then runs the exported BPF in
the emulator against the interpreter on boundary values and reroutes any
syscall that disagrees to the supervisor (fail closed, never silently wrong).
"""
from __future__ import annotations

from tracejail.errors import PolicyError
from tracejail.policy import bpf, pyfast, syscalls
from tracejail._values import _Frozen, _node, _Node
from tracejail.policy.ast import (Action, And, ArgRef, BitOp, Cmp, Not, Num, Or, Program,
                                  is_memory_expr)
from tracejail.policy.interpreter import _CMP, IntCall, Interpreter, NeedsMemory, eval_int
from tracejail.verdict import ALLOWING, Verdict

U64 = (1 << 64) - 1
U32 = 0xFFFFFFFF
DNF_LIMIT = 128
TRACE_DATA = 0          # RET_DATA of routing TRACE; the supervisor never trusts it (threat B8)
FLIP = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", "<=": ">", ">": "<="}
SWAP = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


class Inexpressible(Exception):
    """libseccomp cannot express this condition exactly."""


class TooComplex(Exception):
    pass


# ------------------------------------------------------------------ atoms
def _var(e):
    """(index, bits, mask) for ``arg`` / ``arg & C`` forms, else None."""
    if isinstance(e, ArgRef):
        return e.index, e.bits, U64
    if isinstance(e, BitOp) and e.op == "&":
        for a, b in ((e.left, e.right), (e.right, e.left)):
            if isinstance(b, Num):
                v = _var(a)
                if v is not None:
                    return v[0], v[1], v[2] & b.value
    return None


def _cmp_atoms(c: Cmp, positive: bool, mode: str = "scmp"):
    """DNF (list of conjunctions of literals) for a comparison or its negation."""
    op = c.op if positive else FLIP[c.op]
    left, right = c.left, c.right
    if isinstance(left, Num) and isinstance(right, Num):
        from tracejail.policy.interpreter import _CMP
        return [[]] if _CMP[op](left.value, right.value) else []
    if isinstance(left, Num):
        left, right, op = right, left, SWAP[op]
    if not isinstance(right, Num):
        raise Inexpressible("compares two argument expressions")
    v = _var(left)
    if v is None:
        raise Inexpressible("uses `|' on an argument")
    idx, bits, mask = v
    full = U32 if bits == 32 else U64
    m = mask & full
    k = right.value
    if m == U64:
        return [[("cmp", idx, op, k)]]
    if op not in ("==", "!="):
        if mode == "bpf":
            if k > m:   # (a & m) <= m < k
                return [[]] if op in ("<", "<=") else []
            return [[("mcmp", idx, m, op, k)]]
        if bits == 32 and mask & full == full:
            raise Inexpressible(f"orders a 32-bit argument (arg{idx}) with `{op}'")
        raise Inexpressible(f"orders a masked argument with `{op}'")
    if k & ~m:
        return [] if op == "==" else [[]]
    if op == "==":
        return [[("meq", idx, m, k)]]
    if m == 0:
        return []
    if mode == "bpf":
        return [[("mne", idx, m, k)]]
    # not ((a & m) == k): some bit of m differs
    return [[("meq", idx, 1 << b, (~k) & (1 << b))] for b in range(64) if m >> b & 1]


def to_dnf(e, positive: bool = True, mode: str = "scmp"):
    if e is None:
        return [[]] if positive else []
    if is_memory_expr(e) and not isinstance(e, (And, Or, Not)):
        raise Inexpressible("needs the tracee's memory (supervisor predicate)")
    if isinstance(e, Cmp):
        simp = _simplify if mode == "scmp" else _dedup
        return [c for c in (simp(c) for c in _cmp_atoms(e, positive, mode)) if c is not None]
    if isinstance(e, Not):
        return to_dnf(e.expr, not positive, mode)
    if isinstance(e, (And, Or)):
        conj = isinstance(e, And) == positive
        a, b = to_dnf(e.left, positive, mode), to_dnf(e.right, positive, mode)
        return dnf_and(a, b, mode) if conj else dnf_or(a, b)
    raise Inexpressible(f"unsupported expression {type(e).__name__}")


def dnf_or(a, b):
    out = a + [c for c in b if c not in a]
    if len(out) > DNF_LIMIT:
        raise TooComplex()
    return out


def dnf_and(a, b, mode: str = "scmp"):
    out = []
    simp = _simplify if mode == "scmp" else _dedup
    for x in a:
        for y in b:
            c = simp(tuple(x) + tuple(y))
            if c is not None and c not in out:
                out.append(c)
                if len(out) > DNF_LIMIT:
                    raise TooComplex()
    return out


def _lit_holds(lit, value: int) -> bool:
    from tracejail.policy.interpreter import _CMP
    if lit[0] == "meq":
        return value & lit[2] == lit[3]
    if lit[0] == "mne":
        return value & lit[2] != lit[3]
    if lit[0] == "mcmp":
        return _CMP[lit[3]](value & lit[2], lit[4])
    return _CMP[lit[2]](value, lit[3])


def _dedup(conj):
    """For our own BPF: any number of literals per argument; drop exact duplicates
    and conjunctions that contradict an equality."""
    lits = tuple(dict.fromkeys(conj))
    for lit in lits:
        if lit[0] == "cmp" and lit[2] == "==":
            if not all(_lit_holds(o, lit[3]) for o in lits if o[1] == lit[1]):
                return None
    return lits


def _simplify(conj):
    """Merge literals per argument into at most one libseccomp comparison;
    None if contradictory; Inexpressible if it needs two comparisons."""
    per: dict[int, list] = {}
    for lit in conj:
        per.setdefault(lit[1], []).append(lit)
    out = []
    for idx in sorted(per):
        lits = list(dict.fromkeys(per[idx]))
        eq = [l for l in lits if l[0] == "cmp" and l[2] == "=="]
        if eq:
            val = eq[0][3]
            if not all(_lit_holds(l, val) for l in lits):
                return None
            out.append(eq[0])
            continue
        meqs = [l for l in lits if l[0] == "meq"]
        cmps = [l for l in lits if l[0] == "cmp"]
        if meqs:
            m = v = 0
            for _, _, lm, lv in meqs:
                if (v ^ lv) & (m & lm):
                    return None
                m |= lm
                v |= lv
            if cmps:
                if m == U64:   # fully determined value
                    if not all(_lit_holds(l, v) for l in cmps):
                        return None
                    out.append(("cmp", idx, "==", v))
                    continue
                raise Inexpressible("needs two comparisons on one argument")
            out.append(("meq", idx, m, v))
            continue
        if len(cmps) > 1:
            raise Inexpressible("needs two comparisons on one argument")
        out.append(cmps[0])
    return tuple(out)


# ------------------------------------------------------------------ routing
# Route and _Part behave as the dataclasses they were (tracejail._values: no exec() at import)
@_node
class Route(_Node):
    _fields = ("nr", "name", "where", "reason", "rules", "kernel_rules")

    def __init__(self, nr: int, name: str, where: str, reason: str, rules: list | None = None,
                 kernel_rules: list | None = None):
        self.nr = nr
        self.name = name
        self.where = where              # "kernel", "supervisor", "mixed"
        self.reason = reason
        self.rules = [] if rules is None else rules     # Rule objects for this syscall
        # (action, conj) emitted to libseccomp
        self.kernel_rules = [] if kernel_rules is None else kernel_rules


@_node
class _Part(_Frozen):
    """One top-level disjunct of a rule: ``A { x || y }`` == ``A { x }, A { y }``."""
    _fields = ("action", "expr", "loc")

    def __init__(self, action: Action, expr: object, loc: object):
        self.__dict__.update(action=action, expr=expr, loc=loc)


def split_rules(rules) -> list:
    out = []

    def parts(e):
        if isinstance(e, Or):
            return parts(e.left) + parts(e.right)
        return [e]

    for r in rules:
        out.extend(_Part(r.action, p, r.loc) for p in parts(r.expr))
    return out


def plan_syscall(rules, default: Action):
    """(groups, reason): see plan_syscall_ex (kept for the Docker exporter)."""
    groups, reason, _ = plan_syscall_ex(rules, default)
    return groups, reason


def plan_syscall_ex(rules, default: Action):
    """libseccomp plan: [(Action, conj)] disjoint, in first-match order; the reason
    the rest goes to the supervisor ("" if none); how many rules stay in the kernel."""
    # rule i fires on C_i and not C_j for every earlier j with a DIFFERENT action
    # (an earlier rule with the same action gives the same verdict anyway)
    earlier: list[tuple[Action, list]] = []
    groups = []
    reason = ""
    handled = 0
    try:
        for n, r in enumerate(rules):
            try:
                c = to_dnf(r.expr, True)
                last = n + 1 == len(rules)
                fires = c
                for act, nc in earlier:
                    if act != r.action:
                        fires = dnf_and(fires, nc)
                if not last:
                    earlier.append((r.action, to_dnf(r.expr, False)))
            except Inexpressible as e:
                reason = f"rule {r.loc.short} {e}"
                rest = [()]
                try:
                    for _, nc in earlier:
                        rest = dnf_and(rest, nc)
                except Inexpressible:
                    return [(Action("TRACE", TRACE_DATA), ())], reason, 0
                groups += [(Action("TRACE", TRACE_DATA), tuple(x)) for x in rest]
                break
            groups += [(r.action, tuple(x)) for x in fires]
            handled += 1
            if any(len(x) == 0 for x in c):   # always true: later rules are unreachable
                break
    except TooComplex:
        return [(Action("TRACE", TRACE_DATA), ())], "rules too complex for libseccomp", -1
    return groups, reason, handled


def plan_block(rules):
    """Own ordered-BPF plan (kafel style): [(Action, dnf)] evaluated in order; no
    negation of earlier rules needed.  Stops at the first rule needing memory."""
    plan = []
    reason = ""
    handled = 0
    try:
        for r in rules:
            try:
                d = to_dnf(r.expr, True, "bpf")
            except Inexpressible as e:
                reason = f"rule {r.loc.short} {e}"
                plan.append((Action("TRACE", TRACE_DATA), [()]))
                break
            plan.append((r.action, d))
            handled += 1
            if [] in d or () in d:
                break
    except TooComplex:
        return [(Action("TRACE", TRACE_DATA), [()])], "rules too complex for the kernel filter", -1
    return plan, reason, handled


def _arg_word(idx: int, hi: bool) -> int:
    return 16 + 8 * idx + (4 if hi else 0)


class _Asm:
    """Tiny assembler with forward labels (classic BPF jumps are 8-bit, forward only)."""

    def __init__(self):
        self.items = []
        self.n = 0

    def ld(self, off):
        self.items.append((bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, off, None, None))

    def and_(self, k):
        self.items.append((bpf.BPF_ALU | 0x50 | bpf.BPF_K, k, None, None))

    def j(self, op, k, jt=None, jf=None):
        self.items.append((bpf.BPF_JMP | op | bpf.BPF_K, k, jt, jf))

    def ret(self, k):
        self.items.append((bpf.BPF_RET | bpf.BPF_K, k, None, None))

    def label(self):
        self.n += 1
        return f"L{self.n}"

    def mark(self, name):
        self.items.append(("label", name))

    def assemble(self):
        pos, labels = 0, {}
        for it in self.items:
            if it[0] == "label":
                labels[it[1]] = pos
            else:
                pos += 1
        out, pc = [], 0
        for it in self.items:
            if it[0] == "label":
                continue
            code, k, jt, jf = it
            offs = []
            for t in (jt, jf):
                o = 0 if t is None else labels[t] - (pc + 1)
                if not 0 <= o <= 255:
                    raise TooComplex()
                offs.append(o)
            out.append((code, offs[0], offs[1], k & U32))
            pc += 1
        return out


JEQ, JGT, JGE = bpf.BPF_JEQ, bpf.BPF_JGT, bpf.BPF_JGE


def _emit_lit(a: _Asm, lit, fail: str) -> None:
    kind, idx = lit[0], lit[1]
    if kind in ("meq", "mne"):
        m, v = lit[2], lit[3]
        words = [(hi, (m >> 32) if hi else m & U32, (v >> 32) if hi else v & U32)
                 for hi in (True, False) if ((m >> 32) if hi else m & U32)]
        if kind == "meq":
            for hi, wm, wv in words:
                a.ld(_arg_word(idx, hi))
                if wm != U32:
                    a.and_(wm)
                a.j(JEQ, wv, None, fail)
            return
        ok = a.label()
        for n, (hi, wm, wv) in enumerate(words):
            a.ld(_arg_word(idx, hi))
            if wm != U32:
                a.and_(wm)
            if n + 1 < len(words):
                a.j(JEQ, wv, None, ok)
            else:
                a.j(JEQ, wv, fail, None)
        a.mark(ok)
        return
    if kind == "mcmp":
        m, op, k = lit[2], lit[3], lit[4]
    else:
        m, op, k = U64, lit[2], lit[3]
    mhi, mlo, khi, klo = m >> 32, m & U32, k >> 32, k & U32

    def load(hi):
        a.ld(_arg_word(idx, hi))
        wm = mhi if hi else mlo
        if wm != U32:
            a.and_(wm)

    lo_cmp = {"==": lambda: a.j(JEQ, klo, None, fail), "!=": lambda: a.j(JEQ, klo, fail, None),
              ">": lambda: a.j(JGT, klo, None, fail), ">=": lambda: a.j(JGE, klo, None, fail),
              "<": lambda: a.j(JGE, klo, fail, None), "<=": lambda: a.j(JGT, klo, fail, None)}
    if mhi == 0:        # high word masked away: k <= m < 2^32 here
        load(False)
        lo_cmp[op]()
        return
    ok = a.label()
    load(True)
    if op == "==":
        a.j(JEQ, khi, None, fail)
        load(False)
        a.j(JEQ, klo, None, fail)
    elif op == "!=":
        a.j(JEQ, khi, None, ok)
        load(False)
        a.j(JEQ, klo, fail, None)
    elif op in (">", ">="):
        a.j(JGT, khi, ok, None)
        a.j(JEQ, khi, None, fail)
        load(False)
        lo_cmp[op]()
    else:  # < <=
        a.j(JGT, khi, fail, None)
        a.j(JEQ, khi, None, ok)
        load(False)
        lo_cmp[op]()
    a.mark(ok)


def gen_block(nr: int, plan, fallthrough_ret: int, trace_denials: bool) -> list:
    """``ld nr; jeq NR; ja skip; <rules in order>; ret fallthrough``."""
    a = _Asm()
    for act, dnf in plan:
        ka = _kernel_action(act, trace_denials)
        for conj in dnf:
            fail = a.label()
            for lit in conj:
                _emit_lit(a, lit, fail)
            a.ret(bpf.ret_of(ka.kind, ka.value))
            a.mark(fail)
    a.ret(fallthrough_ret)
    body = a.assemble()
    return [bpf.stmt(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 0),
            bpf.jump(bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K, nr, 1, 0),
            bpf.stmt(bpf.BPF_JMP | bpf.BPF_JA, len(body))] + body


def _kernel_action(a: Action, trace_denials: bool) -> Action:
    if trace_denials and a.kind not in ("ALLOW", "LOG", "TRACE"):
        return Action("TRACE", TRACE_DATA)
    return a


def _scmp_action(a: Action) -> int:
    return bpf.ret_of(a.kind, a.value)


ARCH_PREFIX = [
    bpf.stmt(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 4),
    bpf.jump(bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K, syscalls.AUDIT_ARCH_X86_64, 1, 0),
    bpf.stmt(bpf.BPF_RET | bpf.BPF_K, bpf.RET_KILL_PROCESS),
    bpf.stmt(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 0),
    bpf.jump(bpf.BPF_JMP | bpf.BPF_JGE | bpf.BPF_K, syscalls.X32_SYSCALL_BIT, 0, 1),
    bpf.stmt(bpf.BPF_RET | bpf.BPF_K, bpf.RET_KILL_PROCESS),
    # seccomp(SECCOMP_SET_MODE_FILTER, flags & NEW_LISTENER, ...) -> KILL_PROCESS (threat #7)
    bpf.jump(bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K, syscalls.SECCOMP_NR, 0, 5),
    bpf.stmt(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 16),          # args[0], low half
    bpf.jump(bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K, syscalls.SECCOMP_SET_MODE_FILTER, 0, 3),
    bpf.stmt(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 24),          # args[1], low half
    bpf.jump(bpf.BPF_JMP | bpf.BPF_JSET | bpf.BPF_K, syscalls.SECCOMP_FILTER_FLAG_NEW_LISTENER, 0, 1),
    bpf.stmt(bpf.BPF_RET | bpf.BPF_K, bpf.RET_KILL_PROCESS),
    bpf.stmt(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 0),           # A = nr again
    # clone(flags & CLONE_UNTRACED) -> ERRNO(EPERM): the child would run unseen by the
    # supervisor, outside the audit and the kernel's count of a lone task (threat #10)
    bpf.jump(bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K, syscalls.CLONE_NR, 0, 3),
    bpf.stmt(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 16),          # args[0], low half
    bpf.jump(bpf.BPF_JMP | bpf.BPF_JSET | bpf.BPF_K, syscalls.CLONE_UNTRACED, 0, 1),
    bpf.stmt(bpf.BPF_RET | bpf.BPF_K, bpf.ret_of("ERRNO", 1)),
    bpf.stmt(bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, 0),           # A = nr again for what follows
]


def _placeholders(default_ret: int, emitted: dict[int, list]) -> dict[int, int]:
    """libseccomp refuses TRAP with data and ERRNO >= 4095 (kafel allows 0-65535):
    those are built with unused ERRNO placeholders and patched in the exported BPF."""
    used = {default_ret} | {ret for items in emitted.values() for ret, _ in items}
    need = sorted(r for r in used if (r & bpf.RET_ACTION_FULL == bpf.RET_TRAP and r & 0xFFFF)
                  or (r & bpf.RET_ACTION_FULL == bpf.RET_ERRNO and r & 0xFFFF >= 4095))
    free = [bpf.RET_ERRNO | n for n in range(4094, 3000, -1) if bpf.RET_ERRNO | n not in used]
    return dict(zip(need, free))


def _patch(prog: bytes, real_of: dict[int, int]) -> bytes:
    insns = bpf.decode(prog)
    out = []
    for code, jt, jf, k in insns:
        if code == bpf.BPF_RET | bpf.BPF_K and k in real_of:
            k = real_of[k]
        out.append((code, jt, jf, k))
    return bpf.encode(out)


def _build_filter(default_ret: int, emitted: dict[int, list], ph: dict[int, int] | None = None,
                  tree: bool = True):
    import pyseccomp as sc
    ph = ph or {}
    default_ret = ph.get(default_ret, default_ret)
    emitted = {nr: [(ph.get(r, r), c) for r, c in items] for nr, items in emitted.items()}
    f = sc.SyscallFilter(default_ret)
    f.set_attr(sc.Attr.ACT_BADARCH, bpf.RET_KILL_PROCESS)
    f.set_attr(sc.Attr.CTL_NNP, 0)
    # a binary tree over syscall numbers (libseccomp >= 2.5): ~9 comparisons to any
    # syscall instead of a linear scan (141 instructions to getppid under the default policy)
    f.set_attr(sc.Attr.CTL_OPTIMIZE, 2 if tree else 1)
    for nr, items in emitted.items():
        for ret, conj in items:
            args = []
            for lit in conj:
                if lit[0] == "meq":
                    args.append(sc.Arg(lit[1], sc.MASKED_EQ, lit[2], lit[3]))
                else:
                    op = {"==": sc.EQ, "!=": sc.NE, "<": sc.LT, "<=": sc.LE, ">": sc.GT,
                          ">=": sc.GE}[lit[2]]
                    args.append(sc.Arg(lit[1], op, lit[3]))
            try:
                f.add_rule_exactly(ret, nr, *args)
            except OSError as e:
                raise _RuleRejected(nr, str(e)) from None
    return f


class _RuleRejected(Exception):
    def __init__(self, nr, msg):
        super().__init__(msg)
        self.nr = nr


def _export(f, pfc: bool = False) -> bytes:
    import tempfile     # here, not at the top: a cached policy (run path) never exports
    with tempfile.TemporaryFile() as t:
        (f.export_pfc if pfc else f.export_bpf)(t)
        t.seek(0)
        return t.read()


_UNBUILT = object()


class CompiledPolicy:
    """The result of compile_policy: BPF bytes + exact decision function."""

    def __init__(self, program: Program, options: dict):
        self.program = program
        self.options = options
        self.interpreter = Interpreter(program.rules, program.default_action)
        self.routes: dict[int, Route] = {}
        self.bpf: bytes = b""
        self._filter = None
        self._insns = None
        import hashlib
        h = hashlib.sha256()
        for name, text in program.sources:
            h.update(name.encode("utf-8", "replace") + b"\0" + text.encode() + b"\0")
        self.source_digest = h.hexdigest()
        h.update(repr(program.mounts).encode())
        h.update(repr(sorted(options.items())).encode())
        self.digest = h.hexdigest()

    # -- API used by the supervisor / CLI
    @property
    def rules(self):
        return self.program.rules

    @property
    def default_action(self) -> Action:
        return self.program.default_action

    @property
    def warnings(self):
        return self.program.warnings

    def rule_for(self, tag: str):
        """The Rule whose ``file:line`` tag is ``tag`` (first one), or None."""
        return self.interpreter.rule_of_tag.get(tag) or next(
            (r for r in self.program.rules if r.tag == tag), None)

    def decide(self, call) -> Verdict:
        """The interpreter's verdict; per syscall, through its rules compiled to
        one Python function (tracejail.policy.pyfast) when they allow it."""
        return self.decider(call.nr, getattr(call, "arch", "x86_64"))(call)

    def decider(self, nr: int, arch: str = "x86_64"):
        """The function decide() uses for this syscall (callers may keep it)."""
        if arch != "x86_64":
            return self.interpreter.decide
        fast = self.__dict__.get("_fast")
        if fast is None:
            fast = self._fast = {}
        fn = fast.get(nr, _UNBUILT)
        if fn is _UNBUILT:
            fn = fast[nr] = pyfast.build_for(self.interpreter, nr)
        return fn if fn is not None else self.interpreter.decide

    def kernel_verdict(self, nr: int, arch: str = "x86_64", args=()) -> Verdict:
        if arch == "x86_64":
            a, n = syscalls.AUDIT_ARCH_X86_64, nr
        elif arch == "x32":
            a, n = syscalls.AUDIT_ARCH_X86_64, nr | syscalls.X32_SYSCALL_BIT
        elif arch == "i386":
            a, n = syscalls.AUDIT_ARCH_I386, nr
        else:
            a, n = 0, nr
        if self._insns is None:
            self._insns = bpf.decode(self.bpf)
        return bpf.to_verdict(bpf.run(self._insns, bpf.seccomp_data(n, a, args)), "kernel")

    @property
    def needs_supervisor(self) -> bool:
        if self._insns is None:
            self._insns = bpf.decode(self.bpf)
        return any(code & 0x07 == bpf.BPF_RET and k & bpf.RET_ACTION_FULL == bpf.RET_TRACE
                   for code, _, _, k in self._insns)

    @property
    def pfc(self) -> str:
        if self._filter is None:        # unpickled from the cache: the text saved with it
            return getattr(self, "_pfc", "")
        return _export(self._filter, pfc=True).decode("utf-8", "replace")

    def __getstate__(self):
        """For tracejail.policy.cache: the libseccomp filter (ctypes) stays behind,
        its PFC text goes along; the per-syscall fast functions (_fast) and the
        decoded BPF are rebuilt on first use."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_filter", "_insns", "_fast")}
        state["_pfc"] = self.pfc
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._filter = self._insns = None

    def route(self, nr: int) -> Route | None:
        return self.routes.get(nr)

    def stats(self) -> dict:
        kernel = [r for r in self.routes.values() if r.where == "kernel"]
        sup = [r for r in self.routes.values() if r.where == "supervisor"]
        mixed = [r for r in self.routes.values() if r.where == "mixed"]
        nrules = lambda rs: sum(len(r.rules) for r in rs)  # noqa: E731
        return {"syscalls_kernel": len(kernel), "syscalls_supervisor": len(sup),
                "syscalls_mixed": len(mixed), "rules_kernel": nrules(kernel),
                "rules_supervisor": nrules(sup), "rules_mixed": nrules(mixed),
                "rules_total": len(self.program.rules), "bpf_insns": len(self.bpf) // 8}

    def agrees(self, nr: int, args, arch: str = "x86_64") -> tuple[bool, Verdict, Verdict | None]:
        """Kernel verdict vs interpreter on integer args: the kernel must either
        give the interpreter's verdict or TRACE (then the supervisor decides)."""
        k = self.kernel_verdict(nr, arch, args)
        try:
            i = self.interpreter.decide(IntCall(nr, arch, args))
        except NeedsMemory:
            return k.action == "TRACE", k, None
        if self.options.get("trace_all"):
            ok = k.action == "TRACE" or (arch != "x86_64" and k.action == "KILL_PROCESS")
            return ok, k, i
        same = (k.action, k.value) == (i.action, i.value)
        if k.action == "TRACE" and not same:
            return True, k, i
        return same, k, i


def _nrs(names) -> set[int]:
    out = set()
    for name in names:
        nr = syscalls.nr_of(name)
        if nr is None:
            if isinstance(name, int) or str(name).isdigit():
                nr = int(name)
            else:
                raise PolicyError(f"unknown syscall `{name}' in trace list")
        out.add(nr)
    return out


def may_allow(rules, default: Action, known: dict | None = None) -> bool:
    """Could some call of a syscall with these rules be allowed?  ``known``:
    {argument index: value} the call has; the other arguments are anything."""
    for r in rules:
        v = True if r.expr is None else _value_with(r.expr, known or {})
        if v is False:
            continue
        if r.action.kind in ALLOWING:
            return True
        if v is True:
            return False
    return default.kind in ALLOWING


class _Unknown(Exception):
    pass


def _value_with(e, known: dict) -> bool | None:
    """A rule expression's truth when only the ``known`` arguments are given:
    True, False, or None when it depends on the others (or on memory)."""
    if isinstance(e, Cmp):
        try:
            return _CMP[e.op](_int_with(e.left, known), _int_with(e.right, known))
        except _Unknown:
            return None
    if isinstance(e, (And, Or)):
        a, b = _value_with(e.left, known), _value_with(e.right, known)
        stop = isinstance(e, Or)             # the value that decides an Or (True) or an And (False)
        return stop if stop in (a, b) else (None if None in (a, b) else not stop)
    if isinstance(e, Not):
        v = _value_with(e.expr, known)
        return None if v is None else not v
    return None                              # string, argv, sockaddr predicates


def _int_with(e, known: dict) -> int:
    if isinstance(e, ArgRef):
        if e.index not in known:
            raise _Unknown
        args = [0] * 6
        args[e.index] = known[e.index]
        return eval_int(e, args)
    if isinstance(e, BitOp):
        a, b = _int_with(e.left, known), _int_with(e.right, known)
        return a & b if e.op == "&" else a | b
    return eval_int(e, ())


def compile_policy(program: Program, trace_all: bool = False, trace_denials: bool = False,
                   trace_extra=(), watch=()) -> CompiledPolicy:
    """``trace_extra``: syscalls always decided by the supervisor (--inject).
    ``watch``: syscalls the supervisor must see whenever the policy may allow
    them (it notes their side effects, e.g. async I/O set-up); when the policy
    never allows them they stay in the kernel.  An entry (name, index, values)
    watches the syscall only if the policy may allow it with argument ``index``
    equal to one of ``values`` (socket for the families with kernel-written rings)."""
    options = {"trace_all": bool(trace_all), "trace_denials": bool(trace_denials),
               "trace_extra": tuple(sorted(trace_extra)), "watch": tuple(sorted(watch, key=repr))}
    cp = CompiledPolicy(program, options)
    extra_nrs = _nrs(trace_extra)

    by_nr: dict[int, list] = {}
    for r in program.rules:
        by_nr.setdefault(r.nr, []).append(r)

    pdef = program.default_action
    trace = Action("TRACE", TRACE_DATA)
    if trace_all:
        fdefault = trace
    else:
        fdefault = _kernel_action(pdef, trace_denials)
    forced: dict[int, str] = {nr: "in the trace list (--inject/--trace)" for nr in extra_nrs}
    for w in watch:
        name, index, values = (w, None, ()) if isinstance(w, str) else w
        nr = _nrs((name,)).pop()
        if nr in extra_nrs or nr in forced:
            continue
        rules = by_nr.get(nr, [])
        if trace_denials or (may_allow(rules, pdef) if index is None else
                             any(may_allow(rules, pdef, {index: v}) for v in values)):
            forced[nr] = "watched: the supervisor notes what it sets up (async I/O)"

    use_block: set[int] = set()
    tree = True            # libseccomp's binary-tree dispatch, until the self-check faults it
    for _attempt in range(64):
        emitted: dict[int, list] = {}
        blocks: list = []
        routes: dict[int, Route] = {}
        retry = None
        for nr in sorted(set(by_nr) | set(forced)):
            rules = by_nr.get(nr, [])
            name = syscalls.name_of(nr) or f"SYSCALL[{nr}]"
            if trace_all:
                routes[nr] = Route(nr, name, "supervisor", "trace_all: every syscall", rules)
                continue
            how = "libseccomp"
            if nr in forced:
                groups, reason, handled = [(trace, ())], forced[nr], 0
            else:
                parts = split_rules(rules)
                groups, reason, handled = plan_syscall_ex(parts, pdef)
                if handled < len(parts) and reason or nr in use_block or len(groups) > 8:
                    # our ordered block when libseccomp cannot do it all, or when its
                    # disjoint form blows up (negating a 32-bit equality costs 32 rules)
                    plan, breason, bhandled = plan_block(parts)
                    if bhandled > handled or nr in use_block or \
                            (bhandled == handled and len(groups) > 8):
                        how, reason, handled = "bpf", breason, bhandled
                        groups = [(act, c) for act, d in plan for c in d]
            traced = bool(reason) or nr in forced
            conditional = any(r.expr is not None for r in rules)
            if not traced:
                where = "kernel"
                why = ("integer rules, exact in seccomp-bpf" if conditional else "unconditional rule")
                if how == "bpf":
                    why += " (ordered BPF block: beyond libseccomp's single-comparison rules)"
            elif handled <= 0:
                where, why = "supervisor", reason
            else:
                where = "mixed"
                why = f"first {handled} rule(s) in the kernel; from " + reason
            routes[nr] = Route(nr, name, where, why, rules, list(groups))
            if how == "bpf":
                try:
                    blocks.extend(gen_block(nr, plan, _scmp_action(fdefault), trace_denials))
                except TooComplex:
                    retry = nr
                    break
                continue
            items = []
            for act, conj in groups:
                ka = _kernel_action(act, trace_denials)
                if (ka.kind, ka.value) == (fdefault.kind, fdefault.value):
                    continue
                items.append((bpf.ret_of(ka.kind, ka.value), conj))
            if items:
                emitted[nr] = items
        if retry is not None:
            forced[retry] = "rules too complex for the kernel filter"
            use_block.discard(retry)
            continue
        ph = _placeholders(_scmp_action(fdefault), emitted)
        try:
            f = _build_filter(_scmp_action(fdefault), emitted, ph, tree)
        except _RuleRejected as e:
            use_block.add(e.nr)
            continue
        prog = bpf.encode(ARCH_PREFIX) + bpf.encode(blocks) + \
            _patch(_export(f), {p: r for r, p in ph.items()})
        if len(prog) // 8 > bpf.MAX_INSNS:
            raise PolicyError(f"{program.name}:1:1: compiled filter has {len(prog) // 8} "
                              f"instructions (kernel limit {bpf.MAX_INSNS})")
        cp.bpf, cp._filter, cp._insns, cp.routes = prog, f, None, routes
        marker = _verified_marker(cp)
        if marker is not None and marker.exists():
            return cp
        bad = _self_check(cp, emitted, routes)
        if not bad:
            _remember_verified(marker)
            return cp
        if tree and any(nr not in routes for nr in bad):
            tree = False   # a syscall with no rules misrouted: the tree itself is wrong
            continue
        for nr in bad:
            if nr in use_block or nr in forced:
                forced[nr] = "kernel rules disagreed with the interpreter in the self-check"
            else:
                use_block.add(nr)   # libseccomp's tree got it wrong: try our ordered block
    raise PolicyError(f"{program.name}:1:1: could not compile a consistent filter")


def _values_for(conj_lists) -> dict[int, set]:
    vals: dict[int, set] = {i: {0, 1, U32, U64, 1 << 32, (1 << 32) | 1, 0x80000000} for i in range(6)}
    for conj in conj_lists:
        for lit in conj:
            idx, k = lit[1], lit[-1]
            s = vals[idx]
            for v in (k, k + 1, k - 1, k | (1 << 32), k | 0xFFFFFFFF00000000, k & U32, ~k):
                s.add(v & U64)
            if lit[0] == "meq":
                s.add(lit[3] | (~lit[2] & U64))
                s.add(lit[2] & ~lit[3] & U64)
    return vals


def _verified_marker(cp: CompiledPolicy):
    """Where a passed self-check of this exact program is remembered.

    The self-check costs ~0.2 s of every jail start and its answer depends
    only on the policy digest (sources + options), the generated BPF and
    this code, so a later start with the same key may skip it.  Only a
    directory owned by us and writable by nobody else is trusted; the filter
    itself is always generated afresh, so a forged marker can only skip a
    consistency check, never change a verdict."""
    import hashlib
    from pathlib import Path

    from tracejail import __version__
    from tracejail.policy.cache import private_dir
    d = private_dir("verified")
    if d is None:
        return None
    key = hashlib.sha256(cp.bpf + cp.digest.encode() + __version__.encode()
                         + Path(__file__).read_bytes()).hexdigest()
    return Path(d) / key


def _remember_verified(marker) -> None:
    if marker is not None:
        try:
            marker.touch()
        except OSError:
            pass


def _self_check(cp: CompiledPolicy, emitted, routes) -> list[int]:
    """Emulator vs interpreter on boundary values for every syscall with kernel arg rules."""
    bad = []
    import random
    rnd = random.Random(0x7A11)
    # every syscall number once (~13 ms): the dispatch is libseccomp's binary tree,
    # whose every branch should be seen taken at least once
    for nr in sorted(set(syscalls.rtable("x86_64")) - set(routes)):
        if not cp.agrees(nr, (0,) * 6)[0]:
            bad.append(nr)
    for nr, route in routes.items():
        conjs = [c for _, c in route.kernel_rules if c]
        if not conjs:
            if not cp.agrees(nr, (0,) * 6)[0]:
                bad.append(nr)
            continue
        vals = {i: sorted(v) for i, v in _values_for(conjs).items()}
        used = sorted({lit[1] for c in conjs for lit in c})
        samples = []
        for conj in conjs:   # one satisfying assignment per conjunction, plus noise
            a = [rnd.choice(vals[i]) for i in range(6)]
            for lit in conj:
                k = lit[-1]
                cands = [k, (k + 1) & U64, (k - 1) & U64, k | (rnd.getrandbits(64) & ~lit[2] & U64)
                         if lit[0] in ("meq", "mne", "mcmp") else k]
                good = [c for c in cands if _lit_holds(lit, c)]
                a[lit[1]] = good[0] if good else a[lit[1]]
            samples.append(a)
        for _ in range(100 + 25 * len(used)):
            samples.append([rnd.choice(vals[i]) if i in used else rnd.getrandbits(64) for i in range(6)])
        for a in samples:
            ok, _, _ = cp.agrees(nr, a)
            if not ok:
                bad.append(nr)
                break
    return bad
