"""The supervisor's shortcuts must never change a verdict.

- Path walks are cached only when every lookup happened in a directory no jailed
  process can change (tracejail.supervisor.mountview): a read-only bind that has a
  writable alias of the same tree in the jail is NOT such a directory, so a
  symlink re-pointed through the writable alias is seen at once.
- The post-open fd re-check is skipped only for a task alone in the jail (kernel
  pids count); the multi-process races stay covered by test_threat_paths (C18).
- A lone task's open/openat verdicts are memoized on (nr, args, path bytes) while
  the walk cache vouches for the path: the same pointer and flags with other
  bytes behind them is another decision.
- Syscalls that set up kernel-side writers of a task's memory (AIO, io_uring...)
  or change mounts reach the supervisor whenever the policy may allow them.
"""
from __future__ import annotations

import os

from tracejail.policy import compile_policy, default_policy_path, load_policy_file, load_policy_text
from tracejail.supervisor.loop import WATCHED
from tracejail.supervisor.mountview import MountView, parse_mountinfo, stable_at, visible_points

POLICY = """
POLICY t {
  ERRNO(EACCES) { openat { path(filename) in ["/ro/secret.txt", "/rw/secret.txt",
                                             "/ro/sub/secret.txt"] } }
}
USE t DEFAULT ALLOW
"""


def _tree(parent, name="tree"):
    """parent/name/{ok.txt, secret.txt, l -> ok.txt}, writable by the jail's user."""
    d = parent / name
    d.mkdir()
    (d / "ok.txt").write_text("OK\n")
    (d / "secret.txt").write_text("SECRET\n")
    os.symlink("ok.txt", d / "l")
    os.chmod(d, 0o777)
    os.chmod(parent, 0o755 if name == "tree" else 0o777)
    return d


def _run(tj, cc, tmp_path, mounts, *ops):
    prog = cc("sv_cache.c")
    pol = tmp_path / "t.policy"
    pol.write_text(POLICY)
    r = tj("run", "-Q", "--no_report", "-R", "/lib", "-R", "/lib64", "-R", "/usr",
           "-R", str(prog.parent), *mounts, "-P", str(pol), "--", str(prog), *ops)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_memoized_verdicts_follow_the_bytes_not_the_pointer(tj, cc, tmp_path):
    d = _tree(tmp_path)
    out = _run(tj, cc, tmp_path, ["-R", f"{d}:/ro"],
               "alt:/ro/ok.txt:/ro/secret.txt:400", "alt:/ro/secret.txt:/ro/l:400",
               "open:/ro/secret.txt", "open:/ro/ok.txt")
    assert out.splitlines() == ["ALT 200 0", "ALT 0 200", "OPEN /ro/secret.txt errno 13",
                                "OPEN /ro/ok.txt ok OK"], out


def test_ro_bind_with_a_writable_alias_is_never_cached(tj, cc, tmp_path):
    d = _tree(tmp_path)
    out = _run(tj, cc, tmp_path, ["-R", f"{d}:/ro", "-B", f"{d}:/rw"],
               "open:/ro/l", "open:/ro/l", "relink:secret.txt:/rw/l", "open:/ro/l", "open:/rw/l")
    lines = out.splitlines()
    assert lines[:2] == ["OPEN /ro/l ok OK", "OPEN /ro/l ok OK"], out
    assert lines[2] == "RELINK ok", out
    # the same path string, now naming the forbidden file: decided on what it names now
    assert lines[3] == "OPEN /ro/l errno 13", out
    assert lines[4] == "OPEN /rw/l errno 13", out


def test_symlink_in_a_writable_dir_is_walked_every_time(tj, cc, tmp_path):
    d = _tree(tmp_path)
    out = _run(tj, cc, tmp_path, ["-B", f"{d}:/rw"],
               "open:/rw/l", "relink:secret.txt:/rw/l", "open:/rw/l", "relink:ok.txt:/rw/l",
               "open:/rw/l")
    assert out.splitlines() == ["OPEN /rw/l ok OK", "RELINK ok", "OPEN /rw/l errno 13",
                                "RELINK ok", "OPEN /rw/l ok OK"], out


