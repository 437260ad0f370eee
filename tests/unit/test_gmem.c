// SPDX-License-Identifier: MIT
/*
 * test_gmem.c - guest memory region tables: validation, translation, fd and
 * mapping lifetime, concurrent readers against a writer swapping tables.
 * Guest RAM is a memfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "memory/gmem.h"
#include "../common/fd_count.h"
#include "../common/loop_dev.h"

#define KIB 1024ull
#define PAGE 4096ull

/* ---------------------------------------------------------------- helpers */

static char last_log[1024];

static void capture_log(enum vk_log_level level, const char *line, void *opaque)
{
	(void)level;
	(void)opaque;
	snprintf(last_log, sizeof(last_log), "%s", line);
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off ^ (off >> 8) ^ (off >> 16) ^ 0x5a);
}

/* A memfd named @name of @size bytes holding pattern(file offset). */
static int make_ram(const char *name, size_t size)
{
	uint8_t *p;
	size_t i;
	int fd;

	fd = memfd_create(name, MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	for (i = 0; i < size; i++)
		p[i] = pattern(i);
	munmap(p, size);
	return fd;
}

static int xdup(int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	assert_true(d >= 0);
	return d;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/*
 * Bytes of memfds called @name mapped in this process (bytes, not mappings:
 * the kernel may merge neighbouring mappings of one file).
 */
static unsigned long mapped(const char *name)
{
	char line[512], needle[128];
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long start, end, n = 0;

	assert_non_null(f);
	snprintf(needle, sizeof(needle), "/memfd:%s ", name);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle) && sscanf(line, "%lx-%lx", &start, &end) == 2)
			n += end - start;
	fclose(f);
	return n;
}

static struct gmem_region_desc desc(uint64_t gpa, uint64_t size, uint64_t uva, uint64_t off)
{
	struct gmem_region_desc d = {
		.gpa = gpa, .size = size, .uva = uva, .mmap_offset = off,
	};
	return d;
}

