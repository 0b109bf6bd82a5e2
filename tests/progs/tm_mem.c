/* Threat model F34: hostile pointers handed to supervised syscalls.  Each case
 * prints "CASE name rc=R errno=E"; the test runs this natively and in the jail
 * and requires the same results (the supervisor must answer as the kernel
 * would: EFAULT, ENAMETOOLONG, or success for a path ending one byte before an
 * unmapped page).  Usage: tm_mem BASEDIR  (a writable, empty directory) */
#include "tm_common.h"

static char *base;
static long pagesz;

static void result(const char *name, long rc)
{
    say("CASE %s rc=%s errno=%s\n", name, rc >= 0 ? "ok" : "-1", rc >= 0 ? "0" : strerrorname_np(errno));
}

/* two mapped pages followed by an unmapped one; returns start of page 2 */
static char *edge_pages(void)
{
    char *p = mmap(NULL, 3 * pagesz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p + 2 * pagesz, pagesz);
    return p + pagesz;
}

static long try_open(const char *p) { long fd = open(p, O_RDONLY); if (fd >= 0) close(fd); return fd; }

static void case_exec(const char *name, char **av)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) { result(name, -1); return; }
    pid_t c = fork();
    if (c == 0) {
        execve("/bin/true", av, NULL);
        int e = errno;
        if (write(pfd[1], &e, sizeof e) < 0) {}
        _exit(127);
    }
    close(pfd[1]);
    int e = 0, st = 0;
    ssize_t got = read(pfd[0], &e, sizeof e);
    waitpid(c, &st, 0);
    if (got == sizeof e) { errno = e; result(name, -1); }
    else say("CASE %s rc=%s errno=0\n", name, WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "childfail");
}

int main(int argc, char **argv)
{
    base = argc > 1 ? argv[1] : "/tmp";
    pagesz = sysconf(_SC_PAGESIZE);
    char target[512];
    snprintf(target, sizeof target, "%s/edge", base);
    int fd = open(target, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) { say("SETUP cannot create %s errno=%d\n", target, errno); return 3; }
    close(fd);

    result("null", try_open(NULL));
    result("kernel_addr", try_open((char *)0xffffffff81000000UL));
    result("noncanonical", try_open((char *)0x0000800000000000UL));
    char *gone = mmap(NULL, pagesz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone, pagesz);
    result("unmapped", try_open(gone));
    char *none = mmap(NULL, pagesz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    result("prot_none", try_open(none));

    char *big = mmap(NULL, 4 * pagesz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(big, 'a', 4 * pagesz);
    big[0] = '/';
    result("no_nul_4pages", try_open(big));

    char *p2 = edge_pages();            /* [p2, p2+pagesz) mapped, then unmapped */
    size_t tl = strlen(target) + 1;
    char *edge = p2 + pagesz - tl;
    memcpy(edge, target, tl);
    result("nul_last_byte_before_unmapped", try_open(edge));
    memcpy(edge + 1, target, tl - 1);  /* no terminator: runs into the hole */
    result("spans_into_unmapped", try_open(edge + 1));
    char *span = p2 - 5;                 /* crosses from page 1 into page 2 */
    memcpy(span, target, tl);
    result("spans_two_mapped_pages", try_open(span));

    static char longp[8192];
    for (int want = 4094; want <= 4097; want++) {
        /* base + many slashes + "/edge": resolves to target, strlen == want */
        int bl = strlen(base), n = want - bl - 5;
        memcpy(longp, base, bl);
        memset(longp + bl, '/', n);
        memcpy(longp + bl + n, "/edge", 6);
        char name[32];
        snprintf(name, sizeof name, "strlen_%d", (int)strlen(longp));
        result(name, try_open(longp));
    }
    /* a path written at the very end of the 3rd page of "big", 4th page unmapped */
    munmap(big + 3 * pagesz, pagesz);
    result("no_nul_until_unmapped", try_open(big + 3 * pagesz - 100));

    /* log injection: newline, JSON, ANSI escape, invalid UTF-8 in a path */
    char evil[512];
    snprintf(evil, sizeof evil, "%s/\xff\xfe\n{\"fake\":\"record\"}\x1b[2J\x1b[31mRED\r\x07", base);
    long efd = open(evil, O_WRONLY | O_CREAT, 0644);
    if (efd >= 0) close(efd);
    result("evil_bytes_create", efd);
    result("evil_bytes_unlink", unlink(evil));

    /* execve argument vectors */
    int N = 100000;
    char **av = calloc(N + 2, sizeof *av);
    av[0] = "/bin/true";
    for (int i = 1; i <= N; i++) av[i] = "x";
    case_exec("execve_100k_argv", av);
    char *avp = p2 + pagesz - 2 * sizeof(char *);   /* no NULL terminator before the hole */
    ((char **)avp)[0] = "/bin/true";
    ((char **)avp)[1] = "x";
    case_exec("execve_argv_unterminated", (char **)avp);
    char *bad[] = {"/bin/true", gone, NULL};
    case_exec("execve_argv_bad_string", bad);
    say("DONE\n");
    return 0;
}
