// SPDX-License-Identifier: MIT
/*
 * test_vq_ring.c - driver side against device side: round trips
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vq_test_util.h"

#define F_EVENT_IDX (1ull << VIRTIO_RING_F_EVENT_IDX)
#define F_INDIRECT  (1ull << VIRTIO_RING_F_INDIRECT_DESC)

/*
 * Add a chain of @nout readable + @nin writable buffers of @sz bytes
 * each (readable ones filled with a pattern), pop it on the device side,
 * check what the device sees, write a reply, complete it, harvest it.
 */
static void round_trip(struct vqt_env *e, unsigned int nout, unsigned int nin, size_t sz,
		       bool indirect, uint8_t seed)
{
	struct iovec out[16], in[16];
	uint8_t buf[16 * 256], expect[16 * 256];
	struct vq_elem *el = e->elem;
	unsigned int i;
	size_t reply = nin && sz ? nin * sz - 1 : 0;
	uint32_t len = 0;
	void *token;
	int ret;

	assert_true(nout <= 16 && nin <= 16 && sz <= 256);
	for (i = 0; i < nout; i++) {
		out[i].iov_base = vqt_alloc(e, sz, 1);
		out[i].iov_len = sz;
		memset(out[i].iov_base, seed + i, sz);
		memset(expect + i * sz, seed + i, sz);
	}
	for (i = 0; i < nin; i++) {
		in[i].iov_base = vqt_alloc(e, sz, 1);
		in[i].iov_len = sz;
		memset(in[i].iov_base, 0, sz);
	}
	if (indirect)
		ret = vqdrv_add_indirect(&e->drv, vqt_alloc(e, 16 * (nout + nin), 16),
					 out, nout, in, nin, &e->drv);
	else
		ret = vqdrv_add(&e->drv, out, nout, in, nin, &e->drv);
	assert_int_equal(ret, 0);
	vqdrv_kick_prepare(&e->drv);

	ret = vq_pop(&e->vq, e->tab, el);
	assert_int_equal(ret, 1);
	assert_int_equal(el->out_len, nout * sz);
	assert_int_equal(el->in_len, nin * sz);
	assert_true(el->out_num >= (sz ? nout : 0));
	assert_int_equal(vq_iov_to_buf(el->iov, el->out_num, 0, buf, sizeof(buf)), nout * sz);
	assert_memory_equal(buf, expect, nout * sz);
	/* Reply: seed ^ 0xff in every writable byte but the last one. */
	memset(buf, seed ^ 0xff, sizeof(buf));
	if (reply) {
		assert_int_equal(vq_buf_to_iov(el->iov + el->out_num, el->in_num, 0, buf, reply),
				 reply);
	}
	vq_push(&e->vq, el, (uint32_t)reply);
	vq_flush(&e->vq);
	assert_int_equal(e->vq.inuse, 0);

	token = vqdrv_get_used(&e->drv, &len);
	assert_ptr_equal(token, &e->drv);
	assert_int_equal(len, reply);
	for (i = 0; i < nin; i++) {
		size_t n = (i + 1 == nin) ? sz - 1 : sz;

		memset(expect, seed ^ 0xff, n);
		assert_memory_equal(in[i].iov_base, expect, n);
	}
	assert_null(vqdrv_get_used(&e->drv, &len));
	assert_int_equal(vq_pop(&e->vq, e->tab, el), 0);
}

static void test_chains_1_to_n(void **state)
{
	struct vqt_env e;
	unsigned int n, k;

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 32, 0), 0);
	for (n = 1; n <= 16; n++)
		for (k = 0; k <= n; k++) {
			round_trip(&e, k, n - k, 33, false, (uint8_t)(n * 16 + k));
			assert_int_equal(vqdrv_num_free(&e.drv), 32);
			vqt_alloc_at(&e, VQT_GPA_BASE + 0x10000);
		}
	vqt_teardown(&e);
}

