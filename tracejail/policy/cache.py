"""Compiled-policy cache for ``tracejail run`` (start-up time).

Parsing and compiling the shipped default costs ~130 ms of every jail start, and
its result depends only on inputs we can name: the bytes of every policy file
read (the top file and each ``#include``, recursively), the --seccomp_string text
and the directory its includes resolve against, the mount table (``path(x) on
ro_bind``), the compile options, tracejail's policy code, Python and libseccomp.
An entry is used only when all of them are unchanged; anything else -- a changed,
missing or non-regular file, a corrupt or truncated entry, an untrusted
directory -- is a miss, never an error: we then parse and compile as if there
were no cache.  Docker/OCI ``.json`` profiles are not cached.

Entries are pickles, so they are read only from a directory and file owned by
the effective uid and writable by nobody else (a pickle from an attacker-writable
place would be code execution), opened with O_NOFOLLOW relative to the pinned
directory fd.  Writes are atomic (tmp + rename); the ``KEEP`` newest entries
(by last use) survive.  ``TRACEJAIL_NO_CACHE=1`` bypasses this cache and the
compiler's self-check marker (see private_dir).
"""
from __future__ import annotations

import os
import stat
import sys

ENTRY_FORMAT = 2
KEEP = 32
MAGIC = b"tracejail-policy-cache\n"
MAX_ENTRY_BYTES = 64 << 20
SUFFIX = ".pickle"
_HERE = os.path.dirname(os.path.abspath(__file__))


def enabled() -> bool:
    return os.environ.get("TRACEJAIL_NO_CACHE", "") in ("", "0")


def cache_root() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tracejail")


def _trusted(st) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def private_dir(name: str) -> str | None:
    """``<cache_root>/<name>``, created 0700; None when caching is off
    (TRACEJAIL_NO_CACHE) or the directory is not ours alone (then nothing in it
    may be trusted)."""
    if not enabled():
        return None
    d = os.path.join(cache_root(), name)
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        st = os.lstat(d)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or not _trusted(st):
        return None
    return d


def _open_dir() -> int | None:
    """fd of the entries directory, checked after opening (no swap between check and use)."""
    d = private_dir("policies")
    if d is None:
        return None
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    if not _trusted(os.fstat(fd)):
        os.close(fd)
        return None
    return fd


def _read_regular(path: str, limit: int, dir_fd=None, trusted_only=False) -> bytes | None:
    """Bytes of a regular file (at most ``limit``), else None.  O_NONBLOCK so a FIFO
    put in a policy's place is neither waited for nor drained."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (os.O_NOFOLLOW if dir_fd is not None else 0)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        if trusted_only and (not _trusted(st) or st.st_nlink != 1):
            return None
        chunks, n = [], 0
        while n <= limit:
            b = os.read(fd, min(1 << 20, limit + 1 - n))
            if not b:
                break
            chunks.append(b)
            n += len(b)
        return b"".join(chunks) if n <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


try:                        # the builtin module: hashlib's OpenSSL load is ~4 ms of a start
    from _sha256 import sha256 as _sha256
except ImportError:         # pragma: no cover (other Pythons)
    from hashlib import sha256 as _sha256


def _sha(data: bytes) -> str:
    return _sha256(data).hexdigest()


def _code_digest() -> str:
    """tracejail's policy code + the shared verdict types + Python: any upgrade is a new key."""
    h = _sha256()
    h.update(repr((ENTRY_FORMAT, sys.version, sys.implementation.cache_tag)).encode())
    from tracejail import __version__
    h.update(__version__.encode() + b"\0")
    files = sorted(f for f in os.listdir(_HERE) if f.endswith(".py"))
    for f in files + [os.path.join("..", "verdict.py")]:
        with open(os.path.join(_HERE, f), "rb") as fh:
            h.update(f.encode() + b"\0" + _sha(fh.read()).encode())
    return h.hexdigest()


def _norm(v):
    """A deterministic, type-preserving key form of an option value (sets sorted)."""
    if isinstance(v, (set, frozenset)):
        return ("set", tuple(sorted(repr(_norm(x)) for x in v)))
    if isinstance(v, (list, tuple)):
        return ("seq", tuple(_norm(x) for x in v))
    if v is None or isinstance(v, (bool, int, str)):
        return v
    raise TypeError(f"uncacheable option value {type(v).__name__}")


def source_spec(config):
    """What load_for_config would read, as a key part; None when not cacheable
    (.json importer, both sources given: the uncached path reports that)."""
    from tracejail.policy import default_policy_path
    path = getattr(config, "seccomp_policy", None)
    text = getattr(config, "seccomp_string", None)
    if path and text:
        return None
    if path:
        path = os.fspath(path)
        if path.endswith(".json"):
            return None
        return ("file", path, os.path.abspath(path))
    if text:
        # includes in a string resolve against the cwd
        return ("string", text, os.getcwd())
    p = default_policy_path()
    return ("file", p, os.path.abspath(p))


def make_key(config, options: dict):
    """(key hex, spec) or (None, None) when this run is not cacheable."""
    from tracejail.policy import mount_table
    try:
        spec = source_spec(config)
        if spec is None:
            return None, None
        parts = (ENTRY_FORMAT, _code_digest(), spec, mount_table(config),
                 tuple(sorted((k, _norm(v)) for k, v in options.items())),
                 os.environ.get("LD_LIBRARY_PATH", ""))
    except Exception:       # no default policy, cwd gone, odd option: the uncached path says why
        return None, None
    return _sha(repr(parts).encode()), spec


