"""Policy language: kafel compatibility, predicates, errors with file:line:col."""
from __future__ import annotations

import pytest

from tracejail.errors import PolicyError
from tracejail.policy import compile_policy, format_policy, load_policy_file, load_policy_text
from tracejail.policy.cli import EvalCall
from tracejail.policy.interpreter import IntCall
from tracejail.policy.syscalls import nr_of
from tracejail.verdict import ArgFault

AT_FDCWD = 0xFFFFFF9C


def decide(text, name, *args, **kw):
    cp = compile_policy(load_policy_text(text))
    values = list(args)
    return cp.decide(EvalCall(nr_of(name), kw.get("arch", "x86_64"), name, values))


def v(text, name, *args):
    r = decide(text, name, *args)
    return str(r)


# ------------------------------------------------------------------ kafel compatibility
NSJAIL_README = ("POLICY a { ALLOW { write, execve, brk, access, mmap, open, newfstat, close, read, "
                 "mprotect, arch_prctl, munmap, getuid, getgid, getpid, rt_sigaction, geteuid, getppid, "
                 "getcwd, getegid, ioctl, fcntl, newstat, clone, wait4, rt_sigreturn, exit_group } } "
                 "USE a DEFAULT KILL")


def test_nsjail_readme_policy():
    p = load_policy_text(NSJAIL_README)
    cp = compile_policy(p)
    assert str(cp.decide(IntCall(nr_of("fstat"), "x86_64", ()))) == "ALLOW"   # newfstat alias
    assert str(cp.decide(IntCall(nr_of("stat"), "x86_64", ()))) == "ALLOW"    # newstat alias
    assert cp.decide(IntCall(nr_of("getuid"), "x86_64", ())).action == "ALLOW"
    assert cp.decide(IntCall(nr_of("socket"), "x86_64", ())).action == "KILL"
    assert cp.kernel_verdict(nr_of("socket")).action == "KILL"
    assert not cp.needs_supervisor


def test_top_level_statements_form_the_entry_policy():
    text = """
    #define MYSYS 1
    POLICY p1 { ERRNO(1) { getpid } }
    POLICY p2 { USE p1, ALLOW { getppid } }
    USE p2
    ALLOW { gettid }, KILL_PROCESS { MYSYS }
    DEFAULT ERRNO(38)
    """
    cp = compile_policy(load_policy_text(text))
    d = lambda n: str(cp.decide(IntCall(n, "x86_64", ())))  # noqa: E731
    assert d(nr_of("getpid")) == "ERRNO(1)"
    assert d(nr_of("getppid")) == "ALLOW"
    assert d(nr_of("gettid")) == "ALLOW"
    assert d(1) == "KILL_PROCESS"                  # write via #define'd number
    assert d(nr_of("read")) == "ERRNO(38)"


def test_default_is_kill_when_missing():
    cp = compile_policy(load_policy_text("ALLOW { read }"))
    assert cp.decide(IntCall(1, "x86_64", ())).action == "KILL"


def test_first_matching_rule_across_actions():
    text = """ALLOW { read { fd == 0 } }, ERRNO(5) { read { fd < 10 } }, ALLOW { read } DEFAULT KILL"""
    cp = compile_policy(load_policy_text(text))
    d = lambda *a: str(cp.decide(IntCall(0, "x86_64", a)))  # noqa: E731
    assert d(0) == "ALLOW" and d(3) == "ERRNO(5)" and d(11) == "ALLOW"
    assert d(3 | 1 << 32) == "ERRNO(5)"           # fd is an int: high bits ignored
    for a in (0, 3, 11, 3 | 1 << 32, 1 << 40):
        ok, k, i = cp.agrees(0, (a,))
        assert ok and (k.action, k.value) == (i.action, i.value), (a, k, i)


