/* Ops in order, one line each:
 *   open:PATH          -> "OPEN PATH ok" or "OPEN PATH errno N" (always from the same buffer)
 *   relink:TARGET:LINK -> unlink LINK, symlink TARGET at LINK ("RELINK ok"/"RELINK errno N")
 *   rename:OLD:NEW     -> rename(OLD, NEW): "RENAME ok" or "RENAME errno N"
 *   mkdir:PATH         -> "MKDIR ok" or "MKDIR errno N"
 *   alt:A:B:N          -> N opens through ONE buffer (same pointer, same flags), holding A
 *                         and B in turn: "ALT <opens of A that worked> <opens of B that worked>"
 * Used to show that a cached path walk never outlives a change the jail can make. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "open:", 5)) {
            /* one buffer for every open: the same pointer and flags each time, so
             * only the bytes (or the tree) tell two opens apart */
            static char p[256];
            snprintf(p, sizeof p, "%s", argv[i] + 5);
            int fd = openat(AT_FDCWD, p, O_RDONLY);
            if (fd >= 0) {
                char buf[32] = {0};
                ssize_t n = read(fd, buf, sizeof buf - 1);
                if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
                printf("OPEN %s ok %s\n", p, buf);
                close(fd);
            } else {
                printf("OPEN %s errno %d\n", p, errno);
            }
        } else if (!strncmp(argv[i], "alt:", 4)) {
            static char buf[256];
            char *a = argv[i] + 4, *b = strchr(a, ':'), *n;
            if (!b) return 2;
            *b++ = 0;
            if (!(n = strchr(b, ':'))) return 2;
            *n++ = 0;
            int ok[2] = {0, 0}, count = atoi(n);
            for (int k = 0; k < count; k++) {
                snprintf(buf, sizeof buf, "%s", k % 2 ? b : a);
                int fd = openat(AT_FDCWD, buf, O_RDONLY);
                if (fd >= 0) { ok[k % 2]++; close(fd); }
            }
            printf("ALT %d %d\n", ok[0], ok[1]);
        } else if (!strncmp(argv[i], "mkdir:", 6)) {
            if (mkdir(argv[i] + 6, 0755) == 0) printf("MKDIR ok\n");
            else printf("MKDIR errno %d\n", errno);
        } else if (!strncmp(argv[i], "rename:", 7)) {
            char *o = argv[i] + 7, *n = strchr(o, ':');
            if (!n) return 2;
            *n++ = 0;
            if (rename(o, n) == 0) printf("RENAME ok\n");
            else printf("RENAME errno %d\n", errno);
        } else if (!strncmp(argv[i], "relink:", 7)) {
            char *t = argv[i] + 7, *l = strchr(t, ':');
            if (!l) return 2;
            *l++ = 0;
            unlink(l);
            if (symlink(t, l) == 0) printf("RELINK ok\n");
            else printf("RELINK errno %d\n", errno);
        }
        fflush(stdout);
    }
    return 0;
}
