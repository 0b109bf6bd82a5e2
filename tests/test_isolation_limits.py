"""rlimits, time limit, env, capabilities, NO_NEW_PRIVS, setsid, fds, cgroups."""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import time

from isohelp import QUIET, SYS, jail_sh


def _limits(text):
    out = {}
    for line in text.splitlines()[1:]:
        parts = line[:26].strip(), line[26:47].strip(), line[47:68].strip()
        out[parts[0]] = parts[1:]
    return out


def test_default_rlimits_are_nsjail_defaults(tj):
    r = jail_sh(tj, "cat /proc/self/limits")
    lim = _limits(r.stdout)
    assert lim["Max address space"] == (str(4096 << 20),) * 2
    assert lim["Max core file size"] == ("0", "0")
    assert lim["Max cpu time"] == ("600", "600")
    assert lim["Max file size"] == (str(1 << 20),) * 2
    assert lim["Max open files"] == ("32", "32")


def test_rlimits_as_asked(tj):
    r = jail_sh(tj, "cat /proc/self/limits", "--rlimit_as", "max", "--rlimit_cpu", "7",
                "--rlimit_nofile", "64", "--rlimit_stack", "16", "--rlimit_nproc", "100",
                "--rlimit_memlock", "128", "--rlimit_core", "2")
    lim = _limits(r.stdout)
    assert lim["Max cpu time"] == ("7", "7")
    assert lim["Max open files"] == ("64", "64")
    assert lim["Max stack size"] == (str(16 << 20),) * 2
    assert lim["Max processes"] == ("100", "100")
    assert lim["Max locked memory"] == (str(128 << 10),) * 2
    assert lim["Max core file size"] == (str(2 << 20),) * 2
    assert lim["Max address space"][1] == "unlimited"


def test_disable_rlimits_inherits(tj):
    r = jail_sh(tj, "cat /proc/self/limits", "--disable_rlimits")
    assert _limits(r.stdout)["Max cpu time"] == ("unlimited", "unlimited")


def test_fsize_limit_enforced(tj):
    # default RLIMIT_FSIZE 1 MB; SIGXFSZ has its default action in the jail (Python, which
    # tracejail is, ignores it: that must not leak into the command)
    r = jail_sh(tj, "head -c 3000000 /dev/zero > /t/f; echo rc=$?; wc -c < /t/f", "-T", "/t",
                "--tmpfs_size", str(64 << 20), "-R", "/dev/zero")
    rc, size = r.stdout.split()
    assert rc == "rc=153" and int(size) == 1 << 20, r.stdout


def test_time_limit_kills_and_exits_137(tj):
    t0 = time.monotonic()
    r = jail_sh(tj, "sleep 30", "-t", "1")
    assert r.returncode == 137
    assert time.monotonic() - t0 < 15
    assert "time limit" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_time_limit_with_ignored_term_and_children(tj, cc):
    prog = cc("iso_daemon.c")
    token = f"tjtok{os.getpid()}t"
    r = tj(*QUIET, *SYS, "-R", str(prog), "-t", "2", "--", "/bin/sh", "-c",
           f"trap '' TERM; {prog} {token}; sleep 60")
    assert r.returncode == 137
    assert _procs_with(token) == []


def test_env_cleared_and_passed(tj):
    env = dict(os.environ, TJ_SECRET="leak", TJ_PASS="passed")
    r = tj(*QUIET, *SYS, "--", "/usr/bin/env", env=env)
    assert r.returncode == 0 and r.stdout == ""
    r = tj(*QUIET, *SYS, "-E", "A=1", "-E", "TJ_PASS", "--", "/usr/bin/env", env=env)
    assert sorted(r.stdout.split()) == ["A=1", "TJ_PASS=passed"]
    r = tj(*QUIET, *SYS, "-e", "--", "/usr/bin/env", env=env)
    assert "TJ_SECRET=leak" in r.stdout


def _caps(text):
    return {k: int(v, 16) for k, v in (ln.split(":\t") for ln in text.splitlines() if ln.startswith("Cap"))}


def test_caps_dropped_by_default(tj):
    r = jail_sh(tj, "grep ^Cap /proc/self/status")
    caps = _caps(r.stdout)
    assert caps == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": 0, "CapAmb": 0}


