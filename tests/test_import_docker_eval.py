"""An imported Docker-format profile decides what the JSON says, and runs ordinary programs.

The oracle below reads the JSON with Docker's semantics directly (includes/excludes with no
capabilities held, args ANDed, entries ORed) and is compared with the imported policy's
verdicts: through `tracejail policy eval` on a sample, and in-process (interpreter and the
BPF emulator) on many syscalls and argument values."""
import json
import random
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
PROFILE = DATA / "docker-default.json"
JAIL = ["-R", "/bin", "-R", "/lib", "-R", "/lib64", "-R", "/usr", "-R", "/etc", "-T", "/tmp"]
OPS = {"SCMP_CMP_EQ": lambda a, v, t: a == v, "SCMP_CMP_NE": lambda a, v, t: a != v,
       "SCMP_CMP_LT": lambda a, v, t: a < v, "SCMP_CMP_LE": lambda a, v, t: a <= v,
       "SCMP_CMP_GT": lambda a, v, t: a > v, "SCMP_CMP_GE": lambda a, v, t: a >= v,
       "SCMP_CMP_MASKED_EQ": lambda a, v, t: a & v == t}


def oracle(profile: dict, name: str, args) -> str:
    """Docker's verdict for name(args) on amd64, no capabilities, kernel >= 4.8."""
    hits = []
    for e in profile["syscalls"]:
        if name not in e.get("names", [e.get("name")]):
            continue
        inc, exc = e.get("includes") or {}, e.get("excludes") or {}
        if inc.get("caps") or (inc.get("arches") and "amd64" not in inc["arches"]):
            continue
        if exc.get("arches") and "amd64" in exc["arches"]:
            continue
        if all(OPS[a["op"]](args[a["index"]], a["value"], a.get("valueTwo", 0)) for a in e.get("args", [])):
            act = e["action"]
            hits.append("ALLOW" if act == "SCMP_ACT_ALLOW" else f"ERRNO({e.get('errnoRet', 1)})")
    if hits:
        return sorted(hits, key=lambda h: h == "ALLOW")[0]
    return f"ERRNO({profile.get('defaultErrnoRet', 1)})"


@pytest.fixture(scope="module")
def profile():
    return json.loads(PROFILE.read_text())


SAMPLE = [  # (call text for `policy eval`, name, integer args)
    ("read(0, 0, 0)", "read", (0, 0, 0)),
    ("personality(0)", "personality", (0,)),
    ("personality(8)", "personality", (8,)),
    ("personality(0x20008)", "personality", (0x20008,)),
    ("personality(0xffffffff)", "personality", (0xFFFFFFFF,)),
    ("personality(9)", "personality", (9,)),
    ("socket(2, 1, 0)", "socket", (2, 1, 0)),
    ("socket(40, 1, 0)", "socket", (40, 1, 0)),
    ("clone(0x1200011, 0, 0, 0, 0)", "clone", (0x1200011, 0, 0, 0, 0)),
    ("clone(0x10000000, 0, 0, 0, 0)", "clone", (0x10000000, 0, 0, 0, 0)),
    ("clone3(0, 0)", "clone3", (0, 0)),
    ("mount(0, 0, 0, 0, 0)", "mount", (0, 0, 0, 0, 0)),
    ("unshare(0x10000000)", "unshare", (0x10000000,)),
    ("ptrace(0, 0, 0, 0)", "ptrace", (0, 0, 0, 0)),
    ("reboot(0, 0, 0, 0)", "reboot", (0, 0, 0, 0)),
    ("arch_prctl(0x1002, 0)", "arch_prctl", (0x1002, 0)),
    ("kexec_load(0, 0, 0, 0)", "kexec_load", (0, 0, 0, 0)),
]


@pytest.mark.parametrize("call,name,args", SAMPLE[::3])
def test_policy_eval_gives_the_json_verdict(tj, profile, call, name, args):
    p = tj("policy", "eval", "--json", str(PROFILE), call)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)["verdict"]
    assert got == oracle(profile, name, tuple(args) + (0,) * (6 - len(args))), call


def _compiled(path=PROFILE):
    from types import SimpleNamespace
    from tracejail import policy
    return policy.compile_policy(policy.load_for_config(SimpleNamespace(seccomp_policy=str(path),
                                                                         seccomp_string=None)))


def test_interpreter_and_bpf_agree_with_the_json(profile):
    from tracejail.policy import syscalls
    from tracejail.policy.interpreter import IntCall
    cp = _compiled()
    rnd = random.Random(6)
    names = sorted({n for e in profile["syscalls"] for n in e["names"]} | {"kexec_load", "bpf", "iopl"})
    checked = 0
    for name, args in [(n, a) for _, n, a in SAMPLE] + [(n, ()) for n in names] + [
            (rnd.choice(["personality", "socket", "clone"]),
             (rnd.choice([0, 8, 40, 0x20000, 0x7E020000, 0x1200011, rnd.getrandbits(32)]),)) for _ in range(300)]:
        nr = syscalls.nr_of(name)
        if nr is None:
            continue
        args = tuple(args) + (0,) * (6 - len(args))
        want = oracle(profile, name, args)
        assert str(cp.decide(IntCall(nr, "x86_64", args))) == want, (name, args)
        assert str(cp.kernel_verdict(nr, "x86_64", args)) == want, (name, args)
        checked += 1
    assert checked > 400


