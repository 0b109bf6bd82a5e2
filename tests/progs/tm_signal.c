/* Threat model E31, E32, R2: signals aimed outside the jail, processes that try
 * to outlive it, tracees that never exit.  Usage: tm_signal MODE [ARG] */
#include "tm_common.h"
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

static void heartbeat(const char *path, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) { if (write(fd, "x", 1) < 0) {} close(fd); }
        usleep(50000);
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const char *arg = argc > 2 ? argv[2] : "/tmp/hb";

    if (0) {}
    MODE("outside") {          /* ARG = host pid of a sentinel process */
        pid_t host = atoi(arg);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        say("SELF pid=%d ppid=%d sid=%d\n", getpid(), getppid(), getsid(0));
        report("kill host pid SIGKILL", kill(host, SIGKILL));
        report("kill(-1, SIGTERM)", kill(-1, SIGTERM));
        report("kill(0, SIGTERM)", kill(0, SIGTERM));
        report("kill(-1, SIGHUP)", kill(-1, SIGHUP));
        report("kill(getppid(), SIGINT)", getppid() > 0 ? kill(getppid(), SIGINT) : (errno = ESRCH, -1));
        long pfd = report("pidfd_open host pid", syscall(SYS_pidfd_open, host, 0));
        if (pfd >= 0) report("pidfd_send_signal host", syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0));
        report("setpriority PRIO_USER 19", setpriority(PRIO_USER, 0, 19));
        report("setpriority PRIO_PROCESS host", setpriority(PRIO_PROCESS, host, 19));
        int visible = 0;
        for (pid_t p = 2; p < 70000; p++)
            if (p != getpid() && kill(p, SIGTERM) == 0) visible++;
        say("SWEEP visible=%d\n", visible);
    }
    MODE("daemon") {           /* double fork + setsid, grandchild writes ARG */
        pid_t c = fork();
        if (c == 0) {
            setsid();
            if (fork() == 0) heartbeat(arg, 20);
            _exit(0);
        }
        waitpid(c, NULL, 0);
        usleep(200000);
    }
    MODE("subreaper") {
        report("PR_SET_CHILD_SUBREAPER", prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
        pid_t c = fork();
        if (c == 0) {
            if (fork() == 0) { setsid(); heartbeat(arg, 20); }
            _exit(0);
        }
        waitpid(c, NULL, 0);
        usleep(200000);
    }
    MODE("ignore_term") {      /* pid 1 and a child both ignore TERM, never exit */
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        if (fork() == 0) heartbeat(arg, 60);
        for (;;) pause();
    }
    MODE("busy") { volatile unsigned long n = 0; for (;;) n++; }
    MODE("pause") { for (;;) pause(); }
    MODE("sigstop") { if (fork() == 0) heartbeat(arg, 60); raise(SIGSTOP); for (;;) pause(); }
    else { say("usage: unknown mode %s\n", mode); return 2; }
    say("DONE\n");
    return 0;
}
