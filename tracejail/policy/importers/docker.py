"""Docker/OCI seccomp profiles (JSON) <-> tracejail policy language.

Import (``to_policy_text`` / ``load``) turns a profile into policy text in our
kafel-compatible language and hands it to the policy parser, so an imported
profile is checked, compiled and explained like any hand-written policy.

Semantics reproduced (moby profiles/seccomp + runc's libseccomp conversion):

* ``defaultAction`` (+ ``defaultErrnoRet``, EPERM when absent) -> ``DEFAULT``.
* ``syscalls[]``: ``names`` (or the old single ``name``), ``action``,
  ``errnoRet`` (EPERM when absent for SCMP_ACT_ERRNO), ``args``, ``comment``,
  ``includes``/``excludes``.
* ``args`` inside one entry are ANDed; as runc does, when two args of one
  entry test the same argument index the entry becomes one rule per arg
  (ORed).  Entries for the same syscall across the profile are ORed.
* ``op``: SCMP_CMP_EQ/NE/LT/LE/GT/GE compare the 64-bit value;
  SCMP_CMP_MASKED_EQ is ``(arg & value) == valueTwo``.
* Order: for one syscall, conditional rules come before unconditional ones, and
  among rules of the same kind the most restrictive action comes first (the
  kernel's own precedence), so a profile with overlapping rules never ends up
  more permissive than libseccomp would make it.
* ``includes``/``excludes`` (Docker's filtering, evaluated at import time):
  ``arches`` against "amd64" (tracejail runs x86_64 only); ``caps``: an
  include needs every listed capability held, an exclude drops the entry if
  any is held.  Held capabilities: none by default, because the jail drops
  every capability; pass ``caps=`` (``--keep_caps``/``--cap``) to change that.
  ``minKernel`` against the running kernel.
* ``architectures``/``archMap``: the profile must cover x86_64 (or name no
  architecture at all).  Sub-architectures (i386, x32) are not carried over:
  tracejail kills foreign-ABI syscalls whatever the profile says.
* Syscall names x86_64 does not have (``chown32``, ``socketcall``...) are
  skipped, as Docker does; the output lists them in a comment.

Export (``export``) writes the kernel-expressible part of a tracejail policy
as a Docker profile and returns the supervisor rules it had to drop.
"""
from __future__ import annotations

import json
import os
import re

from tracejail.errors import PolicyError

ACTIONS = {
    "SCMP_ACT_ALLOW": "ALLOW",
    "SCMP_ACT_ERRNO": "ERRNO",
    "SCMP_ACT_KILL": "KILL",
    "SCMP_ACT_KILL_THREAD": "KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS": "KILL_PROCESS",
    "SCMP_ACT_TRAP": "TRAP",
    "SCMP_ACT_TRACE": "TRACE",
    "SCMP_ACT_LOG": "LOG",
    "SCMP_ACT_NOTIFY": "USER_NOTIF",
}
# kernel precedence, most restrictive first (seccomp(2), "multiple filters")
_RESTRICTIVE = ["KILL_PROCESS", "KILL_THREAD", "KILL", "TRAP", "ERRNO", "USER_NOTIF", "TRACE", "LOG", "ALLOW"]
OPS = {"SCMP_CMP_EQ": "==", "SCMP_CMP_NE": "!=", "SCMP_CMP_LT": "<", "SCMP_CMP_LE": "<=",
       "SCMP_CMP_GT": ">", "SCMP_CMP_GE": ">=", "SCMP_CMP_MASKED_EQ": "&"}
EPERM = 1
U64 = (1 << 64) - 1
HOST_ARCH = "amd64"           # Go's GOARCH name, what includes/excludes.arches use
X86_64 = "SCMP_ARCH_X86_64"

ALL_CAPS = frozenset(
    "CAP_" + c for c in (
        "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
        "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
        "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
        "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
        "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
        "CHECKPOINT_RESTORE").split())


def _err(where: str, msg: str) -> PolicyError:
    return PolicyError(f"{where}: {msg}")


def _known_x86_64(name: str) -> bool:
    import pyseccomp
    try:
        return pyseccomp.resolve_syscall(pyseccomp.Arch.X86_64, name) >= 0
    except Exception:  # libseccomp raises on names it has never heard of
        return False


def _kernel_version() -> tuple[int, ...]:
    rel = os.uname().release
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", rel)
    return tuple(int(x or 0) for x in m.groups()) if m else (0,)


def _parse_kver(s, where) -> tuple[int, ...]:
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", str(s).strip())
    if not m:
        raise _err(where, f"bad minKernel {s!r} (expected like \"4.8\")")
    return tuple(int(x or 0) for x in m.groups())