def test_precedence_like_kafel():
    # ',' lowest; && binds tighter than ||; ! applies to a primary; & tighter than |
    text = """ALLOW { mmap(a, l, prot, flags, fd, off) {
        prot & PROT_EXEC == 0 && flags == 1 || fd == 7, off == 9 } } DEFAULT ERRNO(1)"""
    cp = compile_policy(load_policy_text(text))
    d = lambda *a: cp.decide(IntCall(9, "x86_64", a)).action  # noqa: E731
    assert d(0, 0, 1, 1, 0, 0) == "ALLOW"
    assert d(0, 0, 5, 1, 0, 0) == "ERRNO"
    assert d(0, 0, 5, 0, 7, 0) == "ALLOW"
    assert d(0, 0, 5, 0, 0, 9) == "ALLOW"
    text2 = "ALLOW { read { !fd == 1 && count == 2 } } DEFAULT ERRNO(1)"
    cp2 = compile_policy(load_policy_text(text2))
    assert cp2.decide(IntCall(0, "x86_64", (3, 0, 2))).action == "ALLOW"
    assert cp2.decide(IntCall(0, "x86_64", (1, 0, 2))).action == "ERRNO"
    text3 = "ALLOW { open { flags == O_RDONLY|O_CLOEXEC } } DEFAULT ERRNO(1)"
    assert compile_policy(load_policy_text(text3)).decide(
        IntCall(2, "x86_64", (0, 0o2000000))).action == "ALLOW"


def test_numbers_and_symbolic_constants():
    text = """ALLOW { read { fd == 0x10 || fd == 010 || fd == 0b11 || fd == 12 } },
              ERRNO(EACCES) { write } DEFAULT ERRNO(EPERM)"""
    cp = compile_policy(load_policy_text(text))
    for fd, want in ((16, "ALLOW"), (8, "ALLOW"), (3, "ALLOW"), (12, "ALLOW"), (9, "ERRNO(1)")):
        assert str(cp.decide(IntCall(0, "x86_64", (fd,)))) == want
    assert str(cp.decide(IntCall(1, "x86_64", ()))) == "ERRNO(13)"


def test_negative_constant_on_int_argument_means_32bit_value():
    cp = compile_policy(load_policy_text("ERRNO(3) { openat { dfd == -100 } } DEFAULT ALLOW"))
    assert str(cp.decide(IntCall(257, "x86_64", (AT_FDCWD,)))) == "ERRNO(3)"
    assert str(cp.decide(IntCall(257, "x86_64", (0xFFFFFFFFFFFFFF9C,)))) == "ERRNO(3)"
    assert cp.kernel_verdict(257, "x86_64", (AT_FDCWD | 0x1234 << 32,)).value == 3


def test_on_arch_guard_and_syscall_numbers():
    text = """ALLOW { read ON x86_64, arm_fadvise64_64 ON arm, write ON { arm, aarch64 },
              SYSCALL[39] } DEFAULT KILL"""
    p = load_policy_text(text)
    cp = compile_policy(p)
    assert cp.decide(IntCall(0, "x86_64", ())).action == "ALLOW"
    assert cp.decide(IntCall(1, "x86_64", ())).action == "KILL"   # write only ON arm
    assert cp.decide(IntCall(39, "x86_64", ())).action == "ALLOW"


def test_comments_and_include(tmp_path):
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "base.policy").write_text("POLICY base { ALLOW { read } } // comment\n")
    main = tmp_path / "main.policy"
    main.write_text('/* block\ncomment */ #include "inc/base.policy"; USE base DEFAULT KILL\n')
    cp = compile_policy(load_policy_file(main))
    assert cp.decide(IntCall(0, "x86_64", ())).action == "ALLOW"
    assert cp.rules[0].loc.file.endswith("base.policy")


# ------------------------------------------------------------------ predicates
PRED = """
ALLOW {
  openat(dirfd, pathname, flags, mode) {
    (flags & O_ACCMODE) == O_RDONLY && path(pathname) in ["/usr/**", "/etc/*.conf"],
    path(pathname) == "/etc/passwd",
    path(pathname) under "/tmp"
  },
  execve(filename, argv, envp) { path(filename) == "/bin/ls" && argv(argv)[1] prefix "-" ,
                                 argv(argv) contains "--safe" },
  connect(fd, addr, addrlen) {
    sockaddr(addr, addrlen).ip in ["10.0.0.0/8", "::1"] && sockaddr(addr, addrlen).port == 443,
    sockaddr(addr, addrlen).family == AF_UNIX && sockaddr(addr, addrlen).path prefix "@x"
  }
}
DEFAULT ERRNO(EACCES)
"""


