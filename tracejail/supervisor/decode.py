"""strace-style decoding of syscall arguments for the audit log (issue 5).

API (called by the supervisor on every supervised stop; cheap and lazy):

    decode(name: str | None, args: tuple[int, ...], call) -> dict
        ``call`` implements tracejail.verdict.SyscallCall (string(i), argv(i),
        sockaddr(i, len_i); path(i) is NOT called: resolved paths are the
        supervisor's business, passed to AuditLog.syscall(resolved=...)).
        Returns {arg_name: value} in argument order, e.g. for openat
        {"dirfd": "AT_FDCWD", "pathname": "/etc/passwd",
         "flags": "O_RDONLY|O_CLOEXEC", "mode": "0"}.
        Values are JSON-ready: int, str, None (a NULL pointer), list (argv),
        dict (sockaddr {"family", "address", "port"}) or {"fault": "EFAULT"}
        when a read raised ArgFault.  Strings from tracee memory are escaped
        with tracejail.audit.records.escape_bytes (no control characters, no
        invalid UTF-8, unambiguous).  Unknown syscalls (name None) get the raw
        fallback {"arg0": "0x...", ..., "arg5": "0x..."}; syscalls known to
        python-ptrace's prototypes but not to our table are decoded generically
        from the prototype.  Never raises for bad tracee data.

    format_call(name: str | None, decoded: dict) -> str
        One line, strace-like: 'openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC, 0)'.
        Terminal-safe (strings are escaped, quotes escaped).

    path_args(name) -> tuple[str, ...]      names of the path arguments of a syscall
    arg_names(name) -> tuple[str, ...]      all argument names (index -> name)
    exec_arg(name) -> str | None            the program argument of execve/execveat
    addr_arg(name) -> str | None            the sockaddr argument (connect, bind, sendto...)

Integer arguments that the kernel takes as ``int`` are read as the low 32 bits,
sign-extended (threat-model A3: high garbage bits must not change what the
audit says the call did).  Tables: open/prot/access bitmasks and socket
families come from python-ptrace (ptrace/syscall/*), imported on first use;
the rest (newer clone flags, AT_*, MAP_*, prctl, ptrace, ioctl names) are
kernel facts listed here.
"""
from __future__ import annotations

import errno as _errno
import signal as _signal
import struct as _struct

from tracejail.audit.records import escape_bytes
from tracejail.supervisor.call import cache_key
from tracejail.verdict import ArgFault

__all__ = ["decode", "format_call", "path_args", "arg_names", "exec_arg", "addr_arg"]

ARGV_MAX = 1024          # execve argv entries recorded; the rest are counted
_MSGHDR = _struct.Struct("<QI4xQQQQi")   # msg_name, namelen, iov, iovlen, control, controllen, flags

# ---------------------------------------------------------------- value kinds


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


def _bits(v: int, table, empty: str = "0") -> str:
    out = []
    for mask, text in table:
        if v & mask == mask:
            out.append(text)
            v &= ~mask
    if v:
        out.append(hex(v))
    return "|".join(out) if out else empty


def _fault(e: ArgFault) -> dict:
    return {"fault": _errno.errorcode.get(e.errno, str(e.errno))}


def k_int(args, i, call):
    return _s32(args[i])


def k_uint(args, i, call):
    return args[i]


def k_hex(args, i, call):
    return hex(args[i])


def k_fd(args, i, call):
    return _s32(args[i])


def k_dirfd(args, i, call):
    v = _s32(args[i])
    return "AT_FDCWD" if v == -100 else v


def k_str(args, i, call):
    if not args[i]:
        return None
    try:
        return escape_bytes(call.string(i))
    except ArgFault as e:
        return _fault(e)


def k_argv(args, i, call):
    if not args[i]:
        return None
    try:
        items = call.argv(i)
    except ArgFault as e:
        return _fault(e)
    out = [escape_bytes(a) for a in items[:ARGV_MAX]]
    if len(items) > ARGV_MAX:
        out.append("...(%d more)" % (len(items) - ARGV_MAX))
    return out


