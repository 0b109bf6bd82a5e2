"""The jail's filesystem view: an empty read-only tmpfs (or --chroot DIR) as root,
the -R/-B/-T/-m/-s entries on top, /proc of the new pid namespace, pivot_root
and the old root detached.

Sequence (run inside the new mount namespace, as namespace root):
  1. make every mount private; mount a scratch tmpfs and pivot into it so the
     host tree is reachable as /oldroot and nothing in the host's /tmp is hidden;
  2. build /newroot: tmpfs or a recursive bind of the chroot directory;
  3. /proc, then the user's mounts in command-line order (mount points created
     as needed; sources were opened O_PATH before the fsuid switch);
  4. read-only: mount_setattr(AT_RECURSIVE) sets/clears MOUNT_ATTR_RDONLY on the
     root and each mount, so submounts of a bind are read-only too and the
     locked flags (nosuid/nodev/noexec/atime) of host mounts are left alone;
     the classic MS_REMOUNT|MS_BIND fallback restates them from statvfs;
  5. pivot_root into /newroot and lazily detach the scratch root (and with it
     the host tree), so no path, '..' or /proc/self/root leads back.
"""
from __future__ import annotations

import ctypes
import errno
import os
import stat

from tracejail.errors import SetupError
from tracejail.jail import libc

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME = 16384, 1 << 18, 1 << 21
MNT_DETACH = 2
SYS_mount_setattr = 442
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 1
MOUNT_ATTR_NOSUID = 2

SCRATCH = "/tmp"
NEW = "/newroot"
OLD = "/oldroot"


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def split_src_dst(spec: str) -> tuple[str, str]:
    """nsjail's 'source' or 'source:dest' for -R/-B."""
    src, sep, dst = spec.partition(":")
    return src, (dst if sep and dst else src)


def resolve_sources(config) -> list[tuple]:
    """Open every bind source (O_PATH) in the host view; missing -> SetupError.

    The jail runs this right after unsharing, while its fsuid is still host
    uid 0 (owner access to root-owned directories; namespace capabilities give
    no DAC override on host-owned inodes), and later mounts from
    /proc/self/fd/N.  An fd opened in the host mount namespace cannot be a
    bind source here (EINVAL), hence not earlier.  An absolute symlink in a
    source path is followed in the host tree, not in the half-built jail root.  Entries become (kind, src, dst, fstype, opts, rw, fd)."""
    out = []
    for kind, src, dst, fstype, opts, rw in config.mounts:
        fd = None
        if kind == "bind" or (kind == "mount" and not fstype):
            try:
                fd = os.open(src, os.O_PATH | os.O_CLOEXEC)
            except OSError as e:
                raise SetupError(f"bind mount source {src}: {e.strerror}") from None
        out.append((kind, src, dst, fstype, opts, rw, fd))
    return out


def open_path(path: str) -> int:
    try:
        return os.open(path, os.O_PATH | os.O_CLOEXEC | os.O_DIRECTORY)
    except OSError as e:
        raise SetupError(f"chroot {path}: {e.strerror}") from None


def _fd_src(fd: int) -> str:
    return f"{OLD}/proc/self/fd/{fd}"


def _set_ro(path: str, ro: bool, recursive: bool) -> None:
    """Set or clear read-only; nosuid is always set (defence in depth besides NO_NEW_PRIVS)."""
    attr = _MountAttr((MOUNT_ATTR_RDONLY if ro else 0) | MOUNT_ATTR_NOSUID,
                      0 if ro else MOUNT_ATTR_RDONLY, 0, 0)
    try:
        libc.raw_syscall(SYS_mount_setattr, AT_FDCWD, os.fsencode(path),
                         AT_RECURSIVE if recursive else 0, ctypes.byref(attr),
                         ctypes.sizeof(attr), what=f"mount_setattr {path}")
    except OSError as e:
        if e.errno != errno.ENOSYS:
            raise
        _classic_remount(path, ro)


def _classic_remount(path: str, ro: bool) -> None:
    """Pre-5.12 kernels: a bind remount must restate the locked flags of the source."""
    st = os.statvfs(path)
    flags = MS_BIND | MS_REMOUNT | (MS_RDONLY if ro else 0)
    for bit in (os.ST_NOSUID, os.ST_NODEV, os.ST_NOEXEC, os.ST_NOATIME, os.ST_NODIRATIME,
                os.ST_RELATIME):
        if st.f_flag & bit:
            flags |= {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC,
                      os.ST_NOATIME: MS_NOATIME, os.ST_NODIRATIME: MS_NODIRATIME,
                      os.ST_RELATIME: MS_RELATIME}[bit]
    libc.mount(None, path, None, flags)


