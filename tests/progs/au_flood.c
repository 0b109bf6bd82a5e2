/* Floods supervised syscalls: openat(PATH, O_RDONLY) in a loop from THREADS
 * threads until killed.  After each successful open a thread bumps its slot
 * in COUNTER (a file mapped MAP_SHARED), so after a kill the test knows a
 * lower bound of the opens that really happened and returned.  Prints
 * "ready" after the first open.
 *   au_flood PATH COUNTER [THREADS] */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAXT 16
static const char *path;
static unsigned long *slots;

static void *loop(void *arg) {
    long me = (long)arg;
    for (unsigned long i = 0;; i++) {
        int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            __atomic_add_fetch(&slots[me * 8], 1, __ATOMIC_SEQ_CST);
            close(fd);
        }
        if (i == 0 && me == 0) { printf("ready\n"); fflush(stdout); }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    path = argv[1];
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    if (threads < 1 || threads > MAXT) return 2;
    int fd = open(argv[2], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, MAXT * 64) < 0) { perror("counter"); return 3; }
    slots = mmap(NULL, MAXT * 64, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (slots == MAP_FAILED) { perror("mmap"); return 3; }
    pthread_t t[MAXT];
    for (long i = 1; i < threads; i++)
        pthread_create(&t[i], NULL, loop, (void *)i);
    loop((void *)0);
    return 0;
}
