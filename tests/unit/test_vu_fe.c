// SPDX-License-Identifier: MIT
/*
 * test_vu_fe.c - the vhost-user front-end against a scripted back-end:
 * message sequence, memory table, rings, config/status/inflight, the
 * back-end channel, reconnect, and a hostile back-end.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/clock.h"
#include "common/unix_sock.h"
#include "vhost-user/vu_msg.h"
#include "vhost-user/vu_frontend.h"
#include "vu_fe_mock.h"
#include "../common/fd_count.h"

#define ALL_PF ((1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) | \
		(1ull << VU_PF_BACKEND_REQ) | (1ull << VU_PF_STATUS) | \
		(1ull << VU_PF_CONFIGURE_MEM_SLOTS) | (1ull << VU_PF_RESET_DEVICE) | \
		(1ull << VU_PF_INFLIGHT_SHMFD) | (1ull << VU_PF_XEN_MMAP))
#define F_V1 (1ull << 32)
#define F_PF (1ull << VHOST_USER_F_PROTOCOL_FEATURES)

struct ctx {
	struct mock_be m;
	struct vu_fe *fe;
	int fds_before;
	unsigned int config_changes;
};

static struct vu_fe_ops test_ops;

static int on_config_change(void *opaque, struct vu_fe *fe)
{
	struct ctx *c = opaque;

	(void)fe;
	c->config_changes++;
	return 0;
}

static void ctx_open(struct ctx *c)
{
	int sv[2];

	c->fds_before = test_count_fds();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	test_ops.config_change = on_config_change;
	c->fe = vu_fe_new(&test_ops, c);
	assert_non_null(c->fe);
	vu_fe_set_timeout(c->fe, 2000);
	assert_int_equal(mock_start(&c->m, sv[1]), 0);
	assert_int_equal(vu_fe_connect_fd(c->fe, sv[0]), 0);
}

/* Close the front-end, wait for the mock, and check no fd leaked. */
static void ctx_close(struct ctx *c)
{
	vu_fe_free(c->fe);
	c->fe = NULL;
	mock_join(&c->m);
	assert_int_equal(test_count_fds(), c->fds_before);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	mock_init(&c->m);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	if (c->fe)
		vu_fe_free(c->fe);
	mock_join(&c->m);
	free(c);
	return 0;
}

static void test_negotiate_sequence(void **state)
{
	struct ctx *c = *state;
	static const uint32_t want[] = {
		VU_GET_FEATURES, VU_GET_PROTOCOL_FEATURES, VU_SET_PROTOCOL_FEATURES,
		VU_GET_QUEUE_NUM, VU_GET_MAX_MEM_SLOTS, VU_SET_BACKEND_REQ_FD,
		VU_SET_OWNER, VU_SET_FEATURES,
	};
	unsigned int i;

	ctx_open(c);
	/* the back-end does not offer INBAND_NOTIFICATIONS: never acked */
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1 | (1ull << 29),
					 ALL_PF | (1ull << VU_PF_INBAND_NOTIFICATIONS), 2), 0);
	assert_true(vu_fe_features(c->fe) == (F_V1 | F_PF));
	assert_true(vu_fe_protocol_features(c->fe) == (c->m.pf & ALL_PF));
	assert_int_equal(vu_fe_backend_queue_num(c->fe), 2);
	assert_int_equal(vu_fe_max_mem_slots(c->fe), 32);
	assert_true(vu_fe_backend_fd(c->fe) >= 0);
	ctx_close(c);

	assert_int_equal(c->m.nlog, VK_ARRAY_SIZE(want));
	for (i = 0; i < VK_ARRAY_SIZE(want); i++)
		assert_int_equal(c->m.log[i].req, want[i]);
	assert_true(c->m.acked_pf == (c->m.pf & ALL_PF));
	assert_true(c->m.acked_features == (F_V1 | F_PF));
	/* REPLY_ACK: asked for on every reply-less request after SET_PROTOCOL_FEATURES */
	assert_false(c->m.log[2].flags & VU_FLAG_NEED_REPLY);
	assert_true(c->m.log[5].flags & VU_FLAG_NEED_REPLY);
	assert_true(c->m.log[6].flags & VU_FLAG_NEED_REPLY);
	assert_true(c->m.log[7].flags & VU_FLAG_NEED_REPLY);
	assert_int_equal(c->m.log[5].nfds, 1);
	for (i = 0; i < c->m.nlog; i++)
		assert_int_equal(c->m.log[i].flags & VU_VERSION_MASK, VU_VERSION);
}

static void test_negotiate_minimal(void **state)
{
	struct ctx *c = *state;

	/* a back-end without protocol features: GET_FEATURES, SET_OWNER, SET_FEATURES */
	c->m.features = F_V1;
	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	assert_true(vu_fe_protocol_features(c->fe) == 0);
	assert_int_equal(vu_fe_backend_fd(c->fe), -1);
	assert_int_equal(vu_fe_get_config(c->fe, 0, &c->m.status, 1), -EOPNOTSUPP);
	ctx_close(c);
	assert_int_equal(c->m.nlog, 3);
	assert_int_equal(c->m.log[0].req, VU_GET_FEATURES);
	assert_int_equal(c->m.log[1].req, VU_SET_OWNER);
	assert_int_equal(c->m.log[2].req, VU_SET_FEATURES);
	assert_false(c->m.log[1].flags & VU_FLAG_NEED_REPLY);
}

static void test_too_many_queues(void **state)
{
	struct ctx *c = *state;

	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 3), -ENOSPC);
	ctx_close(c);
}

static void check_region(const uint8_t *p, uint64_t gpa, uint64_t size, uint64_t uva)
{
	struct vu_mem_region r;

	memcpy(&r, p, sizeof(r));
	assert_true(r.guest_addr == gpa);
	assert_true(r.size == size);
	assert_true(r.user_addr == uva);
	assert_true(r.mmap_offset == 0);
}

