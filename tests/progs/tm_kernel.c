/* Threat model C22, C23, E27-E29: kernel attack surface, nested namespaces,
 * mount manipulation, handle opens, chroot escapes.  Usage: tm_kernel MODE [ARG]
 * Errors like EBADF/EINVAL/EFAULT mean the call reached the kernel. */
#include "tm_common.h"
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syslog.h>

static int child_fn(void *a) { (void)a; say("ESCAPED clone child in new namespace\n"); return 0; }

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const char *arg = argc > 2 ? argv[2] : "/tmp";

    if (0) {}
    /* E27 */
    MODE("bpf") {
        union bpf_attr at;
        memset(&at, 0, sizeof at);
        at.map_type = BPF_MAP_TYPE_ARRAY; at.key_size = 4; at.value_size = 4; at.max_entries = 1;
        report("bpf MAP_CREATE", syscall(SYS_bpf, BPF_MAP_CREATE, &at, sizeof at));
    }
    MODE("perf_event_open") {
        struct perf_event_attr pe;
        memset(&pe, 0, sizeof pe);
        pe.type = PERF_TYPE_SOFTWARE; pe.size = sizeof pe; pe.config = PERF_COUNT_SW_TASK_CLOCK;
        pe.exclude_kernel = 1;
        report("perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
    }
    MODE("userfaultfd") report("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC | 1 /*UFFD_USER_MODE_ONLY*/));
    MODE("keyctl") report("keyctl GET_KEYRING_ID", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1));
    MODE("add_key") report("add_key user", syscall(SYS_add_key, "user", "tm", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    MODE("request_key") report("request_key", syscall(SYS_request_key, "user", "tm-none", NULL, 0));
    MODE("kexec_load") report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    MODE("init_module") report("init_module", syscall(SYS_init_module, NULL, 0, ""));
    MODE("finit_module") report("finit_module", syscall(SYS_finit_module, -1, "", 0));
    MODE("delete_module") report("delete_module", syscall(SYS_delete_module, "tm_none", O_NONBLOCK));
    MODE("personality") {
        long r = report("personality READ_IMPLIES_EXEC", syscall(SYS_personality, READ_IMPLIES_EXEC));
        long now = syscall(SYS_personality, 0xffffffff);
        if (r >= 0 && now >= 0 && (now & READ_IMPLIES_EXEC)) say("ESCAPED persona now 0x%lx\n", now);
    }
    MODE("kcmp") report("kcmp", syscall(SYS_kcmp, getpid(), getpid(), 0 /*KCMP_FILE*/, 0, 0));
    MODE("acct") report("acct", syscall(SYS_acct, NULL));
    MODE("syslog") report("syslog READ_ALL", syscall(SYS_syslog, 3 /*SYSLOG_ACTION_READ_ALL*/, (char[64]){0}, 64));
    MODE("ptrace") report("ptrace TRACEME", syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0));
    MODE("pidfd_getfd_self") {
        long pfd = report("pidfd_open self", syscall(SYS_pidfd_open, getpid(), 0));
        report("pidfd_getfd self fd 1", syscall(SYS_pidfd_getfd, pfd, 1, 0));
    }
    /* E28 */
    MODE("unshare_user") report("unshare NEWUSER", unshare(CLONE_NEWUSER));
    MODE("unshare_ns") report("unshare NEWNS", unshare(CLONE_NEWNS));
    MODE("unshare_net") report("unshare NEWNET", unshare(CLONE_NEWNET));
    MODE("setns") {
        int fd = open("/proc/self/ns/net", O_RDONLY);
        report("setns net", syscall(SYS_setns, fd, CLONE_NEWNET));
    }
    MODE("clone_newuser") {
        static char stack[65536];
        long r = clone(child_fn, stack + sizeof stack, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, NULL);
        report("clone NEWUSER|NEWNS", r);
        if (r > 0) waitpid(r, NULL, 0);
    }
    MODE("clone_newnet") {
        static char stack[65536];
        long r = clone(child_fn, stack + sizeof stack, CLONE_NEWNET | SIGCHLD, NULL);
        report("clone NEWNET", r);
        if (r > 0) waitpid(r, NULL, 0);
    }
    /* E29 */
    MODE("mount_tmpfs") report("mount tmpfs over dir", mount("none", arg, "tmpfs", 0, NULL));
    MODE("remount_rw") report("remount bind rw", mount(NULL, arg, NULL, MS_REMOUNT | MS_BIND, NULL));
    MODE("umount") report("umount2", umount2(arg, MNT_DETACH));
    MODE("mount_proc") { mkdir("/tmp/p", 0755); report("mount proc", mount("proc", "/tmp/p", "proc", 0, NULL)); }
    MODE("mount_sysfs") { mkdir("/tmp/s", 0755); report("mount sysfs", mount("sysfs", "/tmp/s", "sysfs", 0, NULL)); }
    MODE("mount_cgroup") { mkdir("/tmp/c", 0755); report("mount cgroup v1", mount("cgroup", "/tmp/c", "cgroup", 0, "memory")); }
    /* C22 */
    MODE("name_to_handle_at") {
        struct { unsigned int bytes; int type; unsigned char f[128]; } h = {128, 0, {0}};
        int mnt;
        report("name_to_handle_at /", syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &h, &mnt, 0));
    }
    MODE("open_by_handle_at") {
        /* shocker: ext4 root inode 2, generation 0 */
        struct { unsigned int bytes; int type; unsigned char f[8]; } h = {8, 1, {2, 0, 0, 0, 0, 0, 0, 0}};
        long fd = report("open_by_handle_at", syscall(SYS_open_by_handle_at, 0, &h, O_RDONLY));
        (void)fd;
    }
    /* C23 */
    MODE("chroot") {
        mkdir("/tmp/cr", 0755);
        if (report("chroot /tmp/cr", chroot("/tmp/cr")) == 0) {
            for (int i = 0; i < 20; i++) chdir("..");
            report("chroot(.) after walking up", chroot("."));
        }
    }
    MODE("pivot_root") {
        mkdir("/tmp/pr", 0755);
        report("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp/pr"));
    }
    MODE("probe") {           /* ARG = a host path that must stay invisible */
        struct stat st;
        char p[4200];
        int hits = 0;
        const char *pre[] = {"", "/proc/self/root", "/proc/1/root", "/proc/self/cwd",
                             "/../../..", "/proc/1/cwd/../..", NULL};
        for (int i = 0; pre[i]; i++) {
            snprintf(p, sizeof p, "%s%s", pre[i], arg);
            if (stat(p, &st) == 0) { say("ESCAPED saw %s\n", p); hits++; }
        }
        int d = open("/", O_RDONLY | O_DIRECTORY);
        for (int i = 0; i < 20 && d >= 0; i++) { int n = openat(d, "..", O_RDONLY | O_DIRECTORY); close(d); d = n; }
        if (d >= 0 && fstatat(d, arg + 1, &st, 0) == 0) { say("ESCAPED saw %s via openat(..)\n", arg); hits++; }
        char cwd[4096] = {0};
        if (getcwd(cwd, sizeof cwd) && strncmp(cwd, "(unreachable)", 13) == 0) say("ESCAPED cwd %s\n", cwd);
        say("PROBE hits=%d cwd=%s\n", hits, cwd);
    }
    else { say("usage: unknown mode %s\n", mode); return 2; }
    say("DONE\n");
    return 0;
}