@pytest.mark.parametrize("call,want", [
    (("openat", AT_FDCWD, "/usr/lib/libc.so", 0), "ALLOW"),
    (("openat", AT_FDCWD, "/usr", 0), "ALLOW"),                 # /** matches the dir itself
    (("openat", AT_FDCWD, "/usr/lib/libc.so", 1), "ERRNO(13)"),  # write
    (("openat", AT_FDCWD, "/etc/ld.so.conf", 0), "ALLOW"),
    (("openat", AT_FDCWD, "/etc/x/ld.so.conf", 0), "ERRNO(13)"),  # * stays in a component
    (("openat", AT_FDCWD, "/etc/passwd", 2), "ALLOW"),
    (("openat", AT_FDCWD, "/tmpfoo", 2), "ERRNO(13)"),           # prefix confusion
    (("openat", AT_FDCWD, "/tmp/a/b", 2), "ALLOW"),
    (("openat", AT_FDCWD, 0, 0), "ERRNO(14)"),                    # unreadable pointer: EFAULT
    (("execve", "/bin/ls", ["ls", "-l"], []), "ALLOW"),
    (("execve", "/bin/ls", ["ls", "x"], []), "ERRNO(13)"),
    (("execve", "/bin/sh", ["sh", "--safe"], []), "ALLOW"),
    (("connect", 3, "10.1.2.3:443", 16), "ALLOW"),
    (("connect", 3, "[::ffff:10.1.2.3]:443", 28), "ALLOW"),       # v4-mapped v6
    (("connect", 3, "10.1.2.3:80", 16), "ERRNO(13)"),
    (("connect", 3, "[::1]:443", 28), "ALLOW"),
    (("connect", 3, "11.0.0.1:443", 16), "ERRNO(13)"),
    (("connect", 3, "@xyz", 5), "ALLOW"),
    (("connect", 3, "/run/x", 5), "ERRNO(13)"),
])
def test_predicates(call, want):
    assert v(PRED, *call) == want


def test_argfault_is_errno_never_allow():
    class Faulty(EvalCall):
        def path(self, i):
            raise ArgFault(36, "too long")
    cp = compile_policy(load_policy_text(PRED))
    r = cp.decide(Faulty(257, "x86_64", "openat", [AT_FDCWD, "x", 0]))
    assert (r.action, r.value) == ("ERRNO", 36)


def test_memory_rules_route_to_supervisor_and_int_rules_stay_in_kernel():
    cp = compile_policy(load_policy_text(PRED + " ALLOW { read } "))
    assert cp.route(257).where == "supervisor"
    assert cp.kernel_verdict(257, "x86_64", (AT_FDCWD, 1, 0)).action == "TRACE"
    assert cp.route(0).where == "kernel"
    assert cp.needs_supervisor


def test_foreign_arch_never_allowed():
    cp = compile_policy(load_policy_text("DEFAULT ALLOW"))
    for arch, nr in (("i386", 5), ("x32", 257), ("i386", 295)):
        assert cp.kernel_verdict(nr, arch).action == "KILL_PROCESS"
        assert cp.decide(IntCall(nr if arch != "x32" else nr | 0x40000000, arch, ())).action == "KILL_PROCESS"


def test_format_policy_round_trip():
    p = load_policy_text(PRED + "KILL { ioctl { (cmd & 0xff) == 0x12 } } USE_NOTHING_HERE") \
        if False else load_policy_text(PRED + "KILL { ioctl { (cmd & 0xff) == 0x12 } }")
    text = format_policy(p)
    q = load_policy_text(text)
    assert [(r.nr, str(r.action)) for r in p.rules] == [(r.nr, str(r.action)) for r in q.rules]
    assert format_policy(q) == text


