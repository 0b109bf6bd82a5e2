/* Shared helpers for the threat-model escape programs (tests/test_threat_*.py).
 *
 * Every attempt prints exactly one line, unbuffered (a seccomp kill must not
 * swallow what was already achieved):
 *   ESCAPED <what> rc=<n>         the dangerous call succeeded
 *   BLOCKED <what> errno=<n> <e>  it failed; the test checks *why* it failed
 * A program killed by the policy prints nothing more and tracejail exits 159.
 */
#ifndef TM_COMMON_H
#define TM_COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    if (n > 0 && write(1, buf, n) < 0)
        _exit(90);
}

__attribute__((unused)) static long report(const char *what, long rc)
{
    int e = errno;
    if (rc < 0)
        say("BLOCKED %s errno=%d %s\n", what, e, strerrorname_np(e) ? strerrorname_np(e) : "?");
    else
        say("ESCAPED %s rc=%ld\n", what, rc);
    errno = e;
    return rc;
}

/* Print the content of an fd (the canary text shows up in stdout if read). */
__attribute__((unused)) static void dump_fd(const char *what, int fd)
{
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0) n = 0;
    buf[n] = 0;
    say("READ %s: %s\n", what, buf);
}

#define MODE(name) else if (!strcmp(mode, name))
#endif
