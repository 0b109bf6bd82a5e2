"""CLI: nsjail spellings, seed examples, exit codes, bad input, TOML config."""
from __future__ import annotations

import os

import pytest

from isohelp import QUIET, SYS, allow_policy, jail_sh, one_line_error  # noqa: F401


def test_seed_chroot_echo(tj):
    r = tj("-Mo", "--chroot", "/", "--", "/bin/echo", "ABC")      # verbatim, default policy
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ABC\n"


def test_seed_bash_minimal_fs(tj):
    r = tj("-Mo", "--user", "0", "--group", "99999", "-R", "/bin/", "-R", "/lib", "-R", "/lib64/",
           "-R", "/usr/", "-R", "/sbin/", "-T", "/dev", "-R", "/dev/urandom", "--keep_caps", "--",
           "/bin/bash", "-c", "id; ls -l /")               # verbatim, default policy
    assert r.returncode == 0, r.stderr
    assert "uid=0" in r.stdout and "gid=99999" in r.stdout
    names = {ln.split()[-1] for ln in r.stdout.splitlines()[2:] if ln.strip()}
    assert names == {"bin", "dev", "lib", "lib64", "proc", "sbin", "usr"}, r.stdout
    # the start-up log states the root mapping
    assert "65534" in r.stderr and "not root on the host" in r.stderr


def test_run_subcommand_same_as_bare(tj):
    a = tj("run", *QUIET, "--chroot", "/", "--", "/bin/echo", "x")
    b = tj(*QUIET, "--chroot", "/", "--", "/bin/echo", "x")
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout == "x\n"


def test_dash_and_underscore_spellings(tj):
    r = jail_sh(tj, "cat /proc/self/limits", "--rlimit-nofile", "40", "--rlimit_fsize", "2")
    assert r.returncode == 0, r.stderr
    assert "Max open files            40" in r.stdout
    assert "Max file size             2097152" in r.stdout


def test_exit_code_passthrough(tj):
    assert jail_sh(tj, "exit 42").returncode == 42
    assert jail_sh(tj, "exit 0").returncode == 0


def test_killed_by_signal_is_128_plus_n(tj, cc, allow_policy):
    prog = cc("iso_segv.c")
    # -Me: an untraced pid-namespace init dies of a kernel-forced SIGSEGV.  (Traced, the
    # kernel keeps a namespace init unkillable by it: that case is the supervisor's.)
    r = tj("-Me", *QUIET, *SYS, "-P", allow_policy, "-R", str(prog), "--", str(prog))
    assert r.returncode == 128 + 11, r.stderr
    # without a pid namespace the shell is not an init: a self-sent SIGKILL kills it
    r = jail_sh(tj, "kill -9 $$", "--disable_clone_newpid", "--disable_proc")
    assert r.returncode == 137, r.stderr


def test_command_not_found_127_and_not_executable_126(tj, tmp_path):
    r = tj(*QUIET, *SYS, "--", "/bin/definitely-not-here")
    assert r.returncode == 127
    assert "not found" in one_line_error(r)
    data = tmp_path / "data.txt"
    data.write_text("not a program\n")
    os.chmod(data, 0o644)
    r = tj(*QUIET, *SYS, "-R", f"{data}:/data.txt", "--", "/data.txt")
    assert r.returncode == 126
    assert "not executable" in one_line_error(r)
    r = tj(*QUIET, *SYS, "--", "/usr")
    assert r.returncode == 126
    r = tj(*QUIET, *SYS, "--", "nosuchcmd")
    assert r.returncode == 127


def test_path_search_uses_jail_env(tj):
    r = tj(*QUIET, *SYS, "-E", "PATH=/usr/bin:/bin", "--", "echo", "via-path")
    assert r.returncode == 0 and r.stdout == "via-path\n"