def normalize_caps(caps) -> frozenset:
    """Accept 'SYS_ADMIN', 'cap_sys_admin', 'CAP_SYS_ADMIN' alike."""
    out = set()
    for c in caps or ():
        c = str(c).strip().upper()
        out.add(c if c.startswith("CAP_") else "CAP_" + c)
    return frozenset(out)


def caps_for_config(config) -> frozenset:
    """Capabilities the jailed process holds, for includes/excludes.caps."""
    if getattr(config, "keep_caps", False):
        return ALL_CAPS
    return normalize_caps(getattr(config, "cap", None) or getattr(config, "caps", None) or ())


def _action(entry_action, errno_ret, where, default_errno=EPERM) -> str:
    if not isinstance(entry_action, str) or entry_action not in ACTIONS:
        raise _err(where, f"unknown action {entry_action!r} (expected one of {', '.join(ACTIONS)})")
    a = ACTIONS[entry_action]
    if a in ("ERRNO", "TRACE", "TRAP"):
        v = default_errno if errno_ret is None and a != "TRAP" else (errno_ret or 0)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 4095:
            raise _err(where, f"errnoRet {v!r} out of range 0..4095")
        return f"{a}({v})"
    if errno_ret is not None and a not in ("ERRNO", "TRACE"):
        pass                  # runc ignores errnoRet for these actions; so do we
    return a


def _int(v, where, what) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= U64:
        raise _err(where, f"{what} {v!r} is not an integer in 0..2^64-1")
    return v


def _cond(arg, where) -> tuple[int, str]:
    if not isinstance(arg, dict):
        raise _err(where, "args entries must be objects")
    idx = arg.get("index")
    if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx <= 5:
        raise _err(where, f"args index {idx!r} out of range 0..5")
    op = arg.get("op")
    if op not in OPS:
        raise _err(where, f"unknown op {op!r} (expected one of {', '.join(OPS)})")
    value = _int(arg.get("value", 0), where, "value")
    two = _int(arg.get("valueTwo", 0) or 0, where, "valueTwo")
    name = f"a{idx}"
    if op == "SCMP_CMP_MASKED_EQ":
        return idx, f"({name} & {value:#x}) == {two:#x}"
    return idx, f"{name} {OPS[op]} {value if value < 4096 else hex(value)}"


def _selected(entry, caps, where) -> tuple[bool, str]:
    """Docker's includes/excludes filter; returns (kept, why-not)."""
    inc, exc = entry.get("includes") or {}, entry.get("excludes") or {}
    if not isinstance(inc, dict) or not isinstance(exc, dict):
        raise _err(where, "includes/excludes must be objects")
    for k in list(inc) + list(exc):
        if k not in ("caps", "arches", "minKernel"):
            raise _err(where, f"unknown includes/excludes key {k!r}")
    if inc.get("arches") and HOST_ARCH not in inc["arches"]:
        return False, f"only for {','.join(inc['arches'])}"
    if inc.get("caps"):
        missing = [c for c in normalize_caps(inc["caps"]) if c not in caps]
        if missing:
            return False, f"needs {','.join(sorted(missing))}"
    if inc.get("minKernel") and _kernel_version() < _parse_kver(inc["minKernel"], where):
        return False, f"needs kernel >= {inc['minKernel']}"
    if exc.get("arches") and HOST_ARCH in exc["arches"]:
        return False, "excluded on amd64"
    if exc.get("caps"):
        held = [c for c in normalize_caps(exc["caps"]) if c in caps]
        if held:
            return False, f"excluded with {','.join(sorted(held))}"
    if exc.get("minKernel") and _kernel_version() >= _parse_kver(exc["minKernel"], where):
        return False, f"excluded from kernel {exc['minKernel']}"
    return True, ""


def _check_arch(profile, where):
    arches = profile.get("architectures") or []
    amap = profile.get("archMap") or []
    if not isinstance(arches, list) or not isinstance(amap, list):
        raise _err(where, "architectures/archMap must be lists")
    named = list(arches) + [m.get("architecture") for m in amap if isinstance(m, dict)]
    if named and X86_64 not in named:
        raise _err(where, f"profile is for {', '.join(map(str, named))}, not {X86_64}")


def _policy_name(source: str) -> str:
    base = os.path.splitext(os.path.basename(source or "profile"))[0]
    name = re.sub(r"[^A-Za-z0-9_]", "_", base) or "profile"
    if name[0].isdigit() or name.upper() == name:      # digits, or could be a keyword (ALLOW.json)
        name = "p_" + name
    return name


