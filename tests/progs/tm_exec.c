/* Threat model D24/B15: ways to run a program the exec policy forbids.  The
 * forbidden program is expected to print its argv, which contains the marker
 * RAN-FORBIDDEN (e.g. PROG=/bin/echo).  Usage: tm_exec MODE PROG [EXTRA] */
#include "tm_common.h"
#include <sys/sendfile.h>

extern char **environ;

static int copy_to(int out, const char *src)
{
    int in = open(src, O_RDONLY);
    if (report("open source", in) < 0) return -1;
    struct stat st;
    fstat(in, &st);
    long n = sendfile(out, in, NULL, st.st_size);
    close(in);
    return n == st.st_size ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const char *prog = argc > 2 ? argv[2] : "/bin/echo";
    const char *extra = argc > 3 ? argv[3] : "/tmp/tm_payload";
    char *av[] = {(char *)prog, "RAN-FORBIDDEN", NULL};

    if (0) {}
    MODE("direct") report("execve", execve(prog, av, environ));
    MODE("execveat") report("execveat AT_FDCWD", syscall(SYS_execveat, AT_FDCWD, prog, av, environ, 0));
    MODE("execveat_dirfd") {          /* PROG is a directory, EXTRA a name in it */
        int d = open(prog, O_RDONLY | O_DIRECTORY);
        char *av2[] = {(char *)extra, "RAN-FORBIDDEN", NULL};
        report("execveat dirfd", syscall(SYS_execveat, d, extra, av2, environ, 0));
    }
    MODE("fexecve") {
        int fd = open(prog, O_RDONLY);
        report("open prog", fd);
        report("execveat(fd, \"\", AT_EMPTY_PATH)", syscall(SYS_execveat, fd, "", av, environ, AT_EMPTY_PATH));
    }
    MODE("opath_fexecve") {
        int fd = open(prog, O_PATH);
        report("open prog O_PATH", fd);
        report("execveat(O_PATH fd, AT_EMPTY_PATH)", syscall(SYS_execveat, fd, "", av, environ, AT_EMPTY_PATH));
    }
    MODE("memfd") {
        int fd = memfd_create("innocent", MFD_CLOEXEC);
        if (report("memfd_create", fd) < 0 || copy_to(fd, prog) < 0) return 0;
        report("execveat(memfd, AT_EMPTY_PATH)", syscall(SYS_execveat, fd, "", av, environ, AT_EMPTY_PATH));
    }
    MODE("procfd") {
        int fd = open(prog, O_RDONLY);
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        report("open prog", fd);
        report("execve /proc/self/fd/N", execve(p, av, environ));
    }
    MODE("copy") {                    /* jail-written copy at EXTRA */
        int fd = open(extra, O_WRONLY | O_CREAT | O_TRUNC, 0755);
        if (report("create copy", fd) < 0 || copy_to(fd, prog) < 0) return 0;
        close(fd);
        av[0] = (char *)extra;
        report("execve jail-written copy", execve(extra, av, environ));
    }
    MODE("ldso") {                    /* EXTRA = the dynamic loader */
        char *av2[] = {(char *)extra, (char *)prog, "RAN-FORBIDDEN", NULL};
        report("execve ld.so PROG", execve(extra, av2, environ));
    }
    MODE("copy_ldso") {               /* jail-written copy run through ld.so */
        int fd = open("/tmp/tm_payload", O_WRONLY | O_CREAT | O_TRUNC, 0755);
        if (report("create copy", fd) < 0 || copy_to(fd, prog) < 0) return 0;
        close(fd);
        char *av2[] = {(char *)extra, "/tmp/tm_payload", "RAN-FORBIDDEN", NULL};
        report("execve ld.so /tmp/tm_payload", execve(extra, av2, environ));
    }
    MODE("mmap_exec") {               /* PROT_EXEC mapping of a jail-written file */
        int fd = open(extra, O_RDWR | O_CREAT | O_TRUNC, 0755);
        if (report("create payload", fd) < 0 || copy_to(fd, prog) < 0) return 0;
        void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
        report("mmap PROT_EXEC jail-written file", m == MAP_FAILED ? -1 : 0);
    }
    else { say("usage: unknown mode %s\n", mode); return 2; }
    say("DONE\n");
    return 0;
}
