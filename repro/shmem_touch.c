// SPDX-License-Identifier: GPL-2.0
/*
 * shmem_touch - shared memory in RssShmem and in statm's shared field.
 *
 * Does: creates a shmem file (memfd) of PAGES pages, maps it MAP_SHARED
 *   (no transparent huge pages), writes one byte into each page (one fault
 *   per page), then reads its own /proc/self/status (VmRSS, RssAnon,
 *   RssFile, RssShmem) and /proc/self/statm (resident, shared) between two
 *   exact readings of smaps_rollup (Rss, Anonymous), and its exact
 *   resident shmem from /proc/self/smaps: for every mapping of a shmem
 *   file (a memfd, or a file on tmpfs), its Rss less its Anonymous.  (Not
 *   smaps_rollup's Pss_Shmem: where the program's own binary lives on
 *   tmpfs, as in a guest's initramfs, a page that both its text and data
 *   mappings map counts twice in RssShmem and once in Pss.)  Then it exits
 *   with the pages still mapped.
 * Cause (2.6.34 .. 6.1): a write fault on a shared file page counts it in
 *   the faulting thread's cache as MM_SHMEMPAGES (mm/memory.c:do_set_pte()
 *   -> inc_mm_counter_fast(mm_counter_file())), folded every 64 faults.
 *   Commit 34e55232e59f7b19050267a05ff1226e5cd122a5.
 * Cause (6.2 ..): per-CPU counters; fs/proc/task_mmu.c:task_mem() and
 *   task_statm() read them with get_mm_counter() (folded part only) before
 *   82241a83cd15 and with get_mm_counter_sum() since (Linux 6.16,
 *   6.6.99, 6.12.39, 6.15.7): RssShmem and statm shared then are exact.
 *   Commits f1a7941243c102a44e8847e3b94ff4ff3ec56f25,
 *   82241a83cd15aaaf28200a40ad1a8b480012edaf.
 * Usage: shmem_touch PAGES
 * Output: one JSON line: pages, self_vmrss_kib, self_rss_anon_kib,
 *   self_rss_file_kib, self_rss_shmem_kib, self_statm_resident_kib,
 *   self_statm_shared_kib, self_exact_kib, self_exact_after_kib,
 *   self_file_exact_kib (Rss less Anonymous), self_shmem_exact_kib (shmem
 *   pages mapped, from smaps), peak_exact_kib, peak_anon_kib.
 */
#include "rsslab.h"

#include <linux/magic.h>
#include <sys/vfs.h>

static const char usage[] = "shmem_touch PAGES";
static const char *const arg_names[] = { "PAGES" };

/* The status and statm fields, read into buffers at a fixed address. */
static __attribute__((noinline)) void read_self(struct rsslab_report *r, long page)
{
	static const char *const keys[][2] = {
		{ "VmRSS", "self_vmrss_kib" },
		{ "RssAnon", "self_rss_anon_kib" },
		{ "RssFile", "self_rss_file_kib" },
		{ "RssShmem", "self_rss_shmem_kib" },
	};
	char buf[RSSLAB_PROC_BUF];
	long size, resident, shared;

	if (rsslab_read_file("/proc/self/status", buf, sizeof(buf)) < 0)
		die("read /proc/self/status");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		long v = rsslab_field(buf, keys[i][0]);

		if (v < 0) {
			errno = 0;
			die("no '%s:' line in /proc/self/status", keys[i][0]);
		}
		rsslab_rep_int(r, keys[i][1], v);
	}
	if (rsslab_read_file("/proc/self/statm", buf, sizeof(buf)) < 0)
		die("read /proc/self/statm");
	if (sscanf(buf, "%ld %ld %ld", &size, &resident, &shared) != 3) {
		errno = 0;
		die("cannot parse /proc/self/statm: '%.60s'", buf);
	}
	rsslab_rep_int(r, "self_statm_resident_kib", resident * (page / 1024));
	rsslab_rep_int(r, "self_statm_shared_kib", shared * (page / 1024));
}