def to_policy_text(profile: dict, source: str = "profile.json", caps=None) -> str:
    """A Docker/OCI profile (parsed JSON) -> policy text.  Raises PolicyError."""
    where = source
    if isinstance(profile, dict) and "linux" in profile and "defaultAction" not in profile:
        profile = (profile.get("linux") or {}).get("seccomp")     # a whole OCI config.json
    if not isinstance(profile, dict):
        raise _err(where, "a seccomp profile must be a JSON object")
    if "defaultAction" not in profile:
        raise _err(where, "missing defaultAction")
    caps = normalize_caps(caps)
    default = _action(profile["defaultAction"], profile.get("defaultErrnoRet"), f"{where}: defaultAction")
    _check_arch(profile, where)
    entries = profile.get("syscalls") or []
    if not isinstance(entries, list):
        raise _err(where, "syscalls must be a list")

    # per syscall: list of (action, cond_text|None, entry_index, comment)
    rules: dict[str, list] = {}
    order: list[str] = []
    skipped_names: list[str] = []
    skipped_entries: list[str] = []
    for i, e in enumerate(entries):
        w = f"{where}: syscalls[{i}]"
        if not isinstance(e, dict):
            raise _err(w, "must be an object")
        names = e.get("names")
        if names is None and "name" in e:
            names = [e["name"]]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise _err(w, "needs a non-empty names list")
        action = _action(e.get("action"), e.get("errnoRet"), w)
        args = e.get("args") or []
        if not isinstance(args, list):
            raise _err(w, "args must be a list")
        conds = [_cond(a, w) for a in args]
        kept, why = _selected(e, caps, w)
        if not kept:
            skipped_entries.append(f"{','.join(names)} {action}: {why}")
            continue
        idxs = [c[0] for c in conds]
        if not conds:
            alts = [None]
        elif len(set(idxs)) < len(idxs):          # runc: same index twice -> one rule per arg
            alts = [c[1] for c in conds]
        else:
            alts = [" && ".join(c[1] for c in conds)]
        for n in names:
            if not _known_x86_64(n):
                if n not in skipped_names:
                    skipped_names.append(n)
                continue
            if n not in rules:
                rules[n] = []
                order.append(n)
            for alt in alts:
                rules[n].append((action, alt, i, e.get("comment")))

    # Build blocks: conditional first, then unconditional; restrictive first.
    def rank(action):
        return _RESTRICTIVE.index(action.split("(")[0])

    cond_blocks: dict[str, list[str]] = {}
    uncond_blocks: dict[str, list[str]] = {}
    notes: dict[str, list[str]] = {}
    for n in order:
        rs = rules[n]
        uncond = sorted({a for a, c, _, _ in rs if c is None}, key=rank)
        if len(uncond) > 1:
            notes.setdefault(n, []).append(
                f"{n}: conflicting unconditional actions {', '.join(uncond)}; {uncond[0]} kept")
        per_action: dict[str, list[str]] = {}
        for a, c, _, comment in rs:
            if c is None:
                continue
            if uncond and rank(a) >= rank(uncond[0]):
                continue                      # shadowed by an unconditional rule no weaker than it
            if c not in per_action.setdefault(a, []):
                per_action[a].append(c)
            if comment:
                notes.setdefault(n, []).append(f"{n}: {comment}")
        for a in sorted(per_action, key=rank):
            nargs = max(int(m) for c in per_action[a] for m in re.findall(r"\ba(\d)\b", c)) + 1
            params = ", ".join(f"a{k}" for k in range(nargs))
            body = " || ".join(f"({c})" if len(per_action[a]) > 1 and "&&" in c else c for c in per_action[a])
            cond_blocks.setdefault(a, []).append(f"{n}({params}) {{ {body} }}")
        if uncond:
            uncond_blocks.setdefault(uncond[0], []).append(n)

    name = _policy_name(source)
    out = [f"// Imported from the Docker/OCI seccomp profile {os.path.basename(source)} by `tracejail policy import`.",
           f"// defaultAction {profile['defaultAction']} -> DEFAULT {default}",
           "// Architecture: x86_64 only; i386/x32 syscalls are killed by tracejail's ABI check.",
           f"// Capabilities counted as held for includes/excludes: {', '.join(sorted(caps)) or 'none (the jail drops all)'}"]
    if skipped_names:
        out.append(f"// Not on x86_64, skipped ({len(skipped_names)}): {' '.join(skipped_names)}")
    for s in skipped_entries:
        out.append(f"// Entry not applied: {s}")
    for n in order:
        for note in notes.get(n, []):
            out.append("// " + note)
    out.append(f"POLICY {name} {{")
    blocks = []
    for a in sorted(cond_blocks, key=rank):
        blocks.append(f"  {a} {{\n    " + ",\n    ".join(cond_blocks[a]) + "\n  }")
    for a in sorted(uncond_blocks, key=rank):
        lines, cur = [], []
        for n in uncond_blocks[a]:
            cur.append(n)
            if len(cur) == 8:
                lines.append(", ".join(cur))
                cur = []
        if cur:
            lines.append(", ".join(cur))
        blocks.append(f"  {a} {{\n    " + ",\n    ".join(lines) + "\n  }")
    if not blocks:
        # kafel wants a non-empty body: a rule that only repeats the default
        blocks.append(f"  {default} {{\n    exit_group\n  }}")
    out.append(",\n".join(blocks))
    out.append("}")
    out.append(f"USE {name} DEFAULT {default}")
    # profile text (names, comments) only ever reaches comment lines; a newline
    # or control character in it must not start a policy line of its own
    return "\n".join(_safe_comment(l) if l.startswith("//") else l for l in out) + "\n"


