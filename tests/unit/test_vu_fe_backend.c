// SPDX-License-Identifier: MIT
/*
 * test_vu_fe_backend.c - the front-end (vu_fe) against the real back-end
 * library: vu_dev in a thread over a socketpair, and the daemon framework
 * (vd_dev) in a forked process on a Unix socket.  Buffers go through the
 * driver side (vqdrv) to a trivial device that flips the case of every
 * byte and back; GET_VRING_BASE, reconnect after the back-end process is
 * killed, and the back-end channel.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/daemon.h"
#include "vhost-user/vu_backend.h"
#include "vhost-user/vhost_fe.h"
#include "vhost-user/vu_frontend.h"
#include "virtqueue/virtqueue.h"
#include "vu_fe_mock.h"
#include "../common/fd_count.h"

#define NQ 2
#define QSIZE 64
#define GPA 0x200000ull
#define MEMSZ (2u << 20)
#define CID 77

#define F_V1 (1ull << VIRTIO_F_VERSION_1)
#define F_EVIDX (1ull << VIRTIO_RING_F_EVENT_IDX)
#define WANT_PF ((1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) | \
		 (1ull << VU_PF_BACKEND_REQ) | (1ull << VU_PF_STATUS) | \
		 (1ull << VU_PF_CONFIGURE_MEM_SLOTS) | (1ull << VU_PF_RESET_DEVICE) | \
		 (1ull << VU_PF_INFLIGHT_SHMFD))

/* ------------------------------------------------ the trivial device */

/* Pop every chain of @vq, write the readable bytes case-flipped into the writable ones. */
static unsigned int flip_queue(struct vq *vq, const struct gmem_table *mem)
{
	struct vq_elem *e = malloc(sizeof(*e));
	unsigned int n = 0;
	uint8_t tmp[4096];

	while (e && vq_pop(vq, mem, e) == 1) {
		size_t len = vq_iov_to_buf(e->iov, e->out_num, 0, tmp, sizeof(tmp)), i;

		for (i = 0; i < len; i++)
			tmp[i] ^= 0x20;
		len = vq_buf_to_iov(e->iov + e->out_num, e->in_num, 0, tmp, len);
		vq_push(vq, e, (uint32_t)len);
		n++;
	}
	vq_flush(vq);
	free(e);
	return n;
}

static int dev_get_config(void *opaque, uint8_t *buf, uint32_t off, uint32_t len)
{
	uint8_t cfg[8] = { CID };

	if (off + len > sizeof(cfg))
		return -EINVAL;
	memcpy(buf, cfg + off, len);
	return 0;
}

/* -------------------------------------------- vu_dev in a thread */

struct tbe {
	struct vu_dev *dev;
	int wake;               /* eventfd: stop or send CONFIG_CHANGE */
	volatile int stop;
	volatile int send_config_change;
	int config_change_result;
	unsigned int flipped;
	pthread_t thread;
};

static const struct vu_dev_ops tbe_ops = {
	.get_config = dev_get_config,
};

static void *tbe_thread(void *arg)
{
	struct tbe *b = arg;

	while (!b->stop) {
		struct pollfd p[2 + NQ];
		unsigned int n = 0, q;
		uint64_t v;

		p[n++] = (struct pollfd){ .fd = vu_dev_socket(b->dev), .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = b->wake, .events = POLLIN };
		for (q = 0; q < NQ; q++)
			p[n++] = (struct pollfd){ .fd = vu_dev_queue_started(b->dev, q) ?
						   vu_dev_kick_fd(b->dev, q) : -1, .events = POLLIN };
		if (poll(p, n, 5000) <= 0)
			continue;
		if (p[1].revents) {
			(void)!read(b->wake, &v, 8);
			if (b->send_config_change) {
				b->send_config_change = 0;
				b->config_change_result = vu_dev_backend_config_changed(b->dev, true);
			}
		}
		for (q = 0; q < NQ; q++) {
			if (p[2 + q].fd >= 0 && p[2 + q].revents) {
				struct gmem_table *t = gmem_get(vu_dev_gmem(b->dev));

				(void)!read(p[2 + q].fd, &v, 8);
				b->flipped += flip_queue(vu_dev_vq(b->dev, q), t);
				gmem_put(t);
				vu_dev_notify(b->dev, q);
			}
		}
		if (p[0].revents && vu_dev_process(b->dev) < 0)
			break;
	}
	return NULL;
}

