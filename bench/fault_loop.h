/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fault_loop.h - the page-fault loop of the guests' benchmarks (kcost.c,
 * tracecost.c): N times map PAGES anonymous pages, write one byte into
 * each (one fault a page: no transparent huge pages) and unmap them.
 * Returns 0, or the name of the call that failed (errno set).
 */
#ifndef FAULT_LOOP_H
#define FAULT_LOOP_H

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

static inline const char *fault_loop(long n, long pages)
{
	long page = sysconf(_SC_PAGESIZE);

	for (long i = 0; i < n; i++) {
		char *p = mmap(NULL, pages * page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return "mmap";
		if (madvise(p, pages * page, MADV_NOHUGEPAGE) && errno != EINVAL)
			return "madvise";
		for (long j = 0; j < pages; j++)
			p[j * page] = 1;
		if (munmap(p, pages * page))
			return "munmap";
	}
	return 0;
}

#endif /* FAULT_LOOP_H */