static void test_mem_table(void **state)
{
	struct ctx *c = *state;
	struct vu_fe_guest_mem gm;
	const struct mock_entry *e;
	uint32_t n;
	uint8_t *p;
	int i;

	vu_fe_guest_mem_init(&gm);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 0, 1 << 20), 0);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 1 << 30, 1 << 16), 0);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 1 << 19, 4096), -EINVAL);  /* overlap */
	assert_int_equal(vu_fe_guest_mem_add(&gm, 100, 4096), -EINVAL);      /* unaligned */
	memset(vu_fe_guest_mem_host(&gm, 0x1000, 4), 0xab, 4);
	assert_true(vu_fe_guest_mem_gpa(&gm, gm.r[1].host + 5) == (1ull << 30) + 5);
	assert_null(vu_fe_guest_mem_host(&gm, (1 << 20) - 2, 4));

	c->m.pf &= ~(1ull << VU_PF_CONFIGURE_MEM_SLOTS);
	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	assert_int_equal(vu_fe_set_guest_mem(c->fe, &gm), 0);
	/* the back-end maps the fd it got and sees what the guest wrote */
	assert_int_equal(c->m.nmem_fd, 2);
	p = mmap(NULL, 1 << 20, PROT_READ, MAP_SHARED, c->m.mem_fd[0], 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(p[0x1000], 0xab);
	munmap(p, 1 << 20);

	i = mock_find(&c->m, VU_SET_MEM_TABLE, 0);
	assert_true(i >= 0);
	e = &c->m.log[i];
	assert_int_equal(e->nfds, 2);
	assert_int_equal(e->size, 8 + 2 * 32);
	memcpy(&n, e->payload, 4);
	assert_int_equal(n, 2);
	check_region(e->payload + 8, 0, 1 << 20, (uintptr_t)gm.r[0].host);
	check_region(e->payload + 40, 1 << 30, 1 << 16, (uintptr_t)gm.r[1].host);
	ctx_close(c);
	vu_fe_guest_mem_free(&gm);
}

static void test_mem_slots(void **state)
{
	struct ctx *c = *state;
	struct vu_fe_guest_mem gm;
	struct vu_fe_region r[3];
	int i, j;

	vu_fe_guest_mem_init(&gm);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 0, 1 << 16), 0);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 1 << 20, 1 << 16), 0);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 1 << 21, 1 << 16), 0);
	c->m.pf &= ~(1ull << VU_PF_XEN_MMAP);
	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	assert_int_equal(vu_fe_guest_mem_regions(&gm, r, 3), 3);
	assert_int_equal(vu_fe_set_mem_table(c->fe, r, 2), 0);
	/* drop region 0, add region 2 */
	assert_int_equal(vu_fe_set_mem_table(c->fe, r + 1, 2), 0);
	/* invalid tables are refused before anything is sent */
	r[2].gpa = r[1].gpa + 4096;
	assert_int_equal(vu_fe_set_mem_table(c->fe, r + 1, 2), -EINVAL);
	r[2].gpa = 1 << 21;
	r[2].size = 0;
	assert_int_equal(vu_fe_set_mem_table(c->fe, r + 1, 2), -EINVAL);
	r[2].size = 1 << 16;
	r[2].fd = -1;
	assert_int_equal(vu_fe_set_mem_table(c->fe, r + 1, 2), -EBADF);
	ctx_close(c);

	assert_int_equal(mock_find(&c->m, VU_SET_MEM_TABLE, 0), -1);
	i = mock_find(&c->m, VU_ADD_MEM_REG, 0);
	assert_true(i >= 0);
	assert_int_equal(c->m.log[i].size, 40);
	assert_int_equal(c->m.log[i].nfds, 1);
	check_region(c->m.log[i].payload + 8, 0, 1 << 16, (uintptr_t)gm.r[0].host);
	i = mock_find(&c->m, VU_ADD_MEM_REG, i + 1);
	check_region(c->m.log[i].payload + 8, 1 << 20, 1 << 16, (uintptr_t)gm.r[1].host);
	j = mock_find(&c->m, VU_REM_MEM_REG, i + 1);
	assert_true(j > i);
	assert_int_equal(c->m.log[j].nfds, 0);
	check_region(c->m.log[j].payload + 8, 0, 1 << 16, (uintptr_t)gm.r[0].host);
	i = mock_find(&c->m, VU_ADD_MEM_REG, j + 1);
	assert_true(i > j);
	check_region(c->m.log[i].payload + 8, 1 << 21, 1 << 16, (uintptr_t)gm.r[2].host);
	assert_int_equal(mock_find(&c->m, VU_ADD_MEM_REG, i + 1), -1);
	vu_fe_guest_mem_free(&gm);
}

/* A table with more regions than the back-end's slots is refused and forgets nothing. */
static void test_mem_slots_too_many(void **state)
{
	struct ctx *c = *state;
	struct vu_fe_guest_mem gm;
	struct vu_fe_region r[3];
	unsigned int adds = 0, rems = 0, i;

	vu_fe_guest_mem_init(&gm);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 0, 1 << 16), 0);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 1 << 20, 1 << 16), 0);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 1 << 21, 1 << 16), 0);
	c->m.pf &= ~(1ull << VU_PF_XEN_MMAP);
	c->m.max_slots = 2;
	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	assert_int_equal(vu_fe_max_mem_slots(c->fe), 2);
	assert_int_equal(vu_fe_guest_mem_regions(&gm, r, 3), 3);
	assert_int_equal(vu_fe_set_mem_table(c->fe, r, 2), 0);
	assert_int_equal(vu_fe_set_mem_table(c->fe, r, 3), -E2BIG);
	/* the back-end still has regions 0 and 1: the same table again sends nothing */
	assert_int_equal(vu_fe_set_mem_table(c->fe, r, 2), 0);
	/* and a change is sent as the difference to what it has */
	assert_int_equal(vu_fe_set_mem_table(c->fe, r + 1, 2), 0);
	ctx_close(c);

	for (i = 0; i < c->m.nlog; i++) {
		adds += c->m.log[i].req == VU_ADD_MEM_REG;
		rems += c->m.log[i].req == VU_REM_MEM_REG;
	}
	assert_int_equal(adds, 3);
	assert_int_equal(rems, 1);
	vu_fe_guest_mem_free(&gm);
}

