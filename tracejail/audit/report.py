"""Reports over audit data: the exit report of `tracejail run` and the
aggregation behind `tracejail report FILE...` (issue 5).

Why: auditors and fuzzing campaigns want the strace -c view (what was called,
what was refused) plus what was refused *where* (paths, programs, addresses)
and which rules fired, over one run or thousands.  Every cell printed goes
through records.safe_cell: audit data is tracee data and must not reach a
terminal raw.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter

from tracejail.audit.records import safe_cell

COLUMNS = ("calls", "allowed", "denied", "killed", "errors")
EXTRA = ("would_deny", "would_kill", "injected")
_ALLOWS = ("ALLOW", "LOG", "TRACE", "USER_NOTIF")
_KILLS = ("KILL", "KILL_THREAD", "KILL_PROCESS")


# ------------------------------------------------------------------ rendering

def _syscall_rows(summary: dict) -> tuple[list, list]:
    extra = [c for c in EXTRA if any(v.get(c) for v in summary.values())]
    cols = list(COLUMNS) + extra
    rows = sorted(([name] + [v.get(c, 0) for c in cols] for name, v in summary.items()),
                  key=lambda r: (-r[1], str(r[0])))
    total = ["total"] + [sum(r[i + 1] for r in rows) for i in range(len(cols))] if rows else None
    return ["syscall"] + [c.replace("_", "-") for c in cols], rows, total


def render(sections: list, fmt: str = "table") -> str:
    """sections: [(title, headers, rows[, total_row])] -> text in
    table|markdown|csv|json (json leaves the total row out: it is derivable)."""
    sections = [(s[0], s[1], s[2] + [s[3]] if len(s) > 3 and s[3] and fmt != "json" else s[2])
                for s in sections]
    if fmt == "json":
        out = {}
        for title, headers, rows in sections:
            key = title.lower().replace(" ", "_")
            out[key] = [dict(zip(headers, r)) for r in rows]
        return json.dumps(out, indent=2, ensure_ascii=True, default=str) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for i, (title, headers, rows) in enumerate(sections):
            if i:
                buf.write("\n")
            buf.write("# %s\n" % title)
            w.writerow(headers)
            for r in rows:
                w.writerow([safe_cell(c) for c in r])
        return buf.getvalue()
    from tabulate import tabulate
    parts = []
    for title, headers, rows in sections:
        cells = [[safe_cell(c) for c in r] for r in rows]
        if fmt == "markdown":
            cells = [[c.replace("|", "\\|") for c in r] for r in cells]
            body = tabulate(cells, headers=headers, tablefmt="github") if cells else "(none)"
            parts.append("### %s\n\n%s\n" % (title, body))
        else:
            body = tabulate(cells, headers=headers, tablefmt="simple") if cells else "  (none)"
            parts.append("%s\n%s\n" % (title, body))
    return "\n".join(parts)


# ------------------------------------------------------------------ exit report

def exit_sections(audit) -> list:
    summary = audit.summary()
    headers, rows, total = _syscall_rows(summary)
    sections = [("Supervised syscalls", headers, rows, total)]
    kernel = getattr(audit, "kernel", None)
    if kernel:
        krows = sorted(([k, v] for k, v in kernel.items()), key=lambda r: (-r[1], r[0]))
        sections.append(("Kernel-decided syscalls", ["syscall", "calls"], krows))
    viol = audit.violations() if hasattr(audit, "violations") else []
    den = audit.denials() if hasattr(audit, "denials") else []
    rows = [[v["rule"], v["name"], v["verdict"], v.get("mode"), v["count"],
             v["example"]] for v in den]
    rows += [[v["rule"], v["name"], v["verdict"], "violation", v["count"], v["example"]]
             for v in viol]
    if rows:
        rows.sort(key=lambda r: -r[4])
        sections.append(("Denials and violations", ["rule", "syscall", "verdict", "kind",
                                                    "count", "example"], rows))
    return sections


def print_exit_report(audit, file=None) -> None:
    """strace -c-like table at exit (runner calls this unless --no-report).
    Never raises: a report problem must not change the run's exit status."""
    file = file or sys.stderr
    try:
        if not audit.summary() and not getattr(audit, "kernel", None):
            print("tracejail: no supervised syscalls", file=file)
            return
        text = render(exit_sections(audit), "table")
        notes = []
        if getattr(audit, "dropped", 0):
            notes.append("%d audit records dropped (--audit-max-mb)" % audit.dropped)
        if getattr(audit, "unfinished", 0):
            notes.append("%d syscalls without a result (task killed)" % audit.unfinished)
        if getattr(audit, "write_error", None):
            notes.append("audit write error: %s" % audit.write_error)
        print("tracejail: syscall report\n" + text.rstrip("\n"), file=file)
        for n in notes:
            print("tracejail: " + n, file=file)
        file.flush()
    except Exception as e:                    # pragma: no cover - defensive
        print("tracejail: exit report failed: %s" % e, file=file)