/* Big enough for /proc/self/smaps of this small static program. */
#define SMAPS_BUF 65536

/* Is the mapping whose header line starts at line a shmem file's? */
static int shmem_mapping(const char *line)
{
	char path[PATH_MAX] = "";
	struct statfs fs;
	char *deleted;

	if (sscanf(line, "%*s %*s %*s %*s %*s %4095[^\n]", path) != 1)
		return 0;
	if (!strncmp(path, "/memfd:", 7) || !strncmp(path, "/SYSV", 5))
		return 1;
	deleted = strstr(path, " (deleted)");
	if (deleted)
		*deleted = '\0';
	return path[0] == '/' && !statfs(path, &fs) && fs.f_type == TMPFS_MAGIC;
}

/*
 * Resident shmem pages, each mapping counted, as task_mem()'s
 * MM_SHMEMPAGES counts a page once per mapping of it: the Rss less
 * Anonymous of every mapping of a shmem file.  A mapping's block is its
 * header line ("start-end perms offset dev inode path"), then "Key: N kB"
 * lines.
 */
static __attribute__((noinline)) long shmem_exact_kib(void)
{
	static char buf[SMAPS_BUF];
	long total = 0;
	int shmem = 0;
	char *line, *save;

	if (rsslab_read_file("/proc/self/smaps", buf, sizeof(buf)) < 0)
		die("read /proc/self/smaps");
	if (strlen(buf) >= sizeof(buf) - 1) {
		errno = 0;
		die("/proc/self/smaps is longer than %d bytes", SMAPS_BUF - 1);
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t word = strcspn(line, " ");

		if (word && line[word - 1] != ':')
			shmem = shmem_mapping(line);
		else if (shmem && !strncmp(line, "Rss:", 4))
			total += strtol(line + 4, NULL, 10);
		else if (shmem && !strncmp(line, "Anonymous:", 10))
			total -= strtol(line + 10, NULL, 10);
	}
	return total;
}

int main(int argc, char **argv)
{
	struct rsslab_report r, scratch;
	struct rsslab_smaps before, after;
	long page = rsslab_page_size();
	long pages, shmem;
	char *p;
	int fd;

	rsslab_args(argc, argv, arg_names, 1, usage);
	pages = rsslab_arg(argv[1], "PAGES", shmem_touch_pages_min,
	                   shmem_touch_pages_max, usage);
	rsslab_rep_begin(&r, "shmem_touch");
	rsslab_warm_up();
	rsslab_rep_begin(&scratch, "warm-up");
	read_self(&scratch, page);	/* resident before the pages under test */
	(void)shmem_exact_kib();
	rsslab_rep_int(&r, "pages", pages);
	fd = memfd_create("rsslab-shmem", MFD_CLOEXEC);
	if (fd < 0)
		die("memfd_create");
	if (ftruncate(fd, pages * page))
		die("ftruncate the shmem file to %ld pages", pages);
	p = mmap(NULL, (size_t)pages * (size_t)page, PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap %ld shmem pages", pages);
	if (madvise(p, (size_t)pages * (size_t)page, MADV_NOHUGEPAGE) &&
	    errno != EINVAL)
		die("madvise(MADV_NOHUGEPAGE)");
	rsslab_touch(p, pages, page);
	before = rsslab_self_smaps();
	shmem = shmem_exact_kib();
	read_self(&r, page);
	after = rsslab_self_smaps();
	rsslab_rep_int(&r, "self_exact_kib", before.rss_kib);
	rsslab_rep_int(&r, "self_exact_after_kib", after.rss_kib);
	rsslab_rep_int(&r, "self_file_exact_kib", before.rss_kib - before.anon_kib);
	rsslab_rep_int(&r, "self_shmem_exact_kib", shmem);
	rsslab_rep_peak(&r, before);
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;
}