static void tbe_start(struct tbe *b, int sock)
{
	struct vu_dev_config cfg = {
		.num_queues = NQ, .max_queue_size = 1024, .features = F_V1 | F_EVIDX, .name = "tbe",
	};

	memset(b, 0, sizeof(*b));
	b->dev = vu_dev_new(&cfg, &tbe_ops, b);
	assert_non_null(b->dev);
	b->wake = eventfd(0, EFD_CLOEXEC);
	vu_dev_attach(b->dev, sock);
	assert_int_equal(pthread_create(&b->thread, NULL, tbe_thread, b), 0);
}

static void tbe_stop(struct tbe *b)
{
	uint64_t one = 1;

	b->stop = 1;
	(void)!write(b->wake, &one, 8);
	pthread_join(b->thread, NULL);
	vu_dev_free(b->dev);
	close(b->wake);
}

/* ---------------------------------------------- the driver side */

struct guest {
	struct vu_fe_guest_mem gm;
	struct vqdrv_mem dm;
	struct vqdrv drv[NQ];
	uint8_t *bufs;          /* 2 x 256 bytes per request */
};

static void guest_init(struct guest *g)
{
	unsigned int q;

	vu_fe_guest_mem_init(&g->gm);
	assert_int_equal(vu_fe_guest_mem_add(&g->gm, GPA, MEMSZ), 0);
	g->dm.host = g->gm.r[0].host;
	g->dm.gpa = GPA;
	g->dm.size = MEMSZ;
	for (q = 0; q < NQ; q++)
		assert_int_equal(vqdrv_init(&g->drv[q], &g->dm, QSIZE, GPA + q * 0x4000ull, true), 0);
	g->bufs = g->dm.host + 0x10000;
}

static void guest_free(struct guest *g)
{
	unsigned int q;

	for (q = 0; q < NQ; q++)
		vqdrv_cleanup(&g->drv[q]);
	vu_fe_guest_mem_free(&g->gm);
}

static int fe_start_rings(struct vu_fe *fe, struct guest *g)
{
	unsigned int q;
	int err = 0;

	for (q = 0; q < NQ && !err; q++)
		err = vu_fe_ring_setup(fe, q, QSIZE, g->drv[q].desc_gpa, g->drv[q].avail_gpa,
				       g->drv[q].used_gpa, vqdrv_num_free(&g->drv[q]) == QSIZE ?
				       g->drv[q].avail_idx : g->drv[q].avail_idx);
	return err;
}

/* Send @n requests on queue @q and check every answer; returns the number answered. */
static unsigned int roundtrip(struct vu_fe *fe, struct guest *g, unsigned int q, unsigned int n,
			      unsigned int seq)
{
	struct vqdrv *d = &g->drv[q];
	unsigned int i, got = 0;
	uint64_t deadline;

	for (i = 0; i < n; i++) {
		uint8_t *out = g->bufs + (q * QSIZE + i) * 512, *in = out + 256;
		struct iovec o = { out, 100 }, in_iov = { in, 256 };

		snprintf((char *)out, 100, "message %u on queue %u", seq + i, q);
		memset(in, 0, 256);
		assert_int_equal(vqdrv_add(d, &o, 1, &in_iov, 1, out), 0);
	}
	if (vqdrv_kick_prepare(d))
		assert_int_equal(vu_fe_kick(fe, q), 0);
	deadline = (uint64_t)time(NULL) + 5;
	while (got < n && (uint64_t)time(NULL) <= deadline) {
		struct pollfd p = { .fd = vu_fe_call_fd(fe, q), .events = POLLIN };
		uint32_t len;
		uint8_t *tok;

		while ((tok = vqdrv_get_used(d, &len))) {
			char want[100];
			unsigned int k;

			snprintf(want, sizeof(want), "message %u on queue %u",
				 seq + (unsigned int)((tok - g->bufs) / 512 - q * QSIZE), q);
			assert_int_equal(len, 100);
			for (k = 0; k < strlen(want); k++)
				assert_int_equal(tok[256 + k], want[k] ^ 0x20);
			got++;
		}
		if (got < n && !vqdrv_enable_cb(d)) {
			poll(&p, 1, 200);
			vu_fe_call_clear(fe, q);
		}
	}
	return got;
}

