/* Threat model B11/B12 (bounded): a path buffer flipped between an allowed
 * file and the canary while the main thread opens it in a loop.  The flipper
 * is a sibling thread (B11), a forked process sharing the page MAP_SHARED
 * (B12), or a CLONE_VM child that is not a thread (B12).  Prints
 * "ESCAPED toctou ..." with the canary text if a flipped open got through.
 * Mode "swap" (C18): ALLOWED and FORBIDDEN are directories that both hold a
 * file "file"; a forked process swaps the symlinks /tmp/sa and /tmp/sb
 * (renameat2 RENAME_EXCHANGE) while the main one opens /tmp/sa/file.
 * Mode "unlinkswap" (C18 for a path syscall with no object to re-check): the
 * same swapper while the main process unlinks /tmp/sa/file (and re-creates
 * ALLOWED/file); prints "ESCAPED" if FORBIDDEN/file is ever gone.  Mode
 * "truncswap": open(/tmp/sa/file, O_WRONLY|O_TRUNC); "ESCAPED" if
 * FORBIDDEN/file was ever emptied (the fd re-check would come too late).
 * Mode "fdswap" (B13): ALLOWED and FORBIDDEN are directories holding "file";
 * a CLONE_FILES child (shares the fd table, not a thread) keeps dup2()ing
 * either onto fd 20 (RLIMIT_NOFILE is 32) while the main process does openat(20, "file").
 * Mode "unixswap" (C18/C20 for AF_UNIX): the same swapper while the main process
 * connects to /tmp/sa/sock; ALLOWED/sock and FORBIDDEN/sock are listening
 * sockets that greet with a line; "ESCAPED" if the FORBIDDEN one (its greeting
 * holds the canary) is ever reached.
 * Mode "unixleak" / "unixleakproc": as unixswap, while a second thread (or a
 * CLONE_VM|CLONE_FILES process) keeps sending "LEAK" on the socket being
 * connected; the host side watches whether FORBIDDEN/sock ever receives it (it
 * must not: the connect is checked before anyone else runs).
 * Mode "dgramswap" (C18/C20 for datagrams): the same swapper while the main
 * process sends datagrams to /tmp/sa/dsock, by sendto, sendmsg and sendmmsg in turn; the
 * host side watches whether FORBIDDEN/dsock ever receives one.
 * Usage: tm_toctou thread|shared|vm|swap|unlinkswap|truncswap|unixswap|unixleak|unixleakproc|dgramswap|fdswap
 *        SECONDS ALLOWED FORBIDDEN */
#include "tm_common.h"
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sched.h>
#include <time.h>

static char *buf;
static const char *good, *bad;
static volatile int *stop;

static int flipper(void *arg)
{
    (void)arg;
    size_t n = strlen(good) > strlen(bad) ? strlen(good) + 1 : strlen(bad) + 1;
    char a[256] = {0}, b[256] = {0};
    strcpy(a, good);
    strcpy(b, bad);
    while (!*stop) {
        memcpy(buf, a, n);
        memcpy(buf, b, n);
    }
    return 0;
}

static void *thread_flip(void *arg) { flipper(arg); return NULL; }

static void swapper(void)
{
    while (!*stop)
        syscall(SYS_renameat2, AT_FDCWD, "/tmp/sa", AT_FDCWD, "/tmp/sb", 2 /* RENAME_EXCHANGE */);
    _exit(0);
}

static int fdswapper(void *arg)
{
    int *fds = arg;
    while (!*stop) {
        dup2(fds[0], 20);
        dup2(fds[1], 20);
    }
    return 0;
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

/* one try through the swapped /tmp/sa: 1 allowed, 0 denied, -1 escaped */
static int open_try(void)
{
    int fd = open("/tmp/sa/file", O_RDONLY);
    if (fd < 0) return 0;
    char t[128] = {0};
    ssize_t n = read(fd, t, sizeof t - 1);
    close(fd);
    if (n > 0 && strstr(t, "CANARY")) { say("ESCAPED toctou open read: %s", t); return -1; }
    return 1;
}

static int unlink_try(void)
{
    char keep[512], victim[512];
    snprintf(keep, sizeof keep, "%s/file", bad);
    snprintf(victim, sizeof victim, "%s/file", good);
    int fd = open(victim, O_WRONLY | O_CREAT, 0666);
    if (fd >= 0) close(fd);
    int r = unlink("/tmp/sa/file") == 0;
    if (access(keep, F_OK) != 0) { say("ESCAPED toctou unlink removed %s\n", keep); return -1; }
    return r;
}

static int trunc_try(void)
{
    char keep[512];
    struct stat st;
    snprintf(keep, sizeof keep, "%s/file", bad);
    int fd = open("/tmp/sa/file", O_WRONLY | O_TRUNC);
    if (fd >= 0) close(fd);
    if (stat(keep, &st) == 0 && st.st_size == 0) { say("ESCAPED toctou open truncated %s\n", keep); return -1; }
    return fd >= 0;
}

static int connect_try(void)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, "/tmp/sa/sock");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) return 0;
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) { close(s); return 0; }
    char t[128] = {0};
    ssize_t n = read(s, t, sizeof t - 1);
    close(s);
    if (n > 0 && strstr(t, "CANARY")) { say("ESCAPED toctou connect reached: %s", t); return -1; }
    return 1;
}

static volatile int connecting = -1;

static void *leaker(void *arg)
{
    (void)arg;
    for (;;) {                         /* until the process exits */
        int fd = connecting;
        if (fd >= 0) send(fd, "LEAK", 4, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    return NULL;
}

static int leak_proc(void *arg) { leaker(arg); return 0; }

static int leak_try(void)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, "/tmp/sa/sock");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) return 0;
    connecting = s;
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    connecting = -1;
    close(s);
    return r == 0;
}

