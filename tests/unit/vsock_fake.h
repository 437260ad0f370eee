/* SPDX-License-Identifier: MIT */
/*
 * vsock_fake.h - a fake host side for the vsock protocol core, and a fake
 * guest driver: packets are built/parsed in plain buffers, no threads.
 */
#ifndef VSOCK_FAKE_H
#define VSOCK_FAKE_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vsock/vsock_core.h"

#define FAKE_BUF (1u << 20)
#define FAKE_MAX_CONNS 20000

struct fake_conn {
	struct vsock_conn *c;
	/* host -> guest bytes the host program has written */
	uint8_t *in;
	size_t in_len, in_off;
	bool in_eof;
	size_t msgs[64];          /* seqpacket: message lengths in @in */
	unsigned int nmsgs, msg_idx;
	/* guest -> host bytes received by the host program */
	uint8_t *out;
	size_t out_len;
	size_t out_room;          /* bytes the host socket still accepts */
	size_t sends;             /* send() calls that wrote something */
	size_t recvs;             /* recv() calls */
	int send_err;             /* next send fails with this */
	bool shut_wr, closed;
	uint32_t events;
};

struct fake_host {
	int connect_result;       /* what connect() returns */
	unsigned int connects;
	struct fake_conn *conns[FAKE_MAX_CONNS];
	unsigned int nconns;
	struct vsock_core *core;
};

static __attribute__((unused)) struct fake_conn *fake_attach(struct fake_host *fh, struct vsock_conn *c)
{
	struct fake_conn *f = calloc(1, sizeof(*f));

	f->c = c;
	f->out_room = (size_t)-1;
	c->priv = f;
	fh->conns[fh->nconns++] = f;
	return f;
}

static __attribute__((unused)) int fake_connect(void *opaque, struct vsock_conn *c)
{
	struct fake_host *fh = opaque;

	fh->connects++;
	if (fh->connect_result == 0 || fh->connect_result == -EINPROGRESS)
		fake_attach(fh, c);
	return fh->connect_result;
}

static __attribute__((unused)) ssize_t fake_send(void *opaque, struct vsock_conn *c, const struct iovec *iov, unsigned int n)
{
	struct fake_conn *f = c->priv;
	size_t len = vsock_iov_len(iov, n), w;

	(void)opaque;
	if (f->send_err) {
		int e = f->send_err;

		f->send_err = 0;
		return e;
	}
	if (!f->out)
		f->out = malloc(FAKE_BUF);
	w = len < f->out_room ? len : f->out_room;
	if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET && w < len)
		return -EAGAIN;
	if (!w)
		return -EAGAIN;
	if (f->out_len + w > FAKE_BUF)
		return -ENOBUFS;
	vsock_iov_from(iov, n, 0, f->out + f->out_len, w);
	f->out_len += w;
	f->out_room -= w;
	f->sends++;
	return (ssize_t)w;
}

static __attribute__((unused)) ssize_t fake_recv(void *opaque, struct vsock_conn *c, const struct iovec *iov, unsigned int n,
			 size_t *msglen)
{
	struct fake_conn *f = c->priv;
	size_t space = vsock_iov_len(iov, n), avail = f->in_len - f->in_off, r;

	(void)opaque;
	f->recvs++;
	if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
		if (f->msg_idx == f->nmsgs)
			return f->in_eof ? 0 : -EAGAIN;
		r = f->msgs[f->msg_idx];
		if (r > space) {
			if (msglen)
				*msglen = r;
			return -EMSGSIZE;
		}
		vsock_iov_to(iov, n, 0, f->in + f->in_off, r);
		f->in_off += r;
		f->msg_idx++;
		return (ssize_t)r;
	}
	if (!avail)
		return f->in_eof ? 0 : -EAGAIN;
	r = avail < space ? avail : space;
	vsock_iov_to(iov, n, 0, f->in + f->in_off, r);
	f->in_off += r;
	return (ssize_t)r;
}

static __attribute__((unused)) int fake_shutdown_wr(void *opaque, struct vsock_conn *c)
{
	struct fake_conn *f = c->priv;

	(void)opaque;
	f->shut_wr = true;
	return 0;
}

