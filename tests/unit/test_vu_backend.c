// SPDX-License-Identifier: MIT
/*
 * test_vu_backend.c - the back-end request handler driven by raw messages:
 * the QEMU 7.2 vhost-user-vsock sequence, traffic, stop, reconnect, and a
 * hostile front-end (bad sizes, fds, memory, rings, ids)
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "vhost-user/vu_backend.h"
#include "vu_test_fe.h"
#include "../common/fd_count.h"
#include "../common/loop_dev.h"

#define CID 42ull

struct tdev {
	struct vu_dev *dev;
	struct vut_fe fe;
	int started[VUT_NQ], stopped[VUT_NQ];
	int mem_updates, resets;
	uint64_t features;
	int proc_ret;
};

static void t_start(void *o, unsigned int q) { ((struct tdev *)o)->started[q]++; }
static void t_stop(void *o, unsigned int q) { ((struct tdev *)o)->stopped[q]++; }
static void t_mem(void *o) { ((struct tdev *)o)->mem_updates++; }
static void t_reset(void *o) { ((struct tdev *)o)->resets++; }
static void t_feat(void *o, uint64_t f) { ((struct tdev *)o)->features = f; }

static int t_get_config(void *o, uint8_t *buf, uint32_t off, uint32_t len)
{
	uint8_t cfg[8];
	uint64_t cid = CID;

	memcpy(cfg, &cid, 8);
	if (off + len > sizeof(cfg))
		return -EINVAL;
	memcpy(buf, cfg + off, len);
	return 0;
}

static const struct vu_dev_ops t_ops = {
	.get_config = t_get_config,
	.queue_start = t_start,
	.queue_stop = t_stop,
	.mem_updated = t_mem,
	.reset = t_reset,
	.features_set = t_feat,
};

static void pump(void *arg)
{
	struct tdev *t = arg;

	t->proc_ret = vu_dev_process(t->dev);
}

static void t_connect(struct tdev *t)
{
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	vut_init(&t->fe, sp[0]);
	t->fe.pump = pump;
	t->fe.pump_arg = t;
	t->fe.timeout_ms = 0;   /* the reply is already there when we read */
	vu_dev_attach(t->dev, sp[1]);
	memset(t->started, 0, sizeof(t->started));
	memset(t->stopped, 0, sizeof(t->stopped));
}

static void t_disconnect(struct tdev *t)
{
	vu_dev_detach(t->dev);
	vut_cleanup(&t->fe);
}

static int setup(void **state)
{
	struct tdev *t = calloc(1, sizeof(*t));
	struct vu_dev_config cfg = {
		.num_queues = VUT_NQ,
		.max_queue_size = 1024,
		.features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX),
		.name = "test",
		.msg_timeout_ms = 200,
	};

	t->dev = vu_dev_new(&cfg, &t_ops, t);
	assert_non_null(t->dev);
	t_connect(t);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tdev *t = *state;

	t_disconnect(t);
	vu_dev_free(t->dev);
	free(t);
	return 0;
}

/* Device side of traffic: complete every chain of ring @q. */
static int t_drain(struct tdev *t, unsigned int q)
{
	struct vq *vq = vu_dev_vq(t->dev, q);
	struct gmem_table *mem = gmem_get(vu_dev_gmem(t->dev));
	struct vq_elem *e = malloc(sizeof(*e));
	int n = 0;

	while (vq_pop(vq, mem, e) == 1) {
		vq_push(vq, e, 0);
		n++;
	}
	vq_flush(vq);
	vu_dev_notify(t->dev, q);
	gmem_put(mem);
	free(e);
	return n;
}

static void test_qemu_vsock_sequence(void **state)
{
	struct tdev *t = *state;
	uint16_t base[VUT_NQ];
	uint64_t v;
	int round;

	for (round = 0; round < 4; round++) {
		char *buf;
		uint32_t len;

		/* rounds 0, 2: ADD_MEM_REG as QEMU 7.2 does; 1, 3: SET_MEM_TABLE */
		t->fe.use_set_mem_table = round & 1;
		assert_int_equal(vut_qemu_vsock_start(&t->fe, CID), 0);
		assert_int_equal(t->proc_ret, 0);
		assert_int_equal(t->started[0], 1);
		assert_int_equal(t->started[1], 1);
		assert_true(vu_dev_queue_started(t->dev, 0));
		assert_true(vu_dev_features(t->dev) & (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
		assert_true(vu_dev_protocol_features(t->dev) & (1ull << VU_PF_REPLY_ACK));

		/* traffic on the TX ring */
		buf = vut_alloc(&t->fe, 64);
		memcpy(buf, "hello", 6);
		assert_int_equal(vut_add_out(&t->fe, 1, buf, 6), 0);
		assert_int_equal(vut_add_out(&t->fe, 1, buf, 6), 0);
		assert_int_equal(t_drain(t, 1), 2);
		assert_ptr_equal(vqdrv_get_used(&t->fe.drv[1], &len), buf);
		assert_ptr_equal(vqdrv_get_used(&t->fe.drv[1], &len), buf);
		assert_null(vqdrv_get_used(&t->fe.drv[1], &len));
		assert_int_equal(read(t->fe.call[1], &v, 8), 8);

		/* stop: rings stopped, bases reported */
		assert_int_equal(vut_stop(&t->fe, base), 0);
		assert_int_equal(base[0], 0);
		assert_int_equal(base[1], 2);
		assert_int_equal(t->stopped[0], 1);
		assert_int_equal(t->stopped[1], 1);
		assert_false(vu_dev_queue_started(t->dev, 1));

		/* reconnect */
		t_disconnect(t);
		t_connect(t);
	}
}

static void test_restart_keeps_base(void **state)
{
	struct tdev *t = *state;
	uint16_t base[VUT_NQ];
	char *buf;

	assert_int_equal(vut_qemu_vsock_start(&t->fe, CID), 0);
	buf = vut_alloc(&t->fe, 64);
	assert_int_equal(vut_add_out(&t->fe, 1, buf, 8), 0);
	assert_int_equal(t_drain(t, 1), 1);
	assert_int_equal(vut_stop(&t->fe, base), 0);
	assert_int_equal(base[1], 1);
	/* the same front-end restarts ring 1 at base 1: nothing is popped twice */
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_BASE, 1, base[1]), 0);
	{
		struct vu_msg m;

		vu_msg_init(&m, VU_SET_VRING_KICK, 0, 0);
		vu_msg_set_u64(&m, 1);
		vu_msg_add_fd(&m, t->fe.kick[1]);
		assert_int_equal(vut_ack(&t->fe, &m), 0);
	}
	assert_true(vu_dev_queue_started(t->dev, 1));
	assert_int_equal(t_drain(t, 1), 0);
	/* disable stops it, enable restarts it */
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_ENABLE, 1, 0), 0);
	assert_false(vu_dev_queue_started(t->dev, 1));
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_ENABLE, 1, 1), 0);
	assert_true(vu_dev_queue_started(t->dev, 1));
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_ENABLE, 1, 2), 1);
}

