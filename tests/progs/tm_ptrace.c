/* Threat model B7-B10, B14, B15: seccomp filters stacked by the jail, spoofed
 * RET_DATA, the jail as tracer, CLONE_UNTRACED, fake ptrace stops, exec from
 * a non-leader thread.  Usage: tm_ptrace MODE [PATH]
 * PATH is a file the policy forbids; printing its content is an escape. */
#include "tm_common.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

static const char *path = "/data/canary";

static void try_open(const char *who)
{
    int fd = open(path, O_RDONLY);
    char what[300];
    snprintf(what, sizeof what, "%s open %s", who, path);
    if (report(what, fd) >= 0)
        dump_fd(path, fd);
}

/* B7: filter that USER_NOTIFs openat, a child opens, we answer CONTINUE. */
static void user_notif(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    long fd = report("seccomp NEW_LISTENER", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                                      SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog));
    if (fd < 0)
        return;
    pid_t child = fork();
    if (child == 0) {
        try_open("notif-child");
        _exit(0);
    }
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    memset(&req, 0, sizeof req);
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) == 0) {
        memset(&resp, 0, sizeof resp);
        resp.id = req.id;
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        report("notif CONTINUE", ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp));
    }
    waitpid(child, NULL, 0);
}

/* B8: our own filter returns TRACE with benign data for openat. */
static void spoof(int use_prctl, unsigned data)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | data),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    long r = use_prctl ? prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0)
                       : syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
    report(use_prctl ? "prctl PR_SET_SECCOMP" : "seccomp SET_MODE_FILTER", r);
    try_open("after-spoof");
}

static void *exec_thread(void *arg)
{
    char *self = arg;
    char *av[] = {self, "after_exec", (char *)path, NULL};
    execv("/proc/self/exe", av);
    say("SETUP thread execv failed errno=%d\n", errno);
    _exit(4);
}

static void *open_loop(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) { if (write(fd, "PWNED\n", 6) < 0) {} close(fd); }
    }
    return NULL;
}

static volatile int trapped;
static void on_trap(int s) { (void)s; trapped++; }

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (argc > 2)
        path = argv[2];

    if (0) {}
    MODE("user_notif") user_notif();
    MODE("spoof_prctl") spoof(1, 0);
    MODE("spoof_seccomp") spoof(0, 0);
    MODE("spoof_data") spoof(1, 0xffff);
    /* B9: the jail as a tracer */
    MODE("ptrace_traceme") report("ptrace TRACEME", ptrace(PTRACE_TRACEME, 0, 0, 0));
    MODE("ptrace_attach") {
        pid_t c = fork();
        if (c == 0) { pause(); _exit(0); }
        report("ptrace SEIZE child", ptrace(PTRACE_SEIZE, c, 0, 0));
        report("ptrace ATTACH child", ptrace(PTRACE_ATTACH, c, 0, 0));
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
    }
    MODE("process_vm_readv") {
        char src[16] = "secret", dst[16] = {0};
        struct iovec l = {dst, 16}, r = {src, 16};
        report("process_vm_readv self", syscall(SYS_process_vm_readv, getpid(), &l, 1, &r, 1, 0));
    }
    MODE("process_vm_writev") {
        char src[16] = "secret", dst[16] = {0};
        struct iovec l = {src, 16}, r = {dst, 16};
        report("process_vm_writev self", syscall(SYS_process_vm_writev, getpid(), &l, 1, &r, 1, 0));
    }
    /* B10: a child the tracer cannot auto-attach */
    MODE("clone_untraced") {
        long r = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
        if (r == 0) { say("ESCAPED untraced child running\n"); sleep(1); _exit(0); }
        report("clone CLONE_UNTRACED", r);
        if (r > 0) waitpid(r, NULL, 0);
    }
    /* B14: fake ptrace stops must be re-injected and change nothing */
    MODE("fake_sigtrap") {
        signal(SIGTRAP, on_trap);
        raise(SIGTRAP);
        kill(getpid(), SIGTRAP);
        syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGTRAP);
        siginfo_t si;
        memset(&si, 0, sizeof si);
        si.si_signo = SIGTRAP;
        si.si_code = SIGTRAP | (7 << 8);   /* looks like PTRACE_EVENT_SECCOMP */
        si.si_pid = getpid();
        syscall(SYS_rt_sigqueueinfo, getpid(), SIGTRAP, &si);
        si.si_code = SIGTRAP | 0x80;
        syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), SIGTRAP, &si);
        say("TRAPS %d\n", trapped);
        try_open("after-traps");
    }
    MODE("sigstop_self") {
        pid_t parent = getpid();
        pid_t c = fork();
        if (c == 0) { usleep(300000); kill(parent, SIGCONT); _exit(0); }
        raise(SIGSTOP);
        say("RESUMED\n");
        waitpid(c, NULL, 0);
        try_open("after-stop");
    }
    /* B15: execve from a non-leader thread */
    MODE("thread_exec") {
        pthread_t t;
        pthread_create(&t, NULL, exec_thread, argv[0]);
        pause();
    }
    MODE("after_exec") {
        say("EXECED pid=%d tid=%ld\n", getpid(), (long)syscall(SYS_gettid));
        try_open("after-exec");
        report("ptrace TRACEME after exec", ptrace(PTRACE_TRACEME, 0, 0, 0));
    }
    /* B16/R5: supervised syscalls in flight when something dies */
    MODE("loop_creat") {
        say("LOOPING\n");
        open_loop(NULL);
    }
    MODE("kill_mid") {        /* not pid 1: the namespace's init ignores its own SIGKILL */
        pid_t c = fork();
        if (c == 0) {
            pthread_t t;
            pthread_create(&t, NULL, open_loop, NULL);
            usleep(150000);
            say("KILLING\n");
            kill(getpid(), SIGKILL);
            pause();
        }
        int st = 0;
        waitpid(c, &st, 0);
        say("CHILD signal=%d\n", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    }
    else { say("usage: unknown mode %s\n", mode); return 2; }
    say("DONE\n");
    return 0;
}
