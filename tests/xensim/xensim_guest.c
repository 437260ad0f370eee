// SPDX-License-Identifier: MIT
/*
 * xensim_guest.c - the simulated Xen host and its guests, for the
 * xen-vhost-master end-to-end tests
 *
 * Runs the simulated hypervisor (xensim_hv.c) on $XENSIM_SOCKET and plays
 * the guests: a virtio-mmio driver (registers through ioreqs, interrupts
 * from the device model's line) and a userspace virtio-vsock stream stack
 * on the driver side of the rings (vqdrv_*).  Each guest vsock connection is
 * bridged to a socketpair so the hash-checked transfer code of the e2e tests
 * (tests/common/xfer.c) runs on it unchanged.
 *
 * Commands on stdin, one per line, answered on stdout with one line
 * starting "OK" or "FAIL":
 *   dom ID [VCPUS]                 create a guest (64 MiB, hole at 640K-768K)
 *   xs PATH VALUE                  write xenstore (as the toolstack)
 *   probe ID BASE IRQ [grants|hold] find and start the vsock device (hold: up to DRIVER_OK)
 *   driverok ID                    the rest of a probe ... hold
 *   listen ID PORT                 serve xfer connections on a guest port
 *   client ID PORT OP SIZE SEED N  N concurrent xfer clients to host PORT
 *   destroy ID [ID2]               the domain dies (with ID2: both, one @releaseDomain)
 *   destroy ID quiet               the domain dies, its @releaseDomain not sent yet
 *                                  (its domid can be created again before it is)
 *   releasedomain                  @releaseDomain fires
 *   reset ID                       the driver stops and resets the device (status 0);
 *                                  answers the used indexes of its old rings; probe again
 *   usedidx ID                     the used indexes of the device's (old) rings
 *   hostile ID BASE                hostile register / ioreq sequences
 *   knotify ID                     kicks / interrupts done by the simulated dom0 kernel
 *   irqmode ID line|edge|fasteoi   how the guest takes its interrupt (before probe):
 *                                  line: every 0->1 of the line, rings also polled
 *                                  every 50 ms (default); edge / fasteoi: as a Linux
 *                                  HVM guest takes an ISA IRQ declared Edge / Level
 *                                  (a Xen pirq, xsim_irq_set_mode XSIM_IRQ_PIRQ: EOI
 *                                  before / after the handler), rings only looked at
 *                                  in the handler
 *   race ID N                      the next N interrupts (edge / fasteoi) get a back-end
 *                                  call between their INTERRUPT_ACK and their end (EOI)
 *   irqstat ID                     interrupts sent / merged, races injected, handler runs
 *   timeout MS                     the xfer clients' and servers' I/O timeout
 *   xsread PATH                    a xenstore node's value ("FAIL" when there is none)
 *   hang PATH                      a back-end that hangs: a Unix listener at PATH whose
 *                                  backlog takes one connection and that never accepts
 *                                  (a second connect blocks, or fails when non-blocking)
 *   unhang                         close that listener (PATH stays)
 *   fail CALL [COUNT [ERRNO [WHERE [SKIP]]]]
 *                                  fault injection (xsim_fail): the next COUNT (default 1;
 *                                  "always": until cleared; 0 clears) calls of the Xen
 *                                  library function CALL (xc_domain_getinfolist,
 *                                  xenforeignmemory_map, xenforeignmemory_map_resource,
 *                                  xendevicemodel_create_ioreq_server,
 *                                  xenevtchn_bind_interdomain, xenevtchn_pending
 *                                  (the read of an event to that domain's peer), xs_read,
 *                                  ...: the list is
 *                                  in xensim_hv.c) about WHERE (a domid, "any": the
 *                                  default, or for xs_* a xenstore path: it or a node
 *                                  below, or @releaseDomain), after the first SKIP, fail with ERRNO (a name:
 *                                  EIO, EAGAIN, ..., or a number; default EIO), in every
 *                                  process on the simulator
 *   failed CALL [WHERE]            the calls failed so far by that fault, and those left:
 *                                  "OK hits H left L"
 *   fmappages                      foreign pages mapped now, by anyone
 *   domstat ID                     the domain's ioreq servers and its ports bound by dom0:
 *                                  "OK servers S ports P"
 *   quit
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xen/hvm/ioreq.h>

#include "common/byteorder.h"
#include "common/compiler.h"
#include "virtqueue/virtqueue.h"
#include "vsock/vsock_hdr.h"
#include "xen/xvm_mmio.h"
#include "xensim_hv.h"
#include "../common/xfer.h"

#define G_PAGES 16384u                 /* 64 MiB */
#define G_HOLE_START 0xa0u
#define G_HOLE_END 0xc0u
#define G_MEM_GPA 0x100000ull          /* what the driver uses, above the hole */
#define G_RING_GPA(q) (G_MEM_GPA + (uint64_t)(q) * 0x10000)
#define G_RX_GPA 0x200000ull
#define G_TX_GPA 0x600000ull
#define G_EV_GPA 0xa00000ull
#define G_QSIZE 256u
#define G_NRX 128u
#define G_NTX 128u
#define G_BUF 8192u
#define G_PAYLOAD (G_BUF - VSOCK_HDR_SIZE)
#define G_CREDIT (256u * 1024u)
#define G_MAX_CONNS 64
#define G_MAX_DOMS 16

enum g_irq_mode { G_IRQ_LINE, G_IRQ_EDGE, G_IRQ_FASTEOI };

enum { C_FREE, C_CONNECTING, C_EST, C_CLOSING };

struct gconn {
	int state;
	uint32_t lport, pport;
	int fd;                 /* our end of the socketpair */
	int app_fd;             /* the xfer code's end */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt, fwd_cnt, fwd_sent;
	bool eof_sent, peer_shut, req_sent;
	pthread_mutex_t *wait_lock;
	pthread_cond_t *wait_cond;
	int *result;            /* connect result for the waiting client */
};

