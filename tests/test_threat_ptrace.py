"""Threat model B7-B10, B14-B16, R5, D26: the RET_TRACE/ptrace layer.  The
jail stacks its own seccomp filters, spoofs RET_DATA, tries to become a
tracer, clones untraced children, forges ptrace stops, execs from a thread,
and the supervisor dies or the tracee dies mid-syscall (tests/progs/tm_ptrace.c)."""
from __future__ import annotations

import os
import re
import socket
import signal
import time
from pathlib import Path

import pytest

from test_threat_support import (CANARY, KILLED, assert_killed, assert_refused, data_dir, data_opts,  # noqa: F401
                                 guard_policy, jailed_pids, make_data_dir, no_traceback, popen_jail, prepend_policy,
                                 run_batch,
                                 run_jail, tm_bindir, tm_cc, wait_gone)


@pytest.fixture
def prog(tm_cc):
    return tm_cc("tm_ptrace.c")


@pytest.fixture
def guarded(tj, prog, data_dir, tmp_path):
    """run(mode) under the guard policy with /data bound; /data/canary is forbidden."""
    pol = guard_policy(tmp_path)

    def run(mode, *args, opts=(), **kw):
        return run_jail(tj, prog, mode, "/data/canary", *args, opts=[*data_opts(data_dir), *opts], policy=pol,
                        **kw)
    return run


def test_guard_policy_control(guarded):
    """The guard denies /data/canary: the baseline every bypass below is measured against."""
    r = guarded("after_exec")
    assert r.errno_of("after-exec open /data/canary") == "EACCES", str(r)
    assert CANARY not in r.out


def test_b7_user_notif_listener_refused(guarded):
    """A USER_NOTIF filter outranks TRACE: if the jail may install one and answer
    CONTINUE, the supervisor never sees the open."""
    r = guarded("user_notif")
    assert_refused(r, "seccomp NEW_LISTENER")
    assert CANARY not in r.out, str(r)


@pytest.mark.parametrize("mode,what", [("spoof_prctl", "prctl PR_SET_SECCOMP"),
                                       ("spoof_seccomp", "seccomp SET_MODE_FILTER"),
                                       ("spoof_data", "prctl PR_SET_SECCOMP")])
def test_b8_stacked_filter_with_spoofed_ret_data(guarded, mode, what):
    """Whether or not stacking is allowed, the open that follows must still be
    decided from the registers, not from the newest filter's RET_DATA."""
    r = guarded(mode)
    assert CANARY not in r.out, str(r)
    assert not r.achieved("after-spoof open"), str(r)
    assert r.rc in (0, KILLED), str(r)
    no_traceback(r)


B9 = [("ptrace_traceme", "ptrace TRACEME"), ("ptrace_attach", "ptrace SEIZE child"),
      ("process_vm_readv", "process_vm_readv self"), ("process_vm_writev", "process_vm_writev self")]


@pytest.fixture(scope="module")
def b9_runs(tm_cc):
    p = tm_cc("tm_ptrace.c")
    return run_batch({m: (p, (m,), {}) for m, _ in B9})


@pytest.mark.parametrize("mode,what", B9)
def test_b9_jail_cannot_trace(b9_runs, mode, what):
    assert_killed(b9_runs[mode], what)


def test_b10_clone_untraced_refused(tj, prog, tmp_path):
    """CLONE_UNTRACED stops the tracer's auto-attach: the child would run
    outside the supervisor and the audit."""
    r = run_jail(tj, prog, "clone_untraced")
    assert_refused(r, "clone CLONE_UNTRACED")
    assert "untraced child running" not in r.out, str(r)
    assert wait_gone(prog) == []


def test_b14_forged_sigtraps_are_reinjected_and_change_nothing(guarded):
    """SIGTRAPs raised by the tracee (one with si_code forged to look like a
    seccomp event) are ordinary signals: all five reach the handler, the
    supervisor keeps running, the guard still holds."""
    r = guarded("fake_sigtrap")
    assert r.rc == 0 and "TRAPS 5" in r.out, str(r)
    assert r.errno_of("after-traps open /data/canary") == "EACCES", str(r)
    no_traceback(r)


