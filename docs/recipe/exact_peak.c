// SPDX-License-Identifier: GPL-2.0
/*
 * exact_peak - the exact peak RSS of a program, the way `rsslab measure`
 * reads it, in one file a judge can copy: Linux 6.2+, root, tracefs at
 * /sys/kernel/tracing.  Build: cc -O2 -o exact_peak exact_peak.c
 * Usage: exact_peak PROG [ARG...]   (prints "peak_kib N tree_peak_kib M")
 *
 * kmem:rss_stat fires at every change of an mm's RSS counters with the
 * counter's exact sum; the last sizes of MM_FILEPAGES + MM_ANONPAGES +
 * MM_SHMEMPAGES of an mm are its RSS.  A tracefs instance of our own, with
 * set_event_pid and event-fork, records only PROG and what it starts, and
 * only they pay for the sum.  The peak printed is the largest RSS of any
 * mm of the tree; tree_peak_kib the largest sum of them at once.  What
 * rsslab adds: the command's own mm apart from its children's, a fork's
 * copy from the parent's events, lost events, kswapd, timeouts, cleanup.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIR "/sys/kernel/tracing/instances/exact-peak"
#define MMS 4096

static struct { unsigned id; long kib[4]; } mm[MMS];
static long peak, tree, tree_peak;
static int enable_fd, marker_fd;

/* PROG ended: stop the event and mark the end of the trace. */
static void ended(int sig)
{
	(void)sig;
	write(enable_fd, "0", 1);
	write(marker_fd, "exact-peak-end\n", 15);
}

static void put(const char *file, const char *text)
{
	FILE *f = fopen(file, "w");

	if (!f || fputs(text, f) < 0 || fclose(f)) {
		perror(file);
		exit(1);
	}
}

/* One event: "... rss_stat: mm_id=N curr=C type=MM_XPAGES size=BYTESB" */
static void event(const char *line)
{
	static const char *type[4] = { "MM_FILEPAGES", "MM_ANONPAGES", "MM_SWAPENTS",
				       "MM_SHMEMPAGES" };
	const char *p = strstr(line, ": rss_stat: mm_id=");
	unsigned id;
	int m, i;
	long rss;

	if (!p)
		return;
	id = strtoul(p + 18, NULL, 10);
	for (m = 0; m < 4 && !strstr(p, type[m]); m++)
		;
	for (i = id % MMS; mm[i].id && mm[i].id != id; i = (i + 1) % MMS)
		;
	if (m == 4 || !id)	/* mm_id 0: the kernel's hash is not keyed yet */
		return;
	mm[i].id = id;
	rss = mm[i].kib[0] + mm[i].kib[1] + mm[i].kib[3];
	mm[i].kib[m] = strtol(strstr(p, " size=") + 6, NULL, 10) / 1024;
	tree += mm[i].kib[0] + mm[i].kib[1] + mm[i].kib[3] - rss;
	rss = mm[i].kib[0] + mm[i].kib[1] + mm[i].kib[3];
	peak = rss > peak ? rss : peak;
	tree_peak = tree > tree_peak ? tree : tree_peak;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = ended, .sa_flags = SA_RESTART };
	int go[2], st;
	char line[1024], pid[32];
	FILE *trace;
	pid_t child;

	if (argc < 2 || pipe(go) || (mkdir(DIR, 0700) && (rmdir(DIR) || mkdir(DIR, 0700))))
		return fprintf(stderr, "usage: exact_peak PROG [ARG...] (as root)\n"), 2;
	child = fork();
	if (child == 0) {	/* wait until the trace is on, then run PROG */
		close(go[1]);
		read(go[0], line, 1);
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	snprintf(pid, sizeof(pid), "%d", child);
	put(DIR "/options/event-fork", "1");	/* follow what PROG starts */
	put(DIR "/set_event_pid", pid);		/* filtered before the sum */
	put(DIR "/events/kmem/rss_stat/enable", "1");
	enable_fd = open(DIR "/events/kmem/rss_stat/enable", O_WRONLY);
	marker_fd = open(DIR "/trace_marker", O_WRONLY);
	trace = fopen(DIR "/trace_pipe", "r");
	if (enable_fd < 0 || marker_fd < 0 || !trace || sigaction(SIGCHLD, &sa, NULL))
		return perror(DIR), 1;
	close(go[1]);				/* go */
	while (fgets(line, sizeof(line), trace) && !strstr(line, ": exact-peak-end"))
		event(line);			/* read as it comes: the buffer is finite */
	waitpid(child, &st, 0);
	fclose(trace);
	close(enable_fd);
	close(marker_fd);
	rmdir(DIR);
	printf("peak_kib %ld tree_peak_kib %ld\n", peak, tree_peak);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