struct gdev {
	uint32_t dom;
	uint64_t base;
	unsigned int irq;
	uint64_t cid;
	bool up, grants;
	bool stop;                       /* atomic: the device thread ends */
	struct vqdrv_mem mem;
	struct vqdrv vq[3];
	uint8_t *txbuf[G_NTX];
	unsigned int ntx_free;
	uint8_t *tx_free[G_NTX];
	pthread_t thr;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int wake[2];
	int efd;
	uint32_t listen_port;
	uint32_t next_port;
	struct gconn conns[G_MAX_CONNS];
	enum g_irq_mode irq_mode;
	int race;                        /* interrupts still to get a call before their EOI */
	unsigned long races, handled;     /* atomic (read by the command loop) */
};

static struct xsim_hv *hv;
static struct gdev devs[G_MAX_DOMS];
static unsigned int ndevs;
static struct { uint32_t dom; enum g_irq_mode mode; } irq_modes[G_MAX_DOMS];
static unsigned int nirq_modes;
static int hang_fd = -1;          /* the listener of "hang", -1 if none */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;
	va_list ap;

	pthread_mutex_lock(&out);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&out);
}

static struct gdev *dev_of(uint32_t dom)
{
	for (unsigned int i = 0; i < ndevs; i++)
		if (devs[i].dom == dom)
			return &devs[i];
	return NULL;
}

static int rd32(struct gdev *d, uint64_t off, uint32_t *v)
{
	uint64_t x;
	int r = xsim_mmio_read(hv, d->dom, d->base + off, 4, &x);

	*v = (uint32_t)x;
	return r;
}

static int wr32(struct gdev *d, uint64_t off, uint32_t v)
{
	return xsim_mmio_write(hv, d->dom, d->base + off, 4, v);
}

/* ------------------------------------------------------------ vsock packets */

