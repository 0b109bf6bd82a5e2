/* Threat model E33: ways around a connect rule.  A child in the jail listens on
 * 127.0.0.1:BAD (udp+tcp) and on abstract unix "@tm-bad"; the parent tries to
 * reach them with every address-carrying syscall.  Each delivery the child sees
 * prints "RECEIVED <tag>".  Usage: tm_net GOODPORT BADPORT [IP]
 * With IP, no listener is started and the attempts go to IP:BADPORT (a host
 * address; the test listens there itself). */
#include "tm_common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

static const char *target_ip = "127.0.0.1";

static struct sockaddr_in v4(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, target_ip, &a.sin_addr);
    return a;
}

static void server(int port, int ready)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
    int x = socket(AF_UNIX, SOCK_DGRAM, 0), one = 1;
    struct sockaddr_in a = v4(port);
    struct sockaddr_un ua = {.sun_family = AF_UNIX};
    memcpy(ua.sun_path, "\0tm-bad", 7);
    setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(t, IPPROTO_TCP, TCP_FASTOPEN, &(int){5}, sizeof(int));
    if (bind(u, (void *)&a, sizeof a) || bind(t, (void *)&a, sizeof a) || listen(t, 8)
        || bind(x, (void *)&ua, offsetof(struct sockaddr_un, sun_path) + 7)) {
        say("SETUP server bind failed errno=%d\n", errno);
        _exit(3);
    }
    if (write(ready, "r", 1) < 0) _exit(3);
    struct pollfd p[3] = {{u, POLLIN, 0}, {t, POLLIN, 0}, {x, POLLIN, 0}};
    while (poll(p, 3, 1500) > 0) {
        char buf[256] = {0};
        for (int i = 0; i < 3; i++) {
            if (!(p[i].revents & POLLIN)) continue;
            int fd = p[i].fd;
            if (i == 1) {
                fd = accept(t, NULL, NULL);
                say("RECEIVED tcp-connection\n");
                struct pollfd q = {fd, POLLIN, 0};
                if (poll(&q, 1, 300) <= 0) { close(fd); continue; }
            }
            ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
            if (n > 0) say("RECEIVED %s\n", buf);
            if (i == 1) close(fd);
        }
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    int good = argc > 1 ? atoi(argv[1]) : 5001, bad = argc > 2 ? atoi(argv[2]) : 5002;
    int pfd[2];
    char c;
    pid_t srv = -1;
    if (argc > 3) {
        target_ip = argv[3];
    } else {
        if (pipe(pfd) < 0) return 3;
        srv = fork();
        if (srv == 0) server(bad, pfd[1]);
        if (read(pfd[0], &c, 1) != 1) { say("SETUP server did not start\n"); return 3; }
    }
    char mapped[64];
    snprintf(mapped, sizeof mapped, "::ffff:%s", target_ip);

    struct sockaddr_in g = v4(good), b = v4(bad);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    report("connect tcp good port", connect(s, (void *)&g, sizeof g));   /* control: ECONNREFUSED */
    s = socket(AF_INET, SOCK_STREAM, 0);
    report("connect tcp bad port", connect(s, (void *)&b, sizeof b));
    if (send(s, "tcp-connect", 11, MSG_NOSIGNAL) < 0) {}

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    report("sendto udp", sendto(u, "udp-sendto", 10, 0, (void *)&b, sizeof b));
    struct iovec iov = {"udp-sendmsg", 11};
    struct msghdr m = {.msg_name = &b, .msg_namelen = sizeof b, .msg_iov = &iov, .msg_iovlen = 1};
    report("sendmsg udp", sendmsg(u, &m, 0));
    struct iovec iov2 = {"udp-sendmmsg", 12};
    struct mmsghdr mm = {.msg_hdr = {.msg_name = &b, .msg_namelen = sizeof b, .msg_iov = &iov2, .msg_iovlen = 1}};
    report("sendmmsg udp", sendmmsg(u, &mm, 1, 0));

    int f = socket(AF_INET, SOCK_STREAM, 0);
    report("sendto MSG_FASTOPEN", sendto(f, "tcp-fastopen", 12, MSG_FASTOPEN | MSG_NOSIGNAL, (void *)&b, sizeof b));

    int s6 = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 m6 = {.sin6_family = AF_INET6, .sin6_port = htons(bad)};
    inet_pton(AF_INET6, mapped, &m6.sin6_addr);
    report("sendto v4-mapped v6", sendto(s6, "udp-v4mapped", 12, 0, (void *)&m6, sizeof m6));
    int t6 = socket(AF_INET6, SOCK_STREAM, 0);
    report("connect v4-mapped v6", connect(t6, (void *)&m6, sizeof m6));

    int x = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un ua = {.sun_family = AF_UNIX};
    memcpy(ua.sun_path, "\0tm-bad", 7);
    report("sendto abstract unix", sendto(x, "unix-abstract", 13, 0, (void *)&ua, offsetof(struct sockaddr_un, sun_path) + 7));

    int u2 = socket(AF_INET, SOCK_DGRAM, 0);
    report("connect udp bad port", connect(u2, (void *)&b, sizeof b));
    if (send(u2, "udp-connected", 13, 0) < 0) {}

    int u3 = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in big[2] = {b, b};
    report("sendto udp long addrlen", sendto(u3, "udp-longlen", 11, 0, (void *)big, sizeof big));

    if (srv > 0) waitpid(srv, NULL, 0);
    say("DONE\n");
    return 0;
}
