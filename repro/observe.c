// SPDX-License-Identifier: GPL-2.0
/*
 * observe - read every memory metric of a program the way judges do, and
 *   its exact peak.
 *
 * Does: runs PROG as a ptrace child with PTRACE_O_TRACEEXIT and the fork,
 *   vfork, clone and exec options, so that every task PROG starts is traced
 *   too (no syscall tracing).  At the PTRACE_EVENT_EXIT stop of PROG's own
 *   pid (the thread-group leader, where a judge such as DMOJ reads) it
 *   reads /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile, RssShmem),
 *   statm (resident), stat (field 24 rss, minflt, majflt) and smaps_rollup
 *   (Rss, Anonymous: the exact value, a page-table walk): "exit_stop".  At
 *   the exit stop of the last task of each mm PROG's pid ran in (threads
 *   that outlive the leader, clone(CLONE_VM) children; kcmp(KCMP_VM) tells
 *   which share it) it walks smaps_rollup again: "whole" keeps the largest.
 *   Where the kernel has the kmem:rss_stat trace event and tracefs is
 *   writable, it also follows every change of the tree's RSS counters
 *   (rss_trace.h): "rss_stat".  It reaps every task with wait4() (PROG's
 *   ru_maxrss), then reads getrusage(RUSAGE_CHILDREN) (CPU times too).
 *   With --cgroup the child runs in a fresh memory cgroup of its own whose
 *   peak is recorded.  With --cgroup-if-available the same, but a kernel
 *   without a memory cgroup peak (v2 memory.peak is Linux 5.19+,
 *   8e20d4b33266; v1 memory.max_usage_in_bytes needs a v1 memory hierarchy)
 *   is no skip: the child runs without one and the JSON says why.
 * Lifecycle: the observer is the subreaper of everything PROG starts and
 *   traces it with PTRACE_O_EXITKILL, so nothing outlives it: when PROG's
 *   own process is reaped, what it left running is killed and reaped; on
 *   --timeout, SIGTERM, SIGINT, SIGHUP or the death of the observer's
 *   parent (PR_SET_PDEATHSIG) the whole tree is killed, reaped and
 *   reported ("timed_out", "interrupted") with its peak so far.  The
 *   tracefs instance and the cgroup are removed on every exit path; ones a
 *   SIGKILL left behind are removed at the next start.
 * Why: judges read VmHWM at this stop or take ru_maxrss from wait4; the
 *   kernel fills both from approximate counters (see claims/).
 * Faults: the child also reports the page faults it took before execve
 *   (preexec_faults), so that faults since execve can be told apart.
 * Floor: exec keeps the old mm's peak in signal->maxrss
 *   (fs/exec.c:exec_mmap / exec_mm_put_old), so the child's ru_maxrss is at
 *   least the RSS of this observer's forked copy.  The child measures that
 *   copy (smaps_rollup) just before execve and reports it as exec_floor_kib.
 * Usage: observe [--cgroup|--cgroup-if-available] [--report] [--cpu N]
 *                [--timeout SECONDS] [--no-trace] [--out FILE|--out-fd FD]
 *                [--] PROG [ARG...]
 *        observe --parse DIR   (parse a recorded /proc snapshot: files
 *                               status, statm, stat, smaps_rollup in DIR)
 * Output: one JSON object.  Fields the kernel lacks are absent, never 0.
 * Exit: 0 measured (the child's own status is in the JSON, so is a
 *   timeout or an interruption); 1 broken; 2 usage; 4 skip (ptrace or
 *   cgroup not available); 126 PROG not executable; 127 PROG not found.
 */
#include "common.h"
#include "rss_trace.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

static const char usage[] =
	"observe [--cgroup|--cgroup-if-available] [--report] [--cpu N]"
	" [--timeout SECONDS] [--no-trace] [--out FILE|--out-fd FD] [--] PROG [ARG...]\n"
	"       observe --parse DIR";

