// SPDX-License-Identifier: MIT
/*
 * bench_guest.c - user-space guest virtio-vsock stack over a vhost
 * front-end: a vhost-user back-end or the kernel's /dev/vhost-vsock (see
 * bench_guest.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_guest.h"
#include "vsock/vsock_hdr.h"
#include "common/log.h"

#define BG_RX 0
#define BG_TX 1
#define BG_MAX_LISTEN 16
#define BG_CTRL_MAX 4096
#define BG_GPA_BASE 0x100000ull

struct bg_ctrl {
	uint32_t lport, pport;
	uint16_t op;
	uint32_t flags;
};

struct bg {
	struct bg_params p;
	const struct bg_ops *ops;
	void *opaque;
	struct vhf *h;             /* the device: vhost-user or kernel vhost-vsock */
	struct vu_fe *fe;          /* vhost-user only (owned by h), else NULL */
	struct vu_fe_guest_mem gm;
	struct vqdrv_mem dm;
	struct vqdrv rx, tx;
	uint64_t cid;
	uint64_t features;         /* negotiated */
	bool event_idx;

	uint8_t *rxbufs;
	uint8_t *txbufs;
	uint8_t *zc_pattern;       /* the pattern in guest RAM (zero-copy TX), or NULL */
	uint32_t tx_stride;
	void **tx_free;
	unsigned int ntx_free;
	bool tx_added;
	unsigned long stalls;      /* bg_poll waits that slept through a notification due */
	bool tx_blocked;           /* the last bg_send stopped for want of a TX buffer or slot */

	struct bg_conn *conns;
	unsigned int *free_slots;
	unsigned int nfree_slots;
	struct bg_conn **hash;
	unsigned int hash_mask;
	unsigned int nconns;
	uint32_t next_lport;

	uint32_t listen[BG_MAX_LISTEN];
	unsigned int nlisten;

	struct bg_ctrl *ctrl;      /* control packets waiting for a TX buffer */
	unsigned int nctrl;
	unsigned int *cu;          /* slots wanting a CREDIT_UPDATE */
	unsigned int ncu;
	struct pollfd wait[BG_WAIT_MAX];   /* also end a bg_poll wait */
	unsigned int nwait;
};

static uint8_t bg_pattern_buf[BG_PATTERN_PERIOD + BG_PATTERN_RUN];
static bool bg_pattern_ready;

const uint8_t *bg_pattern_at(uint64_t off)
{
	if (!__atomic_load_n(&bg_pattern_ready, __ATOMIC_ACQUIRE)) {
		uint32_t i;

		for (i = 0; i < sizeof(bg_pattern_buf); i++)
			bg_pattern_buf[i] = (uint8_t)(((i % BG_PATTERN_PERIOD) * 131u + 7u) >> 3);
		__atomic_store_n(&bg_pattern_ready, true, __ATOMIC_RELEASE);
	}
	return bg_pattern_buf + off % BG_PATTERN_PERIOD;
}

/* ----------------------------------------------------------- connections */

static unsigned int bg_hash(const struct bg *g, uint32_t lport, uint32_t pport)
{
	uint64_t k = ((uint64_t)lport << 32) | pport;

	k *= 0x9e3779b97f4a7c15ull;
	return (unsigned int)(k >> 32) & g->hash_mask;
}

static struct bg_conn *bg_find(const struct bg *g, uint32_t lport, uint32_t pport)
{
	struct bg_conn *c;

	for (c = g->hash[bg_hash(g, lport, pport)]; c; c = c->hnext)
		if (c->lport == lport && c->pport == pport)
			return c;
	return NULL;
}

static struct bg_conn *bg_alloc(struct bg *g, uint32_t lport, uint32_t pport)
{
	struct bg_conn *c;
	unsigned int slot, h;

