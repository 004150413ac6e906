// SPDX-License-Identifier: GPL-2.0
/*
 * live_writers_free - a freed peak recorded while other threads are alive.
 *
 * Does: WRITERS threads each write one byte into each of their own PAGES
 *   fresh anonymous pages (no transparent huge pages) and park, alive.
 *   The main thread then maps FREE anonymous pages, writes one byte into
 *   each, reads its exact RSS (smaps_rollup: the peak) and unmaps them,
 *   with the writers still parked.  Then it lets the writers exit, joins
 *   them, reads its exact RSS again (after_free_kib), reports and exits.
 *   At the exit stop the peak is gone from the page tables; only
 *   mm->hiwater_rss remembers it, and the writers' pages are still mapped.
 * Cause (2.6.34 .. 6.1): munmap() records the peak with
 *   update_hiwater_rss() from get_mm_rss() before it zaps the pages
 *   (mm/mmap.c:unmap_region()), and get_mm_rss() reads the mm's counters
 *   only: each parked writer's cache (mm/memory.c:add_mm_counter_fast(),
 *   folded on its 66th fault after the last fold and in its own do_exit())
 *   and the main thread's own cache (folded by zap_pte_range() ->
 *   add_mm_rss_vec() -> sync_mm_rss(), after the record) are missing from
 *   it.  The writers' exit folds their caches into the current RSS, never
 *   into the recorded peak, so VmHWM at the exit stop misses up to every
 *   cache that was live at the munmap: more than one thread's 66 faults.
 *   Commit 34e55232e59f7b19050267a05ff1226e5cd122a5.
 * Cause (6.2 ..): no per-thread state is left; get_mm_rss() reads only
 *   the folded part of the per-CPU counters (include/linux/mm.h:
 *   get_mm_counter()).  Commit f1a7941243c102a44e8847e3b94ff4ff3ec56f25.
 * Usage: live_writers_free WRITERS PAGES FREE
 * Output: one JSON line: writers, pages, free, peak_exact_kib,
 *   peak_anon_kib, after_free_kib.
 */
#include "rsslab.h"

#include <pthread.h>

static const char usage[] = "live_writers_free WRITERS PAGES FREE";
static const char *const arg_names[] = { "WRITERS", "PAGES", "FREE" };
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
	struct rsslab_report r;
	struct rsslab_smaps peak;
	long page = rsslab_page_size();
	pthread_barrier_t done;
	pthread_attr_t attr;
	long writers, pages, nfree;
	char *mine, *p;
	struct writer *w;
	int park[2], rc;

	rsslab_args(argc, argv, arg_names, 3, usage);
	writers = rsslab_arg(argv[1], "WRITERS", live_writers_free_writers_min,
			     live_writers_free_writers_max, usage);
	pages = rsslab_arg(argv[2], "PAGES", live_writers_free_pages_min,
			   live_writers_free_pages_max, usage);
	nfree = rsslab_arg(argv[3], "FREE", live_writers_free_free_min,
			   live_writers_free_free_max, usage);
	rsslab_rep_begin(&r, "live_writers_free");
	rsslab_warm_up();
	rsslab_rep_int(&r, "writers", writers);
	rsslab_rep_int(&r, "pages", pages);
	rsslab_rep_int(&r, "free", nfree);
	p = rsslab_map_anon_nothp(writers * pages, page);
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
		w[i] = (struct writer){ .base = p + i * pages * page,
					.pages = pages, .page = page,
					.done = &done, .park = park[0] };
		start(&w[i], &attr);
	}
	rsslab_barrier_wait(&done);
	mine = rsslab_map_anon_nothp(nfree, page);
	rsslab_touch(mine, nfree, page);
	peak = rsslab_self_smaps();
	/* rsslab_map_anon_nothp() maps one page when asked for none. */
	if (munmap(mine, (size_t)(nfree ? nfree : 1) * (size_t)page))
		die("munmap %ld pages", nfree);
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
	rsslab_rep_int(&r, "after_free_kib", rsslab_self_smaps().rss_kib);
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;
}