/*
 * Replay the mock's log of ADD/REM_MEM_REG from @from on (the refused
 * one excluded) over the gpa list @have: what the back-end holds now.
 */
static unsigned int be_regions(const struct mock_be *m, unsigned int from, uint64_t *have,
			       unsigned int n, int refused)
{
	for (unsigned int i = from; i < m->nlog; i++) {
		const struct mock_entry *e = &m->log[i];
		struct vu_mem_region r;
		unsigned int k;

		if ((int)i == refused || (e->req != VU_ADD_MEM_REG && e->req != VU_REM_MEM_REG))
			continue;
		memcpy(&r, e->payload + 8, sizeof(r));
		for (k = 0; k < n && have[k] != r.guest_addr; k++)
			;
		if (e->req == VU_ADD_MEM_REG) {
			assert_int_equal(k, n);   /* never added twice */
			have[n++] = r.guest_addr;
		} else {
			assert_true(k < n);       /* only what it has is removed */
			have[k] = have[--n];
		}
	}
	return n;
}

/*
 * A table change the back-end refuses part-way (a REM_MEM_REG nacked):
 * the front-end must still know what the back-end holds, so the retry
 * removes what is left over, adds only what is missing, and the back-end
 * ends with exactly the new table.
 */
static void test_mem_slots_refused_midway(void **state)
{
	struct ctx *c = *state;
	struct vu_fe_guest_mem gm;
	struct vu_fe_region r[3];
	uint64_t have[8];
	unsigned int n;
	int refused;

	vu_fe_guest_mem_init(&gm);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 0, 1 << 16), 0);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 1 << 20, 1 << 16), 0);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 1 << 21, 1 << 16), 0);
	c->m.pf &= ~(1ull << VU_PF_XEN_MMAP);
	c->m.fault_req = VU_REM_MEM_REG;
	c->m.fault = MOCK_NACK;
	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	assert_int_equal(vu_fe_guest_mem_regions(&gm, r, 3), 3);
	/* {0, 1} -> {2}: removing region 0 is refused */
	assert_int_equal(vu_fe_set_mem_table(c->fe, r, 2), 0);
	assert_int_equal(vu_fe_set_mem_table(c->fe, r + 2, 1), -EIO);
	assert_true(vu_fe_connected(c->fe));
	/* the retry goes through */
	assert_int_equal(vu_fe_set_mem_table(c->fe, r + 2, 1), 0);
	/* and {2} -> {1, 2} adds region 1 only */
	assert_int_equal(vu_fe_set_mem_table(c->fe, r + 1, 2), 0);
	ctx_close(c);

	refused = mock_find(&c->m, VU_REM_MEM_REG, 0);
	assert_true(refused >= 0);
	n = be_regions(&c->m, 0, have, 0, refused);
	assert_int_equal(n, 2);
	assert_true((have[0] == 1 << 20 && have[1] == 1 << 21) ||
		    (have[1] == 1 << 20 && have[0] == 1 << 21));
	vu_fe_guest_mem_free(&gm);
}

static void test_xen_regions(void **state)
{
	struct ctx *c = *state;
	struct vu_fe_region r = {
		.gpa = 0x40000000, .size = 1 << 20, .user_addr = 0x40000000,
		.xen_flags = VU_XEN_MMAP_FOREIGN, .xen_domid = 7,
	};
	struct vu_mem_region_xen w;
	uint32_t n;
	int i;

	/* stands in for /dev/xen/privcmd: any fd */
	r.fd = eventfd(0, EFD_CLOEXEC);
	c->m.pf = ALL_PF & ~(1ull << VU_PF_CONFIGURE_MEM_SLOTS);
	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	assert_true(vu_fe_has_protocol_feature(c->fe, VU_PF_XEN_MMAP));
	assert_int_equal(vu_fe_set_mem_table(c->fe, &r, 1), 0);
	ctx_close(c);
	close(r.fd);
	i = mock_find(&c->m, VU_SET_MEM_TABLE, 0);
	assert_true(i >= 0);
	assert_int_equal(c->m.log[i].size, 8 + 1 * sizeof(struct vu_mem_region_xen));
	memcpy(&n, c->m.log[i].payload, 4);
	assert_int_equal(n, 1);
	memcpy(&w, c->m.log[i].payload + 8, sizeof(w));
	assert_true(w.r.guest_addr == 0x40000000 && w.r.user_addr == 0x40000000);
	assert_int_equal(w.xen.flags, VU_XEN_MMAP_FOREIGN);
	assert_int_equal(w.xen.domid, 7);
}

