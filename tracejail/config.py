"""JailConfig: the one value the CLI/TOML layer produces and everything else reads.

The isolation fields are read by tracejail/jail; the policy, supervision
and audit fields by those layers.  docs/cli.md documents every option.
"""
from __future__ import annotations


class _Record:
    """What @dataclass made of JailConfig (keyword/positional constructor in field
    order, fresh copies of list/dict defaults, ==, repr), without its exec() of
    generated methods at import (~5-8 ms of every start for this 60-field class).
    Fields are the class annotations, in order; defaults are the class attributes."""

    def __init_subclass__(cls):
        cls._fields = tuple(n for c in reversed(cls.__mro__)
                            for n in vars(c).get("__annotations__", ()))

    def __init__(self, *args, **kw):
        if len(args) > len(self._fields):
            raise TypeError(f"{type(self).__name__}() takes at most {len(self._fields)} "
                            f"positional arguments ({len(args)} given)")
        for name, value in zip(self._fields, args):
            if name in kw:
                raise TypeError(f"{type(self).__name__}() got multiple values for {name!r}")
            kw[name] = value
        for name in self._fields:
            if name in kw:
                value = kw.pop(name)
            else:
                try:
                    value = getattr(type(self), name)
                except AttributeError:
                    raise TypeError(f"{type(self).__name__}() missing argument {name!r}") from None
                if type(value) in (list, dict):
                    value = type(value)(value)      # default_factory: never shared
            setattr(self, name, value)
        if kw:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                            f"{next(iter(kw))!r}")

    def __repr__(self) -> str:
        return (type(self).__qualname__ + "(" +
                ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields) + ")")

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return all(getattr(self, n) == getattr(other, n) for n in self._fields)
        return NotImplemented

    __hash__ = None


class JailConfig(_Record):
    argv: list[str] = []
    mode: str = "o"                       # "o" once (supervised), "e" exec in place

    # --- policy -----------------------------------------------------------
    seccomp_policy: str | None = None     # -P FILE (.policy, or Docker/OCI .json)
    seccomp_string: str | None = None     # --seccomp_string TEXT
    # --- supervision and audit ---------------------------------------------
    audit: str | None = None              # --audit FILE ('-' = stderr)
    audit_all: bool = False               # every syscall through the supervisor
    audit_results: bool = False           # stop at syscall exit to record retval
    audit_max_mb: float | None = None
    no_report: bool = False
    permissive: bool = False              # would-deny/would-kill recorded, allowed
    inject: list[str] = []                # --inject specs (strace -e inject style)
    max_violations: int | None = None

    # --- isolation (jail/CLI, issue 2) ---------------------------------------
    chroot: str | None = None             # -c/--chroot DIR; None = empty read-only tmpfs root
    rw: bool = False                      # --rw: root (and /proc) writable
    uid_map: list[tuple[int, int, int]] = []   # (inside, outside, count)
    gid_map: list[tuple[int, int, int]] = []
    uid_explicit_outside: bool = False    # the user named an outside uid (root: may map onto 0)
    gid_explicit_outside: bool = False
    hostname: str = "NSJAIL"
    cwd: str = "/"
    time_limit: int = 600                 # seconds, 0 = none
    env: list[str] = []                   # -E VAR=val | VAR
    keep_env: bool = False
    keep_caps: bool = False
    caps: list[str] = []                  # --cap CAP_NAME (kept when dropping)
    silent: bool = False                  # --silent: fds 0/1/2 -> /dev/null
    stderr_to_null: bool = False
    skip_setsid: bool = False
    pass_fd: list[int] = []
    disable_no_new_privs: bool = False
    nice_level: int = 19
    max_cpus: int = 0
    personality: int = 0                  # OR of --persona_* flags
    # mounts, in command-line order: (kind, src, dst, fstype, options, rw)
    #   kind: "bind" | "tmpfs" | "mount" | "symlink"
    mounts: list[tuple] = []
    tmpfs_size: int = 4 * 1024 * 1024
    tmpfs_exec: bool = False              # -T scratch is noexec unless asked (threat D24)
    disable_proc: bool = False
    proc_rw: bool = False
    # rlimits: resource name -> value string as given ("soft"/"hard"/"max"/number in nsjail units)
    rlimits: dict = {}
    disable_rlimits: bool = False
    # namespaces
    clone_newuser: bool = True
    clone_newns: bool = True
    clone_newpid: bool = True
    clone_newipc: bool = True
    clone_newuts: bool = True
    clone_newnet: bool = True
    clone_newcgroup: bool = True
    clone_newtime: bool = False
    iface_lo: bool = False                # bring 'lo' up (default: present but down)
    # cgroups (0 = not set)
    cgroup_pids_max: int = 0
    cgroup_mem_max: int = 0
    cgroup_cpu_ms_per_sec: int = 0
    cgroup_pids_guard: int = 4096         # default pids.max when none asked (0 disables)
    # logging
    log_file: str | None = None
    verbosity: int = 1                    # 0 quiet (warnings), 1 info, 2 debug; -1 really quiet

    def as_dict(self) -> dict:
        """Plain-data view for the audit header (tuples become lists), deep-copied
        as dataclasses.asdict did."""
        from copy import deepcopy
        return {n: deepcopy(getattr(self, n)) for n in self._fields}
