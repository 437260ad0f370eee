// SPDX-License-Identifier: MIT
/*
 * test_vsock_daemon.c - in-process integration: the vhost-device-vsock
 * daemon (vsock_daemon + the daemon framework) on a Unix socket, driven by
 * a raw vhost-user front-end (tests/unit/vu_test_fe.c) whose driver side
 * (vqdrv_*) plays the guest in memfd memory, with real host programs on
 * the uds-path: CONNECT echo, guest -> <uds-path>_P, RST without a
 * listener, half-close, credit overrun -> RST, 1,000 connections, VMM
 * disconnect/reconnect, sibling VMs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/unix_sock.h"
#include "vu_test_fe.h"
#include "vsock/vsock_dev.h"
#include "vsock/vsock_pkt.h"
#include "../common/fd_count.h"

#define S VIRTIO_VSOCK_TYPE_STREAM
#define NRX 64u
#define RXBUF 4096u
#define RX_OFF 0x40000u
#define TX_OFF 0x80000u
#define TXSLOT 8192u
#define NTX 32u
#define BIG_OFF 0xc0000u
#define BIG_LEN 0x10000u

/*
 * Linked with -Wl,--wrap=malloc: while malloc_fail_len is set, allocations
 * a little larger than that payload length (the daemon's copy of a packet
 * for a sibling: its header and the payload) fail, malloc_fail_left of
 * them (-1: every one); malloc_failed counts those that did.  All atomic:
 * the daemon's workers allocate.
 */
void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);
static size_t malloc_fail_len;
static int malloc_fail_left;
static unsigned int malloc_failed;

