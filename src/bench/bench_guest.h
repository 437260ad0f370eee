/* SPDX-License-Identifier: MIT */
/*
 * bench_guest.h - a guest's virtio-vsock stream stack, driven from user
 * space: the VMM part (a vhost front-end, memfd guest RAM, rings) and the
 * driver part (RX buffers, TX packets, connections with credit).  The
 * device is a vhost-user back-end (vsock-bench, the daemon's tests) or the
 * kernel's /dev/vhost-vsock (tests/unit/vhost_kernel_dev).
 *
 * Single-threaded: everything runs from bg_poll() on the caller's thread.
 */
#ifndef VK_BENCH_GUEST_H
#define VK_BENCH_GUEST_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "vhost-user/vhost_fe.h"
#include "vhost-user/vu_frontend.h"
#include "virtqueue/virtqueue.h"
#include "vsock/vsock_hdr.h"

struct bg;
struct bg_conn;

enum bg_state {
	BG_FREE = 0,
	BG_CONNECTING,     /* REQUEST sent */
	BG_ESTABLISHED,
	BG_CLOSING,        /* we sent SHUTDOWN both / waiting for RST */
	BG_CLOSED,
};

struct bg_conn {
	enum bg_state state;
	uint32_t lport, pport;
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
	uint32_t tx_cnt;           /* bytes we sent */
	uint32_t fwd_cnt;          /* bytes we consumed */
	uint32_t fwd_sent;         /* fwd_cnt last told to the peer */
	bool peer_shut_send;       /* peer will send no more */
	bool peer_shut_rcv;
	bool reset;                /* RST seen */
	bool want_credit_update;
	uint64_t rx_bytes, tx_bytes;
	uint64_t verify_off;       /* next expected pattern offset (verification) */
	bool verify_failed;
	void *user;
	struct bg_conn *hnext;     /* hash chain */
	unsigned int slot;
};

struct bg_ops {
	/* A connection to a listening port came in and was accepted. */
	void (*accepted)(void *opaque, struct bg *g, struct bg_conn *c);
	/* Our REQUEST got its RESPONSE (or RST: c->reset). */
	void (*connected)(void *opaque, struct bg *g, struct bg_conn *c);
	/* Payload arrived (already counted in c->rx_bytes and credited). */
	void (*data)(void *opaque, struct bg *g, struct bg_conn *c, const uint8_t *p, uint32_t len);
	/* Peer shut down its send side, or reset. */
	void (*peer_closed)(void *opaque, struct bg *g, struct bg_conn *c);
	/* TX space may be available again (credit update or TX buffers freed). */
	void (*writable)(void *opaque, struct bg *g);
};

/*
 * RX buffer size when none is given: a 4 KiB payload behind the header, as
 * Linux's virtio-vsock driver posts them (VIRTIO_VSOCK_DEFAULT_RX_BUF_SIZE
 * plus the header, one descriptor each), so a back-end handles the same
 * packets it gets from a Linux guest and the guest's 256 buffers span
 * 1 MiB, not the 16 MiB 64 KiB buffers would.
 */
#define BG_RX_BUF_DEFAULT (4096u + VSOCK_HDR_SIZE)

struct bg_params {
	const char *socket;        /* vhost-user socket of the back-end */
	const char *vhost_dev;     /* or a /dev/vhost-vsock to drive (then guest_cid is needed) */
	uint64_t guest_cid;        /* 0: read from config space (vhost-user) */
	unsigned int queue_size;   /* 256 */
	uint32_t credit;           /* our buf_alloc, 256 KiB */
	uint32_t rx_buf;           /* bytes per RX buffer including the header (0: BG_RX_BUF_DEFAULT) */
	uint32_t tx_pkt;           /* most payload per TX packet (65536) */
	bool event_idx;            /* negotiate VIRTIO_RING_F_EVENT_IDX if offered */
	bool tx_split;             /* header and payload in separate descriptors */
	bool zerocopy;             /* pattern sends: payload descriptor points at a copy of the
				    * pattern in guest RAM (as a guest kernel's MSG_ZEROCOPY
				    * send points at user pages) instead of a copy per packet */
	unsigned int max_conns;    /* connection slots (10000 + a few) */
	unsigned int connect_attempts;
	bool verify;               /* check the pattern of received data */
};

int bg_new(struct bg **out, const struct bg_params *p, const struct bg_ops *ops, void *opaque);
void bg_free(struct bg *g);
uint64_t bg_cid(const struct bg *g);
int bg_vhost_fd(const struct bg *g);   /* the vhost-user socket (for SO_PEERCRED); -1 on the kernel's */
/* fds to poll for work (call eventfds); returns count (<= 4). */
unsigned int bg_poll_fds(const struct bg *g, int *fds);

/*
 * Listen on @port (accepted connections appear through ops->accepted):
 * 0, or -ENOSPC when 16 ports are already listening.  bg_unlisten() stops:
 * later REQUESTs to the port get an RST.
 */
int bg_listen(struct bg *g, uint32_t port);
void bg_unlisten(struct bg *g, uint32_t port);
/* Connect to the host (CID 2) @port; NULL if out of slots. */
struct bg_conn *bg_connect(struct bg *g, uint32_t port);
/*
 * Queue up to @len bytes (as many packets as credit and TX buffers allow);
 * returns the bytes taken.  @pattern: fill with the verification pattern
 * from c->tx_bytes instead of copying @buf.
 */
size_t bg_send(struct bg *g, struct bg_conn *c, const void *buf, size_t len, bool pattern);
/* Bytes we may send now (credit). */
uint32_t bg_credit(const struct bg_conn *c);
/* SHUTDOWN (flags VIRTIO_VSOCK_SHUTDOWN_*). */
int bg_shutdown(struct bg *g, struct bg_conn *c, uint32_t flags);
/* RST and free the slot. */
int bg_reset(struct bg *g, struct bg_conn *c);
void bg_release(struct bg *g, struct bg_conn *c);
/* Make queued packets visible and kick if the device wants it. */
void bg_flush(struct bg *g);
/*
 * Process completions (RX packets, TX buffers).  @timeout_ms: wait for a
 * notification when there was nothing to do (0 no wait, -1 for ever).
 * Returns packets processed or -errno (the device broke the rules).
 */
int bg_poll(struct bg *g, int timeout_ms);
/*
 * A bg_poll wait also ends when one of @fds (up to BG_WAIT_MAX) has its
 * events: the host programs that share the guest's thread (n 0: none).
 */
#define BG_WAIT_MAX 2
void bg_set_wait(struct bg *g, const struct pollfd *fds, unsigned int n);
/*
 * Wait up to @timeout_ms for a notification on any of @n guests, or for
 * the events of their bg_set_wait fds (then call bg_poll(g, 0) on each).
 */
int bg_wait_multi(struct bg **gs, unsigned int n, int timeout_ms);
/* Connections in use. */
unsigned int bg_nconns(const struct bg *g);
/*
 * bg_poll waits that ended without a notification: while data flows, each
 * one is a wake-up lost by the device or by the guest's own suppression.
 */
unsigned long bg_stalls(const struct bg *g);

/*
 * Verification pattern: byte @off of every stream is bg_pattern_at(off)[0];
 * a run of up to BG_PATTERN_RUN bytes is contiguous there (memcpy/memcmp).
 */
#define BG_PATTERN_PERIOD 65521u
#define BG_PATTERN_RUN    (128u * 1024u)
const uint8_t *bg_pattern_at(uint64_t off);

#endif
