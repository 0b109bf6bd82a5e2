"""The ptrace supervisor (issue 4).

API (callers: the runner):

    sup = Supervisor(compiled_policy, audit_log, config)
    sup.attach(pid)          # PTRACE_SEIZE pid with TRACESECCOMP|EXITKILL|TRACEFORK|
                             # TRACEVFORK|TRACECLONE|TRACEEXEC|TRACESYSGOOD, before the
                             # jail loads its filter and execs
    outcome = sup.run(pid, deadline)   # loop until pid exits; deadline = time.monotonic() value or None
    sup.kill_all()           # SIGKILL every tracee (signal handlers call this)

Outcome: exit_code (int, what tracejail exits with: code, 128+sig, 137 timeout,
159 policy kill), reason ("exited" | "signaled" | "timeout" | "violation" |
"terminated"), violation (dict or None).
"""
from tracejail.supervisor.loop import Outcome, Supervisor  # noqa: F401
