// SPDX-License-Identifier: MIT
/*
 * vsock_core.c - virtio-vsock protocol core (see vsock_core.h)
 *
 * Connections live in a chained hash table keyed by (local port, peer
 * port); the table doubles when it holds more entries than buckets.  An
 * idle connection costs one struct vsock_conn (~100 bytes) plus its bucket
 * share: buffers are allocated only while bytes are waiting.
 *
 * Connections with something to tell the guest sit on an intrusive FIFO;
 * vsock_core_rx() takes the head, emits at most one packet for it (or, in
 * vsock_core_rx_burst(), one host read's worth of packets) and puts it
 * back at the tail if it has more, so a busy stream cannot starve the
 * others.  Replies to packets that match no connection (RST) go through a
 * small ring; when it is full vsock_core_tx() pushes back (-EAGAIN) and the
 * device stops popping TX until RX drained it.
 *
 * SEQPACKET guest -> host: fragments are collected in txbuf until EOM; the
 * buffer then holds records [le32 length][bytes] that are written with one
 * send() each, so message boundaries survive a slow host reader.
 * SEQPACKET host -> guest: a host message larger than the RX buffer or the
 * guest's credit is read whole into rxstage and sent as several RW
 * packets, EOM on the last.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "common/log.h"
#include "vsock/vsock_core.h"

#define VSOCK_HASH_MIN_BITS 6
#define VSOCK_BUF_MIN 4096u
/* Largest host SEQPACKET message we stage for the guest. */
#define VSOCK_SEQ_MAX_MSG (1u << 20)

struct vsock_core {
	struct vsock_core_cfg cfg;
	const struct vsock_host_ops *ops;
	void *opaque;

	struct vsock_conn **buckets;
	unsigned int hbits;
	unsigned long nconns;

	struct vsock_conn *rx_head, *rx_tail;

	struct vsock_hdr ctl[VSOCK_CTL_RING];
	unsigned int ctl_head, ctl_len;
	bool ctl_turn;                /* alternate ctl ring / connections */

	uint32_t next_lport;
	struct vsock_core_stats st;

	/* host-side connects waiting for the guest, oldest first (a ring) */
	struct vsock_req { uint32_t lport, pport, deadline; } *reqs;
	unsigned int req_head, req_len, req_cap;
};

/* ------------------------------------------------------------ buffers */

static void vbuf_free(struct vsock_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->head = b->len = b->cap = 0;
}

/* Room for @add more bytes without exceeding @limit allocated. */
static int vbuf_reserve(struct vsock_buf *b, size_t add, size_t limit)
{
	size_t need = (size_t)b->len + add, ncap;
	uint8_t *np;

	if (need > limit)
		return -ENOSPC;
	if ((size_t)b->head + need <= b->cap)
		return 0;
	if (need <= b->cap) {
		memmove(b->p, b->p + b->head, b->len);
		b->head = 0;
		return 0;
	}
	ncap = b->cap ? (size_t)b->cap * 2 : VSOCK_BUF_MIN;
	while (ncap < need)
		ncap *= 2;
	if (ncap > limit)
		ncap = limit;
	np = malloc(ncap);
	if (!np)
		return -ENOMEM;
	if (b->len)
		memcpy(np, b->p + b->head, b->len);
	free(b->p);
	b->p = np;
	b->head = 0;
	b->cap = (uint32_t)ncap;
	return 0;
}

static uint8_t *vbuf_tail(struct vsock_buf *b)
{
	return b->p + b->head + b->len;
}

static void vbuf_consume(struct vsock_buf *b, size_t n)
{
	b->head += (uint32_t)n;
	b->len -= (uint32_t)n;
	if (!b->len)
		vbuf_free(b);   /* idle connections hold no buffer */
}

/* ------------------------------------------------------------ hash */

