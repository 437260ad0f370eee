// SPDX-License-Identifier: MIT
/*
 * test_vsock_core.c - the vsock protocol core against a fake host side and
 * a fake guest: state machine, credit, half-close, fairness, 10,000
 * connections.  Pure unit tests: no threads, no sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vsock_fake.h"

#define GCID 3
#define BA 65536u
#define S VIRTIO_VSOCK_TYPE_STREAM
#define Q VIRTIO_VSOCK_TYPE_SEQPACKET

struct ctx {
	struct fake_host fh;
	struct fake_guest g;
	struct vsock_core *core;
	uint32_t ba;               /* the core's buf_alloc */
};

static int setup_cfg(void **state, uint32_t connect_timeout_ms, uint32_t buf_alloc)
{
	struct ctx *t = calloc(1, sizeof(*t));
	struct vsock_core_cfg cfg = { .guest_cid = GCID, .buf_alloc = buf_alloc, .seqpacket = true,
				      .connect_timeout_ms = connect_timeout_ms };

	t->core = vsock_core_new(&cfg, &fake_ops, &t->fh);
	t->ba = buf_alloc;
	t->fh.core = t->core;
	t->g.cid = GCID;
	t->g.buf_alloc = 262144;
	*state = t;
	return t->core ? 0 : -1;
}

static int setup(void **state)
{
	return setup_cfg(state, 0, BA);
}

static int setup_connect_timeout(void **state)
{
	return setup_cfg(state, 40, BA);
}

/* --tx-buffer-size 1: the smallest buffer the command line takes */
static int setup_tiny_buffer(void **state)
{
	return setup_cfg(state, 0, 1);
}

static int teardown(void **state)
{
	struct ctx *t = *state;

	vsock_core_free(t->core);
	fake_host_free(&t->fh);
	free(t);
	return 0;
}

static struct vsock_core_stats stats(struct ctx *t)
{
	struct vsock_core_stats st;

	vsock_core_get_stats(t->core, &st);
	return st;
}

/* Guest connects sport -> host dport and gets the RESPONSE. */
static struct fake_conn *gconnect(struct ctx *t, uint32_t sport, uint32_t dport, uint16_t type)
{
	struct vsock_hdr h;

	assert_int_equal(guest_send(t->core, &t->g, sport, dport, type, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 4096), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RESPONSE);
	assert_int_equal(h.src_port, dport);
	assert_int_equal(h.dst_port, sport);
	assert_int_equal(h.dst_cid, GCID);
	assert_int_equal(h.src_cid, 2);
	assert_int_equal(h.type, type);
	assert_int_equal(h.buf_alloc, t->ba);
	return t->fh.conns[t->fh.nconns - 1];
}

static void test_guest_connect_and_data(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, S);
	struct vsock_hdr h;
	char buf[4096];

	assert_int_equal(f->events, VSOCK_EV_IN);
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, "hello", 5), 0);
	assert_int_equal(f->out_len, 5);
	assert_memory_equal(f->out, "hello", 5);
	assert_int_equal(f->c->fwd_cnt, 5);
	/* no credit update for a tiny packet */
	assert_false(vsock_core_rx_pending(t->core));

	fake_host_write(&t->fh, f, "world!", 6);
	assert_int_equal(f->events, 0);   /* readable: no more polling until drained */
	assert_int_equal(guest_recv(t->core, &h, buf, 4096), 44 + 6);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.len, 6);
	assert_int_equal(h.fwd_cnt, 5);
	assert_memory_equal(buf, "world!", 6);
	/* next attempt finds EAGAIN and re-arms polling */
	assert_int_equal(guest_recv(t->core, &h, buf, 4096), 0);
	assert_int_equal(f->events, VSOCK_EV_IN);
	assert_int_equal(stats(t).conns, 1);
}

static void test_guest_connect_refused(void **state)
{
	struct ctx *t = *state;
	struct vsock_hdr h;

	t->fh.connect_result = -ECONNREFUSED;
	assert_int_equal(guest_send(t->core, &t->g, 5000, 99, S, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	/* RST at once, no connection kept */
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_port, 99);
	assert_int_equal(h.dst_port, 5000);
	assert_int_equal(stats(t).conns, 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 0);
}

/*
 * Forward mode (--forward-cid) takes a guest's packets to every CID, as
 * vhost-device-vsock does: the forward CID stands in for whatever CID the
 * guest addressed, and what comes back must come from that CID, or the
 * guest's socket never matches it.
 */
static void test_guest_connect_other_cid(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f;
	struct vsock_hdr h;
	char buf[64];

	t->g.dst_cid = 10;
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 4096), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RESPONSE);
	assert_int_equal(h.src_cid, 10);
	assert_int_equal(h.dst_cid, GCID);
	f = t->fh.conns[t->fh.nconns - 1];
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, "hi", 2), 0);
	assert_int_equal(f->out_len, 2);
	fake_host_write(&t->fh, f, "yo", 2);
	assert_int_equal(guest_recv(t->core, &h, buf, sizeof(buf)), 44 + 2);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(h.src_cid, 10);

	/* no connection on these ports: RST from the CID addressed */
	assert_int_equal(guest_send(t->core, &t->g, 5001, 1234, S, VIRTIO_VSOCK_OP_RW, 0, "x", 1), 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_cid, 10);
	t->fh.connect_result = -ECONNREFUSED;
	assert_int_equal(guest_send(t->core, &t->g, 5002, 99, S, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_cid, 10);
	assert_int_equal(h.dst_port, 5002);

	/* the same ports towards another CID are not that connection: RST from it, the first lives on */
	t->g.dst_cid = 11;
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, "no", 2), 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.src_cid, 11);
	assert_int_equal(f->out_len, 2);
	assert_int_equal(stats(t).conns, 1);
	t->g.dst_cid = 10;
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, "ok", 2), 0);
	assert_int_equal(f->out_len, 4);
}

