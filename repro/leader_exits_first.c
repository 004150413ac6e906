// SPDX-License-Identifier: GPL-2.0
/*
 * leader_exits_first - the program's memory grows after its first task has
 *   exited.
 *
 * Does: MODE thread: main() starts a thread and calls pthread_exit(); the
 *   thread waits until the main thread has exited (its /proc task state is
 *   Z), then maps PAGES anonymous pages (no transparent huge pages), writes
 *   one byte into each, reads its exact RSS (smaps_rollup: the peak),
 *   reports and ends the process with exit().  MODE clone_vm: the same
 *   work in a child started with clone(CLONE_VM) without CLONE_THREAD,
 *   which shares the mm, while the parent process returns from main().
 * Cause (all): the thread-group leader's PTRACE_EVENT_EXIT stop comes in
 *   its own do_exit() (kernel/exit.c), while the mm lives on with the
 *   other thread (exit_mm() drops only the leader's reference) or the
 *   clone(CLONE_VM) child.  Whatever is read there, VmHWM included, was
 *   read before the pages existed.  wait4() still reports them: the
 *   process's ru_maxrss is taken when its last thread exits.  A
 *   clone(CLONE_VM) child is another process, whose pages its parent's
 *   ru_maxrss never sees.
 * Usage: leader_exits_first PAGES MODE   (MODE: thread or clone_vm)
 * Output: one JSON line: pages, mode, written_kib, peak_exact_kib,
 *   peak_anon_kib.
 */
#include "rsslab.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>

static const char usage[] = "leader_exits_first PAGES MODE   (MODE: thread|clone_vm)";
static const char *const arg_names[] = { "PAGES", "MODE" };
static const char *const modes[] = { "thread", "clone_vm" };
enum { THREAD, CLONE_VM_CHILD };

#define CHILD_STACK (256 * 1024)

struct work {
	pid_t leader;
	long pages;
	int mode;
	struct rsslab_report r;
};

/* Has the leader exited?  Its task stays a zombie while the group lives. */
static int leader_gone(pid_t leader)
{
	char path[64], buf[RSSLAB_PROC_BUF];
	const char *p;

	rsslab_fmt(path, sizeof(path), "/proc/%d/task/%d/stat", (int)leader,
		   (int)leader);
	if (rsslab_read_file(path, buf, sizeof(buf)) < 0)
		return 1;
	p = strrchr(buf, ')');
	return p && (p[2] == 'Z' || p[2] == 'X');
}

static int run(void *arg)
{
	struct work *w = arg;
	long page = rsslab_page_size();
	struct rsslab_report scratch;
	struct rsslab_smaps peak;
	char *p;

	/* This task's stack is new: warm the reading and the report up here. */
	rsslab_warm_up();
	rsslab_rep_begin(&scratch, "warm-up");
	rsslab_rep_peak(&scratch, rsslab_self_smaps());
	while (!leader_gone(w->leader))
		usleep(1000);
	p = rsslab_map_anon_nothp(w->pages, page);
	rsslab_touch(p, w->pages, page);
	peak = rsslab_self_smaps();
	rsslab_rep_peak(&w->r, peak);
	rsslab_rep_end(&w->r);
	exit(RSSLAB_EXIT_OK);
}

static void *thread_main(void *arg)
{
	run(arg);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct work w;
	pthread_t t;
	char *stack;
	int rc;

	rsslab_args(argc, argv, arg_names, 2, usage);
	w.pages = rsslab_arg(argv[1], "PAGES", leader_exits_first_pages_min,
			     leader_exits_first_pages_max, usage);
	w.mode = rsslab_choice(argv[2], "MODE", modes, 2, usage);
	w.leader = getpid();
	rsslab_rep_begin(&w.r, "leader_exits_first");
	rsslab_warm_up();
	rsslab_rep_int(&w.r, "pages", w.pages);
	rsslab_rep_str(&w.r, "mode", modes[w.mode]);
	rsslab_rep_int(&w.r, "written_kib", w.pages * (rsslab_page_size() / 1024));
	if (w.mode == CLONE_VM_CHILD) {
		stack = rsslab_map_anon(CHILD_STACK / rsslab_page_size(),
					rsslab_page_size());
		if (clone(run, stack + CHILD_STACK, CLONE_VM | SIGCHLD, &w) < 0)
			die("clone(CLONE_VM)");
		return RSSLAB_EXIT_OK;
	}
	rc = pthread_create(&t, NULL, thread_main, &w);
	if (rc) {
		errno = rc;
		die("pthread_create");
	}
	pthread_exit(NULL);
}
