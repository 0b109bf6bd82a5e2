"""strace-style argument decoding (tracejail.supervisor.decode) over literal
call objects: flags, paths, sockaddrs, argv, faults, unknown syscalls."""
from __future__ import annotations

import errno

from tracejail.supervisor.decode import (ARGV_MAX, addr_arg, arg_names, decode, exec_arg,
                                         format_call, path_args)
from tracejail.verdict import ArgFault, SockAddr

AT_FDCWD = 0xFFFFFF9C
O_CLOEXEC = 0o2000000


class Lit:
    """A SyscallCall over literal values; a value that is an exception is raised."""

    def __init__(self, **vals):
        self.vals = vals

    def _get(self, i):
        v = self.vals[i] if i in self.vals else self.vals.get(str(i))
        if isinstance(v, Exception):
            raise v
        return v

    def string(self, i):
        return self._get(f"s{i}")

    def argv(self, i):
        return self._get(f"v{i}")

    def sockaddr(self, i, len_i):
        return self._get(f"a{i}")

    def bytes_at(self, i, n):
        return self._get(f"b{i}")[:n]

    def msg_sockaddrs(self, i, vlen_i):
        return self._get(f"m{i}")

    def path(self, i):
        raise AssertionError("decode must not resolve paths (the supervisor already did)")


def test_openat_like_strace():
    d = decode("openat", (AT_FDCWD, 0x1000, O_CLOEXEC, 0o777, 0, 0), Lit(s1=b"/etc/passwd"))
    assert d == {"dirfd": "AT_FDCWD", "pathname": "/etc/passwd", "flags": "O_RDONLY|O_CLOEXEC"}
    assert format_call("openat", d) == 'openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC)'
    d = decode("openat", (5, 0x1000, 0o1101, 0o640, 0, 0), Lit(s1=b"f"))
    assert d == {"dirfd": 5, "pathname": "f", "flags": "O_WRONLY|O_CREAT|O_TRUNC", "mode": "0640"}
    d = decode("openat", (AT_FDCWD, 1, 0o20200002, 0o600, 0, 0), Lit(s1=b"/tmp"))
    assert d["flags"] == "O_RDWR|O_TMPFILE" and d["mode"] == "0600"


def test_high_garbage_bits_do_not_change_int_args():
    # threat model A3: the kernel takes int/unsigned int, the audit must say what it did
    d = decode("ioctl", (1 | 0xDEAD << 32, 0x5412 | 1 << 32, 7, 0, 0, 0), Lit())
    assert d["fd"] == 1 and d["request"] == "TIOCSTI"
    d = decode("openat", (0x1_FFFFFF9C, 1, O_CLOEXEC | 1 << 40, 0, 0, 0), Lit(s1=b"/x"))
    assert d["dirfd"] == "AT_FDCWD" and d["flags"] == "O_RDONLY|O_CLOEXEC"


def test_faults_and_null():
    d = decode("openat", (AT_FDCWD, 0, 0, 0, 0, 0), Lit())
    assert d["pathname"] is None
    d = decode("openat", (AT_FDCWD, 8, 0, 0, 0, 0), Lit(s1=ArgFault(errno.EFAULT)))
    assert d["pathname"] == {"fault": "EFAULT"}
    d = decode("execve", (1, 2, 3, 0, 0, 0), Lit(s0=ArgFault(errno.ENAMETOOLONG),
                                                  v1=ArgFault(errno.E2BIG)))
    assert d["pathname"] == {"fault": "ENAMETOOLONG"} and d["argv"] == {"fault": "E2BIG"}
    assert format_call("execve", d).startswith("execve(<ENAMETOOLONG>, <E2BIG>")