static void test_guest_connect_async(void **state)
{
	struct ctx *t = *state;
	struct vsock_hdr h;
	struct fake_conn *f;

	t->fh.connect_result = -EINPROGRESS;
	assert_int_equal(guest_send(t->core, &t->g, 6000, 80, S, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	f = t->fh.conns[0];
	assert_int_equal(f->events, VSOCK_EV_OUT);
	assert_false(vsock_core_rx_pending(t->core));
	vsock_core_host_connected(t->core, f->c, 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RESPONSE);
	assert_int_equal(f->events, VSOCK_EV_IN);

	/* a second one fails asynchronously: RST */
	assert_int_equal(guest_send(t->core, &t->g, 6001, 80, S, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	f = t->fh.conns[1];
	vsock_core_host_connected(t->core, f->c, -ECONNREFUSED);
	assert_true(f->closed);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 6001);
	assert_int_equal(stats(t).conns, 1);
	/* data before the RESPONSE is a protocol error */
	assert_int_equal(guest_send(t->core, &t->g, 6002, 80, S, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	assert_int_equal(guest_send(t->core, &t->g, 6002, 80, S, VIRTIO_VSOCK_OP_RW, 0, "x", 1), 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_true(t->fh.conns[2]->closed);
}

static void test_host_connect_hybrid(void **state)
{
	struct ctx *t = *state;
	struct vsock_conn *c;
	struct fake_conn *f;
	struct vsock_hdr h;

	assert_int_equal(vsock_core_host_connect(t->core, 52, 0, S, VSOCK_F_HYBRID, &c), 0);
	f = fake_attach(&t->fh, c);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, 52);
	assert_true(h.src_port >= 1024);
	assert_int_equal(h.buf_alloc, BA);
	/* the host program may already have sent data: it waits */
	fake_host_write(&t->fh, f, "early", 5);
	assert_false(vsock_core_rx_pending(t->core));
	assert_int_equal(guest_send(t->core, &t->g, 52, h.src_port, S, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0), 0);
	/* "OK <guest port>\n" as vhost-device-vsock 0.3.0 answers, before any data */
	assert_int_equal(f->out_len, 6);
	assert_memory_equal(f->out, "OK 52\n", 6);
	assert_int_equal(c->fwd_cnt, 0);   /* not guest data: no credit */
	assert_int_equal(guest_send(t->core, &t->g, 52, h.src_port, S, VIRTIO_VSOCK_OP_RW, 0, "abc", 3), 0);
	assert_memory_equal(f->out, "OK 52\nabc", 9);
	assert_int_equal(c->fwd_cnt, 3);
	vsock_core_host_event(t->core, c, VSOCK_EV_IN);
	{
		char d[16];

		assert_int_equal(guest_recv(t->core, &h, d, 16), 49);
		assert_memory_equal(d, "early", 5);
	}
}

static void test_host_connect_hybrid_slow_ok(void **state)
{
	struct ctx *t = *state;
	struct vsock_conn *c;
	struct fake_conn *f;
	struct vsock_hdr h;

	assert_int_equal(vsock_core_host_connect(t->core, 7, 0, S, VSOCK_F_HYBRID, &c), 0);
	f = fake_attach(&t->fh, c);
	f->out_room = 2;      /* host socket takes 2 bytes only */
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(guest_send(t->core, &t->g, 7, h.src_port, S, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0), 0);
	assert_int_equal(guest_send(t->core, &t->g, 7, h.src_port, S, VIRTIO_VSOCK_OP_RW, 0, "data", 4), 0);
	assert_int_equal(f->out_len, 2);
	assert_true(f->events & VSOCK_EV_OUT);
	f->out_room = 100;
	vsock_core_host_event(t->core, c, VSOCK_EV_OUT);
	assert_int_equal(f->out_len, 9);
	assert_memory_equal(f->out, "OK 7\ndata", 9);
	assert_int_equal(c->fwd_cnt, 4);
	assert_false(f->events & VSOCK_EV_OUT);
}

static void test_host_connect_no_listener(void **state)
{
	struct ctx *t = *state;
	struct vsock_conn *c;
	struct fake_conn *f;
	struct vsock_hdr h;

	assert_int_equal(vsock_core_host_connect(t->core, 9999, 0, S, VSOCK_F_HYBRID, &c), 0);
	f = fake_attach(&t->fh, c);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	/* guest has no listener: RST; the host socket is closed at once */
	assert_int_equal(guest_send(t->core, &t->g, 9999, h.src_port, S, VIRTIO_VSOCK_OP_RST, 0, NULL, 0), 0);
	assert_true(f->closed);
	assert_int_equal(f->out_len, 0);
	assert_int_equal(stats(t).conns, 0);
	assert_false(vsock_core_rx_pending(t->core));
}

static void test_host_client_gone_before_response(void **state)
{
	struct ctx *t = *state;
	struct vsock_conn *c;
	struct fake_conn *f;
	struct vsock_hdr h;

	assert_int_equal(vsock_core_host_connect(t->core, 10, 0, S, VSOCK_F_HYBRID, &c), 0);
	f = fake_attach(&t->fh, c);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	vsock_core_host_event(t->core, c, VSOCK_EV_HUP);
	assert_true(f->closed);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(stats(t).conns, 0);
}

/* A guest that never answers a host connect: RST and the host socket closed. */
static void test_host_connect_timeout(void **state)
{
	struct ctx *t = *state;
	struct vsock_conn *c, *c2;
	struct fake_conn *f, *f2;
	struct vsock_hdr h, h2;

	assert_int_equal(vsock_core_host_connect(t->core, 11, 0, S, VSOCK_F_HYBRID, &c), 0);
	f = fake_attach(&t->fh, c);
	assert_int_equal(vsock_core_host_connect(t->core, 12, 0, S, VSOCK_F_HYBRID, &c2), 0);
	f2 = fake_attach(&t->fh, c2);
	assert_int_equal(vsock_core_pending_connects(t->core), 2);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.dst_port, 11);
	assert_int_equal(guest_recv(t->core, &h2, NULL, 64), 44);
	assert_int_equal(h2.dst_port, 12);
	/* the guest answers port 12 only */
	assert_int_equal(guest_send(t->core, &t->g, 12, h2.src_port, S, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0), 0);
	assert_int_equal(vsock_core_expire(t->core), 2);   /* not due yet */
	assert_false(f->closed);
	usleep(70000);
	assert_int_equal(vsock_core_expire(t->core), 0);
	assert_true(f->closed);
	assert_int_equal(f->out_len, 0);          /* no "OK" */
	assert_int_equal(stats(t).connect_timeouts, 1);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 11);
	/* a RESPONSE arriving after that is answered with an RST too */
	assert_int_equal(guest_send(t->core, &t->g, 11, h.src_port, S, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0), 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	/* the answered connection is untouched */
	assert_false(f2->closed);
	assert_int_equal(f2->out_len, 6);
	assert_memory_equal(f2->out, "OK 12\n", 6);
	assert_int_equal(stats(t).conns, 1);
}

/* Answered connects leave the pending FIFO at once: the host timer can stop. */
static void test_host_connects_answered_not_pending(void **state)
{
	struct ctx *t = *state;
	struct vsock_conn *c[3];
	struct vsock_hdr h[3];
	unsigned int i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(vsock_core_host_connect(t->core, 21 + i, 0, S, VSOCK_F_HYBRID, &c[i]), 0);
		fake_attach(&t->fh, c[i]);
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(guest_recv(t->core, &h[i], NULL, 64), 44);
		assert_int_equal(h[i].op, VIRTIO_VSOCK_OP_REQUEST);
	}
	assert_int_equal(vsock_core_pending_connects(t->core), 3);
	/* out of order: the oldest still waits, so all three stay */
	assert_int_equal(guest_send(t->core, &t->g, 22, h[1].src_port, S, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0), 0);
	assert_int_equal(vsock_core_pending_connects(t->core), 3);
	/* the oldest answers: it and the one answered before it go */
	assert_int_equal(guest_send(t->core, &t->g, 21, h[0].src_port, S, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0), 0);
	assert_int_equal(vsock_core_pending_connects(t->core), 1);
	/* the guest resets the last one: settled too, gone at the next expire */
	assert_int_equal(guest_send(t->core, &t->g, 23, h[2].src_port, S, VIRTIO_VSOCK_OP_RST, 0, NULL, 0), 0);
	assert_int_equal(vsock_core_expire(t->core), 0);
	assert_int_equal(stats(t).connect_timeouts, 0);
	assert_int_equal(stats(t).conns, 2);
}

static void test_unknown_connection(void **state)
{
	struct ctx *t = *state;
	struct vsock_hdr h;

	assert_int_equal(guest_send(t->core, &t->g, 1, 2, S, VIRTIO_VSOCK_OP_RW, 0, "x", 1), 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	/* an RST for nothing is not answered */
	assert_int_equal(guest_send(t->core, &t->g, 1, 2, S, VIRTIO_VSOCK_OP_RST, 0, NULL, 0), 0);
	assert_false(vsock_core_rx_pending(t->core));
	/* bad type: RST; wrong source CID: dropped silently */
	assert_int_equal(guest_send(t->core, &t->g, 1, 2, 9, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	t->g.cid = 77;
	assert_int_equal(guest_send(t->core, &t->g, 1, 2, S, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	assert_false(vsock_core_rx_pending(t->core));
	assert_int_equal(t->fh.connects, 0);
	assert_int_equal(stats(t).bad_pkts, 2);
}

static void test_ctl_ring_backpressure(void **state)
{
	struct ctx *t = *state;
	struct vsock_hdr h;
	unsigned int i;

	for (i = 0; i < VSOCK_CTL_RING; i++)
		assert_int_equal(guest_send(t->core, &t->g, 100 + i, 2, S, VIRTIO_VSOCK_OP_RW, 0, "x", 1), 0);
	/* reply ring full: TX must wait, nothing is lost */
	assert_int_equal(guest_send(t->core, &t->g, 999, 2, S, VIRTIO_VSOCK_OP_RW, 0, "x", 1), -EAGAIN);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.dst_port, 100);
	assert_int_equal(guest_send(t->core, &t->g, 999, 2, S, VIRTIO_VSOCK_OP_RW, 0, "x", 1), 0);
	for (i = 1; i <= VSOCK_CTL_RING; i++)
		assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.dst_port, 999);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 0);
}

static void test_credit_slow_host_and_overrun(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, S);
	static uint8_t big[BA];
	struct vsock_hdr h;
	unsigned int i;

	f->out_room = 1000;    /* slow reader */
	for (i = 0; i < 16; i++)
		assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, big, 4096), 0);
	/* 65536 taken: 1000 written, the rest buffered (grown on demand) */
	assert_int_equal(f->out_len, 1000);
	assert_int_equal(stats(t).buffered, BA - 1000);
	assert_true(f->events & VSOCK_EV_OUT);
	assert_false(vsock_core_rx_pending(t->core));   /* nothing freed worth telling */
	/* the reader takes a quarter: now a CREDIT_UPDATE is due */
	f->out_room = 16384;
	vsock_core_host_event(t->core, f->c, VSOCK_EV_OUT);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, 17384);
	/* guest uses exactly the new credit: fine */
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, big, 17384), 0);
	assert_int_equal(stats(t).overruns, 0);
	/* one byte more than granted: RST, host side closed, nothing silently dropped */
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, big, 1), 0);
	assert_int_equal(stats(t).overruns, 1);
	assert_true(f->closed);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(stats(t).conns, 0);
	assert_int_equal(stats(t).buffered, 0);
}

