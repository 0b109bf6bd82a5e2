"""Policy language, compiler, BPF emulator (issue 3).

API (kept from the stub contract):

    pol = load_policy_file(path)        # .policy (kafel + predicates); raises PolicyError "file:line:col: msg"
    pol = load_policy_text(text, name="<string>")
    pol = load_for_config(config)       # -P / --seccomp_policy / --seccomp_string / shipped default
    cp = compile_policy(pol, trace_all=False, trace_denials=False, trace_extra=())
    cp = load_compiled_for_config(config, trace_all=..., ...)   # both, cached (run path)
        cp.bpf: bytes              # struct sock_filter[] to load with seccomp(2) (arch check included)
        cp.needs_supervisor: bool  # any path to SECCOMP_RET_TRACE
        cp.digest: str             # sha256 of the policy source(s) and compile options
        cp.decide(call: SyscallCall) -> Verdict   # exact decision (reference interpreter +
                                                  # memory predicates); the supervisor calls it on
                                                  # every TRACE stop
        cp.kernel_verdict(nr, arch, args) -> Verdict   # what the BPF says (emulator)
        cp.routes[nr] -> Route(where="kernel"|"supervisor"|"mixed", reason, rules)
        cp.rules / cp.rule_for("file:line") / cp.stats() / cp.pfc / cp.warnings

Also: format_policy(program) -> text, PolicyBuilder (for importers), default_policy_path().
Heavy modules (pyseccomp) load only when compiling.
"""
from __future__ import annotations

import os

from tracejail.errors import PolicyError
from tracejail.verdict import Verdict  # noqa: F401  (re-export for callers)


def load_policy_text(text: str, name: str = "<string>", basedir: str | None = None,
                     include_paths=(), mounts=()):
    """Parse policy text.  ``#include`` resolves against ``basedir`` (default: cwd for
    strings) and ``include_paths``; ``mounts`` is the jail's mount table for
    ``path(x) on ro_bind`` (see mount_table)."""
    from tracejail.policy.parser import parse
    if isinstance(text, (bytes, bytearray)):
        from tracejail.policy.lexer import decode_source
        text = decode_source(bytes(text), name)
    return parse(text, name, basedir if basedir is not None else os.getcwd(), include_paths,
                 mounts)


def load_policy_file(path: str, include_paths=(), mounts=()):
    from tracejail.policy.parser import parse_file
    return parse_file(os.fspath(path), include_paths, mounts)


def mount_table(config) -> tuple:
    """((dst, kind, rw), ...) in mount order, root first, from a JailConfig: what
    ``path(x) on ro_bind`` consults (files there cannot have been written by the jail)."""
    root = ("/", "bind" if getattr(config, "chroot", None) else "tmpfs",
            bool(getattr(config, "rw", False)))
    out = [root]
    for m in getattr(config, "mounts", None) or ():
        try:
            kind, _src, dst, _fstype, _opts, rw = m
        except (TypeError, ValueError):
            continue
        if kind == "symlink":
            continue
        out.append((os.path.normpath("/" + str(dst).lstrip("/")), kind, bool(rw)))
    return tuple(out)


def default_policy_path() -> str:
    """policies/default.policy: next to the package (editable install) or inside it (wheel)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "..", "..", "policies", "default.policy"),
                 os.path.join(here, "..", "policies", "default.policy")):
        if os.path.isfile(cand):
            return os.path.normpath(cand)
    raise PolicyError("default.policy not found (looked next to the tracejail package)")


def load_for_config(config):
    """The policy a JailConfig asks for: -P FILE (a .json goes to the Docker/OCI
    importer), --seccomp_string TEXT, else the shipped default."""
    path = getattr(config, "seccomp_policy", None)
    text = getattr(config, "seccomp_string", None)
    mounts = mount_table(config)
    if path and text:
        raise PolicyError("give either --seccomp_policy or --seccomp_string, not both")
    if path:
        if str(path).endswith(".json"):
            try:
                from tracejail.policy.importers import docker
            except ImportError:
                raise PolicyError(f"{path}: Docker/OCI seccomp profiles are not supported "
                                  "(tracejail.policy.importers.docker is missing)") from None
            return docker.load(path, caps=docker.caps_for_config(config))  # held caps: includes/excludes
        return load_policy_file(path, mounts=mounts)
    if text:
        return load_policy_text(text, name="<seccomp_string>", mounts=mounts)
    return load_policy_file(default_policy_path(), mounts=mounts)


def compile_policy(pol, trace_all: bool = False, trace_denials: bool = False, trace_extra=(),
                   watch=()):
    from tracejail.policy.compiler import compile_policy as _compile
    if pol is None:
        raise PolicyError("no policy to compile")
    return _compile(pol, trace_all=trace_all, trace_denials=trace_denials, trace_extra=trace_extra,
                    watch=watch)


def load_compiled_for_config(config, trace_all: bool = False, trace_denials: bool = False,
                             trace_extra=(), **options):
    """compile_policy(load_for_config(config), ...) for the run path, through the
    compiled-policy cache (tracejail.policy.cache): every input of the parse and
    every option is part of the key; TRACEJAIL_NO_CACHE=1 bypasses it.  Further
    keyword options go to compile_policy unchanged (and into the key)."""
    from tracejail.policy.cache import compiled_for_config
    return compiled_for_config(config, trace_all=bool(trace_all), trace_denials=bool(trace_denials),
                               trace_extra=tuple(trace_extra), **options)


def format_policy(program) -> str:
    from tracejail.policy.format import format_policy as _fmt
    return _fmt(program)


def __getattr__(name):
    if name == "PolicyBuilder":
        from tracejail.policy.format import PolicyBuilder
        return PolicyBuilder
    raise AttributeError(name)
