/* SPDX-License-Identifier: MIT */
/*
 * fd_count.h - how many fds this process has open, for the "no fd leaked"
 * checks of the unit and fuzz tests (compare two counts, never a number),
 * and running out of fds on purpose
 */
#ifndef VK_TEST_FD_COUNT_H
#define VK_TEST_FD_COUNT_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* The open fds, the one that reads /proc/self/fd not counted; aborts without /proc. */
static inline int test_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d) {
		perror("opendir /proc/self/fd");
		abort();
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/*
 * Run this process out of fds: RLIMIT_NOFILE drops to @above + 16 and
 * dups of fd 0 fill what is left below it.  The old limit goes to @old.
 * Returns 0, or -1 if the limit could not be lowered.
 */
struct test_fd_fill {
	struct rlimit old;
	int fd[64];
	int n;
};

static inline int test_fds_exhaust(struct test_fd_fill *f, int above)
{
	struct rlimit lim;

	f->n = 0;
	if (getrlimit(RLIMIT_NOFILE, &f->old))
		return -1;
	lim = f->old;
	lim.rlim_cur = (rlim_t)above + 16;
	if (setrlimit(RLIMIT_NOFILE, &lim))
		return -1;
	while (f->n < 64) {
		int d = dup(0);

		if (d < 0)
			break;
		f->fd[f->n++] = d;
	}
	return 0;
}

/* The fds back, and the old limit; 0 or -1. */
static inline int test_fds_restore(struct test_fd_fill *f)
{
	while (f->n)
		close(f->fd[--f->n]);
	return setrlimit(RLIMIT_NOFILE, &f->old) ? -1 : 0;
}

#endif
