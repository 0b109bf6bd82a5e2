"""Namespaces as the jailed program sees them: ids, pid 1, net, uts, ipc, cgroup, time."""
from __future__ import annotations

import os

from isohelp import QUIET, SYS, jail_sh


def _map(text):
    return [tuple(int(x) for x in ln.split()) for ln in text.strip().splitlines()]


def test_default_root_maps_to_nobody(tj):
    r = jail_sh(tj, "id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "0" and out[1] == "0"
    assert _map(out[2]) == [(0, 65534, 1)] and _map(out[3]) == [(0, 65534, 1)]


def test_user_group_inside_ids(tj):
    r = jail_sh(tj, "id -u; id -g; id -G; cat /proc/self/uid_map", "-u", "1000", "-g", "1001")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[:3] == ["1000", "1001", "1001"]      # no host supplementary groups leak in
    assert _map(out[3]) == [(1000, 65534, 1)]


def test_explicit_outside_mapping_and_count(tj):
    r = jail_sh(tj, "cat /proc/self/uid_map /proc/self/gid_map; id -u", "-u", "0:100000:10",
                "-g", "5:200000:3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert _map(lines[0]) == [(0, 100000, 10)] and _map(lines[1]) == [(5, 200000, 3)]
    assert lines[2] == "0"


def test_explicit_root_mapping_is_logged(tj):
    r = tj(*QUIET[1:], *SYS, "-u", "0:0:1", "-g", "0:0:1", "--", "/bin/cat", "/proc/self/uid_map")
    assert r.returncode == 0, r.stderr
    assert _map(r.stdout) == [(0, 0, 1)]
    assert "host uid 0" in r.stderr


def test_user_by_name(tj):
    r = jail_sh(tj, "id -u", "-u", "nobody", "-g", "nogroup")
    assert r.returncode == 0 and r.stdout.strip() == "65534"


def test_pid_namespace_command_is_pid1_and_ps_sees_only_jail(tj):
    r = jail_sh(tj, "echo $$; ps -e -o pid= ; ls /proc | grep -c '^[0-9]'")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "1"
    pids = [int(x) for x in lines[1:-1]]
    assert 1 in pids and len(pids) <= 3, r.stdout      # sh, ps (and maybe a pipe peer)
    assert int(lines[-1]) <= 4


def test_net_only_lo_and_down(tj):
    r = jail_sh(tj, "tail -n +3 /proc/net/dev | cut -d: -f1; ip -o link")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [ln.strip() for ln in lines if "lo" == ln.strip() or ln.startswith(" ")] == ["lo"]
    assert "state DOWN" in r.stdout and r.stdout.count(": lo:") == 1


def test_net_lo_up_when_asked(tj):
    r = jail_sh(tj, "ip -o link", "--iface_lo")
    assert r.returncode == 0, r.stderr
    assert ",UP," in r.stdout or "<LOOPBACK,UP" in r.stdout
    r = jail_sh(tj, "ip -o link", "--iface_no_lo")
    assert "state DOWN" in r.stdout


def test_net_disabled_sees_host_interfaces(tj):
    r = jail_sh(tj, "tail -n +3 /proc/net/dev | wc -l", "--disable_clone_newnet")
    host = len(open("/proc/net/dev").read().splitlines()) - 2
    assert int(r.stdout) == host


def test_hostname(tj):
    assert jail_sh(tj, "hostname").stdout == "NSJAIL\n"
    assert jail_sh(tj, "hostname", "-H", "box42").stdout == "box42\n"
    r = jail_sh(tj, "hostname", "--disable_clone_newuts")
    assert r.stdout.strip() == os.uname().nodename


def test_ipc_namespace(tj):
    r = jail_sh(tj, "readlink /proc/self/ns/ipc /proc/self/ns/uts /proc/self/ns/cgroup /proc/self/ns/net"
                    " /proc/self/ns/mnt /proc/self/ns/user")
    assert r.returncode == 0, r.stderr
    inside = r.stdout.split()
    for name, val in zip(["ipc", "uts", "cgroup", "net", "mnt", "user"], inside):
        assert val != os.readlink(f"/proc/self/ns/{name}"), name


def test_disable_namespaces_share_host(tj):
    r = jail_sh(tj, "readlink /proc/self/ns/ipc", "--disable_clone_newipc")
    assert r.stdout.strip() == os.readlink("/proc/self/ns/ipc")


def test_cgroup_namespace_root(tj):
    r = jail_sh(tj, "cat /proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        assert line.rsplit(":", 1)[1] == "/", r.stdout


def test_time_namespace_when_enabled(tj):
    r = jail_sh(tj, "readlink /proc/self/ns/time_for_children /proc/self/ns/time", "--enable_clone_newtime")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] != os.readlink("/proc/self/ns/time")
    r = jail_sh(tj, "readlink /proc/self/ns/time")
    assert r.stdout.strip() == os.readlink("/proc/self/ns/time")