# ------------------------------------------------------------------ reading logs

def sockaddr_text(v) -> str | None:
    if not isinstance(v, dict) or "family" not in v:
        return None
    s = str(v["family"])
    if v.get("address") is not None:
        s += " " + str(v["address"])
        if v.get("port") is not None:
            s += ":%s" % v["port"]
    elif v.get("port") is not None:
        s += " :%s" % v["port"]
    return s


def record_items(r: dict):
    """(paths, program, address) of a syscall record: paths resolved where known."""
    from tracejail.supervisor.decode import addr_arg, exec_arg, path_args
    name = r.get("name")
    dec = r.get("decoded") or {}
    res = r.get("resolved") or {}
    if not isinstance(dec, dict):
        dec = {}
    if not isinstance(res, dict):
        res = {}
    paths = []
    for a in (path_args(name) if name else ()):
        p = res.get(a, dec.get(a))
        if isinstance(p, str):
            paths.append(p)
    prog = None
    ea = exec_arg(name)
    if ea:
        p = res.get(ea, dec.get(ea))
        prog = p if isinstance(p, str) else None
    addr = None
    aa = addr_arg(name) if name else None
    if aa:
        addr = sockaddr_text(dec.get(aa))
    return paths, prog, addr


def verdict_text(r: dict) -> str:
    v = r.get("verdict") or "ALLOW"
    if v == "ERRNO" and r.get("errname"):
        return "ERRNO(%s)" % r["errname"]
    return str(v)


def classify(r: dict) -> str:
    """allowed | denied | killed | would-deny | would-kill | injected."""
    mode = r.get("mode")
    if mode:
        return str(mode)
    v = r.get("verdict") or "ALLOW"
    if v in _ALLOWS:
        return "allowed"
    if v in _KILLS:
        return "killed"
    return "denied"


class Run:
    """One run (a start record and what follows it) in one file."""

    def __init__(self, file: str):
        self.file = file
        self.start: dict | None = None
        self.end: dict | None = None
        self.counts: dict[str, Counter] = {}
        self.syscalls = 0
        self.paths: Counter = Counter()
        self.programs: Counter = Counter()
        self.addresses: Counter = Counter()
        self.verdicts: Counter = Counter()           # (syscall, verdict)
        self.denied_paths: Counter = Counter()
        self.denied_programs: Counter = Counter()
        self.denied_addresses: Counter = Counter()
        self.violations: Counter = Counter()         # (syscall, verdict, rule)
        self.examples: dict = {}
        self.bad_lines = 0

    def add(self, r: dict) -> None:
        t = r.get("type")
        if t == "start":
            self.start = r
        elif t == "end":
            self.end = r
        elif t == "syscall":
            self._syscall(r)
        elif t == "violation":
            key = (r.get("name"), r.get("verdict"), r.get("rule"))
            self.violations[key] += 1
            self.examples.setdefault(key, r.get("call"))

    def _syscall(self, r: dict) -> None:
        name = str(r.get("name") or "nr%s" % r.get("nr"))
        c = self.counts.get(name)
        if c is None:
            c = self.counts[name] = Counter()
        cls = classify(r)
        self.syscalls += 1
        c["calls"] += 1
        if cls in ("allowed", "would-deny", "would-kill"):
            c["allowed"] += 1
        elif cls == "killed":
            c["killed"] += 1
        elif cls == "denied":
            c["denied"] += 1
        if cls in ("would-deny", "would-kill", "injected"):
            c[cls.replace("-", "_")] += 1
        ret = r.get("ret")
        if r.get("verdict") == "ERRNO" or (isinstance(ret, int) and -4096 < ret < 0):
            c["errors"] += 1
        vt = verdict_text(r)
        self.verdicts[(name, vt)] += 1
        paths, prog, addr = record_items(r)
        bad = cls not in ("allowed", "injected")
        for p in paths:
            self.paths[p] += 1
            if bad:
                self.denied_paths[(p, name, vt)] += 1
        if prog:
            self.programs[prog] += 1
            if bad:
                self.denied_programs[(prog, vt)] += 1
        if addr:
            self.addresses[addr] += 1
            if bad:
                self.denied_addresses[(addr, name, vt)] += 1


