"""Which socket file a tracee's AF_UNIX socket is really connected to, and how
to take a connection away from it.

The policy decides a pathname connect() on the path it resolved; another task
of the jail could swap a symlink on that path before the kernel looks it up
(threats #18, #20), and a connect may block for a peer, so the jail cannot be
kept stopped around it.  Instead the supervisor checks the result at the
syscall's exit: the kernel's sock_diag (NETLINK_SOCK_DIAG, unix_diag) names
the peer of the tracee's socket and the inode and device of the file that
peer is bound to; they must be the file the decision was about.  A peer that
was accepted and closed at once has no inode left: then its address (which
outlives it) names the listener, and every socket bound under that name must
be bound to that one file.  When the kernel cannot say, the connection is
cut off (cut_off) and the connect fails.

One request by hand rather than through pyroute2: importing pyroute2 costs
~200 ms here, which would stall the jail at its first checked connect.
Sockets live in network namespaces: requests go through netlink sockets
opened in the tracee's namespace (setns there and back, on this thread) and
in the supervisor's own (a host socket bound into the jail).  A peer in any
other namespace cannot be checked: the caller then fails closed.
"""
from __future__ import annotations

import os
import socket
import struct

from tracejail.jail import libc

NR_PIDFD_GETFD = 438
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
UDIAG_SHOW_NAME = 0x01
UDIAG_SHOW_VFS = 0x02
UDIAG_SHOW_PEER = 0x04
UDIAG_SHOW_ICONS = 0x08
UNIX_DIAG_NAME = 0
UNIX_DIAG_VFS = 1
UNIX_DIAG_PEER = 2
UNIX_DIAG_ICONS = 3
CLONE_NEWNET = 0x40000000
_HDR = struct.Struct("=IHHII")                 # struct nlmsghdr
_REQ = struct.Struct("=BBHIIIII")              # struct unix_diag_req (cookie: 2 x u32)
_MSG = struct.Struct("=BBBBIQ")                # struct unix_diag_msg
_NOCOOKIE = 0xFFFFFFFF

_socks: dict[int, socket.socket] = {}          # netns inode -> sock_diag socket in it


class PeerUnknown(Exception):
    """The kernel would not say (no such socket, sock_diag refused)."""


def _diag_socket(ns_path: str) -> socket.socket:
    """A sock_diag socket in the network namespace at ns_path (cached)."""
    ns = os.stat(ns_path).st_ino
    s = _socks.get(ns)
    if s is not None:
        return s
    if ns == os.stat("/proc/self/ns/net").st_ino:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
    else:
        own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        theirs = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            libc.setns(theirs, CLONE_NEWNET)
            try:
                s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  NETLINK_SOCK_DIAG)
            finally:
                libc.setns(own, CLONE_NEWNET)
        finally:
            os.close(own)
            os.close(theirs)
    _socks[ns] = s
    return s


def _request(s: socket.socket, ino: int, show: int, dump: bool = False):
    """(inode, {attribute: bytes}) for the AF_UNIX socket with this inode, or
    for every one in the namespace (dump)."""
    req = _REQ.pack(socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0 if dump else ino, show, _NOCOOKIE, _NOCOOKIE)
    flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0)
    s.send(_HDR.pack(_HDR.size + len(req), SOCK_DIAG_BY_FAMILY, flags, 0, 0) + req)
    while True:
        data = s.recv(1 << 16)
        pos = 0
        while pos + _HDR.size <= len(data):
            length, kind, _flags, _seq, _pid = _HDR.unpack_from(data, pos)
            if length < _HDR.size:
                return
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                err = -struct.unpack_from("=i", data, pos + _HDR.size)[0]
                raise PeerUnknown(f"sock_diag: {os.strerror(err) if err else 'error'}")
            ino_here = _MSG.unpack_from(data, pos + _HDR.size)[4]
            off, end = pos + _HDR.size + _MSG.size, pos + length
            attrs = {}
            while off + 4 <= end:
                alen, atype = struct.unpack_from("=HH", data, off)
                if alen < 4:
                    break
                attrs[atype] = data[off + 4:off + alen]
                off += (alen + 3) & ~3
            yield ino_here, attrs
            pos += (length + 3) & ~3
        if not dump:
            return


def _vfs(attrs: dict) -> tuple[int, int, int] | None:
    vfs = attrs.get(UNIX_DIAG_VFS)
    if vfs is None:
        return None
    ino, dev = struct.unpack_from("=II", vfs)
    return dev >> 20, dev & 0xFFFFF, ino       # the kernel's dev_t: 12-bit major, 20-bit minor