static void test_credit_update_not_every_packet(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, S);
	static uint8_t chunk[1024];
	struct vsock_hdr h;
	unsigned int i, updates = 0;
	uint32_t fwd_seen = 0;

	/* a guest that only learns our fwd_cnt from CREDIT_UPDATEs streams 1 MiB */
	for (i = 0; i < 1024; i++) {
		uint32_t known_free = BA - (f->c->tx_cnt - fwd_seen);

		assert_true(known_free >= sizeof(chunk));   /* never stalls */
		assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, chunk,
					    sizeof(chunk)), 0);
		while (guest_recv(t->core, &h, NULL, 64) > 0) {
			assert_int_equal(h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
			fwd_seen = h.fwd_cnt;
			updates++;
		}
	}
	assert_int_equal(f->out_len, 1024 * 1024);
	/* about one update per buf_alloc/2 bytes, not one per packet */
	assert_true(updates >= 16 && updates <= 40);
	/* CREDIT_REQUEST is always answered */
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, NULL, 0), 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, 1024 * 1024);
}

static void test_credit_tiny_buffer(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, S);
	struct vsock_hdr h;
	uint32_t fwd_seen = 0;
	unsigned int i;

	/* a one-byte window still moves: every byte written frees it again */
	for (i = 0; i < 64; i++) {
		assert_int_equal(1u - (f->c->tx_cnt - fwd_seen), 1u);
		assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, "z", 1), 0);
		while (guest_recv(t->core, &h, NULL, 64) > 0) {
			assert_int_equal(h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
			fwd_seen = h.fwd_cnt;
		}
	}
	assert_int_equal(f->out_len, 64);
	assert_int_equal(stats(t).overruns, 0);
}

