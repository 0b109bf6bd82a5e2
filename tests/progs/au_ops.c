/* Audit round-trip helper: performs the actions named in argv, one line of
 * output per action ("<action> <arg> ok|<ERRNO>").
 *   open:PATH          openat(AT_FDCWD, PATH, O_RDONLY|O_CLOEXEC)
 *   creat:PATH         openat(AT_FDCWD, PATH, O_WRONLY|O_CREAT|O_TRUNC, 0640)
 *   hostile:DIR        openat of DIR/"a\nb", DIR/"\x1b[31mred", DIR/"\xff\xfe" and a
 *                      path with a '"' and a backslash (all ENOENT or so)
 *   connect:IP:PORT    TCP connect to an IPv4 address
 *   exec:PATH          execve(PATH, {PATH, "arg\n1", NULL}) (only returns on error)
 *   fault              openat with a NULL and an unmapped pathname
 *   copyexec:DIR       copy /proc/self/exe to DIR/"x\n\x1b[2J\xff" and execve it with
 *                      the remaining actions (a program name made to break logs)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *what, const char *arg, long rc) {
    if (rc >= 0)
        printf("%s %s ok\n", what, arg);
    else
        printf("%s %s %s\n", what, arg, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
    fflush(stdout);
}

static void do_open(const char *p, int flags) {
    int fd = openat(AT_FDCWD, p, flags, 0640);
    report(flags & O_CREAT ? "creat" : "open", p, fd);
    if (fd >= 0) close(fd);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strncmp(a, "open:", 5)) {
            do_open(a + 5, O_RDONLY | O_CLOEXEC);
        } else if (!strncmp(a, "creat:", 6)) {
            do_open(a + 6, O_WRONLY | O_CREAT | O_TRUNC);
        } else if (!strncmp(a, "hostile:", 8)) {
            const char *names[] = {"a\nb", "\x1b[31mred\x1b[0m", "\xff\xfe", "q\"uote\\back"};
            char buf[4096];
            for (int k = 0; k < 4; k++) {
                snprintf(buf, sizeof buf, "%s/%s", a + 8, names[k]);
                int fd = openat(AT_FDCWD, buf, O_RDONLY);
                printf("hostile %d %s\n", k, fd >= 0 ? "ok" : strerrorname_np(errno));
                if (fd >= 0) close(fd);
            }
            fflush(stdout);
        } else if (!strncmp(a, "connect:", 8)) {
            char ip[64];
            int port = 0;
            char *colon = strrchr(a + 8, ':');
            if (!colon) return 2;
            snprintf(ip, sizeof ip, "%.*s", (int)(colon - (a + 8)), a + 8);
            port = atoi(colon + 1);
            struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
            inet_pton(AF_INET, ip, &sin.sin_addr);
            int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            long rc = connect(s, (struct sockaddr *)&sin, sizeof sin);
            report("connect", a + 8, rc);
            close(s);
        } else if (!strncmp(a, "exec:", 5)) {
            char *args[] = {a + 5, "arg\n1", NULL};
            execve(a + 5, args, (char *[]){NULL});
            report("exec", a + 5, -1);
        } else if (!strncmp(a, "copyexec:", 9)) {
            char dst[4096], buf[65536];
            snprintf(dst, sizeof dst, "%s/x\n\x1b[2J\xff", a + 9);
            int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
            int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
            if (in < 0 || out < 0) { report("copyexec", "open", -1); continue; }
            ssize_t n;
            while ((n = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, n) != n) return 3;
            close(in);
            close(out);
            argv[i] = dst;                       /* new argv[0]; the rest follow */
            execve(dst, argv + i, (char *[]){NULL});
            report("copyexec", "exec", -1);
        } else if (!strcmp(a, "fault")) {
            long rc = syscall(SYS_openat, AT_FDCWD, (char *)0, O_RDONLY);
            report("fault", "null", rc);
            void *p = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            rc = syscall(SYS_openat, AT_FDCWD, (char *)p, O_RDONLY);
            report("fault", "prot_none", rc);
        } else {
            fprintf(stderr, "unknown action %s\n", a);
            return 2;
        }
    }
    return 0;
}