def test_b14_self_sigstop_group_stop_resumes(guarded):
    r = guarded("sigstop_self", opts=["-t", "20"], timeout=40)
    assert r.rc == 0 and "RESUMED" in r.out, str(r)
    assert r.errno_of("after-stop open /data/canary") == "EACCES", str(r)


def test_b15_exec_from_non_leader_thread_stays_supervised(guarded, prog):
    """After the tid takeover the new image is still traced and still guarded,
    and its ptrace attempt is still killed."""
    r = guarded("thread_exec", opts=["-t", "20"], timeout=40)
    assert "EXECED" in r.out, str(r)
    assert r.errno_of("after-exec open /data/canary") == "EACCES", str(r)
    assert_killed(r, "ptrace TRACEME after exec")
    assert wait_gone(prog) == []


def _tracer_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("TracerPid:"):
            return int(line.split()[1])
    return 0


def test_b16_r5_supervisor_killed_mid_decision(prog, data_dir, tmp_path):
    """SIGKILL the tracer while the tracee hammers a denied O_CREAT: EXITKILL
    must take every tracee down and the held open must never run."""
    target = data_dir / "made-after-death"
    pol = guard_policy(tmp_path)
    p = popen_jail(prog, "loop_creat", "/data/made-after-death", opts=[*data_opts(data_dir), "-P", pol])
    try:
        line = p.stdout.readline()
        assert "LOOPING" in line, (line, p.stderr.read() if p.poll() is not None else "")
        time.sleep(0.3)
        pids = jailed_pids(prog)
        assert pids, "jailed process not found"
        tracer = _tracer_of(pids[0])
        assert tracer > 0, "jailed process is not traced"
        os.kill(tracer, signal.SIGKILL)
        left = wait_gone(prog, 5)
        assert left == [], f"tracees survived their supervisor: {left}"
        assert not target.exists(), "a held, denied O_CREAT ran after the supervisor died"
    finally:
        p.kill()
        p.wait(10)
        for pid in jailed_pids(prog):
            os.kill(pid, signal.SIGKILL)


def test_r5_tracee_killed_mid_syscall(tj, prog, data_dir, tmp_path):
    """A jailed process SIGKILLs itself while its other thread hammers a denied,
    supervised open: ESRCH on the vanished tracee is normal, the supervisor
    carries on, no traceback, nothing created."""
    pol = guard_policy(tmp_path)
    r = run_jail(tj, prog, "kill_mid", "/data/x", opts=[*data_opts(data_dir), "-t", "30"], policy=pol, timeout=90)
    assert r.rc == 0 and "CHILD signal=9" in r.out, f"supervisor stalled on a dead tracee?\n{r}"
    no_traceback(r)
    assert not (data_dir / "x").exists()
    left = wait_gone(prog)
    assert left == [], f"left over: {[(p, open(f'/proc/{p}/cmdline', 'rb').read()) for p in left]}"


def test_r5_jail_init_killed_from_the_host_mid_syscall(prog, data_dir, tmp_path):
    """SIGKILL from outside to the jail's pid 1 while it sits in supervised
    opens: tracejail reports 137 (128+SIGKILL) promptly, no traceback."""
    pol = guard_policy(tmp_path)
    p = popen_jail(prog, "loop_creat", "/data/y", opts=[*data_opts(data_dir), "-P", pol, "-t", "20"])
    try:
        first = p.stdout.readline()
        assert "LOOPING" in first, (first, p.poll())
        time.sleep(0.2)
        pids = jailed_pids(prog)
        assert pids, "jailed process not found"
        t0 = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        out, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
        assert p.returncode == 137, (p.returncode, pids, out[-500:], err[-2000:])
        assert took < 10, f"took {took:.1f} s to notice"
        assert "Traceback" not in err, err
        assert not (data_dir / "y").exists()
    finally:
        p.kill()
        p.wait(10)


