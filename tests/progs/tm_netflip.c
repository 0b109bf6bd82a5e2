/* Threats #12 + #33 (and #20 for abstract AF_UNIX): a forked process sharing a
 * MAP_SHARED page keeps flipping the destination address the main process
 * passes to sendto / sendmsg / connect between an allowed and a forbidden one.
 * The main process listens on both itself; "ESCAPED" if the forbidden socket
 * ever receives a datagram or a connection.
 * Usage: tm_netflip inet|abstract|fdthread|fdproc|connproc SECONDS GOODPORT BADPORT
 *   inet: 127.0.0.1:GOODPORT vs :BADPORT (UDP sendto, sendmsg; TCP connect in turn)
 *   abstract: connect to @tm-good vs @tm-bad (the ports are ignored)
 *   fdthread, fdproc: sendmsg on fd 20, which a thread (or a CLONE_VM|CLONE_FILES
 *     process) keeps switching between a TCP socket connected to GOODPORT (whose
 *     sends ignore the address) and a UDP socket, while it also switches
 *     msg_name between none and 127.0.0.1:BADPORT
 *   connproc: blocking TCP connects on fd 20 (a connect the supervisor makes again
 *     once under way, ignoring its address), while a CLONE_VM|CLONE_FILES process
 *     keeps putting a fresh socket under fd 20 and flipping the address to BADPORT */
#include "tm_common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static int bound(int type, struct sockaddr *a, socklen_t n)
{
    int s = socket(a->sa_family, type | SOCK_NONBLOCK, 0);
    if (s < 0 || bind(s, a, n) || (type == SOCK_STREAM && listen(s, 64))) {
        say("SETUP bind errno=%d\n", errno);
        exit(3);
    }
    return s;
}

/* did the forbidden sockets get anything?  (and drain the allowed ones) */
static int reached(int *bad, int nbad, int *good, int ngood)
{
    char b[8];
    for (int i = 0; i < ngood; i++) {
        int c;
        while (recv(good[i], b, sizeof b, 0) > 0) {}
        while ((c = accept(good[i], 0, 0)) >= 0) close(c);
    }
    for (int i = 0; i < nbad; i++) {
        int c = accept(bad[i], 0, 0);
        if (c >= 0 || recv(bad[i], b, sizeof b, 0) >= 0) return 1;
    }
    return 0;
}

static struct msghdr *fh;
static struct sockaddr_in *fbad;
static int ftcp, fudp;
static volatile int *fstop;

static int fdflipper(void *arg)
{
    (void)arg;
    volatile struct msghdr *h = fh;    /* every store happens, in this order */
    while (!*fstop) {                  /* (TCP, no name) and (UDP, BADPORT), a while each */
        dup2(fudp, 20);
        h->msg_name = fbad;
        h->msg_namelen = sizeof *fbad;
        for (volatile int i = 0; i < 2000; i++) {}
        h->msg_name = NULL;
        h->msg_namelen = 0;
        dup2(ftcp, 20);
        for (volatile int i = 0; i < 2000; i++) {}
    }
    return 0;
}

static void *fdflipper_thread(void *arg) { fdflipper(arg); return NULL; }

static int fdswap(int proc, double end, int goodport, int badport)
{
    struct sockaddr_in good = {.sin_family = AF_INET, .sin_port = htons(goodport)};
    good.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    fh = (struct msghdr *)page;
    fbad = (struct sockaddr_in *)(page + 512);
    fstop = (volatile int *)(page + 1024);
    *fbad = good;
    fbad->sin_port = htons(badport);
    int lis = bound(SOCK_STREAM, (void *)&good, sizeof good), bad = bound(SOCK_DGRAM, (void *)fbad, sizeof *fbad);
    ftcp = socket(AF_INET, SOCK_STREAM, 0);
    fudp = socket(AF_INET, SOCK_DGRAM, 0);
    if (connect(ftcp, (void *)&good, sizeof good)) { say("SETUP connect errno=%d\n", errno); return 3; }
    int conn = -1;
    while (conn < 0) conn = accept(lis, 0, 0);
    fcntl(conn, F_SETFL, O_NONBLOCK);
    dup2(ftcp, 20);
    static char m[] = "x", stack[65536];
    static struct iovec v = {m, 1};
    fh->msg_iov = &v;
    fh->msg_iovlen = 1;
    pthread_t t;
    pid_t c = -1;
    if (proc) c = clone(fdflipper, stack + sizeof stack, CLONE_VM | CLONE_FILES | SIGCHLD, NULL);
    else pthread_create(&t, NULL, fdflipper_thread, NULL);
    long iters = 0, ok = 0, denied = 0;
    char b[4096];
    while (now() < end) {
        iters++;
        if (sendmsg(20, fh, 0) == 1) ok++; else denied++;
        while (read(conn, b, sizeof b) > 0) {}
        if (recv(bad, b, sizeof b, MSG_DONTWAIT) >= 0) {
            say("ESCAPED toctou after %ld tries: the forbidden address was reached\n", iters);
            break;
        }
    }
    *fstop = 1;
    if (proc) waitpid(c, NULL, __WALL); else pthread_join(t, NULL);
    say("STATS iters=%ld ok=%ld denied=%ld other=0\n", iters, ok, denied);
    say("DONE\n");
    return 0;
}

