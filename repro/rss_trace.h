/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rss_trace.h - the exact RSS peak of a process tree from the kernel's
 * kmem:rss_stat trace event, read through a tracefs instance of its own.
 *
 * Why: since Linux 6.2 (f1a7941243c102a44e8847e3b94ff4ff3ec56f25)
 *   add_mm_counter(), inc_mm_counter() and dec_mm_counter()
 *   (include/linux/mm.h) raise kmem:rss_stat at every change of an mm's
 *   RSS counters, and the event's size is percpu_counter_sum_positive() of
 *   the changed counter (include/trace/events/kmem.h): the exact value at
 *   that change.  Keeping the last size of MM_FILEPAGES, MM_ANONPAGES and
 *   MM_SHMEMPAGES of each mm gives its exact RSS after every change, and
 *   so its peak, even one freed before exit.  On 2.6.34 .. 6.1 the event
 *   carries the shared counter only, which misses the per-thread caches.
 * How:
 *   - A tracefs instance "rsslab-<pid>-<start time>" of our own; a stale
 *     one (its owner gone) is removed at the next start.
 *   - set_event_pid lists the command (and kswapd, whose reclaim lowers
 *     its counters); options/event-fork adds every task it starts.  The
 *     pid check comes before the event's fields are filled in
 *     (kernel/trace/trace_events.c:trace_event_buffer_reserve), so the
 *     sum over every CPU is paid by the traced tasks only.
 *   - Which mm is whose: an event of a traced task with curr=1 is about
 *     its own mm.  The events a task raises with curr=0 against an mm not
 *     yet known are held as that task's: a fork copies the child's page
 *     tables from the parent (kernel/fork.c:dup_mmap, before
 *     sched_process_fork), so at the parent's sched_process_fork the mms
 *     it was filling count from then on.  An mm whose counters all fall to
 *     zero (its teardown) is forgotten, so a later mm at the same address
 *     (the same mm_id) starts afresh.
 *   - The command's peak is the largest RSS of an mm the command's own
 *     pid ran in (one after another across execve); the tree's peak is
 *     the largest sum over every traced mm alive at once.
 * Output: rt_json() adds "rss_stat": {peak_kib, tree_peak_kib, events,
 *   lost} or {"unavailable": why}.
 */
#ifndef RSS_TRACE_H
#define RSS_TRACE_H

#include "common.h"

#include <sys/utsname.h>

#define RT_TRACEFS "/sys/kernel/tracing"
#define RT_PREFIX "rsslab-"
#define RT_LINE 1024
#define RT_MAX_KSWAPD 64

/* enum mm counter member values (include/linux/mm_types_task.h). */
enum { RT_FILE, RT_ANON, RT_SWAP, RT_SHMEM, RT_MEMBERS };

struct rt_mm {
	unsigned int id;
	unsigned char used;
	unsigned char ours;	/* counted in the tree */
	unsigned char root;	/* the command's own pid ran in it */
	unsigned char rising;	/* held curr=0 sizes only grew */
	pid_t held_by;		/* task whose curr=0 events are held, or 0 */
	unsigned long held_at;	/* event number of the first of them */
	long kib[RT_MEMBERS];
};

/* The last event number at which a task raised curr=1 (its own mm). */
struct rt_task {
	pid_t pid;
	unsigned long own_at;
};

struct rt {
	char dir[PATH_MAX];	/* the instance, "" when none */
	char why[256];		/* why there is no reading, "" when there is */
	int fd;			/* its trace_pipe */
	char line[RT_LINE];
	size_t line_len;
	struct rt_mm *mm;
	size_t mm_cap, mm_used;
	struct rt_task *task;
	size_t task_cap, task_used;
	pid_t root;
	pid_t kswapd[RT_MAX_KSWAPD];
	int nkswapd;
	unsigned long events;
	unsigned long zero_ids;	/* events with mm_id 0: the hash is not keyed */
	long lost;
	long tree_kib, tree_peak_kib, peak_kib;
};

static inline void rt_unavailable(struct rt *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void rt_unavailable(struct rt *t, const char *fmt, ...)
{
	va_list ap;

	if (t->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
}

static inline int rt_write(const struct rt *t, const char *file, const char *s)
{
	char path[PATH_MAX + 64];
	int fd, ok;

	rsslab_fmt(path, sizeof(path), "%s/%s", t->dir, file);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

/* Remove the instances of observers that are gone (SIGKILL leaves them). */
static inline void rt_clean_stale(void)
{
	rsslab_rmdir_stale(RT_TRACEFS "/instances", RT_PREFIX);
}

/* The pids of the kswapd threads, whose reclaim lowers any mm's counters. */
static inline void rt_find_kswapd(struct rt *t)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) && t->nkswapd < RT_MAX_KSWAPD) {
		char path[PATH_MAX], comm[64];
		int pid = atoi(e->d_name);

		if (pid <= 0)
			continue;
		rsslab_fmt(path, sizeof(path), "/proc/%d/comm", pid);
		if (rsslab_read_file(path, comm, sizeof(comm)) > 0 &&
		    !strncmp(comm, "kswapd", 6))
			t->kswapd[t->nkswapd++] = pid;
	}
	closedir(d);
}