static inline unsigned int vsock_hash(uint32_t lport, uint32_t pport, unsigned int bits)
{
	uint64_t k = ((uint64_t)lport << 32) | pport;

	return (unsigned int)((k * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

struct vsock_conn *vsock_core_lookup(const struct vsock_core *core, uint32_t lport, uint32_t pport)
{
	struct vsock_conn *c = core->buckets[vsock_hash(lport, pport, core->hbits)];

	while (c && (c->lport != lport || c->pport != pport))
		c = c->hnext;
	return c;
}

static void vsock_hash_grow(struct vsock_core *core)
{
	unsigned int nbits = core->hbits + 1, i;
	struct vsock_conn **nb = calloc(1u << nbits, sizeof(*nb));

	if (!nb)
		return;   /* keep the longer chains */
	for (i = 0; i < (1u << core->hbits); i++) {
		struct vsock_conn *c = core->buckets[i], *next;

		for (; c; c = next) {
			unsigned int h = vsock_hash(c->lport, c->pport, nbits);

			next = c->hnext;
			c->hnext = nb[h];
			nb[h] = c;
		}
	}
	free(core->buckets);
	core->buckets = nb;
	core->hbits = nbits;
}

static void vsock_hash_add(struct vsock_core *core, struct vsock_conn *c)
{
	unsigned int h;

	if (core->nconns >= (1ul << core->hbits) && core->hbits < 24)
		vsock_hash_grow(core);
	h = vsock_hash(c->lport, c->pport, core->hbits);
	c->hnext = core->buckets[h];
	core->buckets[h] = c;
	core->nconns++;
}

static void vsock_hash_del(struct vsock_core *core, struct vsock_conn *c)
{
	struct vsock_conn **pp = &core->buckets[vsock_hash(c->lport, c->pport, core->hbits)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			core->nconns--;
			return;
		}
	}
}

/* ------------------------------------------------------------ RX list */

static void rx_unlink(struct vsock_core *core, struct vsock_conn *c)
{
	if (!(c->flags & VSOCK_F_ON_RX))
		return;
	if (c->rx_prev)
		c->rx_prev->rx_next = c->rx_next;
	else
		core->rx_head = c->rx_next;
	if (c->rx_next)
		c->rx_next->rx_prev = c->rx_prev;
	else
		core->rx_tail = c->rx_prev;
	c->rx_prev = c->rx_next = NULL;
	c->flags &= ~VSOCK_F_ON_RX;
}

static void rx_append(struct vsock_core *core, struct vsock_conn *c)
{
	if (c->flags & VSOCK_F_ON_RX)
		return;
	c->rx_next = NULL;
	c->rx_prev = core->rx_tail;
	if (core->rx_tail)
		core->rx_tail->rx_next = c;
	else
		core->rx_head = c;
	core->rx_tail = c;
	c->flags |= VSOCK_F_ON_RX;
}

/* ------------------------------------------------------------ helpers */

static uint32_t peer_credit(const struct vsock_conn *c)
{
	uint32_t inflight = c->rx_cnt - c->peer_fwd_cnt;

	return inflight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - inflight;
}

static bool can_send_data(const struct vsock_conn *c)
{
	if (c->state != VSOCK_CS_ESTABLISHED)
		return false;
	if (c->rxstage)
		return peer_credit(c) > 0;
	return (c->flags & VSOCK_F_H_READABLE) &&
	       !(c->flags & (VSOCK_F_H_EOF | VSOCK_F_G_SHUT_RCV)) && peer_credit(c) > 0;
}

static bool has_rx_work(const struct vsock_conn *c)
{
	return c->pend || can_send_data(c);
}

static void update_rx(struct vsock_core *core, struct vsock_conn *c)
{
	if (has_rx_work(c))
		rx_append(core, c);
}

static size_t txbuf_limit(const struct vsock_core *core, const struct vsock_conn *c)
{
	size_t l = (size_t)core->cfg.buf_alloc + c->nocredit;

	/*
	 * Room for record headers: one per message, and a message costs
	 * the guest as little as one byte of credit.
	 */
	if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET)
		l += (size_t)core->cfg.buf_alloc * 4 + 64;
	return VK_MIN(l, (size_t)UINT32_MAX);   /* struct vsock_buf counts in 32 bits */
}

static void update_events(struct vsock_core *core, struct vsock_conn *c)
{
	uint32_t want = 0;

	if (c->flags & VSOCK_F_H_CLOSED)
		return;
	if (c->state == VSOCK_CS_CONNECTING) {
		want = VSOCK_EV_OUT;
	} else if (c->state == VSOCK_CS_ESTABLISHED) {
		if (!(c->flags & (VSOCK_F_H_READABLE | VSOCK_F_H_EOF | VSOCK_F_G_SHUT_RCV)) && !c->rxstage)
			want |= VSOCK_EV_IN;
		if (c->txbuf.len)
			want |= VSOCK_EV_OUT;
	}
	if (want != c->events) {
		c->events = (uint8_t)want;
		core->ops->set_events(core->opaque, c, want);
	}
}

static void host_close(struct vsock_core *core, struct vsock_conn *c)
{
	if (c->flags & VSOCK_F_H_CLOSED)
		return;
	c->flags |= VSOCK_F_H_CLOSED;
	if (c->events) {
		c->events = 0;
		core->ops->set_events(core->opaque, c, 0);
	}
	core->ops->close(core->opaque, c);
}

static void conn_destroy(struct vsock_core *core, struct vsock_conn *c)
{
	host_close(core, c);
	rx_unlink(core, c);
	vsock_hash_del(core, c);
	core->st.buffered -= c->txbuf.len;
	vbuf_free(&c->txbuf);
	free(c->rxstage);
	free(c);
}

/* Close the host side now and tell the guest with an RST. */
static void conn_reset(struct vsock_core *core, struct vsock_conn *c)
{
	host_close(core, c);
	core->st.buffered -= c->txbuf.len;
	vbuf_free(&c->txbuf);
	free(c->rxstage);
	c->rxstage = NULL;
	c->state = VSOCK_CS_CLOSING;
	c->pend = VSOCK_P_RST;
	rx_append(core, c);
}

static struct vsock_conn *conn_new(struct vsock_core *core, uint32_t lport, uint32_t pport,
				   uint16_t type)
{
	struct vsock_conn *c;

	if (core->nconns >= core->cfg.max_conns)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->lport = lport;
	c->pport = pport;
	c->cid = VSOCK_CID_HOST;
	c->type = type;
	c->fd = -1;
	vsock_hash_add(core, c);
	return c;
}

static void fill_hdr(const struct vsock_core *core, struct vsock_conn *c, struct vsock_hdr *h,
		     uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = c->cid;
	h->dst_cid = core->cfg.guest_cid;
	h->src_port = c->lport;
	h->dst_port = c->pport;
	h->type = c->type;
	h->op = op;
	h->buf_alloc = core->cfg.buf_alloc;
	h->fwd_cnt = c->fwd_cnt;
	c->last_fwd_cnt = c->fwd_cnt;
	c->pend &= (uint8_t)~VSOCK_P_CREDIT_UPDATE;   /* every packet carries the credit */
}

static int ctl_push(struct vsock_core *core, const struct vsock_hdr *in, uint16_t op)
{
	struct vsock_hdr *h;

	if (core->ctl_len == VSOCK_CTL_RING)
		return -EAGAIN;
	h = &core->ctl[(core->ctl_head + core->ctl_len) % VSOCK_CTL_RING];
	memset(h, 0, sizeof(*h));
	h->src_cid = in->dst_cid;   /* from the CID the guest addressed */
	h->dst_cid = core->cfg.guest_cid;
	h->src_port = in->dst_port;
	h->dst_port = in->src_port;
	h->type = in->type;
	h->op = op;
	core->ctl_len++;
	return 0;
}

/* Reply RST to a packet that has no connection (never to an RST). */
static void ctl_rst(struct vsock_core *core, const struct vsock_hdr *in)
{
	if (in->op == VIRTIO_VSOCK_OP_RST)
		return;
	if (ctl_push(core, in, VIRTIO_VSOCK_OP_RST) == 0)
		core->st.rst_sent++;
}

int vsock_core_reply_rst(struct vsock_core *core, const struct vsock_hdr *in)
{
	if (in->op == VIRTIO_VSOCK_OP_RST)
		return 0;
	if (ctl_push(core, in, VIRTIO_VSOCK_OP_RST))
		return -EAGAIN;
	core->st.rst_sent++;
	return 0;
}

/* ------------------------------------------------------------ guest -> host data */

static void close_if_done(struct vsock_core *core, struct vsock_conn *c);
static struct vsock_conn *req_trim(struct vsock_core *core);

static void maybe_credit_update(struct vsock_core *core, struct vsock_conn *c)
{
	uint32_t ba = core->cfg.buf_alloc;
	uint32_t known_free, freed;

	if (c->state != VSOCK_CS_ESTABLISHED || c->fwd_cnt == c->last_fwd_cnt)
		return;
	known_free = ba - (c->tx_cnt - c->last_fwd_cnt);
	freed = c->fwd_cnt - c->last_fwd_cnt;
	/* <=: with a 1-byte buffer, "less than half" would never be true */
	if (known_free <= ba / 2 && (freed >= ba / 4 || c->txbuf.len == 0)) {
		if (!(c->pend & VSOCK_P_CREDIT_UPDATE))
			core->st.credit_updates++;
		c->pend |= VSOCK_P_CREDIT_UPDATE;
		rx_append(core, c);
	}
}

static void account_fwd(struct vsock_core *core, struct vsock_conn *c, size_t n)
{
	size_t nc = VK_MIN(n, (size_t)c->nocredit);

	c->nocredit -= (uint8_t)nc;
	c->fwd_cnt += (uint32_t)(n - nc);
	core->st.tx_bytes += n - nc;
}

/* Write what txbuf holds; 0, or -errno when the host side failed. */
static int txbuf_flush(struct vsock_core *core, struct vsock_conn *c)
{
	struct iovec iov;
	ssize_t r;

	while (c->txbuf.len) {
		if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET && !c->nocredit) {
			uint32_t rl;
			size_t complete = c->txbuf.len - ((c->flags & VSOCK_F_SEQ_OPEN) ? 4u + c->seq_len : 0);

			if (complete < 4)
				break;
			memcpy(&rl, c->txbuf.p + c->txbuf.head, 4);
			iov.iov_base = c->txbuf.p + c->txbuf.head + 4;
			iov.iov_len = rl;
			r = core->ops->send(core->opaque, c, &iov, 1);
			if (r == -EAGAIN)
				break;
			if (r < 0)
				return (int)r;
			c->fwd_cnt += rl;
			core->st.tx_bytes += rl;
			core->st.buffered -= 4 + rl;
			vbuf_consume(&c->txbuf, 4 + rl);
			continue;
		}
		iov.iov_base = c->txbuf.p + c->txbuf.head;
		iov.iov_len = c->nocredit && c->type == VIRTIO_VSOCK_TYPE_SEQPACKET ? c->nocredit
										    : c->txbuf.len;
		if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
			/* the "OK n\n" line on a seqpacket socket: one message */
			r = core->ops->send(core->opaque, c, &iov, 1);
			if (r == -EAGAIN)
				break;
			if (r < 0)
				return (int)r;
			core->st.buffered -= c->nocredit;
			vbuf_consume(&c->txbuf, c->nocredit);
			c->nocredit = 0;
			continue;
		}
		r = core->ops->send(core->opaque, c, &iov, 1);
		if (r == -EAGAIN)
			break;
		if (r < 0)
			return (int)r;
		if (r == 0)
			break;
		account_fwd(core, c, (size_t)r);
		core->st.buffered -= (size_t)r;
		vbuf_consume(&c->txbuf, (size_t)r);
	}
	return 0;
}