def test_d26_status_seen_from_the_host(tm_cc):
    """Seccomp: 2, NoNewPrivs: 1, and the tracer is the tracejail supervisor
    (from inside the pid namespace TracerPid reads 0, so look from outside)."""
    st = tm_cc("tm_status.c")
    p = popen_jail(st, "3")
    try:
        deadline = time.monotonic() + 15
        while not jailed_pids(st) and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        pids = jailed_pids(st)
        assert pids, p.communicate(timeout=10)
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pids[0]}/status").read_text().splitlines()
                      if ":" in line)
        assert fields["Seccomp"].strip() == "2"
        assert fields["NoNewPrivs"].strip() == "1"
        tracer = int(fields["TracerPid"])
        assert tracer > 0
        cmd = Path(f"/proc/{tracer}/cmdline").read_bytes()
        assert b"tracejail" in cmd, cmd
        out, err = p.communicate(timeout=20)
        assert p.returncode == 0, (out, err)
        assert "STATUS Seccomp:\t2" in out and "STATUS NoNewPrivs:\t1" in out, out
        assert "BLOCKED open /dev/tty" in out, out
        assert "IDS pid=1 sid=1 " in out, out            # E30: setsid, no controlling tty
    finally:
        p.kill()
        p.wait(10)


@pytest.mark.parametrize("mode", ["thread", "shared", "vm"])
def test_b11_b12_flipped_path_bounded(tm_cc, data_dir, tmp_path, tj, mode):
    """Bounded (1.5 s) version of the TOCTOU items: the path is flipped between
    an allowed file and the canary by a sibling thread (B11), a forked process
    sharing the page (B12), or a CLONE_VM non-thread child (B12).  Some opens
    must succeed and some be denied (the race is live), the canary never.
    Killing the jail when the post-open check catches a flip is also safe."""
    prog = tm_cc("tm_toctou.c")
    r = run_jail(tj, prog, mode, "1.5", "/data/allowed/file", "/data/canary", opts=[*data_opts(data_dir), "-t", "30"],
                 policy=guard_policy(tmp_path), timeout=90)
    assert CANARY not in r.out and not r.achieved("toctou"), str(r)
    no_traceback(r)
    if r.rc == KILLED:
        assert "opened /data/" in r.err, str(r)     # the fd re-check caught the flip
        return
    m = re.search(r"STATS iters=(\d+) ok=(\d+) denied=(\d+)", r.out)
    assert r.rc == 0 and m, str(r)
    assert int(m.group(2)) > 0 and int(m.group(3)) > 0, f"race not exercised: {m.group(0)}\n{r}"


def test_c18_symlink_swap_race(tm_cc, tmp_path_factory):
    """A path component (/tmp/sa) is a symlink swapped between an allowed and a
    forbidden directory by another process while /tmp/sa/file is opened.  The
    escape is rare per run, so 12 jails try concurrently; none may read the
    canary (a 159 kill when the fd re-check catches a swap is fine)."""
    prog = tm_cc("tm_toctou.c")
    jobs = {}
    for i in range(12):
        tmp = tmp_path_factory.mktemp(f"swap{i}")
        os.chmod(tmp, 0o755)
        data = make_data_dir(tmp)
        jobs[i] = (prog, ("swap", "1.0", "/data/allowed", "/data/forbidden"),
                   {"opts": [*data_opts(data), "-t", "30"], "policy": guard_policy(tmp), "timeout": 90})
    runs = run_batch(jobs)
    leaks = [r for r in runs.values() if CANARY in r.out]
    assert not leaks, f"{len(leaks)}/12 runs read the canary\n{leaks[0]}"
    for r in runs.values():
        assert r.rc in (0, KILLED), str(r)
        no_traceback(r)