/* Everything before SET_MEM_TABLE, with REPLY_ACK negotiated. */
static void t_negotiate(struct tdev *t)
{
	uint64_t pf;
	struct vu_msg m;

	assert_int_equal(vut_get_u64(&t->fe, VU_GET_PROTOCOL_FEATURES, &pf), 0);
	t->fe.pf = pf & ~(1ull << VU_PF_XEN_MMAP);
	vu_msg_init(&m, VU_SET_PROTOCOL_FEATURES, 0, 0);
	vu_msg_set_u64(&m, t->fe.pf);
	assert_int_equal(vut_send(&t->fe, &m), 0);
	assert_int_equal(vut_set_u64_ack(&t->fe, VU_SET_FEATURES,
					 (1ull << VIRTIO_F_VERSION_1) |
					 (1ull << VHOST_USER_F_PROTOCOL_FEATURES)), 0);
}

static void test_unknown_and_bad_sizes(void **state)
{
	struct tdev *t = *state;
	struct vu_msg m;
	uint64_t f;
	uint32_t ids[] = { 0, 44, 1000, VU_SEND_RARP, VU_IOTLB_MSG, VU_POSTCOPY_LISTEN };
	unsigned int i;

	t_negotiate(t);
	for (i = 0; i < VK_ARRAY_SIZE(ids); i++) {
		struct vu_msg r;

		vu_msg_init(&m, ids[i], VU_FLAG_NEED_REPLY, 0);
		assert_int_equal(vut_send(&t->fe, &m), 0);
		assert_int_equal(t->proc_ret, 0);
		/* our own reply validator knows no such id: read it raw */
		assert_int_equal(vu_msg_read(t->fe.sock, &r, 0, -1), 0);
		assert_int_equal(r.hdr.request, ids[i]);
		assert_true(r.hdr.flags & VU_FLAG_REPLY);
		assert_int_equal(r.hdr.size, 8);
		assert_int_not_equal(r.payload.u64, 0);
	}
	/* wrong payload size */
	vu_msg_init(&m, VU_SET_FEATURES, 0, 4);
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	vu_msg_init(&m, VU_SET_OWNER, 0, 8);
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	/* zero-size where a payload is required */
	vu_msg_init(&m, VU_SET_VRING_NUM, 0, 0);
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	/* not offered features */
	assert_int_equal(vut_set_u64_ack(&t->fe, VU_SET_FEATURES, 1ull << 63), 1);
	/* a GET with the wrong size still gets an (empty) answer, not silence */
	vu_msg_init(&m, VU_GET_FEATURES, 0, 8);
	assert_int_equal(vut_send(&t->fe, &m), 0);
	{
		struct vu_msg r;

		assert_int_equal(vu_msg_read(t->fe.sock, &r, 0, -1), 0);
		assert_int_equal(r.hdr.size, 0);
	}
	/* still serving */
	assert_int_equal(vut_get_u64(&t->fe, VU_GET_FEATURES, &f), 0);
	assert_false(vu_dev_broken(t->dev));
}

static void test_fd_rules(void **state)
{
	struct tdev *t = *state;
	struct vu_msg m;
	int before, efd, efd2;

	t_negotiate(t);
	before = test_count_fds();
	/* kick without fd and without NOFD */
	vu_msg_init(&m, VU_SET_VRING_KICK, 0, 0);
	vu_msg_set_u64(&m, 0);
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	/* NOFD with an fd: rejected, the fd closed */
	efd = eventfd(0, EFD_CLOEXEC);
	vu_msg_init(&m, VU_SET_VRING_CALL, 0, 0);
	vu_msg_set_u64(&m, VU_VRING_NOFD_MASK);
	vu_msg_add_fd(&m, efd);
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	/* extra fds on a message that takes none */
	efd2 = eventfd(0, EFD_CLOEXEC);
	vu_msg_init(&m, VU_SET_OWNER, 0, 0);
	vu_msg_add_fd(&m, efd);
	vu_msg_add_fd(&m, efd2);
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	/* SET_MEM_TABLE with fewer fds than regions */
	vut_mem_table_msg(&t->fe, &m);
	close(m.fds[0]);
	m.nfds = 0;
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	close(efd);
	close(efd2);
	/* everything the back-end received was closed */
	assert_int_equal(test_count_fds(), before);
	assert_false(vu_dev_broken(t->dev));
}

