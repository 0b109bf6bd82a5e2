"""``tracejail learn``: run a command once with every syscall supervised and
allowed (isolation still on) and write the smallest policy that lets exactly
that behaviour through.

    tracejail learn [JAIL OPTIONS] -o OUT.policy [--merge EXISTING.policy]... -- COMMAND...

How: the command runs through ``tracejail run`` with ``--audit-all`` and an
allow-everything policy (clone3 and openat2 answer ENOSYS, exactly as the
learned policy will, so libc takes the same clone()/openat() paths it will take
later; path arguments are resolved by the supervisor); the JSONL audit is read back and turned into rules:

* every syscall used gets a rule; nothing else is allowed (``DEFAULT KILL``);
* "selector" integer arguments (socket families, prctl options, ioctl
  requests, fcntl commands, clone flags...) become ``==`` sets when a run saw
  at most ``INT_LIMIT`` distinct values, else the syscall is allowed whole;
* path arguments become supervisor path rules, collapsed into directory globs
  (``/usr/lib/python3.11/**`` instead of 400 files), opens for writing kept
  apart from read-only ones; execve is limited to the programs run;
* the protections of tracejail's default policy (its ``POLICY dangerous``,
  copied verbatim) come first (first match wins): ptrace, bpf, mount,
  namespaces, seccomp... stay killed even if the learned run used them (a
  warning says so);
* names the program chose (paths) are glob-escaped and quoted: they can
  never widen a rule or add policy text;
* each rule carries a comment with how many calls it covered.

The observations are embedded in the policy (``// learn-data`` lines) so that
``--merge`` can union several runs exactly and regenerate.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import zlib
from collections import Counter, defaultdict

from tracejail.errors import PolicyError, TracejailError, UsageError

USAGE = "usage: tracejail learn [JAIL OPTIONS] -o OUT.policy [--merge EXISTING.policy]... -- COMMAND [ARGS...]"

INT_LIMIT = 8            # at most this many distinct values -> an == set
COLLAPSE = 3             # a directory with this many distinct entries becomes dir/**
MIN_GLOB_DEPTH = 2       # never /** or /usr/** : at least /usr/lib/**
TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")   # random names: the whole dir

# The policy used while learning: everything allowed, except clone3 which
# answers ENOSYS (the learned policy does the same: its flags live in a struct
# no filter can check, so libc must fall back to clone()).  Path-taking
# syscalls carry an always-true path test so the supervisor resolves their
# paths (symlinks followed as the kernel would) and the audit records them;
# a path that is not a file (a pipe's fd) fails the glob and falls through to
# the same ALLOW default.


def learn_policy() -> str:
    from tracejail.policy.syscalls import PATH_ARGS
    rules = []
    for name, specs in sorted(PATH_ARGS.items()):
        rules.append(f"{name} {{ " + " && ".join(f'path({i}) in "/**"' for i, _ in specs) + " }")
    return ("POLICY learn_all {\n  ERRNO(38) { clone3, openat2 },\n  ALLOW {\n    " + ",\n    ".join(rules)
            + "\n  }\n}\nUSE learn_all DEFAULT ALLOW\n")


# syscall -> (argument index, argument name, 64-bit?) of the selector argument
INT_ARGS = {
    "socket": (0, "domain", False), "socketpair": (0, "domain", False),
    "prctl": (0, "option", False), "arch_prctl": (0, "code", False),
    "personality": (0, "persona", False), "clone": (0, "clone_flags", True),
    "ioctl": (1, "cmd", False), "fcntl": (1, "cmd", False),
    "setsockopt": (1, "level", False), "getsockopt": (1, "level", False),
    "madvise": (2, "behavior", False), "rt_sigprocmask": (0, "how", False),
    "flock": (1, "cmd", False), "lseek": (2, "whence", False), "membarrier": (0, "cmd", False),
}

# Protections from tracejail's default policy that a learned policy keeps,
# placed before the learned rules.  Kernel-only facts (numbers), no paths.
PROTECT_KILL = (
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "seccomp", "unshare", "setns", "open_by_handle_at", "acct", "syslog",
    "reboot", "swapon", "swapoff", "iopl", "ioperm", "quotactl", "lookup_dcookie",
)
PROTECT_ARGS = (
    # clone with namespace flags or CLONE_UNTRACED
    "clone(clone_flags) { (clone_flags & 0x7e820000) != 0 }",
    # PR_SET_SECCOMP, PR_SET_PTRACER
    "prctl(option) { option == 22 || option == 0x59616d61 }",
    # TIOCSTI, TIOCLINUX
    "ioctl(fd, cmd) { (cmd & 0xffffffff) == 0x5412 || (cmd & 0xffffffff) == 0x541c }",
    # READ_IMPLIES_EXEC
    "personality(persona) { (persona & 0x400000) != 0 }",
)
PROTECTED = set(PROTECT_KILL)


def default_protections() -> tuple[str, set[str]] | None:
    """``POLICY dangerous { ... }`` copied from the shipped default policy, and
    the syscalls it decides unconditionally, so a learned policy keeps exactly
    the default's protections (None if it cannot be found or parsed: the
    built-in list above is used instead)."""
    try:
        from tracejail.policy import default_policy_path, load_policy_text
        with open(default_policy_path(), encoding="utf-8") as f:
            text = f.read()
        start = text.index("POLICY dangerous")
        depth, i = 0, text.index("{", start)
        while True:
            c = text[i]
            depth += (c == "{") - (c == "}")
            i += 1
            if depth == 0:
                break
        block = text[start:i]
        prog = load_policy_text(block + "\nUSE dangerous DEFAULT ALLOW\n", name="default.policy")
        names = {r.syscall for r in prog.rules if r.expr is None}
        return block, names
    except Exception:   # no shipped default, or it changed shape: fall back
        return None


# ------------------------------------------------------------------ options

def parse_argv(argv: list[str]):
    if "--" not in argv:
        raise UsageError("learn: missing '-- COMMAND'; " + USAGE)
    cut = argv.index("--")
    head, cmd = argv[:cut], argv[cut + 1:]
    if not cmd:
        raise UsageError("learn: missing COMMAND after '--'")
    out, merges, jail = None, [], []
    i = 0
    while i < len(head):
        a = head[i]
        if a in ("-h", "--help"):
            return None
        key, eq, val = a.partition("=")
        if key in ("-o", "--output", "--merge"):
            if not eq:
                if i + 1 >= len(head):
                    raise UsageError(f"learn: {key} needs a file name")
                val = head[i + 1]
                i += 1
            if key == "--merge":
                merges.append(val)
            elif out is not None:
                raise UsageError("learn: -o given twice")
            else:
                out = val
        elif key in ("-P", "--seccomp_policy", "--seccomp-policy", "--seccomp_string",
                     "--seccomp-string", "--permissive", "--audit", "--audit-all", "--audit_all"):
            raise UsageError(f"learn: {key} cannot be used with learn (it chooses the policy and audit itself)")
        else:
            jail.append(a)
        i += 1
    if not out:
        raise UsageError("learn: -o OUT.policy is required; " + USAGE)
    return out, merges, jail, cmd


# ------------------------------------------------------------- observations

class Observations:
    """What runs did, per syscall; JSON-serialisable for --merge."""

    def __init__(self):
        self.runs: list[str] = []
        self.calls: Counter = Counter()                     # name -> count
        self.ints: dict = defaultdict(Counter)              # name -> {value: count}
        self.paths: dict = defaultdict(Counter)             # "name:kind" -> {path: count}
        self.addrs: dict = defaultdict(Counter)             # name -> {addr text: count}
        self.foreign: Counter = Counter()                   # "arch:nr" -> count

    def to_json(self) -> dict:
        return {"v": 1, "runs": self.runs, "calls": dict(self.calls),
                "ints": {k: {str(v): c for v, c in d.items()} for k, d in self.ints.items()},
                "paths": {k: dict(d) for k, d in self.paths.items()},
                "addrs": {k: dict(d) for k, d in self.addrs.items()},
                "foreign": dict(self.foreign)}

    @classmethod
    def from_json(cls, d: dict) -> "Observations":
        o = cls()
        if not isinstance(d, dict) or d.get("v") != 1:
            raise ValueError("unknown learn-data version")
        o.runs = list(d.get("runs", []))
        o.calls.update(d.get("calls", {}))
        for k, m in d.get("ints", {}).items():
            o.ints[k].update({int(v): c for v, c in m.items()})
        for k, m in d.get("paths", {}).items():
            o.paths[k].update(m)
        for k, m in d.get("addrs", {}).items():
            o.addrs[k].update(m)
        o.foreign.update(d.get("foreign", {}))
        return o

    def merge(self, other: "Observations") -> None:
        self.runs += other.runs
        self.calls.update(other.calls)
        for k, m in other.ints.items():
            self.ints[k].update(m)
        for k, m in other.paths.items():
            self.paths[k].update(m)
        for k, m in other.addrs.items():
            self.addrs[k].update(m)
        self.foreign.update(other.foreign)


def _int_arg(v) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        try:
            return int(v, 0)
        except ValueError:
            return None
    return None


def _is_write_open(name: str, args: list, decoded: dict) -> bool:
    """open/openat/creat that can create, truncate or write."""
    if name == "creat":
        return True
    flags = None
    if name == "open" and len(args) > 1:
        flags = _int_arg(args[1])
    elif name in ("openat", "openat2") and len(args) > 2:
        flags = _int_arg(args[2]) if name == "openat" else None
    if flags is None:
        text = str((decoded or {}).get("flags", ""))
        return any(f in text for f in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"))
    return bool(flags & 0o3) or bool(flags & 0o100) or bool(flags & 0o1000)


def _path_indexes(name: str) -> list[tuple[int, list]]:
    """[(arg index, keys the audit may use for it in "resolved")] for a path syscall."""
    from tracejail.policy.syscalls import PATH_ARGS, implicit_args
    try:
        from tracejail.supervisor.decode import _PARSED, _parse
        dec = {i: a for i, a, _k, _f in (_PARSED.get(name) or _parse(name))}
    except Exception:  # decoder tables are optional for this
        dec = {}
    kafel = {i: a for a, i in implicit_args(name).items()}
    return [(i, [k for k in (dec.get(i), kafel.get(i), str(i), f"arg{i}") if k])
            for i, _dirfd in PATH_ARGS.get(name, ())]


def read_audit(path: str, obs: Observations) -> int:
    """Fold the syscall records of one audit file into ``obs``; returns records read."""
    n = 0
    cache: dict = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue                       # a torn last line after a kill
            if isinstance(r, dict) and r.get("type") == "exec" and isinstance(r.get("path"), str):
                # what really ran (a script's interpreter): the supervisor re-checks
                # execve against it after the exec, so it must be allowed too
                if r["path"].startswith("/"):
                    obs.paths["execve:0:x"][r["path"]] += 1
                continue
            if not isinstance(r, dict) or r.get("type") != "syscall":
                continue
            n += 1
            name, arch = r.get("name"), r.get("arch", "x86_64")
            if arch != "x86_64" or not name:
                obs.foreign[f"{arch}:{r.get('nr')}"] += 1
                continue
            obs.calls[name] += 1
            args = r.get("args") or []
            decoded = r.get("dec") or r.get("decoded") or {}
            resolved = r.get("resolved") or {}
            if name in INT_ARGS:
                idx, _, wide = INT_ARGS[name]
                v = _int_arg(args[idx]) if idx < len(args) else None
                if v is not None:
                    obs.ints[name][v if wide else v & 0xFFFFFFFF] += 1
            pidx = cache.get(name)
            if pidx is None:
                pidx = cache[name] = _path_indexes(name)
            if pidx:
                kind = "x" if name in ("execve", "execveat") else "r"
                if name in ("open", "openat", "openat2", "creat") and _is_write_open(name, args, decoded):
                    kind = "w"
                for i, keys in pidx:
                    p = next((resolved[k] for k in keys if isinstance(resolved, dict) and k in resolved), None)
                    if p is None:
                        p = next((decoded[k] for k in keys if k in decoded), None)
                    ok = isinstance(p, str) and p.startswith("/")
                    obs.paths[f"{name}:{i}:{kind}"][p if ok else "<unresolved>"] += 1
            if name in ("connect", "bind", "sendto", "sendmsg"):
                for v in decoded.values():
                    if isinstance(v, dict) and "family" in v:
                        addr, port = v.get("address"), v.get("port")
                        text = f"{v['family']} {addr or ''}{':' + str(port) if port is not None else ''}"
                        obs.addrs[name][text.strip()] += 1
    return n


# ----------------------------------------------------------------- globbing

RAW = "\0"        # marks a component that is already a glob (not a literal name)


def glob_escape(component: str) -> str:
    """A literal path component as a glob: a file the jailed program named
    ``*`` or ``[ab]`` must not widen the learned rule."""
    return "".join("[" + c + "]" if c in "*?[" else c for c in component)


def _components(p: str) -> list[str]:
    parts = [x for x in p.split("/") if x]
    if len(parts) > 1 and parts[0] == "proc" and parts[1].isdigit():
        parts[1] = RAW + "*"            # pids differ between runs (only the jail's are visible)
        if len(parts) > 3 and parts[2] == "task" and parts[3].isdigit():
            parts[3] = RAW + "*"
    if len(parts) > 2 and parts[0] == "dev" and parts[1] == "pts" and parts[2].isdigit():
        parts[2] = RAW + "*"
    for t in TEMP_DIRS:
        tp = [x for x in t.split("/") if x]
        if parts[:len(tp)] == tp:
            return tp + [RAW + "**"]    # random names: the whole directory
    return parts


def collapse(paths) -> list[tuple[str, int]]:
    """Exact paths -> [(glob, calls covered)], globs as directory prefixes.

    A directory with at least COLLAPSE distinct entries (files or already
    collapsed subdirectories) at depth >= MIN_GLOB_DEPTH becomes ``dir/**``;
    temp dirs always collapse (their file names are random).  Literal names
    are glob-escaped."""
    tree: dict = {}
    for p, c in (paths.items() if isinstance(paths, dict) else ((p, 1) for p in paths)):
        if p == "<unresolved>" or not p.startswith("/"):
            continue
        node = tree
        for comp in _components(p):
            node = node.setdefault(comp, {})
        node[""] = node.get("", 0) + c          # "" key: calls that named this exact path

    def total(node) -> int:
        return sum(v if k == "" else total(v) for k, v in node.items())

    def text(comp: str) -> str:
        return comp[1:] if comp.startswith(RAW) else glob_escape(comp)

    def walk(node, prefix: str, depth: int) -> list[tuple[str, int]]:
        res: list[tuple[str, int]] = []
        if "" in node:
            res.append((prefix or "/", node[""]))
        for k in sorted(x for x in node if x):
            res += walk(node[k], f"{prefix}/{text(k)}", depth + 1)
        entries = [k for k in node if k]
        if depth >= MIN_GLOB_DEPTH and len(entries) >= COLLAPSE and RAW + "**" not in entries:
            return [(f"{prefix}/**", total(node))]
        return res

    out = walk(tree, "", 0)
    # "/a/**" already covers "/a" and everything below
    globs = [g[:-3] for g, _ in out if g.endswith("/**")]
    return [(g, c) for g, c in out
            if not any(g != gg + "/**" and (g == gg or g.startswith(gg + "/")) for gg in globs)]


# ------------------------------------------------------------ policy output

def _q(p: str) -> str:
    return '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"'


def path_cond(arg: str, globs: list[str]) -> str:
    """Supervisor predicate: the resolved path of ``arg`` matches one of ``globs``."""
    if len(globs) == 1:
        return f"path({arg}) in {_q(globs[0])}"
    return f"path({arg}) in [" + ", ".join(_q(g) for g in globs) + "]"


O_WRITE_BITS = 0x243      # O_WRONLY|O_RDWR|O_CREAT|O_TRUNC
FLAGS_ARG = {"open": 1, "openat": 2}


def _path_rule(name: str, pidx: list[int], obs: Observations):
    """-> (condition text, notes, reason-to-allow-whole or "")."""
    from tracejail.policy.syscalls import implicit_args
    names = {i: a for a, i in implicit_args(name).items()}
    conds, notes = [], []
    for i in pidx:
        arg = names.get(i, f"arg{i}")
        parts = []
        for kind in ("r", "w", "x"):
            m = obs.paths.get(f"{name}:{i}:{kind}")
            if not m:
                continue
            if "<unresolved>" in m:
                return "", [], f"{m['<unresolved>']} unresolved"
            globs = collapse(m)
            notes += [f"{g} ({c})" + (" write" if kind == "w" else "") for g, c in globs]
            c = path_cond(arg, [g for g, _ in globs])
            if kind == "r" and name in FLAGS_ARG:
                fl = names.get(FLAGS_ARG[name], f"arg{FLAGS_ARG[name]}")
                c = f"(({fl} & {O_WRITE_BITS:#x}) == 0 && {c})"
            parts.append(c)
        if parts:
            conds.append(parts[0] if len(parts) == 1 else "(" + " || ".join(parts) + ")")
    return " && ".join(conds), notes, ""


def _int_arg_name(name: str, idx: int, default: str) -> str:
    from tracejail.policy.syscalls import implicit_args
    return next((a for a, i in implicit_args(name).items() if i == idx), f"arg{idx}")


def generate(obs: Observations, command: str = "") -> tuple[str, list[str]]:
    """Observations -> (policy text, warnings)."""
    warnings = []
    if obs.foreign:
        warnings.append(f"{sum(obs.foreign.values())} foreign-ABI (i386/x32) syscalls seen; they stay killed")
    lines = [
        "// Learned by `tracejail learn`" + (f" from: {command}" if command else ""),
        f"// runs: {len(obs.runs)}; syscalls: {len(obs.calls)}; calls observed: {sum(obs.calls.values())}",
        "// Edit freely; rules are first-match, everything not listed is killed.",
    ]
    body = []
    shipped = default_protections()
    protected = PROTECTED | {"clone3", "openat2"}
    if shipped is not None:
        block, names = shipped
        protected = names
        lines.append("// tracejail protections, copied from policies/default.policy (first match wins):")
        lines.append(block)
        body.append("  USE dangerous")
    else:
        body.append("  // tracejail protections (first match wins)\n"
                    "  KILL {\n    " + ",\n    ".join(
                        [", ".join(PROTECT_KILL[i:i + 8]) for i in range(0, len(PROTECT_KILL), 8)] +
                        list(PROTECT_ARGS)) + "\n  }")
        body.append("  // flags in memory no filter can read: libc falls back to clone/openat\n"
                    "  ERRNO(38) {\n    clone3, openat2\n  }")
    used_protected = sorted(n for n in obs.calls if n in protected and n not in ("clone3", "openat2"))
    if used_protected:
        warnings.append("the command used " + ", ".join(used_protected) +
                        "; the learned policy still kills them (tracejail's protections)")
        lines.insert(3, "// WARNING: used but still refused: " + ", ".join(used_protected))
    allow = []
    for name in sorted(obs.calls):
        if name in protected:
            continue
        n = obs.calls[name]
        pidx = [i for i, _ in _path_indexes(name) if any(k.startswith(f"{name}:{i}:") for k in obs.paths)]
        if name in INT_ARGS and obs.ints.get(name):
            idx, an, wide = INT_ARGS[name]
            vals = obs.ints[name]
            if len(vals) <= INT_LIMIT:
                an = _int_arg_name(name, idx, an)
                cond = " || ".join(f"{an} == {v:#x}" if v > 9 else f"{an} == {v}" for v in sorted(vals))
                allow.append(f"    // {name}: {n} calls, {an} in {{{', '.join(str(v) for v in sorted(vals))}}}\n"
                             f"    {name} {{ {cond} }}")
                continue
            allow.append(f"    // {name}: {n} calls, {len(vals)} distinct {an} values (too many for a set)\n"
                         f"    {name}")
            continue
        if pidx:
            cond, notes, whole = _path_rule(name, pidx, obs)
            if whole:
                allow.append(f"    // {name}: {n} calls, some paths not resolvable ({whole}): allowed whole\n"
                             f"    {name}")
            else:
                note = "; ".join(notes[:10]) + (f"; ... {len(notes) - 10} more" if len(notes) > 10 else "")
                allow.append(f"    // {name}: {n} calls: {note}\n    {name} {{ {cond} }}")
            continue
        extra = ""
        if obs.addrs.get(name):
            extra = "; addresses: " + ", ".join(sorted(obs.addrs[name])[:8])
        allow.append(f"    // {name}: {n} calls{extra}\n    {name}")
    if allow:
        body.append("  ALLOW {\n" + ",\n".join(allow) + "\n  }")
    lines.append("POLICY learned {\n" + ",\n".join(body) + "\n}")
    lines.append("USE learned DEFAULT KILL")
    lines.append("")
    blob = base64.b64encode(zlib.compress(json.dumps(obs.to_json(), sort_keys=True).encode(), 9)).decode()
    lines.append("// learn-data v1 (used by `tracejail learn --merge`; do not edit)")
    lines += [f"// learn-data: {blob[i:i + 100]}" for i in range(0, len(blob), 100)]
    return "\n".join(lines) + "\n", warnings


def read_learn_data(path: str) -> Observations:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"learn: cannot read {path}: {e.strerror}")
    except UnicodeDecodeError:
        raise PolicyError(f"{path}: not UTF-8")
    blob = "".join(line.split("// learn-data:", 1)[1].strip()
                   for line in text.splitlines() if line.startswith("// learn-data:"))
    if not blob:
        raise PolicyError(f"{path}: not written by `tracejail learn` (no learn-data); only learned policies can be merged")
    try:
        return Observations.from_json(json.loads(zlib.decompress(base64.b64decode(blob, validate=True))))
    except Exception as e:  # any corruption -> a clean error, never a partial merge
        raise PolicyError(f"{path}: corrupt learn-data ({e.__class__.__name__})")


# --------------------------------------------------------------------- main

def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv[:argv.index("--") if "--" in argv else len(argv)]):
        print(USAGE + "\n\n" + (__doc__ or "").split("\n\n", 2)[2].strip())
        return 0
    out, merges, jail, cmd = parse_argv(list(argv))
    obs = Observations()
    for m in merges:
        obs.merge(read_learn_data(m))
    with tempfile.TemporaryDirectory(prefix="tracejail-learn-") as td:
        audit = os.path.join(td, "audit.jsonl")
        run = [sys.executable, "-m", "tracejail", "run", *jail, "--audit", audit, "--audit-all",
               "--no-report", "--seccomp_string", learn_policy(), "--", *cmd]
        try:
            # the expected clone3/openat2 ENOSYS denials are not worth a stderr line
            rc = subprocess.call(run, env={**os.environ, "TRACEJAIL_LEARNING": "1"})
        except KeyboardInterrupt:
            raise TracejailError("learn: interrupted; no policy written", exit_code=130)
        if rc in (2, 125, 126, 127) and not os.path.exists(audit):
            return rc                 # tracejail itself refused; it printed why
        if not os.path.exists(audit):
            raise TracejailError("learn: the run produced no audit; no policy written")
        n = read_audit(audit, obs)
    if n == 0:
        raise TracejailError("learn: the run recorded no syscalls; no policy written", exit_code=rc or 1)
    obs.runs.append(" ".join(cmd))
    text, warnings = generate(obs, command=" | ".join(obs.runs))
    try:
        from tracejail.policy import load_policy_text
        load_policy_text(text, name=out)        # never write a policy we cannot load
    except (ImportError, AttributeError):
        pass
    from tracejail.policy.importers.docker import write_atomic
    write_atomic(out, text)
    for w in warnings:
        print(f"tracejail: learn: warning: {w}", file=sys.stderr)
    print(f"tracejail: learn: wrote {out}: {len(obs.calls)} syscalls from {n} calls"
          + (f" ({len(obs.runs)} runs merged)" if len(obs.runs) > 1 else ""), file=sys.stderr)
    if rc != 0:
        print(f"tracejail: learn: note: the command exited with status {rc}", file=sys.stderr)
    return rc