def test_builder():
    from tracejail.policy.format import PolicyBuilder
    b = PolicyBuilder(default="ERRNO(1)")
    b.add("ALLOW", "read")
    b.add("ALLOW", "personality", "personality == 0")
    b.add("KILL", 1000)
    prog = b.build()
    cp = compile_policy(prog)
    assert cp.decide(IntCall(135, "x86_64", (0,))).action == "ALLOW"
    assert cp.decide(IntCall(135, "x86_64", (8,))).action == "ERRNO"
    assert cp.decide(IntCall(1000, "x86_64", ())).action == "KILL"


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("text,where,msg", [
    ("ALLOW { read", "1:13", "expected"),
    ("ALLOW { nosuchcall }", "1:9", "undefined syscall"),
    ("", "1:1", "empty policy"),
    ("// just a comment\n", "2:1", "empty policy"),
    ("POLICY a { ALLOW { read } }", "1:28", "no top-level rules"),
    ("ALLOW { read { foo == 1 } }", "1:16", "undefined argument"),
    ("USE nope", "1:5", "undefined policy"),
    ("POLICY a {} POLICY a {}", "1:20", "redefinition of policy"),
    ("DEFAULT KILL DEFAULT ALLOW", "1:14", "redefinition of default"),
    ("#define X 1\n#define X 2", "2:1", "redefinition of constant"),
    ("ERRNO(70000) { read }", "1:7", "out of range"),
    ("ALLOW { read { fd == 99999999999999999999999 } }", "1:22", "out of range"),
    ("ALLOW { read(a, a) }", "1:17", "redefinition of argument"),
    ("ALLOW { read(a,b,c,d,e,f,g) }", "1:26", "too many arguments"),
    ("/* open", "1:1", "unterminated comment"),
    ('ALLOW { openat { path(filename) == "rel" } }', "1:18", "must be absolute"),
    ('ALLOW { connect { sockaddr(uservaddr, addrlen).ip in "300.1.1.1" } }', "1:19", "bad IP"),
    ("ALLOW { read ON sparc }", "1:17", "unknown architecture"),
    ("ALLOW { read } $", "1:16", "unexpected character"),
    ("ALLOW { SYSCALL[0x40000001] }", "1:9", "not a valid x86_64"),
    ("ALLOW { read { " + "(" * 100 + "fd == 1" + ")" * 100 + " } }", "1:81", "nested too deeply"),
    ("ALLOW { read { " + "!" * 100 + "fd == 1 } }", "1:81", "nested too deeply"),
    ("ALLOW { read { " + " || ".join(["fd == 1"] * 300) + " } }", "1:2840", "expression too long"),
])
def test_errors_have_precise_locations(text, where, msg):
    with pytest.raises(PolicyError) as e:
        load_policy_text(text, name="t.policy")
    s = str(e.value)
    assert s.startswith(f"t.policy:{where}:"), s
    assert msg in s


def test_non_utf8_and_recursive_include(tmp_path):
    bad = tmp_path / "bad.policy"
    bad.write_bytes(b"ALLOW { read }\n// caf\xe9\n")
    with pytest.raises(PolicyError, match=r"bad.policy:2:7: invalid UTF-8"):
        load_policy_file(bad)
    a, b = tmp_path / "a.policy", tmp_path / "b.policy"
    a.write_text('#include "b.policy"\n')
    b.write_text('ALLOW { read }\n#include "a.policy"\n')
    with pytest.raises(PolicyError, match=r"b.policy:2:10: recursive #include"):
        load_policy_file(a)
    c = tmp_path / "c.policy"
    c.write_text('#include "missing.policy"\n')
    with pytest.raises(PolicyError, match=r"c.policy:1:10: included file missing.policy not found"):
        load_policy_file(c)


def test_warnings_for_shadowed_rules_and_other_arch():
    p = load_policy_text("ALLOW { read, read { fd == 1 }, socketcall, arm_fadvise64_64 ON arm } "
                         "DEFAULT KILL", name="w")
    msgs = [m for _, m in p.warnings]
    assert any("unreachable" in m for m in msgs)
    assert any("socketcall" in m and "does not exist on x86_64" in m for m in msgs)
    assert [r.syscall for r in p.rules] == ["read", "read"]


