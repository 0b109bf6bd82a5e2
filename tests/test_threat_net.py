"""Threat model E33: once connect() is mediated by an address rule, every
other way to put a packet on a forbidden address must be mediated too:
sendto/sendmsg/sendmmsg on UDP, sendto(MSG_FASTOPEN), v4-mapped IPv6, abstract
AF_UNIX, a connected UDP socket, oversized addrlen (tests/progs/tm_net.c).
The jail's own lo carries it: a listener inside the jail reports deliveries."""
from __future__ import annotations

import re
import socket

import pytest

from test_threat_support import KILLED, no_traceback, prepend_policy, run_jail, tm_bindir, tm_cc  # noqa: F401

GOOD, BAD = 5001, 5002


@pytest.fixture
def net_policy(tmp_path):
    ok = (f'sockaddr(addr, addrlen).family == AF_INET && sockaddr(addr, addrlen).ip == "127.0.0.1" '
          f"&& sockaddr(addr, addrlen).port == {GOOD}")
    msg_ok = lambda m: (f"{m}.family == AF_UNSPEC || ({m}.family == AF_INET && {m}.ip == \"127.0.0.1\" "  # noqa: E731
                        f"&& {m}.port == {GOOD})")
    body = ("  ERRNO(13) {\n"
            f"    connect(fd, addr, addrlen) {{ !({ok}) }},\n"
            f"    sendto(fd, buf, len, flags, addr, addrlen) {{ addr != 0 && !({ok}) }},\n"
            f"    sendmsg(fd, msg, flags) {{ !({msg_ok('msgaddr(msg)')}) }},\n"
            f"    sendmmsg(fd, mmsg, vlen, flags) {{ !({msg_ok('msgaddr(mmsg, vlen)')}) }}\n"
            "  }\n")
    return prepend_policy(tmp_path, body, "net.policy")


def test_e33_no_packet_reaches_a_forbidden_address(tj, tm_cc, net_policy):
    prog = tm_cc("tm_net.c")
    r = run_jail(tj, prog, str(GOOD), str(BAD), opts=["--iface_lo", "-t", "30"], policy=net_policy, timeout=60)
    assert "DONE" in r.out, str(r)
    # control: the allowed address reached the kernel (nobody listens there)
    assert r.errno_of("connect tcp good port") == "ECONNREFUSED", str(r)
    assert r.errno_of("connect tcp bad port") == "EACCES", str(r)
    got = re.findall(r"^RECEIVED (\S+)", r.out, re.M)
    assert got == [], f"delivered to the forbidden address: {got}\n{r}"
    no_traceback(r)


def _host_ipv4():
    import psutil
    for name, addrs in psutil.net_if_addrs().items():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return a.address
    return None


def test_e33_default_policy_network_rule_holds_on_host_network(tj, tm_cc):
    """The shipped default allows connect/sendto only to loopback.  With the
    host's network (--disable_clone_newnet) a non-loopback host address must
    receive nothing from the jail, whatever syscall carries the address."""
    ip = _host_ipv4()
    assert ip, "this test needs a non-loopback IPv4 address on the host"
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind((ip, 0))
        port = udp.getsockname()[1]
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((ip, port))
        tcp.listen(8)
        udp.setblocking(False)
        tcp.setblocking(False)
        prog = tm_cc("tm_net.c")
        r = run_jail(tj, prog, "1", str(port), ip, opts=["--disable_clone_newnet", "-t", "30"], timeout=60)
        assert "DONE" in r.out, str(r)
        assert r.errno_of("connect tcp bad port") == "EACCES", str(r)   # control: the rule exists
        got = []
        while True:
            try:
                got.append(udp.recv(256).decode(errors="replace"))
            except BlockingIOError:
                break
        try:
            conn, _ = tcp.accept()
            got.append("tcp-connection")
            conn.close()
        except BlockingIOError:
            pass
        assert got == [], f"the host address received {got} from the jail\n{r}"
        no_traceback(r)
    finally:
        udp.close()
        tcp.close()


@pytest.mark.parametrize("mode", ["inet", "abstract", "fdthread", "fdproc", "connproc"])
def test_e33_address_flipped_by_another_process(tj, tm_cc, net_policy, tmp_path, mode):
    """#12 + #33: a forked process flips the address in a shared page between an
    allowed and a forbidden one while the main process sends to it (UDP
    sendto/sendmsg) and connects to it (TCP; abstract AF_UNIX).  A send or an
    inet connect is decided again and run with the jail stopped; an AF_UNIX
    connect is checked at its exit (its peer's name) and a mismatch kills the
    jail.  fdthread/fdproc: another task sharing the fd table also switches
    the fd between a TCP socket (whose sends ignore the address, so they
    would run free) and a UDP socket.  The forbidden socket never gets a
    datagram or a connection, and the race is exercised (some calls allowed,
    some refused).  connproc: the same with blocking TCP connects, which the
    supervisor makes again once under way (when the kernel ignores the address),
    while the other process puts a fresh socket under the fd."""
    pol = net_policy if mode != "abstract" else prepend_policy(
        tmp_path, '  ERRNO(13) { connect(fd, addr, addrlen) { sockaddr(addr, addrlen).path == "@tm-bad_" } }\n',
        "abstract.policy")
    r = run_jail(tj, tm_cc("tm_netflip.c"), mode, "1.5", str(GOOD), str(BAD),
                 opts=["--iface_lo", "-t", "30"], policy=pol, timeout=60)
    assert not r.achieved("toctou"), str(r)
    no_traceback(r)
    if mode == "abstract" and r.rc == KILLED:
        assert "connected to a socket other than @tm-good" in r.err, str(r)
        return
    m = re.search(r"STATS iters=(\d+) ok=(\d+) denied=(\d+)", r.out)
    assert r.rc == 0 and m, str(r)
    assert int(m.group(2)) > 0 and int(m.group(3)) > 0, f"race not exercised: {m.group(0)}\n{r}"
