"""Launcher: owns the ORDER of the jail setup steps.

Process shape:  S (tracejail, host namespaces, child subreaper)
                  '-- C: joins the jail cgroup, unshares the namespaces, forks J, exits
                        '-- J: pid 1 of the new pid namespace; does all setup, reports
                               over a CLOEXEC pipe, blocks on the "go" pipe; after "go"
                               loads the seccomp filter and execs the command.
S writes C's uid/gid maps (it is host root; C cannot map other ids itself).
J reparents to S when C exits (subreaper), so S can seize and wait for it.
Nothing the user asked for is skipped: any failing step ends J with a
one-line message and 125/126/127 before the command runs.
"""
from __future__ import annotations

import ctypes
import os
import signal

from tracejail.errors import CommandNotFound, NotExecutable, SetupError, TracejailError
# everything J needs is imported here: after pivot_root the package files are gone
from tracejail.jail import caps, cgroups, libc, limits, mounts, namespaces, seccomp_load, users
from tracejail.jail.log import log

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _readline(fd: int) -> str:
    buf = bytearray()
    while True:
        try:
            b = os.read(fd, 1)
        except InterruptedError:
            continue
        if not b or b == b"\n":
            return buf.decode(errors="replace")
        buf += b


def _send(fd: int, text: str) -> None:
    data = (text.replace("\n", " ") + "\n").encode(errors="replace")
    try:
        os.write(fd, data)
    except OSError:
        pass


def _raise_from_line(line: str, what: str) -> None:
    """'E<code> message' -> the matching TracejailError; '' (EOF) -> SetupError."""
    if not line:
        raise SetupError(f"jail setup died before reporting ({what})")
    if line.startswith("E"):
        code, _, msg = line[1:].partition(" ")
        cls = {126: NotExecutable, 127: CommandNotFound}.get(int(code), SetupError)
        raise cls(msg, int(code))
    raise SetupError(f"unexpected message from the jail: {line[:80]!r}")


def _die(fd: int, e: BaseException) -> None:
    """In C or J: report the error as one 'E<code> message' line and _exit (never return
    into the forked copy of tracejail)."""
    if isinstance(e, TracejailError):
        code, msg = e.exit_code, str(e)
    else:
        code, msg = 125, f"jail setup: {type(e).__name__}: {e}"
    _send(fd, f"E{code} {msg}")
    os._exit(code)


def build_env(config) -> dict[str, str]:
    env = dict(os.environ) if config.keep_env else {}
    for item in config.env:
        k, sep, v = item.partition("=")
        if sep:
            env[k] = v
        elif k in os.environ:
            env[k] = os.environ[k]
    return env


def find_command(argv0: str, env: dict) -> str:
    """PATH search the way execvp does; 127 if nothing exists, 126 if not executable."""
    if "/" in argv0:
        cands = [argv0]
    else:
        cands = [os.path.join(d or ".", argv0) for d in env.get("PATH", DEFAULT_PATH).split(":")]
    seen = None
    for c in cands:
        if os.path.exists(c):
            if os.path.isfile(c) and os.access(c, os.X_OK):
                return c
            seen = seen or c
    if seen:
        raise NotExecutable(f"command not executable: {seen}")
    raise CommandNotFound(f"command not found: {argv0}")