	if (!g->nfree_slots)
		return NULL;
	slot = g->free_slots[--g->nfree_slots];
	c = &g->conns[slot];
	memset(c, 0, sizeof(*c));
	c->slot = slot;
	c->lport = lport;
	c->pport = pport;
	h = bg_hash(g, lport, pport);
	c->hnext = g->hash[h];
	g->hash[h] = c;
	g->nconns++;
	return c;
}

void bg_release(struct bg *g, struct bg_conn *c)
{
	struct bg_conn **pp;

	if (c->state == BG_FREE)
		return;
	for (pp = &g->hash[bg_hash(g, c->lport, c->pport)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	}
	c->state = BG_FREE;
	g->free_slots[g->nfree_slots++] = c->slot;
	g->nconns--;
}

unsigned int bg_nconns(const struct bg *g)
{
	return g->nconns;
}

uint32_t bg_credit(const struct bg_conn *c)
{
	uint32_t inflight = c->tx_cnt - c->peer_fwd_cnt;

	if (c->state != BG_ESTABLISHED || c->peer_shut_rcv || inflight > c->peer_buf_alloc)
		return 0;
	return c->peer_buf_alloc - inflight;
}

/* -------------------------------------------------------------------- TX */

static void bg_reap_tx(struct bg *g)
{
	void *tok;
	uint32_t len;

	while ((tok = vqdrv_get_used(&g->tx, &len)))
		g->tx_free[g->ntx_free++] = tok;
}

static uint8_t *bg_tx_buf(struct bg *g)
{
	if (!g->ntx_free)
		bg_reap_tx(g);
	if (!g->ntx_free)
		return NULL;
	return g->tx_free[--g->ntx_free];
}

/*
 * Put one packet on the TX ring: the header at @buf, and @len bytes of
 * payload either right behind it (buf + 44) or, with @payload, in a
 * second descriptor pointing at guest memory elsewhere (zero-copy send).
 */
static int bg_tx_packet(struct bg *g, uint8_t *buf, uint32_t lport, uint32_t pport, uint16_t op,
			uint32_t flags, uint32_t len, struct bg_conn *c, const uint8_t *payload)
{
	struct vsock_hdr h = {
		.src_cid = g->cid, .dst_cid = VSOCK_CID_HOST,
		.src_port = lport, .dst_port = pport, .len = len,
		.type = VIRTIO_VSOCK_TYPE_STREAM, .op = op, .flags = flags,
		.buf_alloc = g->p.credit, .fwd_cnt = c ? c->fwd_cnt : 0,
	};
	struct iovec iov[2];
	unsigned int n = 1;
	int err;

	vsock_hdr_encode((struct virtio_vsock_hdr *)(void *)buf, &h);
	if (payload && len) {
		iov[0].iov_base = buf;
		iov[0].iov_len = VSOCK_HDR_SIZE;
		iov[1].iov_base = (void *)(uintptr_t)payload;
		iov[1].iov_len = len;
		n = 2;
	} else if (g->p.tx_split && len) {
		iov[0].iov_base = buf;
		iov[0].iov_len = VSOCK_HDR_SIZE;
		iov[1].iov_base = buf + VSOCK_HDR_SIZE;
		iov[1].iov_len = len;
		n = 2;
	} else {
		iov[0].iov_base = buf;
		iov[0].iov_len = VSOCK_HDR_SIZE + len;
	}
	err = vqdrv_add(&g->tx, iov, n, NULL, 0, buf);
	if (err < 0) {
		g->tx_free[g->ntx_free++] = buf;
		return err;
	}
	g->tx_added = true;
	if (c)
		c->fwd_sent = c->fwd_cnt;
	return 0;
}

static void bg_ctrl(struct bg *g, uint32_t lport, uint32_t pport, uint16_t op, uint32_t flags)
{
	struct bg_conn *c = bg_find(g, lport, pport);
	uint8_t *buf = g->nctrl ? NULL : bg_tx_buf(g);

	if (buf && bg_tx_packet(g, buf, lport, pport, op, flags, 0, c, NULL) == 0)
		return;
	if (g->nctrl < BG_CTRL_MAX) {
		g->ctrl[g->nctrl].lport = lport;
		g->ctrl[g->nctrl].pport = pport;
		g->ctrl[g->nctrl].op = op;
		g->ctrl[g->nctrl].flags = flags;
		g->nctrl++;
	}
}

static void bg_flush_ctrl(struct bg *g)
{
	unsigned int i = 0;

	while (i < g->nctrl) {
		uint8_t *buf = bg_tx_buf(g);
		struct bg_ctrl *q = &g->ctrl[i];

		if (!buf)
			break;
		if (bg_tx_packet(g, buf, q->lport, q->pport, q->op, q->flags, 0,
				 bg_find(g, q->lport, q->pport), NULL) < 0)
			break;
		i++;
	}
	if (i) {
		memmove(g->ctrl, g->ctrl + i, (g->nctrl - i) * sizeof(*g->ctrl));
		g->nctrl -= i;
	}
	/* credit updates */
	while (g->ncu) {
		struct bg_conn *c = &g->conns[g->cu[g->ncu - 1]];
		uint8_t *buf;

		if (c->state == BG_FREE || !c->want_credit_update) {
			g->ncu--;
			continue;
		}
		if (c->fwd_sent == c->fwd_cnt) {
			c->want_credit_update = false;
			g->ncu--;
			continue;
		}
		buf = bg_tx_buf(g);
		if (!buf)
			break;
		if (bg_tx_packet(g, buf, c->lport, c->pport, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0, c, NULL) < 0)
			break;
		c->want_credit_update = false;
		g->ncu--;
	}
}

void bg_flush(struct bg *g)
{
	if (g->tx_added) {
		g->tx_added = false;
		if (vqdrv_kick_prepare(&g->tx))
			vhf_kick(g->h, BG_TX);
	}
}

size_t bg_send(struct bg *g, struct bg_conn *c, const void *src, size_t len, bool pattern)
{
	size_t done = 0;

	g->tx_blocked = false;
	while (done < len) {
		uint32_t credit = bg_credit(c), n;
		const uint8_t *payload = NULL;
		uint8_t *buf;

		if (!credit)
			break;
		n = (uint32_t)VK_MIN(len - done, (size_t)VK_MIN(credit, g->p.tx_pkt));
		buf = bg_tx_buf(g);
		if (!buf) {
			g->tx_blocked = true;
			break;
		}
		if (pattern && g->zc_pattern)
			payload = g->zc_pattern + c->tx_bytes % BG_PATTERN_PERIOD;
		else if (pattern)
			memcpy(buf + VSOCK_HDR_SIZE, bg_pattern_at(c->tx_bytes), n);
		else
			memcpy(buf + VSOCK_HDR_SIZE, (const uint8_t *)src + done, n);
		if (bg_tx_packet(g, buf, c->lport, c->pport, VIRTIO_VSOCK_OP_RW, 0, n, c, payload) < 0) {
			g->tx_blocked = true;   /* ring full */
			break;
		}
		c->tx_cnt += n;
		c->tx_bytes += n;
		done += n;
	}
	return done;
}

int bg_shutdown(struct bg *g, struct bg_conn *c, uint32_t flags)
{
	bg_ctrl(g, c->lport, c->pport, VIRTIO_VSOCK_OP_SHUTDOWN, flags);
	if ((flags & 3) == 3)
		c->state = BG_CLOSING;
	return 0;
}

int bg_reset(struct bg *g, struct bg_conn *c)
{
	bg_ctrl(g, c->lport, c->pport, VIRTIO_VSOCK_OP_RST, 0);
	bg_release(g, c);
	return 0;
}

struct bg_conn *bg_connect(struct bg *g, uint32_t port)
{
	struct bg_conn *c;
	unsigned int tries;

	for (tries = 0; tries < 65536; tries++) {
		uint32_t lp = g->next_lport++;

		if (g->next_lport >= 0x7fffffffu)
			g->next_lport = 49152;
		if (bg_find(g, lp, port))
			continue;
		c = bg_alloc(g, lp, port);
		if (!c)
			return NULL;
		c->state = BG_CONNECTING;
		bg_ctrl(g, lp, port, VIRTIO_VSOCK_OP_REQUEST, 0);
		return c;
	}
	return NULL;
}

int bg_listen(struct bg *g, uint32_t port)
{
	unsigned int i;

	for (i = 0; i < g->nlisten; i++)
		if (g->listen[i] == port)
			return 0;
	if (g->nlisten == BG_MAX_LISTEN)
		return -ENOSPC;
	g->listen[g->nlisten++] = port;
	return 0;
}

void bg_unlisten(struct bg *g, uint32_t port)
{
	unsigned int i;

	for (i = 0; i < g->nlisten; i++) {
		if (g->listen[i] == port) {
			g->listen[i] = g->listen[--g->nlisten];
			return;
		}
	}
}

/* -------------------------------------------------------------------- RX */

static bool bg_listening(const struct bg *g, uint32_t port)
{
	unsigned int i;

	for (i = 0; i < g->nlisten; i++)
		if (g->listen[i] == port)
			return true;
	return false;
}

static void bg_want_cu(struct bg *g, struct bg_conn *c)
{
	if (!c->want_credit_update) {
		c->want_credit_update = true;
		g->cu[g->ncu++] = c->slot;
	}
}

static void bg_rx_packet(struct bg *g, const uint8_t *buf, uint32_t written)
{
	struct vsock_hdr h;
	struct bg_conn *c;

	if (written < VSOCK_HDR_SIZE) {
		vk_dbg("bench: short RX packet (%u bytes)", written);
		return;
	}
	vsock_hdr_decode(&h, (const struct virtio_vsock_hdr *)(const void *)buf);
	if (h.len > written - VSOCK_HDR_SIZE || h.type != VIRTIO_VSOCK_TYPE_STREAM ||
	    h.dst_cid != g->cid) {
		vk_dbg("bench: bad RX packet (len %u of %u, type %u, dst %llu)", h.len, written,
		       h.type, (unsigned long long)h.dst_cid);
		return;
	}
	c = bg_find(g, h.dst_port, h.src_port);
	if (c) {
		c->peer_buf_alloc = h.buf_alloc;
		c->peer_fwd_cnt = h.fwd_cnt;
	}
	switch (h.op) {
	case VIRTIO_VSOCK_OP_REQUEST:
		if (c || !bg_listening(g, h.dst_port) || !(c = bg_alloc(g, h.dst_port, h.src_port))) {
			bg_ctrl(g, h.dst_port, h.src_port, VIRTIO_VSOCK_OP_RST, 0);
			return;
		}
		c->state = BG_ESTABLISHED;
		c->peer_buf_alloc = h.buf_alloc;
		c->peer_fwd_cnt = h.fwd_cnt;
		bg_ctrl(g, h.dst_port, h.src_port, VIRTIO_VSOCK_OP_RESPONSE, 0);
		if (g->ops->accepted)
			g->ops->accepted(g->opaque, g, c);
		return;
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (!c || c->state != BG_CONNECTING) {
			bg_ctrl(g, h.dst_port, h.src_port, VIRTIO_VSOCK_OP_RST, 0);
			return;
		}
		c->state = BG_ESTABLISHED;
		if (g->ops->connected)
			g->ops->connected(g->opaque, g, c);
		return;
	case VIRTIO_VSOCK_OP_RST:
		if (!c)
			return;
		c->reset = true;
		if (c->state == BG_CONNECTING) {
			c->state = BG_CLOSED;
			if (g->ops->connected)
				g->ops->connected(g->opaque, g, c);
		} else {
			c->state = BG_CLOSED;
			if (g->ops->peer_closed)
				g->ops->peer_closed(g->opaque, g, c);
		}
		bg_release(g, c);
		return;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (!c) {
			bg_ctrl(g, h.dst_port, h.src_port, VIRTIO_VSOCK_OP_RST, 0);
			return;
		}
		if (h.flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
			c->peer_shut_send = true;
		if (h.flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
			c->peer_shut_rcv = true;
		if (g->ops->peer_closed)
			g->ops->peer_closed(g->opaque, g, c);
		return;
	case VIRTIO_VSOCK_OP_RW:
		if (!c || c->state != BG_ESTABLISHED) {
			bg_ctrl(g, h.dst_port, h.src_port, VIRTIO_VSOCK_OP_RST, 0);
			return;
		}
		if (g->p.verify && !c->verify_failed) {
			if (memcmp(buf + VSOCK_HDR_SIZE, bg_pattern_at(c->verify_off), h.len))
				c->verify_failed = true;
			c->verify_off += h.len;
		}
		c->rx_bytes += h.len;
		c->fwd_cnt += h.len;
		if (g->ops->data)
			g->ops->data(g->opaque, g, c, buf + VSOCK_HDR_SIZE, h.len);
		if (c->state != BG_FREE && c->fwd_cnt - c->fwd_sent >= g->p.credit / 4)
			bg_want_cu(g, c);
		if (g->ops->writable)
			g->ops->writable(g->opaque, g);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		if (c && g->ops->writable)
			g->ops->writable(g->opaque, g);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		if (c)
			bg_want_cu(g, c), c->fwd_sent = c->fwd_cnt - 1;
		return;
	default:
		vk_dbg("bench: RX op %u ignored", h.op);
		return;
	}
}

/* Consume both call eventfds (non-blocking on every transport). */
static void bg_call_clear(struct bg *g)
{
	uint64_t v;

	if (read(vhf_call_fd(g->h, BG_RX), &v, sizeof(v)) < 0 && errno != EAGAIN)
		vk_dbg("bench: RX call eventfd: %s", strerror(errno));
	if (read(vhf_call_fd(g->h, BG_TX), &v, sizeof(v)) < 0 && errno != EAGAIN)
		vk_dbg("bench: TX call eventfd: %s", strerror(errno));
}

/*
 * A wait ran out: was a notification lost?  Only if the device published
 * used buffers we asked to hear about and no call came, even after
 * @grace_ms more.  A device (or host program) that simply had nothing to
 * give within the timeout, say on a machine short of CPU, lost nothing.
 */
static bool bg_call_missed(struct bg *g, struct pollfd *pf, int grace_ms)
{
	bool pending = vqdrv_enable_cb(&g->rx);

	/*
	 * TX completions count when the guest is held up by TX room, as
	 * bg_send saw it (not as the wait computed it: a guest that waits
	 * with its TX callback off when it needs room is what this catches).
	 */
	if (!pending && (g->tx_blocked || g->nctrl || g->ncu))
		pending = vqdrv_enable_cb(&g->tx);
	if (!pending)
		return false;
	/* published: the call may only be late */
	return poll(pf, 2, grace_ms) == 0;
}

static void bg_rx_add(struct bg *g, uint8_t *buf)
{
	struct iovec in = { .iov_base = buf, .iov_len = g->p.rx_buf };

	vqdrv_add(&g->rx, NULL, 0, &in, 1, buf);
}

void bg_set_wait(struct bg *g, const struct pollfd *fds, unsigned int n)
{
	g->nwait = n < BG_WAIT_MAX ? n : BG_WAIT_MAX;
	if (g->nwait)
		memcpy(g->wait, fds, g->nwait * sizeof(*fds));
}

int bg_poll(struct bg *g, int timeout_ms)
{
	int n = 0, round;

	for (round = 0; round < 2; round++) {
		void *tok;
		uint32_t len;
		bool rx_added = false;

		/*
		 * No calls while we are looking anyway (Linux's RX worker
		 * does the same): only a wait below enables them.
		 */
		vqdrv_disable_cb(&g->rx);
		bg_reap_tx(g);
		while ((tok = vqdrv_get_used(&g->rx, &len))) {
			bg_rx_packet(g, tok, len);
			bg_rx_add(g, tok);
			rx_added = true;
			n++;
			if (n >= (int)g->p.queue_size)
				break;
		}
		if (rx_added && vqdrv_kick_prepare(&g->rx))
			vhf_kick(g->h, BG_RX);
		bg_flush_ctrl(g);
		bg_flush(g);
		if (n || timeout_ms == 0 || round)
			break;
		{
			struct pollfd pf[2 + BG_WAIT_MAX] = {
				{ .fd = vhf_call_fd(g->h, BG_RX), .events = POLLIN },
				{ .fd = vhf_call_fd(g->h, BG_TX), .events = POLLIN },
			};
			/*
			 * Waiting for TX room: out of buffers, or out of ring
			 * descriptors (a zero-copy or split packet takes two, so
			 * a full ring can leave half the buffers unused).
			 */
			bool want_tx = g->nctrl || g->ncu || g->ntx_free < 4 || vqdrv_num_free(&g->tx) < 8;

			if (vqdrv_enable_cb(&g->rx))
				continue;
			if (want_tx && vqdrv_enable_cb(&g->tx)) {
				vqdrv_disable_cb(&g->tx);
				continue;
			}
			memcpy(pf + 2, g->wait, g->nwait * sizeof(*pf));
			int pr = poll(pf, 2 + g->nwait, timeout_ms);

			if (pr < 0 && errno != EINTR)
				return -errno;
			if (!pr && bg_call_missed(g, pf, timeout_ms)) {
				g->stalls++;
				vk_dbg("bench: no notification in %d ms (credit wait %u, tx free %u, ring free %u)",
				       timeout_ms, g->ncu, g->ntx_free, vqdrv_num_free(&g->tx));
			}
			bg_call_clear(g);
			vqdrv_disable_cb(&g->tx);
			if (g->fe && !vu_fe_connected(g->fe))
				return -ENOTCONN;
		}
	}
	return n;
}

int bg_wait_multi(struct bg **gs, unsigned int n, int timeout_ms)
{
	struct pollfd pf[(2 + BG_WAIT_MAX) * 16];
	unsigned int i, k = 0;

	if (n > 16)
		n = 16;
	for (i = 0; i < n; i++) {
		struct bg *g = gs[i];

		if (vqdrv_enable_cb(&g->rx) || g->nctrl || g->ncu)
			return 1;
		if (vqdrv_enable_cb(&g->tx)) {
			vqdrv_disable_cb(&g->tx);
			return 1;
		}
		pf[k++] = (struct pollfd){ .fd = vhf_call_fd(g->h, BG_RX), .events = POLLIN };
		pf[k++] = (struct pollfd){ .fd = vhf_call_fd(g->h, BG_TX), .events = POLLIN };
		memcpy(pf + k, g->wait, g->nwait * sizeof(*pf));
		k += g->nwait;
	}
	k = (unsigned int)poll(pf, k, timeout_ms);
	for (i = 0; i < n; i++) {
		bg_call_clear(gs[i]);
		vqdrv_disable_cb(&gs[i]->tx);
	}
	return k ? 0 : -ETIMEDOUT;
}

unsigned int bg_poll_fds(const struct bg *g, int *fds)
{
	fds[0] = vhf_call_fd(g->h, BG_RX);
	fds[1] = vhf_call_fd(g->h, BG_TX);
	return 2;
}

/* ------------------------------------------------------------- set-up */

uint64_t bg_cid(const struct bg *g) { return g->cid; }
unsigned long bg_stalls(const struct bg *g) { return g->stalls; }
int bg_vhost_fd(const struct bg *g) { return g->fe ? vu_fe_fd(g->fe) : -1; }

void bg_free(struct bg *g)
{
	if (!g)
		return;
	if (g->h && !g->fe)
		vhf_start(g->h, false);
	vhf_free(g->h);   /* and the vu_fe in it */
	vqdrv_cleanup(&g->rx);
	vqdrv_cleanup(&g->tx);
	vu_fe_guest_mem_free(&g->gm);
	free(g->tx_free);
	free(g->conns);
	free(g->free_slots);
	free(g->hash);
	free(g->ctrl);
	free(g->cu);
	free(g);
}

/*
 * The device: a vhost-user back-end at p->socket (features and protocol
 * features negotiated here; the CID read from config space when none was
 * given), or the kernel's vhost-vsock at p->vhost_dev (SET_OWNER and
 * features; it has no config space, so the CID must be given).
 */
static int bg_open(struct bg *g, const struct bg_params *p, uint64_t features)
{
	uint64_t pf = (1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG);
	struct vu_fe *fe;
	int err = -ENOMEM;

	if (p->vhost_dev) {
		g->h = vhf_open_vsock(p->vhost_dev, &err);
		if (!g->h)
			return err;
		err = vhf_init(g->h, features, 2);
		g->features = vhf_features(g->h);
		return err;
	}
	fe = vu_fe_new(NULL, NULL);
	if (!fe)
		return -ENOMEM;
	g->h = vhf_new_user(fe);
	if (!g->h) {
		vu_fe_free(fe);
		return -ENOMEM;
	}
	g->fe = fe;
	err = vu_fe_connect_path(fe, p->socket, p->connect_attempts ? p->connect_attempts : 1, 100);
	if (!err)
		err = vu_fe_negotiate(fe, features, pf, 2);
	if (err < 0)
		return err;
	g->features = vu_fe_features(fe);
	if (!g->cid && vu_fe_has_protocol_feature(fe, VU_PF_CONFIG)) {
		uint8_t cfg[8];

		err = vu_fe_get_config(fe, 0, cfg, 8);
		if (err < 0)
			return err;
		g->cid = vk_get_le64(cfg);
	}
	return 0;
}

int bg_new(struct bg **out, const struct bg_params *p, const struct bg_ops *ops, void *opaque)
{
	uint64_t features = (1ull << VIRTIO_F_VERSION_1);
	uint64_t ring = 0, rxoff, txoff, zcoff, size, page = 4096;
	struct bg *g;
	unsigned int i, hsize;
	int err;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->p = *p;
	g->ops = ops;
	g->opaque = opaque;
	vu_fe_guest_mem_init(&g->gm);
	if (!g->p.queue_size)
		g->p.queue_size = 256;
	if (!g->p.credit)
		g->p.credit = 256 * 1024;
	if (!g->p.rx_buf)
		g->p.rx_buf = BG_RX_BUF_DEFAULT;
	if (!g->p.tx_pkt)
		g->p.tx_pkt = 65536;
	if (!g->p.max_conns)
		g->p.max_conns = 1024;
	g->next_lport = 49152;

	/*
	 * layout: rings, RX buffers, TX buffers, and for zero-copy sends one
	 * copy of the pattern (period + longest contiguous run).  Zero-copy
	 * packets carry only their header in the TX buffer.
	 */
	if (g->p.tx_pkt > BG_PATTERN_RUN)
		g->p.zerocopy = false;
	ring = VK_ALIGN_UP(vqdrv_ring_bytes(g->p.queue_size), page);
	rxoff = 2 * ring;
	g->tx_stride = (uint32_t)VK_ALIGN_UP((uint64_t)VSOCK_HDR_SIZE + g->p.tx_pkt, 64);
	txoff = VK_ALIGN_UP(rxoff + (uint64_t)g->p.queue_size * g->p.rx_buf, page);
	zcoff = VK_ALIGN_UP(txoff + (uint64_t)g->p.queue_size * g->tx_stride, page);
	size = zcoff + (g->p.zerocopy ? BG_PATTERN_PERIOD + BG_PATTERN_RUN : 0);
	size = VK_ALIGN_UP(size, 2 * 1024 * 1024);
	err = vu_fe_guest_mem_add(&g->gm, BG_GPA_BASE, size);
	if (err < 0)
		goto fail;
	g->dm.host = g->gm.r[0].host;
	g->dm.gpa = BG_GPA_BASE;
	g->dm.size = size;
	g->rxbufs = g->dm.host + rxoff;
	g->txbufs = g->dm.host + txoff;
	if (g->p.zerocopy) {
		g->zc_pattern = g->dm.host + zcoff;
		memcpy(g->zc_pattern, bg_pattern_at(0), BG_PATTERN_PERIOD + BG_PATTERN_RUN);
	}

	hsize = 1;
	while (hsize < 2 * g->p.max_conns)
		hsize <<= 1;
	g->hash_mask = hsize - 1;
	g->hash = calloc(hsize, sizeof(*g->hash));
	g->conns = calloc(g->p.max_conns, sizeof(*g->conns));
	g->free_slots = calloc(g->p.max_conns, sizeof(*g->free_slots));
	g->cu = calloc(g->p.max_conns, sizeof(*g->cu));
	g->ctrl = calloc(BG_CTRL_MAX, sizeof(*g->ctrl));
	g->tx_free = calloc(g->p.queue_size, sizeof(*g->tx_free));
	if (!g->hash || !g->conns || !g->free_slots || !g->cu || !g->ctrl || !g->tx_free) {
		err = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < g->p.max_conns; i++)
		g->free_slots[i] = g->p.max_conns - 1 - i;
	g->nfree_slots = g->p.max_conns;

	if (p->event_idx)
		features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	g->cid = p->guest_cid;
	err = bg_open(g, p, features);
	if (err < 0)
		goto fail;
	if (!(g->features & (1ull << VIRTIO_F_VERSION_1))) {
		err = -EPROTO;
		goto fail;
	}
	g->event_idx = g->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	if (!g->cid) {
		err = -EINVAL;   /* no CID given and no config space */
		goto fail;
	}
	{
		struct vu_fe_region r[VU_FE_GUEST_MEM_MAX];
		unsigned int n = vu_fe_guest_mem_regions(&g->gm, r, VU_FE_GUEST_MEM_MAX);

		err = vhf_set_mem(g->h, r, n);
		if (err < 0)
			goto fail;
	}
	err = vqdrv_init(&g->rx, &g->dm, g->p.queue_size, BG_GPA_BASE, g->event_idx);
	if (!err)
		err = vqdrv_init(&g->tx, &g->dm, g->p.queue_size, BG_GPA_BASE + ring, g->event_idx);
	if (err < 0)
		goto fail;
	for (i = 0; i < g->p.queue_size; i++) {
		bg_rx_add(g, g->rxbufs + (uint64_t)i * g->p.rx_buf);
		g->tx_free[g->ntx_free++] = g->txbufs + (uint64_t)i * g->tx_stride;
	}
	vqdrv_kick_prepare(&g->rx);
	vqdrv_disable_cb(&g->tx);
	err = vhf_ring_setup(g->h, BG_RX, g->p.queue_size, g->rx.desc_gpa, g->rx.avail_gpa,
			     g->rx.used_gpa, 0);
	if (!err)
		err = vhf_ring_setup(g->h, BG_TX, g->p.queue_size, g->tx.desc_gpa, g->tx.avail_gpa,
				     g->tx.used_gpa, 0);
	/* the kernel's device takes its CID and starts; a vhost-user one starts on the kick */
	if (!err && !g->fe)
		err = vhf_vsock_set_cid(g->h, g->cid);
	if (!err && !g->fe)
		err = vhf_start(g->h, true);
	if (err < 0)
		goto fail;
	vhf_kick(g->h, BG_RX);
	*out = g;
	return 0;
fail:
	bg_free(g);
	return err;
}