def read_runs(paths) -> list[Run]:
    """Read audit files ('-' = stdin); a file may hold several runs (one per
    start record).  Lines that are not JSON objects are counted, not fatal
    (a log cut by SIGKILL of tracejail itself may end in a torn line)."""
    from tracejail.errors import UsageError
    runs: list[Run] = []
    for path in paths:
        try:
            f = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="surrogateescape")
        except OSError as e:
            raise UsageError(f"report: cannot read {path}: {e.strerror}") from None
        run = Run(path)
        seen_any = False
        with f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                except ValueError:
                    run.bad_lines += 1
                    continue
                if not isinstance(r, dict):
                    run.bad_lines += 1
                    continue
                if r.get("type") == "start" and (run.start is not None or run.syscalls):
                    runs.append(run)
                    run = Run(path)
                run.add(r)
                seen_any = True
        if seen_any or run.bad_lines:
            runs.append(run)
    return runs


def _cmd(run: Run) -> str:
    cfg = (run.start or {}).get("config") or {}
    argv = cfg.get("argv") if isinstance(cfg, dict) else None
    return " ".join(map(str, argv)) if isinstance(argv, list) else ""


def aggregate_sections(runs: list[Run], top: int = 10) -> list:
    total: dict[str, Counter] = {}
    dp, dprog, daddr, viol = Counter(), Counter(), Counter(), Counter()
    examples = {}
    for run in runs:
        for name, c in run.counts.items():
            total.setdefault(name, Counter()).update(c)
        dp.update(run.denied_paths)
        dprog.update(run.denied_programs)
        daddr.update(run.denied_addresses)
        viol.update(run.violations)
        for k, v in run.examples.items():
            examples.setdefault(k, v)
    headers, rows, tot = _syscall_rows({k: dict(v) for k, v in total.items()})
    sections = [("Syscalls", headers, rows, tot)]
    sections.append(("Top denied paths", ["path", "syscall", "verdict", "count"],
                     [[p, n, v, c] for (p, n, v), c in dp.most_common(top)]))
    sections.append(("Top denied programs", ["program", "verdict", "count"],
                     [[p, v, c] for (p, v), c in dprog.most_common(top)]))
    sections.append(("Top denied addresses", ["address", "syscall", "verdict", "count"],
                     [[a, n, v, c] for (a, n, v), c in daddr.most_common(top)]))
    sections.append(("Violations", ["syscall", "verdict", "rule", "count", "example"],
                     [[n, v, r, c, examples.get((n, v, r))]
                      for (n, v, r), c in viol.most_common()]))
    run_rows = []
    for run in runs:
        end = run.end or {}
        run_rows.append([run.file, _cmd(run), end.get("exit_code"), end.get("reason") or
                         ("(no end record)" if run.end is None else ""),
                         run.syscalls, sum(c["denied"] for c in run.counts.values()),
                         sum(c["killed"] for c in run.counts.values()),
                         sum(run.violations.values()), end.get("dropped", 0), run.bad_lines])
    sections.append(("Runs", ["file", "command", "exit", "reason", "syscalls", "denied",
                              "killed", "violations", "dropped", "bad lines"], run_rows))
    return sections
