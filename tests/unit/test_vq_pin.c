// SPDX-License-Identifier: MIT
/*
 * test_vq_pin.c - a virtqueue over guest memory mapped per access (Xen
 * grants with NO_ADVANCE_MAP), against the Xen simulator: rings pinned
 * while set up, chain buffers (and indirect tables) pinned from pop to
 * push/unpop, everything unmapped once the queue is reset and the memory
 * table dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "memory/gmem.h"
#include "virtqueue/virtqueue.h"
#include "xensim/xensim_hv.h"

#define PG 4096ull
#define GBIT (1ull << 63)
#define DOM 6
#define NUM 64u

static struct xsim_hv *hv;
static char sock[64];
static uint8_t *ram;

struct env {
	struct gmem *m;
	struct gmem_table *t;
	struct vqdrv_mem dmem;
	struct vqdrv drv;
	struct vq vq;
	struct vq_elem *elem;
};

static int setup(void **state)
{
	snprintf(sock, sizeof(sock), "/tmp/xensim-vqpin-%d.sock", (int)getpid());
	hv = xsim_hv_start(sock);
	if (!hv)
		return -1;
	setenv("XENSIM_SOCKET", sock, 1);
	if (xsim_dom_create(hv, DOM, 512, 0, 0, 1, false) < 0)
		return -1;
	ram = xsim_dom_ram(hv, DOM);
	/* the guest grants frames 16..299 with ref == frame */
	for (uint32_t pfn = 16; pfn < 300; pfn++)
		if (xsim_grant(hv, DOM, pfn, pfn, false) < 0)
			return -1;
	return 0;
}

static int teardown(void **state)
{
	xsim_hv_stop(hv);
	return 0;
}

static void env_up(struct env *e)
{
	struct gmem_region_desc d = { .gpa = GBIT, .size = 4096 * PG, .uva = GBIT,
				      .xen_flags = GMEM_XEN_GRANT | GMEM_XEN_NO_ADVANCE_MAP,
				      .xen_domid = DOM };
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	memset(e, 0, sizeof(*e));
	e->m = gmem_new();
	assert_int_equal(gmem_set_table(e->m, &d, &fd, 1), 0);
	e->t = gmem_get(e->m);
	/* the driver sees frames 16.. through grant addresses */
	e->dmem = (struct vqdrv_mem){ .host = ram + 16 * PG, .gpa = GBIT | (16 * PG),
				      .size = 284 * PG };
	assert_int_equal(vqdrv_init(&e->drv, &e->dmem, NUM, GBIT | (16 * PG), false), 0);
	vq_init(&e->vq);
	assert_int_equal(vq_set_num(&e->vq, NUM), 0);
	vq_set_features(&e->vq, 1ull << VIRTIO_RING_F_INDIRECT_DESC);
	assert_int_equal(vq_set_addr(&e->vq, e->t, false, e->drv.desc_gpa, e->drv.avail_gpa,
				     e->drv.used_gpa), 0);
	e->elem = calloc(1, sizeof(*e->elem));
	assert_non_null(e->elem);
}

static void env_down(struct env *e)
{
	vq_reset(&e->vq);
	vqdrv_cleanup(&e->drv);
	gmem_put(e->t);
	gmem_free(e->m);
	free(e->elem);
	/* nothing stays mapped */
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
}

