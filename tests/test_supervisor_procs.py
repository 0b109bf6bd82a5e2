"""Process trees, signals, adversarial tracees and teardown under the real supervisor."""
from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from test_supervisor_core import ListAudit, PrefixPolicy, lines, supervise, tree  # noqa: F401
from tracejail.config import JailConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_fork_thread_exec_chain_all_supervised(cc, tree, tmp_path):
    prog = str(cc("sv_paths.c", "-lpthread"))
    A, S = f"{tree}/allowed/f", f"{tree}/secret"
    audit = ListAudit()
    pol = PrefixPolicy(allow=[f"{tree}/allowed"])
    out, text, sup = supervise(
        [prog, f"fork:{S}", f"fork:{A}", f"thread:{S}", f"thread:{A}", f"vfork:{prog}",
         f"exec:{prog}", f"open:{S}", f"threadexec:{prog}", f"open:{S}", f"thread:{S}"],
        pol, tmp_path, audit=audit)
    assert out.reason == "exited" and out.exit_code == 0, text
    assert lines(text) == [f"fork {S} EACCES", f"fork {A} ok", f"thread {S} EACCES",
                           f"thread {A} ok", f"vfork {prog} 0", f"open {S} EACCES",
                           f"open {S} EACCES", f"thread {S} EACCES"]
    execs = [p for n, p in pol.seen if n == "execve"]
    assert execs.count(prog) == 4          # initial, vfork child, exec chain, thread exec
    assert not sup.tracees
    assert not sup._fd_tables              # threads' fd-table marks go with them (bounded state)
    kinds = [c[1][0] for c in audit.of("process")]
    assert kinds.count("spawn") >= 5 and kinds.count("exec") == 4


def test_execve_decided_by_program_path(cc, tree, tmp_path):
    prog = str(cc("sv_paths.c", "-lpthread"))
    os.symlink("/bin/true", tree / "allowed" / "true_link")
    pol = PrefixPolicy(allow=["/"], exec_ok=[prog])
    out, text, _ = supervise([prog, "exec:/bin/true"], pol, tmp_path)
    assert lines(text) == ["exec /bin/true EACCES"]
    assert out.exit_code == 1
    out, text, _ = supervise([prog, f"exec:{tree}/allowed/true_link"], pol, tmp_path)
    assert lines(text) == [f"exec {tree}/allowed/true_link EACCES"]   # the link is followed


def test_many_short_lived_children_bounded_state(cc, tmp_path):
    prog = str(cc("sv_paths.c", "-lpthread"))
    audit = ListAudit()
    out, text, sup = supervise([prog, "forkmany:2000"], PrefixPolicy(allow=["/"]), tmp_path,
                               audit=audit)
    assert lines(text) == ["forkmany 2000"]
    assert out.exit_code == 0 and not sup.tracees
    assert sum(1 for c in audit.of("process") if c[1][0] == "exit") == 2001


def test_adversarial_tracee_gains_nothing(cc, tree, tmp_path):
    prog = str(cc("sv_evil.c"))
    C = f"{tree}/canary"
    pol = PrefixPolicy(allow=[f"{tree}/allowed"])
    trace = ("openat", "execve", "clone", "getppid")
    out, text, _ = supervise([prog, "traceme", f"attachchild:{C}", f"untraced:{C}", "filter",
                              f"creat:{C}", "sigtrap", f"creat:{C}", f"open:{tree}/allowed/f"],
                             pol, tmp_path, trace=trace)
    assert out.reason == "exited" and out.exit_code == 0, text
    assert lines(text) == ["traceme - EPERM", "seize child EPERM", "child-creat " + C + " EACCES",
                           "untraced - EPERM", "filter - ok", "getppid - ok",
                           f"creat {C} EACCES", "sigtrap handled 3", f"creat {C} EACCES",
                           f"open {tree}/allowed/f ok"]
    assert not os.path.exists(C)