#define PATH_BUF 4096
#define REPORT_FD 3
#define HIGH_FD 10
#define KCMP_VM_TYPE 1		/* KCMP_VM, include/uapi/linux/kcmp.h */
#define POLL_MS 20		/* drain the trace at least this often */

enum stage { STAGE_CGROUP = 1, STAGE_AFFINITY, STAGE_PTRACE, STAGE_EXEC };

enum cgroup_want { CG_NO, CG_NEEDED, CG_IF_AVAILABLE };

struct opts {
	enum cgroup_want cgroup;
	int report;
	int trace;
	long cpu;
	double timeout;		/* seconds, 0: none */
	const char *out;
	int out_fd;
	const char *parse_dir;
	char **argv;
};

/* The JSON being written; it grows as needed (any argv fits). */
struct out {
	char *buf;
	size_t len, cap;
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

/* A traced task, and which mm it runs in, as far as the observer knows. */
struct task {
	pid_t tid;		/* 0: a free slot */
	int key;		/* the mm: our own numbering */
	unsigned char live;	/* not at its exit stop yet */
	unsigned char started;	/* its first stop was seen */
};

/* One mm by our numbering: how many traced tasks run in it. */
struct mmkey {
	int live;
	unsigned char command;	/* PROG's own pid ran in it */
};

/* The largest exact RSS read at an exit stop of one of PROG's mms. */
struct reading {
	long rss, hwm, vmrss;
	int walks;
};

struct run {
	const struct opts *op;
	struct child c;
	struct out *o;
	struct rt rt;
	struct cg cg;
	struct task *task;
	size_t task_cap, task_used, tasks_seen, processes;
	/* The most tasks alive at once: in PROG's mms, and in the tree. */
	int mm_tasks_max, tree_tasks_max;
	struct mmkey *key;
	int keys, key_cap;
	int sigfd;
	int root_read, root_reaped, root_status, kcmp_missing, leader_early;
	struct rusage root_ru;
	struct reading whole;
	int killed, over, timed_out, interrupted, no_children;
	double start, deadline, wall;
	char rep[RSSLAB_REPORT_BUF];
	size_t rep_len;
};

/* For rsslab_atdie(): what to undo when the observer dies. */
static struct run *dying_run;

static void out_add(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void out_add(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("vsnprintf");
		if ((size_t)n < o->cap - o->len)
			break;
		o->cap = 2 * (o->cap + (size_t)n);
		o->buf = realloc(o->buf, o->cap);
		if (!o->buf)
			die("realloc %zu bytes of output", o->cap);
	}
	o->len += (size_t)n;
}

/*
 * A JSON string.  Bytes that are not printable ASCII (an argument need not
 * be UTF-8) are written as \u00XX, so the output is always valid JSON.
 */
static void out_str(struct out *o, const char *s)
{
	out_add(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			out_add(o, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static void keep_walk(struct reading *w, long rss, long hwm, long vmrss);

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
 * kernel lacks leaves its keys out.  When w is given, the reading also
 * counts as a walk of one of PROG's mms (see read_whole()).
 */
static void read_metrics(struct out *o, const char *dir, struct reading *w)
{
	static const char *const status_keys[] = {
		"VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "VmSwap",
	};
	char buf[RSSLAB_PROC_BUF];
	long page_kib = rsslab_page_size() / 1024, hwm = -1, vmrss = -1;
	int ok;

	out_add(o, ",\"exit_stop\":{\"status\":{");
	o->first = 1;
	ok = !read_in(dir, "status", buf, sizeof(buf));
	for (size_t i = 0; ok && i < sizeof(status_keys) / sizeof(*status_keys); i++)
		out_opt(o, status_keys[i], rsslab_field(buf, status_keys[i]));
	if (ok) {
		hwm = rsslab_field(buf, "VmHWM");
		vmrss = rsslab_field(buf, "VmRSS");
	}
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
		long rss = rsslab_field(buf, "Rss");

		out_opt(o, "Rss", rss);
		out_opt(o, "Anonymous", rsslab_field(buf, "Anonymous"));
		if (w)
			keep_walk(w, rss, hwm, vmrss);
	}
	out_add(o, "}}");
}

static void keep_walk(struct reading *w, long rss, long hwm, long vmrss)
{
	w->walks++;
	if (rss > w->rss) {
		w->rss = rss;
		w->hwm = hwm;
		w->vmrss = vmrss;
	}
}

/* The exact RSS of one of PROG's mms now, through task tid: keep the largest. */
static void read_whole(struct reading *w, pid_t tid)
{
	char dir[64], buf[RSSLAB_PROC_BUF];
	long hwm = -1, vmrss = -1, rss;

	rsslab_fmt(dir, sizeof(dir), "/proc/%d", (int)tid);
	if (!read_in(dir, "status", buf, sizeof(buf))) {
		hwm = rsslab_field(buf, "VmHWM");
		vmrss = rsslab_field(buf, "VmRSS");
	}
	if (read_in(dir, "smaps_rollup", buf, sizeof(buf)))
		return;
	rss = rsslab_field(buf, "Rss");
	keep_walk(w, rss, hwm, vmrss);
}

static double arg_seconds(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 1e9)
		rsslab_usage(usage, "bad --timeout: give seconds > 0");
	return v;
}

static void parse_args(int argc, char **argv, struct opts *op)
{
	int i;

	memset(op, 0, sizeof(*op));
	op->cpu = -1;
	op->out_fd = -1;
	op->trace = 1;
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
		} else if (!strcmp(argv[i], "--no-trace")) {
			op->trace = 0;
		} else if (!strcmp(argv[i], "--cpu") && i + 1 < argc) {
			op->cpu = rsslab_arg(argv[++i], "--cpu", 0, CPU_SETSIZE - 1,
					     usage);
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			op->timeout = arg_seconds(argv[++i]);
		} else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
			op->out = argv[++i];
		} else if (!strcmp(argv[i], "--out-fd") && i + 1 < argc) {
			op->out_fd = (int)rsslab_arg(argv[++i], "--out-fd", 1, INT_MAX,
						     usage);
		} else if (!strcmp(argv[i], "--parse") && i + 1 < argc) {
			op->parse_dir = argv[++i];
		} else {
			char what[256];

			rsslab_fmt(what, sizeof(what), "unknown option '%.100s'", argv[i]);
			rsslab_usage(usage, what);
		}
	}
	if (!op->parse_dir && i >= argc)
		rsslab_usage(usage, "missing PROG");
	/* The JSON's descriptor is the observer's own: PROG must not hold it. */
	if (op->out_fd >= 0 && fcntl(op->out_fd, F_SETFD, FD_CLOEXEC))
		rsslab_usage(usage, "bad --out-fd: not an open descriptor");
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

