"""Threat model E33: once connect() is mediated by an address rule, every
other way to put a packet on a forbidden address must be mediated too:
sendto/sendmsg/sendmmsg on UDP, sendto(MSG_FASTOPEN), v4-mapped IPv6, abstract
AF_UNIX, a connected UDP socket, oversized addrlen (tests/progs/tm_net.c).
The jail's own lo carries it: a listener inside the jail reports deliveries."""
from __future__ import annotations

import re

import pytest

from test_threat_support import no_traceback, prepend_policy, run_jail, tm_bindir, tm_cc  # noqa: F401

GOOD, BAD = 5001, 5002


@pytest.fixture
def net_policy(tmp_path):
    ok = (f'sockaddr(addr, addrlen).family == AF_INET && sockaddr(addr, addrlen).ip == "127.0.0.1" '
          f"&& sockaddr(addr, addrlen).port == {GOOD}")
    body = ("  ERRNO(13) {\n"
            f"    connect(fd, addr, addrlen) {{ !({ok}) }},\n"
            f"    sendto(fd, buf, len, flags, addr, addrlen) {{ addr != 0 && !({ok}) }}\n"
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
