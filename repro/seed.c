// SPDX-License-Identifier: GPL-2.0
/*
 * seed - the judge's program: a 128 KiB buffer that VmHWM does not see.
 *
 * Does: maps a 131072-byte anonymous buffer the way Zig's page_allocator
 *   does (mmap, nothing touched), reads standard input into it until end
 *   of file or until it is full, counts the letters s/S and t/T, writes
 *   "French" if there are at least as many s as t, else "English", to
 *   standard output, reads its own exact RSS (smaps_rollup) and exits with
 *   the buffer still mapped.  It takes as few page faults as a static
 *   libc program can: the buffer's 32, the C library's start-up and the
 *   report's.  Retold from "Sometimes, the kernel lies about process
 *   memory usage", where a judge read VmHWM at exit as 4 kB.
 * Cause (2.6.34 .. 6.1): mm/memory.c:check_sync_rss_stat() folds the
 *   per-thread cache into the mm only on the 66th handle_mm_fault() since
 *   the last fold (TASK_RSS_EVENTS_THRESH 64), and fs/exec.c:exec_mmap()
 *   starts the count afresh; a program that faults fewer pages than that
 *   keeps all of them in its cache.  kernel/exit.c:do_exit() stops for
 *   PTRACE_EVENT_EXIT before it calls sync_mm_rss(), so a tracer reading
 *   VmHWM there sees only the pages exec itself counted.
 *   Commit 34e55232e59f7b19050267a05ff1226e5cd122a5.
 * Cause (6.2 ..): the counters are per-CPU (lib/percpu_counter.c:
 *   percpu_counter_add_batch() folds a CPU's part at the batch size);
 *   readers that do not sum them (include/linux/mm.h:get_mm_counter())
 *   miss up to batch-1 pages per CPU and counter.
 *   Commit f1a7941243c102a44e8847e3b94ff4ff3ec56f25.
 * Usage: seed < INPUT    Output: the answer on standard output, then the
 *   report (one JSON line: buffer_kib, input_bytes, answer, peak_exact_kib,
 *   peak_anon_kib).
 */
#include "rsslab.h"

static const char usage[] = "seed < INPUT";
static const size_t buffer_bytes = 131072;

int main(int argc, char **argv)
{
	struct rsslab_report r;
	struct rsslab_smaps peak;
	const char *answer;
	size_t len = 0;
	long s = 0, t = 0;
	char *buf;

	(void)argv;
	if (argc > 1)
		rsslab_usage(usage, "takes no arguments; give the input on stdin");
	rsslab_rep_begin(&r, "seed");
	rsslab_warm_up();
	rsslab_rep_int(&r, "buffer_kib", (long)(buffer_bytes / 1024));
	buf = mmap(NULL, buffer_bytes, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap %zu bytes", buffer_bytes);
	while (len < buffer_bytes) {
		ssize_t n = read(0, buf + len, buffer_bytes - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read stdin");
		if (n == 0)
			break;
		len += (size_t)n;
	}
	for (size_t i = 0; i < len; i++) {
		s += buf[i] == 's' || buf[i] == 'S';
		t += buf[i] == 't' || buf[i] == 'T';
	}
	answer = s >= t ? "French\n" : "English\n";
	rsslab_write_all(1, answer, strlen(answer), "the answer");
	peak = rsslab_self_smaps();
	rsslab_rep_int(&r, "input_bytes", (long)len);
	rsslab_rep_str(&r, "answer", s >= t ? "French" : "English");
	rsslab_rep_peak(&r, peak);
	rsslab_rep_end(&r);
	/* Straight to exit_group(), as the judge's program did: no libc exit
	 * handlers, whose first run would fault one more page. */
	_exit(RSSLAB_EXIT_OK);
}
