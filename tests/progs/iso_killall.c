/* Signal sweep from inside the jail: kill(-1), and a pid sweep over 2..argv[1]. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int hits = 0, max = argc > 1 ? atoi(argv[1]) : 0;
    int r = kill(-1, SIGKILL);
    printf("kill(-1)=%d errno=%d\n", r, r ? errno : 0);
    for (int pid = 2; pid <= max; pid++)
        if (pid != getpid() && kill(pid, SIGKILL) == 0) hits++;
    printf("sweep hits=%d\n", hits);
    return 0;
}