@pytest.mark.parametrize("mode", ["unlinkswap", "truncswap"])
def test_c18_symlink_swap_race_on_changing_calls(tm_cc, tmp_path_factory, mode):
    """C18 where re-checking afterwards is too late: unlink of /tmp/sa/file, or
    its open with O_TRUNC, while another process swaps /tmp/sa between the
    allowed and the forbidden directory.  While such a call of a task that is
    not alone is decided and run, every other task of the jail is stopped, so
    the kernel resolves the path the supervisor decided on:
    /data/forbidden/file must survive, whole.  The swapper's renameat2 is
    allowed in the kernel here: had it gone to the supervisor, stopping the
    jail for *it* would already keep it from overlapping the other call."""
    prog = tm_cc("tm_toctou.c")
    jobs, dirs = {}, {}
    for i in range(8):
        tmp = tmp_path_factory.mktemp(f"{mode}{i}")
        os.chmod(tmp, 0o755)
        dirs[i] = make_data_dir(tmp)
        jobs[i] = (prog, (mode, "1.0", "/data/allowed", "/data/forbidden"),
                   {"opts": [*data_opts(dirs[i]), "-t", "30"], "timeout": 90,
                    "policy": guard_policy(tmp, first="  ALLOW { renameat2 }\n")})
    runs = run_batch(jobs)
    for i, r in runs.items():
        kept = dirs[i] / "forbidden" / "file"
        assert kept.exists() and CANARY in kept.read_text() and not r.achieved("toctou"), str(r)
        assert r.rc == 0, str(r)
        no_traceback(r)
        m = re.search(r"STATS iters=(\d+) ok=(\d+) denied=(\d+)", r.out)
        assert m and int(m.group(2)) > 0 and int(m.group(3)) > 0, f"race not exercised\n{r}"


class _HostSockets:
    """Host-side AF_UNIX sockets bound at the given paths (path -> data), served
    by a thread until close(); subclasses say what a readable socket means."""

    def __init__(self, socks: dict, kind: int):
        import selectors
        import threading
        self.sel, self.stop = selectors.DefaultSelector(), False
        for path, data in socks.items():
            s = socket.socket(socket.AF_UNIX, kind)
            s.bind(str(path))
            os.chmod(path, 0o777)
            if kind == socket.SOCK_STREAM:
                s.listen(64)
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ, data)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            for key, _ in self.sel.select(0.05):
                try:
                    self._ready(key)
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join()
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


class _Greeters(_HostSockets):
    """Listening sockets that greet every connection with a line, keep it open
    until the client closes it, and keep what clients send (``got``: path -> bytes)."""

    def __init__(self, socks: dict):
        self.got = {str(p): b"" for p in socks}
        super().__init__({p: (str(p), g) for p, g in socks.items()}, socket.SOCK_STREAM)

    def _ready(self, key):
        import selectors
        if isinstance(key.data, str):                 # a connection to listener key.data
            data = key.fileobj.recv(4096)
            if data:
                self.got[key.data] += data
            else:                                     # closed by the client
                self.sel.unregister(key.fileobj)
                key.fileobj.close()
            return
        c, _ = key.fileobj.accept()
        c.sendall(key.data[1])
        self.sel.register(c, selectors.EVENT_READ, key.data[0])


class _DgramSinks(_HostSockets):
    """Datagram sockets that count what each receives (``got``: path -> count)."""

    def __init__(self, paths):
        self.got = {str(p): 0 for p in paths}
        super().__init__({p: str(p) for p in paths}, socket.SOCK_DGRAM)

    def _ready(self, key):
        while key.fileobj.recv(64):
            self.got[key.data] += 1


def _swap_runs(tm_cc, tmp_path_factory, mode, first, serve):
    """Six jails at once running ``tm_toctou MODE`` under the guard policy with
    ``first`` in front, each against the host sockets serve(data dir) binds
    (closed when the jails are done): (runs, servers)."""
    prog = tm_cc("tm_toctou.c")
    jobs, servers = {}, []
    for i in range(6):
        tmp = tmp_path_factory.mktemp(f"{mode}{i}")
        os.chmod(tmp, 0o755)
        d = make_data_dir(tmp)
        servers.append(serve(d))
        jobs[i] = (prog, (mode, "1.0", "/data/allowed", "/data/forbidden"),
                   {"opts": [*data_opts(d), "-t", "30"], "timeout": 90,
                    "policy": guard_policy(tmp, first=first)})
    try:
        runs = run_batch(jobs)
    finally:
        for s in servers:
            s.close()
    return [runs[i] for i in range(6)], servers


