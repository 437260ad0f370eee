/* SPDX-License-Identifier: MIT */
/*
 * loop_dev.h - a real block device for the tests that need one: a loop
 * device over a file the test made (a memfd).  Needs CAP_SYS_ADMIN and
 * /dev/loop-control, so the callers skip (a "# SKIP" line, then pass)
 * where it cannot be had.
 */
#ifndef VK_TEST_LOOP_DEV_H
#define VK_TEST_LOOP_DEV_H

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/**
 * test_loop_attach() - attach a free loop device to @backing
 * @backing: fd of a regular file (a memfd will do); not consumed
 *
 * The device is configured with LO_FLAGS_AUTOCLEAR: it detaches itself
 * once its last fd is closed and its last mapping gone, so a test that
 * dies leaves no loop device behind.  A device taken by someone else
 * between LOOP_CTL_GET_FREE and LOOP_CONFIGURE (-EBUSY) is skipped.
 *
 * Return: an O_RDWR fd of the loop device, or -errno.
 */
static inline int test_loop_attach(int backing)
{
	struct loop_config cfg;
	char path[32];
	int ctl, nr, fd = -1, tries, ret = -EBUSY;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	for (tries = 0; tries < 8; tries++) {
		nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0) {
			ret = -errno;
			break;
		}
		snprintf(path, sizeof(path), "/dev/loop%d", nr);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			break;
		}
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = (uint32_t)backing;
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
			close(ctl);
			return fd;
		}
		ret = -errno;
		close(fd);
		fd = -1;
		if (ret != -EBUSY)
			break;
	}
	close(ctl);
	return ret;
}

#endif
