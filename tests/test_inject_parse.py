"""--inject spec parsing and the when=/path= counting rules (pure Python)."""
import errno

import pytest

from tracejail.errors import UsageError
from tracejail.supervisor.inject import parse_injection, parse_injections


class FakeCall:
    """Literal SyscallCall for path= tests (the supervisor gives the real one)."""
    arch = "x86_64"

    def __init__(self, path):
        self._p = path

    def path(self, i):
        if self._p is None:
            from tracejail.verdict import ArgFault
            raise ArgFault(errno.EFAULT)
        return self._p


def hits(spec, n=12, name=None):
    inj = parse_injections([spec])
    name = name or inj.syscalls[0]
    return [k for k in range(1, n + 1) if inj.match(name, k, None) is not None]


@pytest.mark.parametrize("when,expected", [
    (None, list(range(1, 13))),
    ("3", [3]),
    ("3+", list(range(3, 13))),
    ("2+3", [2, 5, 8, 11]),
    ("2..4", [2, 3, 4]),
    ("2..9+3", [2, 5, 8]),
    ("1..3+", [1, 2, 3]),
])
def test_when_expressions_follow_strace(when, expected):
    spec = "chdir:errno=ENOENT" + (f":when={when}" if when else "")
    assert hits(spec) == expected


def test_errno_symbolic_numeric_and_error_alias():
    assert parse_injection("openat:errno=ENOENT").errno == errno.ENOENT
    assert parse_injection("openat:error=EACCES").errno == errno.EACCES
    assert parse_injection("openat:errno=5").errno == 5
    assert parse_injection("read,write:errno=EINTR").syscalls == ("read", "write")


def test_last_when_wins():
    assert hits("chdir:errno=EIO:when=2:when=4") == [4]


@pytest.mark.parametrize("bad", [
    "", "openat", "openat:", "openat:when=2", "nosuchcall:errno=EIO", "openat:errno=ENOPE",
    "openat:errno=0", "openat:errno=4096", "openat:errno=EIO:when=0", "openat:errno=EIO:when=-1",
    "openat:errno=EIO:when=3..2", "openat:errno=EIO:when=2+0", "openat:errno=EIO:when=x",
    "openat:errno=EIO:when=70000", "openat:errno=EIO:colour=red", "getpid:errno=EIO:path=/x",
    "openat:errno=EIO:path=relative", "openat:errno=EIO:errno=ENOENT", "OPENAT:errno=EIO",
    "openat:errno=EIO:path=/[ab",
])
def test_bad_specs_are_usage_errors(bad):
    with pytest.raises(UsageError) as e:
        parse_injections([bad])
    assert e.value.exit_code == 2 and "--inject" in str(e.value)


def test_path_filter_counts_only_matching_calls():
    inj = parse_injections(["openat:errno=EIO:when=2:path=/etc/**"])
    seq = ["/etc/a", "/usr/x", "/usr/y", "/etc/sub/b", "/etc/c", "/etcx/d"]
    got = [inj.match("openat", k, FakeCall(p), tid=7) for k, p in enumerate(seq, 1)]
    assert got == [None, None, None, errno.EIO, None, None]
    # other threads count on their own
    assert inj.match("openat", 1, FakeCall("/etc/a"), tid=8) is None
    assert inj.match("openat", 2, FakeCall("/etc/a"), tid=8) == errno.EIO
    inj.forget(8)
    assert inj.match("openat", 3, FakeCall("/etc/a"), tid=8) is None


def test_path_glob_semantics_and_unreadable_path():
    inj = parse_injections(["openat:errno=ENOENT:path=/usr/lib/*.so*"])
    assert inj.match("openat", 1, FakeCall("/usr/lib/libc.so.6")) == errno.ENOENT
    assert inj.match("openat", 1, FakeCall("/usr/lib/x/libc.so.6")) is None
    assert inj.match("openat", 1, FakeCall(None)) is None
    assert parse_injections(["stat:errno=EIO:path=/etc/**"]).match("stat", 1, FakeCall("/etc")) == errno.EIO


def test_first_spec_wins_and_syscalls_union():
    inj = parse_injections(["openat:errno=ENOENT:when=1", "openat,read:errno=EIO"])
    assert inj.syscalls == ("openat", "read")
    assert inj.match("openat", 1, None) == errno.ENOENT
    assert inj.match("openat", 2, None) == errno.EIO
    assert inj.match("getpid", 1, None) is None
    assert not parse_injections([]) and parse_injections([]).syscalls == ()


def test_foreign_arch_never_matches():
    class I386(FakeCall):
        arch = "i386"
    assert parse_injections(["openat:errno=EIO"]).match("openat", 1, I386("/x")) is None


def test_strace_inject_prefix_accepted_classes_refused():
    assert parse_injection("inject=chdir:error=ENOENT:when=3+").syscalls == ("chdir",)
    with pytest.raises(UsageError):
        parse_injection("%file:errno=ENOENT")