def _safe_comment(line: str) -> str:
    from tracejail.audit.records import escape_str
    return escape_str(line).replace("*/", "* /")


def read_profile(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PolicyError(f"{path}: cannot read: {e.strerror}")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise PolicyError(f"{path}: not UTF-8 (byte {e.start})")
    except json.JSONDecodeError as e:
        raise PolicyError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}")
    except RecursionError:
        raise PolicyError(f"{path}: JSON nested too deeply")


def import_text(path: str, caps=None) -> str:
    return to_policy_text(read_profile(path), source=path, caps=caps)


def load(path: str, caps=None):
    """``-P profile.json``: the profile as a parsed Policy (the policy layer's AST)."""
    from tracejail.policy import load_policy_text
    return load_policy_text(import_text(path, caps=caps), name=path)


# ------------------------------------------------------------------ export

EXPORT_ACTIONS = {
    "ALLOW": "SCMP_ACT_ALLOW", "LOG": "SCMP_ACT_LOG", "ERRNO": "SCMP_ACT_ERRNO",
    # tracejail kills the whole jail for any kill: the closest Docker action
    "KILL": "SCMP_ACT_KILL_PROCESS", "KILL_THREAD": "SCMP_ACT_KILL_PROCESS",
    "KILL_PROCESS": "SCMP_ACT_KILL_PROCESS", "TRAP": "SCMP_ACT_TRAP", "TRACE": "SCMP_ACT_TRACE",
    "USER_NOTIF": "SCMP_ACT_NOTIFY",
}
EXPORT_OPS = {"==": "SCMP_CMP_EQ", "!=": "SCMP_CMP_NE", "<": "SCMP_CMP_LT", "<=": "SCMP_CMP_LE",
              ">": "SCMP_CMP_GT", ">=": "SCMP_CMP_GE"}


def _program_of(obj):
    """Program from a Program, a CompiledPolicy, or a policy file path."""
    from tracejail.policy.ast import Program
    if isinstance(obj, Program):
        return obj
    prog = getattr(obj, "program", None)
    if isinstance(prog, Program):
        return prog
    if isinstance(obj, (str, os.PathLike)):
        from tracejail.policy import load_policy_file
        return _program_of(load_policy_file(os.fspath(obj)))
    raise TypeError(f"cannot export {type(obj).__name__}")


def _docker_action(a) -> dict:
    out = {"action": EXPORT_ACTIONS[a.kind]}
    if a.kind in ("ERRNO", "TRACE"):
        out["errnoRet"] = a.value
    return out


