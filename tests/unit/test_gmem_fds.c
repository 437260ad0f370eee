// SPDX-License-Identifier: MIT
/*
 * test_gmem_fds.c - every fd handed to gmem is closed exactly once, on every
 * path.  Linked with -Wl,--wrap=close,--wrap=mmap: close() calls made by
 * gmem (and by this file) are counted, a close of an fd that is not open
 * is a failure, and mmap can be made to fail at the Nth call.  Also
 * --wrap=fstat,--wrap=ioctl: one chosen fd can pass for a block device of
 * a chosen size (BLKGETSIZE64), or one whose size cannot be read, without
 * the root a real one (test_gmem's loop device) needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "memory/gmem.h"

#define KIB 1024ull

int __real_close(int fd);
int __wrap_close(int fd);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);

int __real_fstat(int fd, struct stat *st);
int __wrap_fstat(int fd, struct stat *st);
int __real_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...);

static unsigned long n_close;      /* close() calls */
static unsigned long n_bad_close;  /* close() of an fd that was not open */
static long mmap_fail_at = -1;     /* fail the Nth mmap from now (0 = next) */

int __wrap_close(int fd)
{
	n_close++;
	if (fd < 0 || fcntl(fd, F_GETFD) == -1)
		n_bad_close++;
	return __real_close(fd);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (mmap_fail_at >= 0 && mmap_fail_at-- == 0) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return __real_mmap(addr, len, prot, flags, fd, off);
}

static int fake_blk_fd = -1;       /* this fd passes for a block device... */
static int64_t fake_blk_size;      /* ...of this many bytes (BLKGETSIZE64), or -errno */

int __wrap_fstat(int fd, struct stat *st)
{
	int ret = __real_fstat(fd, st);

	if (ret == 0 && fake_blk_fd >= 0 && fd == fake_blk_fd) {
		st->st_mode = S_IFBLK | 0600;
		st->st_size = 0;
	}
	return ret;
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fake_blk_fd >= 0 && fd == fake_blk_fd && req == BLKGETSIZE64) {
		if (fake_blk_size < 0) {
			errno = (int)-fake_blk_size;
			return -1;
		}
		*(uint64_t *)arg = (uint64_t)fake_blk_size;
		return 0;
	}
	return __real_ioctl(fd, req, arg);
}

static int ram_fd;

