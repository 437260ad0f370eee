// SPDX-License-Identifier: MIT
/*
 * test_vq_bad.c - a hostile guest: hand-crafted descriptor tables
 *
 * Every rule: negative errno, queue broken, err_fd signalled, nothing
 * popped afterwards, no out-of-bounds access (run under ASan/UBSan).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/log.h"
#include "vq_test_util.h"

#define F_INDIRECT  (1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ull << VIRTIO_RING_F_EVENT_IDX)
#define NEXT  VRING_DESC_F_NEXT
#define WRITE VRING_DESC_F_WRITE
#define IND   VRING_DESC_F_INDIRECT

struct bad {
	struct vqt_env e;
	int efd;
	uint64_t buf;       /* gpa of a valid 4 KiB buffer */
};

static int setup(void **state)
{
	struct bad *b = calloc(1, sizeof(*b));

	if (!b || vqt_setup(&b->e, 2, 64 * 1024, 8, F_INDIRECT | F_EVENT_IDX) < 0)
		return -1;
	b->efd = eventfd(0, EFD_NONBLOCK);
	b->e.vq.err_fd = b->efd;
	b->buf = vqt_gpa(&b->e, vqt_alloc(&b->e, 4096, 4096));
	*state = b;
	return 0;
}

static int teardown(void **state)
{
	struct bad *b = *state;

	close(b->efd);
	vqt_teardown(&b->e);
	free(b);
	return 0;
}

/* Pop once: expect @err, a broken queue, one err_fd event, then -EIO. */
static void expect_broken(struct bad *b, int err)
{
	uint64_t v = 0;

	assert_int_equal(vq_pop(&b->e.vq, b->e.tab, b->e.elem), err);
	assert_true(b->e.vq.broken);
	assert_int_equal(read(b->efd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	assert_int_equal(b->e.elem->out_num + b->e.elem->in_num, 0);
	assert_int_equal(vq_pop(&b->e.vq, b->e.tab, b->e.elem), -EIO);
	assert_int_equal(vq_avail_count(&b->e.vq), -EIO);
	assert_true(vq_avail_empty(&b->e.vq));
}

static void test_head_out_of_range(void **state)
{
	struct bad *b = *state;

	vqt_avail_push(&b->e, 8);
	expect_broken(b, -EINVAL);
}

static void test_next_out_of_range(void **state)
{
	struct bad *b = *state;

	vqt_set_desc(&b->e, 0, b->buf, 16, NEXT, 8);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EINVAL);
}

static void test_loop(void **state)
{
	struct bad *b = *state;

	vqt_set_desc(&b->e, 0, b->buf, 16, NEXT, 1);
	vqt_set_desc(&b->e, 1, b->buf, 16, NEXT, 2);
	vqt_set_desc(&b->e, 2, b->buf, 16, NEXT, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -ELOOP);
}

static void test_self_loop(void **state)
{
	struct bad *b = *state;

	vqt_set_desc(&b->e, 5, b->buf, 0, NEXT, 5);
	vqt_avail_push(&b->e, 5);
	expect_broken(b, -ELOOP);
}

/* A chain of exactly num descriptors is fine; it is the loop guard's edge. */
static void test_chain_of_num_ok(void **state)
{
	struct bad *b = *state;
	unsigned int i;

	for (i = 0; i < 8; i++)
		vqt_set_desc(&b->e, i, b->buf + i, 1, i < 7 ? NEXT : 0, (uint16_t)(i + 1));
	vqt_avail_push(&b->e, 0);
	assert_int_equal(vq_pop(&b->e.vq, b->e.tab, b->e.elem), 1);
	assert_int_equal(b->e.elem->out_num, 8);
	assert_false(b->e.vq.broken);
}

static void test_write_then_read(void **state)
{
	struct bad *b = *state;

	vqt_set_desc(&b->e, 0, b->buf, 16, NEXT, 1);
	vqt_set_desc(&b->e, 1, b->buf + 16, 16, WRITE | NEXT, 2);
	vqt_set_desc(&b->e, 2, b->buf + 32, 16, 0, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EINVAL);
}

static void test_addr_outside(void **state)
{
	struct bad *b = *state;

	vqt_set_desc(&b->e, 0, VQT_GPA_BASE + 2 * 64 * 1024, 16, 0, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EFAULT);
}

static void test_len_past_end(void **state)
{
	struct bad *b = *state;

	/* starts inside the second region, runs past the end of memory */
	vqt_set_desc(&b->e, 0, VQT_GPA_BASE + 2 * 64 * 1024 - 100, 101, WRITE, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EFAULT);
}

static void test_addr_below(void **state)
{
	struct bad *b = *state;

	vqt_set_desc(&b->e, 0, VQT_GPA_BASE - 8, 16, 0, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EFAULT);
}

static void test_addr_overflow(void **state)
{
	struct bad *b = *state;

	vqt_set_desc(&b->e, 0, UINT64_MAX - 100, 0xffffffffu, 0, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EFAULT);
}

static void test_avail_idx_too_far(void **state)
{
	struct bad *b = *state;
	struct vqdrv *d = &b->e.drv;

	vk_write_le16(&d->avail->idx, 9);	/* 9 > num ahead of 0 */
	expect_broken(b, -EIO);
}

static void test_too_many_in_flight(void **state)
{
	struct bad *b = *state;
	unsigned int i;

	/* The guest hands out the same head 9 times without getting it back. */
	vqt_set_desc(&b->e, 0, b->buf, 16, 0, 0);
	for (i = 0; i < 8; i++) {
		vqt_avail_push(&b->e, 0);
		assert_int_equal(vq_pop(&b->e.vq, b->e.tab, b->e.elem), 1);
	}
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -ENOSPC);
}

