// SPDX-License-Identifier: GPL-2.0
/*
 * big_parent - a tiny child of a big parent reports the parent's peak.
 *
 * Does: maps PARENT_MIB MiB anonymous (no transparent huge pages), writes
 *   every page, reads its exact RSS (smaps_rollup), then starts a tiny
 *   child: this same binary again, executed from /proc/self/exe, which
 *   reads its own exact RSS, sends it back through a pipe and exits.
 *   MODE says how the child starts: fork_exec (fork, execv), vfork (vfork,
 *   execv), posix_spawn, or launcher (fork and exec this binary as a
 *   launcher, which measures itself, then forks and execs the child, reaps
 *   it with wait4() and sends back the child's RSS and ru_maxrss and its
 *   own RSS).  The parent reaps its direct child with wait4() and reports
 *   its ru_maxrss.
 * Cause: execve() keeps the peak of the mm it replaces in the process's
 *   signal->maxrss, which ru_maxrss reports - fs/exec.c:exec_mmap()
 *   (6.1 .. 6.18), fs/exec.c:exec_mm_put_old() (7.x).  fork() starts the
 *   child's mm with the parent's pages and kernel/fork.c:dup_mm() sets
 *   its hiwater_rss to their count, so fork+exec carries the parent's RSS
 *   into the child's ru_maxrss.  vfork() and posix_spawn() share the
 *   parent's mm (CLONE_VM) until the exec, so the mm exec replaces is the
 *   parent's own.  kernel/fork.c:copy_signal() starts every new process
 *   with maxrss 0, so a small launcher in between hands on only its own
 *   RSS.  The counts behind hiwater_rss are the approximate ones of
 *   commits 34e55232e59f7b19050267a05ff1226e5cd122a5 (per-thread, 6.1)
 *   and f1a7941243c102a44e8847e3b94ff4ff3ec56f25 (per-CPU, 6.2 ..).
 * Usage: big_parent PARENT_MIB MODE
 *        (MODE: fork_exec, vfork, posix_spawn or launcher; the modes
 *        --child FD and --launcher FD are its own, for its children.)
 * Output: one JSON line: parent_mib, mode, parent_exact_kib,
 *   parent_anon_kib, child_exact_kib, child_maxrss_kib (launcher: the
 *   grandchild's), launcher only: launcher_exact_kib, launcher_maxrss_kib;
 *   peak_exact_kib, peak_anon_kib (the parent's).
 */
#include "rsslab.h"

#include <spawn.h>

static const char usage[] =
	"big_parent PARENT_MIB MODE   "
	"(MODE: fork_exec|vfork|posix_spawn|launcher)";
static const char hidden_usage[] =
	"big_parent --child FD | --launcher FD   "
	"(only as big_parent's own child, FD the pipe it passes)";
static const char *const arg_names[] = { "PARENT_MIB", "MODE" };
static const char *const hidden_names[] = { "--child or --launcher", "FD" };
static const char *const modes[] = {
	"fork_exec", "vfork", "posix_spawn", "launcher",
};
enum { FORK_EXEC, VFORK, POSIX_SPAWN, LAUNCHER };
static const char self_exe[] = "/proc/self/exe";

#define LINE 128

/* Is the parent process running this same binary? */
static int parent_is_us(void)
{
	struct stat self, parent;
	char path[64];

	rsslab_fmt(path, sizeof(path), "/proc/%d/exe", (int)getppid());
	return !stat(self_exe, &self) && !stat(path, &parent) &&
	       self.st_dev == parent.st_dev && self.st_ino == parent.st_ino;
}

/*
 * The FD of --child FD or --launcher FD.  These modes are only for the
 * children big_parent starts: the parent must be big_parent and FD the
 * pipe it passed.
 */
static int hidden_fd(int argc, char **argv)
{
	char what[256];
	struct stat st;
	long fd;

	rsslab_args(argc, argv, hidden_names, 2, hidden_usage);
	fd = rsslab_arg(argv[2], "FD", 0, INT_MAX, hidden_usage);
	if (!parent_is_us()) {
		rsslab_fmt(what, sizeof(what), "%s is only for the children "
			   "big_parent starts; run big_parent PARENT_MIB MODE",
			   argv[1]);
		rsslab_usage(hidden_usage, what);
	}
	if (fstat((int)fd, &st) || !S_ISFIFO(st.st_mode)) {
		rsslab_fmt(what, sizeof(what), "bad FD '%s': %s needs the pipe "
			   "big_parent passes", argv[2], argv[1]);
		rsslab_usage(hidden_usage, what);
	}
	return (int)fd;
}

/* Parse n decimal numbers separated by blanks; anything else is broken. */
static void parse_longs(const char *text, long *out, int n, const char *what)
{
	const char *p = text;

	for (int i = 0; i < n; i++) {
		char *end;

		errno = 0;
		out[i] = strtol(p, &end, 10);
		if (errno || end == p || out[i] < 0) {
			errno = 0;
			die("%s sent '%.60s', expected %d numbers", what, text, n);
		}
		p = end;
	}
	while (*p == ' ' || *p == '\n')
		p++;
	if (*p) {
		errno = 0;
		die("%s sent '%.60s', expected %d numbers", what, text, n);
	}
}

/* A pipe whose read end stays here and whose write end children inherit. */
static void child_pipe(int fds[2])
{
	if (pipe(fds))
		die("pipe");
	if (fcntl(fds[0], F_SETFD, FD_CLOEXEC))
		die("fcntl(F_SETFD, FD_CLOEXEC)");
}

/* vfork() on its own, so that no caller's variable lives across it. */
static pid_t __attribute__((noinline)) start_vfork(char *const argv[])
{
	pid_t pid = vfork();

	if (pid == 0) {
		execv(self_exe, argv);
		_exit(127);	/* nothing else is safe in a vfork child */
	}
	return pid;
}