static __attribute__((unused)) void fake_set_events(void *opaque, struct vsock_conn *c, uint32_t ev)
{
	struct fake_conn *f = c->priv;

	(void)opaque;
	if (f)
		f->events = ev;
}

static __attribute__((unused)) void fake_close(void *opaque, struct vsock_conn *c)
{
	struct fake_conn *f = c->priv;

	(void)opaque;
	if (f) {
		f->closed = true;
		f->c = NULL;
	}
	c->priv = NULL;
}

static const struct vsock_host_ops fake_ops = {
	.connect = fake_connect,
	.send = fake_send,
	.recv = fake_recv,
	.shutdown_wr = fake_shutdown_wr,
	.set_events = fake_set_events,
	.close = fake_close,
};

static __attribute__((unused)) void fake_host_free(struct fake_host *fh)
{
	unsigned int i;

	for (i = 0; i < fh->nconns; i++) {
		free(fh->conns[i]->in);
		free(fh->conns[i]->out);
		free(fh->conns[i]);
	}
	fh->nconns = 0;
}

/* Host program writes @len bytes; the core hears EPOLLIN. */
static __attribute__((unused)) void fake_host_write(struct fake_host *fh, struct fake_conn *f, const void *buf, size_t len)
{
	if (!f->in)
		f->in = malloc(FAKE_BUF);
	memcpy(f->in + f->in_len, buf, len);
	f->in_len += len;
	if (f->c && f->c->type == VIRTIO_VSOCK_TYPE_SEQPACKET)
		f->msgs[f->nmsgs++] = len;
	if (f->c && (f->events & VSOCK_EV_IN))
		vsock_core_host_event(fh->core, f->c, VSOCK_EV_IN);
}

/* ---- fake guest */

struct fake_guest {
	uint64_t cid;
	uint64_t dst_cid;   /* 0: the host (2) */
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

/* Guest sends a packet; returns what vsock_core_tx returns. */
static __attribute__((unused)) int guest_send(struct vsock_core *core, const struct fake_guest *g, uint32_t sport, uint32_t dport,
		      uint16_t type, uint16_t op, uint32_t flags, const void *data, uint32_t len)
{
	uint8_t *buf = malloc(VSOCK_HDR_SIZE + len + 1);
	struct vsock_hdr h;
	struct iovec iov[3], d[3];
	struct vsock_pkt p;
	int r;

	memset(&h, 0, sizeof(h));
	h.src_cid = g->cid;
	h.dst_cid = g->dst_cid ? g->dst_cid : VSOCK_CID_HOST;
	h.src_port = sport;
	h.dst_port = dport;
	h.len = len;
	h.type = type;
	h.op = op;
	h.flags = flags;
	h.buf_alloc = g->buf_alloc;
	h.fwd_cnt = g->fwd_cnt;
	vsock_hdr_encode((struct virtio_vsock_hdr *)buf, &h);
	if (len)
		memcpy(buf + VSOCK_HDR_SIZE, data, len);
	/* header split in two, data in two descriptors */
	iov[0].iov_base = buf;
	iov[0].iov_len = 20;
	iov[1].iov_base = buf + 20;
	iov[1].iov_len = 24 + len / 2;
	iov[2].iov_base = buf + 44 + len / 2;
	iov[2].iov_len = len - len / 2;
	r = vsock_pkt_parse(&p, iov, 3, d);
	if (r == 0)
		r = vsock_core_tx(core, &p);
	free(buf);
	return r;
}

/* Guest receives one packet into a buffer of @space payload bytes. */
static __attribute__((unused)) int guest_recv(struct vsock_core *core, struct vsock_hdr *h, void *data, size_t space)
{
	uint8_t *buf = calloc(1, VSOCK_HDR_SIZE + space);
	struct iovec iov[2];
	int r;

	iov[0].iov_base = buf;
	iov[0].iov_len = 30;    /* header split across two buffers */
	iov[1].iov_base = buf + 30;
	iov[1].iov_len = 14 + space;
	r = vsock_core_rx(core, iov, 2);
	if (r > 0) {
		vsock_hdr_decode(h, (struct virtio_vsock_hdr *)buf);
		if (data && h->len)
			memcpy(data, buf + VSOCK_HDR_SIZE, h->len);
	}
	free(buf);
	return r;
}

#endif