static void test_rings_and_buffers(void **state)
{
	struct env e;
	struct iovec out, in[1];
	uint32_t len;

	env_up(&e);
	/* the rings are pinned */
	assert_true(xsim_grant_total_maps(hv, DOM) > 0);
	/* out: 100 bytes at frame 40; in: 200 bytes crossing frames 41 -> 42 */
	memcpy(ram + 40 * PG, "request from the guest", 23);
	out = (struct iovec){ .iov_base = ram + 40 * PG, .iov_len = 100 };
	in[0] = (struct iovec){ .iov_base = ram + 41 * PG + 4000, .iov_len = 200 };
	assert_int_equal(vqdrv_add(&e.drv, &out, 1, in, 1, (void *)1), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_int_equal(vq_pop(&e.vq, e.t, e.elem), 1);
	assert_int_equal(e.elem->out_num, 1);
	assert_int_equal(e.elem->in_num, 1);
	assert_memory_equal(e.elem->iov[0].iov_base, "request from the guest", 23);
	/* the device writes across the page boundary through one mapping */
	memset(e.elem->iov[1].iov_base, 0xab, 200);
	assert_int_equal(ram[41 * PG + 4000], 0xab);
	assert_int_equal(ram[42 * PG + 103], 0xab);
	vq_push(&e.vq, e.elem, 200);
	vq_flush(&e.vq);
	assert_ptr_equal(vqdrv_get_used(&e.drv, &len), (void *)1);
	assert_int_equal(len, 200);
	env_down(&e);
}

static void test_unpop_and_indirect(void **state)
{
	struct env e;
	struct iovec out[2];
	void *table = ram + 60 * PG;
	uint32_t len;

	env_up(&e);
	out[0] = (struct iovec){ .iov_base = ram + 50 * PG, .iov_len = 16 };
	out[1] = (struct iovec){ .iov_base = ram + 51 * PG, .iov_len = 16 };
	memcpy(ram + 51 * PG, "second", 6);
	assert_int_equal(vqdrv_add_indirect(&e.drv, table, out, 2, NULL, 0, (void *)2), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_int_equal(vq_pop(&e.vq, e.t, e.elem), 1);
	vq_unpop(&e.vq, 1);
	assert_int_equal(vq_pop(&e.vq, e.t, e.elem), 1);
	assert_int_equal(e.elem->out_num, 2);
	assert_memory_equal(e.elem->iov[1].iov_base, "second", 6);
	vq_push(&e.vq, e.elem, 0);
	vq_flush(&e.vq);
	assert_ptr_equal(vqdrv_get_used(&e.drv, &len), (void *)2);
	env_down(&e);
}

static void test_hostile_chains(void **state)
{
	struct env e;
	struct iovec out[VQ_CHAIN_MAX_PINS + 1];

	env_up(&e);
	/* a buffer on a frame the guest never granted */
	out[0] = (struct iovec){ .iov_base = ram + 400 * PG, .iov_len = 16 };
	e.dmem.size = 500 * PG;   /* let the driver address it */
	assert_int_equal(vqdrv_add(&e.drv, out, 1, NULL, 0, (void *)3), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_true(vq_pop(&e.vq, e.t, e.elem) < 0);
	assert_true(e.vq.broken);
	env_down(&e);

	/* more separately mapped buffers in one chain than a chain may pin */
	env_up(&e);
	for (int i = 0; i <= (int)VQ_CHAIN_MAX_PINS; i++)
		out[i] = (struct iovec){ .iov_base = ram + (100 + 2 * i) * PG, .iov_len = 8 };
	/* through an indirect table: the ring is shorter than the chain */
	assert_int_equal(vqdrv_add_indirect(&e.drv, ram + 60 * PG, out, VQ_CHAIN_MAX_PINS + 1,
					    NULL, 0, (void *)4), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_true(vq_pop(&e.vq, e.t, e.elem) < 0);
	env_down(&e);
}

/* Idle cache entries go: map and release 70 other granted frames. */
static void churn_cache(struct env *e)
{
	for (uint32_t ref = 200; ref < 270; ref++) {
		struct gmem_pin pin;

		assert_non_null(gmem_pin(e->t, GBIT | (ref * PG), 8, &pin));
		gmem_unpin(&pin);
	}
}

/* The guest puts @head in the avail ring again and publishes it. */
static void repost(struct env *e, uint16_t head)
{
	vk_write_le16(&e->drv.avail->ring[e->drv.avail_idx & (NUM - 1)], head);
	e->drv.avail_idx++;
	vqdrv_kick_prepare(&e->drv);
}

static void test_head_in_flight_twice(void **state)
{
	struct env e;
	struct iovec out = { .iov_base = ram + 40 * PG, .iov_len = 16 };
	struct vq_elem *first = calloc(1, sizeof(*first));
	uint16_t head;

	assert_non_null(first);
	/* a head popped and not yet pushed, posted again: its pins stay */
	env_up(&e);
	memcpy(ram + 40 * PG, "in flight", 9);
	assert_int_equal(vqdrv_add(&e.drv, &out, 1, NULL, 0, (void *)5), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_int_equal(vq_pop(&e.vq, e.t, first), 1);
	head = first->head;
	repost(&e, head);
	assert_true(vq_pop(&e.vq, e.t, e.elem) < 0);
	assert_true(e.vq.broken);
	churn_cache(&e);
	assert_int_equal(xsim_grant_mapcount(hv, DOM, 40), 1);
	assert_memory_equal(first->iov[0].iov_base, "in flight", 9);
	env_down(&e);

	/* the same with the reposted chain now pointing outside guest memory */
	env_up(&e);
	assert_int_equal(vqdrv_add(&e.drv, &out, 1, NULL, 0, (void *)6), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_int_equal(vq_pop(&e.vq, e.t, first), 1);
	head = first->head;
	vk_write_le64(&e.drv.desc[head].addr, GBIT | (400 * PG));
	repost(&e, head);
	assert_true(vq_pop(&e.vq, e.t, e.elem) < 0);
	churn_cache(&e);
	assert_int_equal(xsim_grant_mapcount(hv, DOM, 40), 1);
	assert_memory_equal(first->iov[0].iov_base, "in flight", 9);
	env_down(&e);
	free(first);
}

/*
 * Linux's virtio-vsock sends a MSG_ZEROCOPY skb as the header plus one
 * descriptor per page fragment: up to MAX_SKB_FRAGS (17 by default, up to
 * 45 when configured) + 1, each a mapping of its own under grants.  Such
 * chains pop, read what the guest wrote, and give back every pin when
 * pushed, twice over on the same head.
 */
static void test_zerocopy_chains(void **state)
{
	static const unsigned int counts[] = { 18, 47 };
	struct iovec out[47];
	struct env e;
	uint32_t len;

	env_up(&e);
	for (unsigned int k = 0; k < 2 * VK_ARRAY_SIZE(counts); k++) {
		unsigned int n = counts[k % VK_ARRAY_SIZE(counts)];

		for (unsigned int i = 0; i < n; i++) {
			uint8_t *p = ram + (100 + 2 * i) * PG;

			p[0] = (uint8_t)(i + k);
			out[i] = (struct iovec){ .iov_base = p, .iov_len = i ? 4096 : 44 };
		}
		assert_int_equal(vqdrv_add(&e.drv, out, n, NULL, 0, (void *)5), 0);
		vqdrv_kick_prepare(&e.drv);
		assert_int_equal(vq_pop(&e.vq, e.t, e.elem), 1);
		assert_int_equal(e.elem->out_num, n);
		for (unsigned int i = 0; i < n; i++)
			assert_int_equal(((uint8_t *)e.elem->iov[i].iov_base)[0], (uint8_t)(i + k));
		for (unsigned int i = 0; i < n; i++)
			assert_int_equal(xsim_grant_mapcount(hv, DOM, 100 + 2 * i), 1);
		vq_push(&e.vq, e.elem, 0);
		vq_flush(&e.vq);
		assert_ptr_equal(vqdrv_get_used(&e.drv, &len), (void *)5);
		churn_cache(&e);
		for (unsigned int i = 0; i < n; i++)
			assert_int_equal(xsim_grant_mapcount(hv, DOM, 100 + 2 * i), 0);
	}
	env_down(&e);
}

/* A chain completed after its queue broke lets go of its mappings all the same. */
static void test_push_on_broken_queue(void **state)
{
	struct env e;
	struct iovec out = { .iov_base = ram + 40 * PG, .iov_len = 16 };

	env_up(&e);
	memcpy(ram + 40 * PG, "again", 5);
	assert_int_equal(vqdrv_add(&e.drv, &out, 1, NULL, 0, (void *)7), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_int_equal(vq_pop(&e.vq, e.t, e.elem), 1);
	vq_mark_broken(&e.vq, "test");
	vq_push(&e.vq, e.elem, 0);
	churn_cache(&e);
	assert_int_equal(xsim_grant_mapcount(hv, DOM, 40), 0);
	/* set up again: the head serves a new chain */
	assert_int_equal(vq_set_addr(&e.vq, e.t, false, e.drv.desc_gpa, e.drv.avail_gpa,
				     e.drv.used_gpa), 0);
	vq_set_base(&e.vq, 0);
	assert_int_equal(vq_pop(&e.vq, e.t, e.elem), 1);
	assert_memory_equal(e.elem->iov[0].iov_base, "again", 5);
	env_down(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rings_and_buffers),
		cmocka_unit_test(test_unpop_and_indirect),
		cmocka_unit_test(test_hostile_chains),
		cmocka_unit_test(test_head_in_flight_twice),
		cmocka_unit_test(test_push_on_broken_queue),
		cmocka_unit_test(test_zerocopy_chains),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
