"""Pathname AF_UNIX addresses are paths (threat C20, hole H4): the supervisor
resolves sun_path like a path -- relative to the tracee's cwd, symlinks
followed for connect/sendto, the last component not followed for bind -- so
a ``.path`` rule sees the file the kernel will use.  Abstract names and
autobind stay as given.  Runs the real Supervisor on the host (harness of
test_supervisor_core) with a policy object that records what it was shown."""
from __future__ import annotations

import errno
import os
import socket
import sys

from test_supervisor_core import supervise
from tracejail.verdict import Verdict

PROG = r'''
import os, socket, sys
def op(tag, kind, addr, fam=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_UNIX, fam)
    try:
        if kind == "bind": s.bind(addr)
        elif kind == "connect": s.connect(addr)
        else: s.sendto(b"x", addr)
        print(tag, "ok")
    except OSError as e:
        print(tag, "errno", e.errno)
    finally:
        s.close()
op("bind-rel", "bind", "rel.sock")
op("bind-dotdot", "bind", "../allowed/sub/../dd.sock")
op("connect-rel", "connect", "srv.sock")
op("connect-link", "connect", "out_link.sock")
op("bind-link", "bind", "new_link.sock")
op("bind-dirlink", "bind", "dirlink/x.sock")
op("sendto-link", "sendto", "out_dgram_link.sock", socket.SOCK_DGRAM)
op("bind-abstract", "bind", "\0tj-h4-%d" % os.getpid())
op("bind-auto", "bind", "")
'''


class UnixPathPolicy:
    """ALLOW AF_UNIX bind/connect/sendto whose (resolved) path is under
    ``allowed`` or is abstract/autobind; EACCES otherwise.  Records every
    SockAddr it was shown."""

    def __init__(self, allowed):
        self.allowed = str(allowed)
        self.seen = []

    def decide(self, call):
        if call.name not in ("bind", "connect", "sendto"):
            return Verdict("ALLOW", rule="other")
        sa = call.sockaddr(4, 5) if call.name == "sendto" else call.sockaddr(1, 2)
        self.seen.append((call.name, sa.address, sa.given, dict(call.resolved or {})))
        a = sa.address or ""
        if a == "" or a.startswith("@") or a == self.allowed or a.startswith(self.allowed + "/"):
            return Verdict("ALLOW", rule="allow")
        return Verdict("ERRNO", errno.EACCES, rule="deny")


def test_unix_sun_path_resolved_relative_and_through_symlinks(tmp_path):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "sub").mkdir(parents=True)
    outside.mkdir()
    srv = socket.socket(socket.AF_UNIX)
    out_srv = socket.socket(socket.AF_UNIX)
    out_dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(allowed / "srv.sock"))
    out_srv.bind(str(outside / "srv.sock"))
    out_dgram.bind(str(outside / "dgram.sock"))
    srv.listen(8)
    out_srv.listen(8)
    os.symlink(outside / "srv.sock", allowed / "out_link.sock")
    os.symlink("../outside/dgram.sock", allowed / "out_dgram_link.sock")
    os.symlink(outside / "made.sock", allowed / "new_link.sock")     # dangling: bind must not follow it
    os.symlink(outside, allowed / "dirlink")                          # a directory on the way is followed
    pol = UnixPathPolicy(allowed)
    try:
        outcome, out, _sup = supervise([sys.executable, "-S", "-c", PROG], pol, tmp_path,
                                       trace=("bind", "connect", "sendto"), cwd=allowed)
    finally:
        for s in (srv, out_srv, out_dgram):
            s.close()
    res = dict(ln.split(" ", 1) for ln in out.splitlines() if " " in ln)
    seen = {(n, g): (a, r) for n, a, g, r in pol.seen}
    A, O = str(allowed), str(outside)
    # relative names resolve against the tracee's cwd, `..` folded on real dirs
    assert seen[("bind", "rel.sock")] == (f"{A}/rel.sock", {1: f"{A}/rel.sock"}), pol.seen
    assert seen[("bind", "../allowed/sub/../dd.sock")][0] == f"{A}/dd.sock", pol.seen
    assert res["bind-rel"] == "ok" and (allowed / "rel.sock").exists(), out
    assert res["bind-dotdot"] == "ok" and (allowed / "dd.sock").exists(), out
    assert seen[("connect", "srv.sock")][0] == f"{A}/srv.sock" and res["connect-rel"] == "ok", (out, pol.seen)
    # connect/sendto follow a symlink to the socket it names: refused
    assert seen[("connect", "out_link.sock")][0] == f"{O}/srv.sock", pol.seen
    assert res["connect-link"] == f"errno {errno.EACCES}", out
    assert seen[("sendto", "out_dgram_link.sock")][0] == f"{O}/dgram.sock", pol.seen
    assert res["sendto-link"] == f"errno {errno.EACCES}", out
    # bind does not follow its last component: the link's own place is decided,
    # and the kernel refuses to bind over the existing link (nothing made outside)
    assert seen[("bind", "new_link.sock")][0] == f"{A}/new_link.sock", pol.seen
    assert res["bind-link"] == f"errno {errno.EADDRINUSE}", out
    assert not (outside / "made.sock").exists()
    assert seen[("bind", "dirlink/x.sock")][0] == f"{O}/x.sock", pol.seen
    assert res["bind-dirlink"] == f"errno {errno.EACCES}" and not (outside / "x.sock").exists(), out
    # abstract and autobind stay as they are
    assert any(n == "bind" and (a or "").startswith("@tj-h4-") and g is None for n, a, g, _r in pol.seen), pol.seen
    assert ("bind", "", None, {}) in pol.seen, pol.seen
    assert res["bind-abstract"] == "ok" and res["bind-auto"] == "ok", out
    assert outcome is not None