static void test_rings(void **state)
{
	struct ctx *c = *state;
	struct vu_fe_guest_mem gm;
	struct vu_vring_state st;
	struct vu_vring_addr a;
	uint16_t base = 0;
	uint64_t v, u;
	int i;

	vu_fe_guest_mem_init(&gm);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 0x100000, 1 << 20), 0);
	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	assert_int_equal(vu_fe_set_guest_mem(c->fe, &gm), 0);
	assert_int_equal(vu_fe_ring_setup(c->fe, 0, 100, 0x100000, 0x101000, 0x102000, 0), -EINVAL);
	assert_int_equal(vu_fe_ring_setup(c->fe, 2, 256, 0x100000, 0x101000, 0x102000, 0), -EINVAL);
	/* ring outside guest memory */
	assert_int_equal(vu_fe_ring_setup(c->fe, 0, 256, 0x300000, 0x101000, 0x102000, 0), -EFAULT);
	assert_int_equal(vu_fe_ring_setup(c->fe, 0, 256, 0x100000, 0x101000, 0x102000, 7), 0);
	assert_true(vu_fe_ring_started(c->fe, 0));
	assert_true(vu_fe_call_fd(c->fe, 0) >= 0);
	assert_true(vu_fe_kick_fd(c->fe, 0) >= 0);
	assert_int_equal(vu_fe_kick(c->fe, 0), 0);
	/* the back-end has our kick eventfd */
	assert_int_equal(read(c->m.kick_fd[0], &v, 8), 8);
	assert_true(v == 1);
	/* and our call eventfd */
	v = 1;
	assert_int_equal(write(c->m.call_fd[0], &v, 8), 8);
	assert_true(vu_fe_call_clear(c->fe, 0));
	assert_false(vu_fe_call_clear(c->fe, 0));
	c->m.vring_base[0] = 42;
	assert_int_equal(vu_fe_ring_stop(c->fe, 0, &base), 0);
	assert_int_equal(base, 42);
	assert_false(vu_fe_ring_started(c->fe, 0));
	assert_int_equal(vu_fe_ring_base(c->fe, 0), 42);
	ctx_close(c);

	i = mock_find(&c->m, VU_SET_VRING_NUM, 0);
	assert_true(i > 0);
	memcpy(&st, c->m.log[i].payload, sizeof(st));
	assert_int_equal(st.num, 256);
	assert_int_equal(c->m.log[i + 1].req, VU_SET_VRING_BASE);
	memcpy(&st, c->m.log[i + 1].payload, sizeof(st));
	assert_int_equal(st.num, 7);
	assert_int_equal(c->m.log[i + 2].req, VU_SET_VRING_ADDR);
	memcpy(&a, c->m.log[i + 2].payload, sizeof(a));
	u = (uintptr_t)gm.r[0].host;
	assert_true(a.desc == u && a.avail == u + 0x1000 && a.used == u + 0x2000);
	assert_int_equal(c->m.log[i + 3].req, VU_SET_VRING_KICK);
	assert_int_equal(c->m.log[i + 3].nfds, 1);
	assert_int_equal(c->m.log[i + 4].req, VU_SET_VRING_CALL);
	assert_int_equal(c->m.log[i + 4].nfds, 1);
	assert_int_equal(c->m.log[i + 5].req, VU_SET_VRING_ENABLE);
	memcpy(&st, c->m.log[i + 5].payload, sizeof(st));
	assert_int_equal(st.num, 1);
	assert_int_equal(c->m.log[i + 6].req, VU_GET_VRING_BASE);
	vu_fe_guest_mem_free(&gm);
}

static void test_config_status_reset_inflight(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[8], st = 0;
	uint64_t size = 0;
	int i;

	for (i = 0; i < 16; i++)
		c->m.config[i] = (uint8_t)(i + 1);
	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	assert_int_equal(vu_fe_get_config(c->fe, 4, buf, 8), 0);
	assert_int_equal(buf[0], 5);
	assert_int_equal(buf[7], 12);
	assert_int_equal(vu_fe_get_config(c->fe, 250, buf, 8), -EINVAL);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(vu_fe_set_config(c->fe, 0, buf, 2, VU_SET_CONFIG_FLAG_WRITABLE), 0);
	assert_int_equal(c->m.config[1], 0x77);
	assert_int_equal(c->m.config[2], 3);
	assert_int_equal(vu_fe_set_status(c->fe, 0x0f), 0);
	assert_int_equal(vu_fe_get_status(c->fe, &st), 0);
	assert_int_equal(st, 0x0f);
	assert_int_equal(vu_fe_inflight_setup(c->fe, 2, 256), 0);
	assert_non_null(vu_fe_inflight_area(c->fe, &size));
	assert_true(size == 4096);
	assert_int_equal(vu_fe_reset_device(c->fe), 0);
	ctx_close(c);
	i = mock_find(&c->m, VU_GET_INFLIGHT_FD, 0);
	assert_true(i > 0);
	assert_int_equal(c->m.log[i + 1].req, VU_SET_INFLIGHT_FD);
	assert_int_equal(c->m.log[i + 1].nfds, 1);
	assert_true(mock_find(&c->m, VU_RESET_DEVICE, 0) > i);
}

/* A back-end whose inflight file is shorter than the area it announces: broken, not SIGBUS. */
static void test_inflight_short_file(void **state)
{
	struct ctx *c = *state;
	uint64_t size = 0;

	c->m.inflight_file = 1024;
	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	assert_int_equal(vu_fe_inflight_setup(c->fe, 2, 256), -EPROTO);
	assert_null(vu_fe_inflight_area(c->fe, &size));
	assert_false(vu_fe_connected(c->fe));
	ctx_close(c);
}

static void backend_send(int fd, uint32_t req, uint32_t flags, const void *p, uint32_t size)
{
	assert_int_equal(mock_send(fd, req, flags, p, size, NULL, 0), 0);
}

static uint64_t backend_ack(int fd, uint32_t req)
{
	struct vu_msg_ctx ctx = { .dir = VU_DIR_BACKEND_REPLY, .reply_to = req };
	struct vu_msg msg;

	assert_int_equal(vu_msg_read(fd, &msg, 2000, -1), 0);
	assert_int_equal(vu_msg_validate(&msg, &ctx), 0);
	assert_int_equal(msg.hdr.size, 8);
	return msg.payload.u64;
}