static int setup(void **state)
{
	(void)state;
	vk_log_set_sink(capture_log, NULL);
	vk_log_set_level(VK_LOG_DEBUG);
	last_log[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vk_log_set_sink(NULL, NULL);
	vk_log_set_level(VK_LOG_WARN);
	return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_empty(void **state)
{
	struct gmem *m = gmem_new();
	struct gmem_table *t;
	struct iovec iov[2];
	uint64_t gpa;

	(void)state;
	assert_non_null(m);
	t = gmem_get(m);
	assert_non_null(t);
	assert_int_equal(t->nregions, 0);
	assert_int_equal(gmem_generation(m), 0);
	assert_null(gmem_find(t, 0));
	assert_null(gmem_gpa_to_host(t, 0, 1));
	assert_int_equal(gmem_gpa_to_iov(t, 0, 0, iov, 2), 0);
	assert_int_equal(gmem_gpa_to_iov(t, 0, 1, iov, 2), -EFAULT);
	assert_int_equal(gmem_uva_to_gpa(t, 0, 1, &gpa), -EFAULT);
	assert_null(gmem_uva_to_host(t, 0, 1));
	gmem_put(t);
	/* An empty table set explicitly is a change too. */
	assert_int_equal(gmem_set_table(m, NULL, NULL, 0), 0);
	assert_int_equal(gmem_generation(m), 1);
	gmem_clear(m);
	assert_int_equal(gmem_generation(m), 2);
	gmem_free(m);
	gmem_free(NULL);
	gmem_put(NULL);
}

static void test_set_translate(void **state)
{
	int ram = make_ram("gm-set", 1024 * KIB);
	struct gmem *m = gmem_new();
	struct gmem_region_desc d[2];
	const struct gmem_region *r;
	struct gmem_table *t;
	int fds[2];
	uint8_t *h;

	(void)state;
	/* Given out of gpa order: the table sorts them. */
	d[0] = desc(0x100000, 512 * KIB, 0x7f0000100000ull, 256 * KIB);
	d[1] = desc(0x0, 256 * KIB, 0x7f0000000000ull, 0);
	fds[0] = xdup(ram);
	fds[1] = xdup(ram);
	assert_int_equal(gmem_set_table(m, d, fds, 2), 0);
	assert_int_equal(fds[0], -1);
	assert_int_equal(fds[1], -1);
	assert_int_equal(gmem_generation(m), 1);

	t = gmem_get(m);
	assert_int_equal(t->nregions, 2);
	assert_int_equal(t->generation, 1);
	assert_int_equal(t->regions[0].gpa, 0);
	assert_int_equal(t->regions[1].gpa, 0x100000);
	assert_int_equal(t->regions[1].mmap_offset, 256 * KIB);

	h = gmem_gpa_to_host(t, 0x1234, 16);
	assert_non_null(h);
	assert_int_equal(h[0], pattern(0x1234));
	h = gmem_gpa_to_host(t, 0x100000 + 0x42, 1);
	assert_non_null(h);
	assert_int_equal(h[0], pattern(256 * KIB + 0x42));
	/* Last byte of a region, then one byte too many. */
	h = gmem_gpa_to_host(t, 0x100000 + 512 * KIB - 1, 1);
	assert_non_null(h);
	assert_int_equal(h[0], pattern(256 * KIB + 512 * KIB - 1));
	assert_null(gmem_gpa_to_host(t, 0x100000 + 512 * KIB - 1, 2));
	/* The gap between the regions, and past the end. */
	assert_null(gmem_gpa_to_host(t, 256 * KIB, 1));
	assert_null(gmem_gpa_to_host(t, 0x100000 + 512 * KIB, 1));
	assert_null(gmem_gpa_to_host(t, 256 * KIB - 8, 16));

	r = gmem_find(t, 0x100000);
	assert_non_null(r);
	assert_int_equal(r->gpa, 0x100000);
	r = gmem_find(t, 256 * KIB - 1);
	assert_non_null(r);
	assert_int_equal(r->gpa, 0);
	assert_null(gmem_find(t, 256 * KIB));
	assert_null(gmem_find(t, UINT64_MAX));

	/* Writes land in the file. */
	h = gmem_gpa_to_host(t, 0x10, 1);
	*h = 0xee;
	{
		uint8_t b = 0;

		assert_int_equal(pread(ram, &b, 1, 0x10), 1);
		assert_int_equal(b, 0xee);
	}
	gmem_put(t);
	gmem_free(m);
	close(ram);
}

static void test_iov_span(void **state)
{
	int ram = make_ram("gm-iov", 512 * KIB);
	struct gmem *m = gmem_new();
	struct gmem_region_desc d[3];
	struct gmem_table *t;
	struct iovec iov[4];
	int fds[3], i;
	uint8_t *a, *b;

	(void)state;
	/* Two adjacent regions from unrelated file offsets, then a hole. */
	d[0] = desc(0x0, 64 * KIB, 0x10000000, 0);
	d[1] = desc(0x10000, 64 * KIB, 0x20000000, 192 * KIB);
	d[2] = desc(0x40000, 64 * KIB, 0x30000000, 384 * KIB);
	for (i = 0; i < 3; i++)
		fds[i] = xdup(ram);
	assert_int_equal(gmem_set_table(m, d, fds, 3), 0);
	t = gmem_get(m);

	a = gmem_gpa_to_host(t, 60 * KIB, 4 * KIB);
	b = gmem_gpa_to_host(t, 64 * KIB, 6 * KIB);
	assert_non_null(a);
	assert_non_null(b);
	/* Not one host range: gpa_to_host refuses the whole span. */
	assert_null(gmem_gpa_to_host(t, 60 * KIB, 10 * KIB));

	assert_int_equal(gmem_gpa_to_iov(t, 60 * KIB, 10 * KIB, iov, 4), 2);
	assert_ptr_equal(iov[0].iov_base, a);
	assert_int_equal(iov[0].iov_len, 4 * KIB);
	assert_ptr_equal(iov[1].iov_base, b);
	assert_int_equal(iov[1].iov_len, 6 * KIB);
	assert_int_equal(((uint8_t *)iov[0].iov_base)[0], pattern(60 * KIB));
	assert_int_equal(((uint8_t *)iov[1].iov_base)[0], pattern(192 * KIB));
	assert_int_equal(((uint8_t *)iov[1].iov_base)[6 * KIB - 1], pattern(198 * KIB - 1));

	/* Within one region: one iovec. */
	assert_int_equal(gmem_gpa_to_iov(t, 0x100, 0x200, iov, 1), 1);
	assert_int_equal(iov[0].iov_len, 0x200);
	/* Exactly both regions. */
	assert_int_equal(gmem_gpa_to_iov(t, 0, 128 * KIB, iov, 4), 2);
	/* Too few iovecs. */
	assert_int_equal(gmem_gpa_to_iov(t, 60 * KIB, 10 * KIB, iov, 1), -ENOBUFS);
	assert_int_equal(gmem_gpa_to_iov(t, 60 * KIB, 10 * KIB, iov, 0), -ENOBUFS);
	/* Partly outside: runs into the hole after the second region. */
	assert_int_equal(gmem_gpa_to_iov(t, 120 * KIB, 16 * KIB, iov, 4), -EFAULT);
	/* Unmapped bytes win over too few iovecs. */
	assert_int_equal(gmem_gpa_to_iov(t, 60 * KIB, 80 * KIB, iov, 1), -EFAULT);
	/* Starts in the hole, ends in a region. */
	assert_int_equal(gmem_gpa_to_iov(t, 0x3f000, 0x2000, iov, 4), -EFAULT);
	/* len 0 is nothing at all, wherever it is. */
	assert_int_equal(gmem_gpa_to_iov(t, 0x3f000, 0, iov, 4), 0);
	/* gpa + len wraps. */
	assert_int_equal(gmem_gpa_to_iov(t, 0x100, UINT64_MAX, iov, 4), -EFAULT);
	assert_int_equal(gmem_gpa_to_iov(t, UINT64_MAX, 2, iov, 4), -EFAULT);
	assert_null(gmem_gpa_to_host(t, 0x100, UINT64_MAX));
	assert_null(gmem_gpa_to_host(t, UINT64_MAX, 2));
	/* The last byte of the last region. */
	assert_int_equal(gmem_gpa_to_iov(t, 0x50000 - 1, 1, iov, 4), 1);
	assert_int_equal(((uint8_t *)iov[0].iov_base)[0], pattern(448 * KIB - 1));
	assert_int_equal(gmem_gpa_to_iov(t, 0x50000 - 1, 2, iov, 4), -EFAULT);

	gmem_put(t);
	gmem_free(m);
	close(ram);
}

static void test_uva(void **state)
{
	int ram = make_ram("gm-uva", 256 * KIB);
	struct gmem *m = gmem_new();
	struct gmem_region_desc d[2];
	struct gmem_table *t;
	uint64_t gpa = 0;
	int fds[2];

	(void)state;
	/* uva order differs from gpa order. */
	d[0] = desc(0x0, 64 * KIB, 0x7000200000ull, 0);
	d[1] = desc(0x80000, 64 * KIB, 0x7000100000ull, 128 * KIB);
	fds[0] = xdup(ram);
	fds[1] = xdup(ram);
	assert_int_equal(gmem_set_table(m, d, fds, 2), 0);
	t = gmem_get(m);

	assert_int_equal(gmem_uva_to_gpa(t, 0x7000200010ull, 16, &gpa), 0);
	assert_int_equal(gpa, 0x10);
	assert_int_equal(gmem_uva_to_gpa(t, 0x7000100000ull + 64 * KIB - 4, 4, &gpa), 0);
	assert_int_equal(gpa, 0x80000 + 64 * KIB - 4);
	/* Crossing the end of a region, before it, after it, wrapping. */
	assert_int_equal(gmem_uva_to_gpa(t, 0x7000100000ull + 64 * KIB - 4, 5, &gpa), -EFAULT);
	assert_int_equal(gmem_uva_to_gpa(t, 0x70000fffffull, 1, &gpa), -EFAULT);
	assert_int_equal(gmem_uva_to_gpa(t, 0x7000200000ull + 64 * KIB, 1, &gpa), -EFAULT);
	assert_int_equal(gmem_uva_to_gpa(t, 0x7000200010ull, UINT64_MAX, &gpa), -EFAULT);

	assert_ptr_equal(gmem_uva_to_host(t, 0x7000100000ull + 0x20, 8),
			 gmem_gpa_to_host(t, 0x80000 + 0x20, 8));
	assert_int_equal(*(uint8_t *)gmem_uva_to_host(t, 0x7000100000ull + 0x20, 8),
			 pattern(128 * KIB + 0x20));
	assert_null(gmem_uva_to_host(t, 0x7000100000ull + 64 * KIB, 1));
	gmem_put(t);
	gmem_free(m);
	close(ram);
}

/* Refused tables: the fds are closed, the current table stays. */
static void expect_refused(struct gmem *m, const struct gmem_region_desc *d, unsigned int n,
			   int ram, int err, const char *msg)
{
	uint64_t gen = gmem_generation(m);
	int fds[8], keep[8];
	unsigned int i;

	assert_true(n <= 8);
	for (i = 0; i < n; i++)
		keep[i] = fds[i] = xdup(ram);
	last_log[0] = '\0';
	assert_int_equal(gmem_set_table(m, d, fds, n), err);
	for (i = 0; i < n; i++) {
		assert_int_equal(fds[i], -1);
		assert_false(fd_open(keep[i]));
	}
	assert_int_equal(gmem_generation(m), gen);
	if (msg && !strstr(last_log, msg))
		fail_msg("log \"%s\" does not say \"%s\"", last_log, msg);
}

static void test_bad_regions(void **state)
{
	int ram = make_ram("gm-bad", 256 * KIB);
	struct gmem *m = gmem_new();
	struct gmem_region_desc d[3];
	struct gmem_table *t;
	int fds[1];

	(void)state;
	d[0] = desc(0x0, 64 * KIB, 0x1000000, 0);
	fds[0] = xdup(ram);
	assert_int_equal(gmem_set_table(m, d, fds, 1), 0);

	d[1] = desc(0x100000, 0, 0x2000000, 0);
	expect_refused(m, d, 2, ram, -EINVAL, "zero size");
	d[1] = desc(UINT64_MAX - 0xfff, 0x1000, 0x2000000, 0);
	expect_refused(m, d, 2, ram, -EINVAL, "gpa + size overflows");
	d[1] = desc(UINT64_MAX - 0xfff, 0x2000, 0x2000000, 0);
	expect_refused(m, d, 2, ram, -EINVAL, "gpa + size overflows");
	d[1] = desc(0x100000, 0x1000, UINT64_MAX - 0x10, 0);
	expect_refused(m, d, 2, ram, -EINVAL, "uva + size overflows");
	d[1] = desc(0x100000, 0x1000, 0x2000000, UINT64_MAX - 0x10);
	expect_refused(m, d, 2, ram, -EINVAL, "mmap_offset + size overflows");
	/* gpa overlap, given in either order, and a region inside another. */
	d[1] = desc(0x8000, 64 * KIB, 0x2000000, 0);
	expect_refused(m, d, 2, ram, -EINVAL, "overlaps");
	d[1] = d[0];
	d[0] = desc(0x8000, 64 * KIB, 0x2000000, 0);
	expect_refused(m, d, 2, ram, -EINVAL, "overlaps");
	d[0] = desc(0x0, 64 * KIB, 0x1000000, 0);
	d[1] = desc(0x1000, 0x1000, 0x2000000, 0);
	expect_refused(m, d, 2, ram, -EINVAL, "overlaps");
	/* Same gpa twice. */
	d[1] = d[0];
	d[1].uva = 0x2000000;
	expect_refused(m, d, 2, ram, -EINVAL, "overlaps");
	/* uva overlap with disjoint gpas. */
	d[1] = desc(0x100000, 64 * KIB, 0x1000000 + 60 * KIB, 0);
	expect_refused(m, d, 2, ram, -EINVAL, "uva");
	/* Adjacent in both is fine (the third overlaps the first in uva only). */
	d[1] = desc(0x10000, 64 * KIB, 0x1000000 + 64 * KIB, 64 * KIB);
	d[2] = desc(0x200000, 4 * KIB, 0x1000000 + 4 * KIB, 0);
	expect_refused(m, d, 3, ram, -EINVAL, "uva");

	t = gmem_get(m);
	assert_int_equal(t->nregions, 1);
	assert_int_equal(t->generation, 1);
	gmem_put(t);

	fds[0] = xdup(ram);
	d[1] = desc(0x10000, 64 * KIB, 0x1000000 + 64 * KIB, 64 * KIB);
	{
		int f2[2] = { fds[0], xdup(ram) };

		assert_int_equal(gmem_set_table(m, d, f2, 2), 0);
	}
	assert_int_equal(gmem_generation(m), 2);

	/* NULL arrays with n > 0. */
	assert_int_equal(gmem_set_table(m, NULL, NULL, 1), -EINVAL);
	gmem_free(m);
	close(ram);
}

static void test_max_regions(void **state)
{
	const unsigned int max = GMEM_MAX_REGIONS;
	int ram = make_ram("gm-max", (max + 1) * PAGE);
	struct gmem_region_desc *d = calloc(max + 1, sizeof(*d));
	int *fds = calloc(max + 1, sizeof(*fds)), *keep = calloc(max + 1, sizeof(*keep));
	int base = test_count_fds();
	struct gmem *m = gmem_new();
	struct gmem_table *t;
	unsigned int i;

	(void)state;
	assert_non_null(d);
	assert_non_null(fds);
	assert_non_null(keep);
	/* Every other page, so that regions are not adjacent. */
	for (i = 0; i <= max; i++) {
		d[i] = desc(2 * i * PAGE, PAGE, 0x40000000 + 2 * i * PAGE, i * PAGE);
		keep[i] = fds[i] = xdup(ram);
	}
	assert_int_equal(gmem_set_table(m, d, fds, max + 1), -E2BIG);
	for (i = 0; i <= max; i++)
		assert_false(fd_open(keep[i]));
	assert_int_equal(test_count_fds(), base);
	assert_int_equal(mapped("gm-max"), 0);

	for (i = 0; i < max; i++)
		fds[i] = xdup(ram);
	assert_int_equal(gmem_set_table(m, d, fds, max), 0);
	assert_int_equal(test_count_fds(), base);
	t = gmem_get(m);
	assert_int_equal(t->nregions, max);
	for (i = 0; i < max; i++) {
		uint8_t *h = gmem_gpa_to_host(t, 2 * i * PAGE + 7, 1);

		assert_non_null(h);
		assert_int_equal(*h, pattern(i * PAGE + 7));
		assert_null(gmem_find(t, (2 * i + 1) * PAGE));
	}
	gmem_put(t);

	/* A 510th region cannot be added either. */
	keep[max] = xdup(ram);
	assert_int_equal(gmem_add_region(m, &d[max], keep[max]), -E2BIG);
	assert_false(fd_open(keep[max]));
	/* Remove one, then the add fits. */
	assert_int_equal(gmem_remove_region(m, &d[3]), 0);
	assert_int_equal(gmem_add_region(m, &d[max], xdup(ram)), 0);
	t = gmem_get(m);
	assert_int_equal(t->nregions, max);
	assert_null(gmem_find(t, d[3].gpa));
	assert_non_null(gmem_find(t, d[max].gpa));
	gmem_put(t);

	gmem_free(m);
	assert_int_equal(mapped("gm-max"), 0);
	assert_int_equal(test_count_fds(), base);
	free(d);
	free(fds);
	free(keep);
	close(ram);
}

static void test_short_file(void **state)
{
	int ram = make_ram("gm-short", 64 * KIB);
	struct gmem *m = gmem_new();
	struct gmem_region_desc d[8];
	struct gmem_table *t;
	int base, i, fd;

	(void)state;
	/* One region reaching past the end of the memfd. */
	d[0] = desc(0x0, 64 * KIB, 0x1000000, 32 * KIB);
	expect_refused(m, d, 1, ram, -EFAULT, "past the end");
	d[0] = desc(0x0, 64 * KIB + 1, 0x1000000, 0);
	expect_refused(m, d, 1, ram, -EFAULT, "past the end");
	/* Offset beyond the end altogether. */
	d[0] = desc(0x0, 4 * KIB, 0x1000000, 1024 * KIB);
	expect_refused(m, d, 1, ram, -EFAULT, "past the end");

	/* Eight fds, the fifth region (in gpa order) too long: all closed, nothing left mapped. */
	base = test_count_fds();
	for (i = 0; i < 8; i++)
		d[i] = desc((uint64_t)i * 8 * KIB, 8 * KIB, 0x1000000 + (uint64_t)i * 8 * KIB,
			    (uint64_t)i * 8 * KIB);
	d[4].mmap_offset = 60 * KIB;
	expect_refused(m, d, 8, ram, -EFAULT, "past the end");
	assert_int_equal(test_count_fds(), base);
	assert_int_equal(mapped("gm-short"), 0);
	/* The same table fits with the right offset, ending exactly at EOF. */
	d[4].mmap_offset = 32 * KIB;
	{
		int fds[8];

		for (i = 0; i < 8; i++)
			fds[i] = xdup(ram);
		assert_int_equal(gmem_set_table(m, d, fds, 8), 0);
	}
	assert_int_equal(test_count_fds(), base);
	assert_int_equal(mapped("gm-short"), 64 * KIB);
	t = gmem_get(m);
	assert_int_equal(*(uint8_t *)gmem_gpa_to_host(t, 64 * KIB - 1, 1), pattern(64 * KIB - 1));
	gmem_put(t);

	/* add_region refuses a short file too, and closes the fd. */
	d[0] = desc(0x100000, 8 * KIB, 0x2000000, 60 * KIB);
	fd = xdup(ram);
	assert_int_equal(gmem_add_region(m, &d[0], fd), -EFAULT);
	assert_false(fd_open(fd));
	assert_int_equal(gmem_generation(m), 1);
	gmem_free(m);
	assert_int_equal(mapped("gm-short"), 0);
	close(ram);
}

/*
 * A block device as guest RAM (a memory-backend-file on a device node): its
 * st_size is 0, its size is BLKGETSIZE64's, and a mapping past that end
 * faults with SIGBUS just as one past the end of a file.  A region reaching
 * past it is refused and its fd closed; the device's own size fits.
 * Needs a loop device (root): skipped without one.
 */
static void test_block_device(void **state)
{
	int ram = make_ram("gm-blk", 64 * KIB);
	struct gmem *m = gmem_new();
	struct gmem_region_desc d;
	struct gmem_table *t;
	int blk, fd, base;

	(void)state;
	blk = test_loop_attach(ram);
	if (blk < 0) {
		print_message("# SKIP no loop device here: %s\n", strerror(-blk));
		goto out;
	}
	base = test_count_fds();
	d = desc(0x0, 64 * KIB, 0x1000000, 32 * KIB);
	expect_refused(m, &d, 1, blk, -EFAULT, "past the end");
	d = desc(0x0, 64 * KIB + PAGE, 0x1000000, 0);
	expect_refused(m, &d, 1, blk, -EFAULT, "past the end");
	d = desc(0x0, PAGE, 0x1000000, 1024 * KIB);
	expect_refused(m, &d, 1, blk, -EFAULT, "past the end");
	fd = xdup(blk);
	assert_int_equal(gmem_add_region(m, &d, fd), -EFAULT);
	assert_false(fd_open(fd));
	assert_int_equal(test_count_fds(), base);
	assert_int_equal(gmem_generation(m), 0);

	/* The whole device, to its last byte. */
	d = desc(0x0, 64 * KIB, 0x1000000, 0);
	assert_int_equal(gmem_add_region(m, &d, xdup(blk)), 0);
	t = gmem_get(m);
	assert_int_equal(*(uint8_t *)gmem_gpa_to_host(t, 64 * KIB - 1, 1), pattern(64 * KIB - 1));
	gmem_put(t);
	close(blk);
out:
	gmem_free(m);
	close(ram);
}

static void test_unmappable_fd(void **state)
{
	struct gmem *m = gmem_new();
	struct gmem_region_desc d = desc(0, 64 * KIB, 0x1000000, 0);
	int p[2], fd, fds[1];

	(void)state;
	assert_int_equal(pipe(p), 0);
	fds[0] = p[0];
	assert_int_equal(gmem_set_table(m, &d, fds, 1), -EFAULT);
	assert_false(fd_open(p[0]));
	close(p[1]);

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	fds[0] = fd;
	last_log[0] = '\0';
	assert_int_equal(gmem_set_table(m, &d, fds, 1), -EFAULT);
	assert_false(fd_open(fd));
	assert_non_null(strstr(last_log, "mmap"));

	/* A read-only memfd cannot be mapped writable. */
	fd = memfd_create("gm-ro", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 * KIB), 0);
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		fds[0] = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fds[0] >= 0);
		close(fd);
		fd = fds[0];
	}
	assert_int_equal(gmem_set_table(m, &d, fds, 1), -EFAULT);
	assert_false(fd_open(fd));

	/* No fd at all. */
	fds[0] = -1;
	assert_int_equal(gmem_set_table(m, &d, fds, 1), -EFAULT);
	assert_int_equal(gmem_generation(m), 0);
	gmem_free(m);
}