/* After progress on the host write side. */
static void after_write(struct vsock_core *core, struct vsock_conn *c)
{
	if (!c->txbuf.len && (c->flags & VSOCK_F_G_SHUT_SEND) && !(c->flags & VSOCK_F_H_SHUT_WR)) {
		c->flags |= VSOCK_F_H_SHUT_WR;
		core->ops->shutdown_wr(core->opaque, c);
	}
	maybe_credit_update(core, c);
	close_if_done(core, c);
	if (c->state != VSOCK_CS_CLOSING)
		update_events(core, c);
}

static int stream_rw(struct vsock_core *core, struct vsock_conn *c, const struct vsock_pkt *p)
{
	uint32_t len = p->hdr.len;
	size_t done = 0;
	int r;

	if (c->txbuf.len == 0 && len) {
		ssize_t w = core->ops->send(core->opaque, c, p->data, p->data_niov);

		if (w < 0 && w != -EAGAIN)
			return (int)w;
		if (w > 0) {
			done = (size_t)w;
			c->fwd_cnt += (uint32_t)w;
			core->st.tx_bytes += (uint64_t)w;
		}
	}
	if (done < len) {
		size_t rest = len - done;

		r = vbuf_reserve(&c->txbuf, rest, txbuf_limit(core, c));
		if (r)
			return r;
		vsock_iov_from(p->data, p->data_niov, done, vbuf_tail(&c->txbuf), rest);
		c->txbuf.len += (uint32_t)rest;
		core->st.buffered += rest;
	}
	return 0;
}