static void test_backend_channel(void **state)
{
	struct ctx *c = *state;
	struct vu_fe_guest_mem gm;
	struct vu_vring_state st = { .index = 1 };
	int bfd, efd;

	vu_fe_guest_mem_init(&gm);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 0, 1 << 16), 0);
	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	assert_int_equal(vu_fe_set_guest_mem(c->fe, &gm), 0);
	assert_int_equal(vu_fe_ring_setup(c->fe, 1, 64, 0, 0x1000, 0x2000, 0), 0);
	bfd = c->m.backend_fd;
	assert_true(bfd >= 0);

	/* nothing to read */
	assert_int_equal(vu_fe_backend_channel_process(c->fe), 0);
	/* CONFIG_CHANGE_MSG with need_reply: callback, then ack 0 */
	backend_send(bfd, VU_BACKEND_CONFIG_CHANGE_MSG, VU_FLAG_NEED_REPLY, NULL, 0);
	assert_int_equal(vu_fe_backend_channel_process(c->fe), 1);
	assert_int_equal(c->config_changes, 1);
	assert_true(backend_ack(bfd, VU_BACKEND_CONFIG_CHANGE_MSG) == 0);
	/* without need_reply: no ack */
	backend_send(bfd, VU_BACKEND_CONFIG_CHANGE_MSG, 0, NULL, 0);
	assert_int_equal(vu_fe_backend_channel_process(c->fe), 1);
	assert_int_equal(c->config_changes, 2);
	/* in-band VRING_CALL signals the ring's call eventfd */
	backend_send(bfd, VU_BACKEND_VRING_CALL, VU_FLAG_NEED_REPLY, &st, sizeof(st));
	assert_int_equal(vu_fe_backend_channel_process(c->fe), 1);
	assert_true(backend_ack(bfd, VU_BACKEND_VRING_CALL) == 0);
	assert_true(vu_fe_call_clear(c->fe, 1));
	/* bad ring index, wrong size, unknown request: refused, channel stays */
	st.index = 200;
	backend_send(bfd, VU_BACKEND_VRING_CALL, VU_FLAG_NEED_REPLY, &st, sizeof(st));
	assert_int_equal(vu_fe_backend_channel_process(c->fe), 1);
	assert_true(backend_ack(bfd, VU_BACKEND_VRING_CALL) != 0);
	backend_send(bfd, VU_BACKEND_CONFIG_CHANGE_MSG, VU_FLAG_NEED_REPLY, &st, 4);
	assert_int_equal(vu_fe_backend_channel_process(c->fe), 1);
	assert_true(backend_ack(bfd, VU_BACKEND_CONFIG_CHANGE_MSG) != 0);
	assert_int_equal(c->config_changes, 2);
	/* an unknown request with an fd: refused, fd closed */
	efd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(mock_send(bfd, VU_BACKEND_VRING_HOST_NOTIFIER_MSG, VU_FLAG_NEED_REPLY,
					 &st, sizeof(st), &efd, 1), 0);
	close(efd);
	assert_int_equal(vu_fe_backend_channel_process(c->fe), 1);
	assert_true(backend_ack(bfd, VU_BACKEND_VRING_HOST_NOTIFIER_MSG) != 0);
	/* a malformed header closes the channel, not the front-end */
	backend_send(bfd, VU_BACKEND_CONFIG_CHANGE_MSG, VU_FLAG_REPLY, NULL, 0);
	assert_true(vu_fe_backend_channel_process(c->fe) < 0);
	assert_int_equal(vu_fe_backend_fd(c->fe), -1);
	assert_true(vu_fe_connected(c->fe));
	ctx_close(c);
	vu_fe_guest_mem_free(&gm);
}

static void test_backend_channel_closed(void **state)
{
	struct ctx *c = *state;

	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	close(c->m.backend_fd);
	c->m.backend_fd = -1;
	assert_int_equal(vu_fe_backend_channel_process(c->fe), -ECONNRESET);
	assert_int_equal(vu_fe_backend_fd(c->fe), -1);
	ctx_close(c);
}

/* Hostile back-end: every fault at several points gives an error, no leak. */
struct fault_case {
	uint32_t req;
	enum mock_fault fault;
	int expect;   /* 0: any negative errno */
	bool connected_after;
};

static const struct fault_case fault_cases[] = {
	{ VU_GET_FEATURES, MOCK_BAD_REQ, -EBADMSG, false },
	{ VU_GET_FEATURES, MOCK_BAD_SIZE, -EBADMSG, false },
	{ VU_GET_FEATURES, MOCK_NO_REPLY_FLAG, -EBADMSG, false },
	{ VU_GET_FEATURES, MOCK_BAD_VERSION, -EPROTO, false },
	{ VU_GET_FEATURES, MOCK_EXTRA_FD, -EBADMSG, false },
	{ VU_GET_FEATURES, MOCK_CLOSE, -ECONNRESET, false },
	{ VU_GET_FEATURES, MOCK_HUGE, -EMSGSIZE, false },
	{ VU_GET_FEATURES, MOCK_TRUNCATED, -EPROTO, false },
	{ VU_GET_FEATURES, MOCK_SILENT, -ETIMEDOUT, false },
	{ VU_GET_FEATURES, MOCK_SHORT_PAYLOAD, -EPROTO, false },
	{ VU_GET_PROTOCOL_FEATURES, MOCK_BAD_SIZE, -EBADMSG, false },
	{ VU_GET_PROTOCOL_FEATURES, MOCK_EXTRA_FD, -EBADMSG, false },
	{ VU_SET_PROTOCOL_FEATURES, MOCK_CLOSE, 0, false },
	{ VU_GET_QUEUE_NUM, MOCK_BAD_REQ, -EBADMSG, false },
	{ VU_GET_MAX_MEM_SLOTS, MOCK_CLOSE, -ECONNRESET, false },
	{ VU_SET_BACKEND_REQ_FD, MOCK_BAD_SIZE, -EBADMSG, false },
	{ VU_SET_OWNER, MOCK_NACK, -EIO, true },
	{ VU_SET_OWNER, MOCK_EXTRA_FD, -EBADMSG, false },
	{ VU_SET_OWNER, MOCK_SILENT, -ETIMEDOUT, false },
	{ VU_SET_FEATURES, MOCK_BAD_REQ, -EBADMSG, false },
	{ VU_SET_FEATURES, MOCK_TRUNCATED, -EPROTO, false },
};