#define CG_PREFIX "rsslab-observe-"

static int cgroup_try(struct cg *cg, int version)
{
	char parent[PATH_BUF];

	if (cgroup_parent(version, parent, sizeof(parent)))
		return -1;
	if (version == 2 && v2_enable_memory(parent))
		return -1;
	rsslab_rmdir_stale(parent, CG_PREFIX);	/* empty ones only */
	rsslab_fmt(cg->dir, sizeof(cg->dir), "%s/" CG_PREFIX "%d-%lld", parent,
		   (int)getpid(), rsslab_start_time(getpid()));
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

static void cgroup_remove(struct cg *cg)
{
	if (!cg->version)
		return;
	for (int i = 0; i < 100; i++) {
		if (!rmdir(cg->dir) || errno != EBUSY)
			break;
		usleep(10000);
	}
	cg->version = 0;
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

/* The signals the observer takes through its signalfd. */
static void handled_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
}

static void __attribute__((noreturn))
child_run(const struct opts *op, const struct cg *cg, int info_fd, int report_w,
	  const sigset_t *mask)
{
	if (sigprocmask(SIG_SETMASK, mask, NULL) || prctl(PR_SET_PDEATHSIG, 0))
		child_fail(info_fd, STAGE_EXEC, RSSLAB_EXIT_BROKEN);
	signal(SIGPIPE, SIG_DFL);
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
			struct child *c, const sigset_t *mask)
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
		child_run(op, cg, info[1], rep[1], mask);
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

/* Undo what the observer set up outside itself; safe more than once. */
static void release(struct run *r)
{
	rt_close(&r->rt);
	cgroup_remove(&r->cg);
}

static void atdie_release(void)
{
	if (dying_run)
		release(dying_run);
}

static void __attribute__((noreturn))
setup_failed(struct run *r, int stage, int err)
{
	const struct opts *op = r->op;

	release(r);
	errno = 0;
	switch (stage) {
	case STAGE_PTRACE:
		dprintf(2, "observe: ptrace denied (PTRACE_TRACEME: %s); run as "
			"root, or set kernel.yama.ptrace_scope to 0 or 1, and do "
			"not run observe under another tracer\n", strerror(err));
		_exit(RSSLAB_EXIT_SKIP);
	case STAGE_EXEC:
		dprintf(2, "observe: cannot execute '%.200s': %s\n", op->argv[0],
			strerror(err));
		_exit(err == ENOENT ? 127 : 126);
	case STAGE_CGROUP:
		dprintf(2, "observe: cannot move the child into %s: %s\n",
			r->cg.dir, strerror(err));
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

/* Drain the report pipe (non-blocking) into r->rep. */
static void drain(struct run *r)
{
	size_t size = sizeof(r->rep);
	ssize_t n;

	if (r->c.report_fd < 0)
		return;
	while (r->rep_len < size - 1 &&
	       ((n = read(r->c.report_fd, r->rep + r->rep_len, size - 1 - r->rep_len)) > 0 ||
		(n < 0 && errno == EINTR)))
		r->rep_len += n > 0 ? (size_t)n : 0;
	r->rep[r->rep_len] = '\0';
}

/* --- the traced tasks ------------------------------------------------------ */

static struct task *task_find(struct run *r, pid_t tid, int add)
{
	size_t i;

	if (add && 2 * (r->task_used + 1) > r->task_cap) {
		struct task *old = r->task;
		size_t cap = r->task_cap;

		r->task_cap = cap ? 2 * cap : 64;
		r->task = calloc(r->task_cap, sizeof(*r->task));
		if (!r->task)
			die("calloc %zu tasks", r->task_cap);
		r->task_used = 0;
		for (i = 0; i < cap; i++)
			if (old[i].tid)
				*task_find(r, old[i].tid, 1) = old[i];
		free(old);
	}
	if (!r->task_cap)
		return NULL;
	for (i = (size_t)tid % r->task_cap; r->task[i].tid; i = (i + 1) % r->task_cap)
		if (r->task[i].tid == tid)
			return &r->task[i];
	if (!add)
		return NULL;
	memset(&r->task[i], 0, sizeof(r->task[i]));
	r->task[i].tid = tid;
	r->task[i].key = -1;
	r->task_used++;
	r->tasks_seen++;
	return &r->task[i];
}

/* Remove a task from the table (open addressing: re-add what follows). */
static void task_drop(struct run *r, pid_t tid)
{
	struct task *t = task_find(r, tid, 0);
	size_t i;

	if (!t)
		return;
	if (t->live && t->key >= 0)
		r->key[t->key].live--;
	i = (size_t)(t - r->task);
	r->task[i].tid = 0;
	r->task_used--;
	for (i = (i + 1) % r->task_cap; r->task[i].tid; i = (i + 1) % r->task_cap) {
		struct task moved = r->task[i];

		r->task[i].tid = 0;
		r->task_used--;
		*task_find(r, moved.tid, 1) = moved;
		r->tasks_seen--;
	}
}

static int new_key(struct run *r, int command)
{
	if (r->keys == r->key_cap) {
		r->key_cap = r->key_cap ? 2 * r->key_cap : 16;
		r->key = realloc(r->key, (size_t)r->key_cap * sizeof(*r->key));
		if (!r->key)
			die("realloc %d mm keys", r->key_cap);
	}
	r->key[r->keys].live = 0;
	r->key[r->keys].command = (unsigned char)command;
	return r->keys++;
}

static void task_join(struct run *r, struct task *t, int key)
{
	int mm = 0, tree = 0;

	if (t->live && t->key >= 0)
		r->key[t->key].live--;
	t->key = key;
	t->live = 1;
	r->key[key].live++;
	for (int k = 0; k < r->keys; k++) {
		tree += r->key[k].live;
		mm += r->key[k].command ? r->key[k].live : 0;
	}
	if (mm > r->mm_tasks_max)
		r->mm_tasks_max = mm;
	if (tree > r->tree_tasks_max)
		r->tree_tasks_max = tree;
}

/* Is tid a thread of pid's process?  (Tgid in /proc/TID/status.) */
static int same_process(pid_t pid, pid_t tid)
{
	char path[64], buf[RSSLAB_PROC_BUF];

	rsslab_fmt(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (rsslab_read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	rsslab_fmt(path, sizeof(path), "/proc/%d/status", (int)pid);
	{
		long tgid = rsslab_field(buf, "Tgid");
		char mine[RSSLAB_PROC_BUF];

		if (rsslab_read_file(path, mine, sizeof(mine)) < 0)
			return 0;
		return tgid >= 0 && tgid == rsslab_field(mine, "Tgid");
	}
}

/*
 * The mm key of child, just created by parent with ptrace event ev:
 * kcmp(KCMP_VM) says whether they share the mm; without kcmp (a kernel
 * built without CONFIG_KCMP) a thread or a vfork child shares it and
 * anything else is taken for a fork.
 */
static int child_key(struct run *r, pid_t parent, pid_t child, int ev, int *process)
{
	int parent_key = task_find(r, parent, 1)->key;
	long same = syscall(SYS_kcmp, parent, child, KCMP_VM_TYPE, 0, 0);
	int thread = same_process(parent, child);

	*process = !thread;
	if (same < 0) {
		if (ev == PTRACE_EVENT_CLONE && !thread)
			r->kcmp_missing = 1;
		same = !(thread || ev == PTRACE_EVENT_VFORK);
	}
	if (same == 0 && parent_key >= 0)
		return parent_key;
	return new_key(r, 0);
}

/* --- the trace loop --------------------------------------------------------- */

static void cont(pid_t tid, int sig)
{
	ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig);
}

static int is_group_stop(pid_t pid, int sig)
{
	siginfo_t si;

	if (sig != SIGSTOP && sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU)
		return 0;
	return ptrace(PTRACE_GETSIGINFO, pid, NULL, &si) && errno == EINVAL;
}

/* Kill every traced task (each process once is enough, any tid will do). */
static void kill_all(struct run *r)
{
	r->killed = 1;
	for (size_t i = 0; i < r->task_cap; i++)
		if (r->task[i].tid)
			kill(r->task[i].tid, SIGKILL);
}

/* Tasks that run in one of PROG's mms and have not reached their exit stop. */
static int command_live(const struct run *r)
{
	int n = 0;

	for (int k = 0; k < r->keys; k++)
		if (r->key[k].command)
			n += r->key[k].live;
	return n;
}

/*
 * PROG is over once its own process is reaped and no task shares its mm
 * any more (a clone(CLONE_VM) child may outlive it): what it left running
 * is then killed, as a judge ends a submission with its main program.
 */
static void maybe_over(struct run *r)
{
	if (!r->root_reaped || r->over || command_live(r))
		return;
	r->over = 1;
	r->wall = now_s() - r->start;
	if (r->task_used)
		kill_all(r);
}

/* PTRACE_EVENT_EXIT of tid: read where a judge reads, and the mm's last user. */
static void exit_stop(struct run *r, pid_t tid)
{
	struct task *t = task_find(r, tid, 1);
	int key = t->key, last;
	char dir[64];

	if (!t->live)
		return;
	t->live = 0;
	last = key >= 0 && --r->key[key].live == 0;
	if (tid == r->c.pid && !r->root_read) {
		r->root_read = 1;
		/* Others still run in its mm: this reading is not the last. */
		r->leader_early = !last;
		drain(r);
		rsslab_fmt(dir, sizeof(dir), "/proc/%d", (int)tid);
		read_metrics(r->o, dir, &r->whole);
		return;
	}
	if (last && r->key[key].command)
		read_whole(&r->whole, tid);
	maybe_over(r);
}

static void ptrace_event(struct run *r, pid_t tid, int ev)
{
	unsigned long msg = 0;
	int process;

	ptrace(PTRACE_GETEVENTMSG, tid, NULL, &msg);
	switch (ev) {
	case PTRACE_EVENT_CLONE:
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK: {
		pid_t child = (pid_t)msg;
		int key = child_key(r, tid, child, ev, &process);

		task_join(r, task_find(r, child, 1), key);
		r->processes += process;
		break;
	}
	case PTRACE_EVENT_EXEC:
		if ((pid_t)msg != tid)
			task_drop(r, (pid_t)msg);
		task_join(r, task_find(r, tid, 1), new_key(r, tid == r->c.pid));
		break;
	case PTRACE_EVENT_EXIT:
		exit_stop(r, tid);
		break;
	}
}

/* One stop of a traced task; it is continued. */
static void stopped(struct run *r, pid_t tid, int st)
{
	struct task *t = task_find(r, tid, 1);
	int sig = WSTOPSIG(st), ev = st >> 16;

	if (t->key < 0)		/* seen before its parent's event: a new task */
		task_join(r, t, new_key(r, 0));
	if (ev) {
		ptrace_event(r, tid, ev);
		sig = 0;
	} else if (!t->started && sig == SIGSTOP) {
		sig = 0;	/* the stop a traced child starts with */
	} else if (sig == SIGTRAP || is_group_stop(tid, sig)) {
		sig = 0;
	}
	t->started = 1;
	cont(tid, sig);
}

static void reaped(struct run *r, pid_t pid, int st, const struct rusage *ru)
{
	if (pid == r->c.pid) {
		r->root_reaped = 1;
		r->root_status = st;
		r->root_ru = *ru;
		drain(r);
	}
	task_drop(r, pid);
	maybe_over(r);
}

/* Handle every task state change waiting now. */
static void reap_all(struct run *r)
{
	struct rusage ru;
	pid_t pid;
	int st;

	while ((pid = wait4(-1, &st, WNOHANG | __WALL, &ru)) != 0) {
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)
				die("wait4");
			r->no_children = 1;
			return;
		}
		if (WIFSTOPPED(st))
			stopped(r, pid, st);
		else if (WIFEXITED(st) || WIFSIGNALED(st))
			reaped(r, pid, st, &ru);
	}
}

/* The peak so far at a timeout: PROG's exact RSS now, before the kill. */
static void timeout_reached(struct run *r)
{
	for (size_t i = 0; i < r->task_cap; i++) {
		const struct task *t = &r->task[i];

		if (t->tid && t->live && t->key >= 0 && r->key[t->key].command) {
			read_whole(&r->whole, t->tid);
			break;
		}
	}
	r->timed_out = 1;
	kill_all(r);
}

static void take_signals(struct run *r)
{
	struct signalfd_siginfo si;

	while (read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD || r->killed)
			continue;
		r->interrupted = (int)si.ssi_signo;
		kill_all(r);
	}
}

static int poll_ms(const struct run *r)
{
	double left;

	if (!r->op->timeout || r->killed)
		return r->rt.fd >= 0 ? POLL_MS : -1;
	left = (r->deadline - now_s()) * 1000;
	if (left < 0)
		return 0;
	if (r->rt.fd >= 0 && left > POLL_MS)
		return POLL_MS;
	return (int)left + 1;
}

/* Run the traced tree to its end, reading the trace as it goes. */
static void trace_tree(struct run *r)
{
	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = r->sigfd, .events = POLLIN },
			{ .fd = r->rt.fd, .events = POLLIN },
		};

		reap_all(r);
		if (r->no_children)
			break;
		if (poll(fds, r->rt.fd >= 0 ? 2 : 1, poll_ms(r)) < 0 && errno != EINTR)
			die("poll");
		take_signals(r);
		for (int i = 0; i < 64 && rt_read(&r->rt); i++)
			;
		if (r->op->timeout && !r->killed && now_s() >= r->deadline)
			timeout_reached(r);
	}
}