def test_c18_symlink_swap_race_on_unix_connect(tm_cc, tmp_path_factory):
    """C18/C20 for AF_UNIX: connect to /tmp/sa/sock while another process swaps
    /tmp/sa between the allowed and the forbidden directory, each holding a
    listening socket.  A connect may wait for its peer, so the jail is not held
    stopped; the supervisor checks at the syscall's exit which socket file the
    peer is bound to (sock_diag) and kills the jail if it is not the decided
    one, before the task can read a byte: the forbidden greeting is never read."""
    first = ("  ALLOW { renameat2 }\n"
             '  ERRNO(13) { connect(fd, addr, addrlen) { sockaddr(addr, addrlen).path under "/data/forbidden" } }\n'
             '  ALLOW { connect(fd, addr, addrlen) { sockaddr(addr, addrlen).path under "/data/allowed" } }\n')
    runs, _ = _swap_runs(tm_cc, tmp_path_factory, "unixswap", first, lambda d: _Greeters(
        {d / "allowed" / "sock": b"ALLOWED-OK\n", d / "forbidden" / "sock": (CANARY + "\n").encode()}))
    for r in runs:
        assert not r.achieved("toctou"), str(r)
        no_traceback(r)
        if r.rc == KILLED:
            assert "connected to a socket other than /data/allowed/sock" in r.err, str(r)
        else:
            assert r.rc == 0, str(r)
            m = re.search(r"STATS iters=(\d+) ok=(\d+) denied=(\d+)", r.out)
            assert m and int(m.group(2)) > 0 and int(m.group(3)) > 0, f"race not exercised\n{r}"


@pytest.mark.parametrize("mode", ["unixleak", "unixleakproc"], ids=["thread", "clone_files"])
def test_c18_nothing_reaches_a_swapped_in_unix_socket_before_the_check(tm_cc, tmp_path_factory, mode):
    """As above, while a second thread (or a process sharing memory and the fd
    table) keeps sending on the socket being connected: the connect runs with
    the rest of the jail stopped until its peer is checked, so no byte reaches
    the forbidden socket (the jail is killed first, or the connect went to the
    allowed one)."""
    first = ("  ALLOW { renameat2 }\n"
             '  ERRNO(13) { connect(fd, addr, addrlen) { sockaddr(addr, addrlen).path under "/data/forbidden" } }\n'
             '  ALLOW { connect(fd, addr, addrlen) { sockaddr(addr, addrlen).path under "/data/allowed" } }\n')
    runs, servers = _swap_runs(tm_cc, tmp_path_factory, mode, first, lambda d: _Greeters(
        {d / "allowed" / "sock": b"ALLOWED-OK\n", d / "forbidden" / "sock": (CANARY + "\n").encode()}))
    reached = 0
    for r, srv in zip(runs, servers):
        got = {k.rsplit("/", 2)[1]: v for k, v in srv.got.items()}
        assert b"LEAK" not in got["forbidden"], f"{got['forbidden'][:40]!r}\n{r}"
        no_traceback(r)
        assert r.rc in (0, KILLED), str(r)
        if r.rc == KILLED:
            assert "connected to a socket other than /data/allowed/sock" in r.err, str(r)
        reached += b"LEAK" in got["allowed"]
    assert reached, "the sending thread never got a byte through: race not exercised"


