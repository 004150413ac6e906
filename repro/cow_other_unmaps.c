// SPDX-License-Identifier: GPL-2.0
/*
 * cow_other_unmaps - a counter driven below zero reads as 0, so RSS reads high.
 *
 * Does: writes a shmem file (memfd) of WRITERS x PAGES pages, maps it
 *   MAP_PRIVATE (no transparent huge pages) and reads one byte of every
 *   page, so that every page is mapped read-only from the file.  Then
 *   WRITERS threads each write one byte into each of their own PAGES pages
 *   (a copy-on-write fault per page) and park, alive.  The main thread
 *   unmaps the whole region, then reads its own /proc/self/status (VmRSS,
 *   RssAnon, RssFile, RssShmem) and statm between two exact readings
 *   (smaps_rollup), while the writers are still parked.  Then it grows:
 *   it maps twice as many pages of a second shmem file, reads every page,
 *   folds its own cache (munmap() of a scratch page) and reads VmHWM,
 *   getrusage(RUSAGE_SELF) ru_maxrss and its exact RSS, now its peak.
 *   Then it lets the writers exit, joins them, and exits.
 * Cause (2.6.34 .. 6.1): mm/memory.c:wp_page_copy() counts each copy as
 *   -1 file (here shmem) and +1 anonymous page in the writing thread's
 *   cache (dec/inc_mm_counter_fast()), folded only on its 66th fault after
 *   the last fold or at its exit.  The main thread's munmap() subtracts the
 *   anonymous pages from the mm's counter at once
 *   (zap_pte_range() -> add_mm_rss_vec()), driving MM_ANONPAGES below
 *   zero while MM_SHMEMPAGES still counts the file pages the writers
 *   replaced.  include/linux/mm.h:get_mm_counter() reads a negative
 *   counter as 0, so VmRSS and statm read too high, by at most the pages
 *   the live threads' caches subtract: one per copy-on-write fault, at
 *   most 66 per thread.  Once the process has grown past its old peak,
 *   VmHWM and ru_maxrss (get_mm_hiwater_rss(): get_mm_rss()) read that
 *   much above the true peak.
 *   Commit 34e55232e59f7b19050267a05ff1226e5cd122a5.
 * Cause (6.2 ..): the counters are per-CPU; get_mm_counter() reads the
 *   folded part with percpu_counter_read_positive(), which clamps too;
 *   /proc/PID/status sums the per-CPU parts since 6.16
 *   (get_mm_counter_sum()).
 *   Commit f1a7941243c102a44e8847e3b94ff4ff3ec56f25.
 * Usage: cow_other_unmaps WRITERS PAGES
 * Output: one JSON line: writers, pages, live_vmrss_kib, live_rss_anon_kib,
 *   live_rss_file_kib, live_rss_shmem_kib, live_statm_kib, live_exact_kib,
 *   live_exact_after_kib, live_anon_kib, grown_vmhwm_kib,
 *   grown_self_maxrss_kib, grown_exact_kib, peak_exact_kib (the larger of
 *   the exact RSS before the munmap and after growing), peak_anon_kib
 *   (before the munmap).
 */
#include "rsslab.h"

#include <pthread.h>

static const char usage[] = "cow_other_unmaps WRITERS PAGES";
static const char *const arg_names[] = { "WRITERS", "PAGES" };
static const size_t thread_stack = 64 * 1024;

struct writer {
	pthread_t tid;
	char *base;		/* this writer's first page */
	long pages;
	long page;
	pthread_barrier_t *done;	/* all pages written */
	int park;		/* read end: returns when the main thread closes it */
};

static void *write_pages(void *arg)
{
	struct writer *w = arg;
	char c;

	rsslab_touch(w->base, w->pages, w->page);
	rsslab_barrier_wait(w->done);
	while (read(w->park, &c, 1) < 0)
		if (errno != EINTR)
			die("read the park pipe");
	return NULL;
}

/* A shmem file of pages pages, every byte written; returns its fd. */
static int make_file(long pages, long page)
{
	char *chunk;
	int fd;

	fd = memfd_create("rsslab-cow", MFD_CLOEXEC);
	if (fd < 0)
		die("memfd_create");
	chunk = rsslab_map_anon(1, page);
	memset(chunk, 'c', (size_t)page);
	for (long i = 0; i < pages; i++)
		rsslab_write_all(fd, chunk, (size_t)page, "the shmem file");
	if (munmap(chunk, (size_t)page))
		die("munmap");
	return fd;
}

/*
 * The status fields named in keys (status name, report key) and, with
 * statm_key, statm's resident field; read into buffers at a fixed stack
 * address, so that only the first call can fault.
 */
static __attribute__((noinline)) void
read_status(struct rsslab_report *r, const char *const keys[][2], size_t n,
	    const char *statm_key, long page)
{
	char buf[RSSLAB_PROC_BUF];
	long size, resident;

	if (rsslab_read_file("/proc/self/status", buf, sizeof(buf)) < 0)
		die("read /proc/self/status");
	for (size_t i = 0; i < n; i++) {
		long v = rsslab_field(buf, keys[i][0]);

		if (v < 0) {
			errno = 0;
			die("no '%s:' line in /proc/self/status", keys[i][0]);
		}
		rsslab_rep_int(r, keys[i][1], v);
	}
	if (!statm_key)
		return;
	if (rsslab_read_file("/proc/self/statm", buf, sizeof(buf)) < 0)
		die("read /proc/self/statm");
	if (sscanf(buf, "%ld %ld", &size, &resident) != 2) {
		errno = 0;
		die("cannot parse /proc/self/statm: '%.60s'", buf);
	}
	rsslab_rep_int(r, statm_key, resident * (page / 1024));
}

