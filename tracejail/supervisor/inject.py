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
from dataclasses import dataclass, field

from tracejail.errors import UsageError

# Path argument index for syscalls that take one (x86_64).  For two-path
# syscalls (rename, link...) the first path is the one path= tests.
PATH_ARG = {
    "open": 0, "creat": 0, "openat": 1, "openat2": 1, "open_tree": 1,
    "stat": 0, "lstat": 0, "newfstatat": 1, "statx": 1, "statfs": 0,
    "access": 0, "faccessat": 1, "faccessat2": 1,
    "execve": 0, "execveat": 1, "chdir": 0, "chroot": 0,
    "mkdir": 0, "mkdirat": 1, "mknod": 0, "mknodat": 1,
    "unlink": 0, "unlinkat": 1, "rmdir": 0,
    "readlink": 0, "readlinkat": 1, "truncate": 0,
    "chmod": 0, "fchmodat": 1, "fchmodat2": 1, "chown": 0, "lchown": 0, "fchownat": 1,
    "rename": 0, "renameat": 1, "renameat2": 1, "link": 0, "linkat": 1,
    "symlink": 1, "symlinkat": 2, "utime": 0, "utimes": 0, "utimensat": 1, "futimesat": 1,
    "inotify_add_watch": 1, "uselib": 0, "swapon": 0, "swapoff": 0, "acct": 0,
    "getxattr": 0, "lgetxattr": 0, "setxattr": 0, "lsetxattr": 0, "listxattr": 0,
    "llistxattr": 0, "removexattr": 0, "lremovexattr": 0,
    "mount": 1, "umount2": 0, "pivot_root": 0, "name_to_handle_at": 1,
    "fanotify_mark": 4,
}

_WHEN_RE = re.compile(r"^(\d+)(?:\.\.(\d+))?(?:(\+)(\d+)?)?$")
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


def _glob_regex(glob: str) -> re.Pattern:
    """``**`` spans components, ``*``/``?`` stay inside one; a trailing ``/**``
    also matches the directory itself (``/etc/**`` matches ``/etc``)."""
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("(?:/.*)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = glob.find("]", i + 2)
            if j < 0:
                raise UsageError(f"--inject: unterminated '[' in path glob {glob!r}")
            body = glob[i + 1:j]
            neg = body.startswith("!")
            body = body[1:] if neg else body
            out.append("[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]")
            i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z", re.S)


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
                p = call.path(PATH_ARG[name])
            except Exception:     # unreadable path: the policy deals with it, we never match
                return None
            if isinstance(p, bytes):
                p = p.decode("utf-8", "surrogateescape")
            if not self._path_re.match(p):
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
        bad = [n for n in names if n not in PATH_ARG]
        if bad:
            raise UsageError(f"--inject: path= given for {', '.join(bad)}, which takes no path")
        path_re = _glob_regex(path)
    return Injection(text=text, syscalls=names, errno=err, when=when, path=path, _path_re=path_re)


def parse_injections(specs) -> Injections:
    """``config.inject`` (list of spec strings) -> Injections.  Raises UsageError."""
    return Injections([parse_injection(s) for s in (specs or [])])