static void test_gpa_mode(void **state)
{
	struct vqt_env e;

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 8, 0), 0);
	assert_int_equal(vqt_attach_device(&e, false), 0);
	assert_false(e.vq.addr_is_uva);
	round_trip(&e, 2, 1, 100, false, 7);
	/* The uva of a ring is not a gpa: rings there are unmapped. */
	assert_int_equal(vq_set_addr(&e.vq, e.tab, false, vqt_uva(&e, e.drv.desc_gpa),
				     vqt_uva(&e, e.drv.avail_gpa), vqt_uva(&e, e.drv.used_gpa)), -EFAULT);
	assert_false(vq_ready(&e.vq));
	vqt_teardown(&e);
}

static void test_indirect(void **state)
{
	struct vqt_env e;
	unsigned int n;

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 4, F_INDIRECT), 0);
	/* A table longer than the ring itself is fine. */
	for (n = 1; n <= 16; n++) {
		round_trip(&e, n / 2, n - n / 2, 64, true, (uint8_t)n);
		assert_int_equal(vqdrv_num_free(&e.drv), 4);
	}
	vqt_teardown(&e);
}

static void test_span_two_regions(void **state)
{
	struct vqt_env e;
	struct vq_elem *el;
	struct iovec out, in;
	uint8_t *b;
	uint32_t len;

	(void)state;
	assert_int_equal(vqt_setup(&e, 2, 64 * 1024, 8, F_INDIRECT), 0);
	el = e.elem;
	/* 100 bytes straddling the boundary between the two regions. */
	vqt_alloc_at(&e, VQT_GPA_BASE + 64 * 1024 - 40);
	b = vqt_alloc(&e, 100, 1);
	memset(b, 0x5a, 100);
	out.iov_base = b;
	out.iov_len = 100;
	vqt_alloc_at(&e, VQT_GPA_BASE + 64 * 1024 - 10);
	in.iov_base = vqt_alloc(&e, 30, 1);
	in.iov_len = 30;
	assert_int_equal(vqdrv_add(&e.drv, &out, 1, &in, 1, &e), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_int_equal(vq_pop(&e.vq, e.tab, el), 1);
	assert_int_equal(el->out_num, 2);
	assert_int_equal(el->in_num, 2);
	assert_int_equal(el->iov[0].iov_len, 40);
	assert_int_equal(el->iov[1].iov_len, 60);
	assert_int_equal(el->iov[2].iov_len, 10);
	assert_int_equal(el->iov[3].iov_len, 20);
	assert_int_equal(el->in_gpa[0], VQT_GPA_BASE + 64 * 1024 - 10);
	assert_int_equal(el->in_gpa[1], VQT_GPA_BASE + 64 * 1024);
	{
		uint8_t tmp[100], want[100];

		memset(want, 0x5a, sizeof(want));
		assert_int_equal(vq_iov_to_buf(el->iov, el->out_num, 0, tmp, sizeof(tmp)), 100);
		assert_memory_equal(tmp, want, 100);
		/* offset-aware and bounded */
		assert_int_equal(vq_iov_to_buf(el->iov, el->out_num, 95, tmp, sizeof(tmp)), 5);
		assert_int_equal(vq_iov_to_buf(el->iov, el->out_num, 100, tmp, sizeof(tmp)), 0);
		memset(want, 0xa5, sizeof(want));
		memset(in.iov_base, 0, 30);	/* overlaps out: read already */
		assert_int_equal(vq_buf_to_iov(el->iov + 2, 2, 5, want, 100), 25);
	}
	vq_complete(&e.vq, el, 30);
	assert_ptr_equal(vqdrv_get_used(&e.drv, &len), &e);
	assert_int_equal(len, 30);
	assert_int_equal(((uint8_t *)in.iov_base)[4], 0);
	assert_int_equal(((uint8_t *)in.iov_base)[5], 0xa5);
	assert_int_equal(((uint8_t *)in.iov_base)[29], 0xa5);

	/* An indirect table straddling the boundary too (slow path). */
	vqt_alloc_at(&e, VQT_GPA_BASE + 64 * 1024 - 24);
	{
		void *table = vqt_alloc(&e, 48, 1);

		vqt_alloc_at(&e, VQT_GPA_BASE + 0x100);
		out.iov_base = vqt_alloc(&e, 8, 1);
		out.iov_len = 8;
		in.iov_base = vqt_alloc(&e, 8, 1);
		in.iov_len = 8;
		struct iovec out2[2] = { out, out };

		assert_int_equal(vqdrv_add_indirect(&e.drv, table, out2, 2, &in, 1, &e), 0);
	}
	vqdrv_kick_prepare(&e.drv);
	assert_int_equal(vq_pop(&e.vq, e.tab, el), 1);
	assert_int_equal(el->out_num, 2);
	assert_int_equal(el->in_num, 1);
	assert_int_equal(el->out_len, 16);
	vq_complete(&e.vq, el, 8);
	assert_ptr_equal(vqdrv_get_used(&e.drv, &len), &e);
	vqt_teardown(&e);
}

static void test_wraparound(void **state)
{
	struct vqt_env e;
	unsigned int i;

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 8, F_EVENT_IDX), 0);
	vqdrv_set_base(&e.drv, 65530);
	assert_int_equal(vqt_attach_device(&e, true), 0);
	vq_set_base(&e.vq, 65530);
	assert_int_equal(e.vq.used_idx, 65530);
	for (i = 0; i < 20; i++) {
		round_trip(&e, 1, 1, 16, false, (uint8_t)i);
		vqt_alloc_at(&e, VQT_GPA_BASE + 0x10000);
	}
	assert_int_equal(vq_get_base(&e.vq), (uint16_t)(65530 + 20));
	assert_int_equal(e.drv.last_used_idx, (uint16_t)(65530 + 20));
	vqt_teardown(&e);
}