def _identity(path: str):
    """A file's identity without reading it (a package upgrade writes a new inode)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _libseccomp_files() -> list[str] | None:
    """pyseccomp's module and the libseccomp it mapped (plus the loader cache that
    picked it): their identities go into the entry so a library upgrade is a miss."""
    import pyseccomp
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                fields = line.split(None, 5)
                if len(fields) == 6 and "/libseccomp.so" in fields[5]:
                    libs.add(fields[5].strip())
    except OSError:
        return None
    if len(libs) != 1 or not getattr(pyseccomp, "__file__", None):
        return None
    out = [os.path.abspath(pyseccomp.__file__), libs.pop()]
    if os.path.exists("/etc/ld.so.cache"):
        out.append("/etc/ld.so.cache")
    return out


def _input_sources(spec, program) -> list:
    """(name, text) of every file the parse read: sources[0] of a string is the
    string itself (already in the key)."""
    return program.sources[1:] if spec[0] == "string" else program.sources


def load(key: str):
    """The cached CompiledPolicy for ``key``, or None (any problem is a miss)."""
    try:
        from _pickle import loads
    except ImportError:     # pragma: no cover (other Pythons)
        from pickle import loads
    dfd = _open_dir()
    if dfd is None:
        return None
    try:
        name = key + SUFFIX
        data = _read_regular(name, MAX_ENTRY_BYTES, dir_fd=dfd, trusted_only=True)
        if data is None or not data.startswith(MAGIC):
            return None
        body = data[len(MAGIC) + 64:]
        if data[len(MAGIC):len(MAGIC) + 64].decode("ascii", "replace") != _sha(body):
            return None
        mlen = int.from_bytes(body[:8], "little")
        meta = loads(body[8:8 + mlen])
        if not isinstance(meta, dict) or meta.get("key") != key:
            return None
        for path, digest in meta["files"]:       # the policy sources: bytes
            b = _read_regular(path, MAX_ENTRY_BYTES)
            if b is None or _sha(b) != digest:
                return None
        for path, ident in meta["libs"]:         # pyseccomp, libseccomp: identity
            if _identity(path) != ident:
                return None
        from tracejail.policy.compiler import CompiledPolicy
        cp = loads(body[8 + mlen:])
        if type(cp) is not CompiledPolicy:
            return None
        try:
            os.utime(name, dir_fd=dfd, follow_symlinks=False)    # last use, for pruning
        except OSError:
            pass
        return cp
    except Exception:
        return None
    finally:
        os.close(dfd)


def store(key: str, spec, program, cp) -> bool:
    """Write an entry for ``cp`` (compiled from ``program``); False when not stored."""
    import pickle
    dfd = _open_dir()
    if dfd is None:
        return False
    tmp = None
    try:
        files = []
        for name, text in _input_sources(spec, program):
            path = os.path.abspath(name)
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                return False       # a pipe or device: not something we can re-check
            files.append((path, _sha(text.encode("utf-8"))))
        paths = _libseccomp_files()
        if paths is None:
            return False
        libs = [(path, _identity(path)) for path in paths]
        if any(ident is None for _, ident in libs):
            return False
        # the header (key, files to re-check) is its own pickle with its length in
        # front, so a miss is decided before the policy objects are unpickled
        meta = pickle.dumps({"key": key, "files": files, "libs": libs},
                            protocol=pickle.HIGHEST_PROTOCOL)
        body = len(meta).to_bytes(8, "little") + meta + \
            pickle.dumps(cp, protocol=pickle.HIGHEST_PROTOCOL)
        data = MAGIC + _sha(body).encode() + body
        tmp = f".tmp.{os.getpid()}.{os.urandom(6).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dfd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(tmp, key + SUFFIX, src_dir_fd=dfd, dst_dir_fd=dfd)
        tmp = None
        _prune(dfd)
        return True
    except Exception:
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
        os.close(dfd)


def _prune(dfd: int) -> None:
    """Keep the KEEP most recently used entries; drop stale temp files of dead writers."""
    import time
    entries = []
    now = time.time()
    for name in os.listdir(dfd):
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            continue
        if name.endswith(SUFFIX):
            entries.append((st.st_mtime_ns, name))
        elif name.startswith(".tmp.") and now - st.st_mtime > 3600:
            entries.append((0, name))
    entries.sort(reverse=True)
    for _, name in entries[KEEP:]:
        try:
            os.unlink(name, dir_fd=dfd)
        except OSError:
            pass


def compiled_for_config(config, **options):
    """CompiledPolicy for a JailConfig: from the cache, or loaded + compiled + stored."""
    from tracejail import policy as policy_mod
    from tracejail.jail.log import log
    key = spec = None
    if enabled():
        key, spec = make_key(config, options)
        if key is not None:
            cp = load(key)
            if cp is not None:
                log(2, f"policy: compiled form from the cache ({key[:12]})")
                return cp
    program = policy_mod.load_for_config(config)
    cp = policy_mod.compile_policy(program, **options)
    if key is None:
        log(2, "policy: compiled (not cached: " +
            ("TRACEJAIL_NO_CACHE is set" if not enabled() else "this policy source is not cacheable") + ")")
    else:
        stored = store(key, spec, program, cp)
        log(2, f"policy: compiled ({'cached as ' + key[:12] if stored else 'could not cache it'})")
    return cp
