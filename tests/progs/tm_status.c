/* Threat model D25/D26/E30: what the jailed process itself is (seccomp mode,
 * no_new_privs, tracer, caps, session), then sleep ARG seconds so the host
 * side can look at it from outside.  Usage: tm_status [SECONDS] */
#include "tm_common.h"

int main(int argc, char **argv)
{
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (n > 0) {
        buf[n] = 0;
        for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
            if (!strncmp(l, "Seccomp:", 8) || !strncmp(l, "NoNewPrivs:", 11) || !strncmp(l, "TracerPid:", 10)
                || !strncmp(l, "CapEff:", 7) || !strncmp(l, "CapBnd:", 7) || !strncmp(l, "Uid:", 4))
                say("STATUS %s\n", l);
    }
    say("IDS pid=%d sid=%d pgid=%d euid=%d\n", getpid(), getsid(0), getpgid(0), geteuid());
    int tty = open("/dev/tty", O_RDWR);
    report("open /dev/tty", tty);
    if (argc > 1) sleep(atoi(argv[1]));
    say("DONE\n");
    return 0;
}
