// SPDX-License-Identifier: GPL-2.0
/*
 * init - the /init of rsslab's QEMU guests: run the plan, report, power off.
 *
 * Does: mounts proc, sysfs, devtmpfs, a tmpfs /tmp and cgroup2 at
 *   /sys/fs/cgroup (with +memory in the root's subtree_control), and
 *   tracefs at /sys/kernel/tracing where the kernel has it (the observer's
 *   exact peak reads kmem:rss_stat there), then runs
 *   every line of /plan, one after another.  A plan line is
 *     ID <TAB> STDIN <TAB> OUT <TAB> ARGV0 <TAB> ARGV1 ...
 *   (STDIN is a file or "-" for /dev/null; OUT is the file the observer
 *   writes its JSON to).  Each run's result goes to the second serial port
 *   (/dev/ttyS1, set raw) as one frame:
 *     @run ID STATUS JSON_BYTES ERR_BYTES\n<json><stderr>\n
 *   STATUS is the observer's exit code, or 128+signal.  After the last line
 *   it writes "@done COUNT\n", drains the port and calls
 *   reboot(RB_POWER_OFF); QEMU runs with -no-reboot and exits.
 * Why: the kernel console (ttyS0) carries the kernel's own messages; the
 *   results travel apart from it, so nothing the kernel prints can corrupt
 *   them.  A panic or a hang shows on the console, which the host keeps.
 * Usage: booted as rdinit=/init; never run on the host.
 */
#include "common.h"

#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>

#define PLAN_PATH "/plan"
#define RESULTS_TTY "/dev/ttyS1"
#define ERR_PATH "/tmp/stderr"
#define MAX_ARGS 64
#define PLAN_BUF (1 << 20)
#define JSON_BUF 65536
#define ERR_BUF 2048

/* Messages to the console; the host keeps its last lines on failure. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(2, "rsslab-init: %s\n", msg);
}

static void __attribute__((noreturn)) power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	say("reboot(RB_POWER_OFF): %s", strerror(errno));
	for (;;)
		pause();
}

/* A setup step failed: say so and stop; the host reports the console. */
static void __attribute__((noreturn)) fail(const char *what)
{
	say("FAILED: %s: %s", what, strerror(errno));
	power_off();
}

static void mount_or_fail(const char *src, const char *dst, const char *type,
			  const char *data)
{
	if (mkdir(dst, 0755) && errno != EEXIST)
		fail(dst);
	if (mount(src, dst, type, 0, data))
		fail(dst);
}

static void write_or_fail(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		fail(path);
	close(fd);
}

static void setup_mounts(void)
{
	mount_or_fail("proc", "/proc", "proc", NULL);
	mount_or_fail("sysfs", "/sys", "sysfs", NULL);
	mount_or_fail("devtmpfs", "/dev", "devtmpfs", NULL);
	mount_or_fail("tmpfs", "/tmp", "tmpfs", "mode=1777");
	mount_or_fail("cgroup2", "/sys/fs/cgroup", "cgroup2", NULL);
	write_or_fail("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	/* Optional: sysfs has the mount point only with CONFIG_TRACING. */
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL))
		say("no tracefs (%s): the exact peak from kmem:rss_stat is not "
		    "available in this guest", strerror(errno));
}

/*
 * Credit the kernel's random number generator, which a TCG guest with no
 * entropy source may wait minutes for: until it is ready the kernel
 * hashes no pointer, and kmem:rss_stat gives every mm the id 0.  A test
 * guest keeps no secrets, so unverified bytes are credited as random.
 */