void *__wrap_malloc(size_t size)
{
	size_t len = __atomic_load_n(&malloc_fail_len, __ATOMIC_ACQUIRE);
	int left;

	if (!len || size <= len || size > len + 128)
		return __real_malloc(size);
	left = __atomic_load_n(&malloc_fail_left, __ATOMIC_ACQUIRE);
	while (left) {
		if (left < 0 || __atomic_compare_exchange_n(&malloc_fail_left, &left, left - 1, false,
							    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			__atomic_fetch_add(&malloc_failed, 1, __ATOMIC_RELAXED);
			errno = ENOMEM;
			return NULL;
		}
	}
	return __real_malloc(size);
}

/* Fail @times (-1: all) allocations for a @len-byte sibling packet from now; 0: none. */
static void malloc_fail(size_t len, int times)
{
	__atomic_store_n(&malloc_failed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&malloc_fail_left, times, __ATOMIC_RELEASE);
	__atomic_store_n(&malloc_fail_len, len, __ATOMIC_RELEASE);
}

struct guest {
	struct vut_fe fe;
	uint64_t cid;
	bool tx_busy[NTX];
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

struct ctx {
	char dir[64];
	char sock[2][128];
	char uds[2][128];
	struct vsock_opts o;
	struct vsock_daemon *d;
	struct guest g[2];
	unsigned int nguests;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void kick(struct guest *g, unsigned int q)
{
	uint64_t one = 1;

	vqdrv_kick_prepare(&g->fe.drv[q]);
	if (write(g->fe.kick[q], &one, 8) != 8)
		abort();
}

static void rx_refill(struct guest *g)
{
	struct vqdrv *d = &g->fe.drv[0];
	static unsigned int next[2];
	unsigned int gi = g->cid == 3 ? 0 : 1;
	bool added = false;

	while (vqdrv_num_free(d) > 0) {
		struct iovec in = { g->fe.mem + RX_OFF + (next[gi] % NRX) * RXBUF, RXBUF };

		if (vqdrv_add(d, NULL, 0, &in, 1, (void *)(uintptr_t)(next[gi] % NRX + 1)))
			break;
		next[gi]++;
		added = true;
	}
	if (added)
		kick(g, 0);
}

static int guest_start(struct ctx *t, unsigned int i)
{
	struct guest *g = &t->g[i];
	int fd = vut_connect(t->sock[i]), r;

	if (fd < 0)
		return fd;
	vut_init(&g->fe, fd);
	g->cid = 3 + i;
	g->buf_alloc = 256 * 1024;
	g->fwd_cnt = 0;
	memset(g->tx_busy, 0, sizeof(g->tx_busy));
	r = vut_qemu_vsock_start(&g->fe, g->cid);
	if (r)
		return r;
	rx_refill(g);
	return 0;
}

static void tx_reap(struct guest *g)
{
	void *tok;
	uint32_t len;

	while ((tok = vqdrv_get_used(&g->fe.drv[1], &len)))
		g->tx_busy[(uintptr_t)tok - 1] = false;
}

/*
 * Guest sends one packet: header and payload in separate descriptors,
 * payload split in two.  False if no TX slot freed up within @ms.
 */
static bool gsend_try(struct guest *g, uint64_t dst_cid, uint32_t sport, uint32_t dport, uint16_t op,
		      uint32_t flags, const void *data, uint32_t len, int ms)
{
	struct vsock_hdr h = {
		.src_cid = g->cid, .dst_cid = dst_cid, .src_port = sport, .dst_port = dport,
		.len = len, .type = S, .op = op, .flags = flags, .buf_alloc = g->buf_alloc,
		.fwd_cnt = g->fwd_cnt,
	};
	double dl = now_s() + ms / 1000.0;
	unsigned int slot;
	uint8_t *buf;
	struct iovec out[3];
	unsigned int n = 1;

	assert_true(len <= TXSLOT - 64);
	for (;;) {
		tx_reap(g);
		for (slot = 0; slot < NTX && g->tx_busy[slot]; slot++)
			;
		if (slot < NTX && vqdrv_num_free(&g->fe.drv[1]) >= 3)
			break;
		if (now_s() >= dl)
			return false;
		usleep(1000);
	}
	buf = g->fe.mem + TX_OFF + slot * TXSLOT;
	vsock_hdr_encode((struct virtio_vsock_hdr *)buf, &h);
	out[0].iov_base = buf;
	out[0].iov_len = VSOCK_HDR_SIZE;
	if (len) {
		memcpy(buf + 64, data, len);
		out[1].iov_base = buf + 64;
		out[1].iov_len = len / 2;
		out[2].iov_base = buf + 64 + len / 2;
		out[2].iov_len = len - len / 2;
		n = len / 2 ? 3 : 2;
		if (n == 2)
			out[1].iov_len = len;
	}
	g->tx_busy[slot] = true;
	assert_int_equal(vqdrv_add(&g->fe.drv[1], out, n, NULL, 0, (void *)(uintptr_t)(slot + 1)), 0);
	kick(g, 1);
	return true;
}

static void gsend_to(struct guest *g, uint64_t dst_cid, uint32_t sport, uint32_t dport, uint16_t op,
		     uint32_t flags, const void *data, uint32_t len)
{
	assert_true(gsend_try(g, dst_cid, sport, dport, op, flags, data, len, 5000));
}

static void gsend(struct guest *g, uint32_t sport, uint32_t dport, uint16_t op, uint32_t flags,
		  const void *data, uint32_t len)
{
	gsend_to(g, 2, sport, dport, op, flags, data, len);
}

/* Next packet for the guest within @ms; returns false on timeout. */
static bool grecv(struct guest *g, struct vsock_hdr *h, void *data, int ms)
{
	double dl = now_s() + ms / 1000.0;
	void *tok;
	uint32_t len;

	for (;;) {
		tok = vqdrv_get_used(&g->fe.drv[0], &len);
		if (tok) {
			uint8_t *b = g->fe.mem + RX_OFF + ((uintptr_t)tok - 1) * RXBUF;

			assert_true(len >= VSOCK_HDR_SIZE);
			vsock_hdr_decode(h, (struct virtio_vsock_hdr *)b);
			assert_int_equal(len, VSOCK_HDR_SIZE + h->len);
			if (data && h->len)
				memcpy(data, b + VSOCK_HDR_SIZE, h->len);
			if (h->op == VIRTIO_VSOCK_OP_RW)
				g->fwd_cnt += h->len;
			rx_refill(g);
			return true;
		}
		if (now_s() > dl)
			return false;
		{
			struct pollfd p = { g->fe.call[0], POLLIN, 0 };
			uint64_t v;

			if (poll(&p, 1, 10) > 0 && read(g->fe.call[0], &v, 8) < 0) {
			}
		}
	}
}

/* Skip credit updates; next packet with another op. */
static bool grecv_op(struct guest *g, struct vsock_hdr *h, void *data, int ms)
{
	while (grecv(g, h, data, ms))
		if (h->op != VIRTIO_VSOCK_OP_CREDIT_UPDATE)
			return true;
	return false;
}

static ssize_t rd(int fd, void *buf, size_t len, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	if (poll(&p, 1, ms) <= 0)
		return -1;
	return recv(fd, buf, len, MSG_DONTWAIT);
}

/* The daemon's sibling stall limit for the next setup; 0: its default. */
static unsigned int setup_sib_stall_ms;
/* The next setup's guest 3 forwards to AF_VSOCK CID 1 (--forward-cid) instead of a uds-path. */
static bool setup_forward0;

/*
 * @nidle VMs without a front-end (CIDs from 100) come first on the command
 * line, then the @nvm guests (CIDs 3, 4) of t->g.
 */
static int setup_vms(void **state, unsigned int nidle, unsigned int nvm, const char *groups1,
		     unsigned int connect_timeout_ms)
{
	struct ctx *t = calloc(1, sizeof(*t));
	char err[VSOCK_ERR_LEN], arg[2][400];
	char **argv = calloc(2 * (nidle + nvm) + 2, sizeof(char *));
	char (*idle)[400] = calloc(nidle + 1, sizeof(*idle));
	int argc = 0;
	unsigned int i;
	struct rlimit rl;
	struct vsock_daemon_cfg dc = { .sib_stall_ms = setup_sib_stall_ms };

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	strcpy(t->dir, "/tmp/test_vsock_daemon.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	argv[argc++] = (char *)"vhost-device-vsock";
	for (i = 0; i < nidle; i++) {
		snprintf(idle[i], sizeof(idle[i]), "guest-cid=%u,socket=%s/idle%u.sock,uds-path=%s/idle%u.vsock",
			 100 + i, t->dir, i, t->dir, i);
		argv[argc++] = (char *)"--vm";
		argv[argc++] = idle[i];
	}
	for (i = 0; i < nvm; i++) {
		snprintf(t->sock[i], sizeof(t->sock[i]), "%s/vhost%u.sock", t->dir, 3 + i);
		snprintf(t->uds[i], sizeof(t->uds[i]), "%s/vm%u.vsock", t->dir, 3 + i);
		if (i == 0 && setup_forward0)
			snprintf(arg[i], sizeof(arg[i]), "guest-cid=3,socket=%s,forward-cid=1", t->sock[i]);
		else
			snprintf(arg[i], sizeof(arg[i]), "guest-cid=%u,socket=%s,uds-path=%s,groups=%s", 3 + i,
				 t->sock[i], t->uds[i], i == 1 && groups1 ? groups1 : "default");
		argv[argc++] = (char *)"--vm";
		argv[argc++] = arg[i];
	}
	argv[argc] = NULL;
	assert_int_equal(vsock_opts_parse(argc, argv, &t->o, err, sizeof(err)), 0);
	free(argv);
	free(idle);
	t->nguests = nvm;
	dc.opts = &t->o;
	dc.hs_timeout_ms = 500;
	dc.connect_timeout_ms = connect_timeout_ms;
	t->d = vsock_daemon_new(&dc, err, sizeof(err));
	assert_non_null(t->d);
	assert_int_equal(vsock_daemon_start(t->d, err, sizeof(err)), 0);
	for (i = 0; i < nvm; i++)
		assert_int_equal(guest_start(t, i), 0);
	*state = t;
	return 0;
}

static int setup_n(void **state, unsigned int nvm, const char *groups1, unsigned int connect_timeout_ms)
{
	return setup_vms(state, 0, nvm, groups1, connect_timeout_ms);
}

static int setup(void **state)
{
	return setup_n(state, 1, NULL, 0);
}

static int setup2_short_connect(void **state)
{
	return setup_n(state, 2, NULL, 300);
}

static int setup2(void **state)
{
	return setup_n(state, 2, NULL, 0);
}

/* The sender is the 65th VM of the process, the receiver the 66th. */
static int setup2_late(void **state)
{
	return setup_vms(state, 64, 2, NULL, 0);
}

/* A sibling that takes nothing is waited for 300 ms. */
static int setup2_short_stall(void **state)
{
	int r;

	setup_sib_stall_ms = 300;
	r = setup_n(state, 2, NULL, 0);
	setup_sib_stall_ms = 0;
	return r;
}

static int setup2_apart(void **state)
{
	return setup_n(state, 2, "other", 0);
}

/* Guest 3 in forward mode, guest 4 a plain VM; both in the default group. */
static int setup2_forward(void **state)
{
	int r;

	setup_forward0 = true;
	r = setup_n(state, 2, NULL, 0);
	setup_forward0 = false;
	return r;
}

static int teardown(void **state)
{
	struct ctx *t = *state;
	struct stat st;
	unsigned int i;

	malloc_fail(0, 0);
	for (i = 0; i < t->nguests; i++)
		vut_cleanup(&t->g[i].fe);
	vsock_daemon_free(t->d);
	for (i = 0; i < t->nguests; i++) {
		/* sockets the daemon created are gone */
		assert_int_not_equal(stat(t->sock[i], &st), 0);
		assert_int_not_equal(stat(t->uds[i], &st), 0);
	}
	vsock_opts_free(&t->o);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* Host CONNECT to guest port @gport, guest accepts; returns host fd. */
static int host_connect(struct ctx *t, struct guest *g, uint32_t gport, uint32_t *lport)
{
	char line[32], buf[32];
	struct vsock_hdr h;
	int fd = vk_unix_connect(t->uds[g->cid - 3], SOCK_STREAM), n;

	assert_true(fd >= 0);
	n = snprintf(line, sizeof(line), "CONNECT %u\n", gport);
	assert_int_equal(write(fd, line, (size_t)n), n);
	assert_true(grecv_op(g, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, gport);
	assert_int_equal(h.dst_cid, g->cid);
	gsend(g, gport, h.src_port, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0);
	n = snprintf(line, sizeof(line), "OK %u\n", gport);
	assert_int_equal(rd(fd, buf, (size_t)n, 3000), n);
	assert_memory_equal(buf, line, (size_t)n);
	*lport = h.src_port;
	return fd;
}

/*
 * Host listener on <uds-path>_@port (its address in @a for the unlink);
 * returns the listening fd.
 */
static int host_listen(struct ctx *t, uint32_t port, struct sockaddr_un *a)
{
	int l;

	if (vk_unix_addrf(a, "%.90s_%u", t->uds[0], port))
		fail();
	l = vk_unix_listen(a, SOCK_STREAM, 4);
	assert_true(l >= 0);
	return l;
}

/* Guest connects from @sport to host @port, listening on @l; returns the accepted host fd. */
static int guest_connect(struct guest *g, uint32_t sport, uint32_t port, int l)
{
	struct vsock_hdr h;
	int s;

	gsend(g, sport, port, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(g, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RESPONSE);
	assert_int_equal(h.src_cid, 2);
	s = accept(l, NULL, NULL);
	assert_true(s >= 0);
	return s;
}

static void test_connect_echo(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	struct vsock_hdr h;
	char buf[4096];
	uint32_t lp;
	int fd = host_connect(t, g, 1234, &lp);

	assert_int_equal(write(fd, "ping", 4), 4);
	assert_true(grecv_op(g, &h, buf, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.len, 4);
	assert_memory_equal(buf, "ping", 4);
	gsend(g, 1234, lp, VIRTIO_VSOCK_OP_RW, 0, "pong", 4);
	assert_int_equal(rd(fd, buf, 4, 3000), 4);
	assert_memory_equal(buf, "pong", 4);
	close(fd);
	assert_true(grecv_op(g, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_SHUTDOWN);
}

static void test_guest_to_host(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	struct sockaddr_un a;
	struct vsock_hdr h;
	char buf[4096];
	int l = host_listen(t, 6000, &a), s = guest_connect(g, 50000, 6000, l);

	gsend(g, 50000, 6000, VIRTIO_VSOCK_OP_RW, 0, "to host", 7);
	assert_int_equal(rd(s, buf, 7, 3000), 7);
	/* half-close: guest SHUTDOWN(SEND) -> host EOF, host still sends */
	gsend(g, 50000, 6000, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0);
	assert_int_equal(rd(s, buf, sizeof(buf), 3000), 0);
	assert_int_equal(write(s, "after", 5), 5);
	assert_true(grecv_op(g, &h, buf, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_memory_equal(buf, "after", 5);
	close(s);
	assert_true(grecv_op(g, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	close(l);
	unlink(a.sun_path);

	/* no listener: RST at once */
	gsend(g, 50001, 6001, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(g, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 50001);
}

static void test_no_guest_listener(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	struct vsock_hdr h;
	char buf[16];
	int fd = vk_unix_connect(t->uds[0], SOCK_STREAM);

	assert_int_equal(write(fd, "CONNECT 9\n", 10), 10);
	assert_true(grecv_op(g, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	gsend(g, 9, h.src_port, VIRTIO_VSOCK_OP_RST, 0, NULL, 0);
	assert_int_equal(rd(fd, buf, sizeof(buf), 3000), 0);
	close(fd);
	/* a bad handshake is closed and the daemon keeps serving */
	fd = vk_unix_connect(t->uds[0], SOCK_STREAM);
	assert_int_equal(write(fd, "CONNECT x\n", 10), 10);
	assert_int_equal(rd(fd, buf, sizeof(buf), 3000), 0);
	close(fd);
	{
		uint32_t lp;

		fd = host_connect(t, g, 10, &lp);
		close(fd);
	}
}

/*
 * A guest that never answers a host CONNECT: after the connect timeout the
 * host socket is closed without "OK" and the guest gets an RST; the daemon
 * and the other VM keep serving.
 */
static void test_guest_never_answers(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	struct vsock_hdr h;
	struct timespec t0, t1;
	char buf[16];
	double ms;
	uint32_t lp;
	int fd = vk_unix_connect(t->uds[0], SOCK_STREAM);

	assert_true(fd >= 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(write(fd, "CONNECT 21\n", 11), 11);
	assert_true(grecv_op(g, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, 21);
	lp = h.src_port;
	/* no answer: EOF, no "OK" */
	assert_int_equal(rd(fd, buf, sizeof(buf), 5000), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("# host socket closed %.0f ms after CONNECT (timeout 300 ms)\n", ms);
	assert_true(ms >= 290);
	close(fd);
	assert_true(grecv_op(g, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_port, lp);
	assert_int_equal(h.dst_port, 21);
	/* both VMs still serve */
	fd = host_connect(t, g, 22, &lp);
	close(fd);
	fd = host_connect(t, &t->g[1], 22, &lp);
	close(fd);
}

static void test_credit_overrun(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	static uint8_t chunk[8000];
	struct vsock_hdr h;
	uint32_t lp;
	int fd = host_connect(t, g, 77, &lp), i;
	bool rst = false;

	/* the host program does not read; the guest ignores our credit */
	for (i = 0; i < 400 && !rst; i++) {
		gsend(g, 77, lp, VIRTIO_VSOCK_OP_RW, 0, chunk, sizeof(chunk));
		while (grecv(g, &h, NULL, 0)) {
			if (h.op == VIRTIO_VSOCK_OP_RST)
				rst = true;
		}
	}
	if (!rst)
		rst = grecv_op(g, &h, NULL, 3000) && h.op == VIRTIO_VSOCK_OP_RST;
	assert_true(rst);
	print_message("# overrun detected after %d packets of %zu bytes\n", i, sizeof(chunk));
	close(fd);
}

static void test_1000_connections(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	enum { N = 1000 };
	int *fd = calloc(N, sizeof(int));
	uint32_t *lp = calloc(N, sizeof(uint32_t));
	struct vsock_hdr h;
	char buf[64];
	unsigned int i, got = 0;
	double t0 = now_s();

	for (i = 0; i < N; i++)
		fd[i] = host_connect(t, g, 2000 + i, &lp[i]);
	/* every host writes; the guest sees each stream's bytes */
	for (i = 0; i < N; i++) {
		uint32_t v = i;

		assert_int_equal(write(fd[i], &v, 4), 4);
	}
	while (got < N && grecv(g, &h, buf, 3000)) {
		uint32_t v;

		if (h.op != VIRTIO_VSOCK_OP_RW)
			continue;
		assert_int_equal(h.len, 4);
		memcpy(&v, buf, 4);
		assert_int_equal(v, h.src_port == lp[v] ? v : (uint32_t)-1);
		got++;
	}
	assert_int_equal(got, N);
	/* and the other way */
	for (i = 0; i < N; i++)
		gsend(g, 2000 + i, lp[i], VIRTIO_VSOCK_OP_RW, 0, &i, 4);
	for (i = 0; i < N; i++) {
		uint32_t v;

		assert_int_equal(rd(fd[i], &v, 4, 3000), 4);
		assert_int_equal(v, i);
	}
	print_message("# 1000 host connections: connect + 4 bytes each way in %.2f s\n", now_s() - t0);
	for (i = 0; i < N; i++)
		close(fd[i]);
	free(fd);
	free(lp);
}

static void test_vmm_disconnect_reconnect(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	char buf[16];
	uint32_t lp;
	int fd = host_connect(t, g, 55, &lp);

	/* VMM gone: the host connection is closed */
	vut_cleanup(&g->fe);
	assert_int_equal(rd(fd, buf, sizeof(buf), 3000), 0);
	close(fd);
	/* the daemon serves the VMM again */
	assert_int_equal(guest_start(t, 0), 0);
	fd = host_connect(t, g, 56, &lp);
	assert_int_equal(write(fd, "again", 5), 5);
	{
		struct vsock_hdr h;

		assert_true(grecv_op(g, &h, buf, 3000));
		assert_memory_equal(buf, "again", 5);
	}
	close(fd);
}

/*
 * The VM paused and run again (virsh suspend/resume, QEMU stop/cont, a
 * snapshot): QEMU 7.2 sends SET_STATUS 0 and GET_VRING_BASE, later the
 * rings again from the same bases.  The guest's connections are still
 * there, so the host's must be too.
 */
static void test_vm_pause_resume(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	uint16_t base[VUT_NQ];
	struct vsock_hdr h;
	char buf[16];
	uint32_t lp;
	int fd = host_connect(t, g, 57, &lp);

	gsend(g, 57, lp, VIRTIO_VSOCK_OP_RW, 0, "before", 6);
	assert_int_equal(rd(fd, buf, sizeof(buf), 3000), 6);
	assert_int_equal(vut_qemu_vsock_pause(&g->fe, base), 0);
	assert_true(base[0] > 0 && base[1] > 0);
	/* written while the VM is paused: waits for it */
	assert_int_equal(send(fd, "during", 6, MSG_NOSIGNAL), 6);
	assert_false(grecv(g, &h, buf, 300));
	assert_int_equal(vut_qemu_vsock_resume(&g->fe, base), 0);
	assert_true(grecv_op(g, &h, buf, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.len, 6);
	assert_memory_equal(buf, "during", 6);
	gsend(g, 57, lp, VIRTIO_VSOCK_OP_RW, 0, "after", 5);
	assert_int_equal(rd(fd, buf, sizeof(buf), 3000), 5);
	assert_memory_equal(buf, "after", 5);
	close(fd);
}

/* A guest whose driver was reset brings its rings back from 0: its old connections are gone. */
static void test_guest_reset_drops_connections(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	uint16_t base[VUT_NQ], zero[VUT_NQ] = { 0 };
	struct vsock_hdr h;
	char buf[16];
	uint32_t lp;
	unsigned int i;
	int fd = host_connect(t, g, 58, &lp);

	assert_int_equal(vut_qemu_vsock_pause(&g->fe, base), 0);
	for (i = 0; i < VUT_NQ; i++) {
		vqdrv_cleanup(&g->fe.drv[i]);
		assert_int_equal(vqdrv_init(&g->fe.drv[i], &g->fe.dmem, VUT_QSIZE, VUT_GPA + i * 0x10000ull,
					    false), 0);
	}
	memset(g->tx_busy, 0, sizeof(g->tx_busy));
	assert_int_equal(vut_qemu_vsock_resume(&g->fe, zero), 0);
	rx_refill(g);
	/* the host side is closed, and the new driver can connect again */
	assert_int_equal(rd(fd, buf, sizeof(buf), 3000), 0);
	close(fd);
	fd = host_connect(t, g, 59, &lp);
	assert_int_equal(write(fd, "new", 3), 3);
	assert_true(grecv_op(g, &h, buf, 3000));
	assert_memory_equal(buf, "new", 3);
	close(fd);
}

/*
 * VMM after VMM: each session leaves nothing behind in the process.  A
 * session here has a host->guest and a guest->host connection open when
 * the VMM goes away; the daemon must close both host sockets and every fd
 * the front-end passed (memory, kick and call eventfds).
 */
static void test_sessions_release_fds(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	struct sockaddr_un a;
	char buf[16];
	int l = host_listen(t, 6200, &a), base = test_count_fds(), cycle;

	for (cycle = 0; cycle < 5; cycle++) {
		uint32_t lp;
		int hfd = host_connect(t, g, 1400, &lp), s = guest_connect(g, 50100, 6200, l), i;

		gsend(g, 50100, 6200, VIRTIO_VSOCK_OP_RW, 0, "up", 2);
		assert_int_equal(rd(s, buf, 2, 3000), 2);

		/* VMM gone with both connections open: both host ends see EOF */
		vut_cleanup(&g->fe);
		assert_int_equal(rd(hfd, buf, sizeof(buf), 3000), 0);
		assert_int_equal(rd(s, buf, sizeof(buf), 3000), 0);
		close(hfd);
		close(s);
		assert_int_equal(guest_start(t, 0), 0);
		/* the daemon tidies up on its own thread: give it a moment */
		for (i = 0; i < 200 && test_count_fds() != base; i++)
			usleep(10000);
		assert_int_equal(test_count_fds(), base);
	}
	close(l);
	unlink(a.sun_path);
}

static void test_siblings(void **state)
{
	struct ctx *t = *state;
	struct guest *a = &t->g[0], *b = &t->g[1];
	struct vsock_hdr h;
	char buf[64];

	/* guest 3 connects to guest 4 port 80 */
	gsend_to(a, 4, 40000, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(b, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.src_cid, 3);
	assert_int_equal(h.dst_cid, 4);
	gsend_to(b, 3, 80, 40000, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0);
	assert_true(grecv_op(a, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RESPONSE);
	assert_int_equal(h.src_cid, 4);
	gsend_to(a, 4, 40000, 80, VIRTIO_VSOCK_OP_RW, 0, "sibling", 7);
	assert_true(grecv_op(b, &h, buf, 3000));
	assert_memory_equal(buf, "sibling", 7);
	/* an unknown CID: RST from that CID */
	gsend_to(a, 99, 40001, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(a, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_cid, 99);

	/* VMM of guest 4 gone: guest 3 keeps being served, packets to 4 get an RST */
	vut_cleanup(&b->fe);
	usleep(100000);
	gsend_to(a, 4, 40002, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(a, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_cid, 4);
	{
		uint32_t lp;
		int fd = host_connect(t, a, 22, &lp);

		close(fd);
	}
	/* and guest 4's VMM is served again */
	assert_int_equal(guest_start(t, 1), 0);
	gsend_to(a, 4, 40003, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(b, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.src_port, 40003);
}

/*
 * A sibling paused (QEMU stop/cont, virsh suspend/resume) keeps its
 * connections, so what its peers send meanwhile waits in its queue and
 * arrives when it runs again; before, the wake-up that a queued packet
 * caused while the rings were stopped dropped the whole queue, and a live
 * stream silently lost the data.
 */
static void test_sibling_paused(void **state)
{
	struct ctx *t = *state;
	struct guest *a = &t->g[0], *b = &t->g[1];
	uint16_t base[VUT_NQ];
	struct vsock_hdr h;
	char buf[64];

	gsend_to(a, 4, 40000, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(b, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	gsend_to(b, 3, 80, 40000, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0);
	assert_true(grecv_op(a, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RESPONSE);

	assert_int_equal(vut_qemu_vsock_pause(&b->fe, base), 0);
	gsend_to(a, 4, 40000, 80, VIRTIO_VSOCK_OP_RW, 0, "during", 6);
	gsend_to(a, 4, 40000, 80, VIRTIO_VSOCK_OP_RW, 0, "pause", 5);
	assert_false(grecv(b, &h, buf, 300));
	/* nothing came back to the sender: no reset for a paused peer */
	assert_false(grecv(a, &h, NULL, 100));
	assert_int_equal(vut_qemu_vsock_resume(&b->fe, base), 0);
	assert_true(grecv_op(b, &h, buf, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.len, 6);
	assert_memory_equal(buf, "during", 6);
	assert_true(grecv_op(b, &h, buf, 3000));
	assert_int_equal(h.len, 5);
	assert_memory_equal(buf, "pause", 5);
	gsend_to(a, 4, 40000, 80, VIRTIO_VSOCK_OP_RW, 0, "after", 5);
	assert_true(grecv_op(b, &h, buf, 3000));
	assert_memory_equal(buf, "after", 5);
}

/*
 * A --forward-cid VM, as in vhost-device-vsock, sends what its guest sends
 * to any CID to the forward CID: it has no siblings, the forward CID
 * stands in for every other VM.  Nothing runs at AF_VSOCK (1, 80) here
 * (or AF_VSOCK is missing), so its connects get an RST, from the CID the
 * guest addressed.  Its siblings cannot reach it either: its replies
 * would go to the forward CID, so their packets get an RST at once.
 */
static void test_forward_vm_routing(void **state)
{
	struct ctx *t = *state;
	struct guest *a = &t->g[0], *b = &t->g[1];
	static const uint64_t cids[] = { 4, 99, 2, 3, 0, 1, 0xffffffffull };
	struct vsock_hdr h;
	unsigned int i;

	for (i = 0; i < sizeof(cids) / sizeof(cids[0]); i++) {
		gsend_to(a, cids[i], 40000 + i, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
		assert_true(grecv_op(a, &h, NULL, 3000));
		assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
		assert_int_equal(h.src_cid, cids[i]);
		assert_int_equal(h.dst_port, 40000 + i);
	}
	/* guest 4 shares the default group with it, but saw none of that */
	assert_false(grecv(b, &h, NULL, 200));

	gsend_to(b, 3, 40100, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(b, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_cid, 3);
	assert_false(grecv(a, &h, NULL, 200));
}

/*
 * A guest connecting to its own CID without the vsock_loopback transport
 * sends that through the device.  vhost-device-vsock finds the guest's
 * own CID in its map and hands the packets back to it, so the connection
 * works; here too (it used to get an RST).
 */
static void test_own_cid_loops_back(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	struct vsock_hdr h;
	char buf[64];

	gsend_to(g, 3, 40000, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(g, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.src_cid, 3);
	assert_int_equal(h.dst_cid, 3);
	assert_int_equal(h.src_port, 40000);
	assert_int_equal(h.dst_port, 80);
	gsend_to(g, 3, 80, 40000, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0);
	assert_true(grecv_op(g, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RESPONSE);
	assert_int_equal(h.dst_port, 40000);
	gsend_to(g, 3, 40000, 80, VIRTIO_VSOCK_OP_RW, 0, "self", 4);
	assert_true(grecv_op(g, &h, buf, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.len, 4);
	assert_memory_equal(buf, "self", 4);

	/* a guest that floods itself and reads nothing only holds up itself */
	{
		static uint8_t chunk[4000];
		unsigned int sent = 0, got = 0;

		while (sent < 1000 && gsend_try(g, 3, 40000, 80, VIRTIO_VSOCK_OP_RW, 0, chunk, sizeof(chunk), 200))
			sent++;
		assert_true(sent < 1000);
		while (got < sent && grecv(g, &h, NULL, 3000))
			got += h.op == VIRTIO_VSOCK_OP_RW;
		assert_int_equal(got, sent);
		gsend_to(g, 3, 40000, 80, VIRTIO_VSOCK_OP_RW, 0, "again", 5);
		assert_true(grecv_op(g, &h, buf, 3000));
		assert_memory_equal(buf, "again", 5);
	}
}

/*
 * The routing cases a guest can make up (doc/vsock.md, "Routing"): a
 * spoofed source CID is dropped without an answer, the reserved and
 * out-of-range CIDs get an RST from the CID addressed (vhost-device-vsock
 * drops them and the guest's connect hangs until its timeout), an RST to
 * nowhere gets nothing back, and a sibling gets whatever it is sent, a
 * packet without a connection too: its own driver answers that.
 */
static void test_routing_edge_cases(void **state)
{
	struct ctx *t = *state;
	struct guest *a = &t->g[0], *b = &t->g[1];
	static const uint64_t nowhere[] = { 0, 1, 0xffffffffull, (1ull << 32) | 4 };
	struct vsock_vm_stats st0, st1;
	struct vsock_hdr h;
	unsigned int i;

	vsock_daemon_vm_stats(t->d, 0, &st0);
	a->cid = 99;
	gsend_to(a, 4, 40000, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	gsend_to(a, 2, 40000, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	a->cid = 3;
	assert_false(grecv(b, &h, NULL, 200));
	assert_false(grecv(a, &h, NULL, 100));
	vsock_daemon_vm_stats(t->d, 0, &st1);
	assert_int_equal(st1.bad_pkts, st0.bad_pkts + 2);

	for (i = 0; i < sizeof(nowhere) / sizeof(nowhere[0]); i++) {
		gsend_to(a, nowhere[i], 40001 + i, 0, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
		assert_true(grecv_op(a, &h, NULL, 3000));
		assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
		assert_int_equal(h.src_cid, nowhere[i]);
		assert_int_equal(h.dst_cid, 3);
		assert_int_equal(h.src_port, 0);
		assert_int_equal(h.dst_port, 40001 + i);
	}
	gsend_to(a, 99, 40010, 80, VIRTIO_VSOCK_OP_RST, 0, NULL, 0);
	assert_false(grecv(a, &h, NULL, 200));

	gsend_to(a, 4, 40011, 80, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, NULL, 0);
	assert_true(grecv(b, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_CREDIT_REQUEST);
	assert_int_equal(h.src_cid, 3);
	assert_int_equal(h.src_port, 40011);
	assert_false(grecv(b, &h, NULL, 100));
}

static void test_siblings_apart(void **state)
{
	struct ctx *t = *state;
	struct guest *a = &t->g[0], *b = &t->g[1];
	struct vsock_hdr h;

	/* no group in common: RST, nothing reaches guest 4 */
	gsend_to(a, 4, 40000, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(a, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_false(grecv(b, &h, NULL, 200));
}

/*
 * Guest @a sends numbered @len-byte packets (chunk[0] = number) to guest 4
 * port 80 until a TX slot stays busy for @wait_ms, at most 1000; how many.
 */
static unsigned int flood_guest4(struct guest *a, uint8_t *chunk, uint32_t len, int wait_ms)
{
	unsigned int sent = 0;

	while (sent < 1000) {
		chunk[0] = (uint8_t)sent;
		if (!gsend_try(a, 4, 40000, 80, VIRTIO_VSOCK_OP_RW, 0, chunk, len, wait_ms))
			break;
		sent++;
	}
	return sent;
}

static void test_sibling_backpressure(void **state)
{
	struct ctx *t = *state;
	struct guest *a = &t->g[0], *b = &t->g[1];
	static uint8_t chunk[4000];
	struct vsock_vm_stats st;
	struct vsock_hdr h;
	unsigned int i, got = 0;
	uint64_t bytes = 0;
	/* the sender's index among the VMs of the process */
	unsigned int va = t->o.nvms - t->nguests;
	unsigned int sent;

	/* guest 4 takes nothing: its RX buffers, the bounded queue and then our
	 * TX ring fill up; the sender stops instead of dropping */
	sent = flood_guest4(a, chunk, sizeof(chunk), 500);
	assert_true(sent < 1000);
	vsock_daemon_vm_stats(t->d, va, &st);
	assert_true(st.sib_blocked > 0);
	assert_true(st.sib_sent <= 64 + VSOCK_SIB_QLEN);
	/* guest 4 drains: the sender is woken and everything arrives in order */
	i = 0;
	while (bytes < (uint64_t)sent * sizeof(chunk) && grecv(b, &h, chunk, 3000)) {
		assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
		assert_int_equal(chunk[0], (uint8_t)i);
		i++;
		got++;
		bytes += h.len;
	}
	assert_int_equal(bytes, (uint64_t)sent * sizeof(chunk));
	vsock_daemon_vm_stats(t->d, va, &st);
	print_message("# sibling queue: %u packets delivered, sender blocked %lu times\n", got, st.sib_blocked);
}

static void test_sibling_stalled(void **state)
{
	struct ctx *t = *state;
	struct guest *a = &t->g[0], *b = &t->g[1];
	static uint8_t chunk[4000];
	struct vsock_vm_stats st;
	struct vsock_hdr h;
	unsigned int sent, i, rst = 0;
	uint32_t lport;
	char buf[8];
	int hfd = host_connect(t, a, 5000, &lport);

	/* guest 4 takes nothing: its RX buffers, its queue and then guest 3's TX ring fill up */
	sent = flood_guest4(a, chunk, sizeof(chunk), 100);
	assert_true(sent < 1000);
	/* guest 3's host connection still works: the waiting stops after 300 ms */
	gsend(a, 5000, lport, VIRTIO_VSOCK_OP_RW, 0, "alive", 5);
	assert_int_equal(rd(hfd, buf, sizeof(buf), 3000), 5);
	assert_memory_equal(buf, "alive", 5);
	/* the packets that waited for guest 4 were answered with a reset */
	vsock_daemon_vm_stats(t->d, 0, &st);
	assert_true(st.sib_refused > 0);
	for (i = 0; i < 200 && !rst && grecv(a, &h, NULL, 100); i++)
		rst = h.op == VIRTIO_VSOCK_OP_RST && h.src_cid == 4 && h.dst_port == 40000;
	assert_true(rst);
	/* guest 4 wakes up: what was queued before arrives in order, then it is reachable again */
	i = 0;
	while (grecv(b, &h, chunk, 500)) {
		assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
		assert_int_equal(chunk[0], (uint8_t)i);
		i++;
	}
	assert_true(i > 0 && i < sent);
	gsend_to(a, 4, 40001, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(b, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.src_port, 40001);
	close(hfd);
}

static void test_sibling_packet_too_big(void **state)
{
	struct ctx *t = *state;
	struct guest *a = &t->g[0], *b = &t->g[1];
	struct vsock_hdr h = {
		.src_cid = 3, .dst_cid = 4, .src_port = 40000, .dst_port = 80, .type = S,
		.op = VIRTIO_VSOCK_OP_RW, .buf_alloc = a->buf_alloc,
	};
	struct iovec out[21];
	unsigned int i;

	/* 20 descriptors over the same 64 KiB: a 1.25 MiB packet from 64 KiB of RAM */
	h.len = 20 * BIG_LEN;
	vsock_hdr_encode((struct virtio_vsock_hdr *)(a->fe.mem + TX_OFF), &h);
	out[0].iov_base = a->fe.mem + TX_OFF;
	out[0].iov_len = VSOCK_HDR_SIZE;
	for (i = 1; i < 21; i++) {
		out[i].iov_base = a->fe.mem + BIG_OFF;
		out[i].iov_len = BIG_LEN;
	}
	a->tx_busy[0] = true;
	assert_int_equal(vqdrv_add(&a->fe.drv[1], out, 21, NULL, 0, (void *)(uintptr_t)1), 0);
	kick(a, 1);
	/* refused like an unroutable packet; nothing is copied to guest 4 */
	assert_true(grecv_op(a, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_cid, 4);
	assert_false(grecv(b, &h, NULL, 200));
	/* and the sender goes on */
	gsend_to(a, 4, 40001, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(b, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.src_port, 40001);
}

/* Guest 3 connects from port 40000 to guest 4 port 80. */
static void sibling_connect(struct guest *a, struct guest *b)
{
	struct vsock_hdr h;

	gsend_to(a, 4, 40000, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(b, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	gsend_to(b, 3, 80, 40000, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0);
	assert_true(grecv_op(a, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RESPONSE);
}

/*
 * No memory for the copy of a packet to a sibling: the packet waits in the
 * sender's TX ring and is tried again a little later, it arrives whole and
 * the sender goes on.  Before, the chain went back to the ring as if the
 * sibling's queue were full, but no timer was armed and no waiter set (the
 * queue had room: nobody would wake the sender), so the stream stopped
 * until something unrelated woke the sender's worker.
 */
static void test_sibling_nomem_retried(void **state)
{
	struct ctx *t = *state;
	struct guest *a = &t->g[0], *b = &t->g[1];
	static uint8_t chunk[3001], buf[4096];
	struct vsock_hdr h;
	unsigned int i;

	sibling_connect(a, b);
	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 7);
	/* the kicks of the handshake are taken: nothing else runs guest 3's TX */
	assert_false(grecv(a, &h, NULL, 200));
	malloc_fail(sizeof(chunk), 1);
	gsend_to(a, 4, 40000, 80, VIRTIO_VSOCK_OP_RW, 0, chunk, sizeof(chunk));
	assert_true(grecv_op(b, &h, buf, 3000));
	assert_int_equal(__atomic_load_n(&malloc_failed, __ATOMIC_RELAXED), 1);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.len, sizeof(chunk));
	assert_memory_equal(buf, chunk, sizeof(chunk));
	/* no reset for it, and the stream goes on */
	assert_false(grecv(a, &h, NULL, 100));
	gsend_to(a, 4, 40000, 80, VIRTIO_VSOCK_OP_RW, 0, "after", 5);
	assert_true(grecv_op(b, &h, buf, 3000));
	assert_int_equal(h.len, 5);
	assert_memory_equal(buf, "after", 5);
}

/*
 * Memory stays short for longer than the sibling stall limit (300 ms
 * here): the sender gets an RST for that packet, as when the sibling takes
 * nothing, instead of its TX ring waiting for as long as memory is short;
 * nothing half-copied reaches the sibling, and once memory is back the
 * sender reaches the sibling again.
 */
static void test_sibling_nomem_persistent(void **state)
{
	struct ctx *t = *state;
	struct guest *a = &t->g[0], *b = &t->g[1];
	static uint8_t chunk[3001];
	struct vsock_hdr h;
	double t0;

	sibling_connect(a, b);
	assert_false(grecv(a, &h, NULL, 200));
	malloc_fail(sizeof(chunk), -1);
	t0 = now_s();
	gsend_to(a, 4, 40000, 80, VIRTIO_VSOCK_OP_RW, 0, chunk, sizeof(chunk));
	assert_true(grecv_op(a, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_cid, 4);
	assert_int_equal(h.src_port, 80);
	assert_int_equal(h.dst_port, 40000);
	/* tried again meanwhile: not at the first failure */
	assert_true(now_s() - t0 >= 0.25);
	assert_true(__atomic_load_n(&malloc_failed, __ATOMIC_RELAXED) > 1);
	assert_false(grecv(b, &h, NULL, 100));
	malloc_fail(0, 0);
	gsend_to(a, 4, 40001, 80, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	assert_true(grecv_op(b, &h, NULL, 3000));
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.src_port, 40001);
}

/* A front-end that also drives the event queue (3 rings, as xen-vhost-master does). */
struct evq {
	struct vqdrv drv;
	int kick, call;
};

static void evq_start(struct guest *g, struct evq *e)
{
	struct vu_msg m;
	uint8_t *buf;
	struct iovec in;

	e->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(vqdrv_init(&e->drv, &g->fe.dmem, 64, VUT_GPA + 0x20000, false), 0);
	assert_int_equal(vut_state_ack(&g->fe, VU_SET_VRING_NUM, 2, 64), 0);
	assert_int_equal(vut_state_ack(&g->fe, VU_SET_VRING_BASE, 2, 0), 0);
	vu_msg_init(&m, VU_SET_VRING_ADDR, 0, sizeof(struct vu_vring_addr));
	m.payload.addr.index = 2;
	m.payload.addr.desc = e->drv.desc_gpa - VUT_GPA + VUT_UVA;
	m.payload.addr.avail = e->drv.avail_gpa - VUT_GPA + VUT_UVA;
	m.payload.addr.used = e->drv.used_gpa - VUT_GPA + VUT_UVA;
	assert_int_equal(vut_ack(&g->fe, &m), 0);
	vu_msg_init(&m, VU_SET_VRING_KICK, 0, 0);
	vu_msg_set_u64(&m, 2);
	vu_msg_add_fd(&m, e->kick);
	assert_int_equal(vut_ack(&g->fe, &m), 0);
	vu_msg_init(&m, VU_SET_VRING_CALL, 0, 0);
	vu_msg_set_u64(&m, 2);
	vu_msg_add_fd(&m, e->call);
	assert_int_equal(vut_ack(&g->fe, &m), 0);
	assert_int_equal(vut_state_ack(&g->fe, VU_SET_VRING_ENABLE, 2, 1), 0);
	/* one event buffer, as the Linux driver posts them */
	buf = g->fe.mem + 0x30000;
	memset(buf, 0xff, 4);
	in.iov_base = buf;
	in.iov_len = 4;
	assert_int_equal(vqdrv_add(&e->drv, NULL, 0, &in, 1, buf), 0);
	vqdrv_kick_prepare(&e->drv);
	{
		uint64_t one = 1;

		assert_int_equal(write(e->kick, &one, 8), 8);
	}
}

static void evq_stop(struct evq *e)
{
	vqdrv_cleanup(&e->drv);
	close(e->kick);
	close(e->call);
}

static void test_event_queue_reset(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	struct evq e;
	uint32_t len;
	void *tok = NULL;
	double dl;

	/* first session: nothing to reset */
	evq_start(g, &e);
	usleep(200000);
	assert_null(vqdrv_get_used(&e.drv, &len));
	vut_cleanup(&g->fe);
	evq_stop(&e);
	/* the front-end comes back: TRANSPORT_RESET (id 0) on the event queue */
	assert_int_equal(guest_start(t, 0), 0);
	evq_start(g, &e);
	dl = now_s() + 3;
	while (!(tok = vqdrv_get_used(&e.drv, &len)) && now_s() < dl)
		usleep(10000);
	assert_non_null(tok);
	assert_int_equal(len, 4);
	assert_int_equal(vk_get_le32(tok), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	evq_stop(&e);
	/* and the device still works */
	{
		uint32_t lp;
		int fd = host_connect(t, g, 21, &lp);

		close(fd);
	}
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/*
 * Many concurrent connections through the real daemon: the host programs
 * live in a child process (the fd limit is per process), every connection
 * stays open until all are up, then each carries 4 bytes each way.
 * VSOCK_TEST_CONNS overrides the count (10000 for the figure in doc/).
 */
static void test_many_connections(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	const char *env = getenv("VSOCK_TEST_CONNS");
	unsigned int n = env ? (unsigned int)atoi(env) : 2000, i, got = 0;
	int sync[2];
	pid_t pid;
	long rss0 = rss_kib(), rss1;
	double t0 = now_s();
	struct vsock_hdr h;
	uint32_t *lport = calloc(n, sizeof(uint32_t));
	struct vsock_vm_stats st;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sync), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int *fd = calloc(n, sizeof(int));
		char line[32], c;
		unsigned int k;

		close(sync[0]);
		for (k = 0; k < n; k++) {
			int len;

			fd[k] = vk_unix_connect(t->uds[0], SOCK_STREAM);
			if (fd[k] < 0)
				_exit(2);
			len = snprintf(line, sizeof(line), "CONNECT %u\n", 10000 + k);
			if (write(fd[k], line, (size_t)len) != len)
				_exit(3);
		}
		for (k = 0; k < n; k++) {
			int len = snprintf(line, sizeof(line), "OK %u\n", 10000 + k);

			if (rd(fd[k], line, (size_t)len, 20000) != len)
				_exit(4);
		}
		/* all up: tell the parent, then 4 bytes each way */
		if (write(sync[1], "u", 1) != 1 || read(sync[1], &c, 1) != 1)
			_exit(5);
		for (k = 0; k < n; k++)
			if (write(fd[k], &k, 4) != 4)
				_exit(6);
		for (k = 0; k < n; k++) {
			uint32_t v;

			if (rd(fd[k], &v, 4, 20000) != 4 || v != k)
				_exit(7);
		}
		_exit(0);
	}
	close(sync[1]);
	/* the guest accepts every REQUEST */
	while (got < n && grecv(g, &h, NULL, 20000)) {
		if (h.op != VIRTIO_VSOCK_OP_REQUEST)
			continue;
		assert_true(h.dst_port >= 10000 && h.dst_port < 10000 + n);
		lport[h.dst_port - 10000] = h.src_port;
		gsend(g, h.dst_port, h.src_port, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0);
		got++;
	}
	assert_int_equal(got, n);
	{
		char c;

		assert_int_equal(rd(sync[0], &c, 1, 30000), 1);
	}
	rss1 = rss_kib();
	{
		double dl = now_s() + 2;

		do {
			vsock_daemon_vm_stats(t->d, 0, &st);
		} while (st.conns != n && now_s() < dl && !usleep(1000));
	}
	assert_int_equal(st.conns, n);
	print_message("# %u connections up in %.2f s; in-process RSS grew %ld KiB (%.0f bytes/connection, "
		      "test front-end included)\n", n, now_s() - t0, rss1 - rss0,
		      (rss1 - rss0) * 1024.0 / n);
	assert_int_equal(write(sync[0], "g", 1), 1);
	for (got = 0; got < n && grecv(g, &h, NULL, 20000);) {
		if (h.op != VIRTIO_VSOCK_OP_RW)
			continue;
		assert_int_equal(h.len, 4);
		got++;
	}
	assert_int_equal(got, n);
	for (i = 0; i < n; i++)
		gsend(g, 10000 + i, lport[i], VIRTIO_VSOCK_OP_RW, 0, &i, 4);
	{
		int status;

		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	print_message("# %u connections: set up and 4 bytes each way in %.2f s\n", n, now_s() - t0);
	close(sync[0]);
	free(lport);
}

/* Host -> guest bulk transfer: the figure for doc/ (and the credit loop under load). */
static void test_throughput(void **state)
{
	struct ctx *t = *state;
	struct guest *g = &t->g[0];
	const uint64_t total = 32ull << 20;
	static uint8_t buf[RXBUF];
	struct vsock_hdr h;
	uint64_t got = 0, sum = 0, want = 0, i;
	uint32_t lp, last_upd = 0;
	double t0;
	pid_t pid;
	int fd = host_connect(t, g, 5555, &lp), status;

	for (i = 0; i < total; i++)
		want += (uint8_t)(i * 7);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static uint8_t w[65536];
		uint64_t off = 0;

		while (off < total) {
			size_t k;
			ssize_t n;

			for (k = 0; k < sizeof(w); k++)
				w[k] = (uint8_t)((off + k) * 7);
			n = write(fd, w, sizeof(w));
			if (n != (ssize_t)sizeof(w))
				_exit(1);
			off += sizeof(w);
		}
		_exit(0);
	}
	t0 = now_s();
	while (got < total && grecv(g, &h, buf, 5000)) {
		if (h.op != VIRTIO_VSOCK_OP_RW)
			continue;
		for (i = 0; i < h.len; i++)
			sum += buf[i];
		got += h.len;
		/* the guest tells us as it consumes, as Linux does */
		if (g->fwd_cnt - last_upd >= 64 * 1024) {
			gsend(g, 5555, lp, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
			last_upd = g->fwd_cnt;
		}
	}
	assert_int_equal(got, total);
	assert_int_equal(sum, want);
	print_message("# host -> guest 32 MiB through the daemon: %.0f MiB/s (4 KiB RX buffers, 64-entry ring)\n",
		      32 / (now_s() - t0));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_echo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_to_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_guest_listener, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_never_answers, setup2_short_connect, teardown),
		cmocka_unit_test_setup_teardown(test_credit_overrun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_1000_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmm_disconnect_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vm_pause_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_reset_drops_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_release_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_queue_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_siblings, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_siblings_apart, setup2_apart, teardown),
		cmocka_unit_test_setup_teardown(test_sibling_paused, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_forward_vm_routing, setup2_forward, teardown),
		cmocka_unit_test_setup_teardown(test_own_cid_loops_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routing_edge_cases, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_sibling_backpressure, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_sibling_backpressure, setup2_late, teardown),
		cmocka_unit_test_setup_teardown(test_sibling_stalled, setup2_short_stall, teardown),
		cmocka_unit_test_setup_teardown(test_sibling_packet_too_big, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_sibling_nomem_retried, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_sibling_nomem_persistent, setup2_short_stall, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
