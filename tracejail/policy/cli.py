"""``tracejail policy check|explain|dump|eval|import|export``.

check   FILE            parse + compile; warnings; exit 0 (ok) or 1 (error at file:line:col)
explain FILE [-s NAME]  per syscall: kernel or supervisor and why; BPF size
dump    FILE            BPF disassembly and libseccomp's PFC
eval    FILE 'CALL'     one line: verdict, deciding rule, where decided (--json: an object)
import/export           Docker/OCI profiles (tracejail.policy.importers.docker)
FILE may be a .policy, a Docker/OCI .json, or ``-e TEXT`` for policy text.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from tracejail.errors import PolicyError, UsageError

USAGE = __doc__


def _load(a):
    from tracejail import policy
    if getattr(a, "string", None) is not None:
        return policy.load_policy_text(a.string, name="<string>")
    if a.file is None:
        raise UsageError("policy: give a policy FILE or -e TEXT")
    if a.file == "-":
        return policy.load_policy_text(sys.stdin.buffer.read(), name="<stdin>")
    if a.file.endswith(".json"):
        from types import SimpleNamespace
        return policy.load_for_config(SimpleNamespace(seccomp_policy=a.file, seccomp_string=None))
    if not os.path.exists(a.file):
        raise UsageError(f"policy: no such file: {a.file}")
    return policy.load_policy_file(a.file)


def _compile(a, pol):
    from tracejail import policy
    return policy.compile_policy(pol, trace_all=getattr(a, "audit_all", False),
                                 trace_denials=getattr(a, "permissive", False))


def _parser(prog: str, extra=None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=f"tracejail policy {prog}")
    if prog == "eval":
        ap.add_argument("file_and_call", nargs="+", metavar="[FILE] CALL",
                        help="policy file (omit with -e) and e.g. 'openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY)'")
    else:
        ap.add_argument("file", nargs="?")
    ap.add_argument("-e", "--string", help="policy text instead of FILE")
    ap.add_argument("--permissive", action="store_true", help="compile as for --permissive")
    ap.add_argument("--audit-all", action="store_true", help="compile as for --audit_all")
    if extra:
        extra(ap)
    return ap


def _parse(ap, argv):
    try:
        return ap.parse_args(argv)
    except SystemExit as e:
        if e.code == 0:
            raise _Done()
        raise UsageError(f"{ap.prog}: bad arguments (see --help)") from None


class _Done(Exception):
    pass


def _warnings(pol) -> list[str]:
    return [f"{loc}: warning: {msg}" for loc, msg in pol.warnings]


# ------------------------------------------------------------------ check
def cmd_check(argv) -> int:
    a = _parse(_parser("check"), argv)
    try:
        pol = _load(a)
        cp = _compile(a, pol)
    except PolicyError as e:
        print(str(e), file=sys.stderr)
        return 1
    for w in _warnings(pol):
        print(w, file=sys.stderr)
    st = cp.stats()
    name = a.file or "<string>"
    print(f"{name}: ok: {st['rules_total']} rules; syscalls: {st['syscalls_kernel']} kernel, "
          f"{st['syscalls_supervisor']} supervisor, {st['syscalls_mixed']} mixed; "
          f"default {pol.default_action}; BPF {st['bpf_insns']} instructions")
    return 0


# ------------------------------------------------------------------ explain
def cmd_explain(argv) -> int:
    a = _parse(_parser("explain", lambda ap: ap.add_argument(
        "-s", "--syscall", action="append", default=[], help="only these syscalls")), argv)
    pol = _load(a)
    cp = _compile(a, pol)
    st = cp.stats()
    only = set()
    from tracejail.policy import syscalls
    for s in a.syscall:
        nr = syscalls.nr_of(s)
        if nr is None:
            raise UsageError(f"policy explain: unknown syscall {s}")
        only.add(nr)
    print(f"policy: {a.file or '<string>'}  digest {cp.digest[:16]}")
    print(f"default action: {pol.default_action} (unlisted syscalls, decided in the kernel)")
    print("foreign ABIs: i386 (int 0x80) and x32 (nr >= 0x40000000) -> KILL_PROCESS in the kernel")
    print(f"BPF: {st['bpf_insns']} instructions ({st['bpf_insns'] * 8} bytes); "
          f"needs supervisor: {'yes' if cp.needs_supervisor else 'no'}")
    print(f"rules: {st['rules_total']}; syscalls with rules: {st['syscalls_kernel']} kernel, "
          f"{st['syscalls_supervisor']} supervisor, {st['syscalls_mixed']} mixed "
          f"(rules: {st['rules_kernel']} kernel, {st['rules_supervisor']} supervisor, "
          f"{st['rules_mixed']} in mixed syscalls)")
    for w in _warnings(pol):
        print(w)
    print()
    rows = []
    for nr, r in sorted(cp.routes.items(), key=lambda kv: (kv[1].where, kv[1].name)):
        if only and nr not in only:
            continue
        acts = sorted({str(x.action) for x in r.rules})
        rows.append((r.name, nr, r.where, ",".join(acts) or "-",
                     " ".join(x.tag for x in r.rules[:4]) + (" ..." if len(r.rules) > 4 else ""),
                     r.reason))
    for nr in sorted(only - set(cp.routes)):
        rows.append((syscalls.name_of(nr), nr, "kernel", str(pol.default_action), "default",
                     "no rule: default action"))
    try:
        from tabulate import tabulate
        print(tabulate(rows, headers=["syscall", "nr", "decided in", "actions", "rules", "why"]))
    except ImportError:
        for row in rows:
            print("  ".join(str(x) for x in row))
    return 0


# ------------------------------------------------------------------ dump
def cmd_dump(argv) -> int:
    a = _parse(_parser("dump"), argv)
    pol = _load(a)
    cp = _compile(a, pol)
    from tracejail.policy.bpf import disassemble
    print(f"# BPF program: {len(cp.bpf) // 8} instructions (tracejail arch/x32 prefix, ordered "
          f"blocks, then libseccomp's filter)")
    print(disassemble(cp.bpf))
    print()
    print("# libseccomp PFC (the libseccomp part only)")
    print(cp.pfc.rstrip("\n"))
    return 0


# ------------------------------------------------------------------ eval
class EvalCall:
    """SyscallCall over literal values: ints are registers; strings are the memory a
    pointer would name (paths taken as already resolved, relative ones against --cwd);
    a memory read of an integer argument faults (EFAULT), like a bad pointer."""

    def __init__(self, nr, arch, name, values, cwd="/"):
        self.nr, self.arch, self.name = nr, arch, name
        self.values = list(values) + [0] * (6 - len(values))
        self.cwd = cwd
        self.args = tuple(v if isinstance(v, int) else 0x7FFC00001000 + 0x100 * i
                          for i, v in enumerate(self.values))

    def _mem(self, i, kind):
        from tracejail.verdict import ArgFault
        v = self.values[i]
        if isinstance(v, int):
            raise ArgFault(14, f"arg{i} is not a {kind}")
        return v

    def path(self, i):
        v = self._mem(i, "string")
        if isinstance(v, list):
            from tracejail.verdict import ArgFault
            raise ArgFault(14, f"arg{i} is a list")
        return self._abs(v)

    def _abs(self, v):
        return os.path.normpath(os.path.join(self.cwd, v)) if not v.startswith("/") else \
            ("/" + v.lstrip("/") if v.startswith("//") else v)

    def unix_path(self, sa):
        """A pathname AF_UNIX literal is a path, like path(): relative to --cwd."""
        if sa.family != "AF_UNIX" or not sa.address or sa.address.startswith("@"):
            return sa
        from tracejail.verdict import SockAddr
        return SockAddr("AF_UNIX", self._abs(sa.address), given=sa.address)

    def string(self, i):
        v = self._mem(i, "string")
        return (v if isinstance(v, str) else " ".join(v)).encode("utf-8", "surrogateescape")

    def argv(self, i):
        v = self._mem(i, "list")
        return [x.encode() for x in (v if isinstance(v, list) else [v])]

    def sockaddr(self, i, len_i):
        v = self._mem(i, "sockaddr")
        if isinstance(v, list):
            v = v[0] if v else ""
        return self.unix_path(parse_sockaddr(v))


def _msg_sockaddrs(self, i, vlen_i):
    """eval: a msghdr argument is given as its destination text ("" = none), a
    mmsghdr vector as a list of them."""
    from tracejail.verdict import SockAddr
    v = self._mem(i, "msghdr")
    items = v if isinstance(v, list) else [v]
    if vlen_i is not None:
        items = items[:self.values[vlen_i] if isinstance(self.values[vlen_i], int) else len(items)]
    return [SockAddr("AF_UNSPEC") if not x else self.unix_path(parse_sockaddr(x)) for x in items]


EvalCall.msg_sockaddrs = _msg_sockaddrs


def parse_sockaddr(text: str):
    """"1.2.3.4:80", "[::1]:53", "unix:/path", "/path", "@abstract", "netlink"."""
    import ipaddress
    from tracejail.verdict import SockAddr
    if text.startswith(("unix:", "/", "@")):
        return SockAddr("AF_UNIX", text[5:] if text.startswith("unix:") else text)
    if text == "netlink":
        return SockAddr("AF_NETLINK")
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else None
    elif text.count(":") == 1:
        host, p = text.split(":")
        port = int(p)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"policy eval: cannot read {text!r} as a socket address") from None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return SockAddr("AF_INET6", str(ip.ipv4_mapped), port)
    return SockAddr("AF_INET" if ip.version == 4 else "AF_INET6", str(ip), port)


def parse_call(text: str):
    """``name(args)`` / ``SYSCALL[n](args)`` -> (nr, name, values)."""
    from tracejail.policy import syscalls
    from tracejail.policy.ast import Program
    from tracejail.policy.lexer import Lexer
    from tracejail.policy.parser import Parser
    toks = Lexer().tokenize(text, "<call>", None)
    p = Parser(toks, Program())
    t = p.tok
    if p.at("SYSCALL", "IDENT"):
        nr = p.syscall_index()
        name = syscalls.name_of(nr)
    else:
        name = p.ident("a syscall name").value
        nr = syscalls.nr_of(name)
        if nr is None:
            raise PolicyError(f"{t.loc}: unknown syscall `{name}'")
        name = syscalls.canonical(name)
    values = []
    if p.at("("):
        p.advance()
        while not p.at(")"):
            if p.tok.kind == "STRING":
                values.append(p.advance().value)
            elif p.at("["):
                p.advance()
                lst = []
                while not p.at("]"):
                    if p.tok.kind != "STRING":
                        p.fail("expected a string")
                    lst.append(p.advance().value)
                    if not p.at("]"):
                        p.expect(",")
                p.advance()
                values.append(lst)
            elif p.tok.kind == "IDENT" and p.tok.value == "NULL":
                p.advance()
                values.append(0)
            else:
                e = p.bit_or()
                from tracejail.policy.ast import Num
                if not isinstance(e, Num):
                    raise PolicyError(f"{t.loc}: argument {len(values)} is not a constant")
                values.append(e.value)
            if not p.at(")"):
                p.expect(",", ",' or `)")
        p.advance()
    if p.tok.kind != "EOF":
        p.fail("expected end of call")
    if len(values) > 6:
        raise PolicyError(f"{t.loc}: more than 6 arguments")
    return nr, name, values


def cmd_eval(argv) -> int:
    def extra(ap):
        ap.add_argument("--json", action="store_true")
        ap.add_argument("--arch", default="x86_64", choices=["x86_64", "i386", "x32"])
        ap.add_argument("--cwd", default="/", help="directory for relative paths (default /)")
    ap = _parser("eval", extra)
    a = _parse(ap, argv)
    want = 1 if a.string is not None else 2
    if len(a.file_and_call) != want:
        raise UsageError("policy eval: give FILE CALL (or -e TEXT CALL)")
    a.file, a.call = (None if want == 1 else a.file_and_call[0]), a.file_and_call[-1]
    pol = _load(a)
    cp = _compile(a, pol)
    nr, name, values = parse_call(a.call)
    call = EvalCall(nr, a.arch, name, values, a.cwd)
    v = cp.decide(call)
    k = cp.kernel_verdict(nr, a.arch, call.args)
    route = cp.route(nr) if a.arch == "x86_64" else None
    where = "supervisor" if k.action == "TRACE" else "kernel"
    if a.json:
        print(json.dumps({"verdict": str(v), "action": v.action, "value": v.value, "rule": v.rule,
                          "syscall": name, "nr": nr, "arch": a.arch, "decided_in": where,
                          "kernel": str(k), "route": route.where if route else "default"}))
    else:
        print(f"{v} rule {v.rule} ({where}; kernel returns {k}) {name or f'SYSCALL[{nr}]'}")
    return 0


def _docker(func: str):
    def run(argv) -> int:
        try:
            from tracejail.policy.importers import docker
        except ImportError:
            raise UsageError("policy import/export: Docker/OCI support is not installed") from None
        return getattr(docker, func)(argv)
    return run


COMMANDS = {"check": cmd_check, "explain": cmd_explain, "dump": cmd_dump, "eval": cmd_eval,
            "import": _docker("cli_import"), "export": _docker("cli_export")}


def main(argv) -> int:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE.strip())
        return 0 if argv else 2
    cmd = COMMANDS.get(argv[0])
    if cmd is None:
        raise UsageError(f"policy: unknown command {argv[0]!r} (check, explain, dump, eval, import, export)")
    try:
        return cmd(argv[1:])
    except _Done:
        return 0