static void test_rx_respects_guest_credit(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f;
	static uint8_t data[5000];
	uint8_t got[4096];
	struct vsock_hdr h;
	unsigned int i;

	t->g.buf_alloc = 1000;
	f = gconnect(t, 5000, 1234, S);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	fake_host_write(&t->fh, f, data, sizeof(data));
	assert_int_equal(guest_recv(t->core, &h, got, 4096), 44 + 1000);
	assert_memory_equal(got, data, 1000);
	/* no credit: nothing more, and the host socket is not polled */
	assert_int_equal(guest_recv(t->core, &h, got, 4096), 0);
	assert_int_equal(f->events, 0);
	/* guest reads and tells us */
	t->g.fwd_cnt = 600;
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0), 0);
	assert_int_equal(guest_recv(t->core, &h, got, 4096), 44 + 600);
	assert_memory_equal(got, data + 1000, 600);
	/* a bigger window, a small RX buffer: limited by the buffer */
	t->g.buf_alloc = 1 << 20;
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0), 0);
	assert_int_equal(guest_recv(t->core, &h, got, 100), 44 + 100);
	assert_memory_equal(got, data + 1600, 100);
	assert_int_equal(f->c->rx_cnt, 1700);
}

/* ---- several RX buffers per host read (vsock_core_rx_burst) */

#define LBUF (VSOCK_HDR_SIZE + 4096)   /* Linux's RX buffer: header + 4 KiB */

struct bufset {
	uint8_t mem[8][LBUF];
	struct iovec iov[8][2];
	struct vsock_rx_buf b[8];
	uint32_t lens[8];
};

/* @n buffers of @size bytes, each split in two iovecs (header across them). */
static void bufs_init(struct bufset *s, unsigned int n, size_t size)
{
	unsigned int i;

	memset(s, 0xee, sizeof(*s));
	for (i = 0; i < n; i++) {
		s->iov[i][0] = (struct iovec){ s->mem[i], 30 };
		s->iov[i][1] = (struct iovec){ s->mem[i] + 30, size - 30 };
		s->b[i] = (struct vsock_rx_buf){ s->iov[i], 2 };
	}
}

static struct vsock_hdr bufs_hdr(const struct bufset *s, unsigned int i)
{
	struct vsock_hdr h;

	vsock_hdr_decode(&h, (const struct virtio_vsock_hdr *)(const void *)s->mem[i]);
	return h;
}