static void test_too_many_fds_breaks(void **state)
{
	struct tdev *t = *state;
	char cbuf[CMSG_SPACE(sizeof(int) * 12)];
	struct vu_hdr h = { VU_SET_OWNER, VU_VERSION, 0 };
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int fds[12], i, before = test_count_fds();

	for (i = 0; i < 12; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	assert_int_equal(sendmsg(t->fe.sock, &mh, 0), (ssize_t)sizeof(h));
	for (i = 0; i < 12; i++)
		close(fds[i]);
	assert_true(vu_dev_process(t->dev) < 0);
	assert_true(vu_dev_broken(t->dev));
	assert_int_equal(test_count_fds(), before);
	/* after a broken peer: a new front-end is served */
	t_disconnect(t);
	t_connect(t);
	assert_int_equal(vut_qemu_vsock_start(&t->fe, CID), 0);
}

static void test_framing_errors(void **state)
{
	struct tdev *t = *state;
	struct vu_hdr h = { VU_SET_FEATURES, VU_VERSION, 8 };
	struct vu_msg m;
	int efd;

	/* truncated header, then the peer goes away */
	assert_int_equal(write(t->fe.sock, &h, 5), 5);
	shutdown(t->fe.sock, SHUT_WR);
	assert_int_equal(vu_dev_process(t->dev), -EPROTO);
	assert_true(vu_dev_broken(t->dev));
	/* messages after that are refused, fds closed */
	efd = eventfd(0, EFD_CLOEXEC);
	vu_msg_init(&m, VU_SET_VRING_CALL, 0, 8);
	vu_msg_add_fd(&m, dup(efd));
	assert_int_equal(vu_dev_dispatch(t->dev, &m), -EPIPE);
	assert_int_equal(m.nfds, 0);
	close(efd);

	/* oversized size */
	t_disconnect(t);
	t_connect(t);
	h.size = VU_MAX_PAYLOAD + 1;
	assert_int_equal(write(t->fe.sock, &h, sizeof(h)), (ssize_t)sizeof(h));
	assert_int_equal(vu_dev_process(t->dev), -EMSGSIZE);

	/* a payload that stalls: dropped after the timeout, not hung */
	t_disconnect(t);
	t_connect(t);
	h.size = 8;
	assert_int_equal(write(t->fe.sock, &h, sizeof(h)), (ssize_t)sizeof(h));
	assert_int_equal(vu_dev_process(t->dev), -ETIMEDOUT);

	/* bad version */
	t_disconnect(t);
	t_connect(t);
	h.flags = 3;
	h.size = 0;
	assert_int_equal(write(t->fe.sock, &h, sizeof(h)), (ssize_t)sizeof(h));
	assert_int_equal(vu_dev_process(t->dev), -EPROTO);

	/* clean EOF */
	t_disconnect(t);
	t_connect(t);
	close(t->fe.sock);
	t->fe.sock = -1;
	assert_int_equal(vu_dev_process(t->dev), -ECONNRESET);
}

static int t_mem_table(struct tdev *t, const struct vu_mem_region_xen *r, unsigned int n,
		       const int *fds)
{
	struct vu_msg m;
	unsigned int i;

	vu_msg_init(&m, VU_SET_MEM_TABLE, 0, 0);
	for (i = 0; i < n; i++) {
		vu_msg_set_mem_region(&m, t->fe.pf, i, &r[i]);
		vu_msg_add_fd(&m, fds[i]);
	}
	return vut_ack(&t->fe, &m);
}

static void test_bad_memory(void **state)
{
	struct tdev *t = *state;
	struct vu_mem_region_xen r[2] = {
		{ .r = { VUT_GPA, VUT_MEM_SIZE, VUT_UVA, 0 } },
		{ .r = { VUT_GPA, VUT_MEM_SIZE, VUT_UVA, 0 } },
	};
	int fds[2], before, p[2];

	t_negotiate(t);
	before = test_count_fds();
	/* overlapping */
	r[1].r.guest_addr = VUT_GPA + 4096;
	r[1].r.user_addr = VUT_UVA + 0x10000000;
	fds[0] = t->fe.memfd;
	fds[1] = t->fe.memfd;
	assert_int_equal(t_mem_table(t, r, 2, fds), 1);
	/* zero size */
	r[0].r.size = 0;
	assert_int_equal(t_mem_table(t, r, 1, fds), 1);
	/* overflowing gpa + size */
	r[0].r.size = VUT_MEM_SIZE;
	r[0].r.guest_addr = UINT64_MAX - 4095;
	assert_int_equal(t_mem_table(t, r, 1, fds), 1);
	/* past the end of its file */
	r[0].r.guest_addr = VUT_GPA;
	r[0].r.size = 2 * VUT_MEM_SIZE;
	assert_int_equal(t_mem_table(t, r, 1, fds), 1);
	r[0].r.size = VUT_MEM_SIZE;
	r[0].r.mmap_offset = 4096;
	assert_int_equal(t_mem_table(t, r, 1, fds), 1);
	/* an fd that cannot be mapped */
	r[0].r.mmap_offset = 0;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(t_mem_table(t, r, 1, &p[0]), 1);
	close(p[0]);
	close(p[1]);
	assert_int_equal(test_count_fds(), before);
	assert_int_equal(t->mem_updates, 0);
	/* and a good one still works */
	assert_int_equal(t_mem_table(t, r, 1, fds), 0);
	assert_int_equal(t->mem_updates, 1);
	assert_false(vu_dev_broken(t->dev));
}

/*
 * A block device as guest RAM, the region reaching past its end: refused
 * (non-zero REPLY_ACK) for SET_MEM_TABLE and ADD_MEM_REG alike, the fd the
 * back-end received closed, and the device serves on.  Needs a loop device
 * (root): skipped without one.
 */
static void test_block_device_memory(void **state)
{
	struct tdev *t = *state;
	struct vu_mem_region_xen r = { .r = { VUT_GPA, VUT_MEM_SIZE, VUT_UVA, 0 } };
	struct vu_msg m;
	int before, blk, half;

	half = memfd_create("vu-blk", MFD_CLOEXEC);
	assert_true(half >= 0);
	assert_int_equal(ftruncate(half, VUT_MEM_SIZE / 2), 0);
	blk = test_loop_attach(half);
	if (blk < 0) {
		print_message("# SKIP no loop device here: %s\n", strerror(-blk));
		close(half);
		return;
	}
	t_negotiate(t);
	before = test_count_fds();
	assert_int_equal(t_mem_table(t, &r, 1, &blk), 1);
	vu_msg_init(&m, VU_ADD_MEM_REG, 0, 0);
	vu_msg_set_single_region(&m, t->fe.pf, &r);
	vu_msg_add_fd(&m, blk);
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	assert_int_equal(test_count_fds(), before);
	assert_int_equal(t->mem_updates, 0);
	assert_false(vu_dev_broken(t->dev));
	/* what the device holds fits */
	r.r.size = VUT_MEM_SIZE / 2;
	assert_int_equal(t_mem_table(t, &r, 1, &blk), 0);
	assert_int_equal(t->mem_updates, 1);
	close(blk);
	close(half);
	/* and the front-end's real RAM replaces it */
	r.r.size = VUT_MEM_SIZE;
	assert_int_equal(t_mem_table(t, &r, 1, &t->fe.memfd), 0);
	assert_int_equal(t->mem_updates, 2);
	assert_false(vu_dev_broken(t->dev));
}

static void test_bad_rings(void **state)
{
	struct tdev *t = *state;
	struct vu_msg m;
	int ret;

	t_negotiate(t);
	vut_mem_table_msg(&t->fe, &m);
	ret = vut_ack(&t->fe, &m);
	close(m.fds[0]);
	assert_int_equal(ret, 0);
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_NUM, 0, 0), 1);
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_NUM, 0, 3), 1);
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_NUM, 0, 2048), 1);
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_NUM, 0, 65536), 1);
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_NUM, 2, 64), 1);
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_NUM, 0xffffffff, 64), 1);
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_BASE, 0, 0x10000), 1);
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_ENABLE, 5, 1), 1);
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_NUM, 0, 64), 0);
	/* addresses outside memory */
	vu_msg_init(&m, VU_SET_VRING_ADDR, 0, sizeof(struct vu_vring_addr));
	m.payload.addr.index = 0;
	m.payload.addr.desc = VUT_UVA + VUT_MEM_SIZE;
	m.payload.addr.avail = VUT_UVA;
	m.payload.addr.used = VUT_UVA + 0x1000;
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	m.payload.addr.desc = VUT_UVA + VUT_MEM_SIZE - 16;   /* straddles the end */
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	m.payload.addr.desc = 0;
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	m.payload.addr.index = 2;
	m.payload.addr.desc = VUT_UVA;
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	/* kick index out of range */
	vu_msg_init(&m, VU_SET_VRING_KICK, 0, 0);
	vu_msg_set_u64(&m, 7);
	vu_msg_add_fd(&m, t->fe.kick[0]);
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	/* nothing started, nothing broken */
	assert_false(vu_dev_queue_started(t->dev, 0));
	assert_int_equal(t->started[0] + t->started[1], 0);
	assert_false(vu_dev_broken(t->dev));
	/* and the regular sequence still works on the same connection (the
	 * region is already there: replace the table rather than add to it) */
	t->fe.use_set_mem_table = true;
	assert_int_equal(vut_qemu_vsock_start(&t->fe, CID), 0);
	assert_true(vu_dev_queue_started(t->dev, 0));
	/* bad addresses for a running ring: refused, the ring keeps working */
	vu_msg_init(&m, VU_SET_VRING_ADDR, 0, sizeof(struct vu_vring_addr));
	m.payload.addr.index = 1;
	m.payload.addr.desc = VUT_UVA + VUT_MEM_SIZE;
	m.payload.addr.avail = VUT_UVA;
	m.payload.addr.used = VUT_UVA + 0x1000;
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	assert_true(vu_dev_queue_started(t->dev, 1));
	{
		char *buf = vut_alloc(&t->fe, 64);

		assert_int_equal(vut_add_out(&t->fe, 1, buf, 8), 0);
		assert_int_equal(t_drain(t, 1), 1);
	}
}

