// SPDX-License-Identifier: GPL-2.0
/*
 * threads - threads that fault pages and exit before the process does.
 *
 * Does: maps THREADS x PAGES anonymous pages up front, without
 *   transparent huge pages (one fault per page); each of THREADS threads
 *   writes one byte into each of its own PAGES pages and exits.
 *   serial: the threads are created and joined one at a time.  parallel:
 *   all are started and wait at a barrier, so all are alive at once, then
 *   each faults its pages and exits; the main thread joins them all.  The
 *   main thread then reads its exact RSS (smaps_rollup) and exits with
 *   every page still mapped.
 * Cause (2.6.34 .. 6.1): each thread keeps its own cache of RSS changes
 *   (mm/memory.c:add_mm_counter_fast(), folded every 64 faults by
 *   check_sync_rss_stat()); kernel/exit.c:do_exit() folds an exiting
 *   thread's cache with sync_mm_rss(), so at the main thread's
 *   PTRACE_EVENT_EXIT stop only the main thread's own cache is missing:
 *   up to 66 faults, each a page, or up to 16 pages where it was a read
 *   fault on the program's own file (mm/memory.c:do_fault_around()).
 *   Commit 34e55232e59f7b19050267a05ff1226e5cd122a5.
 * Cause (6.2 ..): no per-thread state is left; each CPU keeps up to
 *   batch-1 pages per counter unfolded (lib/percpu_counter.c:
 *   percpu_counter_add_batch()), whichever threads put them there.
 *   Commit f1a7941243c102a44e8847e3b94ff4ff3ec56f25.
 * Usage: threads THREADS PAGES MODE   (MODE: serial or parallel)
 * Output: one JSON line: threads, pages, mode, peak_exact_kib, peak_anon_kib.
 */
#include "rsslab.h"

#include <pthread.h>

static const char usage[] = "threads THREADS PAGES MODE   (MODE: serial|parallel)";
static const char *const arg_names[] = { "THREADS", "PAGES", "MODE" };
static const char *const modes[] = { "serial", "parallel" };
enum { SERIAL, PARALLEL };

/*
 * Small thread stacks: the C library keeps joined threads' stacks in a
 * 40 MiB cache, so joining unmaps none of them (up to ~600 threads).
 */
static const size_t thread_stack = 64 * 1024;

struct worker {
	pthread_t tid;
	char *base;		/* this thread's first page */
	long pages;
	long page;
	pthread_barrier_t *start;	/* NULL in serial mode */
};

static void *work(void *arg)
{
	struct worker *w = arg;

	if (w->start) {
		rsslab_barrier_wait(w->start);
	}
	rsslab_touch(w->base, w->pages, w->page);
	return NULL;
}

static void start(struct worker *w, const pthread_attr_t *attr)
{
	int rc = pthread_create(&w->tid, attr, work, w);

	if (rc) {
		errno = rc;
		die("pthread_create");
	}
}

static void join(struct worker *w)
{
	int rc = pthread_join(w->tid, NULL);

	if (rc) {
		errno = rc;
		die("pthread_join");
	}
}

int main(int argc, char **argv)
{
	struct rsslab_report r;
	long page = rsslab_page_size();
	pthread_barrier_t barrier;
	pthread_attr_t attr;
	struct worker *w;
	long threads, pages;
	char *region;
	int mode, rc;

	rsslab_args(argc, argv, arg_names, 3, usage);
	threads = rsslab_arg(argv[1], "THREADS", threads_threads_min,
	                     threads_threads_max, usage);
	pages = rsslab_arg(argv[2], "PAGES", threads_pages_min,
	                   threads_pages_max, usage);
	mode = rsslab_choice(argv[3], "MODE", modes, 2, usage);
	rsslab_rep_begin(&r, "threads");
	rsslab_warm_up();
	rsslab_rep_int(&r, "threads", threads);
	rsslab_rep_int(&r, "pages", pages);
	rsslab_rep_str(&r, "mode", modes[mode]);
	region = rsslab_map_anon_nothp(threads * pages, page);
	w = (struct worker *)rsslab_map_anon(
		((long)sizeof(*w) * threads + page - 1) / page, page);
	for (long i = 0; i < threads; i++) {
		w[i].base = region + i * pages * page;
		w[i].pages = pages;
		w[i].page = page;
		w[i].start = mode == PARALLEL ? &barrier : NULL;
	}
	if ((rc = pthread_attr_init(&attr)) ||
	    (rc = pthread_attr_setstacksize(&attr, thread_stack))) {
		errno = rc;
		die("pthread_attr");
	}
	if (mode == SERIAL) {
		for (long i = 0; i < threads; i++) {
			start(&w[i], &attr);
			join(&w[i]);
		}
	} else {
		rc = pthread_barrier_init(&barrier, NULL, (unsigned int)threads);
		if (rc) {
			errno = rc;
			die("pthread_barrier_init");
		}
		for (long i = 0; i < threads; i++)
			start(&w[i], &attr);
		for (long i = 0; i < threads; i++)
			join(&w[i]);
	}
	rsslab_rep_peak(&r, rsslab_self_smaps());
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;
}
