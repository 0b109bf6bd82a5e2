"""Resolve a tracee's path argument the way the kernel would, in the jail's view.

A component-by-component walk under /proc/TID/root: `.`/`..` folded on
components already known to be real directories (so lexical folding equals
the kernel's), ordinary symlinks read and re-walked inside the tracee's root,
`/proc/self` and `/proc/thread-self` mapped to the tracee's own pid in its pid
namespace, and /proc magic links (fd/N, cwd, root, exe, map_files) followed to
the object they really name (threat #19): the policy sees the real target,
never the link.  Objects with no path in the jail (pipes, sockets, deleted or
memfd files, anything outside the tracee's root) come back as a tag that does
not start with "/" ("pipe:[..]", "deleted:/x", "unreachable:/x"), so no
path-prefix rule can match them.

The walk is a snapshot: the tree may change before the kernel resolves the
path itself.  The loop re-checks allowed opens on the fd the kernel returned
and execve on /proc/PID/exe (see loop.py).
"""
from __future__ import annotations

import errno
import os
import stat
import sys

from tracejail.supervisor import memory
from tracejail.verdict import ArgFault

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_SYMLINK_FOLLOW = 0x400
AT_EMPTY_PATH = 0x1000
O_CREAT = 0o100
O_EXCL = 0o200
O_TRUNC = 0o1000
O_NOFOLLOW = 0o400000
RESOLVE_IN_ROOT = 0x10
IN_DONT_FOLLOW = 0x02000000
MAXSYMLINKS = 40
_FSENC = sys.getfilesystemencoding()

# name -> {path arg index: (dirfd arg index or None, follows by default, flags arg index, flag kind)}
F, N = True, False
_P = {
    "open": {0: (None, F, 1, "open")}, "creat": {0: (None, F, None, None)},
    "openat": {1: (0, F, 2, "open")}, "openat2": {1: (0, F, 2, "open_how")},
    "execve": {0: (None, F, None, None)}, "execveat": {1: (0, F, 4, "at")},
    "stat": {0: (None, F, None, None)}, "lstat": {0: (None, N, None, None)},
    "newfstatat": {1: (0, F, 3, "at")}, "statx": {1: (0, F, 2, "at")},
    "access": {0: (None, F, None, None)}, "faccessat": {1: (0, F, None, None)},
    "faccessat2": {1: (0, F, 3, "at")},
    "readlink": {0: (None, N, None, None)}, "readlinkat": {1: (0, N, None, "empty")},
    "unlink": {0: (None, N, None, None)}, "unlinkat": {1: (0, N, None, None)},
    "rmdir": {0: (None, N, None, None)}, "mkdir": {0: (None, N, None, None)},
    "mkdirat": {1: (0, N, None, None)}, "mknod": {0: (None, N, None, None)},
    "mknodat": {1: (0, N, None, None)},
    "chmod": {0: (None, F, None, None)}, "fchmodat": {1: (0, F, None, None)},
    "fchmodat2": {1: (0, F, 3, "at")},
    "chown": {0: (None, F, None, None)}, "lchown": {0: (None, N, None, None)},
    "fchownat": {1: (0, F, 4, "at")},
    "truncate": {0: (None, F, None, None)}, "utime": {0: (None, F, None, None)},
    "utimes": {0: (None, F, None, None)}, "futimesat": {1: (0, F, None, None)},
    "utimensat": {1: (0, F, 3, "at")},
    "chdir": {0: (None, F, None, None)}, "chroot": {0: (None, F, None, None)},
    "link": {0: (None, N, None, None), 1: (None, N, None, None)},
    "linkat": {1: (0, N, 4, "atfollow"), 3: (2, N, None, None)},
    "symlink": {1: (None, N, None, None)}, "symlinkat": {2: (1, N, None, None)},
    "rename": {0: (None, N, None, None), 1: (None, N, None, None)},
    "renameat": {1: (0, N, None, None), 3: (2, N, None, None)},
    "renameat2": {1: (0, N, None, None), 3: (2, N, None, None)},
    "getxattr": {0: (None, F, None, None)}, "setxattr": {0: (None, F, None, None)},
    "listxattr": {0: (None, F, None, None)}, "removexattr": {0: (None, F, None, None)},
    "lgetxattr": {0: (None, N, None, None)}, "lsetxattr": {0: (None, N, None, None)},
    "llistxattr": {0: (None, N, None, None)}, "lremovexattr": {0: (None, N, None, None)},
    "statfs": {0: (None, F, None, None)}, "acct": {0: (None, F, None, None)},
    "swapon": {0: (None, F, None, None)}, "swapoff": {0: (None, F, None, None)},
    "uselib": {0: (None, F, None, None)}, "quotactl": {1: (None, F, None, None)},
    "inotify_add_watch": {1: (None, F, 2, "inotify")},
    "name_to_handle_at": {1: (0, F, 4, "atfollow")},
    "open_tree": {1: (0, F, 2, "at")}, "move_mount": {1: (0, F, 4, None), 3: (2, F, None, None)},
    "mount": {0: (None, F, None, None), 1: (None, F, None, None)},
    "umount2": {0: (None, F, None, None)},
    "pivot_root": {0: (None, F, None, None), 1: (None, F, None, None)},
}
_DEFAULT = (None, F, None, None)
PATH_SYSCALLS = frozenset(_P)     # syscalls with a path argument resolved here


