/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rsslab.h - the helpers of the reproducers: map and touch pages, read
 * their own exact RSS, and report what they did as one JSON object.
 *
 * Reproducers report and never judge; the claims check in Python does.
 * The report goes to the file descriptor named by the environment variable
 * RSSLAB_REPORT_FD when it is set (the observer sets it to a pipe), else to
 * standard output.  Each integer parameter's range is in params.h, as
 * <scenario>_<name>_min and _max.
 */
#ifndef RSSLAB_H
#define RSSLAB_H

#include "common.h"

#include <pthread.h>

/* smaps_rollup alone is under 1 KiB; a smaller buffer costs fewer faults. */
#define RSSLAB_SMAPS_BUF 4096

#define RSSLAB_PARAM(scenario, name, min, max, def) \
	enum { scenario##_##name##_min = (min), scenario##_##name##_max = (max) };
#include "params.h"
#undef RSSLAB_PARAM

/* Exact resident set of this process now: a page-table walk. */
static inline long rsslab_self_smaps_kib(const char *key)
{
	char buf[RSSLAB_PROC_BUF];
	long v;

	if (rsslab_read_file("/proc/self/smaps_rollup", buf, sizeof(buf)) < 0)
		die("read /proc/self/smaps_rollup (needs Linux >= 4.14)");
	v = rsslab_field(buf, key);
	if (v < 0) {
		errno = 0;
		die("no '%s:' line in /proc/self/smaps_rollup", key);
	}
	return v;
}

/* Write one byte into each of n pages starting at p: one fault per page. */
static inline void rsslab_touch(volatile char *p, long n, long page)
{
	for (long i = 0; i < n; i++)
		p[i * page] = 1;
}

static inline char *rsslab_map_anon(long pages, long page)
{
	void *p = mmap(NULL, (size_t)(pages ? pages : 1) * (size_t)page,
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		die("mmap %ld anonymous pages", pages);
	return p;
}

/*
 * rsslab_map_anon() with transparent huge pages refused for the region, so
 * that writing one byte per page takes one fault per page even where THP
 * is "always" (a huge page is added to the mm's counters at once and
 * never sits in a per-thread cache).  EINVAL: a kernel without THP.
 */
static inline char *rsslab_map_anon_nothp(long pages, long page)
{
	char *p = rsslab_map_anon(pages, page);

	if (madvise(p, (size_t)(pages ? pages : 1) * (size_t)page,
		    MADV_NOHUGEPAGE) && errno != EINVAL)
		die("madvise(MADV_NOHUGEPAGE) on %ld pages", pages);
	return p;
}

/* A JSON object built on the stack, written with one write(2). */
struct rsslab_report {
	char buf[RSSLAB_REPORT_BUF];
	size_t len;
};

static inline void rsslab_rep_raw(struct rsslab_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void rsslab_rep_raw(struct rsslab_report *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->buf + r->len, sizeof(r->buf) - r->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(r->buf) - r->len) {
		errno = 0;
		die("report longer than %zu bytes", sizeof(r->buf));
	}
	r->len += (size_t)n;
}

static inline void rsslab_rep_begin(struct rsslab_report *r, const char *scenario)
{
	memset(r->buf, 0, sizeof(r->buf));
	r->len = 0;
	rsslab_rep_raw(r, "{\"scenario\":\"%s\",\"page_size\":%ld", scenario,
		       rsslab_page_size());
}

static inline void rsslab_rep_int(struct rsslab_report *r, const char *key, long v)
{
	rsslab_rep_raw(r, ",\"%s\":%ld", key, v);
}

/* Only for fixed identifiers: no escaping is done. */
static inline void rsslab_rep_str(struct rsslab_report *r, const char *key,
				  const char *v)
{
	rsslab_rep_raw(r, ",\"%s\":\"%s\"", key, v);
}

static inline int rsslab_report_fd(void)
{
	const char *s = getenv("RSSLAB_REPORT_FD");
	char *end;
	long fd;

	if (!s)
		return 1;
	fd = strtol(s, &end, 10);
	if (*s == '\0' || *end || fd < 0 || fd > INT_MAX) {
		errno = 0;
		die("bad RSSLAB_REPORT_FD '%s'", s);
	}
	return (int)fd;
}

static inline void rsslab_rep_end(struct rsslab_report *r)
{
	rsslab_rep_raw(r, "}\n");
	rsslab_write_all(rsslab_report_fd(), r->buf, r->len, "the report");
}

/*
 * Exactly n arguments, named in names[]: one missing is named, one too
 * many is quoted.
 */
static inline void rsslab_args(int argc, char **argv, const char *const names[],
			       int n, const char *usage)
{
	int have = argc > 0 ? argc - 1 : 0;
	char what[256];

	if (have < n) {
		rsslab_fmt(what, sizeof(what), "missing %s", names[have]);
		rsslab_usage(usage, what);
	}
	if (have > n) {
		rsslab_fmt(what, sizeof(what), "unexpected argument '%.100s'",
			   argv[n + 1]);
		rsslab_usage(usage, what);
	}
}

/* Which of the n choices s is; anything else is a usage error. */
static inline int rsslab_choice(const char *s, const char *name,
				const char *const choices[], int n,
				const char *usage)
{
	char what[256];
	size_t len;

	for (int i = 0; i < n; i++)
		if (!strcmp(s, choices[i]))
			return i;
	rsslab_fmt(what, sizeof(what), "bad %s '%.60s': expected one of", name, s);
	for (int i = 0; i < n; i++) {
		len = strlen(what);
		rsslab_fmt(what + len, sizeof(what) - len, "%s %s",
			   i ? "," : "", choices[i]);
	}
	rsslab_usage(usage, what);
}

/* The exact RSS of this process, both numbers from one smaps_rollup walk. */
struct rsslab_smaps {
	long rss_kib;		/* Rss: every resident page mapped */
	long anon_kib;		/* Anonymous: of which anonymous */
};

/*
 * Not inlined: every call from one caller then puts its buffer at the same
 * stack address, so only the first call can fault stack pages, and a
 * second reading does not count pages the first one did not see.
 */
static __attribute__((noinline, unused)) struct rsslab_smaps
rsslab_self_smaps(void)
{
	char buf[RSSLAB_SMAPS_BUF];
	struct rsslab_smaps s;
	ssize_t n;

	/*
	 * thread-self: the calling thread's mm, which is the process's; once
	 * the thread-group leader has exited, /proc/self (the leader's) has
	 * no mm to walk any more.
	 */
	n = rsslab_read_file("/proc/thread-self/smaps_rollup", buf, sizeof(buf));
	if (n < 0)
		die("read /proc/thread-self/smaps_rollup (needs Linux >= 4.14)");
	errno = 0;
	if ((size_t)n >= sizeof(buf) - 1)
		die("/proc/self/smaps_rollup is longer than %zu bytes",
		    sizeof(buf) - 1);
	s.rss_kib = rsslab_field(buf, "Rss");
	s.anon_kib = rsslab_field(buf, "Anonymous");
	if (s.rss_kib < 0 || s.anon_kib < 0)
		die("no 'Rss:' or 'Anonymous:' line in /proc/self/smaps_rollup");
	return s;
}

/*
 * Read smaps_rollup once before the pages under test exist: the code and
 * stack the reading uses are then resident, so the reading at the peak
 * faults in nothing of its own after its page-table walk.
 */
static inline void rsslab_warm_up(void)
{
	(void)rsslab_self_smaps();
}

/* The two keys every report has: the exact RSS at the program's peak. */
static inline void rsslab_rep_peak(struct rsslab_report *r, struct rsslab_smaps s)
{
	rsslab_rep_int(r, "peak_exact_kib", s.rss_kib);
	rsslab_rep_int(r, "peak_anon_kib", s.anon_kib);
}

/* Read fd until end of file into buf (NUL-terminated); returns the length. */
static inline size_t rsslab_read_all(int fd, char *buf, size_t size,
				     const char *what)
{
	size_t len = 0;

	memset(buf, 0, size);
	for (;;) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read %s", what);
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == size - 1) {
			errno = 0;
			die("%s is longer than %zu bytes", what, size - 1);
		}
	}
	return len;
}

/*
 * Reap the child pid with wait4() and fill ru; a child that did not exit 0
 * is a broken run (its own message is already on stderr).
 */
static inline void rsslab_reap(pid_t pid, struct rusage *ru, const char *what)
{
	int st;

	memset(ru, 0, sizeof(*ru));
	while (wait4(pid, &st, 0, ru) < 0)
		if (errno != EINTR)
			die("wait4 %s (pid %d)", what, (int)pid);
	errno = 0;
	if (WIFSIGNALED(st))
		die("%s (pid %d) killed by signal %d", what, (int)pid,
		    WTERMSIG(st));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		die("%s (pid %d) exited with status %d", what, (int)pid,
		    WEXITSTATUS(st));
}

/* The page faults this process has taken so far, minor and major. */
static inline long rsslab_faults(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		die("getrusage(RUSAGE_SELF)");
	return ru.ru_minflt + ru.ru_majflt;
}

/* pthread_barrier_wait(), or die: its error comes back, not in errno. */
static inline void rsslab_barrier_wait(pthread_barrier_t *b)
{
	int rc = pthread_barrier_wait(b);

	if (rc && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
		errno = rc;
		die("pthread_barrier_wait");
	}
}

#endif /* RSSLAB_H */
