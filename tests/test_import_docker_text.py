"""Docker/OCI profile -> policy text: the conversion rules, checked on the text.

The verdict-level checks (the imported policy decides what the JSON says) are in
test_import_docker_eval.py; these pin the semantics that are easy to get wrong."""
import json

import pytest

from tracejail.errors import PolicyError
from tracejail.policy.importers.docker import import_text, to_policy_text

DATA = __import__("pathlib").Path(__file__).parent / "data"


def conv(profile, **kw):
    return to_policy_text(profile, source="t.json", **kw)


def base(*entries, default="SCMP_ACT_ERRNO", **top):
    return {"defaultAction": default, "syscalls": list(entries), **top}


def test_default_action_and_errno():
    assert conv(base(default="SCMP_ACT_ERRNO")).rstrip().endswith("DEFAULT ERRNO(1)")
    assert conv(base(default="SCMP_ACT_ERRNO", defaultErrnoRet=38)).rstrip().endswith("DEFAULT ERRNO(38)")
    assert conv(base(default="SCMP_ACT_KILL_PROCESS")).rstrip().endswith("DEFAULT KILL_PROCESS")
    assert conv(base(default="SCMP_ACT_ALLOW")).rstrip().endswith("DEFAULT ALLOW")
    assert conv(base(default="SCMP_ACT_LOG")).rstrip().endswith("DEFAULT LOG")


@pytest.mark.parametrize("action,errno_ret,expected", [
    ("SCMP_ACT_ALLOW", None, "ALLOW"), ("SCMP_ACT_ERRNO", None, "ERRNO(1)"),
    ("SCMP_ACT_ERRNO", 13, "ERRNO(13)"), ("SCMP_ACT_KILL", None, "KILL"),
    ("SCMP_ACT_KILL_THREAD", None, "KILL_THREAD"), ("SCMP_ACT_KILL_PROCESS", None, "KILL_PROCESS"),
    ("SCMP_ACT_TRAP", None, "TRAP(0)"), ("SCMP_ACT_LOG", None, "LOG"),
    ("SCMP_ACT_NOTIFY", None, "USER_NOTIF"), ("SCMP_ACT_TRACE", 5, "TRACE(5)"),
])
def test_actions(action, errno_ret, expected):
    e = {"names": ["getpid"], "action": action}
    if errno_ret is not None:
        e["errnoRet"] = errno_ret
    assert f"{expected} {{\n    getpid\n  }}" in conv(base(e, default="SCMP_ACT_KILL"))


