/* A crash in the jail's pid 1 (the command itself).  Modes:
 *   segv   - null write with the default SIGSEGV action: must die with 139
 *   caught - same fault with a handler: the handler runs (exit 7)
 *   fpe    - integer division by zero: must die with 136 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void handler(int s) { (void)s; write(1, "caught\n", 7); _exit(7); }

int main(int argc, char **argv) {
    volatile int zero = 0;
    if (argc > 1 && !strcmp(argv[1], "caught"))
        signal(SIGSEGV, handler);
    if (argc > 1 && !strcmp(argv[1], "fpe"))
        return (argc * 1000) / zero;   /* not 1/x: gcc folds that into a compare */
    *(volatile int *)0 = 1;
    return 0;
}