static struct sockaddr_in *caddr, cgood, cbad;
static volatile int cconnecting = -1;

static int connflipper(void *arg)
{
    (void)arg;
    volatile struct sockaddr_in *a = caddr;
    while (!*fstop) {
        int fresh = socket(AF_INET, SOCK_STREAM, 0), cur = cconnecting;
        dup2(fresh, 20);
        a->sin_port = cbad.sin_port;
        for (volatile int i = 0; i < 500; i++) {}
        a->sin_port = cgood.sin_port;
        if (cur >= 0) dup2(cur, 20);
        close(fresh);
    }
    return 0;
}

static int connswap(double end, int goodport, int badport)
{
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    caddr = (struct sockaddr_in *)page;
    fstop = (volatile int *)(page + 1024);
    cgood = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(goodport)};
    cgood.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cbad = cgood;
    cbad.sin_port = htons(badport);
    *caddr = cgood;
    int lis = bound(SOCK_STREAM, (void *)&cgood, sizeof cgood), bad = bound(SOCK_STREAM, (void *)&cbad, sizeof cbad);
    static char stack[65536];
    pid_t c = clone(connflipper, stack + sizeof stack, CLONE_VM | CLONE_FILES | SIGCHLD, NULL);
    long iters = 0, ok = 0, denied = 0;
    while (now() < end) {
        iters++;
        int s = socket(AF_INET, SOCK_STREAM, 0);
        cconnecting = s;
        dup2(s, 20);
        if (connect(20, (void *)caddr, sizeof cgood) == 0) ok++; else denied++;
        cconnecting = -1;
        close(20);
        close(s);
        int x;
        while ((x = accept(lis, 0, 0)) >= 0) close(x);
        if ((x = accept(bad, 0, 0)) >= 0) {
            say("ESCAPED toctou after %ld tries: the forbidden address was reached\n", iters);
            break;
        }
    }
    *fstop = 1;
    waitpid(c, NULL, __WALL);
    say("STATS iters=%ld ok=%ld denied=%ld other=0\n", iters, ok, denied);
    say("DONE\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) { say("usage: tm_netflip inet|abstract SECONDS GOODPORT BADPORT\n"); return 2; }
    int abstract = !strcmp(argv[1], "abstract");
    double end = now() + atof(argv[2]);
    if (!strcmp(argv[1], "connproc"))
        return connswap(end, atoi(argv[3]), atoi(argv[4]));
    if (!strncmp(argv[1], "fd", 2))
        return fdswap(!strcmp(argv[1], "fdproc"), end, atoi(argv[3]), atoi(argv[4]));
    union { struct sockaddr_in in; struct sockaddr_un un; } good, bad, *shared;
    memset(&good, 0, sizeof good);
    memset(&bad, 0, sizeof bad);
    socklen_t n;
    int goods[2], bads[2];
    if (abstract) {
        good.un.sun_family = bad.un.sun_family = AF_UNIX;
        memcpy(good.un.sun_path, "\0tm-good", 8);
        memcpy(bad.un.sun_path, "\0tm-bad_", 8);
        n = offsetof(struct sockaddr_un, sun_path) + 8;
        goods[0] = bound(SOCK_STREAM, (void *)&good, n);
        bads[0] = bound(SOCK_STREAM, (void *)&bad, n);
    } else {
        good.in.sin_family = bad.in.sin_family = AF_INET;
        good.in.sin_addr.s_addr = bad.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        good.in.sin_port = htons(atoi(argv[3]));
        bad.in.sin_port = htons(atoi(argv[4]));
        n = sizeof good.in;
        goods[0] = bound(SOCK_DGRAM, (void *)&good, n);
        goods[1] = bound(SOCK_STREAM, (void *)&good, n);
        bads[0] = bound(SOCK_DGRAM, (void *)&bad, n);
        bads[1] = bound(SOCK_STREAM, (void *)&bad, n);
    }
    shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    volatile int *stop = (volatile int *)((char *)shared + 2048);
    *shared = good;
    pid_t c = fork();
    if (c == 0) {
        while (!*stop) {
            memcpy((void *)shared, &bad, sizeof bad);
            memcpy((void *)shared, &good, sizeof good);
        }
        _exit(0);
    }
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    long iters = 0, ok = 0, denied = 0;
    char m[] = "x";
    struct iovec v = {m, 1};
    struct msghdr h = {.msg_name = shared, .msg_namelen = n, .msg_iov = &v, .msg_iovlen = 1};
    while (now() < end) {
        int r, k = iters++ % 3;
        if (abstract || k == 2) {
            int s = socket(abstract ? AF_UNIX : AF_INET, SOCK_STREAM, 0);
            r = connect(s, (void *)shared, n) == 0;
            close(s);
        } else if (k == 0)
            r = sendto(u, m, 1, 0, (void *)shared, n) == 1;
        else
            r = sendmsg(u, &h, 0) == 1;
        if (r) ok++; else denied++;
        if (reached(bads, abstract ? 1 : 2, goods, abstract ? 1 : 2)) {
            say("ESCAPED toctou after %ld tries: the forbidden address was reached\n", iters);
            break;
        }
    }
    *stop = 1;
    waitpid(c, NULL, 0);
    say("STATS iters=%ld ok=%ld denied=%ld other=0\n", iters, ok, denied);
    say("DONE\n");
    return 0;
}
