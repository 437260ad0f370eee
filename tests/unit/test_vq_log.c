// SPDX-License-Identifier: MIT
/*
 * test_vq_log.c - dirty page logging (vhost-user LOG_SHMFD)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vq_test_util.h"

static bool bit(const uint8_t *bm, uint64_t gpa)
{
	uint64_t page = gpa / VQ_LOG_PAGE;

	return bm[page / 8] & (1u << (page % 8));
}

static unsigned int popcount(const uint8_t *bm, size_t n)
{
	unsigned int c = 0;
	size_t i;

	for (i = 0; i < n; i++)
		c += (unsigned int)__builtin_popcount(bm[i]);
	return c;
}

static void test_log_write(void **state)
{
	uint8_t bm[16];
	struct vq_log log = { .bitmap = bm, .size = sizeof(bm) };

	(void)state;
	memset(bm, 0, sizeof(bm));
	vq_log_write(&log, 0, 1);
	assert_int_equal(bm[0], 0x01);
	vq_log_write(&log, 4095, 2);	/* straddles pages 0 and 1 */
	assert_int_equal(bm[0], 0x03);
	vq_log_write(&log, 7 * 4096, 0);	/* nothing */
	assert_int_equal(bm[0], 0x03);
	/* pages 6..17: partial byte, whole byte, partial byte */
	vq_log_write(&log, 6 * 4096 + 100, 11 * 4096);
	assert_int_equal(bm[0], 0xc3);
	assert_int_equal(bm[1], 0xff);
	assert_int_equal(bm[2], 0x03);
	assert_int_equal(popcount(bm, sizeof(bm)), 4 + 8 + 2);

	/* bounded by size: the last page in range, then nothing past it */
	memset(bm, 0, sizeof(bm));
	vq_log_write(&log, 127 * 4096, 10 * 4096);
	assert_int_equal(bm[15], 0x80);
	assert_int_equal(popcount(bm, sizeof(bm)), 1);
	vq_log_write(&log, 128 * 4096, 1);
	vq_log_write(&log, UINT64_MAX - 10, 100);	/* overflowing range */
	vq_log_write(&log, 0, UINT64_MAX);	/* everything: bounded */
	assert_int_equal(popcount(bm, sizeof(bm)), 128);
	vq_log_write(NULL, 0, 1);
}

static void test_log_push(void **state)
{
	struct vqt_env e;
	uint8_t *bm;
	struct vq_log log;
	struct iovec out, in[2];
	uint64_t used_log = 0x40000;	/* the front-end's log address for the used ring */
	uint64_t bmsize = ((VQT_GPA_BASE + (2 << 20)) / VQ_LOG_PAGE + 7) / 8;

	(void)state;
	assert_int_equal(vqt_setup(&e, 2, 1 << 20, 16, 1ull << VIRTIO_RING_F_EVENT_IDX), 0);
	bm = calloc(1, bmsize);
	assert_non_null(bm);
	log = (struct vq_log){ .bitmap = bm, .size = bmsize, .used_gpa = used_log, .log_used = true };

	/* readable buffer in page A, writable ones: 3 pages in region 0 then
	 * 2 pages straddling into region 1 */
	vqt_alloc_at(&e, VQT_GPA_BASE + 0x10000);
	out.iov_base = vqt_alloc(&e, 64, 1);
	out.iov_len = 64;
	vqt_alloc_at(&e, VQT_GPA_BASE + 0x20000);
	in[0].iov_base = vqt_alloc(&e, 3 * 4096, 4096);
	in[0].iov_len = 3 * 4096;
	vqt_alloc_at(&e, VQT_GPA_BASE + (1 << 20) - 4096);
	in[1].iov_base = vqt_alloc(&e, 2 * 4096, 1);
	in[1].iov_len = 2 * 4096;
	assert_int_equal(vqdrv_add(&e.drv, &out, 1, in, 2, &e), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	assert_int_equal(e.elem->in_num, 3);

	e.vq.log = &log;
	memset(bm, 0, bmsize);
	/* wrote 2 pages + 1 byte: pages 0x20000, 0x21000, 0x22000 dirty, nothing else */
	vq_push(&e.vq, e.elem, 2 * 4096 + 1);
	assert_true(bit(bm, VQT_GPA_BASE + 0x20000));
	assert_true(bit(bm, VQT_GPA_BASE + 0x21000));
	assert_true(bit(bm, VQT_GPA_BASE + 0x22000));
	assert_false(bit(bm, VQT_GPA_BASE + 0x10000));	/* readable: never */
	assert_false(bit(bm, VQT_GPA_BASE + (1 << 20) - 4096));
	/* used ring entry, logged at the front-end's used log address */
	assert_true(bit(bm, used_log));
	assert_int_equal(popcount(bm, bmsize), 4);
	vq_flush(&e.vq);
	assert_int_equal(popcount(bm, bmsize), 4);	/* idx on the same page */

	/* a full write reaches the second region */
	memset(bm, 0, bmsize);
	vqdrv_get_used(&e.drv, NULL);
	assert_int_equal(vqdrv_add(&e.drv, &out, 1, in, 2, &e), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	memset(bm, 0, bmsize);
	vq_push(&e.vq, e.elem, UINT32_MAX);	/* clamped to in_len */
	assert_true(bit(bm, VQT_GPA_BASE + (1 << 20) - 4096));
	assert_true(bit(bm, VQT_GPA_BASE + (1 << 20)));
	assert_false(bit(bm, VQT_GPA_BASE + (1 << 20) + 4096));
	assert_int_equal(popcount(bm, bmsize), 3 + 2 + 1);

	/* without log_used the used ring is not logged */
	log.log_used = false;
	memset(bm, 0, bmsize);
	vq_flush(&e.vq);
	assert_int_equal(popcount(bm, bmsize), 0);
	/* a log too small for the data: bounded, no crash */
	log.size = 1;
	vqdrv_get_used(&e.drv, NULL);
	assert_int_equal(vqdrv_add(&e.drv, &out, 1, in, 2, &e), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	vq_complete(&e.vq, e.elem, UINT32_MAX);
	assert_int_equal(popcount(bm, bmsize), 0);
	e.vq.log = NULL;
	free(bm);
	vqt_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_write),
		cmocka_unit_test(test_log_push),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
