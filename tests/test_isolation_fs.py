"""Filesystem view: tmpfs root, chroot, binds, tmpfs, symlinks, /proc, read-only."""
from __future__ import annotations

import os

import pytest

from isohelp import QUIET, SYS, jail_sh, one_line_error


@pytest.fixture
def shared(tmp_path):
    os.chmod(tmp_path, 0o755)
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o777)
    (d / "hello.txt").write_text("hello from host\n")
    return d


def test_root_is_empty_readonly_tmpfs(tj):
    r = jail_sh(tj, "ls -a /; echo ---; touch /newfile 2>&1; echo rc=$?; grep ' / ' /proc/mounts")
    assert r.returncode == 0, r.stderr
    entries = set(r.stdout.split("---")[0].split()) - {".", ".."}
    assert entries == {"bin", "lib", "lib64", "usr", "proc"}
    assert "Read-only file system" in r.stdout and "rc=1" in r.stdout
    assert "tmpfs ro," in r.stdout


def test_ro_bind_write_fails_and_host_unchanged(tj, shared):
    r = jail_sh(tj, "cat /data/hello.txt; (echo x > /data/new); echo rc=$?; rm /data/hello.txt; echo rm=$?",
                "-R", f"{shared}:/data")
    assert "hello from host" in r.stdout and "rc=2" in r.stdout and "rm=1" in r.stdout
    assert r.stderr.count("Read-only file system") == 2
    assert sorted(os.listdir(shared)) == ["hello.txt"]


def test_rw_bind_src_dst(tj, shared):
    r = jail_sh(tj, "echo written > /out/inside.txt && cat /out/hello.txt", "-B", f"{shared}:/out")
    assert r.returncode == 0, r.stderr
    assert (shared / "inside.txt").read_text() == "written\n"


def test_bind_file_and_nested_tmpfs_symlink(tj, shared):
    r = jail_sh(tj, "cat /etc/h; echo t > /work/t && cat /work/t; readlink /link; cat /link",
                "-R", f"{shared}/hello.txt:/etc/h", "-T", "/work", "-s", "/etc/h:/link")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["hello from host", "t", "/etc/h", "hello from host"]


def test_tmpfs_size_limit(tj):
    r = jail_sh(tj, "dd if=/dev/zero of=/t/f bs=1M count=3 2>&1; echo rc=$?", "-T", "/t",
                "-R", "/dev/zero", "--tmpfs_size", "1048576", "--rlimit_fsize", "16")
    assert "rc=1" in r.stdout and "No space left" in r.stdout


def test_missing_bind_source_never_runs(tj, shared):
    r = tj(*QUIET, *SYS, "-B", f"{shared}:/out", "-R", "/no/such/dir:/x", "--",
           "/bin/sh", "-c", "touch /out/marker")
    assert r.returncode in (2, 125)
    assert "/no/such/dir" in one_line_error(r)
    assert not (shared / "marker").exists()


def test_chroot_tree_readonly_and_rw(tj, tmp_path):
    root = tmp_path / "root"
    for d in ("bin", "lib", "lib64", "usr", "proc"):
        (root / d).mkdir(parents=True)
    os.chmod(tmp_path, 0o755)
    os.chmod(root, 0o777)
    (root / "marker.txt").write_text("chroot tree\n")
    r = jail_sh(tj, "cat /marker.txt; touch /new 2>&1; echo rc=$?", "--chroot", str(root))
    assert r.returncode == 0, r.stderr
    assert "chroot tree" in r.stdout and "rc=1" in r.stdout
    assert not (root / "new").exists()
    r = jail_sh(tj, "touch /new; echo rc=$?", "--chroot", str(root), "--rw")
    assert "rc=0" in r.stdout and (root / "new").exists()


def test_chroot_slash_is_readonly_including_submounts(tj):
    r = tj(*QUIET, "--chroot", "/", "--", "/bin/sh", "-c",
           "touch /tmp/tj-should-fail 2>&1; echo rc=$?; touch /dev/shm/x 2>&1; echo rc2=$?")
    assert "rc=1" in r.stdout and "rc2=1" in r.stdout, r.stdout
    assert not os.path.exists("/tmp/tj-should-fail")


def test_proc_readonly_and_rw(tj):
    r = jail_sh(tj, "(echo renamed > /proc/self/comm); echo rc=$?; grep ' /proc ' /proc/mounts")
    assert "rc=2" in r.stdout and "proc ro," in r.stdout and "Read-only file system" in r.stderr
    r = jail_sh(tj, "echo renamed > /proc/self/comm; echo rc=$?; cat /proc/self/comm", "--proc_rw")
    assert "rc=0" in r.stdout
    r = jail_sh(tj, "ls /proc | wc -l", "--disable_proc")
    assert r.stdout.strip() == "0"


def test_old_root_is_detached(tj):
    r = jail_sh(tj, "cat /proc/mounts; ls /oldroot /newroot; echo rc=$?")
    assert "rc=2" in r.stdout and "No such file" in r.stderr
    mounts = [ln.split()[1] for ln in r.stdout.splitlines() if ln.count(" ") >= 5]
    assert set(mounts) <= {"/", "/proc", "/bin", "/lib", "/lib64", "/usr"}, mounts


def test_bind_sources_under_root_only_dir(tj, tmp_path):
    private = tmp_path / "private"
    private.mkdir()
    os.chmod(private, 0o700)
    (private / "f").write_text("secret-ok\n")
    os.chmod(private / "f", 0o644)
    r = jail_sh(tj, "cat /f", "-R", f"{private}/f:/f")
    assert r.returncode == 0 and r.stdout == "secret-ok\n", r.stderr


def test_generic_mount_and_extra_map_lines(tj):
    r = jail_sh(tj, "grep ' /m ' /proc/mounts; echo ok > /m/f && cat /m/f; cat /proc/self/uid_map",
                "-m", "none:/m:tmpfs:size=65536", "-u", "0:100000:1", "-U", "1:100001:10")
    assert r.returncode == 0, r.stderr
    assert "tmpfs rw," in r.stdout and "size=64k" in r.stdout and "ok" in r.stdout
    assert "100001" in r.stdout