def test_signals_and_exit_status(cc, tmp_path):
    out, _, _ = supervise(["/bin/sh", "-c", "kill -TERM $$"], PrefixPolicy(allow=["/"]), tmp_path)
    assert (out.exit_code, out.reason) == (128 + signal.SIGTERM, "signaled")
    out, _, _ = supervise(["/bin/sh", "-c", "kill -STOP $$; exit 3"], PrefixPolicy(allow=["/"]),
                          tmp_path, deadline=time.monotonic() + 1.5)
    assert (out.exit_code, out.reason) == (137, "timeout")
    # group stop, then SIGCONT from outside: the tracee stays stopped until then, then goes on
    import threading

    def cont_later(pid):
        threading.Timer(0.6, os.kill, (pid, signal.SIGCONT)).start()
    t0 = time.monotonic()
    out, _, _ = supervise(["/bin/sh", "-c", "kill -STOP $$; exit 4"], PrefixPolicy(allow=["/"]),
                          tmp_path, deadline=time.monotonic() + 5, on_start=cont_later)
    assert (out.exit_code, out.reason) == (4, "exited")
    assert 0.5 < time.monotonic() - t0 < 4


def test_timeout_kills_whole_tree(cc, tmp_path):
    prog = str(cc("sv_paths.c", "-lpthread"))
    t0 = time.monotonic()
    out, _, sup = supervise(["/bin/sh", "-c", f"{prog} sleep & {prog} sleep & sleep 100"],
                            PrefixPolicy(allow=["/"]), tmp_path, deadline=time.monotonic() + 1)
    assert (out.exit_code, out.reason) == (137, "timeout")
    assert time.monotonic() - t0 < 10
    assert not sup.tracees
    assert subprocess.run(["pgrep", "-f", f"{prog} sleep"], capture_output=True).returncode == 1


def test_permissive_inject_max_violations_results(cc, tree, tmp_path):
    prog = str(cc("sv_paths.c", "-lpthread"))
    S, A = f"{tree}/secret", f"{tree}/allowed/f"
    audit = ListAudit()
    cfg = JailConfig(permissive=True)
    out, text, _ = supervise([prog, f"open:{S}"], PrefixPolicy(allow=[f"{tree}/allowed"], kill=True),
                             tmp_path, config=cfg, audit=audit)
    assert lines(text) == [f"open {S} ok"] and out.exit_code == 0
    modes = [c[2]["mode"] for c in audit.of("syscall") if c[2]["resolved"] == {1: S}]
    assert modes == ["would-kill"]

    audit = ListAudit()
    cfg = JailConfig(inject=[f"openat:errno=EIO:when=2:path={tree}/allowed/**"], audit_results=True)
    out, text, _ = supervise([prog, f"open:{A}", f"open:{A}", f"open:{A}"],
                             PrefixPolicy(allow=["/"]), tmp_path, config=cfg, audit=audit)
    assert lines(text) == [f"open {A} ok", f"open {A} EIO", f"open {A} ok"]
    recs = [c[2] for c in audit.of("syscall") if c[2]["resolved"] == {1: A}]
    assert [r["mode"] for r in recs] == [None, "injected", None]
    assert recs[0]["retval"] >= 3 and recs[1]["retval"] == -errno.EIO

    cfg = JailConfig(max_violations=2)
    out, text, _ = supervise([prog, f"open:{S}", f"open:{S}", f"open:{A}"],
                             PrefixPolicy(allow=[f"{tree}/allowed"]), tmp_path, config=cfg,
                             trace=("openat", "execve"))
    assert lines(text) == [f"open {S} EACCES"]
    assert (out.exit_code, out.reason) == (159, "violation")


