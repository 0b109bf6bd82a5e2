"""Per-arch syscall name <-> number tables and kafel's implicit argument names.

Names are libseccomp's (``fstat``, ``umount2``); kafel's kernel names
(``newfstat``, ``umount``, ``sendfile64``...) are accepted as aliases so kafel
policies compile unchanged.  Argument widths matter for security (threat A3):
an ``int`` argument is compared on its low 32 bits, as the kernel reads it.
"""
from __future__ import annotations

from functools import lru_cache

from tracejail.policy import _tables

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
X32_SYSCALL_BIT = 0x40000000

# kafel / kernel names -> libseccomp names (x86_64)
ALIASES = {
    "newfstat": "fstat", "newstat": "stat", "newlstat": "lstat", "newuname": "uname",
    "umount": "umount2", "sendfile64": "sendfile", "sysctl": "_sysctl",
}

# Architectures recognised in ON guards (kafel's names and common spellings).
ARCH_NAMES = {"x86_64": "x86_64", "amd64": "x86_64", "x86": "i386", "i386": "i386",
              "i686": "i386", "x32": "x32", "arm": "arm", "aarch64": "aarch64",
              "arm64": "aarch64", "mips": "mips", "mipso32": "mips", "mips64": "mips64",
              "riscv64": "riscv64", "m68k": "m68k", "s390x": "s390x", "ppc64": "ppc64",
              "ppc64le": "ppc64le"}
TARGET_ARCH = "x86_64"


def _parse_nr(text: str, bit: int = 0) -> dict[str, int]:
    out = {}
    for tok in text.split():
        name, nr = tok.rsplit(":", 1)
        out[name] = int(nr) | bit
    return out


@lru_cache(maxsize=None)
def table(arch: str) -> dict[str, int]:
    """name -> nr for ``arch`` ("x86_64", "i386", "x32"; x32 numbers include the x32 bit)."""
    if arch == "x86_64":
        return _parse_nr(_tables.X86_64)
    if arch == "i386":
        return _parse_nr(_tables.I386)
    if arch == "x32":
        return _parse_nr(_tables.X32, X32_SYSCALL_BIT)
    raise KeyError(arch)


@lru_cache(maxsize=None)
def rtable(arch: str) -> dict[int, str]:
    return {nr: name for name, nr in table(arch).items()}


@lru_cache(maxsize=None)
def _args() -> dict[str, tuple[tuple[str, int], ...]]:
    out = {}
    for line in _tables.ARGS.strip().splitlines():
        name, *fields = line.split()
        args = []
        for f in fields:
            n, _, size = f.partition(":")
            args.append((n, int(size) if size else 8))
        out[name] = tuple(args)
    return out


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


def nr_of(name: str, arch: str = "x86_64") -> int | None:
    return table(arch).get(canonical(name))


def name_of(nr: int, arch: str = "x86_64") -> str | None:
    return rtable(arch).get(nr)


def known_anywhere(name: str) -> bool:
    n = canonical(name)
    return any(n in table(a) for a in ("x86_64", "i386", "x32"))


def arg_spec(name: str | None) -> tuple[tuple[str, int], ...]:
    """((argname, bytes), ...) as kafel declares them; () if unknown."""
    if name is None:
        return ()
    return _args().get(canonical(name), ())


def arg_is_32bit(name: str | None, index: int) -> bool:
    """True when the kernel reads argument ``index`` as a 32-bit (or narrower) int."""
    spec = arg_spec(name)
    return index < len(spec) and spec[index][1] <= 4


def implicit_args(name: str | None) -> dict[str, int]:
    """kafel's implicit argument names for a known syscall: name -> index."""
    return {a: i for i, (a, _) in enumerate(arg_spec(name))}


# Where each path-taking syscall keeps its path (arg index) and, if relative
# lookups start from a directory fd, that fd's index.  For supervisors and docs.
PATH_ARGS = {
    "open": ((0, None),), "creat": ((0, None),), "openat": ((1, 0),), "openat2": ((1, 0),),
    "execve": ((0, None),), "execveat": ((1, 0),), "stat": ((0, None),), "lstat": ((0, None),),
    "newfstatat": ((1, 0),), "statx": ((1, 0),), "access": ((0, None),), "faccessat": ((1, 0),),
    "faccessat2": ((1, 0),), "readlink": ((0, None),), "readlinkat": ((1, 0),),
    "truncate": ((0, None),), "chmod": ((0, None),), "fchmodat": ((1, 0),), "fchmodat2": ((1, 0),),
    "chown": ((0, None),), "lchown": ((0, None),), "fchownat": ((1, 0),), "utime": ((0, None),),
    "utimes": ((0, None),), "utimensat": ((1, 0),), "futimesat": ((1, 0),), "mkdir": ((0, None),),
    "mkdirat": ((1, 0),), "rmdir": ((0, None),), "unlink": ((0, None),), "unlinkat": ((1, 0),),
    "link": ((0, None), (1, None)), "linkat": ((1, 0), (3, 2)), "symlink": ((1, None),),
    "symlinkat": ((2, 1),), "rename": ((0, None), (1, None)), "renameat": ((1, 0), (3, 2)),
    "renameat2": ((1, 0), (3, 2)), "mknod": ((0, None),), "mknodat": ((1, 0),),
    "chdir": ((0, None),), "chroot": ((0, None),), "statfs": ((0, None),),
    "inotify_add_watch": ((1, None),), "setxattr": ((0, None),), "lsetxattr": ((0, None),),
    "getxattr": ((0, None),), "lgetxattr": ((0, None),), "listxattr": ((0, None),),
    "llistxattr": ((0, None),), "removexattr": ((0, None),), "lremovexattr": ((0, None),),
    "uselib": ((0, None),), "acct": ((0, None),), "swapon": ((0, None),), "swapoff": ((0, None),),
}

# sockaddr-taking syscalls: name -> (addr arg, addrlen arg)
SOCKADDR_ARGS = {"connect": (1, 2), "bind": (1, 2), "sendto": (4, 5)}

# Threat #7: a jail's own filter with a USER_NOTIF listener outranks our
# RET_TRACE and could answer for the jail's syscalls, so creating one is
# killed whatever the policy says (kernel prefix and interpreter alike).
SECCOMP_NR = 317
CLONE_NR = 56
CLONE_UNTRACED = 0x00800000
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8