def _mkpoint(target: str, is_dir: bool) -> None:
    try:
        if is_dir:
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
            if not os.path.lexists(target):
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    except OSError as e:
        raise SetupError(f"cannot create mount point {target[len(NEW):] or '/'}: {e.strerror}") from None


def _inside(dst: str) -> str:
    """Host-view path of DST inside the jail root, following symlinks as the jail will see
    them (absolute links restart at the jail root, '..' stops there).

    A symlink in a --chroot tree or made by -s must not point a mount point, or the
    directories created for it, at the host tree (still reachable as /oldroot during
    setup)."""
    parts = [p for p in dst.split("/") if p not in ("", ".")]
    done: list[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        cand = NEW + "/" + "/".join(done + [name])
        if os.path.islink(cand):
            hops += 1
            if hops > 40:
                raise SetupError(f"too many symlinks resolving mount point {dst}")
            link = os.readlink(cand)
            if link.startswith("/"):
                done = []
            parts = [p for p in link.split("/") if p not in ("", ".")] + parts
            continue
        done.append(name)
    return NEW + ("/" + "/".join(done) if done else "")


def build_and_pivot(config, mounts: list[tuple], chroot_fd: int | None, log) -> None:
    """Steps 1-5 above; raises SetupError naming the step that failed."""
    step = "make mounts private"
    try:
        libc.mount(None, "/", None, MS_REC | MS_PRIVATE)
        step = "scratch root"
        scratch = SCRATCH if os.path.isdir(SCRATCH) else "/mnt"
        libc.mount("tracejail", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700")
        os.chdir(scratch)
        os.mkdir("newroot", 0o755)
        os.mkdir("oldroot", 0o700)
        libc.pivot_root(".", "oldroot")
        os.chdir("/")
        step = "jail root"
        if chroot_fd is not None:
            libc.mount(_fd_src(chroot_fd), NEW, None, MS_BIND | MS_REC)
        else:
            libc.mount("tracejail", NEW, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
        rw_state: list[tuple[str, bool, bool]] = []   # (path, ro, recursive) applied in order
        if not config.disable_proc:
            step = "mount /proc"
            proc = _inside("/proc")
            _mkpoint(proc, True)
            libc.mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            rw_state.append((proc, not (config.proc_rw or config.rw), False))
        for kind, src, dst, fstype, opts, rw, fd in mounts:
            target = _inside(dst)
            step = f"{kind} {dst}"
            if kind == "bind":
                _mkpoint(target, stat.S_ISDIR(os.fstat(fd).st_mode))
                libc.mount(_fd_src(fd), target, None, MS_BIND | MS_REC)
                rw_state.append((target, not rw, True))
            elif kind == "tmpfs":
                _mkpoint(target, True)
                # noexec: what the jail writes it cannot run or map executable (threat D24)
                noexec = 0 if config.tmpfs_exec else MS_NOEXEC
                libc.mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | noexec,
                           f"size={config.tmpfs_size}")
                rw_state.append((target, False, False))
            elif kind == "mount":
                _mkpoint(target, True)
                if fstype:
                    libc.mount(src or fstype, target, fstype, MS_NOSUID | MS_NODEV, opts or None)
                else:
                    libc.mount(_fd_src(fd), target, None, MS_BIND | MS_REC)
                rw_state.append((target, not rw, True))
            elif kind == "symlink":
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.symlink(src, target)
            log(2, f"mount: {kind} {src or ''} -> {dst}")
        step = "read-only remount"
        if not config.rw:
            _set_ro(NEW, True, True)
        for path, ro, rec in rw_state:
            try:
                _set_ro(path, ro, rec)
            except OSError as e:
                # a rw bind over a tree with host-locked read-only submounts: keep those ro
                if ro or not rec or e.errno != errno.EPERM:
                    raise
                _set_ro(path, False, False)
        step = "pivot_root"
        os.chdir(NEW)
        libc.pivot_root(".", ".")
        libc.umount2(".", MNT_DETACH)
        os.chdir("/")
    except SetupError:
        raise
    except OSError as e:
        msg = e.strerror or str(e)
        if e.filename:
            msg += f" ({e.filename})"
        hint = ""
        if step == "mount /proc" and not config.clone_newpid:
            hint = " (without a pid namespace use --disable_proc)"
        raise SetupError(f"mount setup failed at '{step}': {msg}{hint}") from None


def plain_chroot(chroot: str) -> None:
    """--disable_clone_newns with --chroot: no mount namespace, just chroot(2)."""
    try:
        os.chroot(chroot)
        os.chdir("/")
    except OSError as e:
        raise SetupError(f"chroot {chroot}: {e.strerror}") from None