def test_execve_argv_escaped_and_capped():
    argv = [b"sh", b"-c", b"echo \x1b[2J\n"] + [b"x"] * (ARGV_MAX + 5)
    d = decode("execve", (1, 2, 3, 0, 0, 0), Lit(s0=b"/bin/sh", v1=argv))
    assert d["pathname"] == "/bin/sh"
    assert d["argv"][:3] == ["sh", "-c", "echo \\x1b[2J\\n"]
    assert len(d["argv"]) == ARGV_MAX + 1 and d["argv"][-1] == "...(8 more)"
    assert exec_arg("execve") == "pathname" and exec_arg("openat") is None


def test_sockaddrs():
    d = decode("connect", (3, 0x10, 16, 0, 0, 0), Lit(a1=SockAddr("AF_INET", "10.0.0.1", 443)))
    assert d == {"sockfd": 3, "addr": {"family": "AF_INET", "address": "10.0.0.1", "port": 443},
                 "addrlen": 16}
    assert format_call("connect", d) == 'connect(3, {AF_INET, "10.0.0.1", port=443}, 16)'
    d = decode("bind", (3, 0x10, 5, 0, 0, 0), Lit(a1=SockAddr("AF_UNIX", "@abs\nx")))
    assert d["addr"] == {"family": "AF_UNIX", "address": "@abs\\nx"}
    d = decode("sendto", (3, 1, 2, 0, 0, 0), Lit())                 # no destination
    assert d["dest_addr"] is None
    d = decode("connect", (3, 0x10, 3, 0, 0, 0), Lit(a1=ArgFault(errno.EINVAL)))
    assert d["addr"] == {"fault": "EINVAL"}
    assert addr_arg("connect") == "addr" and addr_arg("sendto") == "dest_addr"


def _msghdr(name, namelen, iovlen, controllen=0, flags=0, msg_len=None) -> bytes:
    import struct
    raw = struct.pack("<QI4xQQQQi4x", name, namelen, 0x2000, iovlen, 0x3000 if controllen else 0,
                      controllen, flags)
    return raw if msg_len is None else raw + struct.pack("<I4x", msg_len)      # struct mmsghdr


def test_msghdrs_like_strace():
    """sendmsg/sendmmsg: the destination the policy saw (msg_sockaddrs), its
    length, the iovec and control lengths, the flags; sendmmsg shows the
    first MMSG_SHOWN entries and counts the rest."""
    from tracejail.supervisor.decode import MMSG_SHOWN
    a = SockAddr("AF_INET", "10.0.0.1", 53)
    d = decode("sendmsg", (3, 0x10, 0x40, 0, 0, 0), Lit(b1=_msghdr(0x1000, 16, 2, 24), m1=[a]))
    assert d == {"sockfd": 3, "msg": {"name": {"family": "AF_INET", "address": "10.0.0.1", "port": 53},
                                      "namelen": 16, "iovlen": 2, "controllen": 24, "flags": 0},
                 "flags": "0x40"}
    assert format_call("sendmsg", d) == \
        'sendmsg(3, {name={AF_INET, "10.0.0.1", port=53}, namelen=16, iovlen=2, controllen=24, flags=0}, 0x40)'
    n = MMSG_SHOWN + 4
    vec = _msghdr(0, 0, 1, msg_len=0) + _msghdr(0x1000, 16, 1, msg_len=0) * (n - 1)
    d = decode("sendmmsg", (3, 0x10, n, 0, 0, 0),
               Lit(b1=vec, m1=[SockAddr("AF_UNSPEC")] + [a] * (n - 1)))
    assert len(d["msgvec"]) == MMSG_SHOWN + 1 and d["msgvec"][-1] == "...(4 more)"
    assert d["msgvec"][0]["name"] is None and d["msgvec"][1]["name"]["address"] == "10.0.0.1"
    d = decode("sendmsg", (3, 0x10, 0, 0, 0, 0), Lit(m1=ArgFault(errno.EFAULT)))
    assert d["msg"] == {"fault": "EFAULT"}
    assert decode("sendmsg", (3, 0, 0, 0, 0, 0), Lit())["msg"] is None