static int dgram_try(void)
{
    static int s = -1, turn;
    if (s < 0) s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, "/tmp/sa/dsock");
    char m[] = "PING";
    struct iovec v = {m, 4};
    struct msghdr h = {.msg_name = &a, .msg_namelen = sizeof a, .msg_iov = &v, .msg_iovlen = 1};
    struct mmsghdr mm = {.msg_hdr = h};
    switch (turn++ % 3) {
    case 0: return sendto(s, m, 4, 0, (struct sockaddr *)&a, sizeof a) == 4;
    case 1: return sendmsg(s, &h, 0) == 4;
    default: return sendmmsg(s, &mm, 1, 0) == 1;
    }
}

/* rounds of a fresh swapper each: the early tries after a fork are the interesting ones */
static int swap_rounds(double secs, int (*try)(void))
{
    if (symlink(good, "/tmp/sa") || symlink(bad, "/tmp/sb")) { say("SETUP symlinks errno=%d\n", errno); return 3; }
    long ok = 0, denied = 0, iters = 0;
    double end = now() + secs;
    while (now() < end) {
        *stop = 0;
        pid_t c = fork();
        if (c == 0) swapper();
        double r_end = now() + 0.05;
        while (now() < r_end) {
            iters++;
            int r = try();
            if (r < 0) { say("after %ld tries\n", iters); end = 0; break; }
            if (r) ok++; else denied++;
        }
        *stop = 1;
        waitpid(c, NULL, 0);
    }
    say("STATS iters=%ld ok=%ld denied=%ld other=0\n", iters, ok, denied);
    say("DONE\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) { say("usage: tm_toctou MODE SECONDS ALLOWED FORBIDDEN\n"); return 2; }
    const char *mode = argv[1];
    double secs = atof(argv[2]);
    good = argv[3];
    bad = argv[4];
    char *shared = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    buf = shared;
    stop = (volatile int *)(shared + 4096);
    strcpy(buf, good);
    pid_t child = -1;
    pthread_t t;
    static char stack[65536];
    if (!strcmp(mode, "thread")) pthread_create(&t, NULL, thread_flip, NULL);
    else if (!strcmp(mode, "shared")) { child = fork(); if (child == 0) { flipper(NULL); _exit(0); } }
    else if (!strcmp(mode, "vm")) child = clone(flipper, stack + sizeof stack, CLONE_VM | SIGCHLD, NULL);
    else if (!strcmp(mode, "fdswap")) {
        static int fds[2];
        fds[0] = open(good, O_RDONLY | O_DIRECTORY);
        fds[1] = open(bad, O_RDONLY | O_DIRECTORY);
        if (fds[0] < 0 || fds[1] < 0) { say("SETUP dir fds errno=%d\n", errno); return 3; }
        dup2(fds[0], 20);
        child = clone(fdswapper, stack + sizeof stack, CLONE_FILES | SIGCHLD, fds);
        long ok = 0, denied = 0, iters = 0;
        double end = now() + secs;
        while (now() < end) {
            iters++;
            int fd = openat(20, "file", O_RDONLY);
            if (fd < 0) { denied++; continue; }
            char t[128] = {0};
            ssize_t n = read(fd, t, sizeof t - 1);
            close(fd);
            if (n > 0 && strstr(t, "CANARY")) { say("ESCAPED toctou after %ld opens: %s", iters, t); break; }
            ok++;
        }
        *stop = 1;
        waitpid(child, NULL, 0);
        say("STATS iters=%ld ok=%ld denied=%ld other=0\n", iters, ok, denied);
        say("DONE\n");
        return 0;
    }
    else if (!strcmp(mode, "swap"))
        return swap_rounds(secs, open_try);
    else if (!strcmp(mode, "unlinkswap"))
        return swap_rounds(secs, unlink_try);
    else if (!strcmp(mode, "truncswap"))
        return swap_rounds(secs, trunc_try);
    else if (!strcmp(mode, "unixswap"))
        return swap_rounds(secs, connect_try);
    else if (!strcmp(mode, "dgramswap"))
        return swap_rounds(secs, dgram_try);
    else if (!strcmp(mode, "unixleak")) {
        pthread_create(&t, NULL, leaker, NULL);
        return swap_rounds(secs, leak_try);
    }
    else if (!strcmp(mode, "unixleakproc")) {
        pid_t l = clone(leak_proc, stack + sizeof stack, CLONE_VM | CLONE_FILES | SIGCHLD, NULL);
        int r = swap_rounds(secs, leak_try);
        kill(l, SIGKILL);
        return r;
    }
    else { say("usage: unknown mode %s\n", mode); return 2; }
    long ok = 0, denied = 0, other = 0, iters = 0;
    double end = now() + secs;
    while (now() < end) {
        iters++;
        int fd = open(buf, O_RDONLY);
        if (fd < 0) { if (errno == EACCES) denied++; else other++; continue; }
        char c[128] = {0};
        ssize_t n = read(fd, c, sizeof c - 1);
        close(fd);
        if (n > 0 && strstr(c, "CANARY")) { say("ESCAPED toctou after %ld opens: %s", iters, c); break; }
        ok++;
    }
    *stop = 1;
    if (child > 0) waitpid(child, NULL, __WALL);
    else if (!strcmp(mode, "thread")) pthread_join(t, NULL);
    say("STATS iters=%ld ok=%ld denied=%ld other=%ld\n", iters, ok, denied, other);
    say("DONE\n");
    return 0;
}