@pytest.fixture
def marker_dir(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    os.chmod(d, 0o777)
    os.chmod(tmp_path, 0o755)
    return d


BAD = [
    (["--bogus-flag"], 2),
    (["--rlimit_as", "abc"], 2),
    (["--rlimit_nofile", "-3"], 2),
    (["-u", "nosuchuser"], 2),
    (["-g", "nosuchgroup"], 2),
    (["-u", "1:2:x"], 2),
    (["-R", "/definitely/missing/source"], 2),
    (["-B", "/definitely/missing/source:/x"], 2),
    (["--time_limit", "soon"], 2),
    (["--cap", "CAP_NOT_A_CAP"], 2),
    (["-Mr"], 2),
    (["-Ml"], 2),
    (["-Mz"], 2),
    (["--config", "/definitely/missing.toml"], 2),
    (["--chroot", "/definitely/missing"], 2),
    (["-s", "nocolon"], 2),
]


def _marker_cmd(marker_dir):
    return [*QUIET, *SYS, "-B", f"{marker_dir}:/out", "--", "/bin/sh", "-c", "touch /out/marker"]


def test_marker_control_runs(tj, marker_dir):
    """The command used by the bad-input cases does create the marker when input is fine."""
    r = tj(*_marker_cmd(marker_dir))
    assert r.returncode == 0, r.stderr
    assert (marker_dir / "marker").exists()


@pytest.mark.parametrize("bad,code", BAD, ids=[" ".join(b) for b, _ in BAD])
def test_bad_input_one_line_and_never_runs(tj, marker_dir, bad, code):
    r = tj(*bad, *_marker_cmd(marker_dir))
    assert r.returncode == code, (r.returncode, r.stderr)
    one_line_error(r)
    assert not (marker_dir / "marker").exists()


def test_missing_command(tj):
    r = tj(*QUIET, *SYS)
    assert r.returncode == 2
    assert "no command" in one_line_error(r)
    r = tj(*QUIET, *SYS, "--")
    assert r.returncode == 2


def test_unreadable_and_invalid_config(tj, tmp_path, marker_dir):
    bad = tmp_path / "bad.toml"
    bad.write_text("hostname = [unclosed\n")
    r = tj("--config", str(bad), *_marker_cmd(marker_dir))
    assert r.returncode == 2 and "invalid config" in one_line_error(r)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("no_such_option = 1\n")
    r = tj("--config", str(unknown), *_marker_cmd(marker_dir))
    assert r.returncode == 2 and "unknown option" in one_line_error(r)
    noread = tmp_path / "noread.toml"
    noread.write_text("hostname = 'x'\n")
    os.chmod(noread, 0)
    # root reads anything; make it a directory instead to be unreadable as a file
    d = tmp_path / "dir.toml"
    d.mkdir()
    r = tj("--config", str(d), *_marker_cmd(marker_dir))
    assert r.returncode == 2
    one_line_error(r)
    assert not (marker_dir / "marker").exists()


def test_config_file_and_flag_override(tj, tmp_path):
    cfg = tmp_path / "jail.toml"
    cfg.write_text(
        'hostname = "fromfile"\n'
        'bindmount_ro = ["/bin", "/lib", "/lib64", "/usr"]\n'
        'env = ["A=1", "B=2"]\n'
        'rlimit-nofile = 48\n'
        'really_quiet = true\n'
        'no-report = true\n'
        'command = ["/bin/sh", "-c", "hostname; echo $A$B; grep \'open files\' /proc/self/limits"]\n')
    r = tj(*QUIET, "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "fromfile" and out[1] == "12" and " 48 " in out[2]
    r = tj(*QUIET, "--config", str(cfg), "-H", "fromflag", "--", "/bin/hostname")
    assert r.returncode == 0 and r.stdout == "fromflag\n"


def test_argparse_errors_are_one_line(tj):
    r = tj("--time_limit")
    assert r.returncode == 2
    one_line_error(r)


def test_exec_mode_runs_without_supervisor(tj, allow_policy):
    r = tj("-Me", *QUIET, "-P", allow_policy, "--chroot", "/", "--disable_proc", "--", "/bin/sh", "-c",
           "grep TracerPid /proc/self/status || echo noproc; echo ABC")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("ABC\n")
    # a policy that needs the supervisor is refused in -Me, and nothing runs
    r = tj("-Me", *QUIET, "--seccomp_string", "USE x DEFAULT ALLOW POLICY x { TRACE { openat } }",
           "--chroot", "/", "--", "/bin/echo", "ran")
    if r.returncode != 0:
        assert r.returncode == 2 and r.stdout == ""
        one_line_error(r)


def test_quiet_flags(tj):
    r = tj(*QUIET[1:], "-q", "--chroot", "/", "--", "/bin/true")
    assert r.returncode == 0 and "[I]" not in r.stderr
    r = tj(*QUIET[1:], "--chroot", "/", "--", "/bin/true")
    assert "[I]" in r.stderr