# name -> index of its open flags argument (None: in memory, openat2; creat: none)
_OPEN_FLAGS = {name: next((fi for _d, _f, fi, kind in spec.values() if kind == "open"), None)
               for name, spec in _P.items() if name in ("open", "openat", "openat2", "creat")}


def changes_on_open(name: str, args) -> bool:
    """Does this open (open/openat/openat2/creat) change the file by opening it
    (O_CREAT, O_TRUNC)?  creat always does; openat2's flags are in memory: yes."""
    i = _OPEN_FLAGS[name]
    return i is None or bool(args[i] & (O_CREAT | O_TRUNC))


def path_spec(name: str | None, i: int, args, how: tuple[int, int] = (0, 0)):
    """(dirfd, follow_last, empty_path_ok, in_root) for path arg i of this call;
    ``how`` = (flags, resolve) of openat2's struct open_how."""
    spec = _P.get(name)
    dirfd_i, follow, flags_i, kind = spec.get(i, _DEFAULT) if spec is not None else _DEFAULT
    if dirfd_i is None:
        dirfd = AT_FDCWD
    else:
        dirfd = args[dirfd_i] & 0xFFFFFFFF                # an int: 32 bits, signed
        if dirfd & 0x80000000:
            dirfd -= 1 << 32
    if kind == "open":
        fl = args[flags_i]
        if fl & O_NOFOLLOW or (fl & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL):
            follow = False
        return dirfd, follow, False, False
    empty_ok = kind == "empty"
    in_root = False
    if kind == "open_how":
        fl = how[0]
        in_root = bool(how[1] & RESOLVE_IN_ROOT)
        if fl & O_NOFOLLOW or (fl & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL):
            follow = False
    elif kind == "at":
        fl = args[flags_i] & 0xFFFFFFFF
        follow = not fl & AT_SYMLINK_NOFOLLOW
        empty_ok = bool(fl & AT_EMPTY_PATH)
    elif kind == "atfollow":
        fl = args[flags_i] & 0xFFFFFFFF
        follow = bool(fl & AT_SYMLINK_FOLLOW)
        empty_ok = bool(fl & AT_EMPTY_PATH)
    elif kind == "inotify":
        follow = not args[flags_i] & IN_DONT_FOLLOW
    return dirfd, follow, empty_ok, in_root


