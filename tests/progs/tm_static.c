/* Threat model D26: a static, libc-free binary whose very first instruction is
 * a forbidden syscall (ptrace TRACEME).  Built with -static -nostdlib. */
static long sys(long nr, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

void _start(void)
{
    long r = sys(101, 0, 0, 0);        /* ptrace(PTRACE_TRACEME) */
    static const char ok[] = "ESCAPED static ptrace TRACEME\n";
    static const char no[] = "BLOCKED static ptrace TRACEME\n";
    if (r == 0) sys(1, 1, (long)ok, sizeof ok - 1);
    else sys(1, 1, (long)no, sizeof no - 1);
    sys(60, 0, 0, 0);
    for (;;) ;
}
