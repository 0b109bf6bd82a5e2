"""learn without a jail: option parsing, glob collapsing, merge data round trip."""
import pytest

from tracejail.errors import PolicyError, UsageError
from tracejail.learn import Observations, collapse, generate, parse_argv, read_learn_data


def test_parse_argv_splits_learn_and_jail_options():
    out, merges, jail, cmd = parse_argv(["--chroot", "/", "-o", "x.policy", "--merge", "a.policy",
                                         "--merge=b.policy", "-t", "5", "--", "/bin/true", "-o"])
    assert (out, merges, jail, cmd) == ("x.policy", ["a.policy", "b.policy"], ["--chroot", "/", "-t", "5"],
                                        ["/bin/true", "-o"])


@pytest.mark.parametrize("argv", [
    ["-o", "x", "/bin/true"], ["--", "/bin/true"], ["-o", "x", "--"], ["-o"],
    ["-o", "x", "-P", "p.policy", "--", "/bin/true"], ["-o", "x", "--permissive", "--", "/bin/true"],
    ["-o", "x", "-o", "y", "--", "/bin/true"],
])
def test_parse_argv_errors(argv):
    with pytest.raises(UsageError):
        parse_argv(argv)


def test_collapse_directory_prefixes():
    paths = {f"/usr/lib/python3.11/json/{m}.py": 1 for m in ("__init__", "decoder", "scanner", "encoder")}
    paths.update({"/usr/lib/python3.11/codecs.py": 2, "/usr/lib/python3.11/io.py": 1,
                  "/usr/lib/x86_64-linux-gnu/libc.so.6": 1, "/etc/ld.so.cache": 3, "/etc/passwd": 1,
                  "/etc/hosts": 1, "/tmp/tmpk2j3": 1, "/proc/42/status": 1})
    got = dict(collapse(paths))
    assert got == {"/usr/lib/python3.11/**": 7, "/usr/lib/x86_64-linux-gnu/libc.so.6": 1,
                   "/etc/ld.so.cache": 3, "/etc/passwd": 1, "/etc/hosts": 1,   # depth 1: never /etc/**
                   "/tmp/**": 1, "/proc/*/status": 1}


def test_collapse_keeps_few_files_exact():
    assert dict(collapse({"/opt/app/a": 1, "/opt/app/b": 2})) == {"/opt/app/a": 1, "/opt/app/b": 2}


def test_merge_data_round_trip(tmp_path):
    o = Observations()
    o.runs.append("prog")
    o.calls.update({"read": 3, "socket": 2})
    o.ints["socket"].update({1: 1, 2: 1})
    o.paths["openat:filename:r"].update({"/etc/passwd": 1})
    text, _ = generate(o, "prog")
    p = tmp_path / "l.policy"
    p.write_text(text)
    back = read_learn_data(str(p))
    assert back.to_json() == o.to_json()
    p.write_text("POLICY x { ALLOW { read } } USE x DEFAULT KILL\n")
    with pytest.raises(PolicyError, match="not written by"):
        read_learn_data(str(p))
    p.write_text(text.replace("// learn-data: ", "// learn-data: AAAA", 1))
    with pytest.raises(PolicyError, match="corrupt"):
        read_learn_data(str(p))


def test_generated_policy_keeps_protections_first():
    o = Observations()
    o.calls.update({"read": 1, "ptrace": 1, "prctl": 2, "clone3": 1})
    o.ints["prctl"].update({15: 2})
    text, warnings = generate(o)
    assert any("ptrace" in w for w in warnings)
    # the shipped default's `dangerous` block, used before the learned rules
    assert "POLICY dangerous {" in text
    learned = text.split("POLICY learned {")[1]
    assert learned.index("USE dangerous") < learned.index("ALLOW {")
    allow = learned[learned.index("ALLOW {"):].split("USE learned")[0]
    assert "ptrace" not in allow and "clone3" not in allow
    assert "prctl { option == 0xf }" in allow
    assert "USE learned DEFAULT KILL" in text
    from tracejail.policy import compile_policy, load_policy_text
    from tracejail.policy.interpreter import IntCall
    cp = compile_policy(load_policy_text(text))
    assert cp.decide(IntCall(101, "x86_64", (0,) * 6)).kills                  # ptrace
    assert cp.decide(IntCall(157, "x86_64", (22, 2, 0, 0, 0, 0))).kills       # prctl(PR_SET_SECCOMP)
    assert cp.decide(IntCall(157, "x86_64", (15, 0, 0, 0, 0, 0))).allows      # prctl(PR_SET_NAME)
    assert str(cp.decide(IntCall(435, "x86_64", (0,) * 6))) == "ERRNO(38)"    # clone3


def test_observed_names_cannot_widen_the_policy():
    """A jailed program that opens "/etc/*" or 'x", "/**' while learning gets exactly
    that name allowed, not a glob (and no policy text of its own)."""
    from tracejail.policy import compile_policy, load_policy_text
    assert dict(collapse({"/etc/*": 1, "/etc/[ab]?": 1})) == {"/etc/[*]": 1, "/etc/[[]ab][?]": 1}
    o = Observations()
    o.calls.update({"openat": 3})
    o.paths["openat:1:r"].update({"/etc/*": 1, '/etc/x", "/**': 1, "/etc/a\\nb": 1})
    text, _ = generate(o)
    cp = compile_policy(load_policy_text(text))

    class Call:
        nr, arch, name = 257, "x86_64", "openat"

        def __init__(self, p):
            self.p, self.args = p, (0xFFFFFF9C, 1, 0, 0, 0, 0)

        def path(self, i):
            return self.p

    assert cp.decide(Call("/etc/*")).allows
    assert cp.decide(Call('/etc/x", "/**')).allows
    for other in ("/etc/passwd", "/etc/x", "/bin/sh", "/"):
        assert cp.decide(Call(other)).kills, other