def test_c18_symlink_swap_race_on_unix_datagrams(tm_cc, tmp_path_factory):
    """C18/C20 for datagrams: sendto/sendmsg/sendmmsg to /tmp/sa/dsock while another
    process swaps /tmp/sa between the allowed and the forbidden directory, each
    holding a datagram socket.  A datagram leaves nothing to check afterwards,
    so the send is decided again and run with the whole jail stopped: the
    forbidden socket never receives a datagram, and the race is exercised (some
    sends allowed, some refused)."""
    first = ("  ALLOW { renameat2 }\n"
             "  ERRNO(13) {\n"
             '    sendto(fd, buf, len, flags, addr, addrlen) { sockaddr(addr, addrlen).path under "/data/forbidden" },\n'
             '    sendmsg(fd, msg, flags) { msgaddr(msg).path under "/data/forbidden" },\n'
             '    sendmmsg(fd, v, n, flags) { msgaddr(v, n).path under "/data/forbidden" }\n'
             "  }\n"
             "  ALLOW {\n"
             '    sendto(fd, buf, len, flags, addr, addrlen) { sockaddr(addr, addrlen).path under "/data/allowed" },\n'
             '    sendmsg(fd, msg, flags) { msgaddr(msg).path under "/data/allowed" },\n'
             '    sendmmsg(fd, v, n, flags) { msgaddr(v, n).path under "/data/allowed" }\n'
             "  }\n")
    runs, sinks = _swap_runs(tm_cc, tmp_path_factory, "dgramswap", first, lambda d: _DgramSinks(
        [d / "allowed" / "dsock", d / "forbidden" / "dsock"]))
    for r, sink in zip(runs, sinks):
        got = {k.rsplit("/", 2)[1]: n for k, n in sink.got.items()}
        assert got["forbidden"] == 0, f"{got}\n{r}"
        no_traceback(r)
        assert r.rc == 0, str(r)
        m = re.search(r"STATS iters=(\d+) ok=(\d+) denied=(\d+)", r.out)
        assert m and int(m.group(2)) > 0 and int(m.group(3)) > 0, f"race not exercised\n{r}"
        assert got["allowed"] > 0, f"{got}\n{r}"


def test_unix_connection_cut_off(tmp_path):
    """What the supervisor does to a connect it cannot vouch for: through a
    duplicate of the fd, shut the socket down and drop what the peer sent."""
    from tracejail.supervisor.unixpeer import cut_off
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(tmp_path / "s"))
    srv.listen()
    c = socket.socket(socket.AF_UNIX)
    c.connect(str(tmp_path / "s"))
    conn, _ = srv.accept()
    conn.sendall(b"SECRET")
    cut_off(os.getpid(), c.fileno())
    assert c.recv(64) == b""                       # nothing left to read, and EOF
    with pytest.raises(OSError):
        conn.sendall(b"more")                      # the peer can send no more
    for s in (c, conn, srv):
        s.close()


def test_b13_fd_table_race_on_dirfd(tm_cc, data_dir, tmp_path, tj):
    """A CLONE_FILES child (same fd table, other process, so not frozen) keeps
    dup2()ing an allowed or a forbidden directory onto the dirfd of
    openat(20, "file").  Only /data/forbidden/file is denied; it must never be
    read (a 159 kill by the fd re-check is fine)."""
    body = ("  ERRNO(13) {\n"
            '    openat(dirfd, pathname, flags, mode) { path(pathname) == "/data/forbidden/file" }\n'
            "  }\n"
            "  ALLOW {\n"
            '    openat(dirfd, pathname, flags, mode) { path(pathname) under "/data" }\n'
            "  }\n")
    pol = prepend_policy(tmp_path, body, "fd.policy")
    r = run_jail(tj, tm_cc("tm_toctou.c"), "fdswap", "1.5", "/data/allowed", "/data/forbidden",
                 opts=[*data_opts(data_dir), "-t", "30"], policy=pol, timeout=90)
    assert CANARY not in r.out and not r.achieved("toctou"), str(r)
    no_traceback(r)
    if r.rc == KILLED:
        assert "opened /data/" in r.err, str(r)
        return
    m = re.search(r"STATS iters=(\d+) ok=(\d+) denied=(\d+)", r.out)
    assert r.rc == 0 and m, str(r)
    assert int(m.group(2)) > 0 and int(m.group(3)) > 0, f"race not exercised: {m.group(0)}\n{r}"
