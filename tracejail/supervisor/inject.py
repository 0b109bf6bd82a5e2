"""Fault injection: make chosen syscalls fail the way strace's ``-e inject`` does.

Why: error paths (ENOENT on a config file, EINTR on read, ENOMEM on mmap) are
the least tested code in most programs.  The supervisor already stops on
syscalls, so failing one on purpose costs nothing extra.

Spec syntax (one ``--inject`` flag per spec, repeatable)::

    SYSCALL[,SYSCALL...]:errno=ERR[:when=EXPR][:path=GLOB]

* ``SYSCALL``: kernel names on x86_64 (``openat``, ``stat``...); strace's
  ``inject=`` prefix is accepted.  strace's classes (``%file``) are not.
* ``errno=ERR`` (``error=`` is accepted too, as in strace): a symbolic errno
  (``ENOENT``) or a number 1..4095.  Required.
* ``when=EXPR``: strace's ``first[..last][+[step]]``: ``N`` only the Nth call;
  ``N+`` the Nth and every later one; ``N+S`` the Nth, N+S-th, N+2S-th...;
  ``N..M`` calls N to M; ``N..M+S`` every S-th from N up to M.  first and step
  1..65535, last 1..65534 and >= first.  Default: every call.  Several
  ``when=`` in one spec: the last one counts (as in strace).
* ``path=GLOB``: only calls whose path argument (resolved, as the policy sees
  it) matches GLOB (``*`` within one component, ``**`` across components,
  ``?``, ``[...]``).  Only syscalls that take a path may carry it.

Counting (as strace: per syscall and per tracee): the Nth call is the Nth
invocation of that syscall by that thread that the spec could apply to.
Without ``path=`` that is the supervisor's own per-thread count; with
``path=`` only calls whose path matches are counted, so
``openat:errno=EIO:when=2:path=/etc/**`` fails the second open under /etc,
whatever else was opened in between.

Several specs: the first (command-line order) that matches decides.

SUPERVISOR CONTRACT (the API the supervisor calls)::

    inj = parse_injections(config.inject)      # -> Injections; UsageError on a bad spec
    compile_policy(pol, trace_extra=inj.syscalls)   # these syscalls must reach the supervisor
    # on every supervised syscall entry, AFTER the policy allowed it:
    err = inj.match(name, count, call, tid=tid)
    #   name:  kernel syscall name (x86_64 only; other arches never match)
    #   count: 1-based number of this invocation of `name` by thread `tid`,
    #          counted by the supervisor over every supervised entry of `name`
    #   call:  the SyscallCall (used only for path=; a path that cannot be read
    #          never matches)
    #   -> errno (int > 0): skip the syscall, it returns -errno; audit it with
    #      mode="injected" and the verdict Verdict("ERRNO", errno, rule=spec.text)
    #   -> None: run the syscall normally
    inj.forget(tid)        # when a thread exits: drop its counters (bounded memory)

A policy denial or kill always wins over injection: injection only turns an
allowed call into a failure, never a forbidden call into anything else.
"""
from __future__ import annotations

import errno as _errno
import re
from functools import lru_cache
from dataclasses import dataclass, field

from tracejail.errors import UsageError

@lru_cache(maxsize=1)
def _path_arg() -> dict:
    """syscall -> index of its (first) path argument, from the policy layer's
    table, so path= tests the same argument the policy's path() does."""
    from tracejail.policy.syscalls import PATH_ARGS
    return {name: specs[0][0] for name, specs in PATH_ARGS.items()}


_WHEN_RE = re.compile(r"^(\d+)(?:\.\.(\d+))?(?:(\+)(\d+)?)?$")
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


def _glob_regex(glob: str) -> re.Pattern:
    """The policy language's glob (``*`` in a component, ``**`` across, a
    trailing ``/**`` also matches the directory itself)."""
    from tracejail.policy.interpreter import glob_regex
    try:
        return glob_regex(glob)
    except Exception:  # re.error / unterminated class
        raise UsageError(f"--inject: bad path glob {glob!r}") from None


@dataclass
class When:
    """strace's ``first[..last][+[step]]``; step 0 means "only first..last"
    without stepping (i.e. ``N`` alone or ``N..M``)."""
    first: int = 1
    last: int | None = None
    step: int = 1

    def hits(self, n: int) -> bool:
        if n < self.first or (self.last is not None and n > self.last):
            return False
        return (n - self.first) % self.step == 0

    @classmethod
    def parse(cls, text: str) -> "When":
        m = _WHEN_RE.match(text)
        if not m:
            raise UsageError(f"--inject: bad when={text!r} (expected N, N+, N+STEP, N..M, N..M+STEP)")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else None
        plus, step_s = m.group(3), m.group(4)
        if not 1 <= first <= 65535:
            raise UsageError(f"--inject: when= first {first} out of range 1..65535")
        if last is not None and not (1 <= last <= 65534 and last >= first):
            raise UsageError(f"--inject: when= last {last} out of range {first}..65534")
        if plus and step_s is not None:
            step = int(step_s)
            if not 1 <= step <= 65535:
                raise UsageError(f"--inject: when= step {step} out of range 1..65535")
        else:
            step = 1
        if not plus and last is None:
            last = first                      # "N": exactly the Nth call
        return cls(first, last, step)