def test_read_only_tree_repeated_opens(tj, cc, tmp_path):
    d = _tree(tmp_path)
    out = _run(tj, cc, tmp_path, ["-R", f"{d}:/ro"],
               *(["open:/ro/l", "open:/ro/secret.txt"] * 3))
    assert out.splitlines() == ["OPEN /ro/l ok OK", "OPEN /ro/secret.txt errno 13"] * 3, out


def test_rw_root_mount_points_stay_put_other_entries_are_walked(tj, cc, tmp_path):
    """With --rw the root is writable, so its entries may change, except mount
    points: renaming one away or onto one is EBUSY, so walks through /ro may be
    cached, while a symlink the jail makes in the root is walked every time."""
    d = _tree(tmp_path)
    out = _run(tj, cc, tmp_path, ["--rw", "-R", f"{d}:/ro"],
               "open:/ro/l", "open:/ro/l", "rename:/ro:/gone", "mkdir:/made",
               "rename:/made:/ro", "open:/ro/l", "relink:/ro/ok.txt:/lnk", "open:/lnk",
               "relink:/ro/secret.txt:/lnk", "open:/lnk")
    assert out.splitlines() == [
        "OPEN /ro/l ok OK", "OPEN /ro/l ok OK", "RENAME errno 16", "MKDIR ok",
        "RENAME errno 16", "OPEN /ro/l ok OK", "RELINK ok", "OPEN /lnk ok OK", "RELINK ok",
        "OPEN /lnk errno 13"], out


def test_visible_mount_points():
    mounts = parse_mountinfo("\n".join([
        r"1 0 0:40 / / rw - tmpfs tracejail rw",
        r"2 1 8:1 /usr /usr ro - ext4 /dev/sda1 rw",
        r"3 1 8:1 /srv /data ro - ext4 /dev/sda1 rw",
        r"4 3 8:1 /srv/in /data/in ro - ext4 /dev/sda1 rw",
        r"5 1 0:41 / /data rw - tmpfs t rw",                 # hides /data/in
    ]))
    assert visible_points(mounts) == {"/", "/usr", "/data"}
    view = MountView()
    view._mounts, view._points = mounts, visible_points(mounts)
    # in the writable root only the mount points' names are fixed
    assert view.stable_entry("/", "/usr") and not view.stable_entry("/", "/lnk")
    assert view.stable_entry("/usr", "/usr/lib") and not view.stable_entry("/data", "/data/in")


def test_mountinfo_stability():
    mounts = parse_mountinfo("\n".join([
        r"1 0 0:40 / / ro,nosuid - tmpfs tracejail rw",
        r"2 1 0:41 / /proc ro - proc proc rw",
        r"3 1 8:1 /usr /usr ro - ext4 /dev/sda1 rw",
        r"4 1 8:1 /srv/data /data ro - ext4 /dev/sda1 rw",
        r"5 1 8:1 /srv /rw rw - ext4 /dev/sda1 rw",          # reaches /srv/data
        r"6 1 8:1 /home/x /x ro - ext4 /dev/sda1 rw",
        r"7 1 8:1 /home/x/sub /x/sub rw - ext4 /dev/sda1 rw",  # reaches only x/sub
        r"8 1 8:1 /opt /a\040b ro - ext4 /dev/sda1 ro",
        r"9 1 0:50 / /net ro - nfs srv:/e rw",
        r"10 1 8:2 / /other rw - ext4 /dev/sda2 ro",           # read-only superblock
    ]))
    want = {"/": True, "/etc": True, "/proc": False, "/proc/self": False, "/usr": True,
            "/usr/lib": True, "/data": False, "/data/a": False, "/rw": False, "/x": True,
            "/x/other": True, "/x/sub": False, "/x/sub/deeper": False, "/x/subway": True,
            "/a b/c": True, "/net": False, "/other/z": True}
    assert {p: stable_at(mounts, p) for p in want} == want


