// SPDX-License-Identifier: GPL-2.0
/*
 * kcost - the cost of the paths the kernel patches touch, timed in a guest.
 *
 * Does: "fork_exit N": N times fork a child that exits at once and reap it
 *   with wait4 (do_exit() records the peak RSS at group exit);
 *   "fault N PAGES": N times map PAGES anonymous pages, write one byte
 *   into each (one page fault each) and unmap them (the munmap path
 *   updates hiwater_rss).  Times the whole loop with CLOCK_MONOTONIC.
 * Usage: kcost OUT fork_exit N | kcost OUT fault N PAGES
 * Output: one JSON line in OUT: test, iterations, ops (forks or faults),
 *   ns, ns_per_op.  Exit 0, 1 on a failed syscall, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "fault_loop.h"

static void die(const char *what)
{
	fprintf(stderr, "kcost: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long long now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		die("clock_gettime");
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long fork_exit(long n)
{
	long long t0 = now_ns();
	struct rusage ru;
	int st;

	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0)
			_exit(0);
		if (wait4(pid, &st, 0, &ru) != pid)
			die("wait4");
	}
	return now_ns() - t0;
}

static long long fault(long n, long pages)
{
	long long t0 = now_ns();
	const char *failed = fault_loop(n, pages);

	if (failed)
		die(failed);
	return now_ns() - t0;
}

int main(int argc, char **argv)
{
	long n, pages = 1, ops;
	long long ns;
	FILE *out;

	if (argc < 4 || (n = atol(argv[3])) <= 0)
		goto usage;
	if (!strcmp(argv[2], "fork_exit")) {
		ns = fork_exit(n);
		ops = n;
	} else if (!strcmp(argv[2], "fault") && argc == 5 && (pages = atol(argv[4])) > 0) {
		ns = fault(n, pages);
		ops = n * pages;
	} else {
		goto usage;
	}
	out = fopen(argv[1], "w");
	if (!out)
		die(argv[1]);
	fprintf(out, "{\"test\":\"%s\",\"iterations\":%ld,\"ops\":%ld,\"ns\":%lld,"
		"\"ns_per_op\":%.1f}\n", argv[2], n, ops, ns, (double)ns / ops);
	if (fclose(out))
		die("fclose");
	return 0;
usage:
	fprintf(stderr, "usage: kcost OUT fork_exit N | kcost OUT fault N PAGES\n");
	return 2;
}
