// SPDX-License-Identifier: GPL-2.0
/*
 * peak_then_less - writes BIG MiB, reads its exact RSS (its peak), unmaps
 * them, writes SMALL MiB, prints the peak it read.  The test of
 * `rsslab measure`'s exact peak builds and measures it.
 * Usage: peak_then_less BIG SMALL
 */
#include "rsslab.h"

int main(int argc, char **argv)
{
	long page = rsslab_page_size(), big, small;
	struct rsslab_smaps peak;
	char *p;

	if (argc != 3)
		rsslab_usage("peak_then_less BIG SMALL", "two sizes in MiB");
	big = atol(argv[1]) * (1 << 20) / page;
	small = atol(argv[2]) * (1 << 20) / page;
	rsslab_warm_up();
	p = rsslab_map_anon_nothp(big, page);
	rsslab_touch(p, big, page);
	peak = rsslab_self_smaps();
	if (munmap(p, (size_t)big * (size_t)page))
		die("munmap");
	rsslab_touch(rsslab_map_anon_nothp(small, page), small, page);
	printf("%ld\n", peak.rss_kib);
	return 0;
}