/* ------------------------------------------------------------ tests */

/* A back-end thread on one end of a socket pair, a guest, and a front-end connected to it. */
static struct vu_fe *inproc_connect(struct tbe *b, struct guest *g)
{
	struct vu_fe *fe;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	tbe_start(b, sv[1]);
	guest_init(g);
	fe = vu_fe_new(NULL, NULL);
	assert_non_null(fe);
	assert_int_equal(vu_fe_connect_fd(fe, sv[0]), 0);
	return fe;
}

static void test_inprocess_sequence_and_data(void **state)
{
	struct tbe b;
	struct guest g;
	struct vu_fe *fe;
	uint8_t cfg[8], st = 0;
	uint16_t base;
	int before = test_count_fds();

	(void)state;
	fe = inproc_connect(&b, &g);
	/* what QEMU 7.2 sends at realize: features, protocol features, queue num, slots, owner, config */
	assert_int_equal(vu_fe_negotiate(fe, F_V1 | F_EVIDX, WANT_PF, NQ), 0);
	assert_true(vu_fe_features(fe) & F_EVIDX);
	assert_true(vu_fe_has_protocol_feature(fe, VU_PF_REPLY_ACK));
	assert_true(vu_fe_has_protocol_feature(fe, VU_PF_CONFIGURE_MEM_SLOTS));
	assert_true(vu_fe_backend_queue_num(fe) >= NQ);
	assert_true(vu_fe_max_mem_slots(fe) > 0);
	assert_int_equal(vu_fe_get_config(fe, 0, cfg, 8), 0);
	assert_int_equal(cfg[0], CID);
	/* a range the device refuses: the back-end's error answer (no payload) fails that call alone */
	assert_int_equal(vu_fe_get_config(fe, 4, cfg, 8), -EIO);
	assert_true(vu_fe_connected(fe));
	/* and at start: inflight, memory, rings, status */
	assert_int_equal(vu_fe_inflight_setup(fe, NQ, QSIZE), 0);
	assert_int_equal(vu_fe_set_guest_mem(fe, &g.gm), 0);
	assert_int_equal(fe_start_rings(fe, &g), 0);
	assert_int_equal(vu_fe_set_status(fe, 0x0f), 0);
	assert_int_equal(vu_fe_get_status(fe, &st), 0);
	assert_int_equal(st, 0x0f);

	assert_int_equal(roundtrip(fe, &g, 0, 10, 0), 10);
	assert_int_equal(roundtrip(fe, &g, 1, 30, 100), 30);
	assert_int_equal(b.flipped, 40);

	/* stop: GET_VRING_BASE gives what the device consumed */
	assert_int_equal(vu_fe_ring_stop(fe, 1, &base), 0);
	assert_int_equal(base, 30);
	/* restart from there; more buffers flow */
	assert_int_equal(vu_fe_ring_setup(fe, 1, QSIZE, g.drv[1].desc_gpa, g.drv[1].avail_gpa,
					  g.drv[1].used_gpa, base), 0);
	assert_int_equal(roundtrip(fe, &g, 1, 5, 200), 5);

	/* back-end channel: CONFIG_CHANGE_MSG with a reply asked */
	{
		uint64_t one = 1;
		struct pollfd p = { .fd = vu_fe_backend_fd(fe), .events = POLLIN };

		b.send_config_change = 1;
		(void)!write(b.wake, &one, 8);
		assert_int_equal(poll(&p, 1, 5000), 1);
		assert_int_equal(vu_fe_backend_channel_process(fe), 1);
		tbe_stop(&b);  /* joins: the back-end got its ack */
		assert_int_equal(b.config_change_result, 0);
	}
	vu_fe_free(fe);
	guest_free(&g);
	assert_int_equal(test_count_fds(), before);
}