/*
 * Per-CPU buffer: the default (1410 KiB) at many CPUs, more at few, so
 * that a reader a few milliseconds late loses nothing.
 */
static inline long rt_buffer_kib(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 32 ? 1410 : n > 8 ? 4096 : 8192;
}

/*
 * Make the instance and open its trace_pipe, events still off.  Where that
 * cannot be done, t->why says why and every other call does nothing.
 */
static inline void rt_open(struct rt *t)
{
	char buf[32], pipe[PATH_MAX + 16];
	long long start = rsslab_start_time(getpid());

	t->fd = -1;
	if (access(RT_TRACEFS "/instances", F_OK)) {
		rt_unavailable(t, "tracefs is not mounted at " RT_TRACEFS
			       " (as root: mount -t tracefs nodev " RT_TRACEFS ")");
		return;
	}
	if (access(RT_TRACEFS "/events/kmem/rss_stat", F_OK)) {
		rt_unavailable(t, "this kernel has no kmem:rss_stat trace event "
			       "(Linux 5.5+ built with CONFIG_TRACING)");
		return;
	}
	rt_clean_stale();
	rsslab_fmt(t->dir, sizeof(t->dir), RT_TRACEFS "/instances/" RT_PREFIX "%d-%lld",
		   (int)getpid(), start);
	if (mkdir(t->dir, 0700)) {
		rt_unavailable(t, "cannot make a tracefs instance (%s): %s",
			       strerror(errno), errno == EACCES || errno == EPERM ?
			       "tracing needs root" : "is tracefs writable?");
		t->dir[0] = '\0';
		return;
	}
	rsslab_fmt(buf, sizeof(buf), "%ld", rt_buffer_kib());
	if (rt_write(t, "buffer_size_kb", buf) || rt_write(t, "options/event-fork", "1") ||
	    rt_write(t, "options/overwrite", "0")) {
		rt_unavailable(t, "cannot set up the tracefs instance %s: %s", t->dir,
			       strerror(errno));
		return;
	}
	rt_write(t, "buffer_percent", "0");	/* wake a reader at the first event */
	rsslab_fmt(pipe, sizeof(pipe), "%s/trace_pipe", t->dir);
	t->fd = open(pipe, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0)
		rt_unavailable(t, "cannot open %s: %s", pipe, strerror(errno));
	rt_find_kswapd(t);
}

/* Close the pipe and remove the instance; safe to call more than once. */
static inline void rt_close(struct rt *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->dir[0])
		rmdir(t->dir);
	t->dir[0] = '\0';
}

/* Start tracing the command, stopped at its first execve: its pid, kswapd's. */
static inline void rt_start(struct rt *t, pid_t root)
{
	char pids[16 * (RT_MAX_KSWAPD + 1)];
	size_t len;

	t->root = root;
	if (t->why[0])
		return;
	rsslab_fmt(pids, sizeof(pids), "%d", (int)root);
	for (int i = 0; i < t->nkswapd; i++) {
		len = strlen(pids);
		rsslab_fmt(pids + len, sizeof(pids) - len, " %d", (int)t->kswapd[i]);
	}
	if (rt_write(t, "set_event_pid", pids) ||
	    rt_write(t, "events/kmem/rss_stat/enable", "1"))
		rt_unavailable(t, "cannot enable kmem:rss_stat in %s: %s", t->dir,
			       strerror(errno));
	/* Optional: without it a child counts from its own first fault. */
	rt_write(t, "events/sched/sched_process_fork/enable", "1");
}

