"""Compiled-policy cache (tracejail.policy.cache): a hit is the same policy as a
fresh compile; any changed input is a miss; an untrusted or corrupt cache is
ignored (the jail then runs the policy as written, never a planted one)."""
from __future__ import annotations

import os
import signal
from types import SimpleNamespace

import pytest

from tracejail.policy import (cache, compile_policy, load_compiled_for_config, load_for_config,
                              load_policy_text)
from tracejail.policy.cli import EvalCall
from tracejail.policy.syscalls import name_of, nr_of

AT_FDCWD = 0xFFFFFF9C
OPTS = dict(trace_all=False, trace_denials=False, trace_extra=())


@pytest.fixture
def entries_dir(tmp_path, monkeypatch):
    """A private cache home: nothing shared with the rest of the suite."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv("TRACEJAIL_NO_CACHE", raising=False)
    return home / "tracejail" / "policies"


def cfg(**kw):
    base = dict(seccomp_policy=None, seccomp_string=None, chroot="/", rw=False, mounts=[])
    base.update(kw)
    return SimpleNamespace(**base)


def cached(cp) -> bool:
    """Unpickled from the cache (a fresh compile holds its libseccomp filter)."""
    return cp._filter is None


def entries(d):
    return sorted(d.glob("*" + cache.SUFFIX))


def uname(cp) -> str:
    return str(cp.decide(EvalCall(nr_of("uname"), "x86_64", "uname", [0])))


def run_env(xdg):
    env = {k: v for k, v in os.environ.items() if k != "TRACEJAIL_NO_CACHE"}
    env["XDG_CACHE_HOME"] = str(xdg)
    return env


def jail_uname(tj, policy, xdg):
    """(exit status, stderr) of /bin/uname in a real jail under ``policy``, -v for the cache log."""
    r = tj("run", "-v", "--no-report", "--chroot", "/", "-P", str(policy), "--", "/bin/uname",
           env=run_env(xdg))
    return r.returncode, r.stderr


def test_hit_is_the_fresh_compile(entries_dir):
    config = cfg()          # the shipped default policy
    opts = dict(trace_all=False, trace_denials=False, trace_extra=("uname",))
    first = load_compiled_for_config(config, **opts)
    assert not cached(first) and len(entries(entries_dir)) == 1
    hit = load_compiled_for_config(config, **opts)
    assert cached(hit)
    fresh = compile_policy(load_for_config(config), **opts)
    assert hit.bpf == fresh.bpf and hit.digest == fresh.digest and hit.options == fresh.options
    assert hit.needs_supervisor == fresh.needs_supervisor
    assert hit.stats() == fresh.stats() and hit.warnings == fresh.warnings
    assert hit.pfc == fresh.pfc and "uname" in hit.pfc
    assert hit.program.mounts == fresh.program.mounts == (("/", "bind", False),)
    show = lambda cp: {nr: (r.where, r.reason, [x.tag for x in r.rules])  # noqa: E731
                       for nr, r in cp.routes.items()}
    assert show(hit) == show(fresh)
    assert [r.tag for r in hit.rules] == [r.tag for r in fresh.rules]
    for r in fresh.rules[::7]:
        assert hit.rule_for(r.tag).tag == r.tag
    calls = [EvalCall(nr, "x86_64", name_of(nr), [0] * 6) for nr in range(0, 335)]
    calls += [EvalCall(257, "x86_64", "openat", [AT_FDCWD, p, flags, 0])
              for p in ("/etc/passwd", "/etc/shadow", "/tmp/x", "/proc/self/mem", "/usr/bin/ls")
              for flags in (0, 1, 0o101)]
    calls += [EvalCall(59, "x86_64", "execve", [p, [p], []]) for p in ("/bin/sh", "/tmp/x")]
    calls += [EvalCall(42, "x86_64", "connect", [3, a, 16]) for a in ("10.0.0.1:80", "/run/x")]
    for c in calls:
        h, f = hit.decide(c), fresh.decide(c)
        assert (h.action, h.value, h.rule) == (f.action, f.value, f.rule), c.name
    for nr in range(0, 460):
        assert hit.kernel_verdict(nr, "x86_64", (1, 2, 3, 0, 0, 0)) == \
            fresh.kernel_verdict(nr, "x86_64", (1, 2, 3, 0, 0, 0))
    # options are part of the key: another trace list is another entry, compiled for it
    for i, change in enumerate(({"trace_extra": ()}, {"trace_denials": True}), start=2):
        other = load_compiled_for_config(config, **dict(opts, **change))
        assert not cached(other) and len(entries(entries_dir)) == i
        assert other.bpf == compile_policy(load_for_config(config), **dict(opts, **change)).bpf
        assert other.bpf != hit.bpf


def test_warnings_come_back_on_a_hit(entries_dir):
    config = cfg(seccomp_string="POLICY unused { ALLOW { read } } ALLOW { write } DEFAULT KILL")
    load_compiled_for_config(config, **OPTS)
    hit = load_compiled_for_config(config, **OPTS)
    assert cached(hit)
    assert [m for _, m in hit.warnings] == ["policy `unused' is never used"]


def test_editing_an_included_file_changes_the_jail(tj, tmp_path):
    """Nested #include: the innermost file is edited between runs; the next jail
    follows the new text (and then caches that)."""
    xdg = tmp_path / "xdg"
    (tmp_path / "sub").mkdir()
    main = tmp_path / "main.policy"
    main.write_text('#include "sub/mid.policy"\nDEFAULT ALLOW\n')
    (tmp_path / "sub" / "mid.policy").write_text('#include "deep.policy"\n')
    deep = tmp_path / "sub" / "deep.policy"
    deep.write_text("ERRNO(EPERM) { uname }\n")
    rc, err = jail_uname(tj, main, xdg)
    assert rc == 1 and "Operation not permitted" in err and "policy: compiled (cached as" in err
    rc, err = jail_uname(tj, main, xdg)
    assert rc == 1 and "policy: compiled form from the cache" in err
    deep.write_text("ALLOW { uname }\n")
    rc, err = jail_uname(tj, main, xdg)
    assert rc == 0 and "policy: compiled (cached as" in err, err
    rc, err = jail_uname(tj, main, xdg)
    assert rc == 0 and "policy: compiled form from the cache" in err
    deep.unlink()            # a missing include is a miss, and then the parse error
    rc, err = jail_uname(tj, main, xdg)
    assert rc == 2 and "not found" in err and "from the cache" not in err


def test_mount_table_is_part_of_the_key(entries_dir):
    text = "ALLOW { execve(f, a, e) { path(f) on ro_bind } } DEFAULT ERRNO(EACCES)"
    ro = cfg(seccomp_string=text, chroot=None, mounts=[("bind", "/usr", "/opt/t", None, None, False)])
    rw = cfg(seccomp_string=text, chroot=None, mounts=[("bind", "/usr", "/opt/t", None, None, True)])
    ex = lambda cp: str(cp.decide(EvalCall(59, "x86_64", "execve",  # noqa: E731
                                           ["/opt/t/x", ["x"], []])))
    load_compiled_for_config(ro, **OPTS)
    a = load_compiled_for_config(ro, **OPTS)
    assert cached(a) and ex(a) == "ALLOW"
    b = load_compiled_for_config(rw, **OPTS)
    assert not cached(b) and ex(b) == "ERRNO(13)"
    assert ex(load_compiled_for_config(rw, **OPTS)) == "ERRNO(13)"
    assert ex(load_compiled_for_config(ro, **OPTS)) == "ALLOW"
    assert len(entries(entries_dir)) == 2


@pytest.mark.parametrize("how", ["string", "relative-file"])
def test_includes_resolve_from_the_cwd_of_this_run(entries_dir, tmp_path, monkeypatch, how):
    """--seccomp_string includes resolve against the cwd, a relative -P too: the same
    text run from another directory reads other files."""
    for d, action in (("a", "ERRNO(EPERM)"), ("b", "ALLOW")):
        (tmp_path / d).mkdir()
        (tmp_path / d / "inc.policy").write_text(f"{action} {{ uname }}\n")
        (tmp_path / d / "p.policy").write_text('#include "inc.policy"\nDEFAULT ALLOW\n')
    config = cfg(seccomp_string='#include "inc.policy"\nDEFAULT ALLOW') if how == "string" \
        else cfg(seccomp_policy="p.policy")
    monkeypatch.chdir(tmp_path / "a")
    load_compiled_for_config(config, **OPTS)
    assert uname(load_compiled_for_config(config, **OPTS)) == "ERRNO(1)"
    monkeypatch.chdir(tmp_path / "b")
    assert uname(load_compiled_for_config(config, **OPTS)) == "ALLOW"


def forge(entry):
    """Swap the compiled policy inside an entry for an allow-all one, keeping its
    header (key, files that check out): what someone who can write the cache could
    plant.  Only a cache we trust may ever hand it back."""
    import pickle
    data = entry.read_bytes()
    body = data[len(cache.MAGIC) + 64:]
    mlen = int.from_bytes(body[:8], "little")
    body = body[:8 + mlen] + pickle.dumps(compile_policy(load_policy_text("DEFAULT ALLOW")))
    entry.write_bytes(cache.MAGIC + cache._sha(body).encode() + body)


def plant(entries_dir, config):
    load_compiled_for_config(config, **OPTS)
    [entry] = entries(entries_dir)
    forge(entry)
    return entry


@pytest.fixture
def strict(tmp_path):
    p = tmp_path / "strict.policy"
    p.write_text("ERRNO(EPERM) { uname } DEFAULT ALLOW\n")
    return cfg(seccomp_policy=str(p))


def test_planted_entry_is_used_only_from_a_trusted_cache(entries_dir, strict):
    entry = plant(entries_dir, strict)
    assert uname(load_compiled_for_config(strict, **OPTS)) == "ALLOW"   # trusted: used (the test can fail)
    data = entry.read_bytes()
    os.chmod(entries_dir, 0o770)                # group-writable directory
    assert uname(load_compiled_for_config(strict, **OPTS)) == "ERRNO(1)"
    os.chmod(entries_dir, 0o702)                # other-writable directory
    assert uname(load_compiled_for_config(strict, **OPTS)) == "ERRNO(1)"
    assert entry.read_bytes() == data           # nothing written into an untrusted directory
    os.chmod(entries_dir, 0o700)
    os.chown(entries_dir, 65534, 65534)         # someone else's directory
    assert uname(load_compiled_for_config(strict, **OPTS)) == "ERRNO(1)"
    assert entry.read_bytes() == data
    os.chown(entries_dir, 0, 0)
    os.chmod(entry, 0o620)                      # group-writable entry in our directory
    assert uname(load_compiled_for_config(strict, **OPTS)) == "ERRNO(1)"
    entry.unlink()
    entry = plant(entries_dir, strict)
    os.chown(entry, 65534, 65534)               # someone else's entry
    assert uname(load_compiled_for_config(strict, **OPTS)) == "ERRNO(1)"
    entry.unlink()
    entry = plant(entries_dir, strict)
    os.link(entry, entries_dir.parent / "second-name")   # a hard link elsewhere
    assert uname(load_compiled_for_config(strict, **OPTS)) == "ERRNO(1)"


def test_symlinked_cache_directory_is_ignored(entries_dir, strict, tmp_path):
    plant(entries_dir, strict)
    assert uname(load_compiled_for_config(strict, **OPTS)) == "ALLOW"
    elsewhere = tmp_path / "elsewhere"
    entries_dir.rename(elsewhere)
    entries_dir.symlink_to(elsewhere)
    assert uname(load_compiled_for_config(strict, **OPTS)) == "ERRNO(1)"


def test_untrusted_cache_in_a_real_run(tj, tmp_path, strict, entries_dir):
    xdg = entries_dir.parent.parent
    assert jail_uname(tj, strict.seccomp_policy, xdg)[0] == 1
    [entry] = entries(entries_dir)
    forge(entry)
    assert jail_uname(tj, strict.seccomp_policy, xdg)[0] == 0          # the planted allow-all
    os.chmod(entries_dir, 0o775)
    rc, err = jail_uname(tj, strict.seccomp_policy, xdg)
    assert rc == 1 and "Operation not permitted" in err and "from the cache" not in err


def test_no_cache_env_bypasses_it(entries_dir, strict, monkeypatch):
    plant(entries_dir, strict)
    monkeypatch.setenv("TRACEJAIL_NO_CACHE", "1")
    cp = load_compiled_for_config(strict, **OPTS)
    assert uname(cp) == "ERRNO(1)" and not cached(cp)
    load_compiled_for_config(cfg(seccomp_string="DEFAULT ALLOW"), **OPTS)
    assert len(entries(entries_dir)) == 1       # nothing stored either


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "bad-pickle"])
def test_corrupt_entry_is_a_miss(entries_dir, strict, damage):
    load_compiled_for_config(strict, **OPTS)
    [entry] = entries(entries_dir)
    data = entry.read_bytes()
    if damage == "truncate":
        data = data[:len(data) // 2]
    elif damage == "flip":
        data = data[:-100] + bytes([data[-100] ^ 0x20]) + data[-99:]
    elif damage == "garbage":
        data = os.urandom(4096)
    elif damage == "empty":
        data = b""
    else:   # a well-formed, checksummed entry whose payload does not unpickle
        body = (5).to_bytes(8, "little") + b"\x80\x05N." + b"junk" * 10
        data = cache.MAGIC + cache._sha(body).encode() + body
    entry.write_bytes(data)
    cp = load_compiled_for_config(strict, **OPTS)
    assert not cached(cp) and uname(cp) == "ERRNO(1)"
    assert cached(load_compiled_for_config(strict, **OPTS))     # rewritten


def test_include_replaced_by_a_fifo_is_a_miss_without_blocking(entries_dir, tmp_path):
    inc = tmp_path / "inc.policy"
    inc.write_text("ALLOW { uname }\n")
    main = tmp_path / "main.policy"
    main.write_text('#include "inc.policy"\nDEFAULT KILL\n')
    config = cfg(seccomp_policy=str(main))
    load_compiled_for_config(config, **OPTS)
    key, _ = cache.make_key(config, dict(OPTS))
    assert cache.load(key) is not None
    inc.unlink()
    os.mkfifo(inc)
    old = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("cache lookup blocked on a FIFO"))
    signal.alarm(5)
    try:
        assert cache.load(key) is None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_docker_profiles_are_not_cached(entries_dir, tmp_path):
    assert cache.make_key(cfg(seccomp_policy=str(tmp_path / "p.json")), dict(OPTS)) == (None, None)


def test_only_the_newest_entries_are_kept(entries_dir, monkeypatch):
    monkeypatch.setattr(cache, "KEEP", 3)
    configs = [cfg(seccomp_string=f"ERRNO({n}) {{ uname }} DEFAULT ALLOW") for n in range(1, 6)]
    for c in configs:
        load_compiled_for_config(c, **OPTS)
    assert len(entries(entries_dir)) == 3
    assert cached(load_compiled_for_config(configs[-1], **OPTS))
    assert not cached(load_compiled_for_config(configs[0], **OPTS))


def test_code_python_and_libseccomp_changes_are_misses(entries_dir, strict, tmp_path, monkeypatch):
    """Stand-ins for tracejail's policy code and for libseccomp: editing the code,
    another Python or a replaced library never reuses an entry."""
    import shutil
    import sys
    code = tmp_path / "pkg" / "policy"
    code.mkdir(parents=True)
    for f in os.listdir(cache._HERE):
        if f.endswith(".py"):
            shutil.copy(os.path.join(cache._HERE, f), code / f)
    shutil.copy(os.path.join(cache._HERE, "..", "verdict.py"), code.parent / "verdict.py")
    lib = tmp_path / "libseccomp.so.2"
    lib.write_bytes(b"\x7fELF v1")
    monkeypatch.setattr(cache, "_HERE", str(code))
    monkeypatch.setattr(cache, "_libseccomp_files", lambda: [str(lib)])
    load_compiled_for_config(strict, **OPTS)
    assert cached(load_compiled_for_config(strict, **OPTS))
    with open(code / "interpreter.py", "a") as f:
        f.write("# changed\n")
    assert not cached(load_compiled_for_config(strict, **OPTS))
    assert cached(load_compiled_for_config(strict, **OPTS))
    monkeypatch.setattr(sys, "version", sys.version + " (another build)")
    assert not cached(load_compiled_for_config(strict, **OPTS))
    assert cached(load_compiled_for_config(strict, **OPTS))
    lib.unlink()
    lib.write_bytes(b"\x7fELF v2")       # an upgrade: a new file in its place
    assert not cached(load_compiled_for_config(strict, **OPTS))
    assert cached(load_compiled_for_config(strict, **OPTS))