static void test_mem_update_running(void **state)
{
	struct tdev *t = *state;
	struct vu_msg m;
	struct vu_mem_region_xen r = { .r = { VUT_GPA, VUT_MEM_SIZE, VUT_UVA, 0 } };
	char *buf;
	int ret;

	assert_int_equal(vut_qemu_vsock_start(&t->fe, CID), 0);
	/* a new table while running: rings re-resolved, traffic still flows */
	vut_mem_table_msg(&t->fe, &m);
	ret = vut_ack(&t->fe, &m);
	close(m.fds[0]);
	assert_int_equal(ret, 0);
	assert_true(vu_dev_queue_started(t->dev, 1));
	buf = vut_alloc(&t->fe, 64);
	assert_int_equal(vut_add_out(&t->fe, 1, buf, 8), 0);
	assert_int_equal(t_drain(t, 1), 1);
	/* remove the region: the rings no longer translate and stop */
	vu_msg_init(&m, VU_REM_MEM_REG, 0, 0);
	vu_msg_set_single_region(&m, t->fe.pf, &r);
	assert_int_equal(vut_ack(&t->fe, &m), 0);
	assert_false(vu_dev_queue_started(t->dev, 1));
	/* add it back: they run again */
	vu_msg_init(&m, VU_ADD_MEM_REG, 0, 0);
	vu_msg_set_single_region(&m, t->fe.pf, &r);
	vu_msg_add_fd(&m, t->fe.memfd);
	assert_int_equal(vut_ack(&t->fe, &m), 0);
	assert_true(vu_dev_queue_started(t->dev, 1));
	/* max slots */
	{
		uint64_t n;

		assert_int_equal(vut_get_u64(&t->fe, VU_GET_MAX_MEM_SLOTS, &n), 0);
		assert_int_equal(n, 509);
	}
}

