/* Path tricks that try to reach the host root from inside the jail: chdir("..")
 * loops, /proc/self/root, /proc/1/root, /proc/self/cwd and fd-relative "..".
 * argv[1] is a path that exists only on the host; print FOUND for any hit. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int found;
static void probe(const char *p) {
    struct stat st;
    if (stat(p, &st) == 0) { printf("FOUND %s\n", p); found = 1; }
}

int main(int argc, char **argv) {
    char buf[4096];
    const char *target = argv[1];
    for (int i = 0; i < 64; i++) if (chdir("..") != 0) break;
    probe(target + 1);               /* relative from the "top" after chdir .. */
    probe(target);
    snprintf(buf, sizeof buf, "/proc/self/root%s", target); probe(buf);
    snprintf(buf, sizeof buf, "/proc/1/root%s", target); probe(buf);
    snprintf(buf, sizeof buf, "/proc/self/cwd/../../..%s", target); probe(buf);
    int fd = open("/", O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < 64 && fd >= 0; i++) {
        int up = openat(fd, "..", O_RDONLY | O_DIRECTORY);
        close(fd); fd = up;
    }
    if (fd >= 0 && fchdir(fd) == 0) probe(target + 1);
    if (getcwd(buf, sizeof buf)) printf("cwd=%s\n", buf);
    printf(found ? "ESCAPED\n" : "contained\n");
    return found;
}
