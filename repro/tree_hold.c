// SPDX-License-Identifier: GPL-2.0
/*
 * tree_hold - a parent and its child hold memory at the same time.
 *
 * Does: maps PARENT_PAGES anonymous pages (no transparent huge pages) and
 *   writes one byte into each, then starts a child: this same binary run
 *   from /proc/self/exe (fork and execv), which writes CHILD_PAGES pages,
 *   reads its exact RSS (smaps_rollup), sends it through a pipe and waits.
 *   The parent then reads its own exact RSS, lets the child exit, reaps it
 *   and reports both readings, taken while both held their pages.
 * Cause (all): each process has its own mm and its own RSS; VmHWM,
 *   ru_maxrss and smaps_rollup are per process, and wait4() gives the
 *   larger of the child's and its reaped children's (kernel/sys.c:
 *   getrusage(), RUSAGE_BOTH), never a sum of processes alive at once.  A
 *   memory cgroup counts the tree, in charges (mm/memcontrol.c).
 * Usage: tree_hold PARENT_PAGES CHILD_PAGES
 *        (tree_hold --child PAGES FD is its own, for its child.)
 * Output: one JSON line: parent_pages, child_pages, parent_exact_kib,
 *   child_exact_kib, tree_exact_kib (their sum), peak_exact_kib and
 *   peak_anon_kib (the parent's).
 */
#include "rsslab.h"

static const char usage[] = "tree_hold PARENT_PAGES CHILD_PAGES";
static const char *const arg_names[] = { "PARENT_PAGES", "CHILD_PAGES" };
static const char *const child_names[] = { "--child", "PAGES", "FD" };

/*
 * The child: write PAGES pages, send the exact RSS on FD (as a binary long:
 * no formatting code runs, and faults, after the reading), wait for EOF.
 */
static int child(int argc, char **argv)
{
	long page = rsslab_page_size(), pages, fd;
	struct rsslab_smaps s;
	char c;

	rsslab_args(argc, argv, child_names, 3, usage);
	pages = rsslab_arg(argv[2], "PAGES", tree_hold_child_pages_min,
			   tree_hold_child_pages_max, usage);
	fd = rsslab_arg(argv[3], "FD", 0, INT_MAX, usage);
	rsslab_warm_up();
	rsslab_touch(rsslab_map_anon_nothp(pages, page), pages, page);
	s = rsslab_self_smaps();
	rsslab_write_all((int)fd, (const char *)&s.rss_kib, sizeof(s.rss_kib),
			 "the child's RSS");
	while (read(0, &c, 1) < 0 && errno == EINTR)
		;
	/* Not exit(): its handlers could fault pages while the parent holds. */
	_exit(RSSLAB_EXIT_OK);
}

/* The child's binary long (it keeps its end open while it waits). */
static long read_long(int fd)
{
	long v = 0;
	size_t len = 0;

	while (len < sizeof(v)) {
		ssize_t n = read(fd, (char *)&v + len, sizeof(v) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("read the child's RSS");
		len += (size_t)n;
	}
	return v;
}

int main(int argc, char **argv)
{
	long page = rsslab_page_size(), parent_pages, child_pages;
	int up[2], down[2];
	char fd[16], arg[32];
	struct rsslab_report r;
	struct rsslab_smaps mine;
	struct rusage ru;
	long child_kib;
	pid_t pid;

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child(argc, argv);
	rsslab_args(argc, argv, arg_names, 2, usage);
	parent_pages = rsslab_arg(argv[1], "PARENT_PAGES", tree_hold_parent_pages_min,
				  tree_hold_parent_pages_max, usage);
	child_pages = rsslab_arg(argv[2], "CHILD_PAGES", tree_hold_child_pages_min,
				 tree_hold_child_pages_max, usage);
	rsslab_rep_begin(&r, "tree_hold");
	rsslab_warm_up();
	rsslab_rep_int(&r, "parent_pages", parent_pages);
	rsslab_rep_int(&r, "child_pages", child_pages);
	rsslab_touch(rsslab_map_anon_nothp(parent_pages, page), parent_pages, page);
	if (pipe(up) || pipe2(down, O_CLOEXEC))
		die("pipe");
	rsslab_fmt(fd, sizeof(fd), "%d", up[1]);
	rsslab_fmt(arg, sizeof(arg), "%ld", child_pages);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (dup2(down[0], 0) < 0)
			_exit(RSSLAB_EXIT_BROKEN);
		close(up[0]);
		unsetenv("RSSLAB_REPORT_FD");
		execl("/proc/self/exe", "tree_hold", "--child", arg, fd, (char *)NULL);
		_exit(127);
	}
	close(up[1]);
	close(down[0]);
	child_kib = read_long(up[0]);
	mine = rsslab_self_smaps();
	close(down[1]);
	rsslab_reap(pid, &ru, "the child");
	rsslab_rep_int(&r, "parent_exact_kib", mine.rss_kib);
	rsslab_rep_int(&r, "child_exact_kib", child_kib);
	rsslab_rep_int(&r, "tree_exact_kib", mine.rss_kib + child_kib);
	rsslab_rep_peak(&r, mine);
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;
}
