// SPDX-License-Identifier: GPL-2.0
/*
 * kcontend - page faults while another thread of the same process reads
 * its memory usage in a loop, timed in a guest.
 *
 * Does: "kcontend OUT READER N PAGES": the main thread, pinned to CPU 0,
 *   maps N * PAGES anonymous pages and writes one byte into each (one page
 *   fault each), timed; a second thread, pinned to CPU 1, calls READER in
 *   a loop from before the first fault to after the last:
 *     self      getrusage(RUSAGE_SELF): reads this mm's peak RSS
 *               (get_mm_hiwater_rss());
 *     status    read /proc/self/status: VmRSS and VmHWM sum the per-CPU
 *               RSS counters since v6.16;
 *     children  getrusage(RUSAGE_CHILDREN): the same system call, which
 *               reads no mm (the control).
 *   Faults fold into the mm's counter under the counter's lock once per
 *   batch (percpu_counter_batch); a reader that sums holds the same lock.
 * Usage: kcontend OUT self|status|children N PAGES (needs 2 CPUs)
 * Output: one JSON line in OUT: test, reader, faults, ns_per_fault,
 *   reader_calls, ns_per_call.  Exit 0, 1 on a failed call, 2 on usage
 *   errors (also with fewer than 2 CPUs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>

enum reader { SELF, STATUS, CHILDREN };

static atomic_int started, stop;
static long calls;
static long long reader_ns;

static void die(const char *what)
{
	fprintf(stderr, "kcontend: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long long now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		die("clock_gettime");
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity");
}

static void read_status(void)
{
	static char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY);

	if (fd < 0)
		die("open /proc/self/status");
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

static void *reader(void *arg)
{
	enum reader what = *(enum reader *)arg;
	struct rusage ru;
	long long t0;

	pin(1);
	t0 = now_ns();
	atomic_store(&started, 1);
	while (!atomic_load(&stop)) {
		if (what == STATUS)
			read_status();
		else if (getrusage(what == SELF ? RUSAGE_SELF : RUSAGE_CHILDREN, &ru))
			die("getrusage");
		calls++;
	}
	reader_ns = now_ns() - t0;
	return NULL;
}

/*
 * One mapping faulted in page by page, unmapped only after the clock
 * stops: a munmap in a process with two running threads would send the
 * other CPU a TLB flush IPI, and under QEMU's one-thread TCG that IPI
 * waits for the other vCPU's turn, which would swamp the lock.
 */
static long long fault(long n, long pages)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = (size_t)n * pages * page;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long long t0, ns;

	if (p == MAP_FAILED)
		die("mmap");
	if (madvise(p, len, MADV_NOHUGEPAGE) && errno != EINVAL)
		die("madvise");
	t0 = now_ns();
	for (long j = 0; j < n * pages; j++)
		p[j * page] = 1;
	ns = now_ns() - t0;
	if (munmap(p, len))
		die("munmap");
	return ns;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "self", "status", "children" };
	enum reader what = SELF;
	long n, pages;
	long long ns;
	pthread_t t;
	FILE *out;
	int found = 0;

	if (argc != 5 || (n = atol(argv[3])) <= 0 || (pages = atol(argv[4])) <= 0)
		goto usage;
	for (int i = 0; i < 3; i++)
		if (!strcmp(argv[2], names[i])) {
			what = i;
			found = 1;
		}
	if (!found || sysconf(_SC_NPROCESSORS_ONLN) < 2)
		goto usage;
	pin(0);
	errno = pthread_create(&t, NULL, reader, &what);
	if (errno)
		die("pthread_create");
	while (!atomic_load(&started))
		;
	ns = fault(n, pages);
	atomic_store(&stop, 1);
	errno = pthread_join(t, NULL);
	if (errno)
		die("pthread_join");
	out = fopen(argv[1], "w");
	if (!out)
		die(argv[1]);
	fprintf(out, "{\"test\":\"contend\",\"reader\":\"%s\",\"faults\":%ld,"
		"\"ns_per_fault\":%.1f,\"reader_calls\":%ld,\"ns_per_call\":%.1f}\n",
		names[what], n * pages, (double)ns / (n * pages), calls,
		calls ? (double)reader_ns / calls : 0.0);
	if (fclose(out))
		die("fclose");
	return 0;
usage:
	fprintf(stderr, "usage: kcontend OUT self|status|children N PAGES "
		"(needs 2 CPUs)\n");
	return 2;
}
