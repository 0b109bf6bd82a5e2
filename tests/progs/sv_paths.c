/* Path tricks against a supervisor path rule.  Each argument is one action;
 * every action prints "<action> <result>" where result is "ok" or an errno name. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *what, const char *arg, long r) {
    printf("%s %s %s\n", what, arg, r >= 0 ? "ok" : strerrorname_np(errno));
    fflush(stdout);
}

int main(int argc, char **argv) {
    long page = sysconf(_SC_PAGESIZE);
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        long r;
        if (!strncmp(a, "open:", 5)) {               /* open:PATH */
            r = open(a + 5, O_RDONLY);
            report("open", a + 5, r);
            if (r >= 0) close(r);
        } else if (!strncmp(a, "creat:", 6)) {       /* creat:PATH (O_CREAT|O_WRONLY) */
            r = open(a + 6, O_CREAT | O_WRONLY, 0644);
            report("creat", a + 6, r);
            if (r >= 0) close(r);
        } else if (!strncmp(a, "nofollow:", 9)) {
            r = open(a + 9, O_RDONLY | O_NOFOLLOW | O_PATH);
            report("nofollow", a + 9, r);
            if (r >= 0) close(r);
        } else if (!strncmp(a, "chdir:", 6)) {
            r = chdir(a + 6);
            report("chdir", a + 6, r);
        } else if (!strncmp(a, "openat:", 7)) {     /* openat:DIR:REL */
            char *dir = a + 7, *rel = strchr(dir, ':');
            *rel++ = 0;
            int d = open(dir, O_RDONLY | O_DIRECTORY);
            r = d < 0 ? d : openat(d, rel, O_RDONLY);
            report("openat", rel, r);
            if (r >= 0) close(r);
            if (d >= 0) close(d);
        } else if (!strcmp(a, "null")) {
            r = syscall(SYS_openat, AT_FDCWD, NULL, O_RDONLY);
            report("null", "-", r);
        } else if (!strncmp(a, "span:", 5) || !strncmp(a, "edge:", 5)) {
            /* span: PATH's NUL would be on an unmapped page -> EFAULT.
             * edge: PATH ends (NUL included) on the last byte before it -> opens. */
            const char *p = a + 5;
            size_t n = strlen(p);
            char *m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            munmap(m + page, page);
            char *s;
            if (a[0] == 's') { s = m + page - n; memcpy(s, p, n); }
            else { s = m + page - n - 1; memcpy(s, p, n + 1); }
            r = syscall(SYS_openat, AT_FDCWD, s, O_RDONLY);
            report(a[0] == 's' ? "span" : "edge", p, r);
            if (r >= 0) close(r);
        } else if (!strncmp(a, "long:", 5)) {       /* long:N:PREFIX  path of length N */
            long n = strtol(a + 5, NULL, 10);
            char *pre = strchr(a + 5, ':') + 1;
            char *s = malloc(n + 1);
            size_t pl = strlen(pre);
            memcpy(s, pre, pl);
            for (long k = pl; k < n; k++) s[k] = ((k - pl) % 2) ? '.' : '/';
            if (n > 0 && s[n - 1] == '/') s[n - 1] = '.';
            s[n] = 0;
            r = open(s, O_RDONLY);
            char tag[32];
            snprintf(tag, sizeof tag, "%ld", n);
            report("long", tag, r);
            if (r >= 0) close(r);
            free(s);
        } else if (!strncmp(a, "exec:", 5)) {
            char *args[] = {a + 5, NULL};
            execv(a + 5, args);
            report("exec", a + 5, -1);
        } else {
            fprintf(stderr, "bad action %s\n", a);
            return 2;
        }
    }
    return 0;
}