@dataclass
class Injection:
    """One ``--inject`` spec."""
    text: str
    syscalls: tuple[str, ...]
    errno: int
    when: When = field(default_factory=When)
    path: str | None = None
    _path_re: re.Pattern | None = None
    _counts: dict = field(default_factory=dict)   # (tid, name) -> path-matching calls

    def match(self, name: str, count: int, call, tid=None) -> int | None:
        if name not in self.syscalls:
            return None
        if self._path_re is not None:
            if getattr(call, "arch", "x86_64") != "x86_64":
                return None
            try:
                p = call.path(_path_arg()[name])
            except Exception:     # unreadable path: the policy deals with it, we never match
                return None
            if isinstance(p, bytes):
                p = p.decode("utf-8", "surrogateescape")
            if not self._path_re.fullmatch(p):
                return None
            key = (tid, name)
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
        return self.errno if self.when.hits(count) else None

    def forget(self, tid) -> None:
        for key in [k for k in self._counts if k[0] == tid]:
            del self._counts[key]


class Injections:
    """All specs of a run; empty when no ``--inject`` was given."""

    def __init__(self, specs: list[Injection]):
        self.specs = specs
        names: list[str] = []
        for s in specs:
            names += [n for n in s.syscalls if n not in names]
        self.syscalls: tuple[str, ...] = tuple(names)

    def __bool__(self) -> bool:
        return bool(self.specs)

    def match(self, name: str, count: int, call, tid=None) -> int | None:
        if getattr(call, "arch", "x86_64") not in ("x86_64", None):
            return None
        for s in self.specs:
            e = s.match(name, count, call, tid)
            if e is not None:
                return e
        return None

    def rule(self, name: str, call=None) -> str | None:
        """The spec text naming the injection (for the audit's rule field)."""
        for s in self.specs:
            if name in s.syscalls:
                return f"inject:{s.text}"
        return None

    def forget(self, tid) -> None:
        for s in self.specs:
            s.forget(tid)


def _known_syscall(name: str) -> bool:
    try:
        import pyseccomp
        return pyseccomp.resolve_syscall(pyseccomp.Arch.X86_64, name) >= 0
    except Exception:  # libseccomp does not know it (or is unusable): unknown
        return False


def parse_errno(text: str) -> int:
    t = text.strip()
    if t.isdigit():
        v = int(t)
        if 1 <= v <= 4095:
            return v
        raise UsageError(f"--inject: errno {v} out of range 1..4095")
    v = getattr(_errno, t.upper(), None) if t.upper().startswith("E") else None
    if not isinstance(v, int):
        raise UsageError(f"--inject: unknown errno {text!r}")
    return v


def parse_injection(text: str) -> Injection:
    if not isinstance(text, str) or not text or ":" not in text:
        raise UsageError(f"--inject: bad spec {text!r} (expected SYSCALL:errno=ERR[:when=N[+STEP]][:path=GLOB])")
    head, *opts = text.split(":")
    if head.startswith("inject="):          # strace's own spelling: -e inject=SET:...
        head = head[len("inject="):]
    names = tuple(n.strip() for n in head.split(","))
    for n in names:
        if not _NAME_RE.match(n):
            raise UsageError(f"--inject: bad syscall name {n!r} in {text!r}")
        if not _known_syscall(n):
            raise UsageError(f"--inject: unknown syscall {n!r} in {text!r}")
    err, when, path = None, When(), None
    i = 0
    while i < len(opts):
        opt = opts[i]
        key, eq, val = opt.partition("=")
        if key == "path" and eq:
            # a glob may itself contain ':' -> path= swallows the rest
            val = ":".join([val] + opts[i + 1:])
            i = len(opts)
            if not val.startswith("/"):
                raise UsageError(f"--inject: path= must be an absolute glob, got {val!r}")
            path = val
            continue
        i += 1
        if not eq or not val:
            raise UsageError(f"--inject: bad option {opt!r} in {text!r}")
        if key in ("errno", "error"):
            if err is not None:
                raise UsageError(f"--inject: errno given twice in {text!r}")
            err = parse_errno(val)
        elif key == "when":
            when = When.parse(val)
        else:
            raise UsageError(f"--inject: unknown option {key!r} in {text!r} (errno=, when=, path=)")
    if err is None:
        raise UsageError(f"--inject: errno= is required in {text!r}")
    path_re = None
    if path is not None:
        table = _path_arg()
        bad = [n for n in names if n not in table]
        if bad:
            raise UsageError(f"--inject: path= given for {', '.join(bad)}, which takes no path")
        path_re = _glob_regex(path)
    return Injection(text=text, syscalls=names, errno=err, when=when, path=path, _path_re=path_re)


def parse_injections(specs) -> Injections:
    """``config.inject`` (list of spec strings) -> Injections.  Raises UsageError."""
    return Injections([parse_injection(s) for s in (specs or [])])
