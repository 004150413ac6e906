// SPDX-License-Identifier: GPL-2.0
/*
 * file_faultaround - one read fault on a file maps up to 16 pages.
 *
 * Does: writes a temporary file of PAGES pages with write(2) (so its pages
 *   are in the page cache), unlinks it, maps it PROT_READ and MAP_PRIVATE,
 *   reads one byte of every page in order, counts the page faults that
 *   took (getrusage minflt + majflt, before and after), reads its exact RSS
 *   (smaps_rollup) and exits with the file still mapped.  The file goes in
 *   $TMPDIR, or /tmp.
 * Cause (2.6.34 .. 6.1): mm/memory.c:do_fault_around() asks
 *   mm/filemap.c:filemap_map_pages() to map up to fault_around_bytes
 *   (64 KiB, 16 pages of 4 KiB) of cached pages around the faulting one;
 *   mm/memory.c:do_set_pte() counts each with inc_mm_counter_fast() into
 *   the thread's cache, while check_sync_rss_stat() counts one event per
 *   fault, so the cache can hold 16 times the pages of 64 faults.
 *   Commit 34e55232e59f7b19050267a05ff1226e5cd122a5.
 * Cause (6.2 ..): filemap_map_pages() adds the pages it mapped with one
 *   add_mm_counter() on the per-CPU counter; only the per-CPU residue
 *   (lib/percpu_counter.c:percpu_counter_add_batch()) stays unseen.
 *   Commit f1a7941243c102a44e8847e3b94ff4ff3ec56f25.
 * Usage: file_faultaround PAGES
 * Output: one JSON line: pages, faults, peak_exact_kib, peak_anon_kib.
 */
#include "rsslab.h"

static const char usage[] = "file_faultaround PAGES";
static const char *const arg_names[] = { "PAGES" };

/* An unlinked file of pages pages, every byte written; returns its fd. */
static int make_file(long pages, long page)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	char *chunk;
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	rsslab_fmt(path, sizeof(path), "%s/rsslab-faultaround-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp %s (set TMPDIR to a writable directory)", path);
	if (unlink(path))
		die("unlink %s", path);
	chunk = rsslab_map_anon(1, page);
	memset(chunk, 'r', (size_t)page);
	for (long i = 0; i < pages; i++)
		rsslab_write_all(fd, chunk, (size_t)page, "the temporary file");
	if (munmap(chunk, (size_t)page))
		die("munmap");
	return fd;
}

int main(int argc, char **argv)
{
	struct rsslab_report r;
	long page = rsslab_page_size();
	long pages, before, after;
	volatile const char *p;
	long sum = 0;
	int fd;

	rsslab_args(argc, argv, arg_names, 1, usage);
	pages = rsslab_arg(argv[1], "PAGES", file_faultaround_pages_min,
			   file_faultaround_pages_max, usage);
	rsslab_rep_begin(&r, "file_faultaround");
	rsslab_warm_up();
	rsslab_rep_int(&r, "pages", pages);
	fd = make_file(pages, page);
	before = rsslab_faults();
	if (pages) {
		/* An empty mapping is refused (EINVAL): map only a real file. */
		p = mmap(NULL, (size_t)pages * (size_t)page, PROT_READ,
			 MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			die("mmap %ld file pages", pages);
		for (long i = 0; i < pages; i++)
			sum += p[i * page];
	}
	after = rsslab_faults();
	if (close(fd))
		die("close");
	if (sum != pages * 'r') {
		errno = 0;
		die("read back %ld, expected %ld", sum, pages * 'r');
	}
	rsslab_rep_int(&r, "faults", after - before);
	rsslab_rep_peak(&r, rsslab_self_smaps());
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;
}
