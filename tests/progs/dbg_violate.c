/* Does, in order, things a test policy refuses, printing a marker after each so
 * a test can tell how far it got:
 *   1. chdir("/tmp")                 (policy: ERRNO)      -> "chdir=<errno or 0>"
 *   2. openat(AT_FDCWD, argv[1])     (policy: path rule)  -> "open=<errno or 0>"
 *   3. uname()                       (policy: KILL)       -> "uname=<0>"
 *   4. "survived"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/etc/hostname";
    long r = syscall(SYS_chdir, "/tmp");
    printf("chdir=%d\n", r < 0 ? errno : 0);
    fflush(stdout);
    r = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
    printf("open=%d\n", r < 0 ? errno : 0);
    fflush(stdout);
    struct utsname u;
    r = syscall(SYS_uname, &u);
    printf("uname=%d\n", r < 0 ? errno : 0);
    printf("survived\n");
    return 0;
}
