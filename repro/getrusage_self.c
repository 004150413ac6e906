// SPDX-License-Identifier: GPL-2.0
/*
 * getrusage_self - the ru_maxrss a program reads about itself.
 *
 * Does: maps PAGES anonymous pages (no transparent huge pages), writes one
 *   byte into each (one fault per page), reads its exact RSS
 *   (smaps_rollup), then getrusage(RUSAGE_SELF) ru_maxrss, then its exact
 *   RSS again, so that the ru_maxrss is bracketed by two exact values;
 *   reports and exits with the pages still mapped.
 * Cause (all): kernel/sys.c:getrusage() takes, for RUSAGE_SELF, the
 *   largest of signal->maxrss (the peak of the mm execve replaced),
 *   mm->hiwater_rss and get_mm_rss() (include/linux/mm.h:
 *   setmax_mm_hiwater_rss()), the last two from the approximate counters.
 * Cause (2.6.34 .. 6.1): get_mm_rss() does not include the calling
 *   thread's own cache (mm/memory.c:add_mm_counter_fast()), which is
 *   folded only every 64 faults.
 *   Commit 34e55232e59f7b19050267a05ff1226e5cd122a5.
 * Cause (6.2 ..): get_mm_rss() reads only the folded part of the per-CPU
 *   counters (include/linux/mm.h:get_mm_counter()).
 *   Commit f1a7941243c102a44e8847e3b94ff4ff3ec56f25.
 * Usage: getrusage_self PAGES
 * Output: one JSON line: pages, self_maxrss_kib, self_exact_kib,
 *   self_exact_after_kib, peak_exact_kib, peak_anon_kib.
 */
#include "rsslab.h"

static const char usage[] = "getrusage_self PAGES";
static const char *const arg_names[] = { "PAGES" };

int main(int argc, char **argv)
{
	struct rsslab_report r;
	struct rsslab_smaps before, after;
	long page = rsslab_page_size();
	struct rusage ru;
	long pages;
	char *p;

	rsslab_args(argc, argv, arg_names, 1, usage);
	pages = rsslab_arg(argv[1], "PAGES", getrusage_self_pages_min,
			   getrusage_self_pages_max, usage);
	rsslab_rep_begin(&r, "getrusage_self");
	rsslab_warm_up();
	rsslab_rep_int(&r, "pages", pages);
	if (getrusage(RUSAGE_SELF, &ru))	/* its code and ru resident too */
		die("getrusage(RUSAGE_SELF)");
	p = rsslab_map_anon_nothp(pages, page);
	rsslab_touch(p, pages, page);
	before = rsslab_self_smaps();
	if (getrusage(RUSAGE_SELF, &ru))
		die("getrusage(RUSAGE_SELF)");
	after = rsslab_self_smaps();
	rsslab_rep_int(&r, "self_maxrss_kib", ru.ru_maxrss);
	rsslab_rep_int(&r, "self_exact_kib", before.rss_kib);
	rsslab_rep_int(&r, "self_exact_after_kib", after.rss_kib);
	rsslab_rep_peak(&r, before);
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;
}