static void test_rx_burst_one_read(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, S);
	static uint8_t data[10000];
	static struct bufset s;
	struct vsock_hdr h;
	unsigned int i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	fake_host_write(&t->fh, f, data, sizeof(data));
	f->recvs = 0;
	bufs_init(&s, 4, LBUF);
	/* 10,000 bytes: one host read, three packets, the fourth buffer untouched */
	assert_int_equal(vsock_core_rx_burst(t->core, s.b, 4, s.lens), 3);
	assert_int_equal(f->recvs, 1);
	assert_int_equal(s.lens[0], LBUF);
	assert_int_equal(s.lens[1], LBUF);
	assert_int_equal(s.lens[2], VSOCK_HDR_SIZE + 10000 - 8192);
	assert_int_equal(s.lens[3], 0xeeeeeeeeu);
	assert_int_equal(s.mem[3][0], 0xee);
	for (i = 0; i < 3; i++) {
		h = bufs_hdr(&s, i);
		assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
		assert_int_equal(h.type, S);
		assert_int_equal(h.src_port, 1234);
		assert_int_equal(h.dst_port, 5000);
		assert_int_equal(h.dst_cid, GCID);
		assert_int_equal(h.len, s.lens[i] - VSOCK_HDR_SIZE);
		assert_int_equal(h.buf_alloc, BA);
		assert_memory_equal(s.mem[i] + VSOCK_HDR_SIZE, data + 4096 * i, h.len);
	}
	assert_int_equal(f->c->rx_cnt, 10000);
	assert_int_equal(stats(t).rx_bytes, 10000);
	/* the short read emptied the socket: nothing more until the next edge */
	assert_false(vsock_core_rx_pending(t->core));
	assert_int_equal(vsock_core_rx_burst(t->core, s.b, 4, s.lens), 0);
	assert_int_equal(f->recvs, 1);
}

static void test_rx_burst_credit(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f;
	static uint8_t data[20000];
	static struct bufset s;
	struct vsock_hdr h;
	unsigned int i;

	t->g.buf_alloc = 6000;
	f = gconnect(t, 5000, 1234, S);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	fake_host_write(&t->fh, f, data, sizeof(data));
	bufs_init(&s, 8, LBUF);
	/* the guest's 6000 bytes of credit, over two buffers; not one byte more */
	assert_int_equal(vsock_core_rx_burst(t->core, s.b, 8, s.lens), 2);
	assert_int_equal(s.lens[0], LBUF);
	assert_int_equal(s.lens[1], VSOCK_HDR_SIZE + 6000 - 4096);
	assert_int_equal(f->c->rx_cnt, 6000);
	assert_int_equal(vsock_core_rx_want(t->core), 0);
	assert_int_equal(vsock_core_rx_burst(t->core, s.b, 8, s.lens), 0);
	/* the guest consumed 5000: exactly that much comes next */
	t->g.fwd_cnt = 5000;
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0), 0);
	assert_int_equal(vsock_core_rx_want(t->core), 5000);
	assert_int_equal(vsock_core_rx_burst(t->core, s.b, 8, s.lens), 2);
	assert_int_equal(s.lens[0], LBUF);
	assert_int_equal(s.lens[1], VSOCK_HDR_SIZE + 5000 - 4096);
	h = bufs_hdr(&s, 1);
	assert_int_equal(h.len, 5000 - 4096);
	assert_memory_equal(s.mem[0] + VSOCK_HDR_SIZE, data + 6000, 4096);
	assert_memory_equal(s.mem[1] + VSOCK_HDR_SIZE, data + 10096, 5000 - 4096);
	assert_int_equal(f->c->rx_cnt, 11000);
}

static void test_rx_burst_want(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, S);
	static uint8_t data[12000];
	static struct bufset s;
	struct vsock_hdr h;

	assert_int_equal(vsock_core_rx_want(t->core), 0);
	fake_host_write(&t->fh, f, data, sizeof(data));
	/* nothing known yet about how much is waiting: one buffer's worth */
	assert_int_equal(vsock_core_rx_want(t->core), 0);
	bufs_init(&s, 1, LBUF);
	assert_int_equal(vsock_core_rx_burst(t->core, s.b, 1, s.lens), 1);
	/* that read filled its buffer: the next turn may take the whole credit */
	assert_int_equal(vsock_core_rx_want(t->core), 262144 - 4096);
	/* a control packet's turn (an RST for an unknown port) wants one buffer */
	assert_int_equal(guest_send(t->core, &t->g, 6000, 999, S, VIRTIO_VSOCK_OP_RW, 0, "x", 1), 0);
	assert_int_equal(vsock_core_rx_want(t->core), 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 4096), VSOCK_HDR_SIZE);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(vsock_core_rx_want(t->core), 262144 - 4096);
	bufs_init(&s, 4, LBUF);
	assert_int_equal(vsock_core_rx_burst(t->core, s.b, 4, s.lens), 2);
	assert_int_equal(s.lens[1], VSOCK_HDR_SIZE + 12000 - 8192);
	/* a short read: back to one buffer */
	assert_int_equal(vsock_core_rx_want(t->core), 0);
	/* an RW packet always carries the guest's credit state for us */
	h = bufs_hdr(&s, 1);
	assert_int_equal(h.fwd_cnt, 0);
}

static void test_rx_burst_seqpacket_one_message(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, Q);
	static struct bufset s;
	struct vsock_hdr h;

	fake_host_write(&t->fh, f, "first", 5);
	fake_host_write(&t->fh, f, "second", 6);
	bufs_init(&s, 4, LBUF);
	assert_int_equal(vsock_core_rx_burst(t->core, s.b, 4, s.lens), 1);
	h = bufs_hdr(&s, 0);
	assert_int_equal(h.len, 5);
	assert_int_equal(h.flags & VIRTIO_VSOCK_SEQ_EOM, VIRTIO_VSOCK_SEQ_EOM);
	assert_int_equal(vsock_core_rx_want(t->core), 0);
	assert_int_equal(vsock_core_rx_burst(t->core, s.b, 4, s.lens), 1);
	h = bufs_hdr(&s, 0);
	assert_int_equal(h.len, 6);
	assert_memory_equal(s.mem[0] + VSOCK_HDR_SIZE, "second", 6);
}