def test_writable_bind_of_a_subdirectory_only_unsettles_that_subtree(tj, cc, tmp_path):
    d = _tree(tmp_path)
    sub = _tree(d, "sub")
    out = _run(tj, cc, tmp_path, ["-R", f"{d}:/ro", "-B", f"{sub}:/rwsub"],
               "open:/ro/l", "open:/ro/sub/l", "relink:secret.txt:/rwsub/l", "open:/ro/sub/l",
               "open:/ro/l")
    assert out.splitlines() == ["OPEN /ro/l ok OK", "OPEN /ro/sub/l ok OK", "RELINK ok",
                                "OPEN /ro/sub/l errno 13", "OPEN /ro/l ok OK"], out


def test_watched_syscalls_reach_the_supervisor_only_when_allowed():
    allow = compile_policy(load_policy_text("ALLOW { read } DEFAULT ALLOW"), watch=WATCHED)
    deny = compile_policy(load_policy_text(
        "KILL { io_setup, io_uring_setup, mount } ALLOW { read } DEFAULT ERRNO(1)"), watch=WATCHED)
    for name, nr in (("io_setup", 206), ("io_uring_setup", 425), ("mount", 165), ("unshare", 272)):
        assert allow.kernel_verdict(nr).action == "TRACE", name
        assert deny.kernel_verdict(nr).action != "TRACE", name


def test_socket_is_watched_only_when_a_ring_family_may_be_allowed():
    """AF_PACKET and AF_XDP sockets map rings the kernel writes into: socket()
    reaches the supervisor when the policy may allow those families, decided
    on the family argument alone (the shipped default allows neither)."""
    def traced(text):
        cp = compile_policy(load_policy_text(text), watch=WATCHED)
        return cp.kernel_verdict(41, args=(2, 1, 0, 0, 0, 0)).action == "TRACE"
    assert traced("ALLOW { socket } DEFAULT KILL")
    assert traced("ALLOW { socket(f, t, p) { f == 17 } } ERRNO(1) { socket } DEFAULT ALLOW")
    assert traced("ALLOW { socket(f, t, p) { t == 3 } } ERRNO(1) { socket } DEFAULT ALLOW")
    assert traced("ALLOW { socket(f, t, p) { f != 2 || t == 3 } } ERRNO(1) { socket } DEFAULT ALLOW")
    assert not traced("ALLOW { socket(f, t, p) { f == 2, f == 1 } } ERRNO(1) { socket } DEFAULT ALLOW")
    assert not traced("ALLOW { socket(f, t, p) { f == 2 && t == 3 } } ERRNO(1) { socket } DEFAULT ALLOW")
    assert not traced("ERRNO(1) { socket(f, t, p) { f == 17 || f == 44 } } DEFAULT ALLOW")
    default = compile_policy(load_policy_file(default_policy_path()), watch=WATCHED)
    assert default.kernel_verdict(41, args=(2, 1, 0, 0, 0, 0)).action == "ALLOW"


PACKET = r"""
#include <stdio.h>
#include <sys/socket.h>
int main(int argc, char **argv)
{
    int s = socket(argc > 1 ? 17 : 2, argc > 1 ? 3 : 2, 0);     /* AF_PACKET raw, or AF_INET udp */
    printf("%d\n", s >= 0);
    return 0;
}
"""


def test_an_allowed_packet_socket_ends_the_lone_task_shortcuts(cc, tmp_path):
    """Once a packet socket exists, the kernel may write the task's memory (a
    mapped ring) while it is stopped: the supervisor stops trusting "alone"
    (async_io), as after io_uring_setup.  An inet socket changes nothing."""
    from test_supervisor_core import PrefixPolicy, lines, supervise
    prog = str(cc(PACKET))
    for args, ring in (([], False), (["packet"], True)):
        out, text, sup = supervise([prog, *args], PrefixPolicy(allow=["/"]), tmp_path,
                                   trace=("socket",))
        assert lines(text) == ["1"] and sup.async_io is ring, (args, text)