static inline struct rt_mm *rt_mm_find(struct rt *t, unsigned int id)
{
	size_t i;

	if (2 * (t->mm_used + 1) > t->mm_cap) {
		struct rt_mm *old = t->mm;
		size_t cap = t->mm_cap;

		t->mm_cap = cap ? 2 * cap : 256;
		t->mm = calloc(t->mm_cap, sizeof(*t->mm));
		if (!t->mm)
			die("calloc %zu mm entries", t->mm_cap);
		t->mm_used = 0;
		for (i = 0; i < cap; i++)
			if (old[i].used)
				*rt_mm_find(t, old[i].id) = old[i];
		free(old);
	}
	for (i = id % t->mm_cap; t->mm[i].used; i = (i + 1) % t->mm_cap)
		if (t->mm[i].id == id)
			return &t->mm[i];
	memset(&t->mm[i], 0, sizeof(t->mm[i]));
	t->mm[i].used = 1;
	t->mm[i].id = id;
	t->mm_used++;
	return &t->mm[i];
}

static inline struct rt_task *rt_task_find(struct rt *t, pid_t pid)
{
	size_t i;

	if (2 * (t->task_used + 1) > t->task_cap) {
		struct rt_task *old = t->task;
		size_t cap = t->task_cap;

		t->task_cap = cap ? 2 * cap : 256;
		t->task = calloc(t->task_cap, sizeof(*t->task));
		if (!t->task)
			die("calloc %zu task entries", t->task_cap);
		t->task_used = 0;
		for (i = 0; i < cap; i++)
			if (old[i].pid)
				*rt_task_find(t, old[i].pid) = old[i];
		free(old);
	}
	for (i = (size_t)pid % t->task_cap; t->task[i].pid; i = (i + 1) % t->task_cap)
		if (t->task[i].pid == pid)
			return &t->task[i];
	t->task[i].pid = pid;
	t->task[i].own_at = 0;
	t->task_used++;
	return &t->task[i];
}

static inline long rt_rss(const struct rt_mm *m)
{
	return m->kib[RT_FILE] + m->kib[RT_ANON] + m->kib[RT_SHMEM];
}

static inline int rt_is_kswapd(const struct rt *t, pid_t pid)
{
	for (int i = 0; i < t->nkswapd; i++)
		if (t->kswapd[i] == pid)
			return 1;
	return 0;
}

static inline void rt_count(struct rt *t, struct rt_mm *m)
{
	if (m->ours)
		return;
	m->ours = 1;
	m->held_by = 0;
	t->tree_kib += rt_rss(m);
}

/* One kmem:rss_stat event: SIZE bytes of MEMBER of mm ID, raised by PID. */
static inline void rt_event(struct rt *t, pid_t pid, unsigned int id, int curr,
			    int member, long size)
{
	struct rt_mm *m = rt_mm_find(t, id);
	long before = rt_rss(m), kib = size / 1024;

	t->events++;
	if (!id)
		t->zero_ids++;
	if (member < 0 || member >= RT_MEMBERS)
		return;
	if (!m->ours && m->held_by && kib < m->kib[member])
		m->rising = 0;
	m->kib[member] = kib;
	if (m->ours)
		t->tree_kib += rt_rss(m) - before;
	if (rt_is_kswapd(t, pid)) {
		/* reclaim: it only updates mms already known */
	} else if (curr) {
		rt_task_find(t, pid)->own_at = t->events;
		rt_count(t, m);
		if (pid == t->root)
			m->root = 1;
	} else if (!m->ours && !m->held_by) {
		m->held_by = pid;
		m->held_at = t->events;
		m->rising = 1;
	}
	if (m->root && rt_rss(m) > t->peak_kib)
		t->peak_kib = rt_rss(m);
	if (t->tree_kib > t->tree_peak_kib)
		t->tree_peak_kib = t->tree_kib;
	if (!curr && m->kib[RT_FILE] <= 0 && m->kib[RT_ANON] <= 0 &&
	    m->kib[RT_SWAP] <= 0 && m->kib[RT_SHMEM] <= 0) {
		if (m->ours)
			t->tree_kib -= rt_rss(m);
		memset(m, 0, sizeof(*m));
		m->used = 1;
		m->id = id;
	}
}

/*
 * PARENT forked: the mms it filled with curr=0 events since it last ran in
 * its own mm, growing only (dup_mmap copying), are the child's.
 */
static inline void rt_fork(struct rt *t, pid_t parent)
{
	unsigned long own_at = rt_task_find(t, parent)->own_at;

	for (size_t i = 0; i < t->mm_cap; i++) {
		struct rt_mm *m = &t->mm[i];

		if (!m->used || m->held_by != parent)
			continue;
		if (m->rising && m->held_at > own_at)
			rt_count(t, m);
		m->held_by = 0;
	}
}

/*
 * The pid in the line's header "COMM-PID [CPU] ...": the digits before the
 * last " [" ahead of the event name.  COMM is the task's own name, which it
 * may set to anything (even with a newline in it), so it is never parsed.
 */