/* --- the report ------------------------------------------------------------ */

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
	out_add(o, "{\"observer\":2,\"kernel_release\":");
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

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void add_end(struct run *r)
{
	struct out *o = r->o;
	struct rusage children;
	int st = r->root_status;

	if (WIFEXITED(st))
		out_add(o, ",\"exit_code\":%d", WEXITSTATUS(st));
	else
		out_add(o, ",\"exit_signal\":%d", WTERMSIG(st));
	out_add(o, ",\"wait4_maxrss_kib\":%ld,\"wait4_minflt\":%ld",
		r->root_ru.ru_maxrss, r->root_ru.ru_minflt);
	if (getrusage(RUSAGE_CHILDREN, &children))
		die("getrusage(RUSAGE_CHILDREN)");
	out_add(o, ",\"children_maxrss_kib\":%ld", children.ru_maxrss);
	out_add(o, ",\"times\":{\"user_s\":%.6f,\"sys_s\":%.6f,\"wall_s\":%.6f}",
		tv_s(children.ru_utime), tv_s(children.ru_stime), r->wall);
	out_add(o, ",\"tasks\":%zu,\"processes\":%zu,\"mm_tasks_max\":%d,"
		"\"tree_tasks_max\":%d", r->tasks_seen, r->processes, r->mm_tasks_max,
		r->tree_tasks_max);
	if (r->timed_out)
		out_add(o, ",\"timed_out\":true");
	if (r->interrupted)
		out_add(o, ",\"interrupted\":%d", r->interrupted);
	if (r->kcmp_missing)
		out_add(o, ",\"kcmp\":false");
	if (r->leader_early)
		out_add(o, ",\"leader_early\":true");
	out_add(o, ",\"whole\":{");
	o->first = 1;
	out_opt(o, "Rss", r->whole.rss);
	out_opt(o, "VmHWM", r->whole.hwm);
	out_opt(o, "VmRSS", r->whole.vmrss);
	out_opt(o, "walks", r->whole.walks);
	out_add(o, "}");
}

