// SPDX-License-Identifier: MIT
/*
 * test_vq_notify.c - notification decisions, both directions
 *
 * Device -> driver: EVENT_IDX (used_event), VRING_AVAIL_F_NO_INTERRUPT,
 * NOTIFY_ON_EMPTY, one decision per flushed batch, call_fd signalling.
 * Driver -> device: avail_event / VRING_USED_F_NO_NOTIFY and the
 * enable_notify re-check that closes the race with a suppressed kick.
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

#include "vq_test_util.h"

#define F_EVENT_IDX       (1ull << VIRTIO_RING_F_EVENT_IDX)
#define F_NOTIFY_ON_EMPTY (1ull << VIRTIO_F_NOTIFY_ON_EMPTY)

static int tokens[64];

static void add_n(struct vqt_env *e, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct iovec in = { vqt_alloc(e, 16, 16), 16 };

		assert_int_equal(vqdrv_add(&e->drv, NULL, 0, &in, 1, &tokens[i]), 0);
	}
}

static void set_used_event(struct vqt_env *e, uint16_t v)
{
	vk_write_le16((le16 *)&e->drv.avail->ring[e->drv.num], v);
}

static uint64_t read_eventfd(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Complete one popped chain and return the notification decision. */
static bool complete_one(struct vqt_env *e)
{
	assert_int_equal(vq_pop(&e->vq, e->tab, e->elem), 1);
	vq_push(&e->vq, e->elem, 0);
	vq_flush(&e->vq);
	return vq_should_notify(&e->vq);
}

static void test_event_idx_crossing(void **state)
{
	struct vqt_env e;
	unsigned int i;

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 64, F_EVENT_IDX), 0);
	add_n(&e, 40);
	vqdrv_kick_prepare(&e.drv);
	/* The first decision after set-up always notifies. */
	assert_true(complete_one(&e));
	/* Driver wants an interrupt once entry 10 (idx 10 -> 11) is used. */
	set_used_event(&e, 10);
	for (i = 2; i <= 20; i++)
		assert_int_equal(complete_one(&e), i == 11);
	/* used_event behind: never */
	set_used_event(&e, 5);
	for (i = 21; i <= 25; i++)
		assert_false(complete_one(&e));
	/* used_event == current published idx - 0: the next one crosses it */
	set_used_event(&e, 25);
	assert_true(complete_one(&e));
	vqt_teardown(&e);
}

static void test_event_idx_batch(void **state)
{
	struct vqt_env e;
	struct vq_elem *els;
	unsigned int i, round;
	int efd;

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 64, F_EVENT_IDX), 0);
	efd = eventfd(0, EFD_NONBLOCK);
	assert_true(efd >= 0);
	e.vq.call_fd = efd;
	els = calloc(8, sizeof(*els));
	assert_non_null(els);
	/* warm-up: first decision */
	add_n(&e, 1);
	vqdrv_kick_prepare(&e.drv);
	assert_true(complete_one(&e));
	assert_non_null(vqdrv_get_used(&e.drv, NULL));

	for (round = 0; round < 4; round++) {
		uint16_t base = e.vq.published_used;

		add_n(&e, 8);
		vqdrv_kick_prepare(&e.drv);
		for (i = 0; i < 8; i++)
			assert_int_equal(vq_pop(&e.vq, e.tab, &els[i]), 1);
		/* round 0: event inside the batch, 1: at its last entry,
		 * 2: right after it, 3: before it */
		set_used_event(&e, (uint16_t)(round == 0 ? base + 3 : round == 1 ? base + 7 :
					      round == 2 ? base + 8 : base - 1));
		read_eventfd(efd);
		for (i = 0; i < 8; i++)
			vq_push(&e.vq, &els[i], 1);
		vq_flush(&e.vq);
		assert_int_equal(e.vq.used_idx, e.vq.published_used);
		assert_int_equal(vq_notify(&e.vq), round <= 1);
		assert_int_equal(read_eventfd(efd), round <= 1 ? 1 : 0);
		/* a second decision without new entries: no */
		assert_false(vq_should_notify(&e.vq));
		for (i = 0; i < 8; i++)
			assert_non_null(vqdrv_get_used(&e.drv, NULL));
	}
	/* The driver's own bookkeeping: enable_cb sets used_event = last_used. */
	add_n(&e, 2);
	vqdrv_kick_prepare(&e.drv);
	vqdrv_disable_cb(&e.drv);
	assert_false(vqdrv_enable_cb(&e.drv));
	assert_true(complete_one(&e));
	assert_true(vqdrv_enable_cb(&e.drv));	/* pending entry */
	assert_non_null(vqdrv_get_used(&e.drv, NULL));	/* moves used_event on */
	assert_true(complete_one(&e));
	free(els);
	close(efd);
	vqt_teardown(&e);
}

static void test_no_interrupt_flag(void **state)
{
	struct vqt_env e;

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 16, 0), 0);
	add_n(&e, 6);
	vqdrv_kick_prepare(&e.drv);
	assert_true(complete_one(&e));
	vqdrv_disable_cb(&e.drv);
	assert_false(complete_one(&e));
	assert_false(complete_one(&e));
	assert_true(vqdrv_enable_cb(&e.drv));
	assert_true(complete_one(&e));
	/* nothing flushed since: no second notification */
	assert_false(vq_should_notify(&e.vq));
	vq_flush(&e.vq);
	assert_false(vq_notify(&e.vq));
	vqt_teardown(&e);
}