static void test_rx_burst_bad_buffers(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, S);
	static uint8_t data[9000];
	static struct bufset s;
	struct iovec tiny = { s.mem[7], VSOCK_HDR_SIZE - 1 };
	struct iovec bare = { s.mem[6], VSOCK_HDR_SIZE };
	struct vsock_rx_buf b[3];
	uint32_t lens[3] = { 0, 0, 0 };

	fake_host_write(&t->fh, f, data, sizeof(data));
	/* a first buffer without room for a header is refused, nothing read */
	b[0] = (struct vsock_rx_buf){ &tiny, 1 };
	assert_int_equal(vsock_core_rx_burst(t->core, b, 1, lens), -EINVAL);
	assert_int_equal(vsock_core_rx_burst(t->core, b, 0, lens), -EINVAL);
	assert_int_equal(f->c->rx_cnt, 0);
	/* a later buffer with no payload room ends the burst; no bytes lost */
	bufs_init(&s, 2, LBUF);
	b[0] = s.b[0];
	b[1] = (struct vsock_rx_buf){ &bare, 1 };
	b[2] = s.b[1];
	assert_int_equal(vsock_core_rx_burst(t->core, b, 3, lens), 1);
	assert_int_equal(lens[0], LBUF);
	assert_int_equal(lens[1], 0);
	assert_int_equal(vsock_core_rx_burst(t->core, s.b + 1, 1, lens), 1);
	assert_int_equal(lens[0], LBUF);
	assert_int_equal(vsock_core_rx_burst(t->core, s.b, 1, lens), 1);
	assert_int_equal(lens[0], VSOCK_HDR_SIZE + 9000 - 8192);
	assert_int_equal(f->c->rx_cnt, 9000);
}

static void test_half_close_guest_first(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, S);
	struct vsock_hdr h;
	char d[64];

	f->out_room = 3;
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, "request", 7), 0);
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_SHUTDOWN,
				    VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0), 0);
	/* SHUT_WR only after the buffered bytes are out */
	assert_false(f->shut_wr);
	f->out_room = 100;
	vsock_core_host_event(t->core, f->c, VSOCK_EV_OUT);
	assert_true(f->shut_wr);
	assert_false(f->closed);
	assert_memory_equal(f->out, "request", 7);
	/* the other direction still flows */
	fake_host_write(&t->fh, f, "reply", 5);
	assert_int_equal(guest_recv(t->core, &h, d, 64), 49);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	/* host EOF (a new edge, with RDHUP): SHUTDOWN(SEND) to the guest, then both shut: RST and close */
	f->in_eof = true;
	vsock_core_host_event(t->core, f->c, VSOCK_EV_IN | VSOCK_EV_RDHUP);
	assert_int_equal(guest_recv(t->core, &h, d, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_true(f->closed);
	assert_int_equal(stats(t).conns, 0);
}

static void test_half_close_host_first(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, S);
	struct vsock_hdr h;
	char d[64];

	/* data and EOF before the event: it reports RDHUP, the core reads on to EOF */
	f->in_eof = true;
	fake_host_write(&t->fh, f, "bye", 3);
	vsock_core_host_event(t->core, f->c, VSOCK_EV_IN | VSOCK_EV_RDHUP);
	assert_int_equal(guest_recv(t->core, &h, d, 64), 47);
	assert_int_equal(guest_recv(t->core, &h, d, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
	assert_false(f->closed);
	/* guest keeps sending after the host's EOF */
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, "more", 4), 0);
	assert_memory_equal(f->out, "more", 4);
	assert_false(vsock_core_rx_pending(t->core));
	/* guest closes: RST, host closed */
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_SHUTDOWN,
				    VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV, NULL, 0), 0);
	assert_true(f->shut_wr);
	assert_true(f->closed);
	assert_int_equal(guest_recv(t->core, &h, d, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(stats(t).conns, 0);
}

/* A stream read shorter than asked emptied the socket: no second read to EAGAIN. */
static void test_short_read_drains(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, S);
	struct vsock_hdr h;
	char d[64];

	fake_host_write(&t->fh, f, "ping", 4);
	assert_true(vsock_core_rx_pending(t->core));
	assert_int_equal(guest_recv(t->core, &h, d, 64), 48);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
	assert_false(vsock_core_rx_pending(t->core));
	/* a read that filled the buffer may have left bytes: stays readable */
	fake_host_write(&t->fh, f, "0123456789", 10);
	assert_int_equal(guest_recv(t->core, &h, d, 4), 48);
	assert_true(vsock_core_rx_pending(t->core));
	assert_int_equal(guest_recv(t->core, &h, d, 64), 50);
	assert_memory_equal(d, "456789", 6);
	assert_false(vsock_core_rx_pending(t->core));
	/* the next bytes come with a new edge */
	fake_host_write(&t->fh, f, "pong", 4);
	assert_int_equal(guest_recv(t->core, &h, d, 64), 48);
	assert_memory_equal(d, "pong", 4);
}

