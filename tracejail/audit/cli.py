"""`tracejail report FILE... [--format table|json|csv|markdown] [--top N] [--diff A B]`.

Exit status: 0; with --diff, 0 when the runs did the same things and 1 when
they differ (like diff(1)); 2 for usage errors (raised as UsageError).
"""
from __future__ import annotations

import argparse
import sys

from tracejail.errors import UsageError

FORMATS = ("table", "json", "csv", "markdown")


class _Parser(argparse.ArgumentParser):
    def error(self, message):                 # one line, our exit code, no usage dump
        raise UsageError(f"report: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tracejail report",
                description="Aggregate tracejail JSONL audit logs, or diff two runs.")
    p.add_argument("files", nargs="*", metavar="FILE", help="audit logs ('-' = stdin)")
    p.add_argument("--format", "-f", choices=FORMATS, default="table")
    p.add_argument("--top", type=int, default=10, help="rows in the top-denied tables")
    p.add_argument("--diff", nargs=2, metavar=("A", "B"), help="what one run did that the other did not")
    p.add_argument("-o", "--output", help="write the report to this file")
    return p


def main(argv=None) -> int:
    from tracejail.audit.report import aggregate_sections, read_runs, render
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.top < 1:
        raise UsageError("report: --top must be at least 1")
    status = 0
    if args.diff:
        if args.files:
            raise UsageError("report: --diff A B takes no other files")
        from tracejail.audit.diff import diff_sections
        sections, differ = diff_sections(*args.diff)
        status = 1 if differ else 0
    else:
        if not args.files:
            raise UsageError("report: no audit files given (tracejail report FILE...)")
        runs = read_runs(args.files)
        if not runs:
            raise UsageError("report: no audit records in " + ", ".join(args.files))
        sections = aggregate_sections(runs, top=args.top)
    text = render(sections, args.format)
    if args.output:
        try:
            with open(args.output, "w", encoding="ascii", errors="backslashreplace") as f:
                f.write(text)
        except OSError as e:
            raise UsageError(f"report: cannot write {args.output}: {e.strerror}") from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return status
