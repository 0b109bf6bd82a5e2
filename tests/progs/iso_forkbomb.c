/* Fork until fork fails (or 500 children); report how many were created. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int n = 0;
    for (; n < 500; n++) {
        pid_t p = fork();
        if (p < 0) break;
        if (p == 0) { for (;;) pause(); }
    }
    printf("children=%d\n", n);
    fflush(stdout);
    return 0;
}
