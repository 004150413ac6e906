// SPDX-License-Identifier: GPL-2.0
/*
 * touch - write one byte into each of N fresh anonymous pages, then exit.
 *
 * Does: maps N anonymous pages (transparent huge pages refused, so that
 *   each page takes its own fault), writes one byte into each, reads its
 *   own exact RSS (smaps_rollup), reports and exits with the pages still
 *   mapped, so its peak lasts until the exit stop.
 * Shows: how far each counter-based metric lags the exact value as a
 *   function of the number of faults (the sweep behind the plots).
 * Cause (2.6.34 .. 6.1): mm/memory.c:check_sync_rss_stat() folds the
 *   per-thread cache into the mm every 64 faults (TASK_RSS_EVENTS_THRESH),
 *   and kernel/exit.c:do_exit() stops for PTRACE_EVENT_EXIT before
 *   sync_mm_rss().  Commit 34e55232e59f7b19050267a05ff1226e5cd122a5.
 * Cause (6.2 ..): mm's rss_stat are percpu_counters; get_mm_counter()
 *   reads only the folded part (percpu_counter_read_positive), so up to
 *   batch-1 pages per CPU and counter stay unseen.
 *   Commit f1a7941243c102a44e8847e3b94ff4ff3ec56f25.
 * Usage: touch PAGES    Output: one JSON line (the report).
 */
#include "rsslab.h"

static const char usage[] = "touch PAGES";

static const char *const arg_names[] = { "PAGES" };

int main(int argc, char **argv)
{
	struct rsslab_report r;
	struct rsslab_smaps peak;
	long page = rsslab_page_size();
	long pages;
	char *p;

	rsslab_args(argc, argv, arg_names, 1, usage);
	pages = rsslab_arg(argv[1], "PAGES", touch_pages_min,
	                   touch_pages_max, usage);
	rsslab_rep_begin(&r, "touch");
	rsslab_warm_up();
	p = rsslab_map_anon_nothp(pages, page);
	rsslab_touch(p, pages, page);
	peak = rsslab_self_smaps();
	rsslab_rep_int(&r, "pages", pages);
	rsslab_rep_peak(&r, peak);
	rsslab_rep_end(&r);
	/* No libc exit handlers: they would fault a page after the reading. */
	_exit(RSSLAB_EXIT_OK);
}
