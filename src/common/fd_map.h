/* SPDX-License-Identifier: MIT */
/*
 * fd_map.h - the check before mapping an fd that a peer sent
 */
#ifndef VK_COMMON_FD_MAP_H
#define VK_COMMON_FD_MAP_H

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

/*
 * Whether the first @end bytes of @fd can be mapped and touched without a
 * SIGBUS: 0 for a regular file (memfd, tmpfs, hugetlbfs) at least @end
 * bytes long and for anything that is not a regular file (its own rules
 * apply); -EINVAL for a shorter file (its size in *@size), -errno when
 * fstat fails.  A peer can still shrink the file later; this catches the
 * mistakes and the lazy attacks.
 */
static inline int vk_fd_covers(int fd, uint64_t end, uint64_t *size)
{
	struct stat st;

	*size = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	*size = (uint64_t)st.st_size;
	return end > *size ? -EINVAL : 0;
}

#endif
