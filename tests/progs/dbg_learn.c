/* A small program for learn round trips: names its thread, reads a file, opens a
 * socket of the family named on the command line, prints what it did.
 *   dbg_learn FILE unix|inet|inet6
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    prctl(PR_SET_NAME, "dbg_learn", 0, 0, 0);
    char buf[64] = {0};
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { perror("open"); return 1; }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    int fam = !strcmp(argv[2], "unix") ? AF_UNIX : !strcmp(argv[2], "inet") ? AF_INET : AF_INET6;
    int s = socket(fam, SOCK_STREAM, 0);
    if (s < 0) { perror("socket"); return 1; }
    close(s);
    printf("read %zd bytes, socket %s ok\n", n, argv[2]);
    return 0;
}