static void test_reset_device(void **state)
{
	struct tdev *t = *state;
	struct vu_msg m;

	assert_int_equal(vut_qemu_vsock_start(&t->fe, CID), 0);
	vu_msg_init(&m, VU_RESET_DEVICE, 0, 0);
	assert_int_equal(vut_ack(&t->fe, &m), 0);
	assert_false(vu_dev_queue_started(t->dev, 0));
	assert_int_equal(t->stopped[0], 1);
	assert_int_equal(t->resets, 1);
	/* status */
	assert_int_equal(vut_set_u64_ack(&t->fe, VU_SET_STATUS, 0xf), 0);
	{
		uint64_t s;

		assert_int_equal(vut_get_u64(&t->fe, VU_GET_STATUS, &s), 0);
		assert_int_equal(s, 0xf);
	}
	assert_int_equal(vut_set_u64_ack(&t->fe, VU_SET_STATUS, 0x100), 1);
	/* a reset device has status 0 (QEMU adds DRIVER_OK only to bits it reads as clear) */
	vu_msg_init(&m, VU_RESET_DEVICE, 0, 0);
	assert_int_equal(vut_ack(&t->fe, &m), 0);
	{
		uint64_t s;

		assert_int_equal(vut_get_u64(&t->fe, VU_GET_STATUS, &s), 0);
		assert_int_equal(s, 0);
	}
	assert_int_equal(vu_dev_status(t->dev), 0);
}

static void test_backend_channel(void **state)
{
	struct tdev *t = *state;
	struct vu_msg m, r;
	struct vu_msg_ctx ctx = { .dir = VU_DIR_BACKEND_REQUEST, .num_queues = VUT_NQ };

	assert_int_equal(vu_dev_backend_config_changed(t->dev, false), -ENOTSUP);
	assert_int_equal(vut_qemu_vsock_start(&t->fe, CID), 0);
	assert_int_equal(vu_dev_backend_config_changed(t->dev, false), 0);
	assert_int_equal(vu_msg_read(t->fe.backend_sock[0], &m, 1000, -1), 0);
	assert_int_equal(vu_msg_validate(&m, &ctx), 0);
	assert_int_equal(m.hdr.request, VU_BACKEND_CONFIG_CHANGE_MSG);
	assert_false(m.hdr.flags & VU_FLAG_NEED_REPLY);
	/* with a reply requested: the front-end's answer is read (queued first here) */
	vu_msg_init(&r, VU_BACKEND_CONFIG_CHANGE_MSG, VU_FLAG_REPLY, 0);
	vu_msg_set_u64(&r, 0);
	assert_int_equal(vu_msg_send(t->fe.backend_sock[0], &r), 0);
	assert_int_equal(vu_dev_backend_config_changed(t->dev, true), 0);
	assert_int_equal(vu_msg_read(t->fe.backend_sock[0], &m, 1000, -1), 0);
	assert_true(m.hdr.flags & VU_FLAG_NEED_REPLY);
	vu_msg_set_u64(&r, 5);
	assert_int_equal(vu_msg_send(t->fe.backend_sock[0], &r), 0);
	assert_int_equal(vu_dev_backend_config_changed(t->dev, true), -EIO);
	assert_int_equal(vu_msg_read(t->fe.backend_sock[0], &m, 1000, -1), 0);
	/* in-band call needs INBAND_NOTIFICATIONS */
	assert_int_equal(vu_dev_backend_vring_call(t->dev, 0), -ENOTSUP);
}

/*
 * A front-end that does not answer in time: its late answer must not be
 * taken for the answer to the next request.  The channel is closed.
 */
static void test_backend_channel_late_reply(void **state)
{
	struct tdev *t = *state;
	struct vu_msg m, r;
	int ret;

	assert_int_equal(vut_qemu_vsock_start(&t->fe, CID), 0);
	assert_int_equal(vu_dev_backend_config_changed(t->dev, true), -ETIMEDOUT);
	assert_int_equal(vu_msg_read(t->fe.backend_sock[0], &m, 1000, -1), 0);
	assert_true(m.hdr.flags & VU_FLAG_NEED_REPLY);
	/* the late answer says "failed" */
	vu_msg_init(&r, VU_BACKEND_CONFIG_CHANGE_MSG, VU_FLAG_REPLY, 0);
	vu_msg_set_u64(&r, 5);
	vu_msg_send(t->fe.backend_sock[0], &r);
	ret = vu_dev_backend_config_changed(t->dev, true);
	assert_int_equal(ret, -ENOTCONN);
	/* the front-end sees its end of the channel closed */
	assert_int_equal(vu_msg_read(t->fe.backend_sock[0], &m, 1000, -1), -ECONNRESET);
	assert_false(vu_dev_broken(t->dev));
}

/*
 * A front-end that never reads its back-end channel: once the socket is
 * full, a send waits for room up to the message timeout.  The exit event
 * (the cancel fd the daemon sets) ends that wait at once, as it ends the
 * waits on the main socket, so stopping the daemon does not wait it out.
 */
static void test_backend_channel_cancel(void **state)
{
	struct tdev *t = *state;
	int efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK), ret = 0, i;

	assert_true(efd >= 0);
	assert_int_equal(vut_qemu_vsock_start(&t->fe, CID), 0);
	vu_dev_set_cancel_fd(t->dev, efd);
	/* the exit event is already set: sends go on while there is room */
	for (i = 0; i < 100000 && !ret; i++)
		ret = vu_dev_backend_config_changed(t->dev, false);
	assert_true(i > 1);
	/* full: given up at once (the 200 ms timeout would say -ETIMEDOUT) */
	assert_int_equal(ret, -ECANCELED);
	/* out of step: the channel was closed */
	assert_int_equal(vu_dev_backend_config_changed(t->dev, false), -ENOTCONN);
	vu_dev_set_cancel_fd(t->dev, -1);
	close(efd);
}

