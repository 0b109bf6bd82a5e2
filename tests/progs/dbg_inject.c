/* Fault-injection observer: makes N calls of one syscall and prints what each
 * returned ("0" or the errno number), space separated, so a test can check the
 * when= pattern and the errno.  Raw syscall() so libc caches nothing.
 *   dbg_inject chdir N            chdir("/") N times
 *   dbg_inject openat N PATH...   openat(AT_FDCWD, PATH[i % npaths], O_RDONLY) N times
 *   dbg_inject getpid N           getpid N times (never path-filtered)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int n = atoi(argv[2]);
    int npaths = argc - 3;
    for (int i = 0; i < n; i++) {
        long r;
        if (!strcmp(argv[1], "chdir")) {
            r = syscall(SYS_chdir, "/");
        } else if (!strcmp(argv[1], "openat")) {
            if (npaths < 1) return 2;
            r = syscall(SYS_openat, AT_FDCWD, argv[3 + i % npaths], O_RDONLY);
            if (r >= 0) { close((int)r); r = 0; }
        } else if (!strcmp(argv[1], "getpid")) {
            r = syscall(SYS_getpid);
            if (r > 0) r = 0;
        } else {
            return 2;
        }
        printf("%s%d", i ? " " : "", r < 0 ? errno : 0);
    }
    printf("\n");
    return 0;
}