static void test_hostile_negotiation(void **state)
{
	struct ctx *c = *state;
	unsigned int i;
	int err;

	for (i = 0; i < VK_ARRAY_SIZE(fault_cases); i++) {
		mock_init(&c->m);
		c->m.fault_req = fault_cases[i].req;
		c->m.fault = fault_cases[i].fault;
		ctx_open(c);
		/* Short only where the timeout is the point: a loaded machine
		 * must not turn a truncated reply into ETIMEDOUT. */
		vu_fe_set_timeout(c->fe, fault_cases[i].fault == MOCK_SILENT ? 200 : 5000);
		err = vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2);
		if (fault_cases[i].expect)
			assert_int_equal(err, fault_cases[i].expect);
		else
			assert_true(err < 0);
		assert_true(vu_fe_connected(c->fe) == fault_cases[i].connected_after);
		if (!fault_cases[i].connected_after) {
			/* every later call fails cleanly */
			err = vu_fe_set_status(c->fe, 1);
			assert_true(err == -ENOTCONN || err == -EOPNOTSUPP);
			assert_int_equal(vu_fe_ring_stop(c->fe, 0, NULL), -ENOTCONN);
		}
		ctx_close(c);
	}
}

static void test_hostile_later(void **state)
{
	struct ctx *c = *state;
	struct vu_fe_guest_mem gm;
	static const struct fault_case cases[] = {
		{ VU_SET_MEM_TABLE, MOCK_CLOSE, 0, false },
		{ VU_ADD_MEM_REG, MOCK_NACK, -EIO, true },
		{ VU_GET_VRING_BASE, MOCK_BAD_SIZE, -EBADMSG, false },
		{ VU_GET_VRING_BASE, MOCK_EXTRA_FD, -EBADMSG, false },
		{ VU_GET_CONFIG, MOCK_BAD_SIZE, -EBADMSG, false },
		{ VU_GET_STATUS, MOCK_HUGE, -EMSGSIZE, false },
		{ VU_GET_INFLIGHT_FD, MOCK_BAD_REQ, -EBADMSG, false },
		{ VU_SET_VRING_KICK, MOCK_NACK, -EIO, true },
	};
	unsigned int i;
	uint8_t b[4];
	int err = 0;

	vu_fe_guest_mem_init(&gm);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 0, 1 << 16), 0);
	for (i = 0; i < VK_ARRAY_SIZE(cases); i++) {
		bool with_slots = cases[i].req == VU_ADD_MEM_REG;

		mock_init(&c->m);
		if (!with_slots)
			c->m.pf &= ~(1ull << VU_PF_CONFIGURE_MEM_SLOTS);
		c->m.fault_req = cases[i].req;
		c->m.fault = cases[i].fault;
		ctx_open(c);
		vu_fe_set_timeout(c->fe, cases[i].fault == MOCK_SILENT ? 300 : 5000);
		assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
		err = vu_fe_set_guest_mem(c->fe, &gm);
		if (!err)
			err = vu_fe_ring_setup(c->fe, 0, 64, 0, 0x1000, 0x2000, 0);
		if (!err)
			err = vu_fe_ring_stop(c->fe, 0, NULL);
		if (!err)
			err = vu_fe_get_config(c->fe, 0, b, 4);
		if (!err)
			err = vu_fe_get_status(c->fe, b);
		if (!err)
			err = vu_fe_inflight_setup(c->fe, 1, 64);
		if (cases[i].expect)
			assert_int_equal(err, cases[i].expect);
		else
			assert_true(err < 0);
		assert_true(vu_fe_connected(c->fe) == cases[i].connected_after);
		ctx_close(c);
	}
	vu_fe_guest_mem_free(&gm);
}

/*
 * Open with 64 KiB of guest memory at 0, inflight tracking for 2 rings and
 * ring 0 set up: the state the reconnect tests make the front-end replay.
 */
static void ctx_open_inflight(struct ctx *c, struct vu_fe_guest_mem *gm)
{
	vu_fe_guest_mem_init(gm);
	assert_int_equal(vu_fe_guest_mem_add(gm, 0, 1 << 16), 0);
	ctx_open(c);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	assert_int_equal(vu_fe_inflight_setup(c->fe, 2, 64), 0);
	assert_int_equal(vu_fe_set_guest_mem(c->fe, gm), 0);
	assert_int_equal(vu_fe_ring_setup(c->fe, 0, 64, 0, 0x1000, 0x2000, 0), 0);
}

