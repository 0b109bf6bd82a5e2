"""The syscall audit log and reports (issue 5).  Records: docs/audit.md.

CONTRACT (stable API; callers: supervisor, runner, `tracejail report`):

    log = AuditLog(path_or_None, max_mb=None)    # path '-' = stderr; None = counters only
                                                 # (open failure -> SetupError)
    log.start(config: dict | JailConfig, policy_digest: str, **extra)
    log.syscall(pid=, tid=, arch=, nr=, name=, args=tuple, decoded=dict, verdict=Verdict,
                resolved=dict|None, retval=None, mode=None,   # mode: None|"would-deny"|"would-kill"|"injected"
                await_result=False, **extra)
        # decoded: tracejail.supervisor.decode.decode(name, args, call)
        # await_result=True (--audit-results): the record is held until
    log.result(tid, retval)                      # ... the syscall-exit stop of that tid; a record
                                                 # whose exit never comes is written "unfinished"
                                                 # at that task's exit or at end()
    log.process(kind, pid, **fields)             # kind: spawn | exec | exit (status=, signal=, tid=)
    log.signal(pid, signo, **fields)
    log.limit(kind, **fields)                    # time limit, rlimit, cgroup
    log.violation(pid=, tid=, name=, nr=, arch=, decoded=, verdict=, **fields)
    log.event(kind, **fields)                    # any other lifecycle record
    log.kernel_counts(dict name -> count)        # kernel-decided syscalls, when known
    log.end(exit_code: int, reason: str)         # writes totals, flushes; idempotent, never
                                                 # raises, safe from a signal handler
    log.summary() -> {name: {calls, allowed, denied, killed, errors, would_deny, would_kill, injected}}
    log.totals(), log.denials(), log.violations()   # for the exit report

Recording calls raise AuditWriteError (exit 125) if the file cannot be
written: the supervisor then kills the jail rather than run unaudited.

    tracejail.audit.report.print_exit_report(log, file=sys.stderr)   # strace -c-like table
    tracejail.audit.cli.main(argv) -> int                            # `tracejail report ...`
"""
from tracejail.audit.writer import AuditLog, AuditWriteError  # noqa: F401