static void test_xen_flags(void **state)
{
	int ram = make_ram("gm-xen", 64 * KIB);
	struct gmem *m = gmem_new();
	struct gmem_region_desc d = desc(0, 64 * KIB, 0x1000000, 0);
	int fd = xdup(ram);

	(void)state;
	d.xen_flags = GMEM_XEN_FOREIGN;
	d.xen_domid = 1;
	last_log[0] = '\0';
#ifdef VK_XEN
	/*
	 * gmem_xen.c maps foreign regions, but this test runs on the real Xen
	 * libraries without a hypervisor: the mapping fails cleanly.  The
	 * simulator-backed cases are in test_gmem_xen.
	 */
	assert_int_equal(gmem_add_region(m, &d, fd), -EFAULT);
	assert_false(fd_open(fd));
#else
	assert_int_equal(gmem_add_region(m, &d, fd), -EOPNOTSUPP);
	assert_false(fd_open(fd));
	assert_non_null(strstr(last_log, "built without --enable-xen"));
#endif
	assert_int_equal(mapped("gm-xen"), 0);
	gmem_free(m);
	close(ram);
}

static void test_add_remove(void **state)
{
	int ram = make_ram("gm-addrem", 256 * KIB);
	struct gmem *m = gmem_new();
	struct gmem_region_desc a = desc(0x100000, 64 * KIB, 0x1000000, 0);
	struct gmem_region_desc b = desc(0x0, 64 * KIB, 0x2000000, 64 * KIB);
	struct gmem_region_desc c = desc(0x10000, 64 * KIB, 0x3000000, 128 * KIB);
	struct gmem_region_desc bad;
	struct gmem_table *t1, *t2, *t3;
	uint8_t *ha;
	int fd;

	(void)state;
	assert_int_equal(gmem_add_region(m, &a, xdup(ram)), 0);
	assert_int_equal(gmem_generation(m), 1);
	t1 = gmem_get(m);
	ha = gmem_gpa_to_host(t1, 0x100000, 1);
	assert_non_null(ha);

	/* Added before the existing one: sorted; the existing mapping is shared. */
	assert_int_equal(gmem_add_region(m, &b, xdup(ram)), 0);
	assert_int_equal(gmem_add_region(m, &c, xdup(ram)), 0);
	assert_int_equal(gmem_generation(m), 3);
	t2 = gmem_get(m);
	assert_int_equal(t2->nregions, 3);
	assert_int_equal(t2->regions[0].gpa, 0);
	assert_int_equal(t2->regions[1].gpa, 0x10000);
	assert_int_equal(t2->regions[2].gpa, 0x100000);
	assert_ptr_equal(gmem_gpa_to_host(t2, 0x100000, 1), ha);
	assert_ptr_equal(t2->regions[2].map, t1->regions[0].map);
	assert_int_equal(mapped("gm-addrem"), 192 * KIB);
	assert_int_equal(gmem_gpa_to_iov(t2, 0xff00, 0x200, (struct iovec[2]){ 0 }, 2), 2);

	/* Overlapping adds (gpa, uva), exact duplicates: refused, fd closed. */
	bad = desc(0x8000, 0x1000, 0x4000000, 0);
	fd = xdup(ram);
	assert_int_equal(gmem_add_region(m, &bad, fd), -EINVAL);
	assert_false(fd_open(fd));
	bad = desc(0x200000, 0x1000, 0x1000000 + 0xfff, 0);
	fd = xdup(ram);
	assert_int_equal(gmem_add_region(m, &bad, fd), -EINVAL);
	assert_false(fd_open(fd));
	fd = xdup(ram);
	assert_int_equal(gmem_add_region(m, &a, fd), -EINVAL);
	assert_false(fd_open(fd));
	bad = desc(0x200000, 0, 0x5000000, 0);
	fd = xdup(ram);
	assert_int_equal(gmem_add_region(m, &bad, fd), -EINVAL);
	assert_false(fd_open(fd));
	assert_int_equal(gmem_generation(m), 3);

	/* Remove: must match gpa, size and uva; mmap_offset is ignored. */
	bad = a;
	bad.size = 0x1000;
	assert_int_equal(gmem_remove_region(m, &bad), -ENOENT);
	bad = a;
	bad.uva += 0x1000;
	assert_int_equal(gmem_remove_region(m, &bad), -ENOENT);
	bad = desc(0x900000, 0x1000, 0x9000000, 0);
	assert_int_equal(gmem_remove_region(m, &bad), -ENOENT);
	assert_int_equal(gmem_generation(m), 3);
	bad = a;
	bad.mmap_offset = 0x12345;
	assert_int_equal(gmem_remove_region(m, &bad), 0);
	assert_int_equal(gmem_generation(m), 4);
	assert_int_equal(gmem_remove_region(m, &a), -ENOENT);

	t3 = gmem_get(m);
	assert_int_equal(t3->nregions, 2);
	assert_null(gmem_find(t3, 0x100000));
	/* Older snapshots still see (and can use) the removed region. */
	assert_ptr_equal(gmem_gpa_to_host(t1, 0x100000, 1), ha);
	assert_ptr_equal(gmem_gpa_to_host(t2, 0x100000, 1), ha);
	*ha = 0x77;
	assert_int_equal(mapped("gm-addrem"), 192 * KIB);
	gmem_put(t1);
	assert_int_equal(mapped("gm-addrem"), 192 * KIB);
	gmem_put(t2);
	/* Last table holding region a gone: unmapped. */
	assert_int_equal(mapped("gm-addrem"), 128 * KIB);

	assert_int_equal(gmem_remove_region(m, &b), 0);
	assert_int_equal(gmem_remove_region(m, &c), 0);
	assert_int_equal(mapped("gm-addrem"), 128 * KIB);  /* t3 holds them */
	gmem_put(t3);
	assert_int_equal(mapped("gm-addrem"), 0);
	assert_int_equal(gmem_remove_region(m, &c), -ENOENT);
	assert_int_equal(gmem_remove_region(m, NULL), -EINVAL);
	gmem_free(m);
	close(ram);
}