def test_supervisor_exception_fails_closed(cc, tree, tmp_path):
    prog = str(cc("sv_paths.c", "-lpthread"))

    class Broken(PrefixPolicy):
        def decide(self, call):
            if call.name == "openat" and "canary" in call.path(1):
                raise RuntimeError("policy bug")
            return super().decide(call)

    import pytest
    from tracejail.supervisor.loop import SupervisorError
    with pytest.raises(SupervisorError, match="policy bug"):
        supervise([prog, f"creat:{tree}/canary"], Broken(allow=["/"]), tmp_path)
    assert not (tree / "canary").exists()


SCRIPT = textwrap.dedent("""
    import sys, time, errno
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from test_supervisor_core import PrefixPolicy, supervise
    class Slow(PrefixPolicy):
        def decide(self, call):
            if call.name == "openat" and "canary" in call.path(1):
                print("HELD", flush=True)
                time.sleep(60)
            return super().decide(call)
    supervise([{prog!r}, "creat:" + {canary!r}], Slow(allow=["/"]), Path({tmp!r}))
""")


def test_sigkill_of_supervisor_mid_decision(cc, tree, tmp_path):
    prog = str(cc("sv_paths.c", "-lpthread"))
    canary = str(tree / "canary")
    code = SCRIPT.format(tests=os.path.join(ROOT, "tests"), prog=prog, canary=canary, tmp=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert p.stdout.readline().strip() == "HELD"
    kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
    assert kids
    p.kill()
    p.wait()
    time.sleep(0.3)
    for k in kids:
        assert not os.path.exists(f"/proc/{k}") or open(f"/proc/{k}/stat").read().split()[2] == "Z"
    assert not os.path.exists(canary)


def test_path_flipping_thread_never_creates_canary(cc, tree, tmp_path):
    """10^5 flips of the path buffer by a second thread during supervised
    open(O_CREAT) calls: the checked bytes are the used bytes (siblings are
    frozen), so the canary is never created."""
    prog = str(cc("sv_race.c", "-lpthread"))
    ok, canary = f"{tree}/allowed/ok", f"{tree}/canary"
    out, text, _ = supervise([prog, ok, canary, "3000"], PrefixPolicy(allow=[f"{tree}/allowed"]),
                             tmp_path, trace=("openat", "execve"), deadline=time.monotonic() + 60)
    assert not os.path.exists(canary), text
    assert out.reason == "exited", (out, text)
    n = dict(zip(*[iter(text.split())] * 2))
    assert int(n["opens"]) == 3000 and int(n["ok"]) > 0 and int(n["denied"]) > 0, text
    assert int(n["flips"]) >= 100000, text


def test_exec_rechecked_on_the_program_that_really_runs(cc, tree, tmp_path):
    """An allowed script whose interpreter is not allowed: the exec event shows
    /proc/PID/exe = the interpreter, the re-decision fails, the jail dies."""
    prog = str(cc("sv_paths.c", "-lpthread"))
    script = tree / "allowed" / "s.sh"
    script.write_text("#!/bin/sh\necho RAN\n")
    script.chmod(0o755)
    pol = PrefixPolicy(allow=["/"], exec_ok=[prog, str(script)])
    out, text, _ = supervise([prog, f"exec:{script}"], pol, tmp_path)
    assert (out.exit_code, out.reason) == (159, "violation"), text
    assert "RAN" not in text
    assert out.violation["syscall"] == "execve" and "exec of /" in out.violation["note"]
    pol = PrefixPolicy(allow=["/"], exec_ok=[prog, str(script), "/bin", "/usr/bin"])
    out, text, _ = supervise([prog, f"exec:{script}"], pol, tmp_path)
    assert out.exit_code == 0 and lines(text) == ["RAN"]


def test_foreign_arch_syscall_kills_the_jail(cc, tmp_path):
    prog = str(cc("sv_evil.c"))

    def add_i386(f, pyseccomp):
        f.add_arch(pyseccomp.Arch.X86)
        f.add_rule(pyseccomp.TRACE(0), "getpid")
    out, text, _ = supervise([prog, "int80"], PrefixPolicy(allow=["/"]), tmp_path,
                             trace=("execve",), extra_filter=add_i386)
    assert (out.exit_code, out.reason) == (159, "violation"), text
    assert out.violation["arch"] == "i386" and out.violation["rule"] == "foreign-arch"
    assert "int80" not in text


PARALLEL_SHELL = """
: > /tmp/empty
for j in 1 2 3 4 5; do
  ( for i in $(seq 15); do mkdir /tmp/d$j.$i && : > /tmp/d$j.$i/f && mv /tmp/d$j.$i/f /tmp/d$j.$i/g \\
      && rm -r /tmp/d$j.$i; done ) < /tmp/empty &
done
wait
ls /tmp
"""


def test_parallel_shells_changing_the_tree_finish(tj):
    """Path calls of a task that is not alone stop the whole jail while they run;
    shells vfork, and a vfork parent cannot stop until its child execs: the
    supervisor must not wait for it (this deadlocked once).  Every mkdir, mv and
    rm of five concurrent loops must succeed, and the run must end on its own."""
    r = tj("run", "-q", "--no-report", "-R", "/bin", "-R", "/lib", "-R", "/lib64", "-R", "/usr",
           "-R", "/dev/null", "-T", "/tmp", "-t", "60", "--", "/bin/sh", "-c", PARALLEL_SHELL,
           timeout=90)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["empty"], r.stdout + r.stderr


SELF_SERVER = r"""
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
static int srv;
static void *acceptor(void *a)
{
    (void)a;
    usleep(300000);
    for (int i = 0; i < 6; i++) {
        int c = accept(srv, 0, 0);
        if (c >= 0) close(c);
    }
    return 0;
}
int main(int argc, char **argv)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, "/tmp/self.sock");
    if (argc > 1)                      /* an abstract name: "\0tmp/self.sock" */
        a.sun_path[0] = 0;
    srv = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(srv, (struct sockaddr *)&a, sizeof a) || listen(srv, 0)) { perror("listen"); return 1; }
    pthread_t t;
    pthread_create(&t, 0, acceptor, 0);
    for (int i = 0; i < 6; i++) {      /* a backlog of one: the next connect waits for an accept */
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
        close(c);
    }
    pthread_join(t, 0);
    puts("DONE");
    return 0;
}
"""


@pytest.mark.parametrize("abstract", [False, True], ids=["pathname", "abstract"])
def test_unix_connect_waiting_for_a_sibling_thread_finishes(tj, cc, abstract):
    """An AF_UNIX connect is checked at its exit (on the peer's socket file, or
    its name), so the caller's sibling threads are not held stopped while it
    runs: here the connect waits for the sibling that accepts (a full backlog),
    and holding that sibling would hang the jail until its time limit."""
    prog = cc(SELF_SERVER, "-lpthread")
    r = tj("run", "-q", "--no-report", "-R", "/lib", "-R", "/lib64", "-R", "/usr",
           "-R", f"{prog.parent}:/prog", "-T", "/tmp", "-t", "20", "--", f"/prog/{prog.name}",
           *(["abstract"] if abstract else []), timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["DONE"], r.stdout + r.stderr


SELF_DGRAM = r"""
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
/* sendto through a raw syscall whose asm says r10 (flags) is kept: the
   supervisor may change the register while the call runs, never after */
static long raw_sendto(int fd, const void *m, size_t n, long flags, const void *a, long l, long *r10_after)
{
    register long r10 __asm__("r10") = flags;
    register long r8 __asm__("r8") = (long)a;
    register long r9 __asm__("r9") = l;
    long ret;
    __asm__ volatile("syscall" : "=a"(ret), "+r"(r10)
                     : "0"((long)SYS_sendto), "D"(fd), "S"(m), "d"(n), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    *r10_after = r10;
    return ret;
}
int main(void)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, "/tmp/dg.sock");
    int r = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (bind(r, (struct sockaddr *)&a, sizeof a)) { perror("bind"); return 1; }
    pid_t c = fork();
    if (c == 0) {                      /* the receiver: drains the queue only later */
        usleep(300000);
        int got = 0;
        char b[8];
        while (got < 60 && recv(r, b, sizeof b, 0) == 4)
            got++;
        printf("GOT %d\n", got);
        return 0;
    }
    int s = socket(AF_UNIX, SOCK_DGRAM, 0), sent = 0, clobbered = 0;
    char m[] = "PING";
    struct iovec v = {m, 4};
    struct msghdr h = {.msg_name = &a, .msg_namelen = sizeof a, .msg_iov = &v, .msg_iovlen = 1};
    for (int i = 0; i < 30; i++) {     /* far more than the queue holds (10): the sends block */
        long after;
        if (raw_sendto(s, m, 4, 0, &a, sizeof a, &after) == 4) sent++;
        else perror("sendto");
        clobbered += after != 0;
        if (sendmsg(s, &h, 0) == 4) sent++;
        else perror("sendmsg");
    }
    waitpid(c, 0, 0);
    printf("SENT %d CLOBBERED %d\n", sent, clobbered);
    return 0;
}
"""


def test_blocking_datagram_send_to_a_stopped_receiver_finishes(tj, cc, tmp_path):
    """A datagram send to a socket file runs with the jail stopped, so it must
    not wait for the stopped receiver: the supervisor forces MSG_DONTWAIT and
    makes a send that would have blocked again once the jail has run.  The
    program sees blocking sends that all succeed, and its flags register as it
    left it; a send held stopped and blocking would hang until the time limit.
    The audit has one record per send, not one per attempt, naming the file."""
    prog = cc(SELF_DGRAM)
    log = tmp_path / "audit.jsonl"
    r = tj("run", "-q", "--no-report", "-R", "/lib", "-R", "/lib64", "-R", "/usr",
           "-R", f"{prog.parent}:/prog", "-T", "/tmp", "-t", "20", "--audit", str(log),
           "--", f"/prog/{prog.name}", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(r.stdout.splitlines()) == ["GOT 60", "SENT 60 CLOBBERED 0"], r.stdout + r.stderr
    sends = [rec for rec in map(json.loads, log.read_text().splitlines())
             if rec["type"] == "syscall" and rec["name"] in ("sendto", "sendmsg")]
    assert all(rec["decoded"]["msg"]["name"] == {"family": "AF_UNIX", "address": "/tmp/dg.sock"}
               for rec in sends if rec["name"] == "sendmsg"), sends
    assert sorted((rec["name"], json.dumps(rec["resolved"])) for rec in sends) == \
        [("sendmsg", '{"msg": "/tmp/dg.sock"}')] * 30 + [("sendto", '{"dest_addr": "/tmp/dg.sock"}')] * 30


STREAM_PAIR = r"""
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
static int sv[2];
static long short_sends;
static void *writer(void *a)
{
    (void)a;
    static char m[65536];
    struct iovec v = {m, sizeof m};
    struct msghdr h = {.msg_iov = &v, .msg_iovlen = 1};
    for (int i = 0; i < 64; i++)
        short_sends += sendmsg(sv[0], &h, 0) != (long)sizeof m;
    close(sv[0]);
    return 0;
}
static void *reader(void *a)
{
    (void)a;
    usleep(300000);                    /* the writer fills the socket buffer meanwhile */
    static char b[65536];
    long got = 0, n;
    while ((n = read(sv[1], b, sizeof b)) > 0)
        got += n;
    printf("GOT %ld\n", got);
    return 0;
}
int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) { perror("socketpair"); return 1; }
    pthread_t t;
    if (!strcmp(mode, "reader-thread")) {          /* the reader is a thread of the writer */
        pthread_create(&t, 0, reader, 0);
        writer(0);
        pthread_join(t, 0);
    } else {
        if (fork() == 0) {
            close(sv[0]);
            reader(0);
            return 0;
        }
        close(sv[1]);
        if (!strcmp(mode, "writer-thread")) {      /* from a second thread: the fd table is shared */
            pthread_create(&t, 0, writer, 0);
            pthread_join(t, 0);
        } else
            writer(0);
        wait(0);
    }
    fflush(stdout);
    printf("SHORT %ld\n", short_sends);
    return 0;
}
"""


@pytest.mark.parametrize("mode", ["process", "writer-thread", "reader-thread"])
def test_stream_sendmsg_waiting_for_a_reader_finishes(tj, cc, mode):
    """The default policy decides every sendmsg on its msghdr; a task that is
    not alone has such a send run with the whole jail stopped, unless the
    socket is a stream socket, whose address the kernel does not use: then
    only the tasks sharing its fd table stay stopped (from a thread: its
    process's other threads), and those too once the send sleeps inside the
    kernel (it has taken its fd by then).  Here the send waits for a reader
    (a full socket buffer): another process, or a thread of the writer.
    Holding the reader would hang the jail until its time limit.  Every send
    is whole (no MSG_DONTWAIT on a stream)."""
    prog = cc(STREAM_PAIR, "-lpthread")
    r = tj("run", "-q", "--no-report", "-R", "/lib", "-R", "/lib64", "-R", "/usr",
           "-R", f"{prog.parent}:/prog", "-t", "20", "--", f"/prog/{prog.name}", mode, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split() == ["GOT", str(64 * 65536), "SHORT", "0"], r.stdout + r.stderr


SLOW_CONNECT = r"""
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = 0x0100007f};
static socklen_t n = sizeof a;
static void *connector(void *arg)
{
    (void)arg;
    int c2 = socket(AF_INET, SOCK_STREAM, 0);
    double t0 = now();                 /* the accept queue is full: the SYN is dropped, retried at 1 s */
    int r = connect(c2, (void *)&a, n);
    printf("CONNECT %d %.1f\n", r, now() - t0);
    return 0;
}
int main(int argc, char **argv)
{
    int lis = socket(AF_INET, SOCK_STREAM, 0), c1 = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(lis, (void *)&a, n) || listen(lis, 0) || getsockname(lis, (void *)&a, &n)
        || connect(c1, (void *)&a, n)) { perror("setup"); return 1; }
    if (fork() == 0) {                 /* the listener's owner accepts only later */
        usleep(300000);
        for (int i = 0; i < 2; i++) close(accept(lis, 0, 0));
        return 0;
    }
    pthread_t t;
    if (argc > 1) {                    /* from a second thread: the fd table is shared */
        pthread_create(&t, 0, connector, 0);
        pthread_join(t, 0);
    } else
        connector(0);
    wait(0);
    return 0;
}
"""


@pytest.mark.parametrize("thread", [False, True], ids=["process", "thread"])
def test_blocking_connect_does_not_keep_the_jail_stopped(tj, cc, thread):
    """An inet connect of a task that is not alone is decided with the whole
    jail stopped, but a blocking TCP connect waits for a handshake.  Here the
    handshake waits for the other process to accept (the listener's queue is
    full): the connect runs with O_NONBLOCK forced and is made again, blocking,
    once under way, so the jail runs meanwhile (from a thread: but for its
    process's other threads).  Kept stopped, it would hang until the time limit."""
    prog = cc(SLOW_CONNECT, "-lpthread")
    r = tj("run", "-q", "--no-report", "-R", "/lib", "-R", "/lib64", "-R", "/usr", "--iface_lo",
           "-R", f"{prog.parent}:/prog", "-t", "8", "--", f"/prog/{prog.name}",
           *(["thread"] if thread else []), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.match(r"CONNECT 0 (\d+\.\d)$", r.stdout.strip())
    assert m and float(m.group(1)) < 5, r.stdout + r.stderr
