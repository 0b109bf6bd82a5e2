/* TOCTOU (threat #11): a second thread flips the path buffer between an
 * allowed path and the canary while the main thread keeps calling
 * open(O_CREAT) on it.  usage: sv_race ALLOWED CANARY OPENS */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char buf[4096];
static const char *good, *bad;
static atomic_long flips;
static atomic_int done;

static void *flipper(void *p) {
    (void)p;
    size_t n = strlen(good) > strlen(bad) ? strlen(good) : strlen(bad);
    (void)n;
    for (long i = 0; !atomic_load_explicit(&done, memory_order_relaxed); i++) {
        const char *src = (i & 1) ? bad : good;
        memcpy(buf, src, strlen(src) + 1);
        atomic_fetch_add_explicit(&flips, 1, memory_order_relaxed);
    }
    return NULL;
}

int main(int argc, char **argv) {
    good = argv[1];
    bad = argv[2];
    long want = strtol(argv[3], NULL, 10);
    strcpy(buf, good);
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    long opens = 0, ok = 0, denied = 0;
    while (opens < want) {
        int fd = open(buf, O_CREAT | O_WRONLY, 0644);
        opens++;
        if (fd >= 0) { ok++; close(fd); } else if (errno == EACCES) denied++;
    }
    atomic_store(&done, 1);
    pthread_join(t, NULL);
    printf("opens %ld ok %ld denied %ld flips %ld\n", opens, ok, denied, atomic_load(&flips));
    return 0;
}