static void test_notify_on_empty(void **state)
{
	struct vqt_env e;
	struct vq_elem *el2;

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 16, F_NOTIFY_ON_EMPTY), 0);
	el2 = calloc(1, sizeof(*el2));
	assert_non_null(el2);
	vqdrv_disable_cb(&e.drv);
	add_n(&e, 3);
	vqdrv_kick_prepare(&e.drv);
	/* not empty yet (2 more avail): suppressed */
	assert_false(complete_one(&e));
	/* avail empty but one still in use: suppressed */
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	assert_int_equal(vq_pop(&e.vq, e.tab, el2), 1);
	vq_push(&e.vq, e.elem, 0);
	vq_flush(&e.vq);
	assert_false(vq_should_notify(&e.vq));
	/* the last one: queue empty, nothing in use: notify despite NO_INTERRUPT */
	vq_push(&e.vq, el2, 0);
	vq_flush(&e.vq);
	assert_true(vq_should_notify(&e.vq));
	free(el2);
	vqt_teardown(&e);

	/* Same without the feature: never. */
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 16, 0), 0);
	vqdrv_disable_cb(&e.drv);
	add_n(&e, 1);
	vqdrv_kick_prepare(&e.drv);
	assert_false(complete_one(&e));
	vqt_teardown(&e);
}

/* Driver -> device: kicks and the enable_notify re-check. */
static void kick_side(uint64_t features)
{
	struct vqt_env e;
	unsigned int i;

	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 16, features), 0);
	add_n(&e, 1);
	assert_true(vqdrv_kick_prepare(&e.drv));
	assert_false(vqdrv_kick_prepare(&e.drv));	/* nothing new */

	/* Device processing: suppress kicks while it polls. */
	vq_disable_notify(&e.vq);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	add_n(&e, 2);
	assert_false(vqdrv_kick_prepare(&e.drv));
	for (i = 0; i < 2; i++)
		assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 0);

	/* The race: a buffer added (its kick suppressed) before re-enabling. */
	add_n(&e, 1);
	assert_false(vqdrv_kick_prepare(&e.drv));
	assert_true(vq_enable_notify(&e.vq));	/* must process again */
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	assert_false(vq_enable_notify(&e.vq));
	/* Notifications back on: the next add kicks. */
	add_n(&e, 1);
	assert_true(vqdrv_kick_prepare(&e.drv));
	vqt_teardown(&e);
}

static void test_kick_event_idx(void **state)
{
	(void)state;
	kick_side(F_EVENT_IDX);
}

static void test_kick_no_notify_flag(void **state)
{
	(void)state;
	kick_side(0);
}

static void test_avail_count_and_empty(void **state)
{
	struct vqt_env e;

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 8, 0), 0);
	assert_true(vq_avail_empty(&e.vq));
	assert_int_equal(vq_avail_count(&e.vq), 0);
	add_n(&e, 3);
	assert_true(vq_avail_empty(&e.vq));	/* not published yet */
	vqdrv_kick_prepare(&e.drv);
	assert_false(vq_avail_empty(&e.vq));
	assert_int_equal(vq_avail_count(&e.vq), 3);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	assert_int_equal(vq_avail_count(&e.vq), 2);
	vqt_teardown(&e);
}

/*
 * More than 2^16 entries flushed without a decision in between (a device
 * that notifies only when it is done): the used idx wrapped past the
 * one of the last decision, which no longer tells what the driver saw.
 */
/* @n buffers made available, used and flushed one by one, no decision asked. */
static void use_and_flush(struct vqt_env *e, const struct iovec *in, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		assert_int_equal(vqdrv_add(&e->drv, NULL, 0, in, 1, &tokens[0]), 0);
		vqdrv_kick_prepare(&e->drv);
		assert_int_equal(vq_pop(&e->vq, e->tab, e->elem), 1);
		vq_push(&e->vq, e->elem, 0);
		vq_flush(&e->vq);
		assert_non_null(vqdrv_get_used(&e->drv, NULL));
	}
}

static void test_event_idx_used_wrap(void **state)
{
	struct vqt_env e;
	struct iovec in;

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 4, F_EVENT_IDX), 0);
	in = (struct iovec){ vqt_alloc(&e, 16, 16), 16 };
	assert_int_equal(vqdrv_add(&e.drv, NULL, 0, &in, 1, &tokens[0]), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_true(complete_one(&e));
	/* the driver polls; it wants an interrupt once entry 100 is used */
	vqdrv_disable_cb(&e.drv);
	assert_non_null(vqdrv_get_used(&e.drv, NULL));
	set_used_event(&e, 100);
	use_and_flush(&e, &in, 65536 + 2);
	assert_true(vq_should_notify(&e.vq));
	/* exactly 2^16 since the last decision: not "nothing published" */
	use_and_flush(&e, &in, 65536);
	assert_true(vq_should_notify(&e.vq));
	vqt_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_idx_crossing),
		cmocka_unit_test(test_event_idx_batch),
		cmocka_unit_test(test_event_idx_used_wrap),
		cmocka_unit_test(test_no_interrupt_flag),
		cmocka_unit_test(test_notify_on_empty),
		cmocka_unit_test(test_kick_event_idx),
		cmocka_unit_test(test_kick_no_notify_flag),
		cmocka_unit_test(test_avail_count_and_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
