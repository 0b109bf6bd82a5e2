"""The syscall audit log and reports (issue 5).

STUB CONTRACT (the audit owner replaces the body, keeps the API):

    log = AuditLog(path_or_None, max_mb=None)    # path '-' = stderr; None = counters only
    log.start(config: dict, policy_digest: str)
    log.syscall(pid=, tid=, arch=, nr=, name=, args=tuple, decoded=dict, verdict=Verdict,
                resolved=dict|None, retval=None, mode=None)   # mode: None|"would-deny"|"would-kill"|"injected"
    log.process(kind, pid, **fields)             # kind: spawn | exec | exit
    log.signal(pid, signo)
    log.limit(kind, **fields)                    # time limit, rlimit, cgroup
    log.violation(pid=, tid=, name=, nr=, arch=, decoded=, verdict=)
    log.kernel_counts(dict name -> count)        # kernel-decided syscalls, when known
    log.end(exit_code: int, reason: str)         # writes totals; idempotent
    log.summary() -> per-syscall counters for the exit report
"""
from tracejail.audit.writer import AuditLog  # noqa: F401
