// SPDX-License-Identifier: GPL-2.0
/*
 * The ru_maxrss that wait4() and getrusage(RUSAGE_CHILDREN) report for an
 * exited child must include every page the child had mapped when it exited.
 *
 * Each child faults pages on every CPU of its affinity set in turn, so
 * that each CPU's share of the mm's per-CPU RSS counters holds pages not
 * yet folded into the global count.  It then reads its exact RSS from
 * smaps_rollup (a page table walk), sends it to the parent and exits
 * without faulting again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#define CHILDREN	8
/* Fewer than the smallest percpu_counter batch (32): nothing forces a fold. */
#define PAGES_PER_CPU	21

/* "Rss:" of /proc/self/smaps_rollup in KiB, or -1; uses the stack only. */
static long rollup_rss_kib(void)
{
	char buf[4096];
	size_t len = 0;
	ssize_t n;
	char *rss;
	int fd;

	fd = open("/proc/self/smaps_rollup", O_RDONLY);
	if (fd < 0)
		return -1;
	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	rss = strstr(buf, "\nRss:");
	return rss ? strtol(rss + strlen("\nRss:"), NULL, 10) : -1;
}

/* Fault pages on each CPU it may run on, then report the exact RSS twice. */
static void child(int fd)
{
	long page_size = sysconf(_SC_PAGESIZE);
	cpu_set_t allowed, one;
	long rss;
	char *mem;
	int cpu, i, round;

	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		_exit(1);
	mem = mmap(NULL, CPU_COUNT(&allowed) * PAGES_PER_CPU * page_size,
		   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		_exit(1);
	/* A THP fault would add 512 pages at once and fold the counter. */
	madvise(mem, CPU_COUNT(&allowed) * PAGES_PER_CPU * page_size,
		MADV_NOHUGEPAGE);
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &allowed))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one))
			_exit(1);
		for (i = 0; i < PAGES_PER_CPU; i++, mem += page_size)
			*mem = 1;
	}
	/*
	 * The first round faults in the code and stack the second one uses,
	 * so the second value is the RSS this child exits with.
	 */
	for (round = 0; round < 2; round++) {
		rss = rollup_rss_kib();
		if (write(fd, &rss, sizeof(rss)) != sizeof(rss))
			_exit(1);
	}
	_exit(0);
}

/* Start a child; return its exact RSS at exit and its wait4() rusage. */
static long run_child(struct __test_metadata *_metadata, struct rusage *ru)
{
	long rss[2];
	size_t got = 0;
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(fds[0]);
		child(fds[1]);
	}
	close(fds[1]);
	while (got < sizeof(rss)) {
		n = read(fds[0], (char *)rss + got, sizeof(rss) - got);
		if (n <= 0)
			break;
		got += n;
	}
	close(fds[0]);
	ASSERT_EQ(pid, wait4(pid, &status, 0, ru));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(sizeof(rss), got);
	ASSERT_LT(0, rss[1]);
	return rss[1];
}

TEST(wait4_maxrss_is_rss_at_exit)
{
	long exact, largest = 0;
	struct rusage ru;
	int i;

	if (access("/proc/self/smaps_rollup", R_OK))
		SKIP(return, "no /proc/self/smaps_rollup (CONFIG_PROC_PAGE_MONITOR=n)");

	for (i = 0; i < CHILDREN; i++) {
		exact = run_child(_metadata, &ru);
		if (exact > largest)
			largest = exact;
		EXPECT_EQ(exact, ru.ru_maxrss) {
			TH_LOG("child %d: ru_maxrss %ld KiB, RSS at exit %ld KiB",
			       i, ru.ru_maxrss, exact);
		}
	}
	ASSERT_EQ(0, getrusage(RUSAGE_CHILDREN, &ru));
	EXPECT_EQ(largest, ru.ru_maxrss) {
		TH_LOG("RUSAGE_CHILDREN ru_maxrss %ld KiB, largest child %ld KiB",
		       ru.ru_maxrss, largest);
	}
}

TEST_HARNESS_MAIN
