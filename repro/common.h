/* SPDX-License-Identifier: GPL-2.0 */
/*
 * common.h - the header of the observer (observe.c) and the guest's /init
 * (init.c), which the reproducers' own rsslab.h builds on: exit statuses,
 * dying with a message, arguments, small file reads and writes.
 *
 * Header-only, libc only; the one mutable global is rsslab_atdie, what a
 * program holding outside resources (the observer's tracefs instance and
 * cgroup) must undo before it dies.  Exit statuses (rsslab/observer.py
 * reads them):
 *   exit 0  ran;   exit 1  broken (a syscall failed);   exit 2  bad usage;
 *   exit 4  skip (cannot run here; one reason on stderr).
 */
#ifndef RSSLAB_COMMON_H
#define RSSLAB_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RSSLAB_EXIT_OK 0
#define RSSLAB_EXIT_BROKEN 1
#define RSSLAB_EXIT_USAGE 2
#define RSSLAB_EXIT_SKIP 4

/* Big enough for /proc/PID/status, smaps_rollup and stat on every kernel. */
#define RSSLAB_PROC_BUF 8192
/* The largest report a reproducer writes and the observer reads. */
#define RSSLAB_REPORT_BUF 4096

#define die(...) rsslab_die(__func__, __VA_ARGS__)

/* Run by rsslab_die() before it exits, when set. */
static void (*rsslab_atdie)(void) __attribute__((unused));

static inline void __attribute__((noreturn, format(printf, 2, 3)))
rsslab_die(const char *func, const char *fmt, ...)
{
	char msg[512];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (saved)
		dprintf(2, "%s: %s: %s\n", func, msg, strerror(saved));
	else
		dprintf(2, "%s: %s\n", func, msg);
	if (rsslab_atdie)
		rsslab_atdie();
	_exit(RSSLAB_EXIT_BROKEN);
}

static inline void __attribute__((noreturn))
rsslab_usage(const char *usage, const char *what)
{
	dprintf(2, "%s\nusage: %s\n", what, usage);
	_exit(RSSLAB_EXIT_USAGE);
}

static inline void __attribute__((noreturn)) rsslab_skip(const char *reason)
{
	dprintf(2, "skip: %s\n", reason);
	_exit(RSSLAB_EXIT_SKIP);
}

/* Parse a decimal integer in [min, max]; anything else is a usage error. */
static inline long rsslab_arg(const char *s, const char *name, long min,
			      long max, const char *usage)
{
	char what[256];
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		snprintf(what, sizeof(what),
			 "bad %s '%s': expected an integer in [%ld, %ld]",
			 name, s, min, max);
		rsslab_usage(usage, what);
	}
	return v;
}

/* snprintf that treats truncation as a bug, for paths and messages. */
static inline void rsslab_fmt(char *dst, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void rsslab_fmt(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		die("'%.40s...' does not fit in %zu bytes", dst, size);
	}
}

static inline long rsslab_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	if (ps <= 0)
		die("sysconf(_SC_PAGESIZE)");
	return ps;
}

/*
 * Read a whole (small) file into buf, NUL-terminated.  Returns the length,
 * or -1 with errno set.  The buffer is written before the file is opened so
 * that its pages are resident before any page-table walk starts.
 */
static inline ssize_t rsslab_read_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd;

	memset(buf, 0, size);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (len < size - 1) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;

			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

/*
 * Find "Key:<spaces>NUMBER" at the start of a line; -1 when the key is
 * absent (a field this kernel lacks), never 0.
 */
static inline long rsslab_field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ':') {
			char *end;
			long v;

			errno = 0;
			v = strtol(p + klen + 1, &end, 10);
			if (errno || end == p + klen + 1 || v < 0)
				return -1;
			return v;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

static inline void rsslab_write_all(int fd, const char *buf, size_t len,
				    const char *what)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write %s to fd %d", what, fd);
		off += (size_t)n;
	}
}

/* Field 22 of /proc/PID/stat: when the process started; -1 if it is gone. */
static inline long long rsslab_start_time(pid_t pid)
{
	char path[64], buf[RSSLAB_PROC_BUF];
	const char *p;
	long long v = -1;

	rsslab_fmt(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (rsslab_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	p = strrchr(buf, ')');
	for (int field = 2; p && *p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		v = strtoll(p + 1, NULL, 10);
	return v;
}

/*
 * Remove the directories "<prefix><pid>-<start time>" under parent whose
 * owner is gone (another process with that pid has another start time):
 * what a SIGKILLed observer left (a tracefs instance, a cgroup).  rmdir()
 * leaves one that is still in use.
 */
static inline void rsslab_rmdir_stale(const char *parent, const char *prefix)
{
	DIR *d = opendir(parent);
	size_t n = strlen(prefix);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		long long start;
		int pid;

		if (strncmp(e->d_name, prefix, n) ||
		    sscanf(e->d_name + n, "%d-%lld", &pid, &start) != 2)
			continue;
		if (pid > 0 && rsslab_start_time(pid) == start)
			continue;
		rsslab_fmt(path, sizeof(path), "%s/%s", parent, e->d_name);
		rmdir(path);
	}
	closedir(d);
}

#endif /* RSSLAB_COMMON_H */
