"""The tracejail command line: nsjail's option spellings, a TOML config, dispatch.

`tracejail run [OPTS] -- CMD...` and `tracejail [OPTS] -- CMD...` are the same.
Every long option works with underscores and with dashes.  Parsing is
two-pass: --config FILE.toml is read first and becomes the parser's defaults,
so flags given on the command line override it (repeatable options add to it).
Errors are one line `tracejail: ...` with the exit code of tracejail.errors.
"""
from __future__ import annotations

import os
import sys

from tracejail.errors import TracejailError, UsageError

# (long name, short, kind, help).  kind: flag | str | int | list | intlist | mount:<kind> | rlimit
OPTIONS = [
    ("mode", "M", "str", "o: run once under the supervisor (default); e: exec without a supervisor"),
    ("config", None, "str", "TOML file with options (same names); flags override it"),
    ("chroot", "c", "str", "directory to use as / of the jail (default: empty read-only tmpfs)"),
    ("rw", None, "flag", "mount the root (chroot) and /proc read-write"),
    ("user", "u", "list", "uid inside the jail: ID|NAME or inside:outside[:count] (repeatable)"),
    ("group", "g", "list", "gid inside the jail: ID|NAME or inside:outside[:count] (repeatable)"),
    ("uid_mapping", "U", "list", "extra uid map entry inside:outside:count"),
    ("gid_mapping", "G", "list", "extra gid map entry inside:outside:count"),
    ("hostname", "H", "str", "UTS hostname (default NSJAIL)"),
    ("cwd", "D", "str", "working directory inside the jail (default /)"),
    ("time_limit", "t", "int", "wall-clock limit in seconds, 0 = none (default 600)"),
    ("log", "l", "str", "write tracejail's log to this file (default stderr)"),
    ("verbose", "v", "flag", "debug log"),
    ("quiet", "q", "flag", "only warnings in the log"),
    ("really_quiet", "Q", "flag", "no log at all"),
    ("keep_env", "e", "flag", "pass the whole environment"),
    ("env", "E", "list", "VAR=value, or VAR to copy it from tracejail's env (repeatable)"),
    ("keep_caps", None, "flag", "keep all capabilities (DANGEROUS)"),
    ("cap", None, "list", "keep this capability, e.g. CAP_NET_RAW (repeatable)"),
    ("silent", None, "flag", "jail's fds 0/1/2 to /dev/null; also quiets the log"),
    ("stderr_to_null", None, "flag", "jail's fd 2 to /dev/null"),
    ("skip_setsid", None, "flag", "do not setsid() (keeps the terminal's job control)"),
    ("pass_fd", None, "intlist", "keep this fd open in the jail (repeatable)"),
    ("disable_no_new_privs", None, "flag", "do not set PR_SET_NO_NEW_PRIVS (DANGEROUS)"),
    ("nice_level", None, "int", "nice level of the jail (default 19)"),
    ("max_cpus", None, "int", "restrict CPU affinity to this many CPUs, 0 = all"),
    ("persona_addr_compat_layout", None, "flag", "personality(ADDR_COMPAT_LAYOUT)"),
    ("persona_mmap_page_zero", None, "flag", "personality(MMAP_PAGE_ZERO)"),
    ("persona_read_implies_exec", None, "flag", "personality(READ_IMPLIES_EXEC)"),
    ("persona_addr_limit_3gb", None, "flag", "personality(ADDR_LIMIT_3GB)"),
    ("persona_addr_no_randomize", None, "flag", "personality(ADDR_NO_RANDOMIZE)"),
    ("rlimit_as", None, "rlimit", "RLIMIT_AS in MB (default 4096)"),
    ("rlimit_core", None, "rlimit", "RLIMIT_CORE in MB (default 0)"),
    ("rlimit_cpu", None, "rlimit", "RLIMIT_CPU in seconds (default 600)"),
    ("rlimit_fsize", None, "rlimit", "RLIMIT_FSIZE in MB (default 1)"),
    ("rlimit_nofile", None, "rlimit", "RLIMIT_NOFILE (default 32)"),
    ("rlimit_nproc", None, "rlimit", "RLIMIT_NPROC (default soft = current)"),
    ("rlimit_stack", None, "rlimit", "RLIMIT_STACK in MB (default soft = current)"),
    ("rlimit_memlock", None, "rlimit", "RLIMIT_MEMLOCK in KB (default soft = current)"),
    ("rlimit_rtprio", None, "rlimit", "RLIMIT_RTPRIO (default soft = current)"),
    ("rlimit_msgqueue", None, "rlimit", "RLIMIT_MSGQUEUE in bytes (default soft = current)"),
    ("disable_rlimits", None, "flag", "leave all rlimits as inherited"),
    ("disable_clone_newnet", "N", "flag", "share the host network"),
    ("disable_clone_newuser", None, "flag", "no user namespace (ids are host ids)"),
    ("disable_clone_newns", None, "flag", "no mount namespace (no mounts, plain chroot)"),
    ("disable_clone_newpid", None, "flag", "no pid namespace"),
    ("disable_clone_newipc", None, "flag", "no IPC namespace"),
    ("disable_clone_newuts", None, "flag", "no UTS namespace (hostname not set)"),
    ("disable_clone_newcgroup", None, "flag", "no cgroup namespace"),
    ("enable_clone_newtime", None, "flag", "new time namespace"),
    ("bindmount_ro", "R", "mount:ro", "read-only bind mount SRC or SRC:DST (repeatable)"),
    ("bindmount", "B", "mount:rw", "read-write bind mount SRC or SRC:DST (repeatable)"),
    ("tmpfsmount", "T", "mount:tmpfs", "tmpfs at DST (repeatable)"),
    ("mount", "m", "mount:mount", "SRC:DST:FSTYPE:OPTIONS (repeatable)"),
    ("symlink", "s", "mount:symlink", "symlink SRC:DST, DST -> SRC (repeatable)"),
    ("tmpfs_size", None, "int", "size of -T tmpfs mounts in bytes (default 4194304)"),
    ("tmpfs_exec", None, "flag", "allow exec and PROT_EXEC mappings from -T tmpfs (default: noexec)"),
    ("disable_proc", None, "flag", "do not mount /proc"),
    ("proc_rw", None, "flag", "mount /proc read-write"),
    ("iface_lo", None, "flag", "bring 'lo' up (default: down)"),
    ("iface_no_lo", None, "flag", "leave 'lo' down (the default; nsjail compatibility)"),
    ("cgroup_pids_max", None, "int", "pids.max of the jail's cgroup, 0 = not set"),
    ("cgroup_mem_max", None, "int", "memory limit of the jail's cgroup in bytes, 0 = not set"),
    ("cgroup_cpu_ms_per_sec", None, "int", "CPU ms per second for the jail's cgroup, 0 = not set"),
    ("cgroup_pids_guard", None, "int", "default pids.max when no cgroup limit is asked (default 4096, 0 = off)"),
    ("seccomp_policy", "P", "str", "policy file (.policy or Docker/OCI .json)"),
    ("seccomp_string", None, "str", "policy text"),
    ("audit", None, "str", "JSONL audit log file ('-' = stderr)"),
    ("audit_all", None, "flag", "send every syscall through the supervisor and log it"),
    ("audit_results", None, "flag", "record syscall return values"),
    ("audit_max_mb", None, "float", "cap the audit log size in MB"),
    ("no_report", None, "flag", "no exit report on stderr"),
    ("permissive", None, "flag", "record would-deny/would-kill decisions but allow"),
    ("inject", None, "list", "fault injection spec, strace -e inject style (repeatable)"),
    ("max_violations", None, "int", "kill the jail after N violations"),
]
_BY_NAME = {o[0]: o for o in OPTIONS}
SUBCOMMANDS = {"policy": ("tracejail.policy.cli", "main"), "report": ("tracejail.audit.cli", "main"),
               "learn": ("tracejail.learn", "main")}