/* Start this binary again with argv; returns the child's pid. */
static pid_t start(int how, char *const argv[])
{
	pid_t pid;
	int rc;

	switch (how) {
	case VFORK:
		pid = start_vfork(argv);
		if (pid < 0)
			die("vfork");
		return pid;
	case POSIX_SPAWN:
		rc = posix_spawn(&pid, self_exe, NULL, NULL, argv, environ);
		if (rc) {
			errno = rc;
			die("posix_spawn %s", self_exe);
		}
		return pid;
	default:
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			execv(self_exe, argv);
			die("execv %s", self_exe);
		}
		return pid;
	}
}

/*
 * Start "argv0 flag FD" with how, read its one line from the pipe until
 * end of file, reap it; ru gets its rusage.
 */
static void run(int how, char *argv0, const char *flag, char *line,
		struct rusage *ru, const char *what)
{
	char fd_text[16], flag_copy[16];
	char *argv[] = { argv0, flag_copy, fd_text, NULL };
	int fds[2];
	pid_t pid;

	rsslab_fmt(flag_copy, sizeof(flag_copy), "%s", flag);
	child_pipe(fds);
	rsslab_fmt(fd_text, sizeof(fd_text), "%d", fds[1]);
	pid = start(how, argv);
	if (close(fds[1]))
		die("close");
	rsslab_read_all(fds[0], line, LINE, what);
	if (close(fds[0]))
		die("close");
	rsslab_reap(pid, ru, what);
}

/* --child FD: send the exact RSS of this fresh process. */
static void __attribute__((noreturn)) child_main(int argc, char **argv)
{
	int fd = hidden_fd(argc, argv);
	char line[LINE];

	rsslab_fmt(line, sizeof(line), "%ld\n", rsslab_self_smaps().rss_kib);
	rsslab_write_all(fd, line, strlen(line), "the child's RSS");
	_exit(RSSLAB_EXIT_OK);
}

/* --launcher FD: measure itself, fork+exec the child, send three numbers. */
static void __attribute__((noreturn)) launcher_main(int argc, char **argv)
{
	int fd = hidden_fd(argc, argv);
	char line[LINE], out[LINE];
	struct rusage ru;
	long own, child;

	/* The child must not inherit the pipe to big_parent. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC))
		die("fcntl(F_SETFD, FD_CLOEXEC)");
	memset(line, 0, sizeof(line));	/* resident before the measurement */
	memset(out, 0, sizeof(out));
	memset(&ru, 0, sizeof(ru));
	own = rsslab_self_smaps().rss_kib;
	run(FORK_EXEC, argv[0], "--child", line, &ru, "the child");
	parse_longs(line, &child, 1, "the child");
	rsslab_fmt(out, sizeof(out), "%ld %ld %ld\n", child, ru.ru_maxrss, own);
	rsslab_write_all(fd, out, strlen(out), "the launcher's numbers");
	_exit(RSSLAB_EXIT_OK);
}

/*
 * The most file pages one run of this binary can map: its size in whole
 * pages.  The launcher's child may fault any of them in (fault-around maps
 * up to 16 at a time), whatever the launcher itself had mapped.
 */
static long exe_kib(long page)
{
	struct stat st;

	if (stat(self_exe, &st))
		die("stat %s", self_exe);
	return (st.st_size + page - 1) / page * (page / 1024);
}

int main(int argc, char **argv)
{
	struct rsslab_report r;
	struct rsslab_smaps parent;
	long page = rsslab_page_size();
	long mib, pages, got[3];
	struct rusage ru;
	char line[LINE];
	char *p;
	int mode;

	if (argc > 1 && !strcmp(argv[1], "--child"))
		child_main(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "--launcher"))
		launcher_main(argc, argv);
	rsslab_args(argc, argv, arg_names, 2, usage);
	mib = rsslab_arg(argv[1], "PARENT_MIB", big_parent_parent_mib_min,
	                 big_parent_parent_mib_max, usage);
	mode = rsslab_choice(argv[2], "MODE", modes, 4, usage);
	rsslab_rep_begin(&r, "big_parent");
	rsslab_warm_up();
	rsslab_rep_int(&r, "parent_mib", mib);
	rsslab_rep_str(&r, "mode", modes[mode]);
	memset(line, 0, sizeof(line));
	pages = mib * (1024 * 1024 / page);
	p = rsslab_map_anon_nothp(pages, page);
	rsslab_touch(p, pages, page);
	parent = rsslab_self_smaps();
	if (mode == LAUNCHER) {
		run(FORK_EXEC, argv[0], "--launcher", line, &ru, "the launcher");
		parse_longs(line, got, 3, "the launcher");
	} else {
		run(mode, argv[0], "--child", line, &ru, "the child");
		parse_longs(line, got, 1, "the child");
		got[1] = ru.ru_maxrss;
	}
	rsslab_rep_int(&r, "exe_kib", exe_kib(page));
	rsslab_rep_int(&r, "parent_exact_kib", parent.rss_kib);
	rsslab_rep_int(&r, "parent_anon_kib", parent.anon_kib);
	rsslab_rep_int(&r, "child_exact_kib", got[0]);
	rsslab_rep_int(&r, "child_maxrss_kib", got[1]);
	if (mode == LAUNCHER) {
		rsslab_rep_int(&r, "launcher_exact_kib", got[2]);
		rsslab_rep_int(&r, "launcher_maxrss_kib", ru.ru_maxrss);
	}
	rsslab_rep_peak(&r, parent);
	rsslab_rep_end(&r);
	return RSSLAB_EXIT_OK;
}