static const char *const live_keys[][2] = {
	{ "VmRSS", "live_vmrss_kib" },
	{ "RssAnon", "live_rss_anon_kib" },
	{ "RssFile", "live_rss_file_kib" },
	{ "RssShmem", "live_rss_shmem_kib" },
};
static const char *const grown_keys[][2] = { { "VmHWM", "grown_vmhwm_kib" } };

/* Map pages pages of a fresh shmem file and read every one. */
static void grow(long pages, long page)
{
	volatile const char *q;
	long sum = 0;
	int fd = make_file(pages, page);

	q = mmap(NULL, (size_t)pages * (size_t)page, PROT_READ, MAP_PRIVATE, fd, 0);
	if (q == MAP_FAILED)
		die("mmap %ld more file pages", pages);
	for (long i = 0; i < pages; i++)
		sum += q[i * page];
	if (sum != pages * 'c') {
		errno = 0;
		die("read back %ld, expected %ld", sum, pages * 'c');
	}
}

static void start(struct writer *w, const pthread_attr_t *attr)
{
	int rc = pthread_create(&w->tid, attr, write_pages, w);

	if (rc) {
		errno = rc;
		die("pthread_create");
	}
}

int main(int argc, char **argv)
{
	struct rsslab_report r, scratch;
	struct rsslab_smaps peak, before, after, grown;
	long page = rsslab_page_size();
	pthread_barrier_t done;
	pthread_attr_t attr;
	long writers, pages, sum = 0;
	volatile char *p;
	struct writer *w;
	struct rusage ru;
	char *fold;
	int park[2], fd, rc;

	rsslab_args(argc, argv, arg_names, 2, usage);
	writers = rsslab_arg(argv[1], "WRITERS", cow_other_unmaps_writers_min,
			     cow_other_unmaps_writers_max, usage);
	pages = rsslab_arg(argv[2], "PAGES", cow_other_unmaps_pages_min,
			   cow_other_unmaps_pages_max, usage);
	rsslab_rep_begin(&r, "cow_other_unmaps");
	rsslab_warm_up();
	rsslab_rep_begin(&scratch, "warm-up");
	/* Their stack and code resident before the test. */
	read_status(&scratch, live_keys, 4, "warm_statm_kib", page);
	if (getrusage(RUSAGE_SELF, &ru))
		die("getrusage(RUSAGE_SELF)");
	fold = rsslab_map_anon(1, page);	/* unmapped to fold the cache */
	rsslab_touch(fold, 1, page);
	rsslab_rep_int(&r, "writers", writers);
	rsslab_rep_int(&r, "pages", pages);
	fd = make_file(writers * pages, page);
	p = mmap(NULL, (size_t)(writers * pages) * (size_t)page,
		 PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		die("mmap %ld file pages", writers * pages);
	if (madvise((void *)p, (size_t)(writers * pages) * (size_t)page,
		    MADV_NOHUGEPAGE) && errno != EINVAL)
		die("madvise(MADV_NOHUGEPAGE)");
	for (long i = 0; i < writers * pages; i++)
		sum += p[i * page];
	if (sum != writers * pages * 'c') {
		errno = 0;
		die("read back %ld, expected %ld", sum, writers * pages * 'c');
	}
	w = (struct writer *)rsslab_map_anon(
		((long)sizeof(*w) * writers + page - 1) / page, page);
	if (pipe2(park, O_CLOEXEC))
		die("pipe2");
	rc = pthread_barrier_init(&done, NULL, (unsigned int)writers + 1);
	if (!rc)
		rc = pthread_attr_init(&attr);
	if (!rc)
		rc = pthread_attr_setstacksize(&attr, thread_stack);
	if (rc) {
		errno = rc;
		die("pthread setup");
	}
	for (long i = 0; i < writers; i++) {
		w[i] = (struct writer){ .base = (char *)p + i * pages * page,
					.pages = pages, .page = page,
					.done = &done, .park = park[0] };
		start(&w[i], &attr);
	}
	rsslab_barrier_wait(&done);
	peak = rsslab_self_smaps();
	if (munmap((void *)p, (size_t)(writers * pages) * (size_t)page))
		die("munmap %ld pages", writers * pages);
	before = rsslab_self_smaps();
	read_status(&r, live_keys, 4, "live_statm_kib", page);
	after = rsslab_self_smaps();
	rsslab_rep_int(&r, "live_exact_kib", before.rss_kib);
	rsslab_rep_int(&r, "live_exact_after_kib", after.rss_kib);
	rsslab_rep_int(&r, "live_anon_kib", before.anon_kib);
	grow(2 * writers * pages, page);
	if (munmap(fold, (size_t)page))
		die("munmap the scratch page");
	read_status(&r, grown_keys, 1, NULL, page);
	if (getrusage(RUSAGE_SELF, &ru))
		die("getrusage(RUSAGE_SELF)");
	grown = rsslab_self_smaps();
	rsslab_rep_int(&r, "grown_self_maxrss_kib", ru.ru_maxrss);
	rsslab_rep_int(&r, "grown_exact_kib", grown.rss_kib);
	if (grown.rss_kib > peak.rss_kib)	/* the anonymous peak stays */
		peak.rss_kib = grown.rss_kib;
	if (close(park[1]))
		die("close the park pipe");
	for (long i = 0; i < writers; i++) {
		rc = pthread_join(w[i].tid, NULL);
		if (rc) {
			errno = rc;
			die("pthread_join");
		}
	}
	rsslab_rep_peak(&r, peak);
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;
}