static int seq_rw(struct vsock_core *core, struct vsock_conn *c, const struct vsock_pkt *p)
{
	uint32_t len = p->hdr.len;
	bool eom = p->hdr.flags & VIRTIO_VSOCK_SEQ_EOM;
	size_t lim = txbuf_limit(core, c);
	int r;

	/* whole message in one packet and nothing queued: straight through */
	if (eom && !c->txbuf.len && !(c->flags & VSOCK_F_SEQ_OPEN)) {
		ssize_t w = core->ops->send(core->opaque, c, p->data, p->data_niov);

		if (w >= 0) {
			c->fwd_cnt += len;
			core->st.tx_bytes += len;
			return 0;
		}
		if (w != -EAGAIN)
			return (int)w;
	}
	if (!(c->flags & VSOCK_F_SEQ_OPEN)) {
		r = vbuf_reserve(&c->txbuf, 4, lim);
		if (r)
			return r;
		memset(vbuf_tail(&c->txbuf), 0, 4);
		c->txbuf.len += 4;
		core->st.buffered += 4;
		c->seq_len = 0;
		c->flags |= VSOCK_F_SEQ_OPEN;
	}
	r = vbuf_reserve(&c->txbuf, len, lim);
	if (r)
		return r;
	vsock_iov_from(p->data, p->data_niov, 0, vbuf_tail(&c->txbuf), len);
	c->txbuf.len += len;
	core->st.buffered += len;
	c->seq_len += len;
	if (eom) {
		uint32_t rl = c->seq_len;

		memcpy(c->txbuf.p + c->txbuf.head + c->txbuf.len - c->seq_len - 4, &rl, 4);
		c->flags &= ~VSOCK_F_SEQ_OPEN;
		c->seq_len = 0;
	}
	return 0;
}

/*
 * The guest stopped sending in the middle of a message (no EOM yet): a
 * message reaches the host whole or not at all, so the unfinished one at
 * the tail of txbuf goes, as if the host had read it (its bytes were
 * counted against the guest's credit).
 */
static void seq_drop_open(struct vsock_core *core, struct vsock_conn *c)
{
	vk_dbg("vsock: cid %llu: SHUTDOWN(SEND) inside a message on %u:%u: %u bytes dropped",
	       (unsigned long long)core->cfg.guest_cid, c->lport, c->pport, c->seq_len);
	c->txbuf.len -= 4 + c->seq_len;
	core->st.buffered -= 4 + c->seq_len;
	c->fwd_cnt += c->seq_len;
	c->seq_len = 0;
	c->flags &= ~VSOCK_F_SEQ_OPEN;
}

static void guest_rw(struct vsock_core *core, struct vsock_conn *c, const struct vsock_pkt *p)
{
	uint32_t len = p->hdr.len;
	int r;

	if (c->flags & VSOCK_F_G_SHUT_SEND) {
		vk_dbg("vsock: cid %llu: data after SHUTDOWN(SEND) on %u:%u",
		       (unsigned long long)core->cfg.guest_cid, c->lport, c->pport);
		conn_reset(core, c);
		return;
	}
	/* credit check: we granted buf_alloc - (tx_cnt - fwd_cnt) */
	if ((uint64_t)(c->tx_cnt - c->fwd_cnt) + len > core->cfg.buf_alloc) {
		vk_dbg("vsock: cid %llu: guest overran its credit on %u:%u (%u bytes)",
		       (unsigned long long)core->cfg.guest_cid, c->lport, c->pport, len);
		core->st.overruns++;
		conn_reset(core, c);
		return;
	}
	c->tx_cnt += len;
	if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
		r = seq_rw(core, c, p);
		if (!r && c->txbuf.len)
			r = txbuf_flush(core, c);
	} else {
		/* behind bytes already queued, or straight to the host socket */
		r = stream_rw(core, c, p);
	}
	if (r) {
		vk_dbg("vsock: cid %llu: host write on %u:%u failed: %s",
		       (unsigned long long)core->cfg.guest_cid, c->lport, c->pport, strerror(-r));
		conn_reset(core, c);
		return;
	}
	after_write(core, c);
}

static void close_if_done(struct vsock_core *core, struct vsock_conn *c)
{
	if (c->state != VSOCK_CS_ESTABLISHED)
		return;
	if ((c->flags & VSOCK_F_G_SHUT_SEND) && !c->txbuf.len &&
	    (c->flags & (VSOCK_F_H_EOF | VSOCK_F_G_SHUT_RCV)))
		conn_reset(core, c);
}

/* ------------------------------------------------------------ guest packets */

static void guest_request(struct vsock_core *core, const struct vsock_pkt *p)
{
	const struct vsock_hdr *h = &p->hdr;
	struct vsock_conn *c = conn_new(core, h->dst_port, h->src_port, h->type);
	int r;

	if (!c) {
		vk_log_once(VK_LOG_WARN, "vsock: cid %llu: connection limit reached, refusing",
			    (unsigned long long)core->cfg.guest_cid);
		ctl_rst(core, h);
		return;
	}
	c->cid = h->dst_cid;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->state = VSOCK_CS_CONNECTING;
	r = core->ops->connect(core->opaque, c);
	if (r == -EINPROGRESS) {
		update_events(core, c);
		return;
	}
	if (r < 0) {
		vk_dbg("vsock: cid %llu: guest port %u -> host port %u refused: %s",
		       (unsigned long long)core->cfg.guest_cid, h->src_port, h->dst_port, strerror(-r));
		c->flags |= VSOCK_F_H_CLOSED;   /* nothing to close */
		conn_destroy(core, c);
		ctl_rst(core, h);
		return;
	}
	vsock_core_host_connected(core, c, 0);
}

