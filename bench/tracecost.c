// SPDX-License-Identifier: GPL-2.0
/*
 * tracecost - what following kmem:rss_stat costs page faults, timed in a
 *   guest.
 *
 * Does: the page-fault loop of kcost (N times map PAGES anonymous pages,
 *   write one byte into each, unmap them) while the event is:
 *   "off"   not enabled anywhere;
 *   "own"   enabled in a tracefs instance whose set_event_pid lists this
 *           process (what `rsslab measure` does to the measured program),
 *           another process reading the trace as the observer does;
 *   "other" enabled for another process (an idle child) only: this
 *           process's faults are filtered out before the event's sum
 *           (kernel/trace/trace_events.c:trace_event_buffer_reserve()),
 *           which is what every other program on the machine pays;
 *   "all"   enabled with no pid filter: every fault of every process sums
 *           the counter over every CPU before any filter can drop it;
 *   "filtered" as "own", with an event filter that drops every event
 *           (mm_id == 0): the least any filter on the event's fields can
 *           cost, since the filter runs after the sum, on the reserved
 *           entry (kernel/trace/trace_events_filter.c, after TP_fast_assign).
 *   Times the loop with CLOCK_MONOTONIC and reads the loop's system time.
 * Usage: tracecost OUT off|own|other|all|filtered N PAGES
 * Output: one JSON line in OUT: test (trace_MODE), iterations, ops
 *   (faults), ns, ns_per_op, sys_ns_per_op, events (read by "own" and
 *   "all"), lost.  Exit 0; 1 on a failed syscall or no tracefs; 2 on usage.
 */
#include "../repro/rss_trace.h"
#include "fault_loop.h"

#include <poll.h>
#include <signal.h>
#include <time.h>

static long long now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		die("clock_gettime");
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long sys_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		die("getrusage");
	return ru.ru_stime.tv_sec * 1000000000LL + ru.ru_stime.tv_usec * 1000LL;
}

/*
 * The observer's part, in a process of its own as the observer is (so
 * that its reading is not charged to the loop): drain the trace until the
 * loop's end closes the pipe, then send back how many events it read.
 */
static pid_t start_reader(struct rt *t, int *done_w, int *count_r)
{
	int done[2], count[2];
	pid_t pid;

	if (pipe(done) || pipe(count))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct pollfd p = { .fd = done[0], .events = POLLIN };
		unsigned long got[2];

		close(done[1]);
		while (!poll(&p, 1, 0))
			if (!rt_read(t))
				usleep(1000);
		while (rt_read(t))
			;
		got[0] = t->events;
		got[1] = (unsigned long)t->lost;
		rsslab_write_all(count[1], (const char *)got, sizeof(got), "the count");
		_exit(0);
	}
	close(done[0]);
	close(count[1]);
	*done_w = done[1];
	*count_r = count[0];
	return pid;
}

/* Enable the event for pid (0: for every process), as rss_trace.h does. */
static void enable(struct rt *t, pid_t pid)
{
	if (!t->dir[0])
		rt_open(t);
	if (t->why[0]) {
		errno = 0;
		die("%s", t->why);
	}
	if (pid)
		rt_start(t, pid);
	else if (rt_write(t, "events/kmem/rss_stat/enable", "1"))
		die("enable kmem:rss_stat in %s", t->dir);
	if (t->why[0]) {
		errno = 0;
		die("%s", t->why);
	}
}

int main(int argc, char **argv)
{
	static struct rt t = { .fd = -1 };
	unsigned long got[2] = { 0, 0 };
	int done_w = -1, count_r = -1;
	pid_t idle = 0, reader = 0;
	long n, pages;
	long long t0, s0, ns, sys;
	FILE *out;

	if (argc != 5 || (n = atol(argv[3])) <= 0 || (pages = atol(argv[4])) <= 0) {
		fprintf(stderr, "usage: tracecost OUT off|own|other|all|filtered N PAGES\n");
		return 2;
	}
	if (!strcmp(argv[2], "other")) {
		idle = fork();
		if (idle < 0)
			die("fork");
		if (!idle) {
			pause();
			_exit(0);
		}
	}
	if (!strcmp(argv[2], "filtered")) {
		rt_open(&t);
		if (t.why[0] || rt_write(&t, "events/kmem/rss_stat/filter", "mm_id == 0"))
			die("filter kmem:rss_stat in %s: %s", t.dir, t.why);
		enable(&t, getpid());
	} else if (!strcmp(argv[2], "own") || !strcmp(argv[2], "all") || idle)
		enable(&t, idle ? idle : !strcmp(argv[2], "own") ? getpid() : 0);
	else if (strcmp(argv[2], "off"))
		die("unknown mode '%s'", argv[2]);
	if (t.fd >= 0)
		reader = start_reader(&t, &done_w, &count_r);
	t0 = now_ns();
	s0 = sys_ns();
	if (fault_loop(n, pages))
		die("the fault loop");
	ns = now_ns() - t0;
	sys = sys_ns() - s0;
	if (reader) {
		close(done_w);
		if (read(count_r, got, sizeof(got)) != (ssize_t)sizeof(got))
			die("read the reader's count");
		waitpid(reader, NULL, 0);
	}
	rt_finish(&t);
	if (idle) {
		kill(idle, SIGKILL);
		waitpid(idle, NULL, 0);
	}
	out = fopen(argv[1], "w");
	if (!out)
		die("%s", argv[1]);
	fprintf(out, "{\"test\":\"trace_%s\",\"iterations\":%ld,\"ops\":%ld,\"ns\":%lld,"
		"\"ns_per_op\":%.1f,\"sys_ns_per_op\":%.1f,\"events\":%lu,\"lost\":%lu}\n",
		argv[2], n, n * pages, ns, (double)ns / (n * pages),
		(double)sys / (n * pages), got[0], got[1]);
	if (fclose(out))
		die("fclose");
	return 0;
}
