"""Start-up log lines ('[I] ...'), nsjail-style levels: -v debug, -q warnings, -Q/--silent none."""
from __future__ import annotations

import sys

_state = {"level": 1, "file": None}


def configure(verbosity: int, path: str | None = None) -> None:
    _state["level"] = verbosity
    if path:
        try:
            _state["file"] = open(path, "a", buffering=1)
        except OSError as e:
            from tracejail.errors import UsageError
            raise UsageError(f"cannot open log file {path}: {e.strerror}") from None


def log(level: int, msg: str) -> None:
    """level 0 warning, 1 info, 2 debug."""
    if level > _state["level"]:
        return
    tag = {0: "W", 1: "I"}.get(level, "D")
    print(f"[{tag}] {msg}", file=_state["file"] or sys.stderr, flush=True)