def test_keep_caps_and_single_cap(tj):
    full = (1 << (int(open("/proc/sys/kernel/cap_last_cap").read()) + 1)) - 1
    r = jail_sh(tj, "grep ^Cap /proc/self/status", "--keep_caps")
    assert _caps(r.stdout)["CapEff"] == full
    r = jail_sh(tj, "grep ^Cap /proc/self/status", "--cap", "CAP_NET_RAW", "-u", "1000")
    caps = _caps(r.stdout)
    assert caps["CapEff"] == 1 << 13 and caps["CapBnd"] == 1 << 13 and caps["CapAmb"] == 1 << 13


def test_no_new_privs(tj, tmp_path):
    assert "NoNewPrivs:\t1" in jail_sh(tj, "cat /proc/self/status").stdout
    pol = tmp_path / "allow.policy"
    pol.write_text("POLICY a { ALLOW { write } } USE a DEFAULT ALLOW\n")
    # without NO_NEW_PRIVS a filter needs CAP_SYS_ADMIN: fail closed, never run unfiltered
    r = jail_sh(tj, "touch /never", "-P", str(pol), "--disable_no_new_privs")
    assert r.returncode == 125 and "seccomp" in r.stderr
    r = jail_sh(tj, "cat /proc/self/status", "-P", str(pol), "--disable_no_new_privs", "--keep_caps")
    assert "NoNewPrivs:\t0" in r.stdout and "Seccomp:\t2" in r.stdout, r.stderr


def test_setsid_and_skip(tj):
    r = jail_sh(tj, "cut -d' ' -f6 /proc/self/stat; echo $$")
    sid = r.stdout.split()[0]
    assert sid == "1"          # the shell (pid 1) leads its own session
    r = jail_sh(tj, "cut -d' ' -f6 /proc/self/stat", "--skip_setsid")
    assert r.stdout.split()[0] == "0"   # session leader is outside the pid namespace


def test_fds_closed_except_pass_fd(tj):
    r_fd, w_fd = os.pipe()
    extra = os.open("/dev/null", os.O_RDONLY)
    try:
        for fd in (r_fd, w_fd, extra):
            os.set_inheritable(fd, True)
        args = [sys.executable, "-m", "tracejail", *QUIET, *SYS]
        cmd = ["--", "/bin/sh", "-c", "ls /proc/self/fd"]
        out = subprocess.run(args + cmd, capture_output=True, text=True, close_fds=False, timeout=60,
                             cwd=os.path.dirname(os.path.dirname(__file__)))
        fds = sorted(int(x) for x in out.stdout.split())
        assert fds[:3] == [0, 1, 2] and len(fds) == 4, out   # + ls's own directory fd
        out = subprocess.run(args + ["--pass_fd", str(extra)] + cmd, capture_output=True, text=True,
                             close_fds=False, timeout=60, cwd=os.path.dirname(os.path.dirname(__file__)))
        fds = sorted(int(x) for x in out.stdout.split())
        assert extra in fds and r_fd not in fds and w_fd not in fds, out
    finally:
        for fd in (r_fd, w_fd, extra):
            os.close(fd)


def test_silent_and_stderr_to_null(tj):
    r = jail_sh(tj, "echo out; echo err >&2", "--silent")
    assert r.stdout == "" and r.stderr == ""
    r = jail_sh(tj, "echo out; echo err >&2", "--stderr_to_null")
    assert r.stdout == "out\n" and r.stderr == ""


def test_nice_level_default_19(tj):
    r = jail_sh(tj, "cut -d' ' -f19 /proc/self/stat")
    assert r.stdout.strip() == "19"
    r = jail_sh(tj, "cut -d' ' -f19 /proc/self/stat", "--nice_level", "5")
    assert r.stdout.strip() == "5"


def _procs_with(token: str) -> list[int]:
    found = []
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            cmdline = open(p, "rb").read()
            if token.encode() in cmdline and b"tracejail" not in cmdline:
                found.append(int(p.split("/")[2]))
        except OSError:
            pass
    return [p for p in found if p != os.getpid()]


def test_cgroup_pids_max_stops_fork_bomb(tj, cc):
    prog = cc("iso_forkbomb.c")
    r = tj(*QUIET, *SYS, "-R", str(prog), "--cgroup_pids_max", "16", "--", str(prog))
    assert r.returncode == 0, r.stderr
    n = int(r.stdout.split("=")[1])
    assert 5 <= n < 16, r.stdout