int vsock_core_tx(struct vsock_core *core, const struct vsock_pkt *p)
{
	const struct vsock_hdr *h = &p->hdr;
	struct vsock_conn *c;

	if (core->ctl_len == VSOCK_CTL_RING)
		return -EAGAIN;
	core->st.tx_pkts++;
	if (h->src_cid != core->cfg.guest_cid) {
		vk_dbg("vsock: cid %llu: packet with src_cid %llu dropped",
		       (unsigned long long)core->cfg.guest_cid, (unsigned long long)h->src_cid);
		core->st.bad_pkts++;
		return 0;
	}
	if (h->type != VIRTIO_VSOCK_TYPE_STREAM &&
	    !(h->type == VIRTIO_VSOCK_TYPE_SEQPACKET && core->cfg.seqpacket)) {
		core->st.bad_pkts++;
		ctl_rst(core, h);
		return 0;
	}
	c = vsock_core_lookup(core, h->dst_port, h->src_port);
	if (c && c->cid != h->dst_cid) {
		/* forward mode: these ports towards another CID are not this connection */
		vk_dbg("vsock: cid %llu: packet on %u:%u to cid %llu, connected to cid %llu",
		       (unsigned long long)core->cfg.guest_cid, h->dst_port, h->src_port,
		       (unsigned long long)h->dst_cid, (unsigned long long)c->cid);
		core->st.bad_pkts++;
		ctl_rst(core, h);
		return 0;
	}
	if (!c) {
		if (h->op == VIRTIO_VSOCK_OP_REQUEST)
			guest_request(core, p);
		else
			ctl_rst(core, h);
		return 0;
	}
	if (c->state == VSOCK_CS_CLOSING) {
		/* our RST is on its way; an RST from the guest ends it now */
		if (h->op == VIRTIO_VSOCK_OP_RST)
			conn_destroy(core, c);
		return 0;
	}
	if (h->op == VIRTIO_VSOCK_OP_RST) {
		conn_destroy(core, c);
		return 0;
	}
	if (h->type != c->type) {
		core->st.bad_pkts++;
		conn_reset(core, c);
		return 0;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;

	switch (c->state) {
	case VSOCK_CS_CONNECTING:
		/* nothing but RST is valid before our RESPONSE */
		core->st.bad_pkts++;
		conn_reset(core, c);
		return 0;
	case VSOCK_CS_REQ_SENT:
		if (h->op == VIRTIO_VSOCK_OP_RESPONSE) {
			c->state = VSOCK_CS_ESTABLISHED;
			req_trim(core);
			if (c->flags & VSOCK_F_HYBRID) {
				char line[24];
				int n = snprintf(line, sizeof(line), "OK %u\n", c->pport);

				if (vbuf_reserve(&c->txbuf, (size_t)n, txbuf_limit(core, c) + (size_t)n)) {
					conn_reset(core, c);
					return 0;
				}
				memcpy(vbuf_tail(&c->txbuf), line, (size_t)n);
				c->txbuf.len += (uint32_t)n;
				c->nocredit = (uint8_t)n;
				core->st.buffered += (size_t)n;
				if (txbuf_flush(core, c)) {
					conn_reset(core, c);
					return 0;
				}
			}
			update_events(core, c);
			update_rx(core, c);
			return 0;
		}
		core->st.bad_pkts++;
		conn_reset(core, c);
		return 0;
	default:
		break;
	}

	/* ESTABLISHED */
	switch (h->op) {
	case VIRTIO_VSOCK_OP_RW:
		guest_rw(core, c, p);
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pend |= VSOCK_P_CREDIT_UPDATE;
		core->st.credit_updates++;
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (h->flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
			c->flags |= VSOCK_F_G_SHUT_RCV;
		if (h->flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
			c->flags |= VSOCK_F_G_SHUT_SEND;
		if ((c->flags & VSOCK_F_G_SHUT_SEND) && (c->flags & VSOCK_F_SEQ_OPEN))
			seq_drop_open(core, c);
		if (c->flags & VSOCK_F_G_SHUT_RCV) {
			free(c->rxstage);
			c->rxstage = NULL;
		}
		after_write(core, c);
		break;
	default:
		/* REQUEST on a live connection, RESPONSE, unknown ops */
		core->st.bad_pkts++;
		conn_reset(core, c);
		return 0;
	}
	if (c->state != VSOCK_CS_CLOSING)
		update_rx(core, c);
	return 0;
}

/* ------------------------------------------------------------ packets to the guest */

static int emit_ctl(struct vsock_core *core, struct vsock_conn *c, const struct iovec *iov,
		    unsigned int n, uint16_t op, uint32_t flags)
{
	struct vsock_hdr h;

	fill_hdr(core, c, &h, op);
	h.flags = flags;
	if (vsock_pkt_put_hdr(iov, n, &h))
		return -EINVAL;
	core->st.rx_pkts++;
	return VSOCK_HDR_SIZE;
}

/* Data from the stage (seqpacket message bigger than one RX buffer). */
static int emit_stage(struct vsock_core *core, struct vsock_conn *c, const struct iovec *iov,
		      unsigned int n, size_t space)
{
	uint32_t chunk = (uint32_t)VK_MIN((size_t)peer_credit(c), space);
	uint32_t left = c->rxstage_len - c->rxstage_off;
	struct vsock_hdr h;

	if (chunk > left)
		chunk = left;
	fill_hdr(core, c, &h, VIRTIO_VSOCK_OP_RW);
	h.len = chunk;
	if (chunk == left)
		h.flags = VIRTIO_VSOCK_SEQ_EOM;
	vsock_iov_to(iov, n, VSOCK_HDR_SIZE, c->rxstage + c->rxstage_off, chunk);
	vsock_pkt_put_hdr(iov, n, &h);
	c->rxstage_off += chunk;
	c->rx_cnt += chunk;
	core->st.rx_bytes += chunk;
	core->st.rx_pkts++;
	if (c->rxstage_off == c->rxstage_len) {
		free(c->rxstage);
		c->rxstage = NULL;
		update_events(core, c);
	}
	return (int)(VSOCK_HDR_SIZE + chunk);
}

/* Most iovecs one host read is given (the payload areas of a burst). */
#define VSOCK_BURST_IOV 64u

static int one_packet(int r, uint32_t *lens)
{
	if (r <= 0)
		return r;
	lens[0] = (uint32_t)r;
	return 1;
}

static size_t buf_space(const struct vsock_rx_buf *b)
{
	size_t total = vsock_iov_len(b->iov, b->n);

	if (total <= VSOCK_HDR_SIZE)
		return 0;
	return VK_MIN(total - VSOCK_HDR_SIZE, (size_t)0x7fffffffu);
}

/*
 * Host data of @c for the guest: one host read into the payload areas of
 * as many of @bufs as the guest's credit covers (a seqpacket message goes
 * into the first only), then one RW header per buffer that got bytes.
 * Sets @lens, returns the buffers used (0: nothing was read).
 */
static int emit_data(struct vsock_core *core, struct vsock_conn *c, const struct vsock_rx_buf *bufs,
		     unsigned int nbufs, uint32_t *lens)
{
	struct iovec d[VSOCK_BURST_IOV];
	uint32_t cap[VSOCK_BURST_IOV];
	size_t want = peer_credit(c), got = 0, msglen = 0, left;
	unsigned int k = 0, nb = 0, i;
	struct vsock_hdr h;
	ssize_t r;

	if (c->rxstage)
		return one_packet(emit_stage(core, c, bufs[0].iov, bufs[0].n, buf_space(&bufs[0])), lens);
	if (c->type != VIRTIO_VSOCK_TYPE_STREAM)
		nbufs = 1;
	for (i = 0; i < nbufs && want && k < VSOCK_BURST_IOV; i++) {
		size_t space = VK_MIN(buf_space(&bufs[i]), want), g;
		unsigned int m;

		if (!space)
			break;
		m = vsock_iov_slice(bufs[i].iov, bufs[i].n, VSOCK_HDR_SIZE, space, d + k,
				    VSOCK_BURST_IOV - k, &g);
		if (!m)
			break;
		k += m;
		cap[nb++] = (uint32_t)g;
		got += g;
		want -= g;
	}
	if (!k)
		return 0;   /* never a zero-length read: it would look like EOF */
	r = core->ops->recv(core->opaque, c, d, k, &msglen);
	if (r == -EMSGSIZE && c->type == VIRTIO_VSOCK_TYPE_SEQPACKET && msglen &&
	    msglen <= VSOCK_SEQ_MAX_MSG) {
		struct iovec s;

		c->rxstage = malloc(msglen);
		if (!c->rxstage) {
			conn_reset(core, c);
			return 0;
		}
		s.iov_base = c->rxstage;
		s.iov_len = msglen;
		r = core->ops->recv(core->opaque, c, &s, 1, NULL);
		if (r <= 0) {
			free(c->rxstage);
			c->rxstage = NULL;
			conn_reset(core, c);
			return 0;
		}
		c->rxstage_len = (uint32_t)r;
		c->rxstage_off = 0;
		update_events(core, c);
		return one_packet(emit_stage(core, c, bufs[0].iov, bufs[0].n, buf_space(&bufs[0])), lens);
	}
	if (r > 0) {
		for (i = 0, left = (size_t)r; left && i < nb; i++) {
			uint32_t len = (uint32_t)VK_MIN(left, (size_t)cap[i]);

			fill_hdr(core, c, &h, VIRTIO_VSOCK_OP_RW);
			h.len = len;
			if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET)
				h.flags = VIRTIO_VSOCK_SEQ_EOM;
			vsock_pkt_put_hdr(bufs[i].iov, bufs[i].n, &h);
			lens[i] = VSOCK_HDR_SIZE + len;
			left -= len;
		}
		c->rx_cnt += (uint32_t)r;
		core->st.rx_bytes += (uint64_t)r;
		core->st.rx_pkts += i;
		/*
		 * A stream read that returned less than asked emptied the
		 * socket: bytes arriving later raise a new edge, so no read
		 * to EAGAIN is needed (it cost one recvmsg per round trip).
		 * One that filled everything probably left more: the next
		 * turn offers several buffers (vsock_core_rx_want).
		 */
		if (c->type == VIRTIO_VSOCK_TYPE_STREAM && (size_t)r < got) {
			c->flags &= ~VSOCK_F_RX_MORE;
			if (!(c->flags & VSOCK_F_H_RDHUP)) {
				c->flags &= ~VSOCK_F_H_READABLE;
				update_events(core, c);
			}
		} else if (c->type == VIRTIO_VSOCK_TYPE_STREAM) {
			c->flags |= VSOCK_F_RX_MORE;
		}
		return (int)i;
	}
	c->flags &= ~VSOCK_F_RX_MORE;
	if (r == 0) {
		/* host EOF: half-close towards the guest */
		c->flags |= VSOCK_F_H_EOF;
		c->flags &= ~VSOCK_F_H_READABLE;
		c->pend |= VSOCK_P_SHUTDOWN;
		close_if_done(core, c);
		if (c->state != VSOCK_CS_CLOSING)
			update_events(core, c);
		return 0;
	}
	if (r == -EAGAIN) {
		c->flags &= ~VSOCK_F_H_READABLE;
		update_events(core, c);
		return 0;
	}
	vk_dbg("vsock: cid %llu: host read on %u:%u failed: %s",
	       (unsigned long long)core->cfg.guest_cid, c->lport, c->pport, strerror((int)-r));
	conn_reset(core, c);
	return 0;
}

/* Packets for @c (buffers used), or 0 if it turned out to have nothing. */
static int conn_rx(struct vsock_core *core, struct vsock_conn *c, const struct vsock_rx_buf *bufs,
		   unsigned int nbufs, uint32_t *lens)
{
	const struct iovec *iov = bufs[0].iov;
	unsigned int n = bufs[0].n;
	int r;

	if (c->pend & VSOCK_P_RST) {
		r = emit_ctl(core, c, iov, n, VIRTIO_VSOCK_OP_RST, 0);
		core->st.rst_sent++;
		conn_destroy(core, c);
		return one_packet(r, lens);
	}
	if (c->pend & VSOCK_P_REQUEST) {
		c->pend &= (uint8_t)~VSOCK_P_REQUEST;
		return one_packet(emit_ctl(core, c, iov, n, VIRTIO_VSOCK_OP_REQUEST, 0), lens);
	}
	if (c->pend & VSOCK_P_RESPONSE) {
		c->pend &= (uint8_t)~VSOCK_P_RESPONSE;
		return one_packet(emit_ctl(core, c, iov, n, VIRTIO_VSOCK_OP_RESPONSE, 0), lens);
	}
	if (can_send_data(c) && buf_space(&bufs[0]) > 0) {
		r = emit_data(core, c, bufs, nbufs, lens);
		if (r > 0 || c->state == VSOCK_CS_CLOSING)
			return r;
	}
	if (c->pend & VSOCK_P_SHUTDOWN) {
		c->pend &= (uint8_t)~VSOCK_P_SHUTDOWN;
		return one_packet(emit_ctl(core, c, iov, n, VIRTIO_VSOCK_OP_SHUTDOWN,
					   VIRTIO_VSOCK_SHUTDOWN_SEND), lens);
	}
	if (c->pend & VSOCK_P_CREDIT_UPDATE)
		return one_packet(emit_ctl(core, c, iov, n, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0), lens);
	if (c->pend & VSOCK_P_CREDIT_REQUEST) {
		c->pend &= (uint8_t)~VSOCK_P_CREDIT_REQUEST;
		return one_packet(emit_ctl(core, c, iov, n, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0), lens);
	}
	return 0;
}

bool vsock_core_rx_pending(const struct vsock_core *core)
{
	return core->ctl_len || core->rx_head;
}

size_t vsock_core_rx_want(const struct vsock_core *core)
{
	const struct vsock_conn *c = core->rx_head;

	if (!c || (core->ctl_len && core->ctl_turn))
		return 0;
	if (c->pend & (VSOCK_P_RST | VSOCK_P_REQUEST | VSOCK_P_RESPONSE))
		return 0;
	if (c->type != VIRTIO_VSOCK_TYPE_STREAM || !(c->flags & VSOCK_F_RX_MORE) || !can_send_data(c))
		return 0;
	return peer_credit(c);
}

int vsock_core_rx_burst(struct vsock_core *core, const struct vsock_rx_buf *bufs, unsigned int nbufs,
			uint32_t *lens)
{
	struct vsock_conn *c;

	if (!nbufs || vsock_iov_len(bufs[0].iov, bufs[0].n) < VSOCK_HDR_SIZE)
		return -EINVAL;
	for (;;) {
		int r;

		/* alternate the reply ring with the connections */
		if (core->ctl_len && (core->ctl_turn || !core->rx_head)) {
			struct vsock_hdr *h = &core->ctl[core->ctl_head];

			vsock_pkt_put_hdr(bufs[0].iov, bufs[0].n, h);
			core->ctl_head = (core->ctl_head + 1) % VSOCK_CTL_RING;
			core->ctl_len--;
			core->ctl_turn = false;
			core->st.rx_pkts++;
			lens[0] = VSOCK_HDR_SIZE;
			return 1;
		}
		core->ctl_turn = true;
		c = core->rx_head;
		if (!c)
			return 0;
		rx_unlink(core, c);
		if (c->pend & VSOCK_P_RST)
			return conn_rx(core, c, bufs, nbufs, lens);
		r = conn_rx(core, c, bufs, nbufs, lens);
		if (c->state == VSOCK_CS_CLOSING)
			rx_append(core, c);   /* RST queued: goes out in turn */
		else
			update_rx(core, c);
		if (r > 0)
			return r;
	}
}

int vsock_core_rx(struct vsock_core *core, const struct iovec *iov, unsigned int n)
{
	struct vsock_rx_buf b = { .iov = iov, .n = n };
	uint32_t len;
	int r = vsock_core_rx_burst(core, &b, 1, &len);

	return r > 0 ? (int)len : r;
}

/* ------------------------------------------------------------ host side */

void vsock_core_host_event(struct vsock_core *core, struct vsock_conn *c, uint32_t events)
{
	if (c->state == VSOCK_CS_CLOSING || (c->flags & VSOCK_F_H_CLOSED))
		return;
	if (c->state == VSOCK_CS_REQ_SENT) {
		/* host client gone before the guest answered */
		if (events & (VSOCK_EV_HUP | VSOCK_EV_ERR))
			conn_reset(core, c);
		return;
	}
	if (c->state != VSOCK_CS_ESTABLISHED)
		return;
	if (events & (VSOCK_EV_HUP | VSOCK_EV_ERR))
		events |= c->events;   /* let read/write find out what happened */
	if ((events & VSOCK_EV_OUT) && c->txbuf.len) {
		if (txbuf_flush(core, c)) {
			conn_reset(core, c);
			return;
		}
		after_write(core, c);
		if (c->state == VSOCK_CS_CLOSING)
			return;
	}
	if (events & (VSOCK_EV_RDHUP | VSOCK_EV_HUP))
		c->flags |= VSOCK_F_H_RDHUP;   /* EOF follows the data: read to it */
	if ((events & VSOCK_EV_IN) && !(c->flags & (VSOCK_F_H_EOF | VSOCK_F_G_SHUT_RCV))) {
		c->flags |= VSOCK_F_H_READABLE;
		update_events(core, c);
		update_rx(core, c);
	}
}

void vsock_core_host_connected(struct vsock_core *core, struct vsock_conn *c, int err)
{
	if (c->state != VSOCK_CS_CONNECTING)
		return;
	if (err) {
		vk_dbg("vsock: cid %llu: host port %u connect failed: %s",
		       (unsigned long long)core->cfg.guest_cid, c->lport, strerror(-err));
		conn_reset(core, c);
		return;
	}
	c->state = VSOCK_CS_ESTABLISHED;
	c->pend |= VSOCK_P_RESPONSE;
	update_events(core, c);
	rx_append(core, c);
}

static uint32_t core_now_ms(void)
{
	return (uint32_t)vk_now_ms();   /* deadlines compare in 32 bits, wrap-safe */
}

/* Room for one more pending connect: 0 or -ENOMEM. */
static int req_reserve(struct vsock_core *core)
{
	if (core->req_len == core->req_cap) {
		unsigned int ncap = core->req_cap ? core->req_cap * 2 : 16, i;
		struct vsock_req *n = malloc(ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (i = 0; i < core->req_len; i++)
			n[i] = core->reqs[(core->req_head + i) % core->req_cap];
		free(core->reqs);
		core->reqs = n;
		core->req_cap = ncap;
		core->req_head = 0;
	}
	return 0;
}

/* Remember a host-side connect for vsock_core_expire() (room reserved). */
static void req_push(struct vsock_core *core, struct vsock_conn *c)
{
	c->req_deadline = core_now_ms() + core->cfg.connect_timeout_ms;
	core->reqs[(core->req_head + core->req_len) % core->req_cap] =
		(struct vsock_req){ c->lport, c->pport, c->req_deadline };
	core->req_len++;
}

/*
 * Drop the oldest entries whose connect is settled (answered, reset or
 * gone): answers mostly come in order, so the FIFO stays as short as the
 * connects really pending and the host's timer stops soon after the last
 * answer instead of ticking until every entry's deadline.  Returns the
 * connection of the oldest connect still waiting, or NULL.
 */
static struct vsock_conn *req_trim(struct vsock_core *core)
{
	while (core->req_len) {
		const struct vsock_req *r = &core->reqs[core->req_head];
		struct vsock_conn *c = vsock_core_lookup(core, r->lport, r->pport);

		if (c && c->state == VSOCK_CS_REQ_SENT && c->req_deadline == r->deadline)
			return c;
		core->req_head = (core->req_head + 1) % core->req_cap;
		core->req_len--;
	}
	return NULL;
}

unsigned int vsock_core_pending_connects(const struct vsock_core *core)
{
	return core->req_len;
}

unsigned int vsock_core_expire(struct vsock_core *core)
{
	uint32_t now = core_now_ms();
	struct vsock_conn *c;

	/* deadlines are pushed in order: stop at the first one not due */
	while ((c = req_trim(core)) && (int32_t)(now - c->req_deadline) >= 0) {
		vk_dbg("vsock: cid %llu: guest port %u did not answer the connect in %u ms",
		       (unsigned long long)core->cfg.guest_cid, c->pport, core->cfg.connect_timeout_ms);
		core->st.connect_timeouts++;
		conn_reset(core, c);   /* no longer REQ_SENT: the next trim drops its entry */
	}
	return core->req_len;
}

int vsock_core_host_connect(struct vsock_core *core, uint32_t guest_port, uint32_t lport,
			    uint16_t type, unsigned int flags, struct vsock_conn **out)
{
	struct vsock_conn *c;
	unsigned long tries;

	if (core->nconns >= core->cfg.max_conns)
		return -ENOSPC;
	if (type == VIRTIO_VSOCK_TYPE_SEQPACKET && !core->cfg.seqpacket)
		return -EPROTONOSUPPORT;
	if (!lport) {
		for (tries = 0; tries < core->nconns + 1; tries++) {
			lport = core->next_lport++;
			if (core->next_lport < 1024 || core->next_lport == VSOCK_CID_ANY)
				core->next_lport = 1024;
			if (!vsock_core_lookup(core, lport, guest_port))
				break;
		}
	}
	if (vsock_core_lookup(core, lport, guest_port))
		return -EEXIST;
	if (req_reserve(core))
		return -ENOMEM;
	c = conn_new(core, lport, guest_port, type);
	if (!c)
		return -ENOSPC;
	req_push(core, c);
	c->state = VSOCK_CS_REQ_SENT;
	c->flags |= (uint16_t)(flags & VSOCK_F_HYBRID);
	c->pend = VSOCK_P_REQUEST;
	rx_append(core, c);
	*out = c;
	return 0;
}

void vsock_core_host_abort(struct vsock_core *core, struct vsock_conn *c)
{
	if (c->state != VSOCK_CS_CLOSING)
		conn_reset(core, c);
}

/* ------------------------------------------------------------ life cycle */

struct vsock_core *vsock_core_new(const struct vsock_core_cfg *cfg, const struct vsock_host_ops *ops,
				  void *opaque)
{
	struct vsock_core *core = calloc(1, sizeof(*core));

	if (!core)
		return NULL;
	core->cfg = *cfg;
	if (!core->cfg.max_conns)
		core->cfg.max_conns = VSOCK_DEFAULT_MAX_CONNS;
	if (!core->cfg.buf_alloc)
		core->cfg.buf_alloc = 65536;
	if (!core->cfg.connect_timeout_ms)
		core->cfg.connect_timeout_ms = VSOCK_CONNECT_TIMEOUT_MS;
	core->ops = ops;
	core->opaque = opaque;
	core->hbits = VSOCK_HASH_MIN_BITS;
	core->buckets = calloc(1u << core->hbits, sizeof(*core->buckets));
	core->next_lport = 1024;
	if (!core->buckets) {
		free(core);
		return NULL;
	}
	return core;
}

void vsock_core_reset(struct vsock_core *core)
{
	unsigned int i;

	for (i = 0; i < (1u << core->hbits); i++)
		while (core->buckets[i])
			conn_destroy(core, core->buckets[i]);
	core->ctl_len = 0;
	core->ctl_head = 0;
	core->req_len = 0;
	core->req_head = 0;
}

void vsock_core_free(struct vsock_core *core)
{
	if (!core)
		return;
	vsock_core_reset(core);
	free(core->reqs);
	free(core->buckets);
	free(core);
}

void vsock_core_set_seqpacket(struct vsock_core *core, bool on)
{
	core->cfg.seqpacket = on;
}

uint64_t vsock_core_guest_cid(const struct vsock_core *core)
{
	return core->cfg.guest_cid;
}

void vsock_core_get_stats(const struct vsock_core *core, struct vsock_core_stats *st)
{
	*st = core->st;
	st->conns = core->nconns;
}