static void seed_random(void)
{
	struct {
		struct rand_pool_info info;
		unsigned char bytes[64];
	} seed = { .info = { .entropy_count = 8 * 64, .buf_size = 64 } };
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);

	/* GRND_INSECURE is 5.6+; before, the zeroed bytes do as well here. */
	(void)getrandom(seed.bytes, sizeof(seed.bytes), GRND_INSECURE);
	if (fd < 0 || ioctl(fd, RNDADDENTROPY, &seed.info))
		say("cannot seed the random number generator (%s): the exact peak "
		    "may not be available until it is ready", strerror(errno));
	if (fd >= 0)
		close(fd);
	/*
	 * The pointer hash is keyed by a callback once the generator is
	 * ready, on older kernels from a work item (lib/vsprintf.c): wait for
	 * the generator, then give the work item its moment.
	 */
	for (int i = 0; i < 200; i++) {
		if (getrandom(seed.bytes, 1, GRND_NONBLOCK) == 1) {
			usleep(100000);
			return;
		}
		usleep(10000);
	}
	say("the random number generator is not ready after 2 s");
}

static int open_results(void)
{
	struct termios t;
	int fd = open(RESULTS_TTY, O_WRONLY | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		fail(RESULTS_TTY);
	if (tcgetattr(fd, &t))
		fail("tcgetattr " RESULTS_TTY);
	cfmakeraw(&t);
	cfsetospeed(&t, B115200);
	if (tcsetattr(fd, TCSANOW, &t))
		fail("tcsetattr " RESULTS_TTY);
	return fd;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("write " RESULTS_TTY);
		buf += n;
		len -= (size_t)n;
	}
}

/* Read up to size-1 bytes of path; a missing file reads as empty. */
static size_t slurp(const char *path, char *buf, size_t size)
{
	ssize_t n = rsslab_read_file(path, buf, size);

	return n < 0 ? 0 : (size_t)n;
}

/* Split a plan line at tabs; returns the number of fields. */
static int split(char *line, char **field, int max)
{
	int n = 0;

	for (char *p = line; p && n < max; n++) {
		field[n] = p;
		p = strchr(p, '\t');
		if (p)
			*p++ = '\0';
	}
	return n;
}

static void __attribute__((noreturn)) exec_run(const char *in, char **argv)
{
	int fd = open(strcmp(in, "-") ? in : "/dev/null", O_RDONLY);

	if (fd < 0 || dup2(fd, 0) < 0)
		_exit(125);
	fd = open("/dev/null", O_WRONLY);
	if (fd < 0 || dup2(fd, 1) < 0)
		_exit(125);
	fd = open(ERR_PATH, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 2) < 0)
		_exit(125);
	execv(argv[0], argv);
	dprintf(2, "init: cannot execute %s: %s\n", argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

/* Run one plan line; send its frame. */
static void run_line(int res, char *line, char *json, char *err)
{
	char *field[MAX_ARGS + 4];
	char head[128];
	int n = split(line, field, MAX_ARGS + 3), st, status;
	size_t jlen, elen;
	pid_t pid;

	if (n < 4) {
		errno = EINVAL;
		fail("plan line with fewer than 4 fields");
	}
	field[n] = NULL;
	unlink(field[2]);
	say("run %s: %s", field[0], field[3]);
	pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0)
		exec_run(field[1], field + 3);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			fail("waitpid");
	status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	jlen = slurp(field[2], json, JSON_BUF);
	elen = slurp(ERR_PATH, err, ERR_BUF);
	rsslab_fmt(head, sizeof(head), "@run %s %d %zu %zu\n", field[0], status,
		   jlen, elen);
	write_all(res, head, strlen(head));
	write_all(res, json, jlen);
	write_all(res, err, elen);
	write_all(res, "\n", 1);
}

int main(void)
{
	char plan[PLAN_BUF], json[JSON_BUF], err[ERR_BUF];
	char done[64], *line, *save;
	int res, count = 0;

	setup_mounts();
	seed_random();
	res = open_results();
	if (rsslab_read_file(PLAN_PATH, plan, sizeof(plan)) < 0)
		fail(PLAN_PATH);
	say("plan loaded");
	for (line = strtok_r(plan, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		run_line(res, line, json, err);
		count++;
	}
	rsslab_fmt(done, sizeof(done), "@done %d\n", count);
	write_all(res, done, strlen(done));
	if (tcdrain(res))
		fail("tcdrain " RESULTS_TTY);
	say("plan done: %d runs", count);
	power_off();
}