# policies as nsjail users write them (seccomp_string lines joined by newlines)
NSJAIL_CONFIGS = [
    ("KILL {\n  clone { (clone_flags & 0x7e020000) != 0 },\n  mount, sethostname, umount, pivot_root\n}\n"
     "DEFAULT ALLOW", [("clone", (0x10000000,), "KILL"), ("clone", (0x11,), "ALLOW"),
                       ("umount2", (), "KILL"), ("getpid", (), "ALLOW")]),
    ("DEFAULT LOG", [("getpid", (), "LOG")]),
    ("POLICY imagemagick_convert {\n  ALLOW {\n    read, write, open, close, newstat, newfstat\n  }\n}\n"
     "USE imagemagick_convert DEFAULT KILL", [("stat", (), "ALLOW"), ("fstat", (), "ALLOW"),
                                            ("socket", (), "KILL")]),
    ("ALLOW { read, write, open, close, stat, fstat, lstat, poll, lseek } DEFAULT KILL_PROCESS",
     [("lstat", (), "ALLOW"), ("getpid", (), "KILL_PROCESS")]),
]


@pytest.mark.parametrize("text,cases", NSJAIL_CONFIGS)
def test_nsjail_config_policies(text, cases):
    cp = compile_policy(load_policy_text(text))
    for name, args, want in cases:
        assert cp.decide(IntCall(nr_of(name), "x86_64", args)).action == want, (name, args)
        assert cp.kernel_verdict(nr_of(name), "x86_64", args).action == want, (name, args)


def test_rule_too_big_for_bpf_jumps_goes_to_the_supervisor():
    cond = " && ".join(f"(arg{i % 6} & 0x10000ff0f) < {i + 1000}" for i in range(120))
    cp = compile_policy(load_policy_text(f"ERRNO(1) {{ mmap {{ {cond} }} }} DEFAULT ALLOW"))
    assert cp.route(9).where == "supervisor" and "too complex" in cp.route(9).reason
    assert cp.kernel_verdict(9, "x86_64", (0,) * 6).action == "TRACE"
    assert str(cp.decide(IntCall(9, "x86_64", (0,) * 6))) == "ERRNO(1)"


def test_on_ro_bind_follows_mount_order():
    from tracejail.policy.interpreter import on_ro_bind
    mounts = (("/", "tmpfs", False), ("/usr", "bind", False), ("/tmp", "tmpfs", True),
              ("/tmp/bin", "bind", False), ("/tmp/bin/scratch", "tmpfs", True), ("/opt", "bind", True))
    assert on_ro_bind("/usr/bin/ls", mounts)
    assert on_ro_bind("/tmp/bin/prog", mounts)             # ro bind on top of the writable tmpfs
    assert not on_ro_bind("/tmp/prog", mounts)             # jail-writable tmpfs
    assert not on_ro_bind("/tmp/bin/scratch/x", mounts)    # writable mount inside the ro bind
    assert not on_ro_bind("/tmp/binx", mounts)
    assert not on_ro_bind("/opt/x", mounts)                 # rw bind
    assert not on_ro_bind("/etc/x", mounts)                 # root tmpfs
    hidden = (("/", "tmpfs", False), ("/a/b", "bind", False), ("/a", "tmpfs", True))
    assert not on_ro_bind("/a/b/x", hidden)                 # a later mount on /a hides /a/b
    assert not on_ro_bind("/usr/bin/ls", ())                # no mount table: never


