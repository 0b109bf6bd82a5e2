/* Dies of SIGSEGV (a kernel-forced signal kills even a pid-namespace init). */
int main(void) { volatile int *p = 0; *p = 1; return 0; }