static void add_trace(struct out *o, const struct rt *t)
{
	out_add(o, ",\"rss_stat\":{");
	if (t->why[0]) {
		out_add(o, "\"unavailable\":");
		out_str(o, t->why);
	} else {
		out_add(o, "\"peak_kib\":%ld,\"tree_peak_kib\":%ld,\"events\":%lu,"
			"\"lost\":%ld", t->peak_kib, t->tree_peak_kib, t->events, t->lost);
	}
	out_add(o, "}");
}

static void add_cgroup(struct run *r, int no_cgroup)
{
	if (r->cg.version) {
		out_add(r->o, ",\"cgroup\":{\"version\":%d", r->cg.version);
		r->o->first = 0;
		out_opt(r->o, "peak_kib", cgroup_peak_kib(&r->cg));
		out_add(r->o, "}");
	} else if (no_cgroup) {
		out_add(r->o, ",\"cgroup\":{\"unavailable\":\"%s\"}", NO_CGROUP_PEAK);
	}
}

static void emit(const struct opts *op, struct out *o)
{
	int fd = op->out_fd >= 0 ? op->out_fd : 1;

	out_add(o, "}\n");
	if (op->out && strcmp(op->out, "-")) {
		fd = open(op->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			die("open %s", op->out);
	}
	rsslab_write_all(fd, o->buf, o->len, op->out ? op->out : "the JSON");
	if (fd != 1 && fd != op->out_fd)
		close(fd);
}

static int parse_only(const struct opts *op, struct out *o)
{
	struct stat st;

	if (stat(op->parse_dir, &st) || !S_ISDIR(st.st_mode))
		die("%s is not a directory of /proc files", op->parse_dir);
	out_add(o, "{\"observer\":2");
	read_metrics(o, op->parse_dir, NULL);
	emit(op, o);
	return RSSLAB_EXIT_OK;
}

/*
 * Signals come through a signalfd; the parent's death is a SIGTERM.  The
 * child gets the signal mask the observer was started with.
 */
static void setup_signals(struct run *r, sigset_t *orig)
{
	pid_t parent = getppid();
	sigset_t set;

	handled_signals(&set);
	if (sigprocmask(SIG_BLOCK, &set, orig))
		die("sigprocmask");
	r->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (r->sigfd < 0)
		die("signalfd");
	signal(SIGPIPE, SIG_IGN);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) || prctl(PR_SET_CHILD_SUBREAPER, 1))
		die("prctl");
	if (getppid() != parent)
		r->interrupted = SIGTERM;	/* the parent is already gone */
}

