"""Property tests: the BPF (run in the emulator) agrees with the reference
interpreter; the parser returns a Program or a clean PolicyError, nothing else."""
from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracejail.errors import PolicyError
from tracejail.policy import compile_policy, load_policy_file, load_policy_text
from tracejail.policy.interpreter import IntCall, NeedsMemory
from tracejail.policy.syscalls import X32_SYSCALL_BIT

ROOT = Path(__file__).resolve().parent.parent
U64 = (1 << 64) - 1

CORPUS = {
    "mixed": """
        ALLOW { read { fd == 0 || fd == 5 } }, ERRNO(EPERM) { read },
        KILL { ioctl { cmd == TIOCSTI, cmd == TIOCLINUX } }, ALLOW { ioctl },
        ERRNO(9) { getsid { pid > 100 && pid <= 0x7fffffff } },
        ALLOW { mmap { (prot & PROT_EXEC) == 0 || flags != MAP_PRIVATE } },
        TRAP(3) { mmap { addr < 0x10000 } },
        ALLOW { lseek { offset >= 0x100000000 && whence != 2 } },
        ERRNO(7) { lseek { offset != 5 } },
        ALLOW { clone { (clone_flags & CLONE_NEWUSER) == 0 } }
        DEFAULT KILL_PROCESS""",
    "args_vs_args": """ALLOW { dup2 { oldfd == newfd }, dup3(a, b, c) { a != b && c == 0 } },
        LOG { write { fd == 1 } }, USER_NOTIF { write { fd == 2 } }, TRACE(5) { write { fd == 9 } }
        DEFAULT ERRNO(1)""",
    "memory": """ALLOW { openat { dfd == -100 && path(filename) under "/usr" },
        openat { (flags & O_ACCMODE) == 0 }, sendto { addr == 0, sockaddr(addr, addr_len).port == 53 } }
        ERRNO(13) { openat } DEFAULT ALLOW""",
    "nsjail": "POLICY a { ALLOW { write, read, newfstat, exit_group } } USE a DEFAULT KILL",
}


def policies():
    out = {p.name: lambda p=p: load_policy_file(p) for p in sorted((ROOT / "policies").glob("*.policy"))}
    out.update({k: lambda t=t: load_policy_text(t) for k, t in CORPUS.items()})
    return out


def _constants(pol) -> list[int]:
    vals = {0, 1, 2, 0xFFFFFFFF, 1 << 32, U64, 0x80000000, 0xFFFFFF9C, 0x7FFFFFFF}
    from tracejail.policy.ast import And, Cmp, Not, Num, Or, BitOp

    def walk(e):
        if isinstance(e, Num):
            for d in (0, 1, -1):
                vals.add((e.value + d) & U64)
                vals.add(((e.value + d) & 0xFFFFFFFF) | 0xDEAD << 32)
        elif isinstance(e, (Cmp, BitOp)):
            walk(e.left), walk(e.right)
        elif isinstance(e, (And, Or)):
            walk(e.left), walk(e.right)
        elif isinstance(e, Not):
            walk(e.expr)
    for r in pol.rules:
        walk(r.expr)
    return sorted(vals)


def check_agreement(cp, pol, rnd, n=1500):
    vals = _constants(pol)
    nrs = sorted({r.nr for r in pol.rules}) or [0]
    extra = [0, 1, 39, 59, 257, 435, 1000, 511, 999999]
    for _ in range(n):
        r = rnd.random()
        arch = "x86_64"
        if r < 0.05:
            arch, nr = "i386", rnd.choice([5, 11, 20, 295, 400])
        elif r < 0.1:
            arch, nr = "x32", rnd.choice([0, 39, 257, 520, 545])
        else:
            nr = rnd.choice(nrs) if r < 0.85 else rnd.choice(extra)
        args = tuple(rnd.choice(vals) if rnd.random() < 0.7 else rnd.getrandbits(64) for _ in range(6))
        k = cp.kernel_verdict(nr, arch, args)
        call_nr = nr | X32_SYSCALL_BIT if arch == "x32" else nr
        try:
            i = cp.decide(IntCall(call_nr, arch, args))
        except NeedsMemory:
            assert k.action == "TRACE", (nr, args, k)
            assert cp.route(nr).where in ("supervisor", "mixed")
            continue
        if arch != "x86_64":
            assert k.action == i.action == "KILL_PROCESS"
            continue
        if cp.options["trace_all"] and not (i.rule or "").startswith("builtin:"):
            assert k.action == "TRACE"      # every syscall but the built-in guards' refusals
            continue
        if k.action == "TRACE" and (k.action, k.value) != (i.action, i.value):
            route = cp.route(nr)
            assert cp.options["trace_denials"] and i.action not in ("ALLOW", "LOG") or \
                route is not None and route.where in ("supervisor", "mixed"), (nr, args, k, i, route)
            continue
        assert (k.action, k.value) == (i.action, i.value), (nr, [hex(a) for a in args], k, i)


@pytest.mark.parametrize("name", sorted(policies()))
@pytest.mark.parametrize("opts", [{}, {"trace_denials": True}, {"trace_all": True}])
def test_emulator_agrees_with_interpreter(name, opts):
    pol = policies()[name]()
    cp = compile_policy(pol, **opts)
    check_agreement(cp, pol, random.Random(hash((name, tuple(opts))) & 0xFFFF), 1500 if not opts else 300)