static void test_host_write_error_resets(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, S);
	struct vsock_hdr h;

	f->send_err = -EPIPE;
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, "x", 1), 0);
	assert_true(f->closed);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	/* guest RST on a live connection: closed, no answer */
	f = gconnect(t, 5001, 1234, S);
	assert_int_equal(guest_send(t->core, &t->g, 5001, 1234, S, VIRTIO_VSOCK_OP_RST, 0, NULL, 0), 0);
	assert_true(f->closed);
	assert_false(vsock_core_rx_pending(t->core));
	assert_int_equal(stats(t).conns, 0);
}

static void test_rx_fairness(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f[3];
	static uint8_t data[100000];
	struct vsock_hdr h;
	unsigned int i, seen[3] = { 0 };

	for (i = 0; i < 3; i++)
		f[i] = gconnect(t, 5000 + i, 1234, S);
	for (i = 0; i < 3; i++)
		fake_host_write(&t->fh, f[i], data, sizeof(data));
	/* 30 packets of 1000 bytes: each connection gets its turn */
	for (i = 0; i < 30; i++) {
		assert_int_equal(guest_recv(t->core, &h, NULL, 1000), 1044);
		seen[h.dst_port - 5000]++;
	}
	assert_int_equal(seen[0], 10);
	assert_int_equal(seen[1], 10);
	assert_int_equal(seen[2], 10);
}

static void test_seqpacket(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, Q);
	static uint8_t msg[10000];
	uint8_t got[10000];
	struct vsock_hdr h;
	unsigned int i, off;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 3);
	/* guest sends one message in three fragments: one host send() */
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, Q, VIRTIO_VSOCK_OP_RW, 0, msg, 4000), 0);
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, Q, VIRTIO_VSOCK_OP_RW, 0, msg + 4000, 4000), 0);
	assert_int_equal(f->sends, 0);
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, Q, VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_SEQ_EOM,
				    msg + 8000, 2000), 0);
	assert_int_equal(f->sends, 1);
	assert_int_equal(f->out_len, 10000);
	assert_memory_equal(f->out, msg, 10000);
	/* a small message passes straight through */
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, Q, VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_SEQ_EOM,
				    "abc", 3), 0);
	assert_int_equal(f->sends, 2);
	/* boundaries survive a blocked host: two messages queued, two sends */
	f->out_room = 0;
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, Q, VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_SEQ_EOM,
				    "one", 3), 0);
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, Q, VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_SEQ_EOM,
				    "three", 5), 0);
	f->out_room = 100;
	vsock_core_host_event(t->core, f->c, VSOCK_EV_OUT);
	assert_int_equal(f->sends, 4);
	assert_memory_equal(f->out + 10003, "onethree", 8);
	assert_int_equal(f->c->fwd_cnt, 10011);

	/* host message of 10000 bytes into 4096-byte RX buffers: 3 fragments, EOM on the last */
	fake_host_write(&t->fh, f, msg, sizeof(msg));
	off = 0;
	for (i = 0; i < 3; i++) {
		int r = guest_recv(t->core, &h, got + off, 4096);

		assert_true(r > 44);
		assert_int_equal(h.flags & VIRTIO_VSOCK_SEQ_EOM, i == 2 ? VIRTIO_VSOCK_SEQ_EOM : 0);
		off += h.len;
	}
	assert_int_equal(off, 10000);
	assert_memory_equal(got, msg, 10000);
	/* a small message: one packet with EOM */
	fake_host_write(&t->fh, f, "hi", 2);
	assert_int_equal(guest_recv(t->core, &h, got, 4096), 46);
	assert_int_equal(h.flags, VIRTIO_VSOCK_SEQ_EOM);
	assert_int_equal(h.type, Q);
	/* stream packets on a seqpacket connection: RST */
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, S, VIRTIO_VSOCK_OP_RW, 0, "x", 1), 0);
	assert_true(f->closed);
}

static void test_seqpacket_small_messages_slow_host(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, Q);
	unsigned int i;
	uint8_t b;

	/* the host reads nothing while the guest uses its whole credit in 1-byte messages */
	f->out_room = 0;
	for (i = 0; i < BA; i++) {
		b = (uint8_t)i;
		assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, Q, VIRTIO_VSOCK_OP_RW,
					    VIRTIO_VSOCK_SEQ_EOM, &b, 1), 0);
	}
	assert_false(f->closed);
	assert_int_equal(stats(t).overruns, 0);
	assert_false(vsock_core_rx_pending(t->core));   /* no RST */
	/* the reader wakes up: every message arrives, one send each */
	f->out_room = BA;
	vsock_core_host_event(t->core, f->c, VSOCK_EV_OUT);
	assert_int_equal(f->sends, BA);
	assert_int_equal(f->out_len, BA);
	for (i = 0; i < BA; i++)
		assert_int_equal(f->out[i], (uint8_t)i);
	assert_int_equal(f->c->fwd_cnt, BA);
	assert_int_equal(stats(t).buffered, 0);
}