static void test_reconnect(void **state)
{
	struct ctx *c = *state;
	struct vu_fe_guest_mem gm;
	struct vu_vring_state st;
	struct mock_be *m2 = calloc(1, sizeof(*m2));
	uint16_t *used_idx;
	int sv[2], i, j;

	ctx_open_inflight(c, &gm);
	assert_int_equal(vu_fe_ring_setup(c->fe, 1, 64, 0x4000, 0x5000, 0x6000, 0), 0);
	assert_int_equal(vu_fe_set_status(c->fe, 0xf), 0);
	/* ring 1 stopped cleanly at 9; ring 0 is running when the back-end dies */
	c->m.vring_base[1] = 9;
	assert_int_equal(vu_fe_ring_stop(c->fe, 1, NULL), 0);
	used_idx = vu_fe_guest_mem_host(&gm, 0x2002, 2);
	*used_idx = 5;
	/* the back-end dies */
	c->m.fault_req = VU_GET_STATUS;
	c->m.fault = MOCK_CLOSE;
	{
		uint8_t s;

		assert_true(vu_fe_get_status(c->fe, &s) < 0);
	}
	assert_false(vu_fe_connected(c->fe));
	mock_join(&c->m);

	mock_init(m2);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(mock_start(m2, sv[1]), 0);
	assert_int_equal(vu_fe_reconnect(c->fe, sv[0], 1, 0), 0);
	vu_fe_free(c->fe);
	c->fe = NULL;
	mock_join(m2);
	assert_int_equal(test_count_fds(), c->fds_before);

	/* the whole sequence, in order */
	i = mock_find(m2, VU_SET_FEATURES, 0);
	assert_true(i > 0);
	j = mock_find(m2, VU_SET_INFLIGHT_FD, 0);
	assert_true(j > i);
	assert_int_equal(m2->log[j].nfds, 1);
	i = mock_find(m2, VU_ADD_MEM_REG, j);
	assert_true(i > j);
	j = mock_find(m2, VU_SET_VRING_BASE, i);
	assert_true(j > i);
	memcpy(&st, m2->log[j].payload, sizeof(st));
	assert_int_equal(st.index, 0);
	assert_int_equal(st.num, 5);
	j = mock_find(m2, VU_SET_VRING_BASE, j + 1);
	memcpy(&st, m2->log[j].payload, sizeof(st));
	assert_int_equal(st.index, 1);
	assert_int_equal(st.num, 9);
	assert_true(mock_find(m2, VU_SET_STATUS, j) > j);
	free(m2);
	vu_fe_guest_mem_free(&gm);
}

/* Hundreds of back-end restarts: the front-end's fd count stays flat. */
static void test_reconnect_no_fd_leak(void **state)
{
	struct ctx *c = *state;
	struct vu_fe_guest_mem gm;
	int i, sv[2], after_first = -1;

	ctx_open_inflight(c, &gm);
	for (i = 0; i < 300; i++) {
		/* every third back-end dies in the middle of the replay */
		vu_fe_disconnect(c->fe);
		mock_join(&c->m);
		mock_init(&c->m);
		if (i % 3 == 2) {
			c->m.fault_req = VU_SET_VRING_KICK;
			c->m.fault = MOCK_CLOSE;
		}
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		assert_int_equal(mock_start(&c->m, sv[1]), 0);
		if (i % 3 == 2) {
			assert_true(vu_fe_reconnect(c->fe, sv[0], 1, 0) < 0);
			continue;
		}
		assert_int_equal(vu_fe_reconnect(c->fe, sv[0], 1, 0), 0);
		if (after_first < 0)
			after_first = test_count_fds();
		else
			assert_int_equal(test_count_fds(), after_first);
	}
	ctx_close(c);
	vu_fe_guest_mem_free(&gm);
}

/* A call that carries a kept fd while disconnected fails alone: the fd stays ours and open. */
static void test_disconnected_keeps_fds(void **state)
{
	struct ctx *c = *state;
	struct vu_fe_guest_mem gm;
	int before, sv[2];

	ctx_open_inflight(c, &gm);
	vu_fe_disconnect(c->fe);
	mock_join(&c->m);
	before = test_count_fds();
	assert_int_equal(vu_fe_inflight_setup(c->fe, 2, 64), -ENOTCONN);
	assert_int_equal(test_count_fds(), before);
	/* and the reconnect gives the back-end the same inflight memfd */
	mock_init(&c->m);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(mock_start(&c->m, sv[1]), 0);
	assert_int_equal(vu_fe_reconnect(c->fe, sv[0], 1, 0), 0);
	ctx_close(c);
	assert_true(mock_find(&c->m, VU_SET_INFLIGHT_FD, 0) > 0);
	vu_fe_guest_mem_free(&gm);
}

static void test_connect_path(void **state)
{
	struct ctx *c = *state;
	char path[] = "/tmp/vu-fe-test-XXXXXX";
	char sock[64];
	struct sockaddr_un sa;
	int lfd, afd, status;
	pid_t pid;

	assert_non_null(mkdtemp(path));
	snprintf(sock, sizeof(sock), "%s/s", path);
	c->fds_before = test_count_fds();
	c->fe = vu_fe_new(NULL, NULL);
	/* nobody listening: bounded retries, then the error */
	assert_int_equal(vu_fe_connect_path(c->fe, sock, 3, 10), -ENOENT);
	assert_int_equal(vu_fe_reconnect(c->fe, -1, 2, 10), -ENOENT);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the back-end process: listens late, serves one front-end */
		struct mock_be *m = calloc(1, sizeof(*m));

		usleep(100 * 1000);
		mock_init(m);
		if (vk_unix_addr(&sa, sock))
			_exit(2);
		lfd = vk_unix_listen(&sa, SOCK_STREAM, 1);
		if (lfd < 0)
			_exit(2);
		afd = accept(lfd, NULL, NULL);
		mock_serve(m, afd);
		_exit(m->seen[VU_SET_OWNER] == 1 && m->seen[VU_SET_MEM_TABLE] + m->seen[VU_ADD_MEM_REG] ? 0 : 1);
	}
	assert_int_equal(vu_fe_connect_path(c->fe, sock, 100, 20), 0);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	{
		struct vu_fe_guest_mem gm;

		vu_fe_guest_mem_init(&gm);
		assert_int_equal(vu_fe_guest_mem_add(&gm, 0, 1 << 16), 0);
		assert_int_equal(vu_fe_set_guest_mem(c->fe, &gm), 0);
		vu_fe_guest_mem_free(&gm);
	}
	vu_fe_free(c->fe);
	c->fe = NULL;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	unlink(sock);
	rmdir(path);
	assert_int_equal(test_count_fds(), c->fds_before);
}

/* Writes 1 to an eventfd after a delay: the owner cancelling a call in progress. */
struct canceller {
	int fd;
	unsigned int delay_ms;
	pthread_t thread;
};

