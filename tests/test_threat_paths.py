"""Threat model C17, C19, C20, C21 (and openat2 from A4/A5): path tricks
against a path rule.  The guard policy (shipped default + "deny under /data
unless under /data/allowed") must hold whatever the spelling: lexical vs
kernel resolution, symlinks made in the jail, /proc magic links, dirfds,
the long tail of path syscalls; and no fd or cwd may leak into the jail."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from test_threat_support import (BASE, CANARY, KILLED, ROOT, data_dir, data_opts, guard_policy,  # noqa: F401
                                 make_data_dir, no_traceback, run_jail, tm_bindir, tm_cc)


@pytest.fixture
def prog(tm_cc):
    return tm_cc("tm_path.c")


@pytest.fixture
def ops(tj, prog, data_dir, tmp_path):
    pol = guard_policy(tmp_path)

    def run(*steps, opts=()):
        return run_jail(tj, prog, *steps, opts=[*data_opts(data_dir), *opts], policy=pol)
    return run


def _held(r):
    """The guard held: canary never read, program finished (or was killed by the policy)."""
    assert CANARY not in r.out, f"canary read\n{r}"
    assert "DONE" in r.out or r.rc == KILLED, str(r)
    no_traceback(r)


def test_guard_control(ops):
    r = ops("open:/data/allowed/file", "open:/data/canary")
    assert "READ /data/allowed/file: ALLOWED-OK" in r.out, str(r)
    assert r.errno_of("open /data/canary") == "EACCES", str(r)
    _held(r)


LEXICAL = {
    "dotdot": ["open:/data/allowed/../canary"],
    "double_slash_dot": ["open://data/allowed/./../canary"],
    "many_dotdots": ["open:/data/allowed/../../../../data/canary"],
    "prefix_confusion": ["open:/data/allowedX/secret"],
    "trailing_slash": ["open:/data/canary/"],
    "relative_after_chdir": ["chdir:/data/allowed", "open:../canary", "chdir:/"],
    "relative_dot_after_chdir": ["chdir:/data/allowed", "open:./../canary", "chdir:/"],
    "symlink_in_tmp": ["symlink:/data/canary:/tmp/l1", "open:/tmp/l1"],
    "relative_symlink_in_allowed": ["symlink:../canary:/data/allowed/esc", "open:/data/allowed/esc"],
    "symlinked_dir": ["symlink:/data:/tmp/d", "open:/tmp/d/canary"],
    "symlink_chain": ["symlink:/data/canary:/tmp/a", "symlink:/tmp/a:/tmp/b", "open:/tmp/b"],
    "symlink_dotdot": ["symlink:/data/allowed:/tmp/al", "open:/tmp/al/../canary"],
    "dirfd_dotdot": ["at:/data/allowed:../canary"],
    "dirfd_outside": ["at:/tmp:../data/canary"],
}
MAGIC = {
    "proc_self_root": ["open:/proc/self/root/data/canary"],
    "proc_1_root": ["open:/proc/1/root/data/canary"],
    "proc_thread_self_root": ["open:/proc/thread-self/root/data/canary"],
    "proc_self_cwd": ["chdir:/data/allowed", "open:/proc/self/cwd/../canary", "chdir:/"],
    "proc_fd_dir_dotdot": ["at:/data/allowed:file", "fdpath:../canary"],
    "opath_reopen": ["opath:/data/canary", "reopen:last:r"],
    "proc_self_fd_of_symlinked": ["symlink:/data/canary:/tmp/l2", "opath:/tmp/l2", "reopen:last:r"],
}


@pytest.fixture(scope="module")
def tricks(tm_cc, tmp_path_factory):
    """Every C17/C19 trick in one jail (each is denied with EACCES, so the
    program carries on); output split per trick by its MARK line."""
    from conftest import tracejail
    tmp = tmp_path_factory.mktemp("tricks")
    os.chmod(tmp, 0o755)
    data = make_data_dir(tmp)
    steps = []
    for name, ops_ in {**LEXICAL, **MAGIC}.items():
        steps += [f"mark:{name}", *ops_]
    r = run_jail(tracejail, tm_cc("tm_path.c"), *steps, opts=data_opts(data), policy=guard_policy(tmp),
                 audit_path=tmp / "audit.jsonl")
    parts = {}
    for chunk in r.out.split("MARK ")[1:]:
        name, _, body = chunk.partition("\n")
        parts[name] = body
    return r, parts


def _trick_held(tricks, name):
    r, parts = tricks
    assert name in parts, f"the run stopped before trick {name}\n{r}"
    assert CANARY not in parts[name], f"{name}: canary read\n{parts[name]}"
    assert "BLOCKED" in parts[name] or r.rc == KILLED, f"{name}: nothing refused\n{parts[name]}"
    no_traceback(r)


@pytest.mark.parametrize("name", sorted(LEXICAL))
def test_c17_lexical_vs_kernel_resolution(tricks, name):
    _trick_held(tricks, name)


@pytest.mark.parametrize("name", sorted(MAGIC))
def test_c19_proc_magic_links(tricks, name):
    _trick_held(tricks, name)


def test_tricks_ran_to_the_end(tricks):
    r, parts = tricks
    assert r.rc == 0 and "DONE" in r.out, str(r)


def test_tricks_audit_agrees(tricks):
    """The audit shows the kernel's resolution: the canary appears only in
    denied records, and every trick's denial is recorded."""
    r, _ = tricks
    calls = [rec for rec in r.audit if rec.get("type") == "syscall"]
    bad = [rec for rec in calls if rec.get("verdict") == "ALLOW"
           and any(str(v).rstrip("/") in ("/data/canary", "/data/allowedX/secret")
                   for v in (rec.get("resolved") or {}).values())]
    assert not bad, bad
    denied = [rec for rec in calls if rec.get("verdict") == "ERRNO"
              and "/data/canary" in [str(v).rstrip("/") for v in (rec.get("resolved") or {}).values()]]
    assert len(denied) >= 15, f"only {len(denied)} audited denials of /data/canary"


