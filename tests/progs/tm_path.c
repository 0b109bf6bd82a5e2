/* Threat model C17-C21 (and openat2 from A4/A5): a tiny interpreter of path
 * operations, so one test can chain chdir/symlink/open tricks and print what
 * each achieved.  Usage: tm_path OP:ARG[:ARG] ...
 *   open:P  write:P  creat:P  opath:P  openat2:P  chdir:P  fchdir:P  symlink:T:L
 *   reopen:N:r|w (open /proc/self/fd/N)  at:DIR:REL (openat on a dir fd)
 *   unlink:P rename:A:B link:A:B truncate:P chmod:P mkdir:P stat:P readlink:P
 *   fdpath:REL (open /proc/self/fd/<dir fd of the last at:>/REL)  mark:NAME
 *   bindunix:P connectunix:P (AF_UNIX at path P)  setxattr:P  utime:P
 *   cwd (getcwd)  fds (list open fds)
 * Read content is printed after "READ"; the tests look for the canary text. */
#include "tm_common.h"
#include <dirent.h>
#include <linux/openat2.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/xattr.h>

static int last_fd = -1, last_dir = -1;

static void opened(const char *what, const char *p, int fd, int do_read, int do_write)
{
    char w[4400];
    snprintf(w, sizeof w, "%s %s", what, p);
    if (report(w, fd) < 0)
        return;
    last_fd = fd;
    say("FD %d\n", fd);
    if (do_write)
        say("WROTE %s %ld\n", p, (long)write(fd, "PWNED\n", 6));
    if (do_read)
        dump_fd(p, fd);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *op = strdup(argv[i]);
        char *a = strchr(op, ':'), *b = NULL;
        if (a) { *a++ = 0; b = strchr(a, ':'); if (b) *b++ = 0; }
        if (!strcmp(op, "open")) opened("open", a, open(a, O_RDONLY), 1, 0);
        else if (!strcmp(op, "write")) opened("write", a, open(a, O_WRONLY | O_APPEND), 0, 1);
        else if (!strcmp(op, "creat")) opened("creat", a, open(a, O_WRONLY | O_CREAT | O_APPEND, 0644), 0, 1);
        else if (!strcmp(op, "opath")) opened("opath", a, open(a, O_PATH), 0, 0);
        else if (!strcmp(op, "openat2")) {
            struct open_how how = {.flags = O_RDONLY};
            opened("openat2", a, syscall(SYS_openat2, AT_FDCWD, a, &how, sizeof how), 1, 0);
        }
        else if (!strcmp(op, "openat2w")) {
            struct open_how how = {.flags = O_WRONLY | O_CREAT | O_APPEND, .mode = 0644};
            opened("openat2w", a, syscall(SYS_openat2, AT_FDCWD, a, &how, sizeof how), 0, 1);
        }
        else if (!strcmp(op, "chdir")) report("chdir", chdir(a));
        else if (!strcmp(op, "fchdir")) {
            int d = open(a, O_RDONLY | O_DIRECTORY);
            report("fchdir", d < 0 ? d : fchdir(d));
        }
        else if (!strcmp(op, "symlink")) { report("symlink", symlink(a, b)); }
        else if (!strcmp(op, "reopen")) {
            char p[64];
            int n = !strcmp(a, "last") ? last_fd : atoi(a);
            snprintf(p, sizeof p, "/proc/self/fd/%d", n);
            int w = b && b[0] == 'w';
            opened("reopen", p, open(p, w ? O_WRONLY | O_APPEND : O_RDONLY), !w, w);
        }
        else if (!strcmp(op, "at")) {
            int d = open(a, O_RDONLY | O_DIRECTORY);
            report("open dir", d);
            last_dir = d;
            char w[4400];
            snprintf(w, sizeof w, "%s/%s", a, b);
            opened("openat", w, openat(d, b, O_RDONLY), 1, 0);
        }
        else if (!strcmp(op, "fdpath")) {
            char p[4200];
            snprintf(p, sizeof p, "/proc/self/fd/%d/%s", last_dir, a);
            opened("open", p, open(p, O_RDONLY), 1, 0);
        }
        else if (!strcmp(op, "bindunix") || !strcmp(op, "connectunix")) {
            struct sockaddr_un u = {.sun_family = AF_UNIX};
            strncpy(u.sun_path, a, sizeof u.sun_path - 1);
            int s = socket(AF_UNIX, SOCK_STREAM, 0);
            socklen_t l = offsetof(struct sockaddr_un, sun_path) + strlen(u.sun_path) + 1;
            report(op, op[0] == 'b' ? bind(s, (void *)&u, l) : connect(s, (void *)&u, l));
        }
        else if (!strcmp(op, "setxattr")) report("setxattr", setxattr(a, "user.tm", "x", 1, 0));
        else if (!strcmp(op, "utime")) report("utime", utimensat(AT_FDCWD, a, NULL, 0));
        else if (!strcmp(op, "mark")) say("MARK %s\n", a);
        else if (!strcmp(op, "unlink")) report("unlink", unlink(a));
        else if (!strcmp(op, "rename")) { report("rename", rename(a, b)); }
        else if (!strcmp(op, "link")) { report("link", link(a, b)); }
        else if (!strcmp(op, "truncate")) report("truncate", truncate(a, 0));
        else if (!strcmp(op, "chmod")) report("chmod", chmod(a, 0777));
        else if (!strcmp(op, "mkdir")) report("mkdir", mkdir(a, 0755));
        else if (!strcmp(op, "stat")) { struct stat st; report("stat", stat(a, &st)); }
        else if (!strcmp(op, "readlink")) {
            char buf[4096] = {0};
            if (report("readlink", readlink(a, buf, sizeof buf - 1)) >= 0) say("LINK %s\n", buf);
        }
        else if (!strcmp(op, "cwd")) {
            char buf[4096] = {0};
            long r = syscall(SYS_getcwd, buf, sizeof buf);
            say("CWD rc=%ld %s\n", r, r > 0 ? buf : "");
        }
        else if (!strcmp(op, "fds")) {
            for (int fd = 0; fd < 4096; fd++) {
                char p[64], t[4096] = {0};
                if (fcntl(fd, F_GETFD) < 0) continue;
                snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
                if (readlink(p, t, sizeof t - 1) < 0) strcpy(t, "?");
                say("OPENFD %d %s\n", fd, t);
            }
        }
        else { say("usage: unknown op %s\n", op); return 2; }
        free(op);
    }
    say("DONE\n");
    return 0;
}
