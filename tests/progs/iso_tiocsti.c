/* Terminal injection: push characters into the input queue of the terminal on fd 0
 * (TIOCSTI) and try to become its controlling process (TIOCSCTTY). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void) {
    const char *s = "echo INJECTED\n";
    int ok = 0;
    int r = ioctl(0, TIOCSCTTY, 0);
    printf("tiocsctty=%d\n", r);
    for (const char *p = s; *p; p++)
        if (ioctl(0, TIOCSTI, p) == 0) ok++;
    printf("tiocsti ok=%d errno=%s\n", ok, ok ? "-" : strerror(errno));
    return 0;
}
