/* Path tricks against a supervisor path rule.  Each argument is one action;
 * every action prints "<action> <result>" where result is "ok" or an errno name. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

static void report(const char *what, const char *arg, long r) {
    printf("%s %s %s\n", what, arg, r >= 0 ? "ok" : strerrorname_np(errno));
    fflush(stdout);
}

static void *thread_open(void *p) {
    long r = open((char *)p, O_RDONLY);
    report("thread", (char *)p, r);
    if (r >= 0) close(r);
    return NULL;
}

static char **rest_argv;
static void *thread_exec(void *p) {
    execv((char *)p, rest_argv);
    report("threadexec", (char *)p, -1);
    return NULL;
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
        } else if (!strncmp(a, "in_root:", 8) || !strncmp(a, "empty:", 6)) {
            /* in_root:DIR:PATH  openat2(DIR, PATH, RESOLVE_IN_ROOT);
             * empty:DIR         fstatat(open(DIR), "", AT_EMPTY_PATH) */
            int e = a[0] == 'e';
            char *dir = a + (e ? 6 : 8), *rel = e ? "" : strchr(dir, ':');
            if (!e) *rel++ = 0;
            int d = open(dir, O_RDONLY | O_DIRECTORY);
            if (e) {
                struct stat st;
                r = d < 0 ? d : fstatat(d, "", &st, AT_EMPTY_PATH);
                report("empty", dir, r);
            } else {
                struct { unsigned long long flags, mode, resolve; } how = {O_RDONLY, 0, 0x10};
                r = d < 0 ? d : syscall(SYS_openat2, d, rel, &how, sizeof how);
                report("in_root", rel, r);
                if (r >= 0) close(r);
            }
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
        } else if (!strncmp(a, "exec:", 5)) {     /* exec:PROG, the remaining args go to PROG */
            argv[i] = a + 5;
            execv(a + 5, argv + i);
            report("exec", a + 5, -1);
            return 1;
        } else if (!strncmp(a, "threadexec:", 11)) {  /* execve from a non-leader thread */
            pthread_t t;
            argv[i] = a + 11;
            rest_argv = argv + i;
            pthread_create(&t, NULL, thread_exec, a + 11);
            pause();
        } else if (!strncmp(a, "fork:", 5)) {
            pid_t c = fork();
            if (c == 0) {
                r = open(a + 5, O_RDONLY);
                report("fork", a + 5, r);
                _exit(0);
            }
            waitpid(c, NULL, 0);
        } else if (!strncmp(a, "vfork:", 6)) {
            pid_t c = vfork();
            if (c == 0) {
                char *args[] = {a + 6, NULL};
                execv(a + 6, args);
                _exit(127);
            }
            int st;
            waitpid(c, &st, 0);
            printf("vfork %s %d\n", a + 6, WEXITSTATUS(st));
            fflush(stdout);
        } else if (!strncmp(a, "thread:", 7)) {
            pthread_t t;
            pthread_create(&t, NULL, thread_open, a + 7);
            pthread_join(t, NULL);
        } else if (!strncmp(a, "forkmany:", 9)) {  /* N short-lived children, 50 alive at most */
            long n = strtol(a + 9, NULL, 10), alive = 0, done = 0;
            for (long k = 0; k < n; k++) {
                pid_t c = fork();
                if (c == 0) _exit(0);
                if (c > 0) alive++;
                while (alive >= 50) { wait(NULL); alive--; done++; }
            }
            while (alive > 0) { wait(NULL); alive--; done++; }
            printf("forkmany %ld\n", done);
            fflush(stdout);
        } else if (!strcmp(a, "sleep")) {
            sleep(1000);
        } else {
            fprintf(stderr, "bad action %s\n", a);
            return 2;
        }
    }
    return 0;
}