static void kick(struct gdev *d, unsigned int q)
{
	if (vqdrv_kick_prepare(&d->vq[q]))
		wr32(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static void reap_tx(struct gdev *d)
{
	uint32_t len;
	void *tok;

	while ((tok = vqdrv_get_used(&d->vq[VSOCK_VQ_TX], &len)))
		d->tx_free[d->ntx_free++] = tok;
}

/* Send one packet (payload may be NULL); false when no TX buffer is free. */
static bool send_pkt(struct gdev *d, struct gconn *c, uint16_t op, uint32_t flags,
		     const void *payload, uint32_t len, uint32_t lport, uint32_t pport)
{
	struct virtio_vsock_hdr *h;
	struct iovec iov;
	uint8_t *b;

	reap_tx(d);
	if (!d->ntx_free)
		return false;
	b = d->tx_free[--d->ntx_free];
	h = (struct virtio_vsock_hdr *)b;
	memset(h, 0, sizeof(*h));
	vk_put_le64(&h->src_cid, d->cid);
	vk_put_le64(&h->dst_cid, VSOCK_CID_HOST);
	vk_put_le32(&h->src_port, c ? c->lport : lport);
	vk_put_le32(&h->dst_port, c ? c->pport : pport);
	vk_put_le32(&h->len, len);
	vk_put_le16(&h->type, VIRTIO_VSOCK_TYPE_STREAM);
	vk_put_le16(&h->op, op);
	vk_put_le32(&h->flags, flags);
	vk_put_le32(&h->buf_alloc, G_CREDIT);
	vk_put_le32(&h->fwd_cnt, c ? c->fwd_cnt : 0);
	if (len)
		memcpy(b + VSOCK_HDR_SIZE, payload, len);
	if (c) {
		c->fwd_sent = c->fwd_cnt;
		if (op == VIRTIO_VSOCK_OP_RW)
			c->tx_cnt += len;
	}
	iov.iov_base = b;
	iov.iov_len = VSOCK_HDR_SIZE + len;
	if (vqdrv_add(&d->vq[VSOCK_VQ_TX], &iov, 1, NULL, 0, b) < 0) {
		d->tx_free[d->ntx_free++] = b;
		return false;
	}
	kick(d, VSOCK_VQ_TX);
	return true;
}

static void conn_close(struct gdev *d, struct gconn *c, int result)
{
	if (c->result && c->state == C_CONNECTING) {
		pthread_mutex_lock(c->wait_lock);
		*c->result = result;
		pthread_cond_broadcast(c->wait_cond);
		pthread_mutex_unlock(c->wait_lock);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = C_FREE;
}

static struct gconn *conn_find(struct gdev *d, uint32_t lport, uint32_t pport)
{
	for (int i = 0; i < G_MAX_CONNS; i++)
		if (d->conns[i].state != C_FREE && d->conns[i].lport == lport &&
		    d->conns[i].pport == pport)
			return &d->conns[i];
	return NULL;
}

static void *serve_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char msg[160];
	int r = xfer_serve_conn(fd, false, msg, sizeof(msg));

	fprintf(stderr, "xensim-guest: served a connection: %s (%s)\n", r < 0 ? "FAIL" : "ok", msg);
	close(fd);
	return NULL;
}

static void rx_packet(struct gdev *d, const uint8_t *b, uint32_t len)
{
	struct vsock_hdr h;
	struct gconn *c;

	if (len < VSOCK_HDR_SIZE)
		return;
	vsock_hdr_decode(&h, (const struct virtio_vsock_hdr *)b);
	if (h.len > len - VSOCK_HDR_SIZE || h.type != VIRTIO_VSOCK_TYPE_STREAM)
		return;
	c = conn_find(d, h.dst_port, h.src_port);
	if (c) {
		c->peer_buf_alloc = h.buf_alloc;
		c->peer_fwd_cnt = h.fwd_cnt;
	}
	switch (h.op) {
	case VIRTIO_VSOCK_OP_REQUEST: {
		int sv[2];

		if (c || h.dst_port != d->listen_port ||
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			send_pkt(d, NULL, VIRTIO_VSOCK_OP_RST, 0, NULL, 0, h.dst_port, h.src_port);
			return;
		}
		for (int i = 0; i < G_MAX_CONNS; i++)
			if (d->conns[i].state == C_FREE) {
				pthread_t t;

				c = &d->conns[i];
				memset(c, 0, sizeof(*c));
				c->state = C_EST;
				c->lport = h.dst_port;
				c->pport = h.src_port;
				c->peer_buf_alloc = h.buf_alloc;
				c->peer_fwd_cnt = h.fwd_cnt;
				c->fd = sv[0];
				send_pkt(d, c, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0, 0, 0);
				if (pthread_create(&t, NULL, serve_thread, (void *)(intptr_t)sv[1]) == 0)
					pthread_detach(t);
				else
					close(sv[1]);
				return;
			}
		close(sv[0]);
		close(sv[1]);
		send_pkt(d, NULL, VIRTIO_VSOCK_OP_RST, 0, NULL, 0, h.dst_port, h.src_port);
		return;
	}
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c && c->state == C_CONNECTING) {
			c->state = C_EST;
			pthread_mutex_lock(c->wait_lock);
			*c->result = 0;
			pthread_cond_broadcast(c->wait_cond);
			pthread_mutex_unlock(c->wait_lock);
			c->result = NULL;
		}
		return;
	case VIRTIO_VSOCK_OP_RST:
		if (c)
			conn_close(d, c, -ECONNREFUSED);
		return;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (!c)
			return;
		if (h.flags & VIRTIO_VSOCK_SHUTDOWN_SEND) {
			c->peer_shut = true;
			shutdown(c->fd, SHUT_WR);
		}
		if (c->eof_sent && c->peer_shut) {
			send_pkt(d, c, VIRTIO_VSOCK_OP_RST, 0, NULL, 0, 0, 0);
			conn_close(d, c, 0);
		}
		return;
	case VIRTIO_VSOCK_OP_RW:
		if (!c || c->state != C_EST)
			return;
		if (h.len && xfer_write_all(c->fd, b + VSOCK_HDR_SIZE, h.len) < 0) {
			send_pkt(d, c, VIRTIO_VSOCK_OP_RST, 0, NULL, 0, 0, 0);
			conn_close(d, c, -EPIPE);
			return;
		}
		c->fwd_cnt += h.len;
		if (c->fwd_cnt - c->fwd_sent >= G_CREDIT / 4)
			send_pkt(d, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, 0, 0);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		if (c)
			send_pkt(d, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0, 0, 0);
		return;
	default:
		return;
	}
}

static void post_rx(struct gdev *d, uint8_t *b)
{
	struct iovec in = { .iov_base = b, .iov_len = G_BUF };

	vqdrv_add(&d->vq[VSOCK_VQ_RX], NULL, 0, &in, 1, b);
}

static void post_ev(struct gdev *d, uint8_t *b)
{
	struct iovec in = { .iov_base = b, .iov_len = 4 };

	vqdrv_add(&d->vq[VSOCK_VQ_EVENT], NULL, 0, &in, 1, b);
}

static void process_used(struct gdev *d)
{
	uint32_t len;
	void *tok;
	bool rx = false, ev = false;

	while ((tok = vqdrv_get_used(&d->vq[VSOCK_VQ_RX], &len))) {
		rx_packet(d, tok, len);
		post_rx(d, tok);
		rx = true;
	}
	if (rx)
		kick(d, VSOCK_VQ_RX);
	while ((tok = vqdrv_get_used(&d->vq[VSOCK_VQ_EVENT], &len))) {
		if (len >= 4 && vk_get_le32(tok) == VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) {
			fprintf(stderr, "xensim-guest: dom %u: TRANSPORT_RESET\n", d->dom);
			for (int i = 0; i < G_MAX_CONNS; i++)
				if (d->conns[i].state != C_FREE)
					conn_close(d, &d->conns[i], -ECONNRESET);
		}
		post_ev(d, tok);
		ev = true;
	}
	if (ev)
		kick(d, VSOCK_VQ_EVENT);
	reap_tx(d);
}

static uint32_t credit(const struct gconn *c)
{
	uint32_t inflight = c->tx_cnt - c->peer_fwd_cnt;

	return inflight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - inflight;
}

/*
 * A back-end call between the handler's INTERRUPT_ACK and its end: a TX
 * packet the daemon completes at once (an RST from a port nobody uses,
 * which it drops), then wait until the call has raised the line.
 */
static void irq_race(struct gdev *d)
{
	bool sent;

	pthread_mutex_lock(&d->lock);
	sent = send_pkt(d, NULL, VIRTIO_VSOCK_OP_RST, 0, NULL, 0, 1, 1);
	pthread_mutex_unlock(&d->lock);
	if (sent && xsim_irq_wait(hv, d->dom, XSIM_IRQ_ISA, d->irq, 1, 2000) == 0) {
		__atomic_sub_fetch(&d->race, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&d->races, 1, __ATOMIC_RELAXED);
	}
}

/* What Linux's virtio-mmio vm_interrupt does, inside the pirq flow handler. */
static void irq_handler(struct gdev *d)
{
	uint32_t isr;

	__atomic_fetch_add(&d->handled, 1, __ATOMIC_RELAXED);
	if (d->irq_mode == G_IRQ_EDGE)
		xsim_irq_eoi(hv, d->dom, XSIM_IRQ_ISA, d->irq);    /* irq_ack = eoi_pirq */
	if (rd32(d, VIRTIO_MMIO_INTERRUPT_STATUS, &isr) == 0 && isr)
		wr32(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	if (d->irq_mode == G_IRQ_LINE)
		return;
	pthread_mutex_lock(&d->lock);
	process_used(d);
	pthread_mutex_unlock(&d->lock);
	if (__atomic_load_n(&d->race, __ATOMIC_RELAXED) > 0)
		irq_race(d);
	if (d->irq_mode == G_IRQ_FASTEOI)
		xsim_irq_eoi(hv, d->dom, XSIM_IRQ_ISA, d->irq);    /* irq_eoi after the handler */
}

static void *dev_thread(void *arg)
{
	struct gdev *d = arg;
	uint8_t *buf = malloc(G_PAYLOAD);   /* one per device thread */

	while (buf && !__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd[2 + G_MAX_CONNS];
		struct gconn *pc[G_MAX_CONNS];
		unsigned int n = 2, nc = 0;
		uint64_t v;

		pthread_mutex_lock(&d->lock);
		if (d->irq_mode == G_IRQ_LINE)
			process_used(d);
		/* connections waiting to be opened */
		for (int i = 0; i < G_MAX_CONNS; i++) {
			struct gconn *c = &d->conns[i];

			if (c->state == C_CONNECTING && !c->req_sent &&
			    send_pkt(d, c, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0, 0, 0))
				c->req_sent = true;
		}
		for (int i = 0; i < G_MAX_CONNS; i++) {
			struct gconn *c = &d->conns[i];

			if (c->state == C_EST && !c->eof_sent && credit(c) && d->ntx_free) {
				pfd[n].fd = c->fd;
				pfd[n].events = POLLIN;
				pc[nc++] = c;
				n++;
			}
		}
		pthread_mutex_unlock(&d->lock);
		pfd[0] = (struct pollfd){ .fd = d->efd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = d->wake[0], .events = POLLIN };
		if (poll(pfd, n, 50) < 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			(void)!read(d->efd, &v, sizeof(v));
			irq_handler(d);
		}
		if (pfd[1].revents & POLLIN)
			(void)!read(d->wake[0], &v, sizeof(v));
		pthread_mutex_lock(&d->lock);
		for (unsigned int i = 0; i < nc; i++) {
			struct gconn *c = pc[i];
			ssize_t r;
			uint32_t room;

			if (!(pfd[2 + i].revents & (POLLIN | POLLHUP)) || c->state != C_EST)
				continue;
			room = VK_MIN(credit(c), (uint32_t)G_PAYLOAD);
			reap_tx(d);
			if (!room || !d->ntx_free)
				continue;
			r = read(c->fd, buf, room);
			if (r > 0) {
				send_pkt(d, c, VIRTIO_VSOCK_OP_RW, 0, buf, (uint32_t)r, 0, 0);
			} else if (r == 0) {
				c->eof_sent = true;
				send_pkt(d, c, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_RCV |
					 VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0, 0, 0);
			}
		}
		pthread_mutex_unlock(&d->lock);
	}
	free(buf);
	return NULL;
}

/* ------------------------------------------------------------ device bring-up */

/* A probe up to DRIVER_OK: features, queues, buffers posted. */
static int probe_start(struct gdev *d)
{
	uint64_t deadline = xfer_now_ms() + 20000;
	uint32_t v, f0, f1, lo, hi;
	uint8_t *ram = xsim_dom_ram(hv, d->dom);

	/* wait for xen-vhost-master to claim the window */
	while (rd32(d, VIRTIO_MMIO_MAGIC_VALUE, &v) == -ENODEV) {
		if (xfer_now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(20000);
	}
	if (v != VIRTIO_MMIO_MAGIC || rd32(d, VIRTIO_MMIO_VERSION, &v) || v != 2 ||
	    rd32(d, VIRTIO_MMIO_DEVICE_ID, &v) || v != 19)
		return -ENODEV;
	wr32(d, VIRTIO_MMIO_STATUS, 0);
	wr32(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr32(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	rd32(d, VIRTIO_MMIO_DEVICE_FEATURES, &f0);
	wr32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	rd32(d, VIRTIO_MMIO_DEVICE_FEATURES, &f1);
	if (!(f1 & 1))
		return -EPROTO;
	wr32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr32(d, VIRTIO_MMIO_DRIVER_FEATURES, f0 & (1u << VIRTIO_VSOCK_F_STREAM));
	wr32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr32(d, VIRTIO_MMIO_DRIVER_FEATURES, 1 | (f1 & 2));
	wr32(d, VIRTIO_MMIO_STATUS, 0xb);
	if (rd32(d, VIRTIO_MMIO_STATUS, &v) || !(v & VIRTIO_STATUS_FEATURES_OK))
		return -EPROTO;
	d->mem = (struct vqdrv_mem){ .host = ram + G_MEM_GPA, .gpa = G_MEM_GPA,
				     .size = (uint64_t)G_PAGES * 4096 - G_MEM_GPA };
	if (d->grants) {
		/*
		 * Grant DMA, as Linux's xen-grant-dma does: every address the
		 * device sees is (1 << 63) | ref << 12 | offset.  Here every page
		 * the driver uses is granted once, with ref == frame number.
		 */
		if (!(f1 & 2))
			return -EPROTO;
		for (uint64_t pfn = G_MEM_GPA >> 12; pfn < (G_EV_GPA >> 12) + 1; pfn++)
			if (xsim_grant(hv, d->dom, (uint32_t)pfn, pfn, false) < 0)
				return -ENOSPC;
		d->mem.gpa |= 1ull << 63;
	}
	for (unsigned int q = 0; q < 3; q++) {
		struct vqdrv *vq = &d->vq[q];
		uint32_t max;

		wr32(d, VIRTIO_MMIO_QUEUE_SEL, q);
		if (rd32(d, VIRTIO_MMIO_QUEUE_NUM_MAX, &max) || max < G_QSIZE)
			return -ENOSPC;
		if (vqdrv_init(vq, &d->mem, G_QSIZE, G_RING_GPA(q) | (d->mem.gpa & (1ull << 63)),
			       false) < 0)
			return -EINVAL;
		wr32(d, VIRTIO_MMIO_QUEUE_NUM, G_QSIZE);
		wr32(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)vq->desc_gpa);
		wr32(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(vq->desc_gpa >> 32));
		wr32(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)vq->avail_gpa);
		wr32(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(vq->avail_gpa >> 32));
		wr32(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)vq->used_gpa);
		wr32(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(vq->used_gpa >> 32));
		wr32(d, VIRTIO_MMIO_QUEUE_READY, 1);
		if (rd32(d, VIRTIO_MMIO_QUEUE_READY, &v) || v != 1)
			return -EIO;
	}
	if (rd32(d, VIRTIO_MMIO_CONFIG, &lo) || rd32(d, VIRTIO_MMIO_CONFIG + 4, &hi))
		return -EIO;
	d->cid = ((uint64_t)hi << 32) | lo;
	for (unsigned int i = 0; i < G_NRX; i++)
		post_rx(d, ram + G_RX_GPA + (uint64_t)i * G_BUF);
	for (unsigned int i = 0; i < 8; i++)
		post_ev(d, ram + G_EV_GPA + (uint64_t)i * 64);
	d->ntx_free = 0;
	for (unsigned int i = 0; i < G_NTX; i++)
		d->tx_free[d->ntx_free++] = ram + G_TX_GPA + (uint64_t)i * G_BUF;
	return 0;
}

/* The end of a probe: DRIVER_OK, the first kicks, the device thread. */
static int probe_finish(struct gdev *d)
{
	uint32_t v;

	wr32(d, VIRTIO_MMIO_STATUS, 0xf);
	if (rd32(d, VIRTIO_MMIO_STATUS, &v) || !(v & VIRTIO_STATUS_DRIVER_OK))
		return -EIO;
	vqdrv_kick_prepare(&d->vq[VSOCK_VQ_RX]);
	wr32(d, VIRTIO_MMIO_QUEUE_NOTIFY, VSOCK_VQ_RX);
	vqdrv_kick_prepare(&d->vq[VSOCK_VQ_EVENT]);
	wr32(d, VIRTIO_MMIO_QUEUE_NOTIFY, VSOCK_VQ_EVENT);
	d->efd = xsim_irq_eventfd(hv, d->dom);
	if (d->efd < 0 || pipe2(d->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		return -EIO;
	d->next_port = 40000;
	d->up = true;
	return pthread_create(&d->thr, NULL, dev_thread, d) ? -EAGAIN : 0;
}

/* ------------------------------------------------------------ clients */

struct client_job {
	struct gdev *d;
	uint32_t port;
	char op[16];
	size_t size;
	uint64_t seed;
	int ok;
	char msg[200];
};

static void *client_thread(void *arg)
{
	struct client_job *j = arg;
	struct gdev *d = j->d;
	pthread_mutex_t wl = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t wc = PTHREAD_COND_INITIALIZER;
	int sv[2], result = 1;
	struct gconn *c = NULL;
	uint64_t one = 1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(j->msg, sizeof(j->msg), "socketpair: %s", strerror(errno));
		return NULL;
	}
	pthread_mutex_lock(&d->lock);
	for (int i = 0; i < G_MAX_CONNS; i++)
		if (d->conns[i].state == C_FREE) {
			c = &d->conns[i];
			memset(c, 0, sizeof(*c));
			c->state = C_CONNECTING;
			c->lport = d->next_port++;
			c->pport = j->port;
			c->fd = sv[0];
			c->wait_lock = &wl;
			c->wait_cond = &wc;
			c->result = &result;
			break;
		}
	pthread_mutex_unlock(&d->lock);
	if (!c) {
		close(sv[0]);
		close(sv[1]);
		snprintf(j->msg, sizeof(j->msg), "no connection slot");
		return NULL;
	}
	(void)!write(d->wake[1], &one, 1);
	pthread_mutex_lock(&wl);
	while (result > 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		if (pthread_cond_timedwait(&wc, &wl, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&wl);
	if (result != 0) {
		snprintf(j->msg, sizeof(j->msg), "connect to port %u: %s", j->port,
			 result > 0 ? "timeout" : strerror(-result));
		pthread_mutex_lock(&d->lock);
		if (c->state == C_CONNECTING)
			conn_close(d, c, -ETIMEDOUT);
		c->result = NULL;
		pthread_mutex_unlock(&d->lock);
		close(sv[1]);
		return NULL;
	}
	j->ok = xfer_client(sv[1], j->op, j->size, j->seed, j->msg, sizeof(j->msg)) == 0;
	close(sv[1]);
	return NULL;
}

static void cmd_client(struct gdev *d, uint32_t port, const char *op, size_t size, uint64_t seed,
		       unsigned int n)
{
	struct client_job jobs[16];
	pthread_t t[16];
	unsigned int ok = 0;

	if (n > 16)
		n = 16;
	for (unsigned int i = 0; i < n; i++) {
		jobs[i] = (struct client_job){ .d = d, .port = port, .size = size, .seed = seed + i };
		snprintf(jobs[i].op, sizeof(jobs[i].op), "%s", op);
		pthread_create(&t[i], NULL, client_thread, &jobs[i]);
	}
	for (unsigned int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		ok += jobs[i].ok;
		if (!jobs[i].ok)
			fprintf(stderr, "xensim-guest: dom %u client %u: %s\n", d->dom, i, jobs[i].msg);
	}
	if (ok == n)
		say("OK %u transfers (%s)", n, jobs[0].msg);
	else
		say("FAIL %u of %u transfers failed", n - ok, n);
}

/* ------------------------------------------------------------ hostile guest */

static int hostile(struct gdev *d, uint64_t base)
{
	ioreq_t r;
	uint64_t v;

	/* unaligned, odd and oversized accesses; data_is_ptr; rep; outside the window */
	if (xsim_mmio_read(hv, d->dom, base + 2, 4, &v) || v != 0xffffffff)
		return -1;
	if (xsim_mmio_read(hv, d->dom, base, 2, &v) || v != 0xffff)
		return -2;
	r = (ioreq_t){ .addr = base, .size = 4, .count = 1, .dir = IOREQ_READ, .data_is_ptr = 1,
		       .data = 0x1000, .type = IOREQ_TYPE_COPY };
	if (xsim_ioreq(hv, d->dom, 0, &r, 5000) || r.data != 0x1000)
		return -3;
	r = (ioreq_t){ .addr = base, .size = 4, .count = 4, .dir = IOREQ_READ,
		       .type = IOREQ_TYPE_COPY };
	if (xsim_ioreq(hv, d->dom, 0, &r, 5000) || (uint32_t)r.data != 0xffffffff)
		return -4;
	r = (ioreq_t){ .addr = base + 0x1fc, .size = 8, .count = 1, .dir = IOREQ_READ,
		       .type = IOREQ_TYPE_COPY };
	if (xsim_ioreq(hv, d->dom, 0, &r, 5000) != -ENODEV && r.data != ~0ull)
		return -5;
	/* notify before DRIVER_OK, queue ready with zero addresses, size above max */
	if (xsim_mmio_write(hv, d->dom, base + VIRTIO_MMIO_STATUS, 4, 0) ||
	    xsim_mmio_write(hv, d->dom, base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, 1) ||
	    xsim_mmio_write(hv, d->dom, base + VIRTIO_MMIO_QUEUE_SEL, 4, 0) ||
	    xsim_mmio_write(hv, d->dom, base + VIRTIO_MMIO_QUEUE_NUM, 4, 4096) ||
	    xsim_mmio_write(hv, d->dom, base + VIRTIO_MMIO_QUEUE_READY, 4, 1) ||
	    xsim_mmio_read(hv, d->dom, base + VIRTIO_MMIO_QUEUE_READY, 4, &v) || v != 0)
		return -6;
	/* INVALIDATE; a buffered write (completed, dropped: not an MMIO register access) */
	r = (ioreq_t){ .type = IOREQ_TYPE_INVALIDATE, .count = 1 };
	if (xsim_ioreq(hv, d->dom, 0, &r, 5000))
		return -7;
	if (xsim_bufioreq_write(hv, d->dom, base + VIRTIO_MMIO_STATUS, 4, 1) < 0)
		return -8;
	for (int i = 0; i < 100 && xsim_bufioreq_pending(hv, d->dom); i++)
		usleep(10000);
	if (xsim_bufioreq_pending(hv, d->dom))
		return -9;
	return 0;
}

/* ------------------------------------------------------------ fault injection */

/* An errno by name ("EIO") or number; 0 if unknown. */
static int errno_parse(const char *s)
{
	static const struct { const char *name; int err; } names[] = {
		{ "EPERM", EPERM }, { "ENOENT", ENOENT }, { "ESRCH", ESRCH }, { "EINTR", EINTR },
		{ "EIO", EIO }, { "E2BIG", E2BIG }, { "EBADF", EBADF }, { "EAGAIN", EAGAIN },
		{ "ENOMEM", ENOMEM }, { "EACCES", EACCES }, { "EFAULT", EFAULT }, { "EBUSY", EBUSY },
		{ "EEXIST", EEXIST }, { "EINVAL", EINVAL }, { "ENOSPC", ENOSPC },
		{ "EOPNOTSUPP", EOPNOTSUPP }, { "ETIMEDOUT", ETIMEDOUT },
	};
	char *end;
	long v;

	for (size_t i = 0; i < VK_ARRAY_SIZE(names); i++)
		if (!strcmp(names[i].name, s))
			return names[i].err;
	v = strtol(s, &end, 0);
	return (*s && !*end && v > 0 && v < 4096) ? (int)v : 0;
}

/* fail CALL [COUNT [ERRNO [WHERE [SKIP]]]] (the words after "fail", @n of them) */
static void cmd_fail(int n, const char *call, const char *count, const char *err,
		     const char *where, const char *skip)
{
	unsigned int c = 1, sk = 0;
	int e = n >= 3 ? errno_parse(err) : EIO, r;

	if (n < 4)
		where = "any";
	if (n >= 2)
		c = !strcmp(count, "always") ? UINT_MAX : (unsigned int)strtoul(count, NULL, 0);
	if (n >= 5)
		sk = (unsigned int)strtoul(skip, NULL, 0);
	r = e ? xsim_fail(hv, call, c, e, where, sk) : -EINVAL;
	if (r < 0)
		say("FAIL fail %s: %s", call, strerror(-r));
	else if (!c)
		say("OK fail %s cleared", call);
	else
		say("OK fail %s %u %s %s skip %u", call, c, strerror(e), where, sk);
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	const char *sock = getenv("XENSIM_SOCKET");
	char line[512];

	if (!sock) {
		fprintf(stderr, "xensim-guest: set XENSIM_SOCKET\n");
		return 2;
	}
	hv = xsim_hv_start(sock);
	if (!hv) {
		fprintf(stderr, "xensim-guest: %s: %s\n", sock, strerror(errno));
		return 1;
	}
	xfer_timeout_ms = 20000;
	say("OK ready");
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[32] = "", s1[256] = "", s2[64] = "", s3[64] = "", s4[64] = "", s5[64] = "";
		char s6[64] = "";
		int n = sscanf(line, "%31s %255s %63s %63s %63s %63s %63s", cmd, s1, s2, s3, s4, s5, s6);
		uint32_t dom = (uint32_t)strtoul(s1, NULL, 0);
		struct gdev *d = dev_of(dom);

		if (n <= 0)
			continue;
		if (!strcmp(cmd, "quit")) {
			say("OK bye");
			break;
		} else if (!strcmp(cmd, "dom") && n >= 2) {
			unsigned int vcpus = n >= 3 ? (unsigned int)strtoul(s2, NULL, 0) : 2;
			int r = xsim_dom_create(hv, dom, G_PAGES, G_HOLE_START, G_HOLE_END, vcpus, false);

			/* "pod": memory = maxmem / 2, the balloon driver not run yet */
			if (r == 0 && n >= 4 && !strcmp(s3, "pod"))
				r = xsim_dom_set_pod(hv, dom, G_PAGES / 2, G_PAGES / 2 - 16);
			if (r < 0)
				say("FAIL dom %u: %s", dom, strerror(-r));
			else
				say("OK dom %u", dom);
		} else if (!strcmp(cmd, "xs") && n >= 2) {
			int r = xsim_xs_write(hv, s1, n >= 3 ? s2 : "");
			if (r < 0)
				say("FAIL xs %s", strerror(-r));
			else
				say("OK");
		} else if (!strcmp(cmd, "xsrm") && n >= 2) {
			int r = xsim_xs_rm(hv, s1);
			say(r ? "FAIL xsrm %s" : "OK", strerror(-r));
		} else if (!strcmp(cmd, "xswatches") && n >= 2) {
			say("OK %u", xsim_xs_watches(hv, s1));
		} else if (!strcmp(cmd, "xswait") && n >= 3) {
			int r = xsim_xs_wait(hv, s1, s2, 20000);
			say(r ? "FAIL %s is not %s" : "OK %s is %s", s1, s2);
		} else if (!strcmp(cmd, "probe") && n >= 4 &&
			   ((!d && ndevs < G_MAX_DOMS) || (d && !d->up))) {
			bool hold;
			int r;

			if (!d)
				d = &devs[ndevs++];
			memset(d, 0, sizeof(*d));
			d->dom = dom;
			d->base = strtoull(s2, NULL, 0);
			d->irq = (unsigned int)strtoul(s3, NULL, 0);
			d->grants = n >= 5 && !strcmp(s4, "grants");
			hold = n >= 5 && !strcmp(s4, "hold");
			for (unsigned int i = 0; i < nirq_modes; i++)
				if (irq_modes[i].dom == dom)
					d->irq_mode = irq_modes[i].mode;
			pthread_mutex_init(&d->lock, NULL);
			r = probe_start(d);
			if (!r && !hold)
				r = probe_finish(d);
			if (r < 0)
				say("FAIL probe dom %u: %s", dom, strerror(-r));
			else
				say("OK cid %" PRIu64, d->cid);
		} else if (!strcmp(cmd, "driverok") && d && !d->up) {
			int r = probe_finish(d);

			say(r < 0 ? "FAIL driverok dom %u: %s" : "OK driverok dom %u", dom,
			    strerror(-r));
		} else if (!strcmp(cmd, "listen") && d && n >= 3) {
			pthread_mutex_lock(&d->lock);
			d->listen_port = (uint32_t)strtoul(s2, NULL, 0);
			pthread_mutex_unlock(&d->lock);
			say("OK");
		} else if (!strcmp(cmd, "client") && d && d->up && n >= 6) {
			cmd_client(d, (uint32_t)strtoul(s2, NULL, 0), s3, xfer_parse_size(s4),
				   strtoull(s5, NULL, 0), n >= 7 ? (unsigned int)strtoul(s6, NULL, 0) : 1);
		} else if (!strcmp(cmd, "destroy") && n >= 2) {
			bool quiet = n >= 3 && !strcmp(s2, "quiet");
			uint32_t dom2 = (uint32_t)strtoul(s2, NULL, 0);
			struct gdev *d2 = n >= 3 && !quiet ? dev_of(dom2) : NULL;
			int r = n >= 3 && !quiet ? xsim_dom_destroy(hv, dom2, true) : 0;

			if (!r)
				r = xsim_dom_destroy(hv, dom, quiet);
			for (int k = 0; k < 2; k++) {
				struct gdev *dd = k ? d2 : d;

				if (dd && dd->up) {
					__atomic_store_n(&dd->stop, true, __ATOMIC_RELEASE);
					pthread_join(dd->thr, NULL);
					dd->up = false;
				}
			}
			say(r ? "FAIL destroy %u: %s" : "OK destroyed %u", dom, strerror(-r));
		} else if ((!strcmp(cmd, "reset") || !strcmp(cmd, "usedidx")) && d && n >= 2) {
			if (!strcmp(cmd, "reset") && d->up) {
				__atomic_store_n(&d->stop, true, __ATOMIC_RELEASE);
				pthread_join(d->thr, NULL);
				d->up = false;
				wr32(d, VIRTIO_MMIO_STATUS, 0);
			}
			say("OK used %u %u %u", vk_read_le16(&d->vq[0].used->idx),
			    vk_read_le16(&d->vq[1].used->idx), vk_read_le16(&d->vq[2].used->idx));
		} else if (!strcmp(cmd, "hostile") && n >= 3) {
			struct gdev tmp = { .dom = dom };
			int r = hostile(d ? d : &tmp, strtoull(s2, NULL, 0));
			say(r ? "FAIL hostile step %d" : "OK hostile", -r);
		} else if (!strcmp(cmd, "ioreqbench") && d && n >= 3) {
			/* the cost of one trapped access: guest -> ioreq server -> answer */
			unsigned int count = (unsigned int)strtoul(s2, NULL, 0);
			uint64_t t0 = xfer_now_ms(), v;
			unsigned int i;

			pthread_mutex_lock(&d->lock);
			for (i = 0; i < count; i++)
				if (xsim_mmio_read(hv, d->dom, d->base + VIRTIO_MMIO_MAGIC_VALUE, 4, &v) ||
				    v != VIRTIO_MMIO_MAGIC)
					break;
			pthread_mutex_unlock(&d->lock);
			if (i < count)
				say("FAIL ioreq %u of %u", i, count);
			else
				say("OK %u ioreqs, %.1f us each", count,
				    count ? 1000.0 * (double)(xfer_now_ms() - t0) / count : 0.0);
		} else if (!strcmp(cmd, "knotify") && n >= 2) {
			/* what the simulated dom0 kernel did for the guest (privcmd eventfds) */
			unsigned long kicks = 0, irqs = 0;
			int r = xsim_knotify_stats(hv, dom, &kicks, &irqs);

			if (r)
				say("FAIL knotify %u: %s", dom, strerror(-r));
			else
				say("OK kicks %lu irqs %lu", kicks, irqs);
		} else if (!strcmp(cmd, "balloon") && n >= 3) {
			/* give pages back to Xen, which then broadcasts INVALIDATE */
			ioreq_t r = { .type = IOREQ_TYPE_INVALIDATE, .count = 1 };
			int e = xsim_dom_balloon(hv, dom, strtoull(s2, NULL, 0));

			if (d)
				pthread_mutex_lock(&d->lock);
			if (!e)
				e = xsim_ioreq(hv, dom, 0, &r, 5000);
			if (d)
				pthread_mutex_unlock(&d->lock);
			say(e ? "FAIL balloon %u: %s" : "OK balloon %u", dom, strerror(-e));
		} else if ((!strcmp(cmd, "suspend") || !strcmp(cmd, "resume")) && n >= 2) {
			int r = xsim_dom_suspend(hv, dom, !strcmp(cmd, "suspend"));

			say(r ? "FAIL %s %u: %s" : "OK %s %u", cmd, dom, strerror(-r));
		} else if (!strcmp(cmd, "podstat") && n >= 2) {
			uint64_t populated = 0;
			bool crashed = false;
			int r = xsim_dom_pod_stat(hv, dom, &populated, &crashed);

			if (r)
				say("FAIL podstat %u: %s", dom, strerror(-r));
			else
				say("OK populated %" PRIu64 " crashed %d", populated, crashed);
		} else if (!strcmp(cmd, "fmaptotal")) {
			/* foreign pages ever mapped, by anyone: a count of the RAM shows here */
			say("OK %ld", xsim_fmap_total(hv));
		} else if (!strcmp(cmd, "grantmaps") && n >= 2) {
			say("OK %u", xsim_grant_total_maps(hv, dom));
		} else if (!strcmp(cmd, "irqmode") && n >= 3 && !d && nirq_modes < G_MAX_DOMS) {
			enum g_irq_mode m = !strcmp(s2, "edge") ? G_IRQ_EDGE :
					    !strcmp(s2, "fasteoi") ? G_IRQ_FASTEOI : G_IRQ_LINE;
			int r = xsim_irq_set_mode(hv, dom, m == G_IRQ_LINE ? XSIM_IRQ_LINE : XSIM_IRQ_PIRQ);

			if (r == 0 && (m != G_IRQ_LINE || !strcmp(s2, "line"))) {
				irq_modes[nirq_modes].dom = dom;
				irq_modes[nirq_modes++].mode = m;
				say("OK irqmode %u %s", dom, s2);
			} else {
				say("FAIL irqmode %u %s", dom, s2);
			}
		} else if (!strcmp(cmd, "race") && d && d->up && n >= 3) {
			__atomic_store_n(&d->race, atoi(s2), __ATOMIC_RELAXED);
			say("OK race %d", atoi(s2));
		} else if (!strcmp(cmd, "irqstat") && n >= 2) {
			unsigned long sent = 0, merged = 0;
			int r = xsim_irq_stats(hv, dom, &sent, &merged);

			if (r)
				say("FAIL irqstat %u: %s", dom, strerror(-r));
			else
				say("OK sent %lu merged %lu races %lu handled %lu", sent, merged,
				    d ? __atomic_load_n(&d->races, __ATOMIC_RELAXED) : 0,
				    d ? __atomic_load_n(&d->handled, __ATOMIC_RELAXED) : 0);
		} else if (!strcmp(cmd, "timeout") && n >= 2) {
			xfer_timeout_ms = atoi(s1);
			say("OK timeout %d", xfer_timeout_ms);
		} else if (!strcmp(cmd, "releasedomain")) {
			xsim_release_domain_event(hv);
			say("OK");
		} else if (!strcmp(cmd, "xsread") && n >= 2) {
			char *v = xsim_xs_read(hv, s1);

			say(v ? "OK %s" : "FAIL no %s", v ? v : s1);
			free(v);
		} else if (!strcmp(cmd, "hang") && n >= 2 && hang_fd < 0) {
			struct sockaddr_un sa = { .sun_family = AF_UNIX };
			int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s1);
			unlink(s1);
			if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
			    listen(fd, 0) < 0) {
				say("FAIL hang %s: %s", s1, strerror(errno));
				if (fd >= 0)
					close(fd);
			} else {
				hang_fd = fd;
				say("OK hang %s", s1);
			}
		} else if (!strcmp(cmd, "unhang") && hang_fd >= 0) {
			close(hang_fd);
			hang_fd = -1;
			say("OK unhang");
		} else if (!strcmp(cmd, "fail") && n >= 2) {
			cmd_fail(n - 1, s1, s2, s3, s4, s5);
		} else if (!strcmp(cmd, "failed") && n >= 2) {
			unsigned long hits = 0;
			unsigned int left = 0;
			int r = xsim_fail_stat(hv, s1, n >= 3 ? s2 : "any", &hits, &left);

			if (r && r != -ENOENT)
				say("FAIL failed %s: %s", s1, strerror(-r));
			else
				say("OK hits %lu left %u", hits, left);
		} else if (!strcmp(cmd, "fmappages")) {
			say("OK %ld", xsim_fmap_pages(hv));
		} else if (!strcmp(cmd, "domstat") && n >= 2) {
			unsigned int servers, bound;
			int r = xsim_dom_stat(hv, dom, &servers, &bound);

			if (r)
				say("FAIL domstat %u: %s", dom, strerror(-r));
			else
				say("OK servers %u ports %u", servers, bound);
		} else if (!strcmp(cmd, "irqlevel") && n >= 3) {
			say("OK level %d", xsim_irq_level(hv, dom, XSIM_IRQ_ISA,
							   (unsigned int)strtoul(s2, NULL, 0)));
		} else {
			say("FAIL bad command: %s", cmd);
		}
	}
	for (unsigned int i = 0; i < ndevs; i++)
		if (devs[i].up) {
			__atomic_store_n(&devs[i].stop, true, __ATOMIC_RELEASE);
			pthread_join(devs[i].thr, NULL);
		}
	xsim_hv_stop(hv);
	return 0;
}