def peer_file(tid: int, fd: int) -> tuple[int, int, int] | None:
    """(major, minor, inode) of the file the peer of socket ``fd`` of task
    ``tid`` is bound to; None if the peer has no file (abstract or unnamed,
    or not connected).  PeerUnknown / OSError if the kernel would not say."""
    link = os.readlink(f"/proc/{tid}/fd/{fd}")
    if not (link.startswith("socket:[") and link.endswith("]")):
        raise PeerUnknown(f"fd {fd} is not a socket: {link}")
    ino = int(link[8:-1])
    jail = _diag_socket(f"/proc/{tid}/ns/net")
    # the peer may live in the jail's namespace or, for a host socket bound into
    # the jail, in ours; every reply is read to its end (list): a half-read one
    # would answer the next request
    spaces = [jail] + [s for s in (_diag_socket("/proc/self/ns/net"),) if s is not jail]
    for _attempt in range(3):                  # the peer may be accepted in between: ask again
        mine = dict(list(_request(jail, ino, UDIAG_SHOW_PEER))).get(ino, {})
        if UNIX_DIAG_PEER not in mine:
            return None
        peer = struct.unpack_from("=I", mine[UNIX_DIAG_PEER])[0]
        for s in spaces if peer else ():       # accepted, or a datagram server
            try:
                for _ino, attrs in list(_request(s, peer, UDIAG_SHOW_VFS)):
                    return _vfs(attrs)
            except PeerUnknown:
                pass
        # not accepted yet (no inode): it waits in a listener's queue, which names our socket
        for s in spaces:
            for _ino, attrs in list(_request(s, 0, UDIAG_SHOW_VFS | UDIAG_SHOW_ICONS, dump=True)):
                icons = attrs.get(UNIX_DIAG_ICONS, b"")
                if ino in struct.unpack("=%dI" % (len(icons) // 4), icons[:len(icons) // 4 * 4]):
                    return _vfs(attrs)
    # gone already (accepted and closed at once): its address outlives it, and
    # every socket bound under that name must be bound to one and the same file
    name = peer_name(_tgid_of(tid), fd)
    files = {_vfs(attrs) for s in spaces
             for _ino, attrs in list(_request(s, 0, UDIAG_SHOW_NAME | UDIAG_SHOW_VFS, dump=True))
             if attrs.get(UNIX_DIAG_NAME, b"").split(b"\0", 1)[0] == name}
    if len(files) == 1 and None not in files:
        return files.pop()
    raise PeerUnknown(f"the peer of socket {ino} is in no namespace this supervisor can see")


def _tgid_of(tid: int) -> int:
    with open(f"/proc/{tid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"Tgid:"):
                return int(line.split()[1])
    raise PeerUnknown(f"task {tid} gone")


def dup(tgid: int, fd: int) -> socket.socket:
    """The task's socket fd, duplicated into this process (pidfd_getfd)."""
    pidfd = os.pidfd_open(tgid)
    try:
        return socket.socket(fileno=libc.raw_syscall(NR_PIDFD_GETFD, pidfd, fd, 0, what="pidfd_getfd"))
    finally:
        os.close(pidfd)


def peer_name(tgid: int, fd: int) -> bytes:
    """The address the peer was bound to (getpeername), as bytes."""
    s = dup(tgid, fd)
    try:
        name = s.getpeername()
    finally:
        s.close()
    return os.fsencode(name) if isinstance(name, str) else bytes(name)


def file_id(path: str) -> tuple[int, int, int]:
    """(major, minor, inode) of a file, comparable with peer_file()."""
    st = os.stat(path)
    return os.major(st.st_dev), os.minor(st.st_dev), st.st_ino & 0xFFFFFFFF


def cut_off(tgid: int, fd: int) -> None:
    """Take a connection the supervisor cannot vouch for away from the task:
    shut its socket down both ways (the peer can send nothing more) and throw
    away what the peer already sent, through a duplicate of the task's fd
    (pidfd_getfd).  The caller then fails the connect()."""
    s = dup(tgid, fd)
    try:
        s.shutdown(socket.SHUT_RDWR)
        while True:
            try:
                if not s.recv(1 << 16, socket.MSG_DONTWAIT):
                    break
            except BlockingIOError:
                break
    finally:
        s.close()