static int group_setup(void **state)
{
	(void)state;
	ram_fd = memfd_create("gm-fds", MFD_CLOEXEC);
	if (ram_fd < 0 || ftruncate(ram_fd, 1024 * KIB) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	__real_close(ram_fd);
	return 0;
}

static void quiet(enum vk_log_level level, const char *line, void *opaque)
{
	(void)level;
	(void)line;
	(void)opaque;
}

static int setup(void **state)
{
	(void)state;
	vk_log_set_sink(quiet, NULL);
	n_close = n_bad_close = 0;
	mmap_fail_at = -1;
	fake_blk_fd = -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vk_log_set_sink(NULL, NULL);
	mmap_fail_at = -1;
	fake_blk_fd = -1;
	return 0;
}

static int xdup(void)
{
	int d = fcntl(ram_fd, F_DUPFD_CLOEXEC, 0);

	assert_true(d >= 0);
	return d;
}

/* Eight adjacent 64K regions, given in reverse gpa order. */
static void eight(struct gmem_region_desc *d, int *fds)
{
	unsigned int i;

	for (i = 0; i < 8; i++) {
		unsigned int j = 7 - i;

		memset(&d[i], 0, sizeof(d[i]));
		d[i].gpa = j * 64 * KIB;
		d[i].size = 64 * KIB;
		d[i].uva = 0x10000000 + j * 64 * KIB;
		d[i].mmap_offset = j * 64 * KIB;
		fds[i] = xdup();
	}
}

static void test_set_ok(void **state)
{
	struct gmem *m = gmem_new();
	struct gmem_region_desc d[8];
	int fds[8], i;

	(void)state;
	eight(d, fds);
	assert_int_equal(gmem_set_table(m, d, fds, 8), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(fds[i], -1);
	assert_int_equal(n_close, 8);  /* closed right after their mmap */
	gmem_clear(m);
	gmem_free(m);
	assert_int_equal(n_close, 8);
	assert_int_equal(n_bad_close, 0);
}

/* mmap fails at region k (gpa order) of 8: all 8 closed once, table unchanged. */
static void test_set_mmap_fails(void **state)
{
	struct gmem *m = gmem_new();
	struct gmem_region_desc d[8];
	struct gmem_table *t;
	int fds[8], i, k;

	(void)state;
	eight(d, fds);
	assert_int_equal(gmem_set_table(m, d, fds, 3), 0);  /* a current table */
	for (i = 3; i < 8; i++)
		__real_close(fds[i]);
	for (k = 0; k < 8; k++) {
		n_close = 0;
		eight(d, fds);
		mmap_fail_at = k;
		assert_int_equal(gmem_set_table(m, d, fds, 8), -EFAULT);
		mmap_fail_at = -1;
		for (i = 0; i < 8; i++)
			assert_int_equal(fds[i], -1);
		assert_int_equal(n_close, 8);
		assert_int_equal(n_bad_close, 0);
		assert_int_equal(gmem_generation(m), 1);
	}
	t = gmem_get(m);
	assert_int_equal(t->nregions, 3);
	assert_non_null(gmem_gpa_to_host(t, 7 * 64 * KIB, 64 * KIB));
	gmem_put(t);
	gmem_free(m);
	assert_int_equal(n_bad_close, 0);
}

static void test_set_refused(void **state)
{
	struct gmem *m = gmem_new();
	struct gmem_region_desc d[8], *big;
	int fds[8], *bigfds, i;

	(void)state;
	/* Overlap found before anything is mapped. */
	eight(d, fds);
	d[5].gpa += 4 * KIB;
	assert_int_equal(gmem_set_table(m, d, fds, 8), -EINVAL);
	assert_int_equal(n_close, 8);
	/* Bad region descriptor. */
	eight(d, fds);
	d[2].size = 0;
	assert_int_equal(gmem_set_table(m, d, fds, 8), -EINVAL);
	assert_int_equal(n_close, 16);
	/* A missing fd in the middle: the others closed, close(-1) never called. */
	eight(d, fds);
	__real_close(fds[3]);
	fds[3] = -1;
	assert_int_equal(gmem_set_table(m, d, fds, 8), -EFAULT);
	assert_int_equal(n_close, 23);
	/*
	 * Xen flags: refused without --enable-xen; with it, a grant region
	 * whose gpa lacks bit 63 is invalid.
	 */
	eight(d, fds);
	d[6].xen_flags = GMEM_XEN_GRANT;
#ifdef VK_XEN
	assert_int_equal(gmem_set_table(m, d, fds, 8), -EINVAL);
#else
	assert_int_equal(gmem_set_table(m, d, fds, 8), -EOPNOTSUPP);
#endif
	assert_int_equal(n_close, 31);
	/* Too many. */
	big = calloc(GMEM_MAX_REGIONS + 1, sizeof(*big));
	bigfds = calloc(GMEM_MAX_REGIONS + 1, sizeof(*bigfds));
	assert_non_null(big);
	assert_non_null(bigfds);
	for (i = 0; i <= GMEM_MAX_REGIONS; i++) {
		big[i].gpa = (uint64_t)i * 4096;
		big[i].size = 4096;
		big[i].uva = (uint64_t)i * 4096;
		bigfds[i] = xdup();
	}
	n_close = 0;
	assert_int_equal(gmem_set_table(m, big, bigfds, GMEM_MAX_REGIONS + 1), -E2BIG);
	assert_int_equal(n_close, GMEM_MAX_REGIONS + 1);
	for (i = 0; i <= GMEM_MAX_REGIONS; i++)
		assert_int_equal(bigfds[i], -1);
	free(big);
	free(bigfds);
	assert_int_equal(gmem_generation(m), 0);
	gmem_free(m);
	assert_int_equal(n_bad_close, 0);
}

static void test_add_paths(void **state)
{
	struct gmem *m = gmem_new();
	struct gmem_region_desc d[8];
	int fds[8], i;

	(void)state;
	eight(d, fds);
	for (i = 0; i < 8; i++)
		__real_close(fds[i]);
	/* Success, overlap, zero size, mmap failure, Xen flags: one close each. */
	assert_int_equal(gmem_add_region(m, &d[0], xdup()), 0);
	assert_int_equal(n_close, 1);
	assert_int_equal(gmem_add_region(m, &d[0], xdup()), -EINVAL);
	assert_int_equal(n_close, 2);
	d[1].size = 0;
	assert_int_equal(gmem_add_region(m, &d[1], xdup()), -EINVAL);
	assert_int_equal(n_close, 3);
	d[1].size = 64 * KIB;
	mmap_fail_at = 0;
	assert_int_equal(gmem_add_region(m, &d[1], xdup()), -EFAULT);
	assert_int_equal(n_close, 4);
	d[1].xen_flags = GMEM_XEN_FOREIGN;
#ifdef VK_XEN
	/* no hypervisor here (test_gmem_xen has the simulator): mapping fails */
#define XEN_REFUSED (-EFAULT)
#else
#define XEN_REFUSED (-EOPNOTSUPP)
#endif
	assert_int_equal(gmem_add_region(m, &d[1], xdup()), XEN_REFUSED);
	assert_int_equal(n_close, 5);
	assert_int_equal(gmem_add_region(m, NULL, xdup()), -EINVAL);
	assert_int_equal(n_close, 6);
	assert_int_equal(gmem_add_region(m, &d[1], -1), XEN_REFUSED);
	d[1].xen_flags = 0;
	assert_int_equal(gmem_add_region(m, &d[1], -1), -EFAULT);
	assert_int_equal(n_close, 6);
	/* Remove and clear close nothing (the maps hold no fd). */
	assert_int_equal(gmem_remove_region(m, &d[0]), 0);
	gmem_clear(m);
	gmem_free(m);
	assert_int_equal(n_close, 6);
	assert_int_equal(n_bad_close, 0);
}

/*
 * A block device (st_size 0): sized by BLKGETSIZE64.  Past its end, or when
 * its size cannot be read: refused, closed once; within it: mapped.
 */
static void test_block_device(void **state)
{
	struct gmem *m = gmem_new();
	struct gmem_region_desc d[8];
	int fds[8], i;

	(void)state;
	eight(d, fds);
	for (i = 1; i < 8; i++)
		__real_close(fds[i]);
	/* d[0]: 64K at offset 448K; the device holds 448K + 64K - 1 */
	fake_blk_fd = fds[0];
	fake_blk_size = 512 * KIB - 1;
	assert_int_equal(gmem_add_region(m, &d[0], fds[0]), -EFAULT);
	assert_int_equal(n_close, 1);
	fake_blk_fd = fds[0] = xdup();
	fake_blk_size = -ENOTTY;
	assert_int_equal(gmem_add_region(m, &d[0], fds[0]), -EFAULT);
	assert_int_equal(n_close, 2);
	/* an ioctl failing with EINVAL is not taken for "too short" either */
	fake_blk_fd = fds[0] = xdup();
	fake_blk_size = -EINVAL;
	assert_int_equal(gmem_add_region(m, &d[0], fds[0]), -EFAULT);
	assert_int_equal(n_close, 3);
	assert_int_equal(gmem_generation(m), 0);
	fake_blk_fd = fds[0] = xdup();
	fake_blk_size = 512 * KIB;
	assert_int_equal(gmem_add_region(m, &d[0], fds[0]), 0);
	assert_int_equal(n_close, 4);
	fake_blk_fd = -1;
	gmem_free(m);
	assert_int_equal(n_bad_close, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_mmap_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_device, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