/*
 * XEN_MMAP region layout (40-byte regions) end to end: offered only by
 * --enable-xen builds; a region with no Xen flags is a plain mmap there.
 * Without Xen the back-end must not offer it and the 32-byte layout is used.
 */
static void test_xen_layout(void **state)
{
	struct tbe b;
	struct guest g;
	struct vu_fe *fe;
	int before = test_count_fds();

	(void)state;
	fe = inproc_connect(&b, &g);
	assert_int_equal(vu_fe_negotiate(fe, F_V1 | F_EVIDX, WANT_PF | (1ull << VU_PF_XEN_MMAP), NQ), 0);
#ifdef VK_XEN
	assert_true(vu_fe_has_protocol_feature(fe, VU_PF_XEN_MMAP));
#else
	assert_false(vu_fe_has_protocol_feature(fe, VU_PF_XEN_MMAP));
#endif
	/* ADD_MEM_REG (mem slots) with whichever layout was negotiated, then data */
	assert_int_equal(vu_fe_set_guest_mem(fe, &g.gm), 0);
	assert_int_equal(fe_start_rings(fe, &g), 0);
	assert_int_equal(roundtrip(fe, &g, 0, 8, 0), 8);
	vu_fe_free(fe);
	tbe_stop(&b);
	guest_free(&g);
	assert_int_equal(test_count_fds(), before);
}

/* The transport-neutral interface (vhost_fe.h) over vhost-user. */
static void test_vhost_fe_user(void **state)
{
	struct tbe b;
	struct guest g;
	struct vu_fe_region r[VU_FE_GUEST_MEM_MAX];
	struct vhf *h;
	struct vu_fe *fe;
	uint8_t cfg[8];
	uint16_t base;
	unsigned int n, q;
	int before = test_count_fds();

	(void)state;
	fe = inproc_connect(&b, &g);
	h = vhf_new_user(fe);
	assert_non_null(h);
	assert_int_equal(vhf_kind(h), VHF_USER);
	assert_int_equal(vhf_init(h, F_V1 | F_EVIDX, NQ), 0);
	assert_true(vhf_features(h) & F_V1);
	assert_int_equal(vhf_get_config(h, 0, cfg, 8), 0);
	assert_int_equal(cfg[0], CID);
	n = vu_fe_guest_mem_regions(&g.gm, r, VU_FE_GUEST_MEM_MAX);
	assert_int_equal(vhf_set_mem(h, r, n), 0);
	for (q = 0; q < NQ; q++)
		assert_int_equal(vhf_ring_setup(h, q, QSIZE, g.drv[q].desc_gpa, g.drv[q].avail_gpa,
						g.drv[q].used_gpa, 0), 0);
	assert_int_equal(vhf_ring_setup(h, NQ, QSIZE, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(vhf_start(h, true), 0);
	assert_true(vhf_call_fd(h, 0) >= 0);
	/* roundtrip() kicks through the vu_fe; the vhf kick reaches the same eventfd */
	assert_int_equal(roundtrip(fe, &g, 0, 4, 0), 4);
	assert_int_equal(vhf_kick(h, 0), 0);
	assert_int_equal(vhf_ring_stop(h, 0, &base), 0);
	assert_int_equal(base, 4);
	vhf_free(h);   /* frees the vu_fe too */
	tbe_stop(&b);
	guest_free(&g);
	assert_int_equal(test_count_fds(), before);
}

/* ------------------------------------------- vd_dev in a child process */

static void vd_kick(void *opaque, struct vd_dev *dev, unsigned int qidx)
{
	struct vq *vq = vd_dev_queue(dev, qidx);

	if (!vq)
		return;
	if (flip_queue(vq, vd_dev_mem(dev, 0)))
		vd_dev_notify(dev, qidx);
}

static const struct vd_backend_ops vd_ops = {
	.num_queues = NQ,
	.max_queue_size = 1024,
	.num_workers = 1,
	.features = F_V1 | F_EVIDX,
	.get_config = dev_get_config,
	.queue_kick = vd_kick,
};

static volatile sig_atomic_t child_stop;
static void on_term(int sig) { (void)sig; child_stop = 1; }

static pid_t spawn_daemon(const char *path)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct vd_config cfg = { .socket_path = path, .listen_fd = -1, .name = "child" };
		struct vd_dev *d;

		signal(SIGTERM, on_term);
		d = vd_dev_new(&vd_ops, NULL, &cfg);
		if (!d || vd_dev_start(d) < 0)
			_exit(3);
		while (!child_stop)
			usleep(10000);
		vd_dev_stop(d);
		vd_dev_free(d);
		_exit(0);
	}
	return pid;
}

