/* Load a seccomp filter (raw struct sock_filter[] from argv[1]) and make one
 * syscall chosen by argv[2]; print its result.  Used by test_policy_kernel.py to
 * check what the real kernel does with tracejail's compiled BPF, including the
 * foreign ABIs (i386 int 0x80, x32) that Python cannot issue. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    static unsigned char buf[65536];
    if (argc < 3) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 3;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct sock_fprog prog = { .len = (unsigned short)(n / 8), .filter = (struct sock_filter *)buf };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return 4;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) { perror("seccomp"); return 5; }
    long r = -1;
    const char *m = argv[2];
    errno = 0;
    if (!strcmp(m, "i386")) {           /* getpid through the i386 ABI */
        long ret;
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
        r = ret;
    } else if (!strcmp(m, "x32")) {     /* getpid with the x32 bit */
        r = syscall(0x40000000L | 39);
    } else if (!strcmp(m, "raw")) {      /* raw NR ARG0 ARG1 (hex) */
        long nr = strtol(argv[3], 0, 0);
        unsigned long a0 = argc > 4 ? strtoul(argv[4], 0, 0) : 0;
        unsigned long a1 = argc > 5 ? strtoul(argv[5], 0, 0) : 0;
        r = syscall(nr, a0, a1, 0, 0, 0, 0);
    }
    printf("%ld %d\n", r, r < 0 ? errno : 0);
    fflush(stdout);
    return 0;
}