@pytest.mark.parametrize("cmd", [
    ["/bin/ls", "/"],
    ["/bin/bash", "-c", "echo $((6*7)); ls /usr >/tmp/x && cat /tmp/x | wc -l"],
    ["/usr/bin/python3", "-c", "import json; print(json.dumps({'a': 1}))"],
])
def test_docker_default_runs_ordinary_programs(tj, cmd):
    p = tj("run", "-q", *JAIL, "-P", str(PROFILE), "--no-report", "--", *cmd)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip()


def test_docker_default_still_refuses_mount_and_unshare(tj, cc):
    prog = cc('#define _GNU_SOURCE\n#include <sched.h>\n#include <stdio.h>\n#include <errno.h>\n#include <sys/mount.h>\n'
              'int main(void){int a=unshare(CLONE_NEWUSER); int ea=errno;'
              ' int b=mount("none","/tmp","tmpfs",0,0); int eb=errno;'
              ' printf("%d %d %d %d\\n",a,ea,b,eb); return 0;}\n')
    p = tj("run", "-q", *JAIL, "-R", str(prog.parent), "-P", str(PROFILE), "--no-report", "--", str(prog))
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["-1", "1", "-1", "1"]          # EPERM from defaultErrnoRet


def test_import_export_round_trip(tj, tmp_path, profile):
    out = tmp_path / "d.policy"
    p = tj("policy", "import", str(PROFILE), "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert "USE docker_default DEFAULT ERRNO(1)" in out.read_text()
    assert tj("policy", "check", str(out)).returncode == 0
    back = tmp_path / "back.json"
    p = tj("policy", "export", str(out), "-o", str(back))
    assert p.returncode == 0, p.stderr
    exported = json.loads(back.read_text())
    assert exported["defaultAction"] == "SCMP_ACT_ERRNO" and exported["defaultErrnoRet"] == 1
    assert exported["architectures"] == ["SCMP_ARCH_X86_64"]
    # the exported profile means the same on the sample (Docker semantics, as the oracle reads it)
    for _, name, args in SAMPLE:
        args = tuple(args) + (0,) * (6 - len(args))
        assert oracle(exported, name, args) == oracle(profile, name, args), (name, args)


def test_export_lists_dropped_supervisor_rules(tj, tmp_path):
    pol = tmp_path / "s.policy"
    pol.write_text('POLICY s {\n  ALLOW { read, write, exit_group },\n'
                   '  ALLOW { openat { path(filename) in "/etc/**" } },\n'
                   '  ERRNO(1) { openat }\n}\nUSE s DEFAULT KILL\n')
    p = tj("policy", "export", str(pol))
    assert p.returncode == 0, p.stderr
    prof = json.loads(p.stdout)
    assert prof["defaultAction"] == "SCMP_ACT_KILL_PROCESS"
    names = {n: e for e in prof["syscalls"] for n in e["names"]}
    assert names["read"]["action"] == "SCMP_ACT_ALLOW"
    assert names["openat"]["action"] == "SCMP_ACT_ERRNO" and names["openat"]["errnoRet"] == 1
    assert "dropped s.policy:3" in p.stderr and "openat" in p.stderr


@pytest.mark.parametrize("text", ['{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], '
                                  '"action": "SCMP_ACT_BOGUS"}]}', '{"defaultAction": ', "[]"])
def test_bad_profile_refused_and_nothing_runs(tj, tmp_path, text):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    p = tj("run", "-q", *JAIL, "-P", str(bad), "--", "/bin/echo", "RAN")
    assert p.returncode == 2 and "RAN" not in p.stdout
    assert p.stderr.startswith("tracejail: ") and "Traceback" not in p.stderr
    assert tj("policy", "import", str(bad)).returncode == 2


def test_held_caps_change_what_imports(tj, tmp_path):
    """Docker's includes/excludes by caps: none held by default (the jail drops them all);
    --cap / --keep-caps count some or all as held."""
    none = tj("policy", "import", str(PROFILE)).stdout
    body = none.split("POLICY")[1]
    assert "chroot" not in body and "ERRNO(38) {\n    clone3" in body
    one = tj("policy", "import", str(PROFILE), "--cap", "CAP_SYS_CHROOT").stdout.split("POLICY")[1]
    assert "chroot" in one and "mount" not in one
    everything = tj("policy", "import", str(PROFILE), "--keep-caps").stdout.split("POLICY")[1]
    assert "mount" in everything and "clone3" in everything and "ERRNO(38)" not in everything
