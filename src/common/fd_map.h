/* SPDX-License-Identifier: MIT */
/*
 * fd_map.h - the check before mapping an fd that a peer sent
 */
#ifndef VK_COMMON_FD_MAP_H
#define VK_COMMON_FD_MAP_H

#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mount.h>   /* BLKGETSIZE64, without <linux/fs.h>'s clashes */
#include <sys/stat.h>

/**
 * vk_fd_covers() - whether the first @end bytes of @fd exist
 * @fd: what a peer sent to be mapped
 * @end: offset + size of the mapping, already checked not to overflow
 * @size: the object's size, when known (0 otherwise)
 *
 * Mapping past the end of a file or a block device is allowed, and touching
 * such a page faults with SIGBUS: what the peer sent must be at least @end
 * bytes long.  A regular file (memfd, tmpfs, hugetlbfs) is sized by fstat,
 * a block device by BLKGETSIZE64 (its st_size is 0).  Anything else passes:
 * its own rules apply (a pipe or socket cannot be mapped; a char device's
 * driver decides what its mmap covers).  A peer can still shrink a file
 * later; this catches the mistakes and the lazy attacks.
 *
 * Return: 0 if covered; -EINVAL if shorter (its size in *@size); another
 * -errno (never -EINVAL) if fstat or the size ioctl fails.
 */
static inline int vk_fd_covers(int fd, uint64_t end, uint64_t *size)
{
	struct stat st;
	uint64_t bytes;

	*size = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
			return errno == EINVAL ? -ENOTTY : -errno;
	} else {
		return 0;
	}
	*size = bytes;
	return end > bytes ? -EINVAL : 0;
}

#endif