# random integer policies: the compiler's hard cases (orders, masks, negations, 32-bit args)
_SYSCALLS = [("read", ["fd", "buf", "count"]), ("ioctl", ["fd", "cmd", "arg"]),
             ("mmap", ["addr", "len", "prot", "flags", "fd", "off"]), ("lseek", ["fd", "offset", "whence"])]
_ACTIONS = ["ALLOW", "LOG", "KILL", "KILL_PROCESS", "ERRNO(1)", "ERRNO(2)", "TRAP(4)", "TRACE(6)"]


def _rand_expr(rnd, args, depth=0):
    r = rnd.random()
    if depth < 2 and r < 0.3:
        op = rnd.choice(["&&", "||", ","]) if depth == 0 else rnd.choice(["&&", "||"])
        return f"({_rand_expr(rnd, args, depth + 1)} {op} {_rand_expr(rnd, args, depth + 1)})" \
            if op != "," else f"{_rand_expr(rnd, args, depth + 1)}, {_rand_expr(rnd, args, depth + 1)}"
    if depth < 2 and r < 0.4:
        return f"!({_rand_expr(rnd, args, depth + 1)})"
    a = rnd.choice(args)
    c = rnd.choice([0, 1, 3, 0x10, 0xFF, 0x5412, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 32, (1 << 33) | 5, U64, -1])
    lhs = a if rnd.random() < 0.6 else f"({a} & {rnd.choice([1, 3, 0xF0, 0xFFFF0000, (1 << 40) | 1, 0xFFFFFFFF])})"
    if rnd.random() < 0.05:
        return f"{a} == {rnd.choice(args)}"
    return f"{lhs} {rnd.choice(['==', '!=', '<', '<=', '>', '>='])} {c}"


def _arg_vs_arg(e) -> bool:
    from tracejail.policy.ast import And, Cmp, Not, Num, Or
    if isinstance(e, Cmp):
        return not isinstance(e.left, Num) and not isinstance(e.right, Num)
    if isinstance(e, (And, Or)):
        return _arg_vs_arg(e.left) or _arg_vs_arg(e.right)
    if isinstance(e, Not):
        return _arg_vs_arg(e.expr)
    return False


def random_policy(seed):
    rnd = random.Random(seed)
    lines = []
    for _ in range(rnd.randint(1, 7)):
        name, args = rnd.choice(_SYSCALLS)
        cond = "" if rnd.random() < 0.15 else " { " + _rand_expr(rnd, args) + " }"
        lines.append(f"{rnd.choice(_ACTIONS)} {{ {name}{cond} }}")
    return ",\n".join(lines) + f"\nDEFAULT {rnd.choice(_ACTIONS)}"


@pytest.mark.parametrize("seed", range(60))
def test_random_integer_policies_agree(seed):
    text = random_policy(seed)
    pol = load_policy_text(text)
    for opts in ({}, {"trace_denials": True}):
        cp = compile_policy(pol, **opts)
        try:
            check_agreement(cp, pol, random.Random(seed), 400)
        except AssertionError as e:
            raise AssertionError(f"{e}\npolicy:\n{text}") from None
        # integer-only policy: nothing may be left to the supervisor unless it is an arg-vs-arg rule
        for route in cp.routes.values():
            if route.where != "kernel":
                assert any(_arg_vs_arg(r.expr) for r in route.rules), (route.reason, text)


# ------------------------------------------------------------------ parser fuzz
DEFAULT_TEXT = (ROOT / "policies" / "default.policy").read_text()
TOKENS = ["POLICY", "USE", "DEFAULT", "ALLOW", "KILL", "ERRNO(", "TRACE(1)", "{", "}", "(", ")", ",",
          "read", "openat", "fd", "==", "!=", "<", "&", "|", "&&", "||", "!", "0x10", "-1", "077",
          "0b101", '"/tmp"', "path(", "under", "in", "[", "]", "#define", "X", "#include", "SYSCALL[",
          "ON", "x86_64", "/*", "*/", "//", "\n", "sockaddr(", ".ip", "argv(", "99999999999999999999999",
          "\x00", "\xe9", "é"]


def _parse_or_error(text):
    try:
        pol = load_policy_text(text, name="fuzz")
    except PolicyError as e:
        assert re.match(r"^\S+:\d+:\d+: \S", str(e)), str(e)    # file:line:col: message
        assert "\n" not in str(e)
        return
    try:
        compile_policy(pol)
    except PolicyError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_fuzz_token_soup(toks):
    _parse_or_error(" ".join(toks))


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, len(DEFAULT_TEXT) - 1), st.integers(0, 40), st.text(max_size=6))
def test_fuzz_mutated_default(pos, cut, insert):
    _parse_or_error(DEFAULT_TEXT[:pos] + insert + DEFAULT_TEXT[pos + cut:])


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=200))
def test_fuzz_bytes(data):
    try:
        load_policy_text(data, name="fuzz")
    except PolicyError:
        pass


def test_truncated_default_never_yields_a_partial_policy():
    """Every prefix of the default policy either fails or is a complete policy
    that still kills unknown syscalls (default KILL when DEFAULT is missing)."""
    step = max(1, len(DEFAULT_TEXT) // 150)
    for cut in range(0, len(DEFAULT_TEXT), step):
        try:
            pol = load_policy_text(DEFAULT_TEXT[:cut], name="trunc")
        except PolicyError:
            continue
        assert pol.default_action.kind == "KILL"