/* Fill the ring completely, complete out of order, several times over. */
static void test_full_ring_out_of_order(void **state)
{
	struct vqt_env e;
	struct vq_elem *els;
	uint8_t *bufs;
	unsigned int round, i;
	int tokens[16];

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 16, F_EVENT_IDX), 0);
	els = calloc(16, sizeof(*els));
	assert_non_null(els);
	bufs = vqt_alloc(&e, 16 * 64, 64);
	for (round = 0; round < 5; round++) {
		for (i = 0; i < 16; i++) {
			struct iovec in = { bufs + 64 * i, 64 };

			tokens[i] = (int)i;
			assert_int_equal(vqdrv_add(&e.drv, NULL, 0, &in, 1, &tokens[i]), 0);
		}
		{
			struct iovec in = { bufs, 64 };

			assert_int_equal(vqdrv_add(&e.drv, NULL, 0, &in, 1, &tokens[0]), -ENOSPC);
		}
		vqdrv_kick_prepare(&e.drv);
		assert_int_equal(vq_avail_count(&e.vq), 16);
		for (i = 0; i < 16; i++)
			assert_int_equal(vq_pop(&e.vq, e.tab, &els[i]), 1);
		assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 0);
		for (i = 0; i < 16; i++)
			vq_push(&e.vq, &els[(i * 7 + round) % 16], i);
		vq_flush(&e.vq);
		for (i = 0; i < 16; i++) {
			uint32_t len;
			int *t = vqdrv_get_used(&e.drv, &len);

			assert_non_null(t);
			assert_int_equal(*t, (int)((i * 7 + round) % 16));
			assert_int_equal(len, i);
		}
		assert_int_equal(vqdrv_num_free(&e.drv), 16);
	}
	free(els);
	vqt_teardown(&e);
}

static void test_unpop(void **state)
{
	struct vqt_env e;
	struct iovec in;
	uint32_t len;
	int a, b;

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 8, 0), 0);
	in.iov_base = vqt_alloc(&e, 32, 1);
	in.iov_len = 32;
	assert_int_equal(vqdrv_add(&e.drv, NULL, 0, &in, 1, &a), 0);
	assert_int_equal(vqdrv_add(&e.drv, NULL, 0, &in, 1, &b), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	assert_int_equal(e.vq.inuse, 2);
	vq_unpop(&e.vq, 1);
	assert_int_equal(e.vq.inuse, 1);
	assert_int_equal(vq_avail_count(&e.vq), 1);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	vq_complete(&e.vq, e.elem, 4);
	assert_ptr_equal(vqdrv_get_used(&e.drv, &len), &b);
	/*
	 * more than in use: only what can go back.  a is still popped, but
	 * its avail slot lies behind the completed b's: going back over it
	 * would pop b's slot again (the head of the new b: twice in flight).
	 */
	assert_int_equal(vqdrv_add(&e.drv, NULL, 0, &in, 1, &b), 0);
	vqdrv_kick_prepare(&e.drv);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	assert_int_equal(e.vq.inuse, 2);
	vq_unpop(&e.vq, 5);
	assert_int_equal(e.vq.inuse, 1);
	assert_int_equal(vq_get_base(&e.vq), 2);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	vq_complete(&e.vq, e.elem, 4);
	assert_ptr_equal(vqdrv_get_used(&e.drv, &len), &b);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 0);
	vqt_teardown(&e);
}

