"""User/group ids: parse -u/-g specs, build the uid/gid maps, switch ids in the jail.

Running as root, an unqualified -u/-g (or none) maps the jail's ids onto
outside 65534 (nobody/nogroup): root inside the jail is never root outside
unless the user names an outside id explicitly (``-u 0:0``).
"""
from __future__ import annotations

import os

from tracejail.errors import UsageError

NOBODY = 65534
UNSET = -1          # outside id not given: chosen at launch (65534 as root, else own id)


def _resolve(token: str, kind: str) -> int:
    token = token.strip()
    if token.isdigit():
        v = int(token)
        if v > 0xFFFFFFFE:
            raise UsageError(f"{kind} id out of range: {token}")
        return v
    import grp
    import pwd
    try:
        return pwd.getpwnam(token).pw_uid if kind == "user" else grp.getgrnam(token).gr_gid
    except KeyError:
        raise UsageError(f"no such {kind}: {token!r}") from None


def parse_spec(spec: str, kind: str) -> tuple[tuple[int, int, int], bool]:
    """'ID|NAME', 'inside:outside' or 'inside:outside:count' -> ((in, out, n), outside_given)."""
    parts = str(spec).split(":")
    if not parts[0] or len(parts) > 3:
        raise UsageError(f"bad --{kind} value {spec!r} (want ID, NAME or inside:outside[:count])")
    inside = _resolve(parts[0], kind)
    outside = _resolve(parts[1], kind) if len(parts) > 1 else UNSET
    count = 1
    if len(parts) == 3:
        if not parts[2].isdigit() or int(parts[2]) < 1:
            raise UsageError(f"bad --{kind} count in {spec!r}")
        count = int(parts[2])
    return (inside, outside, count), len(parts) > 1


def default_outside(kind: str) -> int:
    if os.geteuid() == 0:
        return NOBODY
    return os.getuid() if kind == "user" else os.getgid()


def effective_map(entries, kind: str) -> list[tuple[int, int, int]]:
    """The map as written to /proc/PID/{u,g}id_map; first entry holds the jail's id."""
    if not entries:
        own = os.getuid() if kind == "user" else os.getgid()
        entries = [(own, UNSET, 1)]
    out = []
    for inside, outside, count in entries:
        out.append((inside, default_outside(kind) if outside == UNSET else outside, count))
    return out


def jail_id(entries, kind: str, userns: bool) -> int:
    """The id the jailed process runs as (inside view)."""
    m = effective_map(entries, kind)
    if userns:
        return m[0][0]
    # no user namespace: inside == outside; an unqualified id as root still means nobody
    inside, outside, _ = (entries[0] if entries else (None, UNSET, 1))
    if inside is None:
        return default_outside(kind)
    return inside if outside == UNSET or outside == inside else outside


def write_maps(pid: int, uid_map, gid_map) -> None:
    """Run in the supervisor (host root) against the unshared child."""
    def fmt(m):
        return "".join(f"{i} {o} {n}\n" for i, o, n in m)
    with open(f"/proc/{pid}/setgroups", "w") as f:
        f.write("deny")
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write(fmt(uid_map))
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write(fmt(gid_map))


def switch_ids(uid: int, gid: int, userns: bool) -> None:
    """setresgid/setresuid to the jail ids (supplementary groups were cleared before unshare)."""
    if not userns:
        os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def set_fs_ids(uid: int, gid: int) -> None:
    """Create setup files (mount points, scratch dirs) as the jail's mapped ids.

    Right after unshare, J still carries host uid 0, which has no mapping in
    the new user namespace, and the kernel refuses to create inodes for an
    unmapped fsuid (EOVERFLOW).  setfsuid/setfsgid keep CAP_SYS_ADMIN for the
    mounts, unlike setresuid."""
    from tracejail.jail import libc
    libc._libc.setfsgid(gid)
    libc._libc.setfsuid(uid)
    if libc._libc.setfsuid(uid) != uid or libc._libc.setfsgid(gid) != gid:
        raise OSError(1, f"setfsuid/setfsgid to {uid}/{gid} failed")
