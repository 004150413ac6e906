// SPDX-License-Identifier: GPL-2.0
/*
 * cpu_spread - RSS counted on every CPU the process ran on.
 *
 * Does: maps CPUS x PAGES anonymous pages up front (no transparent huge
 *   pages), CPUS being the CPUs this process may run on
 *   (sched_getaffinity).  Then, one CPU after another, it starts a thread
 *   pinned to that CPU, which checks that it runs there, writes one byte
 *   into each of PAGES fresh pages of its own slice and exits, and joins
 *   it.  The main thread then reads its exact
 *   RSS (smaps_rollup) and exits with every page still mapped.
 * Cause (2.6.34 .. 6.1): each thread's cache is folded when it exits
 *   (kernel/exit.c:do_exit() -> sync_mm_rss()); the CPU does not matter.
 *   Commit 34e55232e59f7b19050267a05ff1226e5cd122a5.
 * Cause (6.2 ..): the counters are per-CPU; lib/percpu_counter.c:
 *   percpu_counter_add_batch() folds a CPU's part only when it reaches the
 *   batch (max(32, 2 x online CPUs)), so every CPU keeps up to batch-1
 *   pages per counter that include/linux/mm.h:get_mm_counter() does not
 *   see, and they stay after the threads that put them there have exited.
 *   Commit f1a7941243c102a44e8847e3b94ff4ff3ec56f25.
 * Usage: cpu_spread PAGES
 * Output: one JSON line: pages, cpus, peak_exact_kib, peak_anon_kib.
 */
#include "rsslab.h"

#include <pthread.h>
#include <sched.h>

static const char usage[] = "cpu_spread PAGES";
static const char *const arg_names[] = { "PAGES" };
static const size_t thread_stack = 64 * 1024;

struct worker {
	char *base;
	long pages;
	long page;
	int cpu;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	int cpu = sched_getcpu();

	if (cpu < 0)
		die("sched_getcpu");
	if (cpu != w->cpu) {
		errno = 0;
		die("thread pinned to CPU %d runs on CPU %d", w->cpu, cpu);
	}
	rsslab_touch(w->base, w->pages, w->page);
	return NULL;
}

/* Start a thread pinned to w->cpu, wait for it to finish. */
static void run_on(struct worker *w)
{
	pthread_attr_t attr;
	pthread_t tid;
	cpu_set_t one;
	int rc;

	CPU_ZERO(&one);
	CPU_SET(w->cpu, &one);
	if ((rc = pthread_attr_init(&attr)) ||
	    (rc = pthread_attr_setstacksize(&attr, thread_stack)) ||
	    (rc = pthread_attr_setaffinity_np(&attr, sizeof(one), &one))) {
		errno = rc;
		die("pthread_attr for CPU %d", w->cpu);
	}
	rc = pthread_create(&tid, &attr, work, w);
	if (rc) {
		errno = rc;
		die("pthread_create on CPU %d", w->cpu);
	}
	rc = pthread_join(tid, NULL);
	if (rc) {
		errno = rc;
		die("pthread_join");
	}
	if ((rc = pthread_attr_destroy(&attr))) {
		errno = rc;
		die("pthread_attr_destroy");
	}
}

int main(int argc, char **argv)
{
	struct rsslab_report r;
	long page = rsslab_page_size();
	struct worker w;
	cpu_set_t allowed;
	long pages, cpus;
	char *region;
	int used = 0;

	rsslab_args(argc, argv, arg_names, 1, usage);
	pages = rsslab_arg(argv[1], "PAGES", cpu_spread_pages_min,
	                   cpu_spread_pages_max, usage);
	rsslab_rep_begin(&r, "cpu_spread");
	rsslab_warm_up();
	rsslab_rep_int(&r, "pages", pages);
	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		die("sched_getaffinity");
	cpus = CPU_COUNT(&allowed);
	region = rsslab_map_anon_nothp(cpus * pages, page);
	for (int cpu = 0; cpu < CPU_SETSIZE && used < cpus; cpu++) {
		if (!CPU_ISSET(cpu, &allowed))
			continue;
		w.base = region + used * pages * page;
		w.pages = pages;
		w.page = page;
		w.cpu = cpu;
		run_on(&w);
		used++;
	}
	rsslab_rep_int(&r, "cpus", used);
	rsslab_rep_peak(&r, rsslab_self_smaps());
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;
}