static void test_dirty_log(void **state)
{
	struct tdev *t = *state;
	struct vu_msg m, r;
	int logfd = memfd_create("log", MFD_CLOEXEC);
	uint8_t *bitmap;
	uint64_t log_size = (VUT_GPA + VUT_MEM_SIZE) / 4096 / 8;
	struct vq *vq;
	struct vq_elem *e = malloc(sizeof(*e));
	struct gmem_table *mem;
	char *buf;
	struct iovec iov;

	assert_int_equal(ftruncate(logfd, (off_t)log_size), 0);
	bitmap = mmap(NULL, log_size, PROT_READ | PROT_WRITE, MAP_SHARED, logfd, 0);
	assert_int_equal(vut_qemu_vsock_start(&t->fe, CID), 0);
	assert_true(t->fe.pf & (1ull << VU_PF_LOG_SHMFD));
	/* migration starts: LOG_ALL, then the log */
	vu_msg_init(&m, VU_SET_FEATURES, 0, 0);
	vu_msg_set_u64(&m, t->fe.features | (1ull << VHOST_F_LOG_ALL));
	assert_int_equal(vut_send(&t->fe, &m), 0);
	vu_msg_init(&m, VU_SET_LOG_BASE, 0, sizeof(struct vu_log));
	m.payload.log.mmap_size = log_size;
	m.payload.log.mmap_offset = 0;
	vu_msg_add_fd(&m, logfd);
	assert_int_equal(vut_send(&t->fe, &m), 0);
	assert_int_equal(vut_recv_reply(&t->fe, VU_SET_LOG_BASE, true, &r), 0);
	assert_int_equal(r.payload.u64, 0);
	vq = vu_dev_vq(t->dev, 0);
	assert_non_null(vq->log);
	/* the device writes into a guest buffer: its page is dirty */
	buf = vut_alloc(&t->fe, 4096);
	iov.iov_base = buf;
	iov.iov_len = 64;
	assert_int_equal(vqdrv_add(&t->fe.drv[0], NULL, 0, &iov, 1, buf), 0);
	vqdrv_kick_prepare(&t->fe.drv[0]);
	mem = gmem_get(vu_dev_gmem(t->dev));
	assert_int_equal(vq_pop(vq, mem, e), 1);
	vq_push(vq, e, 64);
	vq_flush(vq);
	gmem_put(mem);
	{
		uint64_t page = (VUT_GPA + (uint64_t)(buf - (char *)t->fe.mem)) / 4096;

		assert_true(bitmap[page / 8] & (1u << (page % 8)));
	}
	/* a log file shorter than the bitmap it is said to hold */
	vu_msg_init(&m, VU_SET_LOG_BASE, 0, sizeof(struct vu_log));
	m.payload.log.mmap_size = log_size + 4096;
	vu_msg_add_fd(&m, logfd);
	assert_int_equal(vut_send(&t->fe, &m), 0);
	assert_int_equal(vut_recv_reply(&t->fe, VU_SET_LOG_BASE, true, &r), 0);
	assert_int_not_equal(r.payload.u64, 0);
	/* a bad log */
	vu_msg_init(&m, VU_SET_LOG_BASE, 0, sizeof(struct vu_log));
	m.payload.log.mmap_size = 0;
	vu_msg_add_fd(&m, logfd);
	assert_int_equal(vut_send(&t->fe, &m), 0);
	assert_int_equal(vut_recv_reply(&t->fe, VU_SET_LOG_BASE, true, &r), 0);
	assert_int_not_equal(r.payload.u64, 0);
	munmap(bitmap, log_size);
	close(logfd);
	free(e);
}

static void test_inflight(void **state)
{
	struct tdev *t = *state;
	struct vu_msg m, r;
	int fd;

	t_negotiate(t);
	assert_true(t->fe.pf & (1ull << VU_PF_INFLIGHT_SHMFD));
	vu_msg_init(&m, VU_GET_INFLIGHT_FD, 0, sizeof(struct vu_inflight));
	m.payload.inflight.num_queues = VUT_NQ;
	m.payload.inflight.queue_size = VUT_QSIZE;
	assert_int_equal(vut_send(&t->fe, &m), 0);
	assert_int_equal(vut_recv_reply(&t->fe, VU_GET_INFLIGHT_FD, true, &r), 0);
	assert_int_equal(r.nfds, 1);
	assert_true(r.payload.inflight.mmap_size >= VUT_NQ * (16 + 16 * VUT_QSIZE));
	fd = r.fds[0];
	/* give it back, as QEMU does before starting */
	vu_msg_init(&m, VU_SET_INFLIGHT_FD, 0, sizeof(struct vu_inflight));
	m.payload.inflight = r.payload.inflight;
	vu_msg_add_fd(&m, fd);
	assert_int_equal(vut_ack(&t->fe, &m), 0);
	/* bad sizes */
	m.payload.inflight.mmap_size = 16;
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	m.payload.inflight = r.payload.inflight;
	m.payload.inflight.queue_size = 3;
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	/* a file shorter than the area it claims (found by fuzz_vu_msg: SIGBUS at start) */
	{
		int small = memfd_create("short-inflight", MFD_CLOEXEC);

		assert_true(small >= 0);
		assert_int_equal(ftruncate(small, 4096), 0);
		vu_msg_init(&m, VU_SET_INFLIGHT_FD, 0, sizeof(struct vu_inflight));
		m.payload.inflight = r.payload.inflight;
		m.payload.inflight.mmap_offset = 4096;
		vu_msg_add_fd(&m, small);
		assert_int_equal(vut_ack(&t->fe, &m), 1);
		close(small);
	}
	/* the good area again: the device starts with it */
	vu_msg_init(&m, VU_SET_INFLIGHT_FD, 0, sizeof(struct vu_inflight));
	m.payload.inflight = r.payload.inflight;
	vu_msg_add_fd(&m, fd);
	assert_int_equal(vut_ack(&t->fe, &m), 0);
	close(fd);
	assert_int_equal(vut_qemu_vsock_start(&t->fe, CID), 0);
	assert_non_null(vu_dev_vq(t->dev, 0)->inflight);
}