class Launcher:
    def __init__(self, config, bpf: bytes | None = None):
        self.config = config
        self.bpf = bpf
        self.flags = namespaces.flags_for(config)
        self.userns = bool(self.flags & namespaces.CLONE_NEWUSER)
        self.uid_map = users.effective_map(config.uid_map, "user")
        self.gid_map = users.effective_map(config.gid_map, "group")
        self.uid = users.jail_id(config.uid_map, "user", self.userns)
        self.gid = users.jail_id(config.gid_map, "group", self.userns)
        self.cgroup = None
        # called once while J sets the jail up and this side only waits (best effort)
        self.while_waiting = None
        self.pid: int | None = None
        self._go_w = self._err_r = None

    # ------------------------------------------------------------------ S side
    def _log_plan(self) -> None:
        c = self.config
        log(1, f"mode: {'once (supervised)' if c.mode == 'o' else 'exec (no supervisor)'}; "
               f"namespaces: {namespaces.describe(self.flags)}")
        if os.geteuid() == 0:
            if self.userns:
                outs = [o for _, o, _ in self.uid_map]
                if 0 in outs:
                    log(0, "jail uid map includes host uid 0 (asked explicitly): root in the jail is host root")
                else:
                    log(1, f"running as root: jail uid {self.uid}/gid {self.gid} map onto unprivileged "
                           f"outside uid {self.uid_map[0][1]}/gid {self.gid_map[0][1]}, "
                           "so root in the jail is not root on the host")
            elif self.uid == 0:
                log(0, "no user namespace and uid 0 asked: the jailed process is host root")
        log(2, f"uid_map {self.uid_map} gid_map {self.gid_map}")

    def _precheck(self) -> None:
        c = self.config
        if not c.argv:
            raise SetupError("no command given")
        if c.chroot and not os.path.isdir(c.chroot):
            raise SetupError(f"chroot directory does not exist: {c.chroot}")
        if not (self.flags & namespaces.CLONE_NEWNS) and c.mounts:
            raise SetupError("mounts (-R/-B/-T/-m/-s) need the mount namespace")
        for kind, src, *_ in c.mounts:
            if kind == "bind" and not os.path.exists(src):
                raise SetupError(f"bind mount source does not exist: {src}")
        self.mounts = []
        self.chroot_real = os.path.realpath(c.chroot) if c.chroot else None
        self.chroot_fd = None
        self.env = build_env(c)
        for fd in c.pass_fd:
            try:
                os.fstat(fd)
            except OSError:
                raise SetupError(f"--pass_fd {fd}: not an open file descriptor") from None
        self.caps_mask = caps.kept_mask(c)

    def _make_cgroup(self) -> None:
        c = self.config
        explicit = bool(c.cgroup_pids_max or c.cgroup_mem_max or c.cgroup_cpu_ms_per_sec)
        pids = c.cgroup_pids_max or (0 if explicit else c.cgroup_pids_guard)
        cg = cgroups.Cgroup(pids, c.cgroup_mem_max, c.cgroup_cpu_ms_per_sec)
        try:
            cg.setup()
        except SetupError as e:
            if explicit:
                raise
            log(0, f"default pids guard not set up: {e}")
            cg = cgroups.Cgroup()
        self.cgroup = cg

    def start(self) -> int:
        """Build the jail up to the barrier; returns the host pid of J (jail pid 1)."""
        self._precheck()
        self._log_plan()
        libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1, what="PR_SET_CHILD_SUBREAPER")
        self._make_cgroup()
        c2s_r, c2s_w = os.pipe()
        s2c_r, s2c_w = os.pipe()
        err_r, err_w = os.pipe()
        go_r, go_w = os.pipe()
        cpid = os.fork()
        if cpid == 0:  # ---- C
            os.close(c2s_r); os.close(s2c_w); os.close(err_r); os.close(go_w)
            self._run_c(c2s_w, s2c_r, err_w, go_r)
        os.close(c2s_w); os.close(s2c_r); os.close(err_w); os.close(go_r)
        self._go_w, self._err_r = go_w, err_r
        try:
            line = _readline(c2s_r)
            if line != "U":
                _raise_from_line(line, "unshare")
            if self.userns:
                try:
                    users.write_maps(cpid, self.uid_map, self.gid_map)
                except OSError as e:
                    raise SetupError(f"writing uid/gid maps: {e.strerror}") from None
            os.write(s2c_w, b"M\n")
            line = _readline(c2s_r)
            if not line.startswith("P"):
                _raise_from_line(line, "fork")
            self.pid = int(line[1:])
            if self.while_waiting is not None:
                try:
                    self.while_waiting()
                except Exception:
                    pass              # a warm-up only: what it prepares is done later anyway
            line = _readline(err_r)
            if line != "OK":
                _raise_from_line(line, "setup")
            return self.pid
        except BaseException:
            self.kill()
            self._reap()
            raise
        finally:
            os.close(c2s_r); os.close(s2c_w)
            try:
                os.waitpid(cpid, 0)
            except ChildProcessError:
                pass

    def _reap(self) -> None:
        if self.pid:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass

    def release(self) -> None:
        """Let J load the filter and exec."""
        os.write(self._go_w, b"G")
        os.close(self._go_w)
        self._go_w = None

    def late_error(self) -> str | None:
        """A message J wrote after "go" (filter load / execve failure), if any."""
        if self._err_r is None:
            return None
        os.set_blocking(self._err_r, False)
        try:
            line = os.read(self._err_r, 4096).decode(errors="replace").strip()
        except (BlockingIOError, OSError):
            line = ""
        if line.startswith("E"):
            return line[1:].partition(" ")[2]
        return None

    def kill(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.cgroup:
            self.cgroup.kill()

    def cleanup(self) -> None:
        if self.cgroup:
            self.cgroup.remove()
        for fd in [m[6] for m in getattr(self, "mounts", ()) if m[6] is not None] + (
                [self.chroot_fd] if getattr(self, "chroot_fd", None) is not None else []):
            try:
                os.close(fd)
            except OSError:
                pass
        self.mounts = []
        self.chroot_fd = None
        for fd in (self._go_w, self._err_r):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._go_w = self._err_r = None

    # ------------------------------------------------------------------ C side
    def _run_c(self, c2s_w, s2c_r, err_w, go_r) -> None:
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if os.geteuid() == 0:
                os.setgroups([])          # never carry host supplementary groups into the jail
            self.cgroup.attach_self()
            try:
                namespaces.unshare(self.flags)
            except OSError as e:
                raise SetupError(f"unshare({namespaces.describe(self.flags)}): {e.strerror}") from None
            _send(c2s_w, "U")
            if _readline(s2c_r) != "M":
                os._exit(125)
            jpid = os.fork()
            if jpid == 0:
                os.close(c2s_w); os.close(s2c_r)
                self._run_j(err_w, go_r)
            _send(c2s_w, f"P{jpid}")
            os._exit(0)
        except BaseException as e:
            _die(c2s_w, e)
        os._exit(125)

    # ------------------------------------------------------------------ J side
    def _run_j(self, err_w, go_r) -> None:
        try:
            path = self._setup_j(err_w, go_r)
            _send(err_w, "OK")
            if os.read(go_r, 1) != b"G":
                os._exit(125)      # the supervisor went away: never run unsupervised
            os.close(go_r)
            if not self.config.disable_no_new_privs:
                libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1, what="PR_SET_NO_NEW_PRIVS")
            if self.bpf is not None:
                seccomp_load.load(self.bpf)
            try:
                os.execve(path, self.config.argv, self.env)
            except OSError as e:
                code = 127 if e.errno == 2 else 126
                raise (CommandNotFound if code == 127 else NotExecutable)(
                    f"command {'not found' if code == 127 else 'not executable'}: "
                    f"{path}: {e.strerror}", code) from None
        except BaseException as e:
            _die(err_w, e)
        os._exit(125)

    def _setup_j(self, err_w, go_r) -> str:
        """Every setup step in J, in order; returns the command path to exec."""
        c = self.config
        # tracejail's handlers, and Python's SIG_IGN of SIGPIPE/SIGXFSZ, must not leak into
        # the command (an ignored disposition survives execve)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGALRM,
                  signal.SIGXFSZ, signal.SIGCHLD):
            signal.signal(s, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])    # a blocked mask survives execve too
        devnull = None
        if c.silent or c.stderr_to_null:
            devnull = os.open("/dev/null", os.O_RDWR)
        if (self.flags & namespaces.CLONE_NEWNET) and c.iface_lo:
            from tracejail.jail import net     # before pivot_root: pyroute2 must import
            net.lo_up()
        if self.flags & namespaces.CLONE_NEWNS:
            self.mounts = mounts.resolve_sources(c)
            if self.chroot_real:
                self.chroot_fd = mounts.open_path(self.chroot_real)
        if self.userns:
            try:
                users.set_fs_ids(self.uid, self.gid)
            except OSError as e:
                raise SetupError(str(e)) from None
        if self.flags & namespaces.CLONE_NEWNS:
            mounts.build_and_pivot(c, self.mounts, self.chroot_fd, log)
        elif self.chroot_real:
            mounts.plain_chroot(self.chroot_real)
        if self.flags & namespaces.CLONE_NEWUTS:
            name = os.fsencode(c.hostname)
            if libc._libc.sethostname(name, len(name)) != 0:
                raise SetupError(f"sethostname: {os.strerror(ctypes.get_errno())}")
        if devnull is not None:
            for fd in ((0, 1, 2) if c.silent else (2,)):
                os.dup2(devnull, fd)
            os.close(devnull)
        if not c.skip_setsid:
            os.setsid()
        try:
            os.chdir(c.cwd)
        except OSError as e:
            raise SetupError(f"cwd {c.cwd}: {e.strerror}") from None
        keep = sorted({0, 1, 2, err_w, go_r, *c.pass_fd})
        for fd in c.pass_fd:
            os.set_inheritable(fd, True)
        lo = 0
        for fd in keep + [1 << 20]:
            if fd > lo:
                os.closerange(lo, fd)
            lo = fd + 1
        limits.apply_sched(c)
        limits.apply_personality(c)
        limits.apply_rlimits(c)
        caps.before_id_switch(self.caps_mask)
        try:
            users.switch_ids(self.uid, self.gid, self.userns)
        except OSError as e:
            raise SetupError(f"switching to uid {self.uid} gid {self.gid}: {e.strerror}") from None
        caps.after_id_switch(self.caps_mask)
        return find_command(c.argv[0], self.env)