static inline pid_t rt_header_pid(const char *line, const char *event)
{
	const char *q = event, *digits;

	while (q > line + 1 && !(q[-1] == ' ' && q[0] == '['))
		q--;
	if (q <= line + 1)
		return -1;
	q--;
	while (q > line && q[-1] == ' ')
		q--;
	digits = q;
	while (digits > line && digits[-1] >= '0' && digits[-1] <= '9')
		digits--;
	if (digits == q || digits == line || digits[-1] != '-')
		return -1;
	return (pid_t)strtol(digits, NULL, 10);
}

/* The member of "type=MM_ANONPAGES" (6.0+) or "member=1" (5.5 .. 5.19). */
static inline int rt_member(const char *s)
{
	static const char *const names[RT_MEMBERS] = {
		"MM_FILEPAGES", "MM_ANONPAGES", "MM_SWAPENTS", "MM_SHMEMPAGES",
	};
	const char *p = strstr(s, " type=");

	if (p) {
		for (int i = 0; i < RT_MEMBERS; i++)
			if (!strncmp(p + 6, names[i], strlen(names[i])) &&
			    p[6 + strlen(names[i])] == ' ')
				return i;
		return -1;
	}
	p = strstr(s, " member=");
	return p ? atoi(p + 8) : -1;
}

static inline void rt_line(struct rt *t, char *line)
{
	const char *ev = strstr(line, ": rss_stat: mm_id=");
	long lost;
	char end[16];

	if (ev) {
		const char *curr = strstr(ev, " curr="), *size = strstr(ev, " size=");
		pid_t pid = rt_header_pid(line, ev);

		if (curr && size && pid > 0)
			rt_event(t, pid, (unsigned int)strtoul(ev + 18, NULL, 10),
				 atoi(curr + 6), rt_member(ev), strtol(size + 6, NULL, 10));
		return;
	}
	ev = strstr(line, ": sched_process_fork: ");
	if (ev) {
		pid_t pid = rt_header_pid(line, ev);

		if (pid > 0)
			rt_fork(t, pid);
		return;
	}
	/* "CPU:N [LOST M EVENTS]", the whole line (a name cannot hold it). */
	if (sscanf(line, "CPU:%*d [LOST %ld %15s", &lost, end) == 2 &&
	    !strcmp(end, "EVENTS]"))
		t->lost += lost;
}

/* Read what the trace holds now; returns 0 once it is empty. */
static inline int rt_read(struct rt *t)
{
	char buf[65536];
	ssize_t n;

	if (t->fd < 0)
		return 0;
	n = read(t->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return errno == EINTR;
	if (n <= 0)
		return 0;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (t->line_len < sizeof(t->line) - 1)
				t->line[t->line_len++] = buf[i];
			continue;
		}
		t->line[t->line_len] = '\0';
		rt_line(t, t->line);
		t->line_len = 0;
	}
	return 1;
}

/* Events the ring buffer dropped or overwrote, from every CPU's stats. */
static inline long rt_dropped(const struct rt *t)
{
	long total = 0, n = sysconf(_SC_NPROCESSORS_CONF);

	for (long cpu = 0; cpu < n; cpu++) {
		char path[PATH_MAX + 64], buf[1024];
		long overrun, dropped;

		rsslab_fmt(path, sizeof(path), "%s/per_cpu/cpu%ld/stats", t->dir, cpu);
		if (rsslab_read_file(path, buf, sizeof(buf)) < 0)
			continue;
		overrun = rsslab_field(buf, "overrun");
		dropped = rsslab_field(buf, "dropped events");
		total += (overrun > 0 ? overrun : 0) + (dropped > 0 ? dropped : 0);
	}
	return total;
}

/* Stop tracing, read the rest, and remove the instance. */
static inline void rt_finish(struct rt *t)
{
	if (!t->dir[0])
		return;
	rt_write(t, "events/enable", "0");
	while (t->fd >= 0 && rt_read(t))
		;
	if (!t->why[0]) {
		long dropped = rt_dropped(t);

		if (dropped > t->lost)
			t->lost = dropped;
	}
	/*
	 * mm_ptr_to_hash() gives 0 until the kernel's pointer hash is keyed,
	 * once its random number generator is ready (lib/vsprintf.c:
	 * __ptr_to_hashval()): then no mm can be told from another.
	 */
	if (t->zero_ids)
		rt_unavailable(t, "%lu kmem:rss_stat events had mm_id 0: the kernel's pointer "
			       "hash has no key yet (its random number generator is not "
			       "ready, as early after boot), so mms cannot be told apart",
			       t->zero_ids);
	rt_close(t);
}
#endif /* RSS_TRACE_H */