def test_c17_dangling_symlink_with_o_creat(ops, data_dir):
    """O_CREAT through a dangling symlink creates the target: the decision is
    on where the kernel would create, not on the link's name."""
    r = ops("symlink:/data/made:/tmp/dangling", "creat:/tmp/dangling",
            "symlink:../made2:/data/allowed/dangling2", "creat:/data/allowed/dangling2")
    _held(r)
    assert not (data_dir / "made").exists(), str(r)
    assert not (data_dir / "made2").exists(), str(r)


def test_c19_proc_self_exe_not_writable(ops, prog):
    before = prog.read_bytes()
    r = ops("write:/proc/self/exe")
    assert not r.achieved("write /proc/self/exe"), str(r)
    assert prog.read_bytes() == before


def test_c20_long_tail_of_path_syscalls(ops, data_dir):
    """unlink/rename/link/truncate/chmod on the canary, each spelled so that a
    prefix rule on the *name* would let it through."""
    r = ops("unlink:/data/allowed/../canary", "rename:/data/canary:/data/allowed/stolen",
            "link:/data/canary:/data/allowed/hard", "truncate:/data/allowed/../canary",
            "chmod:/data/allowed/../canary", "rename:/data/allowed/file:/data/allowed/../moved")
    _held(r)
    canary = data_dir / "canary"
    assert canary.exists() and canary.read_text().startswith(CANARY), str(r)
    assert oct(canary.stat().st_mode & 0o777) == oct(0o666), str(r)
    assert not (data_dir / "allowed" / "stolen").exists(), str(r)
    assert not (data_dir / "allowed" / "hard").exists(), str(r)
    assert not (data_dir / "moved").exists(), str(r)


def test_a4_openat2_is_guarded_like_openat(ops, data_dir):
    r = ops("openat2:/data/canary", "openat2:/data/allowed/../canary", "openat2w:/data/made")
    _held(r)
    assert not r.achieved("openat2 /data/canary"), str(r)
    assert not (data_dir / "made").exists(), str(r)