static void test_unaligned_offset(void **state)
{
	int ram = make_ram("gm-unal", 64 * KIB);
	struct gmem *m = gmem_new();
	struct gmem_region_desc d[2];
	struct gmem_table *t;
	int fds[2];
	uint8_t *h;

	(void)state;
	d[0] = desc(0x0, 0x1000, 0x1000000, 100);
	d[1] = desc(0x1000, 0x2000, 0x2000000, 2 * PAGE + 123);
	fds[0] = xdup(ram);
	fds[1] = xdup(ram);
	assert_int_equal(gmem_set_table(m, d, fds, 2), 0);
	t = gmem_get(m);
	h = gmem_gpa_to_host(t, 0, 0x1000);
	assert_non_null(h);
	assert_int_equal(h[0], pattern(100));
	assert_int_equal(h[0xfff], pattern(100 + 0xfff));
	h = gmem_gpa_to_host(t, 0x1000, 0x2000);
	assert_non_null(h);
	assert_int_equal(h[0], pattern(2 * PAGE + 123));
	assert_int_equal(h[0x1fff], pattern(2 * PAGE + 123 + 0x1fff));
	h[0x1fff] = 0x11;
	gmem_put(t);
	gmem_free(m);
	{
		uint8_t b = 0;

		assert_int_equal(pread(ram, &b, 1, 2 * PAGE + 123 + 0x1fff), 1);
		assert_int_equal(b, 0x11);
	}
	/* Unaligned and ending exactly at the end of the file. */
	m = gmem_new();
	d[0] = desc(0x0, 64 * KIB - 5, 0x1000000, 5);
	fds[0] = xdup(ram);
	assert_int_equal(gmem_set_table(m, d, fds, 1), 0);
	d[0] = desc(0x0, 64 * KIB - 4, 0x1000000, 5);
	expect_refused(m, d, 1, ram, -EFAULT, "past the end");
	gmem_free(m);
	close(ram);
}

