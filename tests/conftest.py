"""Shared fixtures: compile C test programs with gcc, run the real CLI."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGS = Path(__file__).resolve().parent / "progs"


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bin")
    os.chmod(d, 0o755)
    os.chmod(d.parent, 0o755)
    return d


@pytest.fixture(scope="session")
def cc(build_dir):
    """cc(name_or_source, *flags) -> path of a compiled binary.

    Accepts a file name under tests/progs/ or C source text.  Binaries live in
    a world-readable directory so they can be bind-mounted into a jail."""
    cache: dict[tuple, Path] = {}

    def build(src: str, *flags: str) -> Path:
        key = (src, flags)
        if key in cache:
            return cache[key]
        if "\n" not in src and (PROGS / src).exists():
            text = (PROGS / src).read_text()
            stem = Path(src).stem
        else:
            text = src
            stem = "prog"
        digest = hashlib.sha1((text + repr(flags)).encode()).hexdigest()[:10]
        c = build_dir / f"{stem}-{digest}.c"
        out = build_dir / f"{stem}-{digest}"
        c.write_text(text)
        subprocess.run(["gcc", "-O1", "-Wall", "-o", str(out), str(c), *flags], check=True,
                       capture_output=True, text=True)
        os.chmod(out, 0o755)
        cache[key] = out
        return out

    return build


def tracejail(*args: str, input: str | None = None, timeout: float = 60, env=None):
    """Run the real CLI; returns CompletedProcess with text stdout/stderr."""
    return subprocess.run([sys.executable, "-m", "tracejail", *args], input=input,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


@pytest.fixture
def tj():
    return tracejail
