"""The one-line stderr messages for policy kills and denials (issue 6).

Why: "the program died of SIGSYS and nobody knows why" is the pain point.
The line names the syscall with its decoded arguments (strace style, escaped:
tracee bytes never reach the terminal raw), the verdict, the deciding rule and
where the full record is.  The runner prints these after the jail ended.
"""
from __future__ import annotations

import os

MAX_DENIAL_LINES = 3


def _where(audit_path) -> str:
    if audit_path in (None, ""):
        return "no audit file (rerun with --audit FILE for the full record)"
    if audit_path == "-":
        return "audit: stderr"
    from tracejail.audit.records import escape_str
    return f"audit: {escape_str(str(audit_path))}"


def _call_text(name, decoded) -> str:
    try:
        from tracejail.supervisor.decode import format_call
        return format_call(name, decoded or {})
    except Exception:   # formatting must never hide the violation itself
        return f"{name or '?'}(...)"


def violation_line(v: dict, audit_path) -> str:
    """Outcome.violation (the supervisor's dict) -> one line."""
    from tracejail.audit.records import escape_str
    call = _call_text(v.get("syscall"), v.get("args"))
    extra = ""
    res = v.get("resolved")
    if isinstance(res, dict) and res:
        extra = " [resolved " + ", ".join(escape_str(str(p)) for p in res.values()) + "]"
    if v.get("note"):
        extra += f" ({escape_str(str(v['note']))})"
    arch = v.get("arch")
    arch_txt = f" [{arch}]" if arch and arch != "x86_64" else ""
    return (f"tracejail: policy violation: pid {v.get('pid')} {call}{arch_txt}{extra} -> "
            f"{v.get('action', 'KILL')} (rule {v.get('rule') or '?'}); jail killed; {_where(audit_path)}")


def denial_lines(audit, audit_path) -> list[str]:
    """Calls the policy denied (ERRNO/TRAP), grouped by syscall/verdict/rule."""
    try:
        groups = [d for d in audit.denials() if d.get("mode") == "denied"]
    except Exception:   # an audit without denial bookkeeping: nothing to say
        return []
    out = []
    for d in groups[:MAX_DENIAL_LINES]:
        n = d.get("count", 1)
        out.append(f"tracejail: policy denied {d.get('example') or d.get('name')} -> {d.get('verdict')} "
                   f"(rule {d.get('rule') or '?'}){'' if n == 1 else f', {n} calls'}; {_where(audit_path)}")
    if len(groups) > MAX_DENIAL_LINES:
        out.append(f"tracejail: ... and {len(groups) - MAX_DENIAL_LINES} more kinds of denied calls")
    return out


def print_messages(outcome, audit, config, file) -> None:
    """Runner call site: violation line (if the policy killed) and denial lines."""
    if getattr(config, "verbosity", 1) < 0:
        return
    path = getattr(config, "audit", None)
    try:
        if outcome is not None and getattr(outcome, "violation", None):
            print(violation_line(outcome.violation, path), file=file)
        if os.environ.get("TRACEJAIL_LEARNING") != "1":      # set by `tracejail learn`
            for line in denial_lines(audit, path):
                print(line, file=file)
    except Exception as e:  # never let a message change the exit status
        print(f"tracejail: (could not format the violation message: {e.__class__.__name__})", file=file)


# ------------------------------------------------------------ kernel kills
# A kill decided in the kernel filter never stops in the supervisor: the task
# just dies of SIGSYS.  With PTRACE_O_TRACEEXIT it still stops once, at
# PTRACE_EVENT_EXIT, with the registers of the syscall it died in (orig_rax =
# number, arguments in place, memory still mapped), which is enough to name the
# syscall, decode its arguments and find the rule with the interpreter.

SIGSYS = 31


def on_exit_event(sup, t) -> None:
    """Supervisor hook at PTRACE_EVENT_EXIT (the caller resumes the tracee).
    Records the first SIGSYS death as the jail's violation; never raises."""
    try:
        _kernel_kill(sup, t)
    except Exception:   # a tracee gone meanwhile (ESRCH) or odd state: no message, no harm
        pass


def _kernel_kill(sup, t) -> None:
    from tracejail.supervisor import ptrace_api as pt
    if sup.violation is not None or getattr(sup, "killing", False):
        return
    status = pt.geteventmsg(t.tid)
    if status & 0x7F != SIGSYS:
        return
    if pt._ptrace(pt.PTRACE_GETREGS, t.tid, None, pt._regs_ref) != 0:
        return
    r = pt.regs
    nr = r.orig_rax & 0xFFFFFFFF if r.orig_rax >> 63 == 0 else -1
    try:
        arch_id = pt.get_syscall_info(t.tid).arch
    except OSError:
        arch_id = pt.AUDIT_ARCH_X86_64
    if arch_id == pt.AUDIT_ARCH_I386:
        arch = "i386"
        args = tuple(v & 0xFFFFFFFF for v in (r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp))
    else:
        arch = "x32" if nr >= 0 and nr & pt.X32_SYSCALL_BIT else "x86_64"
        args = (r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9)
    if nr < 0:
        return
    name = sup.names.get(nr) if arch == "x86_64" else None
    from tracejail.supervisor.call import TraceeCall
    from tracejail.verdict import Verdict
    call = TraceeCall(t.tid, t.resolver, nr, arch, name, args)
    v = None
    if arch == "x86_64":
        try:
            from tracejail.policy.interpreter import IntCall
            v = sup.compiled.decide(IntCall(nr, arch, args))
        except Exception:   # needs memory or no interpreter: fall back to the filter's view
            v = None
        if v is None or not v.kills:
            try:
                v = sup.compiled.kernel_verdict(nr, arch, args)
            except Exception:
                v = None
    if v is None or not v.kills:
        v = Verdict("KILL", rule="foreign-arch" if arch != "x86_64" else "kernel filter")
    decoded = sup._decoded(call) if arch == "x86_64" else {}
    sup.violation = {"pid": t.tgid, "tid": t.tid, "syscall": name or f"syscall_{nr}", "nr": nr,
                     "arch": arch, "args": decoded, "rule": v.rule, "action": v.action,
                     "note": "decided in the kernel filter"}
    if sup.audit is not None:
        sup.audit.syscall(pid=t.tgid, tid=t.tid, arch=arch, nr=nr, name=name, args=args,
                          decoded=decoded, verdict=v, resolved=None, retval=None, mode=None)
        sup.audit.violation(pid=t.tgid, tid=t.tid, name=name, nr=nr, arch=arch, decoded=decoded,
                            verdict=v)