static void *table_at(struct bad *b, uint64_t *gpa, unsigned int entries)
{
	void *t = vqt_alloc(&b->e, 16ull * entries, 16);

	*gpa = vqt_gpa(&b->e, t);
	return t;
}

static void test_indirect_len_not_multiple(void **state)
{
	struct bad *b = *state;
	uint64_t tg;
	void *t = table_at(b, &tg, 2);

	vqt_put_desc(t, 0, b->buf, 16, 0, 0);
	vqt_set_desc(&b->e, 0, tg, 24, IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EINVAL);
}

static void test_indirect_len_zero(void **state)
{
	struct bad *b = *state;
	uint64_t tg;

	table_at(b, &tg, 1);
	vqt_set_desc(&b->e, 0, tg, 0, IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EINVAL);
}

static void test_indirect_too_large(void **state)
{
	struct bad *b = *state;

	vqt_set_desc(&b->e, 0, VQT_GPA_BASE, 16 * (VQ_INDIRECT_MAX + 1), IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EINVAL);
}

static void test_indirect_with_next(void **state)
{
	struct bad *b = *state;
	uint64_t tg;
	void *t = table_at(b, &tg, 1);

	vqt_put_desc(t, 0, b->buf, 16, 0, 0);
	vqt_set_desc(&b->e, 0, tg, 16, IND | NEXT, 1);
	vqt_set_desc(&b->e, 1, b->buf, 16, 0, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EINVAL);
}

static void test_indirect_nested(void **state)
{
	struct bad *b = *state;
	uint64_t tg, tg2;
	void *t = table_at(b, &tg, 2);
	void *t2 = table_at(b, &tg2, 1);

	vqt_put_desc(t2, 0, b->buf, 16, 0, 0);
	vqt_put_desc(t, 0, b->buf, 16, NEXT, 1);
	vqt_put_desc(t, 1, tg2, 16, IND, 0);
	vqt_set_desc(&b->e, 0, tg, 32, IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EINVAL);
}

static void test_indirect_loop(void **state)
{
	struct bad *b = *state;
	uint64_t tg;
	void *t = table_at(b, &tg, 3);

	vqt_put_desc(t, 0, b->buf, 16, NEXT, 1);
	vqt_put_desc(t, 1, b->buf, 16, NEXT, 2);
	vqt_put_desc(t, 2, b->buf, 16, NEXT, 1);
	vqt_set_desc(&b->e, 0, tg, 48, IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -ELOOP);
}

static void test_indirect_next_out_of_range(void **state)
{
	struct bad *b = *state;
	uint64_t tg;
	void *t = table_at(b, &tg, 2);

	/* index 5 is inside the ring but outside this 2-entry table */
	vqt_put_desc(t, 0, b->buf, 16, NEXT, 5);
	vqt_set_desc(&b->e, 0, tg, 32, IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EINVAL);
}

static void test_indirect_write_then_read(void **state)
{
	struct bad *b = *state;
	uint64_t tg;
	void *t = table_at(b, &tg, 2);

	vqt_put_desc(t, 0, b->buf, 16, WRITE | NEXT, 1);
	vqt_put_desc(t, 1, b->buf, 16, 0, 0);
	vqt_set_desc(&b->e, 0, tg, 32, IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EINVAL);
}

/* A writable direct descriptor, then an indirect table starting readable. */
static void test_write_then_indirect_read(void **state)
{
	struct bad *b = *state;
	uint64_t tg;
	void *t = table_at(b, &tg, 1);

	vqt_put_desc(t, 0, b->buf, 16, 0, 0);
	vqt_set_desc(&b->e, 0, b->buf, 16, WRITE | NEXT, 1);
	vqt_set_desc(&b->e, 1, tg, 16, IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EINVAL);
}

static void test_indirect_table_outside(void **state)
{
	struct bad *b = *state;

	vqt_set_desc(&b->e, 0, VQT_GPA_BASE + 2 * 64 * 1024 - 16, 32, IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EFAULT);
}

static void test_indirect_entry_outside(void **state)
{
	struct bad *b = *state;
	uint64_t tg;
	void *t = table_at(b, &tg, 1);

	vqt_put_desc(t, 0, UINT64_MAX - 8, 16, 0, 0);
	vqt_set_desc(&b->e, 0, tg, 16, IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EFAULT);
}

static void test_indirect_addr_overflow(void **state)
{
	struct bad *b = *state;

	vqt_set_desc(&b->e, 0, UINT64_MAX - 15, 32, IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EFAULT);
}

/* Two 2.5 GiB descriptors in a sparse 6 GiB guest: the chain's length overflows. */
static void test_chain_over_4g(void **state)
{
	struct vqt_env e;
	uint64_t v = 0;
	int efd = eventfd(0, EFD_NONBLOCK);

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 6ull << 30, 8, 0), 0);
	e.vq.err_fd = efd;
	vqt_set_desc(&e, 0, VQT_GPA_BASE + (1 << 20), 0xa0000000u, NEXT, 1);
	vqt_set_desc(&e, 1, VQT_GPA_BASE + (1 << 20), 0xa0000000u, 0, 0);
	vqt_avail_push(&e, 0);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), -EOVERFLOW);
	assert_true(e.vq.broken);
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	/* the same, writable */
	vqt_teardown(&e);
	assert_int_equal(vqt_setup(&e, 1, 6ull << 30, 8, 0), 0);
	vqt_set_desc(&e, 0, VQT_GPA_BASE + (1 << 20), 0xa0000000u, WRITE | NEXT, 1);
	vqt_set_desc(&e, 1, VQT_GPA_BASE + (1 << 20), 0xa0000000u, WRITE, 0);
	vqt_avail_push(&e, 0);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), -EOVERFLOW);
	vqt_teardown(&e);
	close(efd);
}

static void test_indirect_not_negotiated(void **state)
{
	struct bad *b = *state;
	uint64_t tg;
	void *t = table_at(b, &tg, 1);

	vq_set_features(&b->e.vq, 0);
	vqt_put_desc(t, 0, b->buf, 16, 0, 0);
	vqt_set_desc(&b->e, 0, tg, 16, IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -EINVAL);
}

/* 600 entries each straddling the region boundary: 1200 iovecs. */
static void test_too_many_iovecs(void **state)
{
	struct bad *b = *state;
	uint64_t tg;
	void *t = table_at(b, &tg, 600);
	unsigned int i;

	for (i = 0; i < 600; i++)
		vqt_put_desc(t, i, VQT_GPA_BASE + 64 * 1024 - 8, 16, i < 599 ? NEXT : 0,
			     (uint16_t)(i + 1));
	vqt_set_desc(&b->e, 0, tg, 600 * 16, IND, 0);
	vqt_avail_push(&b->e, 0);
	expect_broken(b, -E2BIG);
}

/* Exactly VQ_ELEM_MAX_IOV iovecs still pops. */
static void test_max_iovecs_ok(void **state)
{
	struct bad *b = *state;
	uint64_t tg;
	void *t = table_at(b, &tg, VQ_INDIRECT_MAX);
	unsigned int i;

	for (i = 0; i < VQ_INDIRECT_MAX; i++)
		vqt_put_desc(t, i, b->buf + i % 4096, 1, NEXT, (uint16_t)(i + 1));
	vqt_put_desc(t, VQ_INDIRECT_MAX - 1, b->buf, 1, WRITE, 0);
	vqt_set_desc(&b->e, 0, tg, 16 * VQ_INDIRECT_MAX, IND, 0);
	vqt_avail_push(&b->e, 0);
	assert_int_equal(vq_pop(&b->e.vq, b->e.tab, b->e.elem), 1);
	assert_int_equal(b->e.elem->out_num, VQ_ELEM_MAX_IOV - 1);
	assert_int_equal(b->e.elem->in_num, 1);
	/* one more (direct, before the table) is too many */
	vqt_set_desc(&b->e, 1, b->buf, 1, NEXT, 0);
	vqt_avail_push(&b->e, 1);
	expect_broken(b, -E2BIG);
}

/* Broken stays broken until set up again; logged at debug level. */
static int log_hits;
static void sink(enum vk_log_level level, const char *line, void *opaque)
{
	(void)opaque;
	if (level == VK_LOG_DEBUG && strstr(line, "broken"))
		log_hits++;
}

static void test_recover_after_setup(void **state)
{
	struct bad *b = *state;
	enum vk_log_level old = vk_log_get_level();

	vk_log_set_level(VK_LOG_DEBUG);
	vk_log_set_sink(sink, NULL);
	vqt_avail_push(&b->e, 200);
	expect_broken(b, -EINVAL);
	vk_log_set_sink(NULL, NULL);
	vk_log_set_level(old);
	assert_int_equal(log_hits, 1);

	/* Set up again: resumes from where it was (the bad entry skipped by the caller). */
	vq_reset(&b->e.vq);
	assert_int_equal(b->e.vq.err_fd, b->efd);
	assert_int_equal(vq_set_num(&b->e.vq, 8), 0);
	vq_set_features(&b->e.vq, F_INDIRECT);
	assert_int_equal(vqt_attach_device(&b->e, true), 0);
	vq_set_base(&b->e.vq, 1);
	assert_false(b->e.vq.broken);
	vqt_set_desc(&b->e, 3, b->buf, 16, 0, 0);
	vqt_avail_push(&b->e, 3);
	assert_int_equal(vq_pop(&b->e.vq, b->e.tab, b->e.elem), 1);
	assert_int_equal(b->e.elem->head, 3);
}

/* TOCTOU: what is validated is what is mapped (one copy per descriptor). */
static void test_zero_len_descriptors(void **state)
{
	struct bad *b = *state;

	vqt_set_desc(&b->e, 0, 0, 0, NEXT, 1);
	vqt_set_desc(&b->e, 1, b->buf, 0, WRITE, 0);
	vqt_avail_push(&b->e, 0);
	assert_int_equal(vq_pop(&b->e.vq, b->e.tab, b->e.elem), 1);
	assert_int_equal(b->e.elem->out_num + b->e.elem->in_num, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_head_out_of_range),
		T(test_next_out_of_range),
		T(test_loop),
		T(test_self_loop),
		T(test_chain_of_num_ok),
		T(test_write_then_read),
		T(test_addr_outside),
		T(test_len_past_end),
		T(test_addr_below),
		T(test_addr_overflow),
		T(test_avail_idx_too_far),
		T(test_too_many_in_flight),
		T(test_indirect_len_not_multiple),
		T(test_indirect_len_zero),
		T(test_indirect_too_large),
		T(test_indirect_with_next),
		T(test_indirect_nested),
		T(test_indirect_loop),
		T(test_indirect_next_out_of_range),
		T(test_indirect_write_then_read),
		T(test_write_then_indirect_read),
		T(test_indirect_table_outside),
		T(test_indirect_entry_outside),
		T(test_indirect_not_negotiated),
		T(test_indirect_addr_overflow),
		cmocka_unit_test(test_chain_over_4g),
		T(test_too_many_iovecs),
		T(test_max_iovecs_ok),
		T(test_recover_after_setup),
		T(test_zero_len_descriptors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