def _int(name):
    def conv(v):
        try:
            n = int(str(v), 0)
        except ValueError:
            raise UsageError(f"--{name}: not an integer: {v!r}") from None
        if n < 0:
            raise UsageError(f"--{name}: must not be negative: {v!r}")
        return n
    return conv


def _float(name):
    def conv(v):
        try:
            f = float(v)
        except ValueError:
            raise UsageError(f"--{name}: not a number: {v!r}") from None
        if f <= 0:
            raise UsageError(f"--{name}: must be positive: {v!r}")
        return f
    return conv


def _build_parser():
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            raise UsageError(message)

    class MountAction(argparse.Action):
        def __call__(self, parser, ns, value, option_string=None):
            lst = list(getattr(ns, "mounts", None) or [])
            lst.append((self.const, value))
            ns.mounts = lst

    p = Parser(prog="tracejail", allow_abbrev=False,
               usage="tracejail [run] [OPTIONS] -- COMMAND [ARGS...]",
               description="Run COMMAND in a jail (nsjail-compatible options).")
    for name, short, kind, help_ in OPTIONS:
        flags = [f"--{name}"]
        if "_" in name:
            flags.append("--" + name.replace("_", "-"))
        if short:
            flags.insert(0, f"-{short}")
        kw = {"dest": name, "help": help_}
        if kind == "flag":
            p.add_argument(*flags, action="store_true", default=None, **kw)
        elif kind.startswith("mount:"):
            kw["dest"] = "mounts"
            p.add_argument(*flags, action=MountAction, const=kind[6:], metavar="SPEC", **kw)
        elif kind in ("list", "intlist"):
            p.add_argument(*flags, action="append", metavar="VALUE",
                           type=_int(name) if kind == "intlist" else str, **kw)
        else:
            conv = _int(name) if kind == "int" else _float(name) if kind == "float" else str
            p.add_argument(*flags, type=conv, metavar="VALUE", **kw)
    p.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def _toml_defaults(path: str) -> dict:
    """Read a TOML config; keys are option names (dashes or underscores)."""
    import tomllib
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise UsageError(f"cannot read config {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"invalid config {path}: {e}") from None
    out: dict = {}
    mounts: list = []
    for key, value in data.items():
        name = key.replace("-", "_")
        if name == "command":
            if not (isinstance(value, list) and value and all(isinstance(x, str) for x in value)):
                raise UsageError(f"config {path}: 'command' must be a non-empty list of strings")
            out["command"] = value
            continue
        opt = _BY_NAME.get(name)
        if opt is None or name == "config":
            raise UsageError(f"config {path}: unknown option {key!r}")
        kind = opt[2]
        if kind == "flag":
            if not isinstance(value, bool):
                raise UsageError(f"config {path}: {key} must be true or false")
            out[name] = value
        elif kind.startswith("mount:") or kind in ("list", "intlist"):
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
                raise UsageError(f"config {path}: {key} must be a string or a list of strings")
            if kind.startswith("mount:"):
                mounts.extend((kind[6:], str(v)) for v in values)
            else:
                out[name] = [_int(name)(v) if kind == "intlist" else str(v) for v in values]
        else:
            if isinstance(value, (bool, list, dict)):
                raise UsageError(f"config {path}: bad value for {key}")
            conv = _int(name) if kind == "int" else _float(name) if kind == "float" else str
            out[name] = conv(value)
    if mounts:
        out["mounts"] = mounts
    return out


def _split_mount(kind: str, spec: str):
    from tracejail.jail.mounts import split_src_dst
    if kind in ("ro", "rw"):
        src, dst = split_src_dst(spec)
        if not src or not src.startswith("/") and not os.path.exists(src):
            raise UsageError(f"bind mount source does not exist: {src or spec!r}")
        if not os.path.exists(src):
            raise UsageError(f"bind mount source does not exist: {src}")
        return ("bind", os.path.abspath(src), dst if dst.startswith("/") else "/" + dst, None, None,
                kind == "rw")
    if kind == "tmpfs":
        if not spec:
            raise UsageError("-T needs a destination")
        return ("tmpfs", None, spec, "tmpfs", None, True)
    if kind == "symlink":
        src, sep, dst = spec.partition(":")
        if not sep or not src or not dst:
            raise UsageError(f"bad --symlink {spec!r} (want SRC:DST)")
        return ("symlink", src, dst, None, None, True)
    parts = spec.split(":", 3)
    if len(parts) < 2 or not parts[1]:
        raise UsageError(f"bad --mount {spec!r} (want SRC:DST[:FSTYPE[:OPTIONS]])")
    src, dst = parts[0], parts[1]
    fstype = parts[2] if len(parts) > 2 else ""
    opts = parts[3] if len(parts) > 3 else ""
    if not fstype and not os.path.exists(src):
        raise UsageError(f"bind mount source does not exist: {src}")
    return ("mount", src, dst, fstype, opts, True)


def build_config(argv: list[str]):
    """argv (after 'run') -> JailConfig; raises UsageError."""
    from tracejail.config import JailConfig
    from tracejail.jail import caps, limits, users

    parser = _build_parser()
    cfg_path = None
    for i, a in enumerate(argv):
        if a == "--":
            break
        if a in ("--config",) and i + 1 < len(argv):
            cfg_path = argv[i + 1]
        elif a.startswith("--config="):
            cfg_path = a.split("=", 1)[1]
    defaults = _toml_defaults(cfg_path) if cfg_path else {}
    toml_cmd = defaults.pop("command", None)
    parser.set_defaults(**defaults)
    ns = parser.parse_args(argv)
    cmd = list(ns.command or [])
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        cmd = list(toml_cmd or [])
    if not cmd:
        raise UsageError("no command given (usage: tracejail [run] [OPTIONS] -- COMMAND [ARGS...])")
    if cmd[0].startswith("-") and ns.command and ns.command[0] != "--":
        raise UsageError(f"unrecognized option: {cmd[0]}")

    c = JailConfig(argv=cmd)
    v = vars(ns)
    mode = (v["mode"] or "o")
    if mode in ("r", "l"):
        raise UsageError(f"mode -M{mode} is not supported yet (only -Mo and -Me)")
    if mode not in ("o", "e"):
        raise UsageError(f"unknown mode -M{mode} (use o or e)")
    c.mode = mode

    def flag(name):
        return bool(v.get(name))

    for name in ("chroot", "hostname", "cwd", "seccomp_policy", "seccomp_string", "audit",
                 "audit_max_mb", "max_violations"):
        if v.get(name) is not None:
            setattr(c, name, v[name])
    for name in ("time_limit", "nice_level", "max_cpus", "tmpfs_size", "cgroup_pids_max",
                 "cgroup_mem_max", "cgroup_cpu_ms_per_sec", "cgroup_pids_guard"):
        if v.get(name) is not None:
            setattr(c, name, v[name])
    if c.nice_level > 19:
        raise UsageError(f"--nice_level must be between -20 and 19: {c.nice_level}")
    for name in ("rw", "keep_env", "keep_caps", "silent", "stderr_to_null", "skip_setsid",
                 "disable_no_new_privs", "disable_rlimits", "disable_proc", "proc_rw", "iface_lo",
                 "audit_all", "audit_results", "no_report", "permissive"):
        setattr(c, name, flag(name))
    if flag("iface_no_lo"):
        c.iface_lo = False
    for ns_name in ("net", "user", "ns", "pid", "ipc", "uts", "cgroup"):
        if flag(f"disable_clone_new{ns_name}"):
            setattr(c, f"clone_new{ns_name}", False)
    c.clone_newtime = flag("enable_clone_newtime")
    for name, bit in limits.PERSONAS.items():
        if flag(name):
            c.personality |= bit
    c.env = list(v.get("env") or [])
    c.inject = list(v.get("inject") or [])
    c.pass_fd = list(v.get("pass_fd") or [])
    c.caps = list(v.get("cap") or [])
    for cap in c.caps:
        caps.parse_cap(cap)
    for kind, key in (("user", "user"), ("group", "group")):
        entries, explicit = [], False
        for spec in v.get(key) or []:
            entry, given = users.parse_spec(spec, kind)
            entries.append(entry)
            explicit = explicit or given
        for spec in v.get(f"{'uid' if kind == 'user' else 'gid'}_mapping") or []:
            entry, given = users.parse_spec(spec, kind)
            if not given:
                raise UsageError(f"--{kind[0]}id_mapping needs inside:outside[:count]: {spec!r}")
            entries.append(entry)
            explicit = True
        setattr(c, "uid_map" if kind == "user" else "gid_map", entries)
        setattr(c, "uid_explicit_outside" if kind == "user" else "gid_explicit_outside", explicit)
    for name in limits.RLIMITS:
        val = v.get(f"rlimit_{name}")
        if val is not None:
            c.rlimits[name] = limits.check_value(name, val)
    c.mounts = [_split_mount(kind, spec) for kind, spec in (v.get("mounts") or [])]
    if c.chroot and not os.path.isdir(c.chroot):
        raise UsageError(f"--chroot: not a directory: {c.chroot}")
    for name in ("seccomp_policy",):
        if getattr(c, name) and not os.path.isfile(getattr(c, name)):
            raise UsageError(f"--{name}: no such file: {getattr(c, name)}")
    c.log_file = v.get("log")
    c.verbosity = (-1 if flag("really_quiet") else 0 if (flag("quiet") or c.silent)
                   else 2 if flag("verbose") else 1)
    return c


def _dispatch(sub: str, argv: list[str]) -> int:
    import importlib
    mod_name, fn = SUBCOMMANDS[sub]
    try:
        mod = importlib.import_module(mod_name)
    except ImportError:
        raise UsageError(f"'tracejail {sub}' is not available yet") from None
    return int(getattr(mod, fn)(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            return _dispatch(argv[0], argv[1:])
        if argv and argv[0] == "run":
            argv = argv[1:]
        config = build_config(argv)
        from tracejail.jail.log import configure
        configure(config.verbosity, config.log_file)
        from tracejail.runner import run
        return run(config)
    except TracejailError as e:
        print(f"tracejail: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
    except Exception as e:  # an internal bug: still one line unless debugging
        if os.environ.get("TRACEJAIL_DEBUG"):
            raise
        print(f"tracejail: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 125


if __name__ == "__main__":
    sys.exit(main())