def _sockaddr_dict(sa) -> dict:
    d = {"family": sa.family}
    addr = sa.address if getattr(sa, "given", None) is None else sa.given  # resolved: in `resolved`
    if addr is not None:
        d["address"] = escape_bytes(addr.encode("utf-8", "surrogateescape")) \
            if isinstance(addr, str) else escape_bytes(bytes(addr))
    if sa.port is not None:
        d["port"] = sa.port
    return d


def _k_sockaddr(len_index):
    def k_sockaddr(args, i, call):
        if not args[i]:
            return None
        try:
            sa = call.sockaddr(i, len_index)
        except ArgFault as e:
            return _fault(e)
        return _sockaddr_dict(sa)
    return k_sockaddr


MMSG_SHOWN = 16          # sendmmsg entries recorded; the rest are counted


def _k_msghdrs(vlen_index):
    """sendmsg's struct msghdr (vlen_index None) or sendmmsg's mmsghdr array, as
    strace shows them: the destination (the one the policy saw: the
    interpreter's msg_addrs, cached on the call), its length, the iovec and
    control lengths and the flags."""
    def k_msghdr(args, i, call):
        from tracejail.policy.interpreter import MMSGHDR_SIZE, MSGHDR_SIZE, UIO_MAXIOV, msg_addrs
        if not args[i]:
            return None
        n = 1 if vlen_index is None else min(args[vlen_index] & 0xFFFFFFFF, UIO_MAXIOV)
        stride = MSGHDR_SIZE if vlen_index is None else MMSGHDR_SIZE
        try:
            addrs = msg_addrs(call, i, vlen_index)
            raw = call.bytes_at(i, stride * n) if n else b""
        except ArgFault as e:
            return _fault(e)
        out = []
        for k in range(min(n, MMSG_SHOWN)):
            name, namelen, _iov, iovlen, _ctl, ctllen, flags = _MSGHDR.unpack_from(raw, k * stride)
            out.append({"name": _sockaddr_dict(addrs[k]) if name else None, "namelen": namelen,
                        "iovlen": iovlen, "controllen": ctllen, "flags": _s32(flags)})
        if vlen_index is None:
            return out[0]
        if n > MMSG_SHOWN:
            out.append("...(%d more)" % (n - MMSG_SHOWN))
        return out
    return k_msghdr


def k_mode(args, i, call):
    return "0%o" % (args[i] & 0o7777) if args[i] & 0o7777 else "0"


_FLAG_CACHE: dict = {}      # (table, value) -> text; flag values repeat, formatting is the cost


def _cached_bits(table_name, v, empty):
    key = (table_name, v)
    text = _FLAG_CACHE.get(key)
    if text is None:
        if table_name == "oflags":
            acc = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}.get(v & 3, "O_ACCMODE")
            rest = _bits(v & ~3, _tables()["open"], "")
            text = acc + "|" + rest if rest else acc
        else:
            text = _bits(v, _tables()[table_name], empty)
        if len(_FLAG_CACHE) < 4096:
            _FLAG_CACHE[key] = text
    return text


def k_oflags(args, i, call):
    return _cached_bits("oflags", args[i] & 0xFFFFFFFF, "")


def _flags(table_name, empty="0", mask32=True):
    def k(args, i, call):
        return _cached_bits(table_name, args[i] & 0xFFFFFFFF if mask32 else args[i], empty)
    return k


def _enum(table_name, mask32=True):
    def k(args, i, call):
        v = args[i] & 0xFFFFFFFF if mask32 else args[i]
        name = _tables()[table_name].get(v)
        return name if name is not None else (_s32(v) if mask32 else v)
    return k


def k_signal(args, i, call):
    v = _s32(args[i])
    return _SIGNALS.get(v, v)


def k_clone(args, i, call):
    v = args[i]
    sig = v & 0xFF
    rest = _bits(v & ~0xFF, _tables()["clone"], "")
    parts = [p for p in (_SIGNALS.get(sig, str(sig)) if sig else "", rest) if p]
    return "|".join(parts) if parts else "0"


def k_socktype(args, i, call):
    v = args[i] & 0xFFFFFFFF
    base = _tables()["socktype"].get(v & 0xF, str(v & 0xF))
    extra = _bits(v & ~0xF, ((0o4000, "SOCK_NONBLOCK"), (0o2000000, "SOCK_CLOEXEC")), "")
    return base + "|" + extra if extra else base


