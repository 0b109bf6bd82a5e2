/* Threat model A1-A6: foreign ABIs, high argument bits, forgotten syscalls,
 * flags inside structs (clone3), io_uring.  Usage: tm_abi MODE [PATH] */
#include "tm_common.h"
#include <linux/io_uring.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <sys/ioctl.h>

#define X32 0x40000000L

static long int80(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c)
                     : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

/* A copy of s in memory below 4 GiB, reachable by 32-bit pointers. */
static char *low_copy(const char *s)
{
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (p == MAP_FAILED) { say("SETUP mmap32 failed\n"); exit(3); }
    strncpy(p, s, 4000);
    return p;
}

static long kret(long r)   /* raw kernel return -> libc convention */
{
    if (r < 0 && r > -4096) { errno = -r; return -1; }
    return r;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const char *path = argc > 2 ? argv[2] : "/tmp/tm_abi_canary";
    char c = 'x';

    if (0) {}
    /* A1: i386 ABI from a 64-bit process */
    MODE("i386_getpid") report("i386 getpid", kret(int80(20, 0, 0, 0)));
    MODE("i386_open") {
        long fd = report("i386 open", kret(int80(5, (long)low_copy(path), O_CREAT | O_WRONLY, 0644)));
        if (fd >= 0) say("ESCAPED wrote %ld\n", (long)write(fd, "i386\n", 5));
    }
    MODE("i386_openat") {
        long fd = report("i386 openat", kret(int80(295, AT_FDCWD, (long)low_copy(path), O_CREAT | O_WRONLY)));
        if (fd >= 0) say("ESCAPED wrote %ld\n", (long)write(fd, "i386\n", 5));
    }
    /* A2: x32 numbers */
    MODE("x32_getpid") report("x32 getpid", syscall(X32 | 39));
    MODE("x32_openat") report("x32 openat", syscall(X32 | 257, AT_FDCWD, path, O_CREAT | O_WRONLY, 0644));
    MODE("x32_execve") {
        char *av[] = {"/bin/true", NULL};
        report("x32 execve", syscall(X32 | 520, "/bin/true", av, NULL));
    }
    MODE("nr_520") {            /* x32 execve number without the x32 bit */
        char *av[] = {"/bin/true", NULL};
        report("nr 520", syscall(520, "/bin/true", av, NULL));
    }
    /* A3 / E30: TIOCSTI with and without garbage in the high 32 bits.  stdin is a
     * pipe: ENOTTY means the request reached the tty layer unfiltered. */
    MODE("tiocsti") report("ioctl TIOCSTI", syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI, &c));
    MODE("tiocsti_hi") report("ioctl TIOCSTI|1<<32", syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI | (1UL << 32), &c));
    MODE("tioclinux") { char sub = 6; report("ioctl TIOCLINUX", syscall(SYS_ioctl, 0, (unsigned long)TIOCLINUX, &sub)); }
    MODE("tioclinux_hi") { char sub = 6; report("ioctl TIOCLINUX|1<<32", syscall(SYS_ioctl, 0, (unsigned long)TIOCLINUX | (7UL << 32), &sub)); }
    /* A4: forgotten / new syscalls.  EBADF/EINVAL = reached the kernel. */
    MODE("fsopen") report("fsopen tmpfs", syscall(SYS_fsopen, "tmpfs", 0));
    MODE("fsconfig") report("fsconfig", syscall(SYS_fsconfig, -1, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
    MODE("fsmount") report("fsmount", syscall(SYS_fsmount, -1, 0, 0));
    MODE("move_mount") report("move_mount", syscall(SYS_move_mount, -1, "", -1, "", 0));
    MODE("open_tree") report("open_tree clone /tmp", syscall(SYS_open_tree, AT_FDCWD, "/tmp", OPEN_TREE_CLONE));
    MODE("mount_setattr") {
        struct mount_attr a = {0};
        a.attr_clr = MOUNT_ATTR_RDONLY;
        report("mount_setattr / rw", syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, &a, sizeof a));
    }
    MODE("pidfd_getfd") report("pidfd_getfd", syscall(SYS_pidfd_getfd, -1, 0, 0));
    MODE("process_madvise") report("process_madvise", syscall(SYS_process_madvise, -1, NULL, 0, 0, 0));
    MODE("nr1000") report("syscall 1000", syscall(1000, 0, 0, 0));
    /* A5: clone3 with namespace / untraced flags in the struct */
    MODE("clone3_newuser") {
        struct clone_args ca = {0};
        ca.flags = CLONE_NEWUSER | CLONE_UNTRACED;
        ca.exit_signal = SIGCHLD;
        long r = syscall(SYS_clone3, &ca, sizeof ca);
        if (r == 0) { say("ESCAPED clone3 child running\n"); _exit(0); }
        report("clone3 NEWUSER|UNTRACED", r);
        if (r > 0) waitpid(r, NULL, 0);
    }
    MODE("clone3_plain") {
        struct clone_args ca = {0};
        ca.exit_signal = SIGCHLD;
        long r = syscall(SYS_clone3, &ca, sizeof ca);
        if (r == 0) { say("CHILD clone3 child running\n"); _exit(0); }
        report("clone3 plain", r);
        if (r > 0) waitpid(r, NULL, 0);
    }
    MODE("clone3_untraced") {
        struct clone_args ca = {0};
        ca.flags = CLONE_UNTRACED;
        ca.exit_signal = SIGCHLD;
        long r = syscall(SYS_clone3, &ca, sizeof ca);
        if (r == 0) { say("ESCAPED clone3 untraced child running\n"); _exit(0); }
        report("clone3 UNTRACED", r);
        if (r > 0) waitpid(r, NULL, 0);
    }
    /* A6: io_uring */
    MODE("io_uring_setup") {
        struct io_uring_params p = {0};
        report("io_uring_setup", syscall(SYS_io_uring_setup, 4, &p));
    }
    MODE("io_uring_enter") report("io_uring_enter", syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
    MODE("io_uring_register") report("io_uring_register", syscall(SYS_io_uring_register, -1, 0, NULL, 0));
    else { say("usage: unknown mode %s\n", mode); return 2; }
    say("DONE\n");
    return 0;
}