static void test_seqpacket_shutdown_mid_message(void **state)
{
	struct ctx *t = *state;
	struct fake_conn *f = gconnect(t, 5000, 1234, Q);
	struct vsock_hdr h;

	/* one whole message, then the first half of another, then SHUTDOWN(SEND) */
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, Q, VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_SEQ_EOM,
				    "whole", 5), 0);
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, Q, VIRTIO_VSOCK_OP_RW, 0, "half", 4), 0);
	assert_int_equal(guest_send(t->core, &t->g, 5000, 1234, Q, VIRTIO_VSOCK_OP_SHUTDOWN,
				    VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0), 0);
	/* the unfinished message never reaches the host; the shutdown does */
	assert_int_equal(f->sends, 1);
	assert_int_equal(f->out_len, 5);
	assert_true(f->shut_wr);
	assert_int_equal(stats(t).buffered, 0);
	/* and the connection ends once the host is done too */
	f->in_eof = true;
	vsock_core_host_event(t->core, f->c, VSOCK_EV_IN | VSOCK_EV_RDHUP);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_true(f->closed);
	assert_int_equal(stats(t).conns, 0);
}

static void test_seqpacket_disabled(void **state)
{
	struct ctx *t = *state;
	struct vsock_hdr h;
	struct vsock_conn *c;

	vsock_core_set_seqpacket(t->core, false);
	assert_int_equal(guest_send(t->core, &t->g, 1, 2, Q, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
	assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(vsock_core_host_connect(t->core, 1, 0, Q, 0, &c), -EPROTONOSUPPORT);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_10000_connections(void **state)
{
	struct ctx *t = *state;
	struct vsock_hdr h;
	unsigned int i;
	double t0 = now_s(), t1;

	/* 5,000 guest-initiated and 5,000 host-initiated connections */
	for (i = 0; i < 5000; i++) {
		assert_int_equal(guest_send(t->core, &t->g, 100000 + i, 1234, S, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
		assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
		assert_int_equal(h.op, VIRTIO_VSOCK_OP_RESPONSE);
	}
	for (i = 0; i < 5000; i++) {
		struct vsock_conn *c;

		assert_int_equal(vsock_core_host_connect(t->core, 80, 0, S, 0, &c), 0);
		fake_attach(&t->fh, c);
		assert_int_equal(guest_recv(t->core, &h, NULL, 64), 44);
		assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
		assert_int_equal(guest_send(t->core, &t->g, 80, h.src_port, S, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0), 0);
	}
	assert_int_equal(stats(t).conns, 10000);
	/* every connection is found and carries its own data */
	for (i = 0; i < 5000; i++) {
		uint8_t b = (uint8_t)i;

		assert_non_null(vsock_core_lookup(t->core, 1234, 100000 + i));
		assert_int_equal(guest_send(t->core, &t->g, 100000 + i, 1234, S, VIRTIO_VSOCK_OP_RW, 0, &b, 1), 0);
		assert_int_equal(t->fh.conns[i]->out_len, 1);
		assert_int_equal(t->fh.conns[i]->out[0], b);
	}
	t1 = now_s();
	print_message("# 10000 connections set up + 5000 RW in %.3f s; sizeof(struct vsock_conn) = %zu\n",
		      t1 - t0, sizeof(struct vsock_conn));
	/* idle connection: the struct plus a hash bucket, no buffers */
	assert_true(sizeof(struct vsock_conn) <= 192);
	assert_int_equal(stats(t).buffered, 0);
	/* a duplicate host connect pair is refused */
	{
		struct vsock_conn *c;

		assert_int_equal(vsock_core_host_connect(t->core, 100000, 1234, S, 0, &c), -EEXIST);
	}
	/* VMM gone: everything closed */
	vsock_core_reset(t->core);
	assert_int_equal(stats(t).conns, 0);
	for (i = 0; i < t->fh.nconns; i++)
		assert_true(t->fh.conns[i]->closed);
	assert_false(vsock_core_rx_pending(t->core));
}

static void test_conn_limit(void **state)
{
	struct ctx *t = *state;
	struct vsock_core_cfg cfg = { .guest_cid = GCID, .buf_alloc = BA, .max_conns = 2 };
	struct vsock_core *core = vsock_core_new(&cfg, &fake_ops, &t->fh);
	struct vsock_hdr h;
	struct vsock_conn *c;

	assert_int_equal(guest_send(core, &t->g, 1, 9, S, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	assert_int_equal(guest_send(core, &t->g, 2, 9, S, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	assert_int_equal(guest_send(core, &t->g, 3, 9, S, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), 0);
	assert_int_equal(vsock_core_host_connect(core, 1, 0, S, 0, &c), -ENOSPC);
	{
		unsigned int i, rst = 0, resp = 0;

		for (i = 0; i < 3; i++) {
			assert_int_equal(guest_recv(core, &h, NULL, 64), 44);
			if (h.op == VIRTIO_VSOCK_OP_RST) {
				assert_int_equal(h.dst_port, 3);
				rst++;
			} else {
				assert_int_equal(h.op, VIRTIO_VSOCK_OP_RESPONSE);
				resp++;
			}
		}
		assert_int_equal(rst, 1);
		assert_int_equal(resp, 2);
	}
	vsock_core_free(core);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_guest_connect_and_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_connect_other_cid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_connect_async, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_hybrid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_hybrid_slow_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_no_listener, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_client_gone_before_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_timeout, setup_connect_timeout, teardown),
		cmocka_unit_test_setup_teardown(test_host_connects_answered_not_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl_ring_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_slow_host_and_overrun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_update_not_every_packet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_tiny_buffer, setup_tiny_buffer, teardown),
		cmocka_unit_test_setup_teardown(test_rx_respects_guest_credit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_burst_one_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_burst_credit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_burst_want, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_burst_seqpacket_one_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_burst_bad_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close_guest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close_host_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_read_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_write_error_resets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_fairness, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seqpacket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seqpacket_small_messages_slow_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seqpacket_shutdown_mid_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seqpacket_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_10000_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conn_limit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
