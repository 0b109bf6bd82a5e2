"""`tracejail report --diff A B`: what one run did that the other did not.

Why: comparing a known-good run with a suspicious one (or two fuzzing inputs)
is a set difference over observable behaviour: syscalls made, paths touched,
programs executed, addresses contacted and the verdicts they got.  Counts of
syscalls made by both are compared too, since "10x more openat" matters.
"""
from __future__ import annotations

from collections import Counter

from tracejail.audit.report import read_runs


def features(runs) -> dict[str, Counter]:
    f = {k: Counter() for k in ("syscall", "path", "program", "address", "verdict")}
    for run in runs:
        for name, c in run.counts.items():
            f["syscall"][name] += c["calls"]
        f["path"].update(run.paths)
        f["program"].update(run.programs)
        f["address"].update(run.addresses)
        for (name, v), n in run.verdicts.items():
            f["verdict"]["%s -> %s" % (name, v)] += n
        for (name, v, rule), n in run.violations.items():
            f["verdict"]["%s -> %s (violation, %s)" % (name, v, rule)] += n
    return f


def diff_sections(path_a: str, path_b: str) -> tuple[list, bool]:
    """-> (sections, differ)."""
    fa, fb = features(read_runs([path_a])), features(read_runs([path_b]))
    only_a, only_b, changed = [], [], []
    for kind in fa:
        a, b = fa[kind], fb[kind]
        only_a += [[kind, item, a[item]] for item in sorted(set(a) - set(b), key=str)]
        only_b += [[kind, item, b[item]] for item in sorted(set(b) - set(a), key=str)]
    for name in sorted(set(fa["syscall"]) & set(fb["syscall"])):
        if fa["syscall"][name] != fb["syscall"][name]:
            changed.append([name, fa["syscall"][name], fb["syscall"][name]])
    sections = [
        ("Only in A (%s)" % path_a, ["kind", "item", "count"], only_a),
        ("Only in B (%s)" % path_b, ["kind", "item", "count"], only_b),
        ("Syscall counts that differ", ["syscall", "A", "B"], changed),
    ]
    return sections, bool(only_a or only_b)