class Resolver:
    """Path resolution for one tracee task (tid, plus its pid/tgid inside its
    own pid namespace, needed to map /proc/self)."""

    __slots__ = ("tid", "nspid", "nstgid", "_root", "_fd", "view")
    cached_fds = 0          # root fds kept open across stops, all tracees together
    MAX_CACHED_FDS = 256

    def __init__(self, tid: int, nspid: int, nstgid: int, view=None):
        self.tid, self.nspid, self.nstgid = tid, nspid, nstgid
        self._root = None
        self._fd = None
        self.view = view        # the jail's MountView (walk cache), or None

    def _rootfd(self) -> tuple[int, bool]:
        """An O_PATH fd of the tracee's root, cached (saves a /proc lookup per
        component); (fd, caller_must_close).  Stale if the tracee chroots:
        the loop calls close() after any allowed chroot/pivot_root."""
        if self._fd is not None:
            return self._fd, False
        try:
            fd = os.open(f"/proc/{self.tid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ProcessLookupError(errno.ESRCH, "tracee gone")
        if Resolver.cached_fds < Resolver.MAX_CACHED_FDS:
            Resolver.cached_fds += 1
            self._fd = fd
            return fd, False
        return fd, True

    def close(self) -> None:
        """The task exited, exec'd or changed root: drop what was kept open for it."""
        memory.forget(self.tid)
        self._root = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            Resolver.cached_fds -= 1

    # -- objects named by magic links -------------------------------------
    def root_prefix(self) -> str:
        if self._root is None:
            try:
                self._root = os.readlink(f"/proc/{self.tid}/root")
            except FileNotFoundError:
                raise ProcessLookupError(errno.ESRCH, "tracee gone")
        return self._root

    def jail_view(self, host: str) -> str:
        """Supervisor-side path (as the kernel prints it) -> the jail's view, or a tag."""
        root = self.root_prefix()
        if not host.startswith("/"):
            return host                      # pipe:[..], socket:[..], anon_inode:..
        if root == "/":
            return host
        if host == root:
            return "/"
        if host.startswith(root + "/"):
            return host[len(root):]
        return "unreachable:" + host

    def object_path(self, link: str) -> str:
        """What a magic link (e.g. /proc/TID/fd/N) really names, in the jail's view."""
        target = os.readlink(link)
        if target.endswith(" (deleted)"):
            try:
                if os.stat(link).st_nlink == 0:
                    return "deleted:" + target[:-10]
            except FileNotFoundError:
                return "deleted:" + target[:-10]
        return self.jail_view(target)

    def _start(self, dirfd: int) -> list[str]:
        if dirfd == AT_FDCWD:
            link = f"/proc/{self.tid}/cwd"
        elif dirfd < 0:
            raise ArgFault(errno.EBADF, f"bad dirfd {dirfd}")
        else:
            link = f"/proc/{self.tid}/fd/{dirfd}"
        try:
            p = self.object_path(link)
            if not stat.S_ISDIR(os.stat(link).st_mode):
                raise ArgFault(errno.ENOTDIR, "dirfd is not a directory")
        except FileNotFoundError:
            if dirfd == AT_FDCWD:
                raise ProcessLookupError(errno.ESRCH, "tracee gone")
            raise ArgFault(errno.EBADF, f"bad dirfd {dirfd}")
        return self._dir_comps(p)

    @staticmethod
    def _dir_comps(p: str) -> list[str]:
        if p.startswith("deleted:"):
            raise ArgFault(errno.ENOENT, "directory was deleted")
        if not p.startswith("/"):
            raise ArgFault(errno.EACCES, f"directory outside the jail's root: {p}")
        return [c for c in p.split("/") if c]

    def start_path(self, dirfd: int) -> str:
        """The object dirfd (or the cwd) names; for AT_EMPTY_PATH."""
        link = f"/proc/{self.tid}/cwd" if dirfd == AT_FDCWD else f"/proc/{self.tid}/fd/{dirfd}"
        if dirfd != AT_FDCWD and dirfd < 0:
            raise ArgFault(errno.EBADF, f"bad fd {dirfd}")
        try:
            return self.object_path(link)
        except FileNotFoundError:
            raise ArgFault(errno.EBADF, f"bad fd {dirfd}")

    # -- the walk ----------------------------------------------------------
    def resolve(self, raw: bytes, dirfd: int = AT_FDCWD, follow: bool = True,
                empty_ok: bool = False, in_root: bool = False) -> str:
        if raw == b"":
            if empty_ok:
                return self.start_path(dirfd)
            raise ArgFault(errno.ENOENT, "empty path")
        path = raw.decode(_FSENC, "surrogateescape")      # os.fsdecode without its Python layer
        absolute = path.startswith("/")
        view = self.view
        if absolute and not in_root and view is not None and view.enabled:
            key = (raw, follow)
            hit = view.walk(key)
            if hit is not None:
                return hit
            if not view.load(self.tid):
                view = None
        else:
            view = None
        comps: list[str] = [] if absolute and not in_root else self._start(dirfd)
        floor = len(comps) if in_root else 0
        if absolute:
            del comps[floor:]
        todo = [c for c in path.split("/") if c]
        todo.reverse()                       # a stack: pop() takes the next component
        if path.endswith("/"):
            follow = True                    # a trailing slash always follows
        rootfd, close = self._rootfd()
        try:
            result, stable = self._walk(rootfd, comps, todo, floor, follow, view)
        finally:
            if close:
                os.close(rootfd)
        if stable:
            view.remember(key, result)
        return result

    def _walk(self, rootfd: int, comps: list[str], todo: list[str], floor: int, follow: bool,
              view=None) -> tuple[str, bool]:
        """(resolved path, stable): stable if a view was given and every lookup
        happened in a directory it calls stable (then the answer can be cached)."""
        links = 0
        stable = view is not None
        while todo:
            name = todo.pop()
            if name == ".":
                continue
            if name == "..":
                if len(comps) > floor:
                    comps.pop()
                continue
            comps.append(name)
            if not todo and not follow:
                break
            full = "/".join(comps)
            if stable and not view.stable_entry("/" + full[:-len(name) - 1], "/" + full):
                stable = False
            try:
                st = os.lstat(full, dir_fd=rootfd)
            except (FileNotFoundError, NotADirectoryError):
                # the kernel fails here (ENOENT/ENOTDIR) unless this is the last
                # component being created; fold the rest lexically
                while todo:
                    name = todo.pop()
                    if name == "..":
                        if len(comps) > floor:
                            comps.pop()
                    elif name != ".":
                        comps.append(name)
                break
            except PermissionError:
                raise ArgFault(errno.EACCES, "permission denied")
            if not stat.S_ISLNK(st.st_mode):
                continue
            links += 1
            if links > MAXSYMLINKS:
                raise ArgFault(errno.ELOOP, "too many symbolic links")
            comps.pop()
            if st.st_size == 0:
                stable = False               # procfs: per-task answers, never cached
            if st.st_size == 0 and name in ("self", "thread-self"):
                target = str(self.nstgid) if name == "self" else f"{self.nstgid}/task/{self.nspid}"
            else:
                target = os.readlink(full, dir_fd=rootfd)
                if st.st_size == 0 and not _plain_relative(target):
                    # a /proc magic link: jump to the object it names
                    obj = self._magic(full, rootfd)
                    if not todo:
                        return obj, False
                    comps = self._dir_comps(obj)
                    continue
            if target.startswith("/"):
                del comps[floor:]
            parts = [c for c in target.split("/") if c]
            if target.endswith("/") and not todo:
                follow = True
            todo.extend(reversed(parts))
        return "/" + "/".join(comps), stable

    def _magic(self, full: str, rootfd: int) -> str:
        try:
            fd = os.open(full, os.O_PATH | os.O_CLOEXEC, dir_fd=rootfd)
        except FileNotFoundError:
            raise ArgFault(errno.ENOENT, "magic link target gone")
        except PermissionError:
            raise ArgFault(errno.EACCES, "magic link not accessible")
        try:
            return self.object_path(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)


def _plain_relative(target: str) -> bool:
    """procfs symlinks that are ordinary (/proc/mounts -> self/mounts,
    /proc/net -> self/net) have relative targets; magic ones print an
    absolute path or an object tag."""
    return not target.startswith("/") and ":" not in target