static void *canceller_main(void *arg)
{
	struct canceller *k = arg;
	uint64_t one = 1;

	usleep(k->delay_ms * 1000u);
	if (write(k->fd, &one, sizeof(one)) != sizeof(one))
		abort();
	return NULL;
}

/*
 * A back-end that takes the request and never answers (a daemon stopped
 * with SIGSTOP): the owner's cancel eventfd, written 100 ms into the call,
 * ends it with -ECANCELED then, not at the 5 s reply timeout, and leaves
 * the front-end disconnected (a late reply must not be taken for the
 * answer to a later request).
 */
static void test_cancel_in_progress(void **state)
{
	struct ctx *c = *state;
	struct vu_fe_guest_mem gm;
	struct canceller k = { .delay_ms = 100 };
	uint64_t t0, dt;
	int err;

	vu_fe_guest_mem_init(&gm);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 0x100000, 1 << 20), 0);
	c->m.fault_req = VU_GET_VRING_BASE;
	c->m.fault = MOCK_SILENT;
	ctx_open(c);
	k.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(k.fd >= 0);
	vu_fe_set_timeout(c->fe, VU_FE_DEFAULT_TIMEOUT_MS);
	vu_fe_set_cancel_fd(c->fe, k.fd);
	/* not readable: the calls go through as before */
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	assert_int_equal(vu_fe_set_guest_mem(c->fe, &gm), 0);
	assert_int_equal(vu_fe_ring_setup(c->fe, 0, 256, 0x100000, 0x101000, 0x102000, 0), 0);

	assert_int_equal(pthread_create(&k.thread, NULL, canceller_main, &k), 0);
	t0 = vk_now_ms();
	err = vu_fe_ring_stop(c->fe, 0, NULL);
	dt = vk_now_ms() - t0;
	assert_int_equal(pthread_join(k.thread, NULL), 0);
	print_message("# GET_VRING_BASE to a silent back-end, cancelled after 100 ms: %s after %llu ms\n",
		      strerror(-err), (unsigned long long)dt);
	assert_int_equal(err, -ECANCELED);
	assert_true(dt >= 90 && dt < 1500);
	assert_false(vu_fe_connected(c->fe));
	assert_int_equal(vu_fe_ring_stop(c->fe, 0, NULL), -ENOTCONN);
	close(k.fd);
	ctx_close(c);
	vu_fe_guest_mem_free(&gm);
}

/*
 * A cancel fd already readable when a call starts (the owner is stopping):
 * the call fails at once with -ECANCELED, sends nothing and leaves the
 * front-end disconnected.  With the fd taken away (-1) a reconnect works.
 */
static void test_cancel_before_call(void **state)
{
	struct ctx *c = *state;
	uint64_t one = 1, t0, dt;
	int efd, sv[2];

	ctx_open(c);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);
	vu_fe_set_timeout(c->fe, VU_FE_DEFAULT_TIMEOUT_MS);
	assert_int_equal(vu_fe_negotiate(c->fe, F_V1, ALL_PF, 2), 0);
	vu_fe_set_cancel_fd(c->fe, efd);
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	t0 = vk_now_ms();
	assert_int_equal(vu_fe_set_status(c->fe, 3), -ECANCELED);
	dt = vk_now_ms() - t0;
	assert_true(dt < 1000);
	assert_false(vu_fe_connected(c->fe));
	vu_fe_disconnect(c->fe);
	mock_join(&c->m);
	assert_int_equal(c->m.seen[VU_SET_STATUS], 0);

	/* still readable: a reconnect is cancelled too, before its first request */
	mock_init(&c->m);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(mock_start(&c->m, sv[1]), 0);
	assert_int_equal(vu_fe_reconnect(c->fe, sv[0], 1, 0), -ECANCELED);
	assert_false(vu_fe_connected(c->fe));
	mock_join(&c->m);
	assert_int_equal(c->m.nlog, 0);

	/* no cancel fd any more: the same front-end reconnects and works */
	vu_fe_set_cancel_fd(c->fe, -1);
	mock_init(&c->m);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(mock_start(&c->m, sv[1]), 0);
	assert_int_equal(vu_fe_reconnect(c->fe, sv[0], 1, 0), 0);
	assert_int_equal(vu_fe_set_status(c->fe, 3), 0);
	close(efd);
	ctx_close(c);
}

/* vu_fe_connect_path's wait between attempts ends when the cancel fd is readable. */
static void test_cancel_connect_retry(void **state)
{
	struct ctx *c = *state;
	char path[] = "/tmp/vu-fe-cancel-XXXXXX";
	char sock[64];
	struct canceller k = { .delay_ms = 100 };
	uint64_t t0, dt;
	int err;

	assert_non_null(mkdtemp(path));
	snprintf(sock, sizeof(sock), "%s/s", path);
	c->fds_before = test_count_fds();
	c->fe = vu_fe_new(NULL, NULL);
	assert_non_null(c->fe);
	k.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(k.fd >= 0);
	vu_fe_set_cancel_fd(c->fe, k.fd);
	assert_int_equal(pthread_create(&k.thread, NULL, canceller_main, &k), 0);
	t0 = vk_now_ms();
	/* nobody listening: 50 attempts 100 ms apart would take 5 s */
	err = vu_fe_connect_path(c->fe, sock, 50, 100);
	dt = vk_now_ms() - t0;
	assert_int_equal(pthread_join(k.thread, NULL), 0);
	assert_int_equal(err, -ECANCELED);
	assert_true(dt < 1500);
	close(k.fd);
	vu_fe_free(c->fe);
	c->fe = NULL;
	rmdir(path);
	assert_int_equal(test_count_fds(), c->fds_before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_negotiate_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negotiate_minimal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_slots_too_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_slots_refused_midway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xen_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_status_reset_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_short_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_channel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_channel_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_no_fd_leak, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnected_keeps_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_in_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_before_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_connect_retry, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