def test_c21_no_leaked_fds_or_cwd(prog, tmp_path):
    """fds the caller had open (a host directory, a host file) and tracejail's
    own (audit log, supervisor pipes) must not reach the jail; cwd is the
    jail's / (not '(unreachable)/...')."""
    hostdir = os.open("/work", os.O_RDONLY | os.O_DIRECTORY)
    hostfile = os.open(str(ROOT / "README.md"), os.O_RDONLY)
    try:
        argv = [sys.executable, "-m", "tracejail", "run", *BASE, "-R", str(prog.parent),
                "--audit", str(tmp_path / "audit.jsonl"), "--", str(prog), "fds", "cwd",
                f"at:/proc/self/fd/{hostdir}:..", f"open:/proc/self/fd/{hostfile}"]
        r = subprocess.run(argv, cwd="/work", pass_fds=(hostdir, hostfile), capture_output=True, text=True,
                           timeout=60)
    finally:
        os.close(hostdir)
        os.close(hostfile)
    fds = [line for line in r.stdout.splitlines() if line.startswith("OPENFD ")]
    assert r.returncode == 0 and fds, (r.stdout, r.stderr)
    assert [f.split()[1] for f in fds] == ["0", "1", "2"], r.stdout
    assert "CWD rc=2 /" in r.stdout, r.stdout
    assert "tracejail" not in r.stdout and "# tracejail" not in r.stdout, r.stdout


def test_c20_af_unix_paths_follow_the_file_rules(tj, prog, tmp_path):
    """Under the shipped default nothing may be created in a bound host dir
    outside the scratch dirs, and what cannot be opened cannot be connected
    to: a pathname AF_UNIX address is a path (hole H4), relative or through a
    symlink made in /tmp.  Control: bind/connect in /tmp reach the kernel."""
    import socket
    data = make_data_dir(tmp_path)
    srv = socket.socket(socket.AF_UNIX)
    try:
        srv.bind(str(data / "host.sock"))
        srv.listen(8)            # room for every connect: a regression fails, never hangs
        os.chmod(data / "host.sock", 0o777)
        r = run_jail(tj, prog, "creat:/data/made2", "bindunix:/data/made.sock", "connectunix:/data/host.sock",
                     "chdir:/data", "bindunix:rel.sock", "connectunix:host.sock",
                     "symlink:/data/host.sock:/tmp/link.sock", "connectunix:/tmp/link.sock",
                     "bindunix:/tmp/ok.sock", "connectunix:/tmp/ok.sock", opts=data_opts(data),
                     audit_path=tmp_path / "audit.jsonl")
    finally:
        srv.close()
    socks = [line.split()[0] + " " + (line.split()[2] if line.startswith("BLOCKED") else "ok")
             for line in r.out.splitlines()
             if line.split()[1:2] in (["bindunix"], ["connectunix"])]
    assert r.errno_of("creat /data/made2") == "EACCES", str(r)     # control: /data is not writable by rule
    assert not (data / "made.sock").exists(), f"bind created a socket file outside the scratch dirs\n{r}"
    assert not (data / "rel.sock").exists(), f"relative bind escaped the rule\n{r}"
    # /data/made.sock, /data/host.sock, rel.sock, host.sock (cwd /data), /tmp/link.sock -> /data/host.sock
    assert socks[:5] == ["BLOCKED errno=13"] * 5, f"{socks}\n{r}"
    # control: bind in /tmp and connecting to it (ECONNREFUSED: not listening) reach the kernel
    assert socks[5:] == ["ESCAPED ok", "BLOCKED errno=111"], f"{socks}\n{r}"
    assert r.achieved("symlink"), str(r)
    # the audit keeps the address as given and the path the rule saw
    conn = [(rec["decoded"]["addr"]["address"], (rec.get("resolved") or {}).get("addr"), rec["verdict"])
            for rec in r.audit if rec.get("type") == "syscall" and rec.get("name") == "connect"]
    assert ("host.sock", "/data/host.sock", "ERRNO") in conn, conn
    assert ("/tmp/link.sock", "/data/host.sock", "ERRNO") in conn, conn
    no_traceback(r)


def test_b12_c19_proc_mem_not_writable_by_default(tj, prog):
    """/proc/<pid>/mem for write is the cross-process TOCTOU tool (B12) and a
    way around W^X; the default reads /proc/<pid>/** but must not write it."""
    r = run_jail(tj, prog, "write:/proc/self/mem", "write:/proc/1/mem", "write:/proc/thread-self/mem",
                 "open:/proc/self/status")
    assert "READ /proc/self/status" in r.out, str(r)                    # control: reads are allowed
    for p in ("/proc/self/mem", "/proc/1/mem", "/proc/thread-self/mem"):
        assert not r.achieved(f"write {p}"), str(r)
    assert r.rc in (0, KILLED), str(r)
