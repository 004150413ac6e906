// SPDX-License-Identifier: GPL-2.0
/*
 * observe - read every memory metric of a program the way judges do.
 *
 * Does: runs PROG as a ptrace child that asks only for PTRACE_O_TRACEEXIT
 *   (no syscall tracing).  At the thread-group leader's PTRACE_EVENT_EXIT
 *   stop it reads /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile,
 *   RssShmem), statm (resident), stat (field 24 rss, minflt, majflt) and
 *   smaps_rollup (Rss, Anonymous: the exact value, a page-table walk).
 *   Then it lets the child finish, reaps it with wait4() (ru_maxrss) and
 *   reads getrusage(RUSAGE_CHILDREN).  With --cgroup the child runs in a
 *   fresh memory cgroup of its own whose peak is recorded.  With
 *   --cgroup-if-available the same, but a kernel without a memory cgroup
 *   peak (v2 memory.peak is Linux 5.19+, 8e20d4b33266; v1
 *   memory.max_usage_in_bytes needs a v1 memory hierarchy) is no skip:
 *   the child runs without one and the JSON says why under "cgroup".
 * Why: judges read VmHWM at this stop or take ru_maxrss from wait4; the
 *   kernel fills both from approximate counters (see claims/).
 * Faults: the child also reports the page faults it took before execve
 *   (preexec_faults), so that faults since execve can be told apart.
 * Floor: exec keeps the old mm's peak in signal->maxrss
 *   (fs/exec.c:exec_mmap / exec_mm_put_old), so the child's ru_maxrss is at
 *   least the RSS of this observer's forked copy.  The child measures that
 *   copy (smaps_rollup) just before execve and reports it as exec_floor_kib.
 * Usage: observe [--cgroup|--cgroup-if-available] [--report] [--cpu N]
 *                [--out FILE] [--] PROG [ARG...]
 *        observe --parse DIR   (parse a recorded /proc snapshot: files
 *                               status, statm, stat, smaps_rollup in DIR)
 * Output: one JSON object.  Fields the kernel lacks are absent, never 0.
 * Exit: 0 measured (the child's own status is in the JSON); 1 broken;
 *   2 usage; 4 skip (ptrace or cgroup not available); 126 PROG not
 *   executable; 127 PROG not found.
 */
#include "common.h"

#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

static const char usage[] =
	"observe [--cgroup|--cgroup-if-available] [--report] [--cpu N] [--out FILE]"
	" [--] PROG [ARG...]\n"
	"       observe --parse DIR";

#define OUT_BUF 16384
#define PATH_BUF 4096
#define REPORT_FD 3
#define HIGH_FD 10

enum stage { STAGE_CGROUP = 1, STAGE_AFFINITY, STAGE_PTRACE, STAGE_EXEC };

enum cgroup_want { CG_NO, CG_NEEDED, CG_IF_AVAILABLE };

struct opts {
	enum cgroup_want cgroup;
	int report;
	long cpu;
	const char *out;
	const char *parse_dir;
	char **argv;
};

struct out {
	char buf[OUT_BUF];
	size_t len;
	int first;	/* no comma before the next key */
};

struct cg {
	int version;		/* 0: none, 1 or 2 */
	char dir[PATH_BUF];	/* the fresh cgroup */
	char peak[PATH_BUF];	/* memory.peak or memory.max_usage_in_bytes */
};

struct child {
	pid_t pid;
	int info_fd;		/* floor and setup errors from the child */
	int report_fd;		/* the scenario's report, or -1 */
};

static void out_add(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void out_add(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(o->buf) - o->len) {
		errno = 0;
		die("output longer than %d bytes", OUT_BUF);
	}
	o->len += (size_t)n;
}

/* A JSON string with the characters that need it escaped. */
static void out_str(struct out *o, const char *s)
{
	out_add(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			out_add(o, "\\%c", c);
		else if (c < 0x20)
			out_add(o, "\\u%04x", c);
		else
			out_add(o, "%c", c);
	}
	out_add(o, "\"");
}

/* "key":value (comma-separated) only when the value exists (>= 0). */
static void out_opt(struct out *o, const char *key, long v)
{
	if (v < 0)
		return;
	out_add(o, "%s\"%s\":%ld", o->first ? "" : ",", key, v);
	o->first = 0;
}