def test_flag_and_enum_tables():
    assert decode("clone", (0x10000000 | 0x20000000 | 17, 0, 0, 0, 0, 0), Lit())["flags"] == \
        "SIGCHLD|CLONE_NEWUSER|CLONE_NEWPID"
    assert decode("unshare", (0x10000000, 0, 0, 0, 0, 0), Lit())["flags"] == "CLONE_NEWUSER"
    assert decode("socket", (2, 0o2000001, 0, 0, 0, 0), Lit())["type"] == "SOCK_STREAM|SOCK_CLOEXEC"
    assert decode("socket", (1, 2, 0, 0, 0, 0), Lit())["domain"] == "AF_UNIX"
    m = decode("mmap", (0, 4096, 7, 0x22, 0xFFFFFFFF, 0), Lit())
    assert m["prot"] == "PROT_READ|PROT_WRITE|PROT_EXEC" and m["flags"] == "MAP_PRIVATE|MAP_ANONYMOUS"
    assert m["fd"] == -1
    assert decode("kill", (0xFFFFFFFF, 9, 0, 0, 0, 0), Lit()) == {"pid": -1, "sig": "SIGKILL"}
    assert decode("prctl", (22, 2, 0, 0, 0, 0), Lit())["option"] == "PR_SET_SECCOMP"
    assert decode("ptrace", (0x4206, 5, 0, 0, 0, 0), Lit())["request"] == "PTRACE_SEIZE"
    assert decode("unlinkat", (AT_FDCWD, 1, 0x200, 0, 0, 0), Lit(s1=b"d"))["flags"] == "AT_REMOVEDIR"
    assert decode("access", (1, 6, 0, 0, 0, 0), Lit(s0=b"f"))["mode"] == "W_OK|R_OK"
    assert decode("renameat2", (AT_FDCWD, 1, AT_FDCWD, 3, 2, 0),
                  Lit(s1=b"a", s3=b"b"))["flags"] == "RENAME_EXCHANGE"
    assert decode("openat", (AT_FDCWD, 1, 0o1 | 1 << 29, 0, 0, 0), Lit(s1=b"f"))["flags"] == \
        "O_WRONLY|0x20000000"                  # unknown bits stay visible


def test_unknown_and_prototype_fallbacks():
    raw = decode(None, (1, 2, 3, 4, 5, 6), Lit())
    assert raw == {f"arg{i}": hex(i + 1) for i in range(6)}
    assert format_call(None, raw) == "syscall(0x1, 0x2, 0x3, 0x4, 0x5, 0x6)"
    # not in our table, known to python-ptrace's prototypes: decoded generically
    d = decode("statfs", (1, 0x1000, 0, 0, 0, 0), Lit(s0=b"/x"))
    assert d == {"path": "/x", "buf": "0x1000"}          # an output buffer: never read
    assert path_args("statfs") == ("path",)


def test_decoder_never_raises_on_odd_call_objects():
    class Broken:
        def string(self, i):
            raise RuntimeError("bug")
    d = decode("openat", (AT_FDCWD, 1, 0, 0, 0, 0), Broken())
    assert d["pathname"] == {"error": "RuntimeError"}


def test_format_call_is_terminal_safe():
    d = decode("openat", (AT_FDCWD, 1, 0, 0, 0, 0), Lit(s1=b'/\x1b]0;pwned\x07"\xff'))
    text = format_call("openat", d)
    assert text.isprintable() and "\x1b" not in text
    assert text == 'openat(AT_FDCWD, "/\\x1b]0;pwned\\x07\\"\\xff", O_RDONLY)'


def test_path_arg_tables():
    assert path_args("renameat2") == ("oldpath", "newpath")
    assert path_args("execveat") == ("pathname",)
    assert arg_names("openat") == ("dirfd", "pathname", "flags", "mode")
    assert path_args("read") == ()