def test_exec_rule_uses_the_jail_mount_table():
    from tracejail.policy import default_policy_path
    from tracejail.policy import load_for_config
    from types import SimpleNamespace
    cfg = SimpleNamespace(seccomp_policy=None, seccomp_string=None, chroot=None, rw=False,
                          mounts=[("bind", "/usr", "/usr", None, None, False),
                                  ("tmpfs", None, "/tmp", "tmpfs", None, True),
                                  ("bind", "/x", "/tmp/tests", None, None, False)])
    cp = compile_policy(load_for_config(cfg))
    ex = lambda p: str(cp.decide(EvalCall(59, "x86_64", "execve", [p, [p], []])))  # noqa: E731
    assert ex("/usr/bin/ls") == "ALLOW"
    assert ex("/tmp/tests/prog") == "ALLOW"
    assert ex("/tmp/payload") == "ERRNO(13)"
    assert load_policy_file(default_policy_path()).mounts == ()
    assert compile_policy(load_policy_file(default_policy_path())).digest != cp.digest


MSG = """
ERRNO(EACCES) {
  sendmmsg(fd, mmsg, vlen, flags) { msgaddr(mmsg, vlen).ip == "10.9.9.9" }
},
ALLOW {
  sendmsg(fd, msg, flags) { msgaddr(msg).family == AF_UNSPEC, msgaddr(msg).ip in "127.0.0.0/8" },
  sendmmsg(fd, mmsg, vlen, flags) { msgaddr(mmsg, vlen).family == AF_UNSPEC,
                                    msgaddr(mmsg, vlen).ip in "127.0.0.0/8" }
}
DEFAULT ERRNO(EPERM)
"""


@pytest.mark.parametrize("call,want", [
    (("sendmsg", 3, "", 0), "ALLOW"),                              # connected socket: no name
    (("sendmsg", 3, "127.0.0.2:53", 0), "ALLOW"),
    (("sendmsg", 3, "[::ffff:127.0.0.1]:53", 0), "ALLOW"),
    (("sendmsg", 3, "8.8.8.8:53", 0), "ERRNO(1)"),
    (("sendmsg", 3, 0, 0), "ERRNO(14)"),                            # unreadable msghdr
    (("sendmmsg", 3, ["", "127.0.0.1:53"], 2, 0), "ALLOW"),         # each message on its own
    (("sendmmsg", 3, ["", "8.8.8.8:53"], 2, 0), "ERRNO(1)"),        # one bad message refuses
    (("sendmmsg", 3, ["", "8.8.8.8:53"], 1, 0), "ALLOW"),           # only vlen entries count
    (("sendmmsg", 3, ["127.0.0.1:1", "10.9.9.9:1"], 2, 0), "ERRNO(13)"),  # a deny rule on one entry
])
def test_msgaddr(call, want):
    assert v(MSG, *call) == want


def test_msgaddr_reads_msghdr_through_bytes_at():
    """Without msg_sockaddrs the interpreter reads struct msghdr/mmsghdr itself."""
    import struct
    from tracejail.verdict import SockAddr

    class Mem:
        def __init__(self, tid, resolver, nr, arch, name, args, blobs=None):
            self.tid, self.resolver, self.nr, self.arch, self.name = tid, resolver, nr, arch, name
            self.args, self.blobs = args, blobs if blobs is not None else resolver

        def bytes_at(self, i, n):
            return self.blobs[self.args[i]][:n]

        def sockaddr(self, i, len_i):
            return self.blobs[self.args[i]]

    blobs = {0x1000: struct.pack("<QI", 0x2000, 16).ljust(64, b"\0") +
             struct.pack("<QI", 0, 0).ljust(64, b"\0"),
             0x2000: SockAddr("AF_INET", "127.0.0.1", 53)}
    cp = compile_policy(load_policy_text(MSG))
    call = Mem(1, blobs, nr_of("sendmmsg"), "x86_64", "sendmmsg", (3, 0x1000, 2, 0, 0, 0))
    assert str(cp.decide(call)) == "ALLOW"
    blobs[0x2000] = SockAddr("AF_INET", "8.8.8.8", 53)
    assert str(cp.decide(call)) == "ERRNO(1)"
    one = Mem(1, blobs, nr_of("sendmsg"), "x86_64", "sendmsg", (3, 0x1000, 0, 0, 0, 0))
    assert str(cp.decide(one)) == "ERRNO(1)"