/* Hundreds of set/replace/add/remove/clear cycles leak neither fds nor maps. */
static void test_pin_outlives_table(void **state)
{
	/*
	 * gmem.h: a pin keeps its mapping alive by itself, across gmem_put
	 * and table changes, for every kind of region.  Plain mmap regions
	 * included: a pinned range must still be there after the region was
	 * removed and the table dropped.
	 */
	int ram = make_ram("gm-pin", 64 * KIB);
	struct gmem *m = gmem_new();
	struct gmem_region_desc d = desc(0x100000, 64 * KIB, 0x1000000, 0);
	struct gmem_table *t;
	struct gmem_pin pin;
	uint8_t *p;

	(void)state;
	assert_int_equal(gmem_add_region(m, &d, xdup(ram)), 0);
	t = gmem_get(m);
	p = gmem_pin(t, 0x100000 + 8 * KIB, 16, &pin);
	assert_non_null(p);
	assert_ptr_equal(p, gmem_gpa_to_host(t, 0x100000 + 8 * KIB, 16));
	gmem_put(t);
	assert_int_equal(gmem_remove_region(m, &d), 0);
	gmem_clear(m);
	gmem_free(m);
	/* still mapped, still the guest's RAM */
	assert_int_equal(mapped("gm-pin"), 64 * KIB);
	assert_int_equal(p[5], pattern(8 * KIB + 5));
	gmem_unpin(&pin);
	assert_int_equal(mapped("gm-pin"), 0);
	/* releasing twice is harmless */
	gmem_unpin(&pin);
	close(ram);
}

