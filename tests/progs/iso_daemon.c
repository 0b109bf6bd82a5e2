/* Double fork + setsid daemon that tries to outlive the jail: argv[1] is a
 * token the test looks for in every host process's cmdline afterwards. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    pid_t p = fork();
    if (p == 0) {
        setsid();
        signal(SIGHUP, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        if (fork() == 0) {
            for (;;) pause();
        }
        _exit(0);
    }
    usleep(200000);
    printf("daemon started\n");
    return 0;
}
