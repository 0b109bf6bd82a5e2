/* Ops in order, one line each:
 *   open:PATH          -> "OPEN PATH ok" or "OPEN PATH errno N"
 *   relink:TARGET:LINK -> unlink LINK, symlink TARGET at LINK ("RELINK ok"/"RELINK errno N")
 * Used to show that a cached path walk never outlives a change the jail can make. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "open:", 5)) {
            const char *p = argv[i] + 5;
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