static void test_cross_process_reconnect(void **state)
{
	char dir[] = "/tmp/vu-fe-be-XXXXXX", path[80];
	struct guest g;
	struct vu_fe *fe;
	uint16_t base;
	pid_t pid;
	int status, before;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vhost.sock", dir);
	before = test_count_fds();
	pid = spawn_daemon(path);
	assert_true(pid > 0);
	guest_init(&g);
	fe = vu_fe_new(NULL, NULL);
	assert_int_equal(vu_fe_connect_path(fe, path, 200, 10), 0);
	assert_int_equal(vu_fe_negotiate(fe, F_V1 | F_EVIDX, WANT_PF, NQ), 0);
	/* the inflight area outlives the back-end: the restarted one gets it back */
	assert_int_equal(vu_fe_inflight_setup(fe, NQ, QSIZE), 0);
	assert_int_equal(vu_fe_set_guest_mem(fe, &g.gm), 0);
	assert_int_equal(fe_start_rings(fe, &g), 0);
	assert_int_equal(roundtrip(fe, &g, 0, 20, 0), 20);
	assert_int_equal(vu_fe_ring_stop(fe, 0, &base), 0);
	assert_int_equal(base, 20);
	assert_int_equal(vu_fe_ring_setup(fe, 0, QSIZE, g.drv[0].desc_gpa, g.drv[0].avail_gpa,
					  g.drv[0].used_gpa, base), 0);
	assert_int_equal(roundtrip(fe, &g, 1, 7, 50), 7);

	/* the back-end process dies; a new one comes up on the same path */
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	{
		uint8_t st;

		/* the next request notices */
		assert_true(vu_fe_get_status(fe, &st) < 0);
		assert_false(vu_fe_connected(fe));
	}
	pid = spawn_daemon(path);
	assert_true(pid > 0);
	assert_int_equal(vu_fe_reconnect(fe, -1, 200, 10), 0);
	/* both rings resume where they were */
	assert_int_equal(roundtrip(fe, &g, 0, 9, 300), 9);
	assert_int_equal(roundtrip(fe, &g, 1, 3, 400), 3);
	assert_int_equal(vu_fe_ring_stop(fe, 1, &base), 0);
	assert_int_equal(base, 10);

	vu_fe_free(fe);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	guest_free(&g);
	unlink(path);
	rmdir(dir);
	assert_int_equal(test_count_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inprocess_sequence_and_data),
		cmocka_unit_test(test_xen_layout),
		cmocka_unit_test(test_vhost_fe_user),
		cmocka_unit_test(test_cross_process_reconnect),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
