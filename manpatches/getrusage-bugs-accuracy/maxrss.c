/* maxrss.c: ru_maxrss next to the exact resident set size.
 *
 * A child touches PAGES fresh pages, reads its exact resident set size
 * (Rss in /proc/self/smaps_rollup, a page-table walk) and its own
 * getrusage(RUSAGE_SELF), and exits; the parent prints both next to the
 * ru_maxrss that wait4(2) reports for the child.
 *
 * Usage: ./maxrss PAGES
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static long
exact_rss(void)
{
    char  line[256];
    long  kib = -1;
    FILE  *f;

    f = fopen("/proc/self/smaps_rollup", "r");
    if (f == NULL)
        err(EXIT_FAILURE, "/proc/self/smaps_rollup");
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "Rss: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static void
touch(long pages)
{
    long  size = sysconf(_SC_PAGESIZE);
    char  *p;

    p = mmap(NULL, pages * size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        err(EXIT_FAILURE, "mmap");
    for (long i = 0; i < pages; i++)
        p[i * size] = 1;
}

int
main(int argc, char *argv[])
{
    int            fd[2];
    long           pages, seen[2];
    pid_t          pid;
    struct rusage  ru;

    if (argc != 2) {
        fprintf(stderr, "Usage: %s PAGES\n", argv[0]);
        exit(EXIT_FAILURE);
    }
    pages = strtol(argv[1], NULL, 0);

    if (pipe(fd) == -1)
        err(EXIT_FAILURE, "pipe");
    pid = fork();
    if (pid == -1)
        err(EXIT_FAILURE, "fork");
    if (pid == 0) {
        touch(pages);
        seen[0] = exact_rss();
        if (getrusage(RUSAGE_SELF, &ru) == -1)
            err(EXIT_FAILURE, "getrusage");
        seen[1] = ru.ru_maxrss;
        if (write(fd[1], seen, sizeof(seen)) != sizeof(seen))
            err(EXIT_FAILURE, "write");
        _exit(EXIT_SUCCESS);
    }
    if (read(fd[0], seen, sizeof(seen)) != sizeof(seen))
        err(EXIT_FAILURE, "read");
    if (wait4(pid, NULL, 0, &ru) == -1)
        err(EXIT_FAILURE, "wait4");
    printf("exact %ld KiB, RUSAGE_SELF %ld KiB, wait4() %ld KiB\n",
           seen[0], seen[1], ru.ru_maxrss);
    exit(EXIT_SUCCESS);
}
