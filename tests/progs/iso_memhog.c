/* Touch argv[1] MB of memory, one page at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    long mb = argc > 1 ? atol(argv[1]) : 100;
    for (long i = 0; i < mb; i++) {
        char *p = malloc(1 << 20);
        if (!p) { printf("malloc failed at %ld\n", i); return 3; }
        memset(p, 1, 1 << 20);
    }
    printf("allocated %ld MB\n", mb);
    return 0;
}