_SIGNALS = {int(s): s.name for s in _signal.Signals if not s.name.startswith("SIG_")}

# ---------------------------------------------------------------- tables

_T: dict | None = None


def _tables() -> dict:
    """Bitmask/enum tables, built once on first use (python-ptrace import is
    ~50 ms; we only pay it when a flag argument is actually decoded)."""
    global _T
    if _T is not None:
        return _T
    from ptrace.syscall.posix_arg import (ACCESS_MODE_BITMASK, MMAP_PROT_BITMASK,
                                          OPEN_FLAGS_BITMASK)
    from ptrace.syscall.linux_constants import RLIMIT_RESOURCE
    from ptrace.syscall.socketcall_constants import SOCKET_FAMILY, SOCKET_TYPE
    # python-ptrace lists O_TMPFILE as O_DIRECTORY|__O_TMPFILE: test it first
    open_flags = sorted(OPEN_FLAGS_BITMASK, key=lambda mt: -bin(mt[0]).count("1"))
    fam = dict(SOCKET_FAMILY)
    fam.update({1: "AF_UNIX", 38: "AF_ALG", 40: "AF_VSOCK", 44: "AF_XDP"})
    _T = {
        "open": tuple(open_flags),
        "prot": tuple(MMAP_PROT_BITMASK),
        "access": tuple(ACCESS_MODE_BITMASK),
        "family": fam,
        "socktype": dict(SOCKET_TYPE),
        "clone": (
            (0x80, "CLONE_NEWTIME"), (0x100, "CLONE_VM"), (0x200, "CLONE_FS"),
            (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"), (0x1000, "CLONE_PIDFD"),
            (0x2000, "CLONE_PTRACE"), (0x4000, "CLONE_VFORK"), (0x8000, "CLONE_PARENT"),
            (0x10000, "CLONE_THREAD"), (0x20000, "CLONE_NEWNS"), (0x40000, "CLONE_SYSVSEM"),
            (0x80000, "CLONE_SETTLS"), (0x100000, "CLONE_PARENT_SETTID"),
            (0x200000, "CLONE_CHILD_CLEARTID"), (0x400000, "CLONE_DETACHED"),
            (0x800000, "CLONE_UNTRACED"), (0x1000000, "CLONE_CHILD_SETTID"),
            (0x2000000, "CLONE_NEWCGROUP"), (0x4000000, "CLONE_NEWUTS"),
            (0x8000000, "CLONE_NEWIPC"), (0x10000000, "CLONE_NEWUSER"),
            (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET"),
            (0x80000000, "CLONE_IO"), (0x100000000, "CLONE_CLEAR_SIGHAND"),
            (0x200000000, "CLONE_INTO_CGROUP")),
        "at": ((0x100, "AT_SYMLINK_NOFOLLOW"), (0x400, "AT_SYMLINK_FOLLOW"),
               (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH"),
               (0x200, "AT_EACCESS_OR_REMOVEDIR")),
        "unlink": ((0x200, "AT_REMOVEDIR"),),
        "faccess": ((0x200, "AT_EACCESS"), (0x100, "AT_SYMLINK_NOFOLLOW"),
                    (0x1000, "AT_EMPTY_PATH")),
        "mmap": ((0x3, "MAP_SHARED_VALIDATE"), (0x1, "MAP_SHARED"), (0x2, "MAP_PRIVATE"),
                 (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"),
                 (0x100, "MAP_GROWSDOWN"), (0x800, "MAP_DENYWRITE"),
                 (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"),
                 (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"),
                 (0x10000, "MAP_NONBLOCK"), (0x20000, "MAP_STACK"),
                 (0x40000, "MAP_HUGETLB"), (0x80000, "MAP_SYNC"),
                 (0x100000, "MAP_FIXED_NOREPLACE")),
        "rename": ((1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT")),
        "mount": ((1, "MS_RDONLY"), (2, "MS_NOSUID"), (4, "MS_NODEV"), (8, "MS_NOEXEC"),
                  (16, "MS_SYNCHRONOUS"), (32, "MS_REMOUNT"), (1024, "MS_NOATIME"),
                  (4096, "MS_BIND"), (8192, "MS_MOVE"), (16384, "MS_REC"),
                  (1 << 17, "MS_UNBINDABLE"), (1 << 18, "MS_PRIVATE"),
                  (1 << 19, "MS_SLAVE"), (1 << 20, "MS_SHARED")),
        "umount": ((1, "MNT_FORCE"), (2, "MNT_DETACH"), (4, "MNT_EXPIRE"),
                   (8, "UMOUNT_NOFOLLOW")),
        "execveat": ((0x100, "AT_SYMLINK_NOFOLLOW"), (0x1000, "AT_EMPTY_PATH")),
        "prctl": {1: "PR_SET_PDEATHSIG", 2: "PR_GET_PDEATHSIG", 3: "PR_GET_DUMPABLE",
                  4: "PR_SET_DUMPABLE", 8: "PR_SET_KEEPCAPS", 15: "PR_SET_NAME",
                  16: "PR_GET_NAME", 21: "PR_GET_SECCOMP", 22: "PR_SET_SECCOMP",
                  23: "PR_CAPBSET_READ", 24: "PR_CAPBSET_DROP", 28: "PR_SET_SECUREBITS",
                  35: "PR_SET_MM", 36: "PR_SET_CHILD_SUBREAPER",
                  37: "PR_GET_CHILD_SUBREAPER", 38: "PR_SET_NO_NEW_PRIVS",
                  39: "PR_GET_NO_NEW_PRIVS", 47: "PR_CAP_AMBIENT",
                  0x59616D61: "PR_SET_PTRACER", 0x53564D41: "PR_SET_VMA"},
        "ptrace": {0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA",
                   3: "PTRACE_PEEKUSER", 4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA",
                   6: "PTRACE_POKEUSER", 7: "PTRACE_CONT", 8: "PTRACE_KILL",
                   9: "PTRACE_SINGLESTEP", 12: "PTRACE_GETREGS", 13: "PTRACE_SETREGS",
                   16: "PTRACE_ATTACH", 17: "PTRACE_DETACH", 24: "PTRACE_SYSCALL",
                   0x4200: "PTRACE_SETOPTIONS", 0x4201: "PTRACE_GETEVENTMSG",
                   0x4202: "PTRACE_GETSIGINFO", 0x4206: "PTRACE_SEIZE",
                   0x4207: "PTRACE_INTERRUPT", 0x4208: "PTRACE_LISTEN"},
        "ioctl": {0x5401: "TCGETS", 0x5402: "TCSETS", 0x540F: "TIOCGPGRP",
                  0x5410: "TIOCSPGRP", 0x5412: "TIOCSTI", 0x5413: "TIOCGWINSZ",
                  0x5414: "TIOCSWINSZ", 0x541B: "FIONREAD", 0x541C: "TIOCLINUX",
                  0x5421: "FIONBIO", 0x5450: "FIONCLEX", 0x5451: "FIOCLEX",
                  0x540E: "TIOCSCTTY", 0x5422: "TIOCNOTTY"},
        "seccomp": {0: "SECCOMP_SET_MODE_STRICT", 1: "SECCOMP_SET_MODE_FILTER",
                    2: "SECCOMP_GET_ACTION_AVAIL", 3: "SECCOMP_GET_NOTIF_SIZES"},
        "whence": {0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA",
                   4: "SEEK_HOLE"},
        "archprctl": {0x1001: "ARCH_SET_GS", 0x1002: "ARCH_SET_FS", 0x1003: "ARCH_GET_FS",
                      0x1004: "ARCH_GET_GS", 0x1011: "ARCH_GET_CPUID", 0x1012: "ARCH_SET_CPUID",
                      0x3001: "ARCH_CET_STATUS", 0x5001: "ARCH_SHSTK_ENABLE",
                      0x5005: "ARCH_SHSTK_STATUS"},
        "rlimit": dict(RLIMIT_RESOURCE),
        "sighow": {0: "SIG_BLOCK", 1: "SIG_UNBLOCK", 2: "SIG_SETMASK"},
        "fcntl": {0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL",
                  5: "F_GETLK", 6: "F_SETLK", 7: "F_SETLKW", 8: "F_SETOWN", 9: "F_GETOWN",
                  1024: "F_SETLEASE", 1025: "F_GETLEASE", 1030: "F_DUPFD_CLOEXEC",
                  1031: "F_SETPIPE_SZ", 1032: "F_GETPIPE_SZ", 1033: "F_ADD_SEALS",
                  1034: "F_GET_SEALS"},
    }
    return _T


# ---------------------------------------------------------------- syscalls

# name -> "arg:kind ..." (parsed once per name on first use).  Kinds map to
# the k_* functions above; "sockaddr@N" takes its length from argument N.
_SPECS = {
    "open": "pathname:path flags:oflags mode:mode",
    "creat": "pathname:path mode:mode",
    "openat": "dirfd:dirfd pathname:path flags:oflags mode:mode",
    "openat2": "dirfd:dirfd pathname:path how:ptr size:uint",
    "execve": "pathname:path argv:argv envp:ptr",
    "execveat": "dirfd:dirfd pathname:path argv:argv envp:ptr flags:execveat",
    "connect": "sockfd:fd addr:sockaddr@2 addrlen:int",
    "bind": "sockfd:fd addr:sockaddr@2 addrlen:int",
    "sendto": "sockfd:fd buf:ptr len:uint flags:hex dest_addr:sockaddr@5 addrlen:int",
    "sendmsg": "sockfd:fd msg:msghdr flags:hex",
    "sendmmsg": "sockfd:fd msgvec:msghdr@2 vlen:uint flags:hex",
    "accept": "sockfd:fd addr:ptr addrlen:ptr",
    "accept4": "sockfd:fd addr:ptr addrlen:ptr flags:socktype",
    "socket": "domain:family type:socktype protocol:int",
    "socketpair": "domain:family type:socktype protocol:int sv:ptr",
    "listen": "sockfd:fd backlog:int",
    "stat": "pathname:path statbuf:ptr",
    "lstat": "pathname:path statbuf:ptr",
    "newfstatat": "dirfd:dirfd pathname:path statbuf:ptr flags:at",
    "fstatat64": "dirfd:dirfd pathname:path statbuf:ptr flags:at",
    "statx": "dirfd:dirfd pathname:path flags:at mask:hex statxbuf:ptr",
    "access": "pathname:path mode:access",
    "faccessat": "dirfd:dirfd pathname:path mode:access",
    "faccessat2": "dirfd:dirfd pathname:path mode:access flags:faccess",
    "readlink": "pathname:path buf:ptr bufsiz:uint",
    "readlinkat": "dirfd:dirfd pathname:path buf:ptr bufsiz:uint",
    "unlink": "pathname:path",
    "unlinkat": "dirfd:dirfd pathname:path flags:unlink",
    "rmdir": "pathname:path",
    "mkdir": "pathname:path mode:mode",
    "mkdirat": "dirfd:dirfd pathname:path mode:mode",
    "mknod": "pathname:path mode:hex dev:hex",
    "mknodat": "dirfd:dirfd pathname:path mode:hex dev:hex",
    "rename": "oldpath:path newpath:path",
    "renameat": "olddirfd:dirfd oldpath:path newdirfd:dirfd newpath:path",
    "renameat2": "olddirfd:dirfd oldpath:path newdirfd:dirfd newpath:path flags:rename",
    "link": "oldpath:path newpath:path",
    "linkat": "olddirfd:dirfd oldpath:path newdirfd:dirfd newpath:path flags:at",
    "symlink": "target:str linkpath:path",
    "symlinkat": "target:str newdirfd:dirfd linkpath:path",
    "chmod": "pathname:path mode:mode",
    "fchmodat": "dirfd:dirfd pathname:path mode:mode",
    "fchmodat2": "dirfd:dirfd pathname:path mode:mode flags:at",
    "chown": "pathname:path owner:int group:int",
    "lchown": "pathname:path owner:int group:int",
    "fchownat": "dirfd:dirfd pathname:path owner:int group:int flags:at",
    "truncate": "path:path length:int64",
    "chdir": "path:path",
    "fchdir": "fd:fd",
    "chroot": "path:path",
    "utime": "filename:path times:ptr",
    "utimes": "filename:path times:ptr",
    "utimensat": "dirfd:dirfd pathname:path times:ptr flags:at",
    "futimesat": "dirfd:dirfd pathname:path times:ptr",
    "mount": "source:str target:path filesystemtype:str mountflags:mount data:ptr",
    "umount2": "target:path flags:umount",
    "umount": "target:path",
    "pivot_root": "new_root:path put_old:path",
    "swapon": "path:path swapflags:hex",
    "swapoff": "path:path",
    "acct": "filename:path",
    "inotify_add_watch": "fd:fd pathname:path mask:hex",
    "getxattr": "path:path name:str value:ptr size:uint",
    "lgetxattr": "path:path name:str value:ptr size:uint",
    "setxattr": "path:path name:str value:ptr size:uint flags:int",
    "lsetxattr": "path:path name:str value:ptr size:uint flags:int",
    "listxattr": "path:path list:ptr size:uint",
    "llistxattr": "path:path list:ptr size:uint",
    "removexattr": "path:path name:str",
    "lremovexattr": "path:path name:str",
    "mq_open": "name:str oflag:oflags mode:mode attr:ptr",
    "mq_unlink": "name:str",
    "name_to_handle_at": "dirfd:dirfd pathname:path handle:ptr mount_id:ptr flags:at",
    "open_by_handle_at": "mount_fd:fd handle:ptr flags:oflags",
    "open_tree": "dirfd:dirfd pathname:path flags:hex",
    "move_mount": "from_dirfd:dirfd from_pathname:path to_dirfd:dirfd to_pathname:path flags:hex",
    "fsopen": "fsname:str flags:hex",
    "mount_setattr": "dirfd:dirfd pathname:path flags:hex attr:ptr size:uint",
    "clone": "flags:clone stack:ptr parent_tid:ptr child_tid:ptr tls:ptr",
    "clone3": "cl_args:ptr size:uint",
    "unshare": "flags:nsflags",
    "setns": "fd:fd nstype:nsflags",
    "kill": "pid:int sig:signal",
    "tkill": "tid:int sig:signal",
    "tgkill": "tgid:int tid:int sig:signal",
    "pidfd_send_signal": "pidfd:fd sig:signal info:ptr flags:hex",
    "pidfd_open": "pid:int flags:hex",
    "pidfd_getfd": "pidfd:fd targetfd:fd flags:hex",
    "ptrace": "request:ptrace pid:int addr:ptr data:ptr",
    "process_vm_readv": "pid:int local_iov:ptr liovcnt:uint remote_iov:ptr riovcnt:uint flags:hex",
    "process_vm_writev": "pid:int local_iov:ptr liovcnt:uint remote_iov:ptr riovcnt:uint flags:hex",
    "prctl": "option:prctl arg2:hex arg3:hex arg4:hex arg5:hex",
    "ioctl": "fd:fd request:ioctl arg:hex",
    "mmap": "addr:ptr length:uint prot:prot flags:mmap fd:fd offset:hex",
    "mmap2": "addr:ptr length:uint prot:prot flags:mmap fd:fd pgoffset:hex",
    "mprotect": "addr:ptr len:uint prot:prot",
    "seccomp": "operation:seccomp flags:hex args:ptr",
    "personality": "persona:hex",
    "memfd_create": "name:str flags:hex",
    "setpriority": "which:int who:int prio:int",
    "lseek": "fd:fd offset:int64 whence:whence",
    "close": "fd:fd",
    "read": "fd:fd buf:ptr count:uint",
    "write": "fd:fd buf:ptr count:uint",
    "dup2": "oldfd:fd newfd:fd",
    "dup3": "oldfd:fd newfd:fd flags:oflags",
    "exit": "status:int",
    "exit_group": "status:int",
    "getpid": "",
    "getppid": "",
    "arch_prctl": "code:archprctl addr:hex",
    "rseq": "rseq:ptr rseq_len:uint flags:hex sig:hex",
    "prlimit64": "pid:int resource:rlimit new_limit:ptr old_limit:ptr",
    "getrlimit": "resource:rlimit rlim:ptr",
    "setrlimit": "resource:rlimit rlim:ptr",
    "rt_sigaction": "signum:signal act:ptr oldact:ptr sigsetsize:uint",
    "rt_sigprocmask": "how:sighow set:ptr oldset:ptr sigsetsize:uint",
    "fcntl": "fd:fd cmd:fcntl arg:hex",
    "wait4": "pid:int wstatus:ptr options:hex rusage:ptr",
    "getrandom": "buf:ptr buflen:uint flags:hex",
    "getcwd": "buf:ptr size:uint",
    "fstat": "fd:fd statbuf:ptr",
    "pread64": "fd:fd buf:ptr count:uint offset:int64",
    "pwrite64": "fd:fd buf:ptr count:uint offset:int64",
    "munmap": "addr:ptr length:uint",
    "brk": "addr:ptr",
}

_KINDS = {
    "int": k_int, "uint": k_uint, "int64": k_uint, "hex": k_hex, "ptr": k_hex,
    "fd": k_fd, "dirfd": k_dirfd, "path": k_str, "str": k_str, "argv": k_argv,
    "mode": k_mode, "oflags": k_oflags, "signal": k_signal, "clone": k_clone,
    "socktype": k_socktype,
    "nsflags": _flags("clone"),
    "prot": _flags("prot", "PROT_NONE"), "access": _flags("access", "F_OK"),
    "at": _flags("at"), "unlink": _flags("unlink"), "faccess": _flags("faccess"),
    "mmap": _flags("mmap"), "rename": _flags("rename"), "mount": _flags("mount", mask32=False),
    "umount": _flags("umount"), "execveat": _flags("execveat"),
    "family": _enum("family"), "prctl": _enum("prctl"), "ptrace": _enum("ptrace", mask32=False),
    "ioctl": _enum("ioctl"), "seccomp": _enum("seccomp"), "whence": _enum("whence"),
    "archprctl": _enum("archprctl"), "rlimit": _enum("rlimit"), "sighow": _enum("sighow"),
    "fcntl": _enum("fcntl"),
}

_PARSED: dict = {}
_MODE_IF_CREAT = {"open": 1, "openat": 2, "mq_open": 1}    # name -> index of the flags argument
_PATH_KINDS = ("path",)


def _parse(name: str | None):
    """name -> tuple of (index, arg_name, kind_name, fn); cached per name."""
    spec = _SPECS.get(name) if name else None
    if spec is None:
        spec = _from_prototype(name) if name else None
    if spec is None:
        entry = tuple((i, "arg%d" % i, "hex", k_hex) for i in range(6))
    else:
        entry = []
        for i, item in enumerate(spec.split()):
            arg, kind = item.split(":")
            if kind.startswith("sockaddr@"):
                fn = _k_sockaddr(int(kind[9:]))
                kind = "sockaddr"
            elif kind.startswith("msghdr"):
                fn = _k_msghdrs(int(kind[7:]) if "@" in kind else None)
                kind = "msghdr"
            else:
                fn = _KINDS[kind]
            entry.append((i, arg, kind, fn))
        entry = tuple(entry)
    _PARSED[name] = entry
    return entry


def _from_prototype(name: str) -> str | None:
    """Generic spec from python-ptrace's prototype table (names and C types)."""
    try:
        from ptrace.syscall.prototypes import FILENAME_ARGUMENTS, SYSCALL_PROTOTYPES
    except Exception:                       # pragma: no cover - dependency is declared
        return None
    proto = SYSCALL_PROTOTYPES.get(name)
    if proto is None:
        return None
    items = []
    for ctype, arg in proto[1][:6]:
        arg = arg.lstrip("_") or "arg"
        if "char *" in ctype and "const" in ctype and "*const" not in ctype.replace(" ", ""):
            kind = "path" if arg in FILENAME_ARGUMENTS else "str"
        elif "*" in ctype:
            kind = "ptr"
        elif ctype in ("int", "pid_t", "uid_t", "gid_t", "key_serial_t", "clockid_t"):
            kind = "int"
        elif "flags" in arg or "mask" in arg:
            kind = "hex"
        else:
            kind = "uint"
        items.append("%s:%s" % (arg, kind))
    return " ".join(items)


def warm() -> None:
    """Load python-ptrace's tables now (the runner calls this while the jail is
    being set up) rather than at the first decoded call."""
    _tables()
    _parse("openat")


def decode(name, args, call) -> dict:
    """See the module docstring.  Never raises on tracee data: an unexpected
    error while decoding one argument yields {"error": "..."} for that arg."""
    entry = _PARSED.get(name)
    if entry is None:
        entry = _parse(name)
    out = {}
    for i, arg, _kind, fn in entry:
        try:
            out[arg] = fn(args, i, call)
        except ArgFault as e:
            out[arg] = _fault(e)
        except Exception as e:               # a decoder bug must not lose the record
            out[arg] = {"error": type(e).__name__}
    if name in _MODE_IF_CREAT:
        # like strace: the mode argument means something only with O_CREAT/O_TMPFILE
        if not args[_MODE_IF_CREAT[name]] & 0o20000100:
            out.pop("mode", None)
    return out


_MEMORY_KINDS = {"str": "string", "path": "string", "argv": "argv"}
_READS: dict = {}


def deferred(name, args, call):
    """decode() for later (the audit writer formats in batches): reads now the
    tracee memory decode will use, then returns a function that decodes from
    those bytes only (the call is frozen by then: no late read of live memory).
    None if this syscall's decoding cannot be deferred (sockaddr, msghdr arguments)."""
    reads = _READS.get(name, False)
    if reads is False:
        entry = _PARSED.get(name) or _parse(name)
        reads = _READS[name] = None if any(k in ("sockaddr", "msghdr") for _i, _a, k, _f in entry) else \
            tuple((_MEMORY_KINDS[k], i, cache_key(_MEMORY_KINDS[k], i))
                  for i, _a, k, _f in entry if k in _MEMORY_KINDS)
    if reads is None:
        return None
    cache = call._cache
    for method, i, key in reads:
        if key not in cache:
            try:
                getattr(call, method)(i)
            except ArgFault:
                pass                         # cached: decode shows the same fault
    return Deferred((name, args, call, reads))


class Deferred(tuple):
    """A decode() to run later, on the bytes read at the stop: the tuple
    (name, args, call, reads).  A tuple so that making one, once per
    supervised call, runs no Python code."""
    __slots__ = ()

    def __call__(self) -> dict:
        name, args, call, _reads = self
        call.frozen = True
        return decode(name, args, call)

    def key(self):
        """Everything the decoding depends on, hashable; None if it cannot be
        (e.g. argv lists): equal keys decode equally, so the writer may reuse."""
        name, args, call, reads = self
        cache = call._cache
        out = [name, args]
        for _method, _i, key in reads:
            v = cache.get(key)
            if v.__class__ is not bytes:
                return None
            out.append(v)
        return tuple(out)


def _fmt_value(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_quote(x) if isinstance(x, str) else _fmt_value(x) for x in v) + "]"
    if isinstance(v, dict):
        if "fault" in v:
            return "<%s>" % v["fault"]
        if "family" in v:
            s = "{%s" % v["family"]
            if "address" in v:
                s += ", " + _quote(v["address"])
            if "port" in v:
                s += ", port=%s" % v["port"]
            return s + "}"
        return "{" + ", ".join("%s=%s" % (k, _fmt_value(x)) for k, x in v.items()) + "}"
    return str(v)


def _quote(s: str) -> str:
    return '"' + s.replace('"', '\\"') + '"'


def format_call(name, decoded: dict) -> str:
    """One-line strace-like rendering of a decoded call (see module docstring)."""
    kinds = {arg: kind for _i, arg, kind, _fn in (_PARSED.get(name) or _parse(name))}
    parts = []
    for arg, v in decoded.items():
        if isinstance(v, str) and kinds.get(arg) in ("path", "str"):
            parts.append(_quote(v))
        else:
            parts.append(_fmt_value(v))
    text = "%s(%s)" % (name or "syscall", ", ".join(parts))
    return text if text.isprintable() else escape_bytes(text.encode("utf-8", "surrogateescape"))


def path_args(name) -> tuple:
    """Names of the path arguments of syscall ``name`` (for reports)."""
    return tuple(arg for _i, arg, kind, _fn in (_PARSED.get(name) or _parse(name))
                 if kind == "path")


def arg_names(name) -> tuple:
    """Argument names of syscall ``name`` in order (index -> name)."""
    return tuple(arg for _i, arg, _kind, _fn in (_PARSED.get(name) or _parse(name)))


def exec_arg(name):
    return "pathname" if name in ("execve", "execveat") else None


def addr_arg(name):
    for _i, arg, kind, _fn in (_PARSED.get(name) or _parse(name)):
        if kind == "sockaddr":
            return arg
    return None
