/* Floods supervised syscalls: openat(PATH) in a loop, from N threads, until
 * killed (or COUNT calls per thread if given).  Prints "ready" after the first
 * round so a test knows the flood is on.
 *   au_flood PATH [THREADS] [COUNT] */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *path;
static long count;

static void *loop(void *arg) {
    (void)arg;
    for (long i = 0; count == 0 || i < count; i++) {
        int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) close(fd);
        if (i == 0 && arg == NULL) { printf("ready\n"); fflush(stdout); }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    path = argv[1];
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    count = argc > 3 ? atol(argv[3]) : 0;
    pthread_t t[64];
    for (int i = 1; i < threads && i < 64; i++)
        pthread_create(&t[i], NULL, loop, (void *)1);
    loop(NULL);
    for (int i = 1; i < threads && i < 64; i++)
        pthread_join(t[i], NULL);
    return 0;
}
