// SPDX-License-Identifier: GPL-2.0
/*
 * peak_then_free - the peak VmHWM keeps after the pages are unmapped.
 *
 * Does: maps PAGES anonymous pages (no transparent huge pages), writes one
 *   byte into each (one fault per page), reads its exact RSS (smaps_rollup:
 *   the peak), unmaps them, reads its exact RSS again (after_free_kib),
 *   reports and exits.  At the exit stop the peak
 *   is gone from the page tables; only mm->hiwater_rss remembers it.
 * Cause (all): munmap() records the peak with update_hiwater_rss() just
 *   before it zaps the pages, from the approximate get_mm_rss() -
 *   mm/mmap.c:unmap_region() (6.1), mm/vma.c:vms_clear_ptes() (6.18).
 * Cause (2.6.34 .. 6.1): get_mm_rss() misses the calling thread's cache,
 *   which unmap_region() folds only afterwards (zap_pte_range() ->
 *   add_mm_rss_vec() -> sync_mm_rss()).
 *   Commit 34e55232e59f7b19050267a05ff1226e5cd122a5.
 * Cause (6.2 ..): get_mm_rss() reads only the folded part of the per-CPU
 *   counters (include/linux/mm.h:get_mm_counter()).
 *   Commit f1a7941243c102a44e8847e3b94ff4ff3ec56f25.
 * Usage: peak_then_free PAGES
 * Output: one JSON line: pages, peak_exact_kib, peak_anon_kib,
 *   after_free_kib.
 */
#include "rsslab.h"

static const char usage[] = "peak_then_free PAGES";
static const char *const arg_names[] = { "PAGES" };

int main(int argc, char **argv)
{
	struct rsslab_report r;
	struct rsslab_smaps peak;
	long page = rsslab_page_size();
	long pages;
	char *p;

	rsslab_args(argc, argv, arg_names, 1, usage);
	pages = rsslab_arg(argv[1], "PAGES", peak_then_free_pages_min,
			   peak_then_free_pages_max, usage);
	rsslab_rep_begin(&r, "peak_then_free");
	rsslab_warm_up();
	rsslab_rep_int(&r, "pages", pages);
	p = rsslab_map_anon_nothp(pages, page);
	rsslab_touch(p, pages, page);
	peak = rsslab_self_smaps();
	/* rsslab_map_anon_nothp() maps one page when asked for none. */
	if (munmap(p, (size_t)(pages ? pages : 1) * (size_t)page))
		die("munmap %ld pages", pages);
	rsslab_rep_peak(&r, peak);
	rsslab_rep_int(&r, "after_free_kib", rsslab_self_smaps().rss_kib);
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;
}