def test_args_in_one_entry_are_anded_entries_are_ored():
    t = conv(base({"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}))
    assert "socket(a0, a1) { (a0 == 2 && a1 == 1) || a0 == 1 }" in t


def test_same_index_twice_is_ored_like_runc():
    t = conv(base({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}))
    assert "personality(a0) { a0 == 0 || a0 == 8 }" in t


def test_ops_and_masked_eq_uses_value_as_mask():
    ops = {"SCMP_CMP_NE": "!=", "SCMP_CMP_LT": "<", "SCMP_CMP_LE": "<=", "SCMP_CMP_GT": ">", "SCMP_CMP_GE": ">="}
    for op, sym in ops.items():
        assert f"a2 {sym} 7" in conv(base({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
                                           "args": [{"index": 2, "value": 7, "op": op}]}))
    t = conv(base({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}))
    assert "clone(a0) { (a0 & 0x7e020000) == 0x0 }" in t


def test_conditional_before_unconditional_restrictive_first():
    t = conv(base({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW"},
                  {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                   "args": [{"index": 1, "value": 0x5412, "op": "SCMP_CMP_EQ"}]}))
    assert t.index("ERRNO(1) {\n    ioctl(a0, a1)") < t.index("ALLOW {\n    ioctl")
    t = conv(base({"names": ["kill"], "action": "SCMP_ACT_ALLOW"},
                  {"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS"}))
    assert "KILL_PROCESS {\n    kill\n  }" in t and "ALLOW {\n    kill" not in t
    assert "conflicting unconditional actions" in t


def test_caps_arches_minkernel_filtering():
    prof = base({"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
                {"names": ["cacheflush"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}})
    t = conv(prof)
    assert "chroot" not in t.split("POLICY")[1] and "ERRNO(38) {\n    clone3" in t
    assert "arch_prctl" in t.split("POLICY")[1] and "getpid" in t.split("POLICY")[1]
    assert "cacheflush" not in t.split("POLICY")[1] and "ptrace" not in t.split("POLICY")[1]
    t = conv(prof, caps=["SYS_CHROOT", "cap_sys_admin"])
    body = t.split("POLICY")[1]
    assert "chroot" in body and "clone3" not in body


def test_unknown_names_skipped_and_listed():
    t = conv(base({"names": ["getpid", "chown32", "socketcall"], "action": "SCMP_ACT_ALLOW"}))
    assert "skipped (2): chown32 socketcall" in t
    assert "ALLOW {\n    getpid\n  }" in t


def test_arch_must_cover_x86_64():
    conv(base(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]))
    with pytest.raises(PolicyError, match="not SCMP_ARCH_X86_64"):
        conv(base(architectures=["SCMP_ARCH_AARCH64"]))


def test_old_single_name_and_whole_oci_config():
    t = conv({"linux": {"seccomp": base({"name": "getpid", "action": "SCMP_ACT_ALLOW"})}})
    assert "getpid" in t


@pytest.mark.parametrize("prof,msg", [
    ([], "JSON object"),
    ({}, "missing defaultAction"),
    (base(default="SCMP_ACT_NOPE"), "unknown action"),
    (base({"names": ["getpid"], "action": "ALLOW"}), "unknown action"),
    (base({"names": [], "action": "SCMP_ACT_ALLOW"}), "non-empty names"),
    (base({"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99999}), "out of range"),
    (base({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}),
     "index"),
    (base({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}),
     "unknown op"),
    (base({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}),
     "value"),
    (base({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2**64, "op": "SCMP_CMP_EQ"}]}),
     "value"),
    (base({"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "new"}}), "minKernel"),
    (base({"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "includes": {"colour": 1}}), "unknown includes"),
    (base("getpid"), "object"),
])
def test_bad_profiles_fail_closed(prof, msg):
    with pytest.raises(PolicyError, match=msg):
        conv(prof)


def test_bad_files(tmp_path):
    p = tmp_path / "p.json"
    p.write_text('{"defaultAction": "SCMP_ACT_ALLOW",\n "syscalls": [}')
    with pytest.raises(PolicyError, match=r"p.json:2:\d+: invalid JSON"):
        import_text(str(p))
    p.write_bytes(b'{"defaultAction": "\xff"}')
    with pytest.raises(PolicyError, match="not UTF-8"):
        import_text(str(p))
    with pytest.raises(PolicyError, match="cannot read"):
        import_text(str(tmp_path / "missing.json"))


def test_docker_default_shape():
    t = import_text(str(DATA / "docker-default.json"))
    assert t.rstrip().endswith("DEFAULT ERRNO(1)")
    assert "personality(a0) { a0 == 0 || a0 == 8 || a0 == 0x20000 || a0 == 0x20008 || a0 == 0xffffffff }" in t
    assert "socket(a0) { a0 != 40 }" in t
    assert "clone(a0) { (a0 & 0x7e020000) == 0x0 }" in t
    assert "ERRNO(38) {\n    clone3\n  }" in t
    body = t.split("POLICY")[1]
    for dropped in ("mount", "unshare", "setns", "bpf", "chroot", "reboot", "open_by_handle_at", "kcmp"):
        assert f" {dropped}," not in body and f" {dropped}\n" not in body, dropped
    assert json.loads((DATA / "docker-default.json").read_text())["defaultErrnoRet"] == 1


def test_profile_text_cannot_inject_policy_lines():
    """Names and comments only reach comment lines: a newline in them stays escaped."""
    from tracejail.policy import load_policy_text
    from tracejail.policy.interpreter import IntCall
    evil = "x\nPOLICY evil { ALLOW { mount } } USE evil DEFAULT ALLOW\n//"
    prof = base({"names": ["getpid", evil], "action": "SCMP_ACT_ALLOW", "comment": evil},
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "comment": "*/ " + evil,
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": [evil]}},
                default="SCMP_ACT_KILL")
    t = conv(prof)
    assert all(not l.startswith("POLICY evil") for l in t.splitlines())
    cp = __import__("tracejail.policy", fromlist=["compile_policy"]).compile_policy(load_policy_text(t))
    assert cp.decide(IntCall(165, "x86_64", (0,) * 6)).kills          # mount still killed
    assert conv(base(), ).count("POLICY") == 1


def test_policy_name_from_file_is_an_identifier():
    from tracejail.policy import load_policy_text
    for src in ("ALLOW.json", "9lives.json", "my-profile.v2.json", "KILL.json"):
        load_policy_text(to_policy_text(base(), source=src))