/* Field N (1-based, as in proc_pid_stat(5)) of /proc/PID/stat. */
static long stat_field(const char *stat, int n)
{
	const char *p = strrchr(stat, ')');
	int field = 2;

	if (!p || n < 3)
		return -1;
	p++;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			return -1;
		if (++field == n) {
			char *end;
			long v = strtol(p, &end, 10);

			return end == p || v < 0 ? -1 : v;
		}
		while (*p && *p != ' ')
			p++;
	}
	return -1;
}

/* Field N (1-based) of /proc/PID/statm. */
static long statm_field(const char *statm, int n)
{
	const char *p = statm;

	for (int i = 1; i < n; i++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -1;
	return strtol(p, NULL, 10);
}

static int read_in(const char *dir, const char *file, char *buf, size_t size)
{
	char path[PATH_BUF];

	rsslab_fmt(path, sizeof(path), "%s/%s", dir, file);
	return rsslab_read_file(path, buf, size) < 0 ? -1 : 0;
}

/*
 * The metrics at one moment, from DIR (/proc/PID or a recorded copy), as
 * the JSON object "exit_stop".  Each file is read once; smaps_rollup comes
 * last: it is the slowest and the exact reference.  A file or line the
 * kernel lacks leaves its keys out.
 */
static void read_metrics(struct out *o, const char *dir)
{
	static const char *const status_keys[] = {
		"VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "VmSwap",
	};
	char buf[RSSLAB_PROC_BUF];
	long page_kib = rsslab_page_size() / 1024;
	int ok;

	out_add(o, ",\"exit_stop\":{\"status\":{");
	o->first = 1;
	ok = !read_in(dir, "status", buf, sizeof(buf));
	for (size_t i = 0; ok && i < sizeof(status_keys) / sizeof(*status_keys); i++)
		out_opt(o, status_keys[i], rsslab_field(buf, status_keys[i]));
	out_add(o, "}");
	if (!read_in(dir, "statm", buf, sizeof(buf))) {
		long v = statm_field(buf, 2);

		out_opt(o, "statm_resident_kib", v < 0 ? -1 : v * page_kib);
	}
	if (!read_in(dir, "stat", buf, sizeof(buf))) {
		long v = stat_field(buf, 24);

		out_opt(o, "stat_rss_kib", v < 0 ? -1 : v * page_kib);
		out_opt(o, "stat_minflt", stat_field(buf, 10));
		out_opt(o, "stat_majflt", stat_field(buf, 12));
	}
	out_add(o, ",\"smaps_rollup\":{");
	o->first = 1;
	if (!read_in(dir, "smaps_rollup", buf, sizeof(buf))) {
		out_opt(o, "Rss", rsslab_field(buf, "Rss"));
		out_opt(o, "Anonymous", rsslab_field(buf, "Anonymous"));
	}
	out_add(o, "}}");
}

static void parse_args(int argc, char **argv, struct opts *op)
{
	int i;

	memset(op, 0, sizeof(*op));
	op->cpu = -1;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--cgroup")) {
			op->cgroup = CG_NEEDED;
		} else if (!strcmp(argv[i], "--cgroup-if-available")) {
			op->cgroup = CG_IF_AVAILABLE;
		} else if (!strcmp(argv[i], "--report")) {
			op->report = 1;
		} else if (!strcmp(argv[i], "--cpu") && i + 1 < argc) {
			op->cpu = rsslab_arg(argv[++i], "--cpu", 0, CPU_SETSIZE - 1,
					     usage);
		} else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
			op->out = argv[++i];
		} else if (!strcmp(argv[i], "--parse") && i + 1 < argc) {
			op->parse_dir = argv[++i];
		} else {
			char what[256];

			rsslab_fmt(what, sizeof(what), "unknown option '%s'", argv[i]);
			rsslab_usage(usage, what);
		}
	}
	if (!op->parse_dir && i >= argc)
		rsslab_usage(usage, "missing PROG");
	op->argv = argv + i;
}

/* Does the whitespace/comma separated list contain word? */
static int has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n) {
		int start = p == list || strchr(" ,\t\n", p[-1]);
		int end = !p[n] || strchr(" ,\t\n", p[n]);

		if (start && end)
			return 1;
	}
	return 0;
}

