// SPDX-License-Identifier: GPL-2.0
/*
 * threads_exit_group - threads still alive at exit_group() fold after the stop.
 *
 * Does: needs two CPUs it may run on, A and B.  The main thread pins
 *   itself to A.  THREADS threads pinned to B each write one byte into
 *   each of their own PAGES fresh anonymous pages (no transparent huge
 *   pages) and then block, alive, in read(2).  A child process pinned to
 *   B then runs SCHED_FIFO in a busy loop until its parent thread exits
 *   (PR_SET_PDEATHSIG): B runs nothing else until then.  The main thread
 *   reads its exact RSS (smaps_rollup) and returns from main(), which
 *   calls exit_group() with every thread still alive and every page still
 *   mapped.  The threads, killed by exit_group(), cannot run do_exit()
 *   before the main thread has passed its PTRACE_EVENT_EXIT stop and
 *   exited: the order the scheduler may also choose by itself when the
 *   threads are slow to run.
 * Cause (2.6.34 .. 6.1): each thread keeps its own cache of RSS changes
 *   (mm/memory.c:add_mm_counter_fast()), folded on its 66th fault after
 *   the last fold and in its own do_exit() (kernel/exit.c: sync_mm_rss()
 *   after exit_signals()).  zap_other_threads() only sends SIGKILL, so at
 *   the main thread's PTRACE_EVENT_EXIT stop the counters miss the main
 *   thread's cache and the cache of every thread that has not yet run its
 *   do_exit(): up to 66 faults' pages each.
 *   Commit 34e55232e59f7b19050267a05ff1226e5cd122a5.
 * Cause (6.2 ..): no per-thread state is left; each CPU keeps up to
 *   batch-1 pages per counter unfolded (lib/percpu_counter.c).
 *   Commit f1a7941243c102a44e8847e3b94ff4ff3ec56f25.
 * Needs: two CPUs and SCHED_FIFO (root); exits 4 (skip) without.
 * Usage: threads_exit_group THREADS PAGES
 * Output: one JSON line: threads, pages, cpu_main, cpu_threads,
 *   peak_exact_kib, peak_anon_kib.
 */
#include "rsslab.h"

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>

static const char usage[] = "threads_exit_group THREADS PAGES";
static const char *const arg_names[] = { "THREADS", "PAGES" };
static const size_t thread_stack = 64 * 1024;

struct worker {
	pthread_t tid;
	char *base;		/* this thread's first page */
	long pages;
	long page;
	pthread_barrier_t *done;	/* all pages written */
	int park;		/* read end of a pipe nobody writes */
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char c;

	rsslab_touch(w->base, w->pages, w->page);
	rsslab_barrier_wait(w->done);
	for (;;)	/* until exit_group() kills it */
		if (read(w->park, &c, 1) < 0 && errno != EINTR)
			die("read the park pipe");
}

/* The first two CPUs this process may run on, or a skip. */
static void two_cpus(int *a, int *b)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		die("sched_getaffinity");
	for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (n++ == 0)
			*a = cpu;
		else
			*b = cpu;
	}
	if (n < 2)
		rsslab_skip("needs two CPUs to keep the threads from running");
}

static void pin(pid_t tid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(tid, sizeof(set), &set))
		die("sched_setaffinity to CPU %d", cpu);
}

/*
 * A child that holds CPU b at SCHED_FIFO until its parent thread exits.
 * Returns once it runs there; a kernel that refuses SCHED_FIFO is a skip.
 */
static void hold_cpu(int b)
{
	struct sched_param sp = { .sched_priority = 1 };
	pid_t parent = getpid();
	int ready[2];
	char c = 0;
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC))
		die("pipe2");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(RSSLAB_EXIT_BROKEN);
		pin(0, b);
		c = sched_setscheduler(0, SCHED_FIFO, &sp) ? 's' : 'r';
		rsslab_write_all(ready[1], &c, 1, "the ready byte");
		if (c == 's')
			_exit(RSSLAB_EXIT_SKIP);
		for (;;)
			;
	}
	if (close(ready[1]))
		die("close");
	while (read(ready[0], &c, 1) < 0)
		if (errno != EINTR)
			die("read the ready byte");
	if (c == 's')
		rsslab_skip("sched_setscheduler(SCHED_FIFO) refused; run as root");
	if (c != 'r') {
		errno = 0;
		die("the CPU holder exited before it ran");
	}
}

int main(int argc, char **argv)
{
	struct rsslab_report r;
	long page = rsslab_page_size();
	pthread_barrier_t done;
	pthread_attr_t attr;
	long threads, pages;
	struct worker *w;
	int park[2], a = 0, b = 0, rc;
	cpu_set_t set;
	char *region;

	rsslab_args(argc, argv, arg_names, 2, usage);
	threads = rsslab_arg(argv[1], "THREADS", threads_exit_group_threads_min,
			     threads_exit_group_threads_max, usage);
	pages = rsslab_arg(argv[2], "PAGES", threads_exit_group_pages_min,
			   threads_exit_group_pages_max, usage);
	two_cpus(&a, &b);
	pin(0, a);
	rsslab_rep_begin(&r, "threads_exit_group");
	rsslab_warm_up();
	rsslab_rep_int(&r, "threads", threads);
	rsslab_rep_int(&r, "pages", pages);
	rsslab_rep_int(&r, "cpu_main", a);
	rsslab_rep_int(&r, "cpu_threads", b);
	region = rsslab_map_anon_nothp(threads * pages, page);
	w = (struct worker *)rsslab_map_anon(
		((long)sizeof(*w) * threads + page - 1) / page, page);
	if (pipe2(park, O_CLOEXEC))
		die("pipe2");
	CPU_ZERO(&set);
	CPU_SET(b, &set);
	rc = pthread_barrier_init(&done, NULL, (unsigned int)threads + 1);
	if (!rc)
		rc = pthread_attr_init(&attr);
	if (!rc)
		rc = pthread_attr_setstacksize(&attr, thread_stack);
	if (!rc)
		rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	for (long i = 0; i < threads && !rc; i++) {
		w[i] = (struct worker){ .base = region + i * pages * page,
					.pages = pages, .page = page,
					.done = &done, .park = park[0] };
		rc = pthread_create(&w[i].tid, &attr, work, &w[i]);
	}
	if (rc) {
		errno = rc;
		die("pthread setup");
	}
	rsslab_barrier_wait(&done);
	hold_cpu(b);
	rsslab_rep_peak(&r, rsslab_self_smaps());
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;	/* exit_group() with the threads alive */
}
