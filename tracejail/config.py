"""JailConfig: the one value the CLI/TOML layer produces and everything else reads.

OWNER: jail/CLI (issue 2) extends the isolation fields.  Fields below the
"policy" marker are read by the policy, supervisor and audit layers; keep
their names stable.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class JailConfig:
    argv: list[str] = field(default_factory=list)
    mode: str = "o"                       # "o" once (supervised), "e" exec in place

    # --- policy -----------------------------------------------------------
    seccomp_policy: str | None = None     # -P FILE (.policy, or Docker/OCI .json)
    seccomp_string: str | None = None     # --seccomp_string TEXT
    # --- supervision and audit ---------------------------------------------
    audit: str | None = None              # --audit FILE ('-' = stderr)
    audit_all: bool = False               # every syscall through the supervisor
    audit_results: bool = False           # stop at syscall exit to record retval
    audit_max_mb: float | None = None
    no_report: bool = False
    permissive: bool = False              # would-deny/would-kill recorded, allowed
    inject: list[str] = field(default_factory=list)   # --inject specs (strace -e inject style)
    max_violations: int | None = None