static void test_setup_rules(void **state)
{
	struct vqt_env e;
	struct vq vq;

	(void)state;
	vq_init(&vq);
	assert_int_equal(vq.call_fd, -1);
	assert_int_equal(vq.err_fd, -1);
	assert_int_equal(vq_set_num(&vq, 0), -EINVAL);
	assert_int_equal(vq_set_num(&vq, 3), -EINVAL);
	assert_int_equal(vq_set_num(&vq, 65536), -EINVAL);
	assert_int_equal(vq_set_num(&vq, 32768), 0);
	assert_int_equal(vq_set_num(&vq, 1), 0);
	{
		struct vq_elem *el = malloc(sizeof(*el));

		assert_non_null(el);
		assert_int_equal(vq_pop(&vq, NULL, el), 0);	/* not set up: nothing */
		free(el);
	}

	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 256, 0), 0);
	/* misaligned rings */
	assert_int_equal(vq_set_addr(&e.vq, e.tab, false, e.drv.desc_gpa + 8, e.drv.avail_gpa,
				     e.drv.used_gpa), -EINVAL);
	assert_int_equal(vq_set_addr(&e.vq, e.tab, false, e.drv.desc_gpa, e.drv.avail_gpa + 1,
				     e.drv.used_gpa), -EINVAL);
	assert_int_equal(vq_set_addr(&e.vq, e.tab, false, e.drv.desc_gpa, e.drv.avail_gpa,
				     e.drv.used_gpa + 2), -EINVAL);
	/* a used ring whose avail_event would lie past the end of memory */
	assert_int_equal(vq_set_addr(&e.vq, e.tab, false, e.drv.desc_gpa, e.drv.avail_gpa,
				     VQT_GPA_BASE + (1 << 20) - 2056 + 4), -EFAULT);
	assert_int_equal(vq_set_addr(&e.vq, e.tab, false, e.drv.desc_gpa, e.drv.avail_gpa,
				     VQT_GPA_BASE + (1 << 20) - 2056), 0);
	/* an avail ring whose used_event would */
	assert_int_equal(vq_set_addr(&e.vq, e.tab, false, e.drv.desc_gpa,
				     VQT_GPA_BASE + (1 << 20) - vring_avail_bytes(256) + 2,
				     e.drv.used_gpa), -EFAULT);
	assert_int_equal(vq_set_addr(&e.vq, e.tab, false, UINT64_MAX - 15, e.drv.avail_gpa,
				     e.drv.used_gpa), -EFAULT);
	assert_int_equal(vqt_attach_device(&e, true), 0);
	assert_true(vq_ready(&e.vq));
	vq_reset(&e.vq);
	assert_false(vq_ready(&e.vq));
	assert_int_equal(e.vq.call_fd, -1);
	vqt_teardown(&e);
}

