"""Which directories of the jail no jailed process can change, and a cache of
path walks that only went through such directories.

A directory's entries change only through a writable mount of its file system
that reaches it.  So a directory is *stable* when the mount visible at it is
read-only, of a local file system (procfs, sysfs, network and FUSE file
systems change on their own), and no writable mount of the same device in the
jail has its root at or above the directory (``-B /:/host`` reaches
everything; ``-B /srv/x:/x`` reaches only /srv/x and below).  A lookup is also
stable when the name looked up is a mount point, wherever it is (say /usr in
the writable root of --rw): a mount point cannot be renamed, replaced or
removed while it is mounted (EBUSY).  A walk whose every lookup was stable
always gives the same answer while the mount tree stays as it is: the
supervisor turns the cache off for good the first time it allows a syscall
that changes mounts or roots (the runner routes those to it).

Host-side changes to read-only bound trees are not seen by the jail's mount
table; entries therefore live one second at most.
"""
from __future__ import annotations

import time

# local file systems whose directories change only through their mounts
LOCAL_FS = frozenset(("ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "ramfs", "squashfs",
                      "erofs", "iso9660", "f2fs", "vfat", "exfat"))
# syscalls that change the mount tree or a task's root: once one is allowed the
# cache goes (the runner routes them to the supervisor whenever they may be allowed)
MOUNT_CHANGERS = ("mount", "umount2", "mount_setattr", "move_mount", "fsmount", "fsopen",
                  "fspick", "fsconfig", "open_tree", "pivot_root", "chroot", "unshare", "setns")
TTL = 1.0
MAX_ENTRIES = 4096


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and i + 4 <= len(field):
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _inside(path: str, top: str) -> bool:
    return top == "/" or path == top or path.startswith(top + "/")


def parse_mountinfo(text: str) -> list[tuple]:
    """[(mount point, root in its fs, fs usable, writable roots of its device)]
    in mount order, from /proc/PID/mountinfo; "fs usable": read-only and local."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        f = left.split()
        r = right.split()
        if not sep or len(f) < 6 or len(r) < 3:
            continue
        ro = "ro" in f[5].split(",") or "ro" in r[2].split(",")
        mounts.append((_unescape(f[4]), f[2], _unescape(f[3]), r[0], ro))
    writable: dict[str, list[str]] = {}
    for _, dev, root, _, ro in mounts:
        if not ro:
            writable.setdefault(dev, []).append(root)
    return [(point, root, ro and fstype in LOCAL_FS, tuple(writable.get(dev, ())))
            for point, dev, root, fstype, ro in mounts]


def stable_at(mounts, path: str) -> bool:
    """Is the directory at this (resolved, absolute) jail path stable?  The
    mount visible there is the last mounted on it or on an ancestor."""
    seen = None
    for m in mounts:
        if _inside(path, m[0]):
            seen = m
    if seen is None or not seen[2]:
        return False
    point, root, _, writable = seen
    rest = path[len(point):] if point != "/" else path
    in_fs = (root.rstrip("/") + rest) or "/"
    return not any(_inside(in_fs, w) for w in writable)


def visible_points(mounts) -> frozenset:
    """The mount points of a parse_mountinfo table that are still reachable:
    a later mount on an ancestor hides the points below it."""
    points: set[str] = set()
    for m in mounts:
        point = m[0]
        points = {p for p in points if p == point or not _inside(p, point)}
        points.add(point)
    return frozenset(points)


class MountView:
    """Per jail: stable directories and the walks that stayed in them."""

    __slots__ = ("enabled", "_mounts", "_points", "_dirs", "_walks", "_now")

    def __init__(self):
        self.enabled = True
        self._mounts: list[tuple] | None = None
        self._points: frozenset = frozenset()       # visible mount points
        self._dirs: dict[str, bool] = {}
        self._walks: dict = {}
        self._now = time.monotonic

    def load(self, tid: int) -> bool:
        """Read the mount table once (first use: the jail is set up by then)."""
        if self._mounts is None:
            try:
                with open(f"/proc/{tid}/mountinfo") as f:
                    self._mounts = parse_mountinfo(f.read())
            except OSError:
                self.disable()
            self._points = visible_points(self._mounts)
        return self.enabled

    def disable(self) -> None:
        self.enabled = False
        self._mounts = []
        self._points = frozenset()
        self._dirs.clear()
        self._walks.clear()

    def stable_dir(self, path: str) -> bool:
        s = self._dirs.get(path)
        if s is None:
            s = stable_at(self._mounts or (), path)
            if len(self._dirs) >= MAX_ENTRIES:
                self._dirs.clear()
            self._dirs[path] = s
        return s

    def stable_entry(self, parent: str, path: str) -> bool:
        """Is the lookup of ``path`` (an entry of directory ``parent``) stable?"""
        return self.stable_dir(parent) or path in self._points

    def walk(self, key):
        """A cached walk result, or None."""
        hit = self._walks.get(key)
        if hit is not None and hit[1] > self._now():
            return hit[0]
        return None

    def remember(self, key, result: str) -> None:
        if self.enabled:
            if len(self._walks) >= MAX_ENTRIES:
                self._walks.clear()
            self._walks[key] = (result, self._now() + TTL)