/* Fork PROG, wait for its first stop (after execve), trace from there. */
static void launch(struct run *r, const sigset_t *orig)
{
	int st, stage, err;
	long floor, faults;

	start_child(r->op, &r->cg, &r->c, orig);
	r->start = now_s();
	r->deadline = r->start + r->op->timeout;
	while (waitpid(r->c.pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	floor = read_info(r->c.info_fd, &stage, &err, &faults);
	if (stage || !WIFSTOPPED(st))
		setup_failed(r, stage, err);
	add_header(r->o, r->op);
	out_opt(r->o, "exec_floor_kib", floor);
	out_opt(r->o, "preexec_faults", faults);
	if (ptrace(PTRACE_SETOPTIONS, r->c.pid, NULL,
		   (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL |
				  PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
				  PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC)))
		die("PTRACE_SETOPTIONS");
	rt_start(&r->rt, r->c.pid);
	task_join(r, task_find(r, r->c.pid, 1), new_key(r, 1));
	task_find(r, r->c.pid, 1)->started = 1;
	r->processes = 1;
	if (r->interrupted)
		kill_all(r);
	cont(r->c.pid, 0);
}

int main(int argc, char **argv)
{
	static struct run r;
	struct out o = { .len = 0 };
	struct opts op;
	sigset_t orig;
	int no_cgroup = 0;

	parse_args(argc, argv, &op);
	o.cap = 16384;
	o.buf = malloc(o.cap);
	if (!o.buf)
		die("malloc");
	if (op.parse_dir)
		return parse_only(&op, &o);
	r.op = &op;
	r.o = &o;
	r.whole.rss = r.whole.hwm = r.whole.vmrss = -1;
	r.rt.fd = -1;
	dying_run = &r;
	rsslab_atdie = atdie_release;
	setup_signals(&r, &orig);
	if (op.cgroup != CG_NO)
		no_cgroup = cgroup_create(&r.cg, op.cgroup);
	if (op.trace)
		rt_open(&r.rt);
	else
		rt_unavailable(&r.rt, "switched off (--no-trace)");
	launch(&r, &orig);
	trace_tree(&r);
	rt_finish(&r.rt);
	if (!r.over)
		r.wall = now_s() - r.start;
	drain(&r);
	add_end(&r);
	add_trace(&o, &r.rt);
	add_cgroup(&r, no_cgroup);
	release(&r);
	add_report(&o, r.rep);
	emit(&op, &o);
	return RSSLAB_EXIT_OK;
}