static void test_fd_lifecycle(void **state)
{
	int ram = make_ram("gm-life", 256 * KIB);
	int base = test_count_fds();
	struct gmem *m = gmem_new();
	struct gmem_region_desc d[3], extra = desc(0x200000, 4 * KIB, 0x9000000, 0);
	struct gmem_table *t;
	int i, fds[3];

	(void)state;
	vk_log_set_level(VK_LOG_WARN);
	for (i = 0; i < 300; i++) {
		unsigned int k;

		d[0] = desc(0x0, 64 * KIB, 0x1000000, (uint64_t)(i % 3) * 64 * KIB);
		d[1] = desc(0x10000, 64 * KIB, 0x2000000, 64 * KIB);
		d[2] = desc(0x100000, 32 * KIB, 0x3000000, 128 * KIB + (uint64_t)(i % 7));
		for (k = 0; k < 3; k++)
			fds[k] = xdup(ram);
		assert_int_equal(gmem_set_table(m, d, fds, 3), 0);
		/* A table replaced while a reader holds the old one. */
		t = gmem_get(m);
		for (k = 0; k < 3; k++)
			fds[k] = xdup(ram);
		assert_int_equal(gmem_set_table(m, d, fds, 3), 0);
		assert_int_equal(gmem_add_region(m, &extra, xdup(ram)), 0);
		assert_int_equal(gmem_add_region(m, &extra, xdup(ram)), -EINVAL);
		gmem_put(t);
		if (i % 2)
			assert_int_equal(gmem_remove_region(m, &extra), 0);
		/* A refused replacement half-way. */
		d[1].mmap_offset = 250 * KIB;
		for (k = 0; k < 3; k++)
			fds[k] = xdup(ram);
		assert_int_equal(gmem_set_table(m, d, fds, 3), -EFAULT);
		if (i % 3 == 0)
			gmem_clear(m);
		assert_int_equal(test_count_fds(), base);
	}
	gmem_clear(m);
	assert_int_equal(mapped("gm-life"), 0);
	assert_int_equal(test_count_fds(), base);

	/* gmem_free leaves a held snapshot intact; its last put unmaps. */
	d[1].mmap_offset = 64 * KIB;
	for (i = 0; i < 3; i++)
		fds[i] = xdup(ram);
	assert_int_equal(gmem_set_table(m, d, fds, 3), 0);
	t = gmem_get(m);
	gmem_free(m);
	assert_true(mapped("gm-life") >= 160 * KIB);
	assert_int_equal(*(uint8_t *)gmem_gpa_to_host(t, 0x10000, 1), pattern(64 * KIB));
	gmem_put(t);
	assert_int_equal(mapped("gm-life"), 0);
	assert_int_equal(test_count_fds(), base);
	close(ram);
}