static void test_xen_mmap_layout(void **state)
{
	struct tdev *t = *state;
	struct vu_msg m;
	uint64_t pf;
	struct vu_mem_region_xen r = { .r = { VUT_GPA, VUT_MEM_SIZE, VUT_UVA, 0 } };

	assert_int_equal(vut_get_u64(&t->fe, VU_GET_PROTOCOL_FEATURES, &pf), 0);
#ifdef VK_XEN
	assert_true(pf & (1ull << VU_PF_XEN_MMAP));
	t->fe.pf = pf & ~(1ull << VU_PF_INBAND_NOTIFICATIONS);
	vu_msg_init(&m, VU_SET_PROTOCOL_FEATURES, 0, 0);
	vu_msg_set_u64(&m, t->fe.pf);
	assert_int_equal(vut_send(&t->fe, &m), 0);
	assert_int_equal(vu_dev_protocol_features(t->dev), t->fe.pf);
	/* 32-byte regions no longer parse */
	vu_msg_init(&m, VU_SET_MEM_TABLE, 0, 0);
	vu_msg_set_mem_region(&m, 0, 0, &r);
	vu_msg_add_fd(&m, t->fe.memfd);
	assert_int_equal(vut_ack(&t->fe, &m), 1);
	/* 40-byte regions with xen flags 0 are plain mmap */
	vu_msg_init(&m, VU_SET_MEM_TABLE, 0, 0);
	vu_msg_set_mem_region(&m, t->fe.pf, 0, &r);
	vu_msg_add_fd(&m, t->fe.memfd);
	assert_int_equal(m.hdr.size, 8 + 40);
	assert_int_equal(vut_ack(&t->fe, &m), 0);
	assert_int_equal(t->mem_updates, 1);
	/* and the whole start works with that layout (ADD_MEM_REG: 48 bytes) */
	t->fe.use_set_mem_table = false;
	vu_msg_init(&m, VU_REM_MEM_REG, 0, 0);
	vu_msg_set_single_region(&m, t->fe.pf, &r);
	assert_int_equal(m.hdr.size, 48);
	assert_int_equal(vut_ack(&t->fe, &m), 0);
#else
	/* not offered without --enable-xen: asking for it is refused */
	assert_false(pf & (1ull << VU_PF_XEN_MMAP));
	t->fe.pf = pf | (1ull << VU_PF_REPLY_ACK);
	vu_msg_init(&m, VU_SET_PROTOCOL_FEATURES, 0, 0);
	vu_msg_set_u64(&m, pf | (1ull << VU_PF_XEN_MMAP));
	assert_int_equal(vut_send(&t->fe, &m), 0);
	assert_int_equal(vu_dev_protocol_features(t->dev), 0);
	(void)r;
#endif
}

static int kicks[VUT_NQ];
static void t_kick(void *o, unsigned int q) { kicks[q]++; }

