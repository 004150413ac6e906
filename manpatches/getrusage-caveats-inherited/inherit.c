/* inherit.c: the ru_maxrss of a tiny program started by a large one.
 *
 * The program runs true(1) with posix_spawn(3), touches MIB MiB, and
 * runs true(1) again with posix_spawn(3) and with fork(2) and
 * execve(2).  It prints the ru_maxrss that wait4(2) reports for each
 * child.
 *
 * Usage: ./inherit MIB
 */
#include <err.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char  **environ;
static char  *args[] = {"true", NULL};

static long
maxrss_of(pid_t pid)
{
    struct rusage  ru;

    if (wait4(pid, NULL, 0, &ru) == -1)
        err(EXIT_FAILURE, "wait4");
    return ru.ru_maxrss;
}

static long
spawn_true(void)
{
    pid_t  pid;

    if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ) != 0)
        errx(EXIT_FAILURE, "posix_spawn");
    return maxrss_of(pid);
}

int
main(int argc, char *argv[])
{
    char   *p;
    long   mib;
    pid_t  pid;

    if (argc != 2) {
        fprintf(stderr, "Usage: %s MIB\n", argv[0]);
        exit(EXIT_FAILURE);
    }
    mib = strtol(argv[1], NULL, 0);
    printf("true(1), ru_maxrss in KiB:\n");
    printf("  small parent, posix_spawn(3):      %6ld\n", spawn_true());

    p = malloc(mib << 20);
    if (p == NULL)
        err(EXIT_FAILURE, "malloc");
    memset(p, 1, mib << 20);
    printf("  %3ld MiB parent, posix_spawn(3):    %6ld\n",
           mib, spawn_true());

    pid = fork();
    if (pid == -1)
        err(EXIT_FAILURE, "fork");
    if (pid == 0) {
        execve("/bin/true", args, environ);
        _exit(127);
    }
    printf("  %3ld MiB parent, fork(2), execve(2): %6ld\n",
           mib, maxrss_of(pid));
    exit(EXIT_SUCCESS);
}