/* ------------------------------------------------------------ concurrency */

#define NREADERS 3
#define GPA_BASE 0x100000ull
#define RAM_SIZE (64 * KIB)
#define SLOT_OFF (60 * KIB)
#define CHECK_OFF (12 * KIB)  /* [12K, 20K) straddles the split of layout B */
#define CHECK_LEN (8 * KIB)

struct race {
	struct gmem *m;
	int ram;
	bool stop;                 /* atomic */
	unsigned long iters[NREADERS];   /* atomic */
	unsigned long spans[NREADERS];
	unsigned long errors;      /* atomic */
	unsigned int id;           /* atomic: next reader id */
};

static void *reader(void *arg)
{
	struct race *rc = arg;
	unsigned int id = __atomic_fetch_add(&rc->id, 1, __ATOMIC_RELAXED);
	uint64_t counter = 0;

	while (!__atomic_load_n(&rc->stop, __ATOMIC_ACQUIRE)) {
		struct gmem_table *t = gmem_get(rc->m);
		struct iovec iov[4];
		uint64_t off = CHECK_OFF;
		uint64_t *slot;
		int n, i;

		if (t->nregions == 0)
			goto next;  /* before the first table */
		n = gmem_gpa_to_iov(t, GPA_BASE + CHECK_OFF, CHECK_LEN, iov, 4);
		if (n < 1) {
			__atomic_add_fetch(&rc->errors, 1, __ATOMIC_RELAXED);
			goto next;
		}
		if (n > 1)
			rc->spans[id]++;
		for (i = 0; i < n; i++) {
			const uint8_t *p = iov[i].iov_base;
			size_t j;

			for (j = 0; j < iov[i].iov_len; j += 61)
				if (p[j] != pattern(off + j))
					__atomic_add_fetch(&rc->errors, 1, __ATOMIC_RELAXED);
			off += iov[i].iov_len;
		}
		/* Our own slot keeps its value across every mapping of the file. */
		slot = gmem_gpa_to_host(t, GPA_BASE + SLOT_OFF + id * 64, sizeof(*slot));
		if (!slot) {
			__atomic_add_fetch(&rc->errors, 1, __ATOMIC_RELAXED);
			goto next;
		}
		if (__atomic_load_n(slot, __ATOMIC_RELAXED) != counter)
			__atomic_add_fetch(&rc->errors, 1, __ATOMIC_RELAXED);
		__atomic_store_n(slot, ++counter, __ATOMIC_RELAXED);
next:
		gmem_put(t);
		__atomic_add_fetch(&rc->iters[id], 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void wait_readers(struct race *rc, unsigned long *seen)
{
	unsigned int i;

	for (i = 0; i < NREADERS; i++) {
		while (__atomic_load_n(&rc->iters[i], __ATOMIC_ACQUIRE) == seen[i])
			sched_yield();
		seen[i] = __atomic_load_n(&rc->iters[i], __ATOMIC_ACQUIRE);
	}
}

static void test_concurrent_readers(void **state)
{
	struct race rc = { .ram = make_ram("gm-race", RAM_SIZE) };
	/* A: one region.  B: the same RAM split in two at 16K. */
	const struct gmem_region_desc la[1] = {
		desc(GPA_BASE, RAM_SIZE, 0x10000000, 0),
	};
	const struct gmem_region_desc lb[2] = {
		desc(GPA_BASE, 16 * KIB, 0x20000000, 0),
		desc(GPA_BASE + 16 * KIB, RAM_SIZE - 16 * KIB, 0x30000000, 16 * KIB),
	};
	const struct gmem_region_desc extra = desc(0x400000, 4 * KIB, 0x40000000, 0);
	unsigned long seen[NREADERS] = { 0 }, spans = 0, iters = 0;
	int base = test_count_fds();
	pthread_t th[NREADERS];
	int i, fds[2];

	(void)state;
	vk_log_set_level(VK_LOG_WARN);
	memset(seen, 0, sizeof(seen));
	rc.m = gmem_new();
	assert_non_null(rc.m);
	{
		static const uint8_t zero[NREADERS * 64];

		/* The readers' slots start at 0. */
		assert_int_equal(pwrite(rc.ram, zero, sizeof(zero), SLOT_OFF), sizeof(zero));
	}
	for (i = 0; i < NREADERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader, &rc), 0);

	for (i = 0; i < 3000; i++) {
		if (i % 2) {
			fds[0] = xdup(rc.ram);
			fds[1] = xdup(rc.ram);
			assert_int_equal(gmem_set_table(rc.m, lb, fds, 2), 0);
		} else {
			fds[0] = xdup(rc.ram);
			assert_int_equal(gmem_set_table(rc.m, la, fds, 1), 0);
		}
		if (i % 5 == 0) {
			assert_int_equal(gmem_add_region(rc.m, &extra, xdup(rc.ram)), 0);
			assert_int_equal(gmem_remove_region(rc.m, &extra), 0);
		}
		if (i % 97 == 0)
			gmem_clear(rc.m);
		/* Make sure the readers really run between swaps now and then. */
		if (i % 50 == 49)
			wait_readers(&rc, seen);
	}
	__atomic_store_n(&rc.stop, true, __ATOMIC_RELEASE);
	for (i = 0; i < NREADERS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		spans += rc.spans[i];
		iters += rc.iters[i];
	}
	assert_int_equal(rc.errors, 0);
	assert_true(iters >= NREADERS * 60);
	print_message("# %lu reader passes, %lu across the layout-B split, generation %llu\n",
		      iters, spans, (unsigned long long)gmem_generation(rc.m));
	gmem_free(rc.m);
	assert_int_equal(mapped("gm-race"), 0);
	assert_int_equal(test_count_fds(), base);
	close(rc.ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_translate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iov_span, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uva, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmappable_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xen_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unaligned_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_outlives_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_readers, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
