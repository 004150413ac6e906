// SPDX-License-Identifier: GPL-2.0
/*
 * stdout_to - run a program with its standard output in a file.
 *
 * Does: opens FILE (created, truncated), makes it standard output and
 *   execs PROG with its arguments.  The guest's /init sends that file back
 *   as the run's result, so a kselftest's TAP output reaches the host.
 * Usage: stdout_to FILE PROG [ARG...]   Exit: PROG's, or 127/126 when it
 *   cannot be run, 2 on usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: stdout_to FILE PROG [ARG...]\n");
		return 2;
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 1) < 0) {
		fprintf(stderr, "stdout_to: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	execv(argv[2], argv + 2);
	fprintf(stderr, "stdout_to: cannot execute %s: %s\n", argv[2], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
