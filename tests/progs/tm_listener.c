/* Threat #7: install our own filter with a USER_NOTIF listener (which would
 * outrank the supervisor's RET_TRACE).  argv[1] = "plain" installs a harmless
 * filter without the flag (control); otherwise NEW_LISTENER is asked for. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct sock_filter insns[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
    struct sock_fprog prog = { 1, insns };
    unsigned flags = (argc > 1 && !strcmp(argv[1], "plain")) ? 0 : SECCOMP_FILTER_FLAG_NEW_LISTENER;
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    printf("%s %ld\n", flags ? "LISTENER" : "PLAIN", r);
    return 0;
}