def export(obj) -> tuple[dict, list[str]]:
    """A tracejail policy -> (Docker/OCI profile dict, dropped supervisor rules).

    Rules whose condition needs the tracee's memory (path, string, argv,
    sockaddr predicates) or that seccomp-bpf cannot express exactly are
    dropped: the calls they matched fall through to the later rules and the
    defaultAction, as in the kernel part of tracejail's own filter.  The rest
    is converted with the compiler's first-match -> disjoint-rules planner, so
    every exported entry holds at most one test per argument (runc would OR
    two tests of one argument) and overlapping entries never exist.
    """
    from tracejail.policy.ast import is_memory_expr
    from tracejail.policy.compiler import TRACE_DATA, plan_syscall
    prog = _program_of(obj)
    default = prog.default_action
    dropped: list[str] = []
    by_nr: dict[int, list] = {}
    for r in prog.rules:
        by_nr.setdefault(r.nr, []).append(r)
    groups: dict[tuple, list[str]] = {}        # (action json, args json) -> names
    order: list[tuple] = []
    for nr, rules in by_nr.items():
        name = rules[0].syscall
        if name.startswith("SYSCALL["):
            dropped.append(f"{rules[0].loc.short}: {name}: no syscall name for a Docker profile")
            continue
        kept = []
        for r in rules:
            if is_memory_expr(r.expr):
                dropped.append(f"{r.loc.short}: {r.action} {name}: needs the supervisor (memory predicate)")
            else:
                kept.append(r)
        plan, reason = plan_syscall(kept, default)
        for act, conj in plan:
            if act.kind == "TRACE" and act.value == TRACE_DATA and not any(r.action == act for r in kept):
                dropped.append(f"{name}: {reason or 'not expressible in seccomp-bpf'}")
                continue
            if (act.kind, act.value) == (default.kind, default.value) or \
                    EXPORT_ACTIONS[act.kind] == EXPORT_ACTIONS[default.kind] and act.kind not in ("ERRNO", "TRACE"):
                continue                         # same as the default: runc skips these too
            args = []
            for lit in conj:
                if lit[0] == "meq":
                    args.append({"index": lit[1], "value": lit[2], "valueTwo": lit[3], "op": "SCMP_CMP_MASKED_EQ"})
                else:
                    args.append({"index": lit[1], "value": lit[3], "valueTwo": 0, "op": EXPORT_OPS[lit[2]]})
            key = (json.dumps(_docker_action(act), sort_keys=True), json.dumps(args, sort_keys=True))
            if key not in groups:
                groups[key] = []
                order.append(key)
            if name not in groups[key]:
                groups[key].append(name)
    syscalls_out = []
    for key in order:
        entry = {"names": groups[key], **json.loads(key[0])}
        args = json.loads(key[1])
        if args:
            entry["args"] = args
        syscalls_out.append(entry)
    d = _docker_action(default)
    profile = {"defaultAction": d["action"]}
    if "errnoRet" in d and default.kind == "ERRNO":
        profile["defaultErrnoRet"] = d["errnoRet"]
    profile["architectures"] = [X86_64]
    profile["syscalls"] = syscalls_out
    return profile, dropped


# ------------------------------------------------------------------ CLI

def cli_import(argv: list[str]) -> int:
    """tracejail policy import PROFILE.json [-o OUT.policy] [--cap CAP]... [--keep-caps]"""
    import argparse
    import sys
    ap = argparse.ArgumentParser(prog="tracejail policy import", add_help=True)
    ap.add_argument("profile")
    ap.add_argument("-o", "--output")
    ap.add_argument("--cap", action="append", default=[], help="capability counted as held (repeatable)")
    ap.add_argument("--keep-caps", "--keep_caps", action="store_true", help="count every capability as held")
    a = _parse_args(ap, argv, "policy import")
    if a is None:
        return 0
    caps = ALL_CAPS if a.keep_caps else a.cap
    text = import_text(a.profile, caps=caps)
    from tracejail.policy import load_policy_text
    load_policy_text(text, name=a.profile)          # refuse to write what we cannot load
    if a.output and a.output != "-":
        write_atomic(a.output, text)
        print(f"tracejail: imported {a.profile} -> {a.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cli_export(argv: list[str]) -> int:
    """tracejail policy export FILE.policy [-o PROFILE.json]"""
    import argparse
    import sys
    ap = argparse.ArgumentParser(prog="tracejail policy export", add_help=True)
    ap.add_argument("policy")
    ap.add_argument("-o", "--output")
    a = _parse_args(ap, argv, "policy export")
    if a is None:
        return 0
    profile, dropped = export(a.policy)
    text = json.dumps(profile, indent="\t") + "\n"
    if a.output and a.output != "-":
        write_atomic(a.output, text)
    else:
        sys.stdout.write(text)
    for d in dropped:
        print(f"tracejail: export: dropped {d}", file=sys.stderr)
    print(f"tracejail: export: {len(profile['syscalls'])} entries written, {len(dropped)} supervisor rules dropped",
          file=sys.stderr)
    return 0


def _parse_args(ap, argv, what):
    """argparse without its sys.exit: --help -> None, bad arguments -> UsageError."""
    from tracejail.errors import UsageError
    try:
        return ap.parse_args(argv)
    except SystemExit as e:
        if e.code == 0:
            return None
        raise UsageError(f"{what}: bad arguments (see --help)") from None


def write_atomic(path: str, text: str) -> None:
    """Write via a temp file and rename: a failed run never leaves half a file."""
    from tracejail.errors import UsageError
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}")