static void test_inband_notifications(void **state)
{
	struct tdev *t = *state;
	struct vu_dev_ops ops = t_ops;
	struct vu_dev_config cfg = {
		.num_queues = VUT_NQ, .max_queue_size = 1024, .name = "inband",
		.features = 1ull << VIRTIO_F_VERSION_1, .msg_timeout_ms = 200,
		.protocol_features = VU_DEV_PROTOCOL_FEATURES | VU_DEV_PROTOCOL_FEATURES_OPTIONAL,
	};
	const uint64_t need = (1ull << VU_PF_INBAND_NOTIFICATIONS) | (1ull << VU_PF_BACKEND_REQ) |
			      (1ull << VU_PF_REPLY_ACK);
	struct vu_msg m, r;
	uint64_t pf;
	char *buf;
	unsigned int i;
	int ret;

	/* replace the device by one that offers in-band notifications */
	t_disconnect(t);
	vu_dev_free(t->dev);
	ops.kick = t_kick;
	t->dev = vu_dev_new(&cfg, &ops, t);
	t_connect(t);
	assert_int_equal(vut_get_u64(&t->fe, VU_GET_PROTOCOL_FEATURES, &pf), 0);
	assert_true((pf & need) == need);

	/* INBAND without BACKEND_REQ: the spec says close */
	vu_msg_init(&m, VU_SET_PROTOCOL_FEATURES, 0, 0);
	vu_msg_set_u64(&m, (1ull << VU_PF_INBAND_NOTIFICATIONS) | (1ull << VU_PF_REPLY_ACK));
	assert_int_equal(vut_send(&t->fe, &m), 0);
	assert_true(t->proc_ret < 0);
	assert_true(vu_dev_broken(t->dev));
	t_disconnect(t);
	t_connect(t);

	/* properly negotiated: no kick/call fds at all */
	t->fe.pf = need | (1ull << VU_PF_MQ);
	vu_msg_init(&m, VU_SET_PROTOCOL_FEATURES, 0, 0);
	vu_msg_set_u64(&m, t->fe.pf);
	assert_int_equal(vut_send(&t->fe, &m), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t->fe.backend_sock), 0);
	vu_msg_init(&m, VU_SET_BACKEND_REQ_FD, 0, 0);
	vu_msg_add_fd(&m, t->fe.backend_sock[1]);
	assert_int_equal(vut_ack(&t->fe, &m), 0);
	assert_int_equal(vut_set_u64_ack(&t->fe, VU_SET_FEATURES, (1ull << VIRTIO_F_VERSION_1) |
					 (1ull << VHOST_USER_F_PROTOCOL_FEATURES)), 0);
	vut_mem_table_msg(&t->fe, &m);
	ret = vut_ack(&t->fe, &m);
	close(m.fds[0]);
	assert_int_equal(ret, 0);
	i = 1;
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_NUM, i, VUT_QSIZE), 0);
	vu_msg_init(&m, VU_SET_VRING_ADDR, 0, sizeof(struct vu_vring_addr));
	m.payload.addr.index = i;
	m.payload.addr.desc = t->fe.drv[i].desc_gpa - VUT_GPA + VUT_UVA;
	m.payload.addr.avail = t->fe.drv[i].avail_gpa - VUT_GPA + VUT_UVA;
	m.payload.addr.used = t->fe.drv[i].used_gpa - VUT_GPA + VUT_UVA;
	assert_int_equal(vut_ack(&t->fe, &m), 0);
	vu_msg_init(&m, VU_SET_VRING_CALL, 0, 0);
	vu_msg_set_u64(&m, i | VU_VRING_NOFD_MASK);
	assert_int_equal(vut_ack(&t->fe, &m), 0);
	assert_int_equal(vut_state_ack(&t->fe, VU_SET_VRING_ENABLE, i, 1), 0);
	assert_false(vu_dev_queue_started(t->dev, i));
	/* the in-band kick starts the ring and reaches the device */
	buf = vut_alloc(&t->fe, 64);
	{
		struct iovec iov = { buf, 8 };

		assert_int_equal(vqdrv_add(&t->fe.drv[i], &iov, 1, NULL, 0, buf), 0);
		vqdrv_kick_prepare(&t->fe.drv[i]);
	}
	assert_int_equal(vut_state_ack(&t->fe, VU_VRING_KICK, i, 0), 0);
	assert_true(vu_dev_queue_started(t->dev, i));
	assert_int_equal(kicks[i], 1);
	/* the call goes through the back-end channel (its ack queued first) */
	vu_msg_init(&r, VU_BACKEND_VRING_CALL, VU_FLAG_REPLY, 0);
	vu_msg_set_u64(&r, 0);
	assert_int_equal(vu_msg_send(t->fe.backend_sock[0], &r), 0);
	assert_int_equal(t_drain(t, i), 1);
	assert_int_equal(vu_msg_read(t->fe.backend_sock[0], &m, 1000, -1), 0);
	assert_int_equal(m.hdr.request, VU_BACKEND_VRING_CALL);
	assert_int_equal(m.payload.state.index, i);
	assert_true(m.hdr.flags & VU_FLAG_NEED_REPLY);
}

/* A front-end that never negotiates F_PROTOCOL_FEATURES: rings start enabled. */
static void test_legacy_frontend(void **state)
{
	struct tdev *t = *state;
	struct vu_msg m;
	unsigned int i;
	int ret;

	assert_int_equal(vut_send(&t->fe, (vu_msg_init(&m, VU_SET_OWNER, 0, 0), &m)), 0);
	vu_msg_init(&m, VU_SET_FEATURES, 0, 0);
	vu_msg_set_u64(&m, 1ull << VIRTIO_F_VERSION_1);
	assert_int_equal(vut_send(&t->fe, &m), 0);
	vut_mem_table_msg(&t->fe, &m);
	ret = vut_send(&t->fe, &m);
	close(m.fds[0]);
	assert_int_equal(ret, 0);
	assert_int_equal(t->mem_updates, 1);
	for (i = 0; i < VUT_NQ; i++) {
		vu_msg_init(&m, VU_SET_VRING_NUM, 0, 8);
		m.payload.state.index = i;
		m.payload.state.num = VUT_QSIZE;
		assert_int_equal(vut_send(&t->fe, &m), 0);
		vu_msg_init(&m, VU_SET_VRING_ADDR, 0, sizeof(struct vu_vring_addr));
		m.payload.addr.index = i;
		m.payload.addr.desc = t->fe.drv[i].desc_gpa - VUT_GPA + VUT_UVA;
		m.payload.addr.avail = t->fe.drv[i].avail_gpa - VUT_GPA + VUT_UVA;
		m.payload.addr.used = t->fe.drv[i].used_gpa - VUT_GPA + VUT_UVA;
		assert_int_equal(vut_send(&t->fe, &m), 0);
		vu_msg_init(&m, VU_SET_VRING_KICK, 0, 0);
		vu_msg_set_u64(&m, i);
		vu_msg_add_fd(&m, t->fe.kick[i]);
		assert_int_equal(vut_send(&t->fe, &m), 0);
		assert_true(vu_dev_queue_started(t->dev, i));
	}
	/* need_reply without REPLY_ACK negotiated: no reply is sent */
	vu_msg_init(&m, VU_SET_OWNER, VU_FLAG_NEED_REPLY, 0);
	assert_int_equal(vut_send(&t->fe, &m), 0);
	{
		struct vu_msg r;

		assert_int_equal(vu_msg_read(t->fe.sock, &r, 0, -1), -ETIMEDOUT);
	}
	assert_int_equal(t->proc_ret, 0);
}

static void test_no_fd_leak(void **state)
{
	struct tdev *t = *state;
	uint16_t base[VUT_NQ];
	int before, i;

	t_disconnect(t);
	before = test_count_fds();
	for (i = 0; i < 200; i++) {
		t_connect(t);
		assert_int_equal(vut_qemu_vsock_start(&t->fe, CID), 0);
		if (i & 1)
			assert_int_equal(vut_stop(&t->fe, base), 0);
		t_disconnect(t);
	}
	assert_int_equal(test_count_fds(), before);
	t_connect(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_qemu_vsock_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_base, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_bad_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_fds_breaks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_framing_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_device_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_update_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_channel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_channel_late_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_channel_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xen_mmap_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inband_notifications, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_frontend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_fd_leak, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