def test_cgroup_mem_max(tj, cc):
    prog = cc("iso_memhog.c")
    base = [*QUIET, *SYS, "-R", str(prog)]
    ok = tj(*base, "--cgroup_mem_max", str(64 << 20), "--", str(prog), "16")
    assert ok.returncode == 0 and "allocated 16" in ok.stdout, ok.stderr
    r = tj(*base, "--cgroup_mem_max", str(32 << 20), "--", str(prog), "200")
    assert r.returncode == 137 and "allocated" not in r.stdout, (r.returncode, r.stdout, r.stderr)


def test_cgroup_cpu_quota_setup_and_cleanup(tj):
    p = subprocess.Popen([sys.executable, "-m", "tracejail", *QUIET, *SYS, "--cgroup_cpu_ms_per_sec", "200",
                          "--cgroup_pids_max", "50", "--", "/bin/sleep", "1"],
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    seen, quota = set(), None
    while p.poll() is None:
        seen |= set(glob.glob(f"/sys/fs/cgroup/*/tracejail/jail.{p.pid}.*"))
        for d in seen:
            if "/cpu/" in d and quota is None:
                try:
                    quota = open(d + "/cpu.cfs_quota_us").read().strip()
                except OSError:
                    pass
        time.sleep(0.05)
    assert p.returncode == 0 and quota == "200000"
    assert {d.split("/")[4] for d in seen} == {"cpu", "pids"}
    assert glob.glob(f"/sys/fs/cgroup/*/tracejail/jail.{p.pid}.*") == []


def test_supervisor_outside_jail_cgroup(tj):
    p = subprocess.Popen([sys.executable, "-m", "tracejail", *QUIET, *SYS, "--cgroup_pids_max", "40",
                          "--", "/bin/sleep", "3"], cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        deadline = time.monotonic() + 10
        dirs = []
        while time.monotonic() < deadline and not dirs:
            dirs = glob.glob(f"/sys/fs/cgroup/pids/tracejail/jail.{p.pid}.*")
            time.sleep(0.05)
        assert dirs, "jail cgroup not created"
        procs = []
        while time.monotonic() < deadline and not procs:
            procs = [int(x) for x in open(dirs[0] + "/cgroup.procs").read().split()]
            time.sleep(0.05)
        assert procs and p.pid not in procs
        assert open(dirs[0] + "/pids.max").read().strip() == "40"
    finally:
        p.wait(timeout=30)
    assert not os.path.exists(dirs[0])


def test_max_cpus_and_personality(tj):
    r = jail_sh(tj, "grep Cpus_allowed_list /proc/self/status; cat /proc/self/personality",
                "--max_cpus", "1", "--persona_addr_no_randomize")
    assert r.returncode == 0, r.stderr
    cpus, persona = r.stdout.split("\n")[:2]
    assert cpus.split()[-1].isdigit()                    # one CPU, not a range/list
    assert int(persona, 16) & 0x0040000


def test_log_file_and_levels(tj, tmp_path):
    log = tmp_path / "tj.log"
    r = tj(*QUIET[1:], *SYS, "-l", str(log), "-v", "--", "/bin/true")
    assert r.returncode == 0 and "[I]" not in r.stderr
    text = log.read_text()
    assert "[I] mode: once" in text and "[D] uid_map" in text


def test_signal_dispositions_and_mask_are_clean(tj):
    """tracejail is Python (SIGPIPE/SIGXFSZ ignored) with its own handlers: none of it leaks."""
    r = jail_sh(tj, "grep -E '^Sig(Blk|Ign)' /proc/self/status")
    vals = dict(ln.split(":\t") for ln in r.stdout.splitlines())
    assert int(vals["SigBlk"], 16) == 0 and int(vals["SigIgn"], 16) == 0, r.stdout


def test_jail_cannot_raise_its_own_cgroup_limit(tj):
    script = ("for f in /sys/fs/cgroup/pids/tracejail/jail.*/pids.max; do "
              "(echo max > $f) && echo WROTE $f; done; echo end")
    r = tj(*QUIET, "--chroot", "/", "--cgroup_pids_max", "77", "--", "/bin/sh", "-c", script)
    assert "end" in r.stdout and "WROTE" not in r.stdout, r.stdout
    assert "Read-only file system" in r.stderr