/*
 * Mount point and root of the hierarchy of fstype (and, for v1, the
 * super option "memory").  Returns 0 when found.
 */
static int find_mount(int version, char *mnt, char *root, size_t size)
{
	char buf[32768];
	char *line, *save;

	if (rsslab_read_file("/proc/self/mountinfo", buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char r[PATH_BUF], m[PATH_BUF], fstype[64], opts[1024];
		char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %4095s %4095s", r, m) != 2)
			continue;
		if (sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
			continue;
		if (version == 2 && strcmp(fstype, "cgroup2"))
			continue;
		if (version == 1 && (strcmp(fstype, "cgroup") ||
				     !has_word(opts, "memory")))
			continue;
		rsslab_fmt(mnt, size, "%s", m);
		rsslab_fmt(root, size, "%s", r);
		return 0;
	}
	return -1;
}

/* This process's cgroup path in the v2 ("") or v1 ("memory") hierarchy. */
static int own_cgroup(int version, char *path, size_t size)
{
	char buf[RSSLAB_PROC_BUF];
	char *line, *save;

	if (rsslab_read_file("/proc/self/cgroup", buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *ctrl = strchr(line, ':');
		char *p = ctrl ? strchr(ctrl + 1, ':') : NULL;

		if (!p)
			continue;
		*ctrl = '\0';	/* line: the hierarchy id */
		*p = '\0';	/* ctrl + 1: its controllers */
		if ((version == 2 && !strcmp(line, "0") && !ctrl[1]) ||
		    (version == 1 && has_word(ctrl + 1, "memory"))) {
			rsslab_fmt(path, size, "%s", p + 1);
			return 0;
		}
	}
	return -1;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* The directory of this process's cgroup in hierarchy version 1 or 2. */
static int cgroup_parent(int version, char *dir, size_t size)
{
	char mnt[PATH_BUF], root[PATH_BUF], own[PATH_BUF];
	const char *rel;

	if (find_mount(version, mnt, root, sizeof(mnt)) ||
	    own_cgroup(version, own, sizeof(own)))
		return -1;
	rel = own;
	if (strcmp(root, "/") && !strncmp(own, root, strlen(root)))
		rel = own + strlen(root);
	rsslab_fmt(dir, size, "%s%s", mnt, rel);
	return 0;
}

/* v2 needs the memory controller enabled for the parent's children. */
static int v2_enable_memory(const char *parent)
{
	char path[PATH_BUF], buf[1024];

	rsslab_fmt(path, sizeof(path), "%s/cgroup.controllers", parent);
	if (rsslab_read_file(path, buf, sizeof(buf)) < 0 || !has_word(buf, "memory"))
		return -1;
	rsslab_fmt(path, sizeof(path), "%s/cgroup.subtree_control", parent);
	if (rsslab_read_file(path, buf, sizeof(buf)) >= 0 && has_word(buf, "memory"))
		return 0;
	return write_str(path, "+memory");
}

static int cgroup_try(struct cg *cg, int version)
{
	char parent[PATH_BUF];

	if (cgroup_parent(version, parent, sizeof(parent)))
		return -1;
	if (version == 2 && v2_enable_memory(parent))
		return -1;
	rsslab_fmt(cg->dir, sizeof(cg->dir), "%s/rsslab-observe-%d", parent,
		 (int)getpid());
	if (mkdir(cg->dir, 0755))
		return -1;
	rsslab_fmt(cg->peak, sizeof(cg->peak), "%s/%s", cg->dir,
		 version == 2 ? "memory.peak" : "memory.max_usage_in_bytes");
	if (access(cg->peak, R_OK)) {
		rmdir(cg->dir);
		return -1;
	}
	cg->version = version;
	return 0;
}

#define NO_CGROUP_PEAK "no memory cgroup with a peak to create (need a " \
	"writable cgroup v2 with the memory controller and memory.peak, " \
	"Linux 5.19+, or v1 memory)"

/* 0 with a fresh cgroup, -1 without one (only when it is not needed). */
static int cgroup_create(struct cg *cg, enum cgroup_want want)
{
	memset(cg, 0, sizeof(*cg));
	if (!cgroup_try(cg, 2) || !cgroup_try(cg, 1))
		return 0;
	if (want == CG_NEEDED)
		rsslab_skip(NO_CGROUP_PEAK "; run as root or drop --cgroup");
	return -1;
}

static long cgroup_peak_kib(const struct cg *cg)
{
	char buf[64];
	long long v;

	if (rsslab_read_file(cg->peak, buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%lld", &v) != 1 || v < 0)
		return -1;
	return (long)(v / 1024);
}

static void cgroup_remove(const struct cg *cg)
{
	for (int i = 0; i < 100; i++) {
		if (!rmdir(cg->dir) || errno != EBUSY)
			return;
		usleep(10000);
	}
}

/* This process's exact RSS, or -1 on a kernel without smaps_rollup. */
static long self_rss_or_absent(void)
{
	char buf[RSSLAB_PROC_BUF];

	if (rsslab_read_file("/proc/self/smaps_rollup", buf, sizeof(buf)) < 0)
		return -1;
	return rsslab_field(buf, "Rss");
}

/*
 * Page faults this task took so far (minflt + majflt).  The count goes on
 * across execve, so the exit stop's count minus this one is what the
 * program took since execve.
 */
static long self_faults(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return -1;
	return ru.ru_minflt + ru.ru_majflt;
}

/*
 * Run, once, the code the child runs after measuring its floor (dprintf,
 * getrusage, execvp with a name of the same shape, which fails), so that
 * none of it faults in pages after the measurement: the floor is then the
 * RSS exec really hands down.
 */
static void warm_up_exec(int info_fd, char **argv)
{
	char *const none[] = { NULL };
	const char *name = strchr(argv[0], '/') ? "/nonexistent/rsslab-warm-up"
						 : "rsslab-warm-up-nonexistent";

	dprintf(info_fd, "W %ld\n", self_faults());
	execvp(name, none);
}

static void __attribute__((noreturn))
child_fail(int fd, enum stage stage, int exit_code)
{
	dprintf(fd, "E %d %d\n", (int)stage, errno);
	_exit(exit_code);
}

static void __attribute__((noreturn))
child_run(const struct opts *op, const struct cg *cg, int info_fd, int report_w)
{
	if (cg->version) {
		char procs[PATH_BUF + 16];

		rsslab_fmt(procs, sizeof(procs), "%s/cgroup.procs", cg->dir);
		if (write_str(procs, "0"))
			child_fail(info_fd, STAGE_CGROUP, RSSLAB_EXIT_BROKEN);
	}
	if (op->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(op->cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			child_fail(info_fd, STAGE_AFFINITY, RSSLAB_EXIT_BROKEN);
	}
	if (report_w >= 0) {
		if (dup2(report_w, REPORT_FD) < 0 ||
		    setenv("RSSLAB_REPORT_FD", "3", 1))
			child_fail(info_fd, STAGE_EXEC, RSSLAB_EXIT_BROKEN);
	}
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
		child_fail(info_fd, STAGE_PTRACE, RSSLAB_EXIT_SKIP);
	warm_up_exec(info_fd, op->argv);
	dprintf(info_fd, "F %ld\n", self_rss_or_absent());
	dprintf(info_fd, "P %ld\n", self_faults());
	execvp(op->argv[0], op->argv);
	child_fail(info_fd, STAGE_EXEC, errno == ENOENT ? 127 : 126);
}

static void start_child(const struct opts *op, const struct cg *cg,
			struct child *c)
{
	int info[2], rep[2] = { -1, -1 };

	if (pipe2(info, O_CLOEXEC))
		die("pipe2");
	/* Keep our pipe ends clear of the report descriptor, 3. */
	for (int i = 0; i < 2; i++) {
		int fd = fcntl(info[i], F_DUPFD_CLOEXEC, HIGH_FD);

		if (fd < 0)
			die("fcntl(F_DUPFD_CLOEXEC)");
		close(info[i]);
		info[i] = fd;
	}
	if (op->report && (pipe2(rep, O_CLOEXEC) ||
			   fcntl(rep[0], F_SETFL, O_NONBLOCK)))
		die("report pipe");
	c->pid = fork();
	if (c->pid < 0)
		die("fork");
	if (c->pid == 0) {
		close(info[0]);
		if (rep[0] >= 0)
			close(rep[0]);
		child_run(op, cg, info[1], rep[1]);
	}
	close(info[1]);
	if (rep[1] >= 0)
		close(rep[1]);
	c->info_fd = info[0];
	c->report_fd = rep[0];
}

/* The child's message: "W", "F floor", "P faults", then maybe "E stage errno". */
static long read_info(int fd, int *stage, int *err, long *faults)
{
	char buf[256];
	size_t len = 0;
	ssize_t n;
	long floor = -1;
	char *e;

	memset(buf, 0, sizeof(buf));
	while (len < sizeof(buf) - 1 &&
	       ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0 ||
		(n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	close(fd);
	*stage = 0;
	*err = 0;
	e = strstr(buf, "F ");
	if (e)
		floor = strtol(e + 2, NULL, 10);
	e = strstr(buf, "\nP ");
	*faults = e ? strtol(e + 3, NULL, 10) : -1;
	e = strstr(buf, "E ");
	if (e && sscanf(e, "E %d %d", stage, err) != 2)
		*stage = 0;
	return floor;
}

static void __attribute__((noreturn))
setup_failed(const struct opts *op, const struct cg *cg, int stage, int err)
{
	if (cg->version)
		cgroup_remove(cg);
	errno = 0;
	switch (stage) {
	case STAGE_PTRACE:
		dprintf(2, "observe: ptrace denied (PTRACE_TRACEME: %s); run as "
			"root, or set kernel.yama.ptrace_scope to 0 or 1, and do "
			"not run observe under another tracer\n", strerror(err));
		_exit(RSSLAB_EXIT_SKIP);
	case STAGE_EXEC:
		dprintf(2, "observe: cannot execute '%s': %s\n", op->argv[0],
			strerror(err));
		_exit(err == ENOENT ? 127 : 126);
	case STAGE_CGROUP:
		dprintf(2, "observe: cannot move the child into %s: %s\n",
			cg->dir, strerror(err));
		_exit(RSSLAB_EXIT_SKIP);
	case STAGE_AFFINITY:
		dprintf(2, "observe: cannot pin the child to CPU %ld: %s\n",
			op->cpu, strerror(err));
		_exit(RSSLAB_EXIT_USAGE);
	default:
		dprintf(2, "observe: the child died before execve\n");
		_exit(RSSLAB_EXIT_BROKEN);
	}
}

/* Drain the report pipe (non-blocking) into buf. */
static void drain(int fd, char *buf, size_t size, size_t *len)
{
	ssize_t n;

	if (fd < 0)
		return;
	while (*len < size - 1 &&
	       ((n = read(fd, buf + *len, size - 1 - *len)) > 0 ||
		(n < 0 && errno == EINTR)))
		*len += n > 0 ? (size_t)n : 0;
	buf[*len] = '\0';
}

static int is_group_stop(pid_t pid, int sig)
{
	siginfo_t si;

	if (sig != SIGSTOP && sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU)
		return 0;
	return ptrace(PTRACE_GETSIGINFO, pid, NULL, &si) && errno == EINVAL;
}

/* Which signal to pass on when the tracee stops with status st. */
static int deliver(pid_t pid, int st)
{
	int sig = WSTOPSIG(st);

	if (sig == SIGTRAP)	/* an event stop, or a later execve's trap */
		return 0;
	if (is_group_stop(pid, sig))
		return 0;
	return sig;
}

/* Run the traced child to its end; metrics at the exit stop go into o. */
static int trace(struct child *c, struct out *o, struct rusage *ru,
		 char *rep, size_t rep_size, size_t *rep_len)
{
	char dir[64];
	int st, seen_exit = 0;

	rsslab_fmt(dir, sizeof(dir), "/proc/%d", (int)c->pid);
	if (ptrace(PTRACE_SETOPTIONS, c->pid, NULL,
		   (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL)))
		die("PTRACE_SETOPTIONS");
	if (ptrace(PTRACE_CONT, c->pid, NULL, NULL))
		die("PTRACE_CONT");
	for (;;) {
		if (wait4(c->pid, &st, 0, ru) < 0) {
			if (errno == EINTR)
				continue;
			die("wait4");
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8)) && !seen_exit) {
			seen_exit = 1;
			drain(c->report_fd, rep, rep_size, rep_len);
			read_metrics(o, dir);
		}
		ptrace(PTRACE_CONT, c->pid, NULL, (void *)(long)deliver(c->pid, st));
	}
	return st;
}

static void add_report(struct out *o, const char *rep)
{
	size_t n = strlen(rep);

	while (n && (rep[n - 1] == '\n' || rep[n - 1] == ' '))
		n--;
	if (!n)
		return;
	if (rep[0] == '{' && rep[n - 1] == '}' && !memchr(rep, '\n', n)) {
		out_add(o, ",\"report\":%.*s", (int)n, rep);
		return;
	}
	out_add(o, ",\"report_text\":");
	out_str(o, rep);
}

static void add_header(struct out *o, const struct opts *op)
{
	struct utsname u;
	long ncpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (uname(&u))
		die("uname");
	out_add(o, "{\"observer\":1,\"kernel_release\":");
	out_str(o, u.release);
	out_add(o, ",\"kernel_version\":");
	out_str(o, u.version);
	out_add(o, ",\"ncpus\":%ld,\"page_size\":%ld,\"argv\":[", ncpus,
		rsslab_page_size());
	for (char **a = op->argv; *a; a++) {
		out_add(o, "%s", a == op->argv ? "" : ",");
		out_str(o, *a);
	}
	out_add(o, "]");
}

static void add_end(struct out *o, int st, const struct rusage *ru)
{
	struct rusage children;

	if (WIFEXITED(st))
		out_add(o, ",\"exit_code\":%d", WEXITSTATUS(st));
	else
		out_add(o, ",\"exit_signal\":%d", WTERMSIG(st));
	out_add(o, ",\"wait4_maxrss_kib\":%ld,\"wait4_minflt\":%ld",
		ru->ru_maxrss, ru->ru_minflt);
	if (getrusage(RUSAGE_CHILDREN, &children))
		die("getrusage(RUSAGE_CHILDREN)");
	out_add(o, ",\"children_maxrss_kib\":%ld", children.ru_maxrss);
}

static void emit(const struct opts *op, struct out *o)
{
	int fd = 1;
	size_t off = 0;

	out_add(o, "}\n");
	if (op->out && strcmp(op->out, "-")) {
		fd = open(op->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			die("open %s", op->out);
	}
	while (off < o->len) {
		ssize_t n = write(fd, o->buf + off, o->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write %s", op->out ? op->out : "stdout");
		off += (size_t)n;
	}
	if (fd != 1)
		close(fd);
}

static int parse_only(const struct opts *op, struct out *o)
{
	struct stat st;

	if (stat(op->parse_dir, &st) || !S_ISDIR(st.st_mode))
		die("%s is not a directory of /proc files", op->parse_dir);
	out_add(o, "{\"observer\":1");
	read_metrics(o, op->parse_dir);
	emit(op, o);
	return RSSLAB_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct out o = { .len = 0 };
	char rep[RSSLAB_REPORT_BUF] = "";
	struct opts op;
	struct cg cg;
	struct child c;
	struct rusage ru;
	size_t rep_len = 0;
	int st, stage, err, no_cgroup = 0;
	long floor, faults;

	parse_args(argc, argv, &op);
	if (op.parse_dir)
		return parse_only(&op, &o);
	memset(&cg, 0, sizeof(cg));
	if (op.cgroup != CG_NO)
		no_cgroup = cgroup_create(&cg, op.cgroup);
	start_child(&op, &cg, &c);
	if (waitpid(c.pid, &st, 0) < 0)
		die("waitpid");
	floor = read_info(c.info_fd, &stage, &err, &faults);
	if (stage || !WIFSTOPPED(st))
		setup_failed(&op, &cg, stage, err);
	add_header(&o, &op);
	out_opt(&o, "exec_floor_kib", floor);
	out_opt(&o, "preexec_faults", faults);
	st = trace(&c, &o, &ru, rep, sizeof(rep), &rep_len);
	drain(c.report_fd, rep, sizeof(rep), &rep_len);
	add_end(&o, st, &ru);
	if (cg.version) {
		out_add(&o, ",\"cgroup\":{\"version\":%d", cg.version);
		out_opt(&o, "peak_kib", cgroup_peak_kib(&cg));
		out_add(&o, "}");
		cgroup_remove(&cg);
	} else if (no_cgroup) {
		out_add(&o, ",\"cgroup\":{\"unavailable\":\"%s\"}", NO_CGROUP_PEAK);
	}
	add_report(&o, rep);
	emit(&op, &o);
	return RSSLAB_EXIT_OK;
}
