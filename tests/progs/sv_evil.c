/* A jailed program trying to get around the supervisor.  Actions as arguments;
 * each prints "<action> <result>".  The test asserts it gained nothing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int traps;
static void on_trap(int s) { (void)s; traps++; }

static void report(const char *what, const char *arg, long r) {
    printf("%s %s %s\n", what, arg, r >= 0 ? "ok" : strerrorname_np(errno));
    fflush(stdout);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        long r;
        if (!strncmp(a, "open:", 5)) {
            r = open(a + 5, O_RDONLY);
            report("open", a + 5, r);
        } else if (!strncmp(a, "creat:", 6)) {
            r = open(a + 6, O_CREAT | O_WRONLY, 0644);
            report("creat", a + 6, r);
        } else if (!strcmp(a, "int80")) {          /* i386 ABI getpid from a 64-bit program */
            long ret;
            __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
            errno = ret < 0 ? -ret : 0;
            report("int80", "-", ret);
        } else if (!strcmp(a, "traceme")) {
            r = ptrace(PTRACE_TRACEME, 0, 0, 0);
            report("traceme", "-", r);
        } else if (!strncmp(a, "attachchild:", 12)) {
            /* fork a child (auto-traced by the supervisor), try to become its tracer */
            pid_t c = fork();
            if (c == 0) {
                sleep(1);
                r = open(a + 12, O_CREAT | O_WRONLY, 0644);
                report("child-creat", a + 12, r);
                _exit(0);
            }
            r = ptrace(PTRACE_SEIZE, c, 0, 0);
            report("seize", "child", r);
            waitpid(c, NULL, 0);
        } else if (!strncmp(a, "untraced:", 9)) {
            r = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
            if (r == 0) {
                r = open(a + 9, O_CREAT | O_WRONLY, 0644);
                report("untraced-child-creat", a + 9, r);
                _exit(0);
            }
            report("untraced", "-", r);
            if (r > 0) waitpid(r, NULL, 0);
        } else if (!strcmp(a, "filter")) {
            /* own filter: openat -> TRACE with data "getpid", getppid -> TRACE with
             * data "openat": a supervisor trusting the event message is fooled */
            struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | SYS_getpid),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | SYS_openat),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            };
            struct sock_fprog prog = {sizeof f / sizeof f[0], f};
            r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
            report("filter", "-", r);
            r = syscall(SYS_getppid);
            report("getppid", "-", r);
        } else if (!strcmp(a, "sigtrap")) {
            signal(SIGTRAP, on_trap);
            kill(getpid(), SIGTRAP);
            siginfo_t si;
            memset(&si, 0, sizeof si);
            si.si_signo = SIGTRAP;
            si.si_code = SIGTRAP | (7 << 8);     /* looks like PTRACE_EVENT_SECCOMP */
            syscall(SYS_rt_sigqueueinfo, getpid(), SIGTRAP, &si);
            raise(SIGTRAP | 0x80 ? SIGTRAP : 0);
            printf("sigtrap handled %d\n", traps);
            fflush(stdout);
        } else {
            fprintf(stderr, "bad action %s\n", a);
            return 2;
        }
    }
    return 0;
}