/* vq_unpop gives back what was popped, as recorded then, and nothing pushed. */
static void test_unpop_history(void **state)
{
	struct vqt_env e;
	struct vq_elem *els;
	struct iovec in;
	uint16_t slot;
	unsigned int i;
	int tok[80];

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 128, 0), 0);
	els = calloc(3, sizeof(*els));
	assert_non_null(els);
	in.iov_base = vqt_alloc(&e, 32, 1);
	in.iov_len = 32;
	for (i = 0; i < 80; i++)
		assert_int_equal(vqdrv_add(&e.drv, NULL, 0, &in, 1, &tok[i]), 0);
	vqdrv_kick_prepare(&e.drv);

	/* pop A, B, C; push A; unpop 3: only C and B go back */
	for (i = 0; i < 3; i++)
		assert_int_equal(vq_pop(&e.vq, e.tab, &els[i]), 1);
	vq_push(&e.vq, &els[0], 0);
	vq_unpop(&e.vq, 3);
	assert_int_equal(vq_get_base(&e.vq), 1);
	assert_int_equal(e.vq.inuse, 0);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	assert_int_equal(e.elem->head, els[1].head);

	/* the guest rewrites the avail slot after the pop: unpop is not fooled */
	slot = (uint16_t)(vq_get_base(&e.vq) - 1) & 127;
	vk_write_le16(&e.drv.avail->ring[slot], 77);
	vq_unpop(&e.vq, 1);
	assert_int_equal(vq_get_base(&e.vq), 1);
	assert_int_equal(e.vq.inuse, 0);
	vk_write_le16(&e.drv.avail->ring[slot], els[1].head);

	/* at most VQ_UNPOP_MAX of the most recent pops */
	for (i = 0; i < 70; i++)
		assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	vq_unpop(&e.vq, 70);
	assert_int_equal(vq_get_base(&e.vq), 1 + 70 - VQ_UNPOP_MAX);
	assert_int_equal(e.vq.inuse, 70 - VQ_UNPOP_MAX);
	vq_unpop(&e.vq, 1);	/* nothing recorded any more */
	assert_int_equal(vq_get_base(&e.vq), 1 + 70 - VQ_UNPOP_MAX);

	/*
	 * pop A, B, C; push B; unpop 2: C goes back, A cannot (its avail
	 * slot lies behind B's, and B is done): the pushed B never comes back
	 */
	for (i = 0; i < 3; i++)
		assert_int_equal(vq_pop(&e.vq, e.tab, &els[i]), 1);
	vq_push(&e.vq, &els[1], 0);
	vq_unpop(&e.vq, 2);
	assert_int_equal(vq_get_base(&e.vq), 1 + 70 - VQ_UNPOP_MAX + 2);
	assert_int_equal(e.vq.inuse, 70 - VQ_UNPOP_MAX + 1);
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 1);
	assert_int_equal(e.elem->head, els[2].head);
	free(els);
	vqt_teardown(&e);
}

/* SET_MEM_TABLE while a ring is set up: vq_resolve against the new table. */
static void swap_table(struct vqt_env *e, bool with_memory)
{
	struct gmem_region_desc d = {
		.gpa = VQT_GPA_BASE, .size = e->region_size, .uva = vqt_uva(e, VQT_GPA_BASE),
	};
	int fd = dup(e->fds[0]);

	if (with_memory)
		assert_int_equal(gmem_set_table(e->gm, &d, &fd, 1), 0);
	else {
		close(fd);
		gmem_clear(e->gm);
	}
	gmem_put(e->tab);
	e->tab = gmem_get(e->gm);
}

static void test_resolve_after_table_change(void **state)
{
	struct vqt_env e;

	(void)state;
	assert_int_equal(vqt_setup(&e, 1, 1 << 20, 8, 0), 0);
	round_trip(&e, 1, 1, 8, false, 1);
	swap_table(&e, true);
	assert_int_equal(vq_resolve(&e.vq, e.tab), 0);
	round_trip(&e, 1, 1, 8, false, 2);
	swap_table(&e, false);
	assert_int_equal(vq_resolve(&e.vq, e.tab), -EFAULT);
	assert_false(vq_ready(&e.vq));
	assert_int_equal(vq_pop(&e.vq, e.tab, e.elem), 0);
	swap_table(&e, true);
	assert_int_equal(vq_resolve(&e.vq, e.tab), 0);
	assert_int_equal(vq_get_base(&e.vq), 2);
	round_trip(&e, 2, 2, 8, false, 3);
	vqt_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_setup_rules),
		cmocka_unit_test(test_chains_1_to_n),
		cmocka_unit_test(test_gpa_mode),
		cmocka_unit_test(test_indirect),
		cmocka_unit_test(test_span_two_regions),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_full_ring_out_of_order),
		cmocka_unit_test(test_unpop),
		cmocka_unit_test(test_unpop_history),
		cmocka_unit_test(test_resolve_after_table_change),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
