"""The supervisor behind the real CLI: `tracejail run -P FILE` end to end."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINDS = ["-R", "/bin", "-R", "/lib", "-R", "/lib64", "-R", "/usr", "-R", "/etc"]
POLICY = """
POLICY p {
  KILL { openat(dirfd, pathname, flags, mode) { path(pathname) under ["/data/kill"] } },
  ALLOW {
    openat(dirfd, pathname, flags, mode) {
      path(pathname) under ["/usr", "/lib", "/lib64", "/etc", "/bin", "/data/ok", "/proc", "/dev"] }
  },
  ERRNO(EACCES) { openat }
}
USE p DEFAULT ALLOW
"""


def _setup(tmp_path, cc):
    data = tmp_path / "data"
    (data / "ok").mkdir(parents=True)
    (data / "kill").mkdir()
    (data / "ok" / "f").write_text("ok")
    (data / "secret").write_text("s")
    os.symlink("/data/secret", data / "ok" / "link")
    for p in (tmp_path, data, data / "ok", data / "kill"):
        os.chmod(p, 0o755)
    for p in (data / "ok" / "f", data / "secret"):
        os.chmod(p, 0o644)
    pol = tmp_path / "p.policy"
    pol.write_text(POLICY)
    prog = cc("sv_paths.c", "-lpthread")
    return pol, prog


def test_cli_path_verdicts_and_audit(tj, cc, tmp_path):
    pol, prog = _setup(tmp_path, cc)
    audit = tmp_path / "a.jsonl"
    r = tj("run", "-Q", *BINDS, "-R", f"{tmp_path / 'data'}:/data", "-R", f"{prog.parent}:/p",
           "-P", str(pol), "--audit", str(audit), "--", f"/p/{prog.name}",
           "open:/data/ok/f", "open:/data/secret", "open:/data/ok/link", "open:/data/ok/../secret",
           "chdir:/data/ok", "open:f", "open:../secret")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:7] == ["open /data/ok/f ok", "open /data/secret EACCES",
                                        "open /data/ok/link EACCES", "open /data/ok/../secret EACCES",
                                        "chdir /data/ok ok", "open f ok", "open ../secret EACCES"]
    recs = [json.loads(ln) for ln in audit.read_text().splitlines()]
    opens = [(list(r["resolved"].values())[0], r["verdict"]) for r in recs
             if r["type"] == "syscall" and r["name"] == "openat" and "/data" in str(r.get("resolved"))]
    assert opens == [("/data/ok/f", "ALLOW"), ("/data/secret", "ERRNO"),
                     ("/data/secret", "ERRNO"), ("/data/secret", "ERRNO"),
                     ("/data/ok/f", "ALLOW"), ("/data/secret", "ERRNO")]


def test_cli_kill_verdict_exit_159(tj, cc, tmp_path):
    pol, prog = _setup(tmp_path, cc)
    r = tj("run", "-Q", *BINDS, "-R", f"{tmp_path / 'data'}:/data", "-R", f"{prog.parent}:/p",
           "-P", str(pol), "--", f"/p/{prog.name}", "open:/data/ok/f", "open:/data/kill/x",
           "open:/data/ok/f")
    assert r.returncode == 159, r.stderr
    assert r.stdout.splitlines() == ["open /data/ok/f ok"]


def test_cli_sigkill_of_tracejail_leaves_no_process(cc, tmp_path):
    pol, prog = _setup(tmp_path, cc)
    marker = f"/p/{prog.name}"
    p = subprocess.Popen([sys.executable, "-m", "tracejail", "run", "-Q", *BINDS,
                          "-R", f"{prog.parent}:/p", "-P", str(pol), "--", "/bin/sh", "-c",
                          f"exec {marker} sleep"],
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        n = subprocess.run(["pgrep", "-f", f"^{marker} sleep"], capture_output=True, text=True).stdout.split()
        if n:
            break
        time.sleep(0.1)
    assert n
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", f"^{marker} sleep"], capture_output=True, text=True).stdout.split()
    assert left == []
