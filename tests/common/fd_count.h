/* SPDX-License-Identifier: MIT */
/*
 * fd_count.h - how many fds this process has open, for the "no fd leaked"
 * checks of the unit and fuzz tests (compare two counts, never a number)
 */
#ifndef VK_TEST_FD_COUNT_H
#define VK_TEST_FD_COUNT_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif
