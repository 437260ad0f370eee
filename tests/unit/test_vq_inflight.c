// SPDX-License-Identifier: MIT
/*
 * test_vq_inflight.c - inflight tracking and resubmission after a restart
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "vq_test_util.h"

#define NUM 16

struct ctx {
	struct vqt_env e;
	void *region;          /* stands for the INFLIGHT_SHMFD area */
	size_t size;
	int tok[NUM];
	struct vq_elem *els;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	unsigned int i;

	if (!c || vqt_setup(&c->e, 1, 1 << 20, NUM, 1ull << VIRTIO_RING_F_EVENT_IDX) < 0)
		return -1;
	c->size = vq_inflight_region_size(NUM);
	c->region = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	c->els = calloc(NUM, sizeof(*c->els));
	if (c->region == MAP_FAILED || !c->els)
		return -1;
	for (i = 0; i < NUM; i++)
		c->tok[i] = (int)i;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	munmap(c->region, c->size);
	free(c->els);
	vqt_teardown(&c->e);
	free(c);
	return 0;
}

/* Add @n one-buffer chains, tokens from @first; returns nothing. */
static void add(struct ctx *c, unsigned int first, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct iovec in = { vqt_alloc(&c->e, 32, 16), 32 };

		assert_int_equal(vqdrv_add(&c->e.drv, NULL, 0, &in, 1, &c->tok[first + i]), 0);
	}
	vqdrv_kick_prepare(&c->e.drv);
}

/* The back-end "restarts": a fresh vq on the same rings and region. */
static int restart(struct ctx *c)
{
	vq_init(&c->e.vq);
	assert_int_equal(vq_set_num(&c->e.vq, NUM), 0);
	vq_set_features(&c->e.vq, 1ull << VIRTIO_RING_F_EVENT_IDX);
	assert_int_equal(vqt_attach_device(&c->e, true), 0);
	vq_set_base(&c->e.vq, 0);	/* whatever the front-end says: resume fixes it */
	assert_int_equal(vq_inflight_init(&c->e.vq, c->region, c->size), 0);
	return vq_inflight_resume(&c->e.vq);
}

static void test_region_size_and_init(void **state)
{
	struct ctx *c = *state;
	struct vq other;

	assert_int_equal(vq_inflight_region_size(NUM), 320);	/* 16 + 16 * 16, 64-aligned */
	assert_int_equal(vq_inflight_region_size(1) % 64, 0);
	assert_true(vq_inflight_region_size(1) >= 32);
	assert_int_equal(vq_inflight_init(&c->e.vq, c->region, 16 + 16 * NUM - 1), -ENOSPC);
	assert_int_equal(vq_inflight_init(&c->e.vq, c->region, c->size), 0);
	assert_int_equal(((struct vq_inflight_region *)c->region)->version, 1);
	assert_int_equal(((struct vq_inflight_region *)c->region)->desc_num, NUM);
	/* a region laid out for another queue size is refused */
	vq_init(&other);
	assert_int_equal(vq_set_num(&other, NUM / 2), 0);
	assert_int_equal(vq_inflight_init(&other, c->region, c->size), -EINVAL);
	vq_init(&other);
	assert_int_equal(vq_inflight_init(&other, c->region, c->size), -EINVAL);	/* no num */
	/* fresh region: nothing to resubmit */
	assert_int_equal(vq_inflight_resume(&c->e.vq), 0);
	vq_inflight_detach(&c->e.vq);
	assert_null(c->e.vq.inflight);
	assert_int_equal(vq_inflight_resume(&c->e.vq), -EINVAL);
}

static void test_resume_after_crash(void **state)
{
	struct ctx *c = *state;
	unsigned int i;
	uint32_t len;
	int *t;

	assert_int_equal(vq_inflight_init(&c->e.vq, c->region, c->size), 0);
	assert_int_equal(vq_inflight_resume(&c->e.vq), 0);
	add(c, 0, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[i]), 1);
	/* the middle one completes */
	vq_complete(&c->e.vq, &c->els[1], 0);
	t = vqdrv_get_used(&c->e.drv, &len);
	assert_ptr_equal(t, &c->tok[1]);

	/* crash: the vq and everything in it are gone */
	assert_int_equal(restart(c), 2);
	assert_int_equal(vq_get_base(&c->e.vq), 3);
	assert_int_equal(c->e.vq.inuse, 2);
	/* exactly the two in flight, in fetch order, then nothing */
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[5]), 1);
	assert_int_equal(c->els[5].head, c->els[0].head);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[6]), 1);
	assert_int_equal(c->els[6].head, c->els[2].head);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[7]), 0);

	/* new work after them, no repeats */
	add(c, 3, 1);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[7]), 1);
	vq_push(&c->e.vq, &c->els[6], 0);
	vq_push(&c->e.vq, &c->els[7], 0);
	vq_push(&c->e.vq, &c->els[5], 0);
	vq_flush(&c->e.vq);
	assert_ptr_equal(vqdrv_get_used(&c->e.drv, &len), &c->tok[2]);
	assert_ptr_equal(vqdrv_get_used(&c->e.drv, &len), &c->tok[3]);
	assert_ptr_equal(vqdrv_get_used(&c->e.drv, &len), &c->tok[0]);
	assert_null(vqdrv_get_used(&c->e.drv, &len));
	assert_int_equal(c->e.vq.inuse, 0);

	/* a second restart: nothing in flight */
	assert_int_equal(restart(c), 0);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[0]), 0);
}

/* Fetch order is the counter, not the head index. */
static void test_resume_order_by_counter(void **state)
{
	struct ctx *c = *state;
	uint16_t heads[4];
	unsigned int i;

	assert_int_equal(vq_inflight_init(&c->e.vq, c->region, c->size), 0);
	assert_int_equal(vq_inflight_resume(&c->e.vq), 0);
	/* Heads 9, 2, 14, 5 by hand. */
	heads[0] = 9; heads[1] = 2; heads[2] = 14; heads[3] = 5;
	for (i = 0; i < 4; i++) {
		vqt_set_desc(&c->e, heads[i], vqt_gpa(&c->e, vqt_alloc(&c->e, 8, 8)), 8,
			     VRING_DESC_F_WRITE, 0);
		vqt_avail_push(&c->e, heads[i]);
		assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[i]), 1);
	}
	assert_int_equal(restart(c), 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(vq_pop(&c->e.vq, c->e.tab, c->e.elem), 1);
		assert_int_equal(c->e.elem->head, heads[i]);
	}
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, c->e.elem), 0);
}

/* Crash between publishing used idx and clearing the batch's flags. */
static void test_resume_repairs_last_batch(void **state)
{
	struct ctx *c = *state;
	volatile struct vq_inflight_region *r = c->region;
	unsigned int i;
	uint16_t old_used_idx;

	assert_int_equal(vq_inflight_init(&c->e.vq, c->region, c->size), 0);
	assert_int_equal(vq_inflight_resume(&c->e.vq), 0);
	add(c, 0, 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[i]), 1);
	old_used_idx = r->used_idx;
	vq_push(&c->e.vq, &c->els[3], 0);
	vq_push(&c->e.vq, &c->els[0], 0);
	vq_push(&c->e.vq, &c->els[4], 0);
	vq_flush(&c->e.vq);
	/* undo the flush's region update, as if we crashed right after used->idx */
	r->desc[c->els[3].head].inflight = 1;
	r->desc[c->els[0].head].inflight = 1;
	r->desc[c->els[4].head].inflight = 1;
	r->used_idx = old_used_idx;

	assert_int_equal(restart(c), 2);
	assert_int_equal(r->used_idx, 3);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, c->e.elem), 1);
	assert_int_equal(c->e.elem->head, c->els[1].head);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, c->e.elem), 1);
	assert_int_equal(c->e.elem->head, c->els[2].head);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, c->e.elem), 0);
}

/* Crash after push but before flush: still in flight (the guest never saw it). */
static void test_unflushed_is_inflight(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(vq_inflight_init(&c->e.vq, c->region, c->size), 0);
	assert_int_equal(vq_inflight_resume(&c->e.vq), 0);
	add(c, 0, 2);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[0]), 1);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[1]), 1);
	vq_push(&c->e.vq, &c->els[0], 0);
	assert_int_equal(restart(c), 2);
	/* both were in flight: resubmitted, completed */
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[0]), 1);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[1]), 1);
	vq_complete(&c->e.vq, &c->els[0], 0);
	vq_complete(&c->e.vq, &c->els[1], 0);
	add(c, 2, 2);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[2]), 1);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[3]), 1);
	vq_unpop(&c->e.vq, 1);
	assert_int_equal(restart(c), 1);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, c->e.elem), 1);
	assert_int_equal(c->e.elem->head, c->els[2].head);
	/* the unpopped one comes from the avail ring again */
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, c->e.elem), 1);
	assert_int_equal(c->e.elem->head, c->els[3].head);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, c->e.elem), 0);
}

/* A resubmitted chain given back with vq_unpop is resubmitted again, first. */
static void test_unpop_resubmitted(void **state)
{
	struct ctx *c = *state;
	volatile struct vq_inflight_region *r = c->region;
	unsigned int i;

	assert_int_equal(vq_inflight_init(&c->e.vq, c->region, c->size), 0);
	assert_int_equal(vq_inflight_resume(&c->e.vq), 0);
	add(c, 0, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[i]), 1);
	assert_int_equal(restart(c), 3);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, c->e.elem), 1);
	assert_int_equal(c->e.elem->head, c->els[0].head);
	vq_unpop(&c->e.vq, 1);
	assert_int_equal(r->desc[c->els[0].head].inflight, 1);
	assert_int_equal(c->e.vq.inuse, 3);
	assert_int_equal(vq_get_base(&c->e.vq), 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(vq_pop(&c->e.vq, c->e.tab, c->e.elem), 1);
		assert_int_equal(c->e.elem->head, c->els[i].head);
	}
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, c->e.elem), 0);
	/* an avail pop after them unpops normally, its inflight flag cleared */
	add(c, 3, 1);
	assert_int_equal(vq_pop(&c->e.vq, c->e.tab, &c->els[3]), 1);
	vq_unpop(&c->e.vq, 1);
	assert_int_equal(r->desc[c->els[3].head].inflight, 0);
	assert_int_equal(vq_get_base(&c->e.vq), 3);
	assert_int_equal(c->e.vq.inuse, 3);
}

/* A corrupted region (garbage heads / batch links) stays in bounds. */
static void test_garbage_region(void **state)
{
	struct ctx *c = *state;
	volatile struct vq_inflight_region *r = c->region;
	unsigned int i;

	assert_int_equal(vq_inflight_init(&c->e.vq, c->region, c->size), 0);
	for (i = 0; i < NUM; i++) {
		r->desc[i].next = 0xffff;
		r->desc[i].inflight = 0;
	}
	r->last_batch_head = 0xfff0;
	r->used_idx = 0x1234;
	assert_true(restart(c) >= 0);
	assert_int_equal(r->used_idx, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_region_size_and_init),
		T(test_resume_after_crash),
		T(test_resume_order_by_counter),
		T(test_resume_repairs_last_batch),
		T(test_unflushed_is_inflight),
		T(test_unpop_resubmitted),
		T(test_garbage_region),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
