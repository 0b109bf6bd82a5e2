"""run(config) -> exit code: policy -> audit -> launcher -> supervisor -> report.

Signals and the wall-clock limit both end in "kill the whole jail" (supervisor
kill_all + jail pid 1 + cgroup); the exit status says which happened:
128+sig for SIGINT/SIGTERM/SIGHUP sent to tracejail, 137 for the time limit.
"""
from __future__ import annotations

import os
import signal
import sys
import time

from tracejail.errors import SetupError, UsageError

TIMEOUT_EXIT = 137
GRACE = 2.0        # seconds between kill attempts once the jail is being killed


class JailStuck(BaseException):
    """Raised from the alarm handler when a killed jail still has not been reaped
    after two grace periods: tracejail stops waiting, and its exit releases the
    tracees (PTRACE_O_EXITKILL).  BaseException so no `except Exception` eats it."""


def inject_syscalls(specs) -> list[str]:
    """Syscall names named by --inject specs; a bad spec is a UsageError here,
    before anything runs (parser: tracejail.supervisor.inject, imported only when
    there are specs: a plain run does not pay for it)."""
    if not specs:
        return []
    from tracejail.supervisor.inject import parse_injections
    return list(parse_injections(specs).syscalls)


class _Plain:
    """-Me: no ptrace supervisor; tracejail only waits for jail pid 1."""
    def __init__(self, launcher):
        self.launcher = launcher

    def kill_all(self):
        self.launcher.kill()

    def run(self, pid, deadline=None):
        from tracejail.supervisor import Outcome
        while True:
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                return Outcome(125, "exited")
            if os.WIFEXITED(status):
                return Outcome(os.WEXITSTATUS(status), "exited")
            if os.WIFSIGNALED(status):
                return Outcome(128 + os.WTERMSIG(status), "signaled")


def pid_started(launcher) -> bool:
    return bool(launcher.pid) and launcher._go_w is None


def _warm_audit() -> None:
    """The audit decodes with python-ptrace's tables (30-45 ms to load here):
    load them while the jail sets itself up, not at the first record, mid-run."""
    from tracejail.supervisor.decode import warm
    warm()


def run(config) -> int:
    from tracejail import audit as audit_mod
    from tracejail import policy as policy_mod
    from tracejail.jail.launcher import Launcher
    from tracejail.jail.log import log

    supervised = config.mode == "o"
    if supervised:
        from tracejail.supervisor.loop import WATCHED
    compiled = policy_mod.load_compiled_for_config(config, trace_all=config.audit_all,
                                                   trace_denials=config.permissive,
                                                   trace_extra=inject_syscalls(config.inject),
                                                   watch=WATCHED if supervised else ())
    if not supervised and compiled.needs_supervisor:
        raise UsageError("this policy needs the ptrace supervisor (it has TRACE rules, --audit-all, "
                         "--permissive or --inject); -Me runs without one: use -Mo")
    audit = audit_mod.AuditLog(config.audit, max_mb=config.audit_max_mb)
    audit.start(config.as_dict(), compiled.digest)
    launcher = Launcher(config, compiled.bpf)
    if supervised and config.audit:
        launcher.while_waiting = _warm_audit
    state: dict = {"timeout": False, "signal": None, "sup": None, "strikes": 0}

    def kill_everything():
        sup = state["sup"]
        if sup is not None:
            try:
                sup.kill_all()
            except Exception:
                pass
        launcher.kill()

    def begin_kill():
        kill_everything()
        signal.setitimer(signal.ITIMER_REAL, GRACE, GRACE)   # escalate if nothing is reaped

    def on_signal(signo, _frame):
        if state["signal"] or state["timeout"]:
            return
        state["signal"] = signo
        begin_kill()

    def on_alarm(_signo, _frame):
        if not (state["timeout"] or state["signal"]):
            state["timeout"] = True
            begin_kill()
            return
        state["strikes"] += 1
        kill_everything()
        if state["strikes"] >= 2:
            raise JailStuck()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    old[signal.SIGALRM] = signal.signal(signal.SIGALRM, on_alarm)
    deadline = None
    if config.time_limit:
        deadline = time.monotonic() + config.time_limit
        signal.setitimer(signal.ITIMER_REAL, config.time_limit)
    outcome = None
    late = None
    try:
        try:
            pid = launcher.start()
        except BaseException as e:
            if state["signal"] or state["timeout"]:
                raise JailStuck() from None      # killed during setup: report the signal/limit
            audit.end(getattr(e, "exit_code", 125), "setup-failed")
            raise
        if state["signal"] or state["timeout"]:
            raise JailStuck()
        if supervised:
            from tracejail.supervisor import Supervisor
            sup = Supervisor(compiled, audit, config)
            if launcher.cgroup is not None:
                sup.count_tasks_with(launcher.cgroup.pids_current_path())
            try:
                sup.attach(pid)
            except OSError as e:
                launcher.kill()
                audit.end(125, "setup-failed")
                raise SetupError(f"attaching the supervisor: {e}") from None
        else:
            sup = _Plain(launcher)
        state["sup"] = sup
        launcher.release()
        try:
            outcome = sup.run(pid, deadline)
        except BaseException:
            if not (state["timeout"] or state["signal"]):
                raise
            log(0, "the jail did not die cleanly after being killed; tracejail exits anyway")
    except JailStuck:
        if outcome is None and pid_started(launcher):
            log(0, "the jail did not die cleanly after being killed; tracejail exits anyway")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        launcher.kill()
        late = launcher.late_error()
        launcher.cleanup()
        for s, h in old.items():
            signal.signal(s, h)

    code, reason = (outcome.exit_code, outcome.reason) if outcome else (TIMEOUT_EXIT, "terminated")
    if late:
        print(f"tracejail: {late}", file=sys.stderr)
    if state["timeout"] or reason == "timeout":
        code, reason = TIMEOUT_EXIT, "timeout"
        audit.limit("time", seconds=config.time_limit)
        print(f"tracejail: time limit of {config.time_limit} s exceeded, jail killed", file=sys.stderr)
    elif state["signal"]:
        code, reason = 128 + state["signal"], "terminated"
        log(0, f"tracejail got signal {state['signal']}: jail killed")
    audit.end(code, reason)
    from tracejail.violation import print_messages      # kill/deny one-liners
    print_messages(outcome, audit, config, sys.stderr)
    if not config.no_report:
        from tracejail.audit.report import print_exit_report
        print_exit_report(audit, file=sys.stderr)
    return code
