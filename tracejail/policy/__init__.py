"""Policy language, compiler, BPF emulator (issue 3).

STUB CONTRACT (the policy owner replaces the body, keeps the API):

    pol = load_policy_file(path)        # .policy (kafel + predicates); raises PolicyError "file:line:col: msg"
    pol = load_policy_text(text, name="<string>")
    pol = load_for_config(config)       # -P / --seccomp_policy / --seccomp_string / shipped default
    cp = compile_policy(pol, trace_all=False, trace_denials=False, trace_extra=())
        cp.bpf: bytes              # struct sock_filter[] to load with seccomp(2) (arch check included)
        cp.needs_supervisor: bool  # any path to SECCOMP_RET_TRACE
        cp.digest: str             # sha256 of the policy source(s)
        cp.decide(call: SyscallCall) -> Verdict   # exact decision (reference interpreter +
                                                  # memory predicates); the supervisor calls it on
                                                  # every TRACE stop
        cp.kernel_verdict(nr, arch, args) -> Verdict   # what the BPF says (emulator)
"""
from tracejail.verdict import Verdict


class _AllowAll:
    bpf = None
    needs_supervisor = False
    digest = "none"

    def decide(self, call):
        return Verdict("ALLOW", rule="stub")


def load_for_config(config):
    return None


def compile_policy(pol, trace_all=False, trace_denials=False, trace_extra=()):
    return _AllowAll()
