/* SPDX-License-Identifier: MIT */
/*
 * vsock_core.h - virtio-vsock protocol core: connections, state machine,
 * credit flow control
 *
 * The core is the "host" end (CID 2) of every stream a guest opens to the
 * host, and the end of every stream the host opens to the guest.  In
 * forward mode (--forward-cid) the caller also passes it the guest's
 * packets to other CIDs: the core is then the end of those streams too,
 * answering from the CID the guest addressed (vsock_conn.cid), as
 * vhost-device-vsock does.  It knows
 * nothing about virtqueues, vhost-user or sockets:
 *  - guest packets come in through vsock_core_tx() (header + payload iovecs),
 *  - packets for the guest go out through vsock_core_rx(), which fills one
 *    RX buffer (writable iovecs) at a time, round-robin over connections,
 *    or vsock_core_rx_burst(), which fills several with one host read,
 *  - the host side of each connection is reached through struct
 *    vsock_host_ops (connect/send/recv/shutdown/close and the readiness
 *    events the core wants), implemented over Unix or AF_VSOCK sockets by
 *    vsock_host.c and by a fake in the unit tests.
 * Single-threaded: the caller serialises every call on one core.
 *
 * Flow control (virtio 1.2, 5.10.6.3):
 *  - guest -> host: we advertise buf_alloc = tx-buffer-size and fwd_cnt =
 *    bytes written to the host socket.  Bytes the host socket does not take
 *    at once are buffered in a per-connection buffer that grows on demand
 *    up to buf_alloc (freed again when drained).  A slow host reader thus
 *    stops the guest by credit, never by dropping data.  A guest that sends
 *    more than its credit gets an RST.  CREDIT_UPDATE is sent when the
 *    credit the guest knows about fell below half of buf_alloc and we have
 *    freed at least a quarter of it (or all of it) since the last update,
 *    and on CREDIT_REQUEST; every packet to the guest carries fwd_cnt too.
 *  - host -> guest: we read from the host socket at most the guest's free
 *    credit (peer buf_alloc - (rx_cnt - peer fwd_cnt)); with no credit the
 *    host socket is not polled until a packet from the guest brings more.
 */
#ifndef VK_VSOCK_CORE_H
#define VK_VSOCK_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vsock/vsock_pkt.h"

/* Readiness the core wants on a host connection (vsock_host_ops.set_events). */
#define VSOCK_EV_IN  0x1u
#define VSOCK_EV_OUT 0x2u
/* Extra bits for vsock_core_host_event(). */
#define VSOCK_EV_HUP 0x4u
#define VSOCK_EV_ERR 0x8u
/*
 * The peer shut its sending side (EPOLLRDHUP).  A host layer reports it on
 * every event once it happened; the core then reads stream sockets until
 * EOF instead of taking a short read as "drained".
 */
#define VSOCK_EV_RDHUP 0x10u

#define VSOCK_DEFAULT_MAX_CONNS 65536u
#define VSOCK_CTL_RING 64u

enum vsock_conn_state {
	VSOCK_CS_CONNECTING = 1,  /* guest REQUEST, host connect in progress */
	VSOCK_CS_REQ_SENT,        /* host initiated, waiting for the guest's RESPONSE */
	VSOCK_CS_ESTABLISHED,
	VSOCK_CS_CLOSING,         /* host side closed, RST queued for the guest */
};

/* Control packets waiting to be sent on a connection. */
#define VSOCK_P_RST            0x01u
#define VSOCK_P_REQUEST        0x02u
#define VSOCK_P_RESPONSE       0x04u
#define VSOCK_P_SHUTDOWN       0x08u
#define VSOCK_P_CREDIT_UPDATE  0x10u
#define VSOCK_P_CREDIT_REQUEST 0x20u

/* Connection flags */
#define VSOCK_F_ON_RX       0x001u  /* on the core's RX list */
#define VSOCK_F_H_READABLE  0x002u  /* host socket reported readable, not drained */
#define VSOCK_F_H_EOF       0x004u  /* host sent EOF (SHUTDOWN(SEND) queued/sent) */
#define VSOCK_F_G_SHUT_RCV  0x008u  /* guest will not receive any more */
#define VSOCK_F_G_SHUT_SEND 0x010u  /* guest will not send any more */
#define VSOCK_F_H_SHUT_WR   0x020u  /* shutdown(SHUT_WR) done on the host side */
#define VSOCK_F_HYBRID      0x040u  /* hybrid vsock: reply "OK <port>\n" on RESPONSE */
#define VSOCK_F_H_CLOSED    0x080u  /* host side released (ops->close called) */
#define VSOCK_F_SEQ_OPEN    0x100u  /* seqpacket: a guest message is being assembled */
#define VSOCK_F_H_RDHUP     0x200u  /* host peer shut down its sending side (EOF pending) */
#define VSOCK_F_RX_MORE     0x400u  /* last stream read filled all it was offered: offer several RX buffers */

/* Guest -> host bytes not yet written to the host socket. */
struct vsock_buf {
	uint8_t *p;
	uint32_t head;   /* first byte */
	uint32_t len;    /* bytes held */
	uint32_t cap;    /* allocated */
};

struct vsock_conn {
	struct vsock_conn *hnext;            /* hash chain */
	struct vsock_conn *rx_prev, *rx_next; /* RX list */
	uint32_t lport;                      /* our (host) port */
	uint32_t pport;                      /* guest port */
	/*
	 * The CID the guest sees at our end: 2, or in forward mode whatever
	 * CID it connected to (the forward CID stands in for all of them).
	 */
	uint64_t cid;
	uint16_t type;                       /* VIRTIO_VSOCK_TYPE_* */
	uint8_t state;                       /* enum vsock_conn_state */
	uint8_t pend;                        /* VSOCK_P_* */
	uint16_t flags;                      /* VSOCK_F_* */
	uint8_t events;                      /* VSOCK_EV_* last passed to set_events */
	uint8_t nocredit;                    /* bytes at txbuf front not from the guest ("OK n\n") */
	/* guest's receive window (host -> guest) */
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
	uint32_t rx_cnt;                     /* bytes sent to the guest */
	/* our receive window (guest -> host) */
	uint32_t tx_cnt;                     /* bytes taken from the guest */
	uint32_t fwd_cnt;                    /* bytes written to the host socket */
	uint32_t last_fwd_cnt;               /* fwd_cnt last told to the guest */
	struct vsock_buf txbuf;
	/* seqpacket: record lengths are kept inside txbuf (see vsock_core.c) */
	uint32_t seq_len;                    /* bytes of the open guest message */
	uint32_t req_deadline;               /* REQ_SENT: give up at this (32-bit) ms */
	/* seqpacket host -> guest: a message too big for one RX buffer */
	uint8_t *rxstage;
	uint32_t rxstage_len, rxstage_off;
	/* host side, owned by the transport */
	int fd;
	uint32_t hs_data;                    /* transport's spare word */
	void *priv;
};

struct vsock_core;

struct vsock_host_ops {
	/*
	 * Guest connects to host port c->lport (type c->type): open the host
	 * side.  0 connected, -EINPROGRESS (call vsock_core_host_connected
	 * later), any other negative errno refuses (the guest gets an RST).
	 */
	int (*connect)(void *opaque, struct vsock_conn *c);
	/*
	 * Write to the host side.  Returns bytes written (stream may be short),
	 * -EAGAIN, or another -errno (connection reset).  For SEQPACKET one call
	 * is one whole message.
	 */
	ssize_t (*send)(void *opaque, struct vsock_conn *c, const struct iovec *iov, unsigned int n);
	/*
	 * Read from the host side: bytes read, 0 on EOF, -EAGAIN, -errno.
	 * SEQPACKET: one message; when it does not fit, return -EMSGSIZE and
	 * set *msglen to its size (the core then calls again with a buffer that
	 * fits).  *msglen may be NULL for streams.
	 */
	ssize_t (*recv)(void *opaque, struct vsock_conn *c, const struct iovec *iov, unsigned int n,
			size_t *msglen);
	int (*shutdown_wr)(void *opaque, struct vsock_conn *c);
	/* Readiness wanted from now on (0: none; stop polling the fd). */
	void (*set_events)(void *opaque, struct vsock_conn *c, uint32_t events);
	/* Release the host side (close the fd).  Called once per connection. */
	void (*close)(void *opaque, struct vsock_conn *c);
};

struct vsock_core_cfg {
	uint64_t guest_cid;
	uint32_t buf_alloc;      /* tx-buffer-size */
	uint32_t max_conns;      /* 0: VSOCK_DEFAULT_MAX_CONNS */
	bool seqpacket;          /* accept SEQPACKET (feature negotiated) */
	uint32_t connect_timeout_ms;  /* host-side connect the guest leaves unanswered this
				       * long: RST, host socket closed; 0: VSOCK_CONNECT_TIMEOUT_MS */
};

/* As Linux's AF_VSOCK connect() (and Firecracker's hybrid vsock) give up. */
#define VSOCK_CONNECT_TIMEOUT_MS 2000u

struct vsock_core_stats {
	unsigned long conns;            /* live connections */
	unsigned long rst_sent;
	unsigned long credit_updates;
	unsigned long overruns;         /* guests RST for exceeding credit */
	unsigned long bad_pkts;
	unsigned long rx_pkts, tx_pkts;
	uint64_t rx_bytes, tx_bytes;
	size_t buffered;                /* bytes held in txbufs */
	unsigned long connect_timeouts; /* host connects the guest never answered */
};

struct vsock_core *vsock_core_new(const struct vsock_core_cfg *cfg, const struct vsock_host_ops *ops,
				  void *opaque);
/* Closes every host connection (ops->close), then frees. */
void vsock_core_free(struct vsock_core *core);
/* Guest gone (VMM disconnected / device reset): close and forget everything. */
void vsock_core_reset(struct vsock_core *core);
void vsock_core_set_seqpacket(struct vsock_core *core, bool on);
uint64_t vsock_core_guest_cid(const struct vsock_core *core);

/*
 * A packet from the guest addressed to the host (or, in forward mode, to
 * any CID: replies come from the CID addressed; a connection is that CID
 * and the two ports, a packet on the same ports to another CID gets an
 * RST).  Returns 0 when consumed
 * (also when it was bad: it is answered or dropped), -EAGAIN when the core
 * cannot take it now because its reply ring is full (retry after draining
 * RX).
 */
int vsock_core_tx(struct vsock_core *core, const struct vsock_pkt *p);

/*
 * Answer a guest packet that the caller could not deliver (e.g. to an
 * unknown CID) with an RST.  0, or -EAGAIN when the reply ring is full.
 */
int vsock_core_reply_rst(struct vsock_core *core, const struct vsock_hdr *in);

/*
 * Host-side connects (vsock_core_host_connect) whose REQUEST the guest has
 * not answered yet.  The transport calls vsock_core_expire() every few
 * hundred ms while this is non-zero: connects older than the timeout are
 * reset (RST to the guest, ops->close on the host socket).  Returns what
 * is still pending.
 */
unsigned int vsock_core_pending_connects(const struct vsock_core *core);
unsigned int vsock_core_expire(struct vsock_core *core);

/* True if vsock_core_rx() may produce a packet. */
bool vsock_core_rx_pending(const struct vsock_core *core);
/*
 * Fill one RX buffer (writable iovecs) with the next packet for the guest.
 * Returns bytes written, 0 when there is nothing to send, -EINVAL when the
 * buffer cannot hold a header.
 */
int vsock_core_rx(struct vsock_core *core, const struct iovec *iov, unsigned int n);

/* One guest RX buffer for vsock_core_rx_burst(). */
struct vsock_rx_buf {
	const struct iovec *iov;   /* writable */
	unsigned int n;
};

/*
 * Payload bytes the next vsock_core_rx_burst() call could use: 0 when its
 * turn is a single packet (control packet, seqpacket message, a stream
 * whose last read emptied the socket), else the guest's free credit on a
 * stream whose last read filled everything it was given.  The caller
 * offers RX buffers up to about this much.
 */
size_t vsock_core_rx_want(const struct vsock_core *core);
/*
 * Fill RX buffers @bufs[0 .. @nbufs) in order with the next packets for
 * the guest, one turn of the round-robin: a control packet, or the data a
 * stream connection has, read with a single host recv spread over the
 * payload areas of several buffers (each becomes one RW packet, as a
 * guest with small RX buffers, like Linux's 4 KiB ones, needs).  Sets
 * @lens[i] to the bytes written into buffer i and returns how many buffers
 * were used (the rest are untouched); 0 when there is nothing to send,
 * -EINVAL when @bufs[0] cannot hold a header.
 */
int vsock_core_rx_burst(struct vsock_core *core, const struct vsock_rx_buf *bufs, unsigned int nbufs,
			uint32_t *lens);

/* Host side became ready (VSOCK_EV_*). */
void vsock_core_host_event(struct vsock_core *core, struct vsock_conn *c, uint32_t events);
/* Completion of a connect that returned -EINPROGRESS: 0 or -errno. */
void vsock_core_host_connected(struct vsock_core *core, struct vsock_conn *c, int err);
/*
 * A host program connects to guest port @guest_port.  @lport 0 allocates
 * a free local port.  @flags: VSOCK_F_HYBRID.  The caller sets c->fd /
 * c->priv after.  Returns 0 or -errno (-ENOSPC: too many connections,
 * -EEXIST: that port pair is in use).
 */
int vsock_core_host_connect(struct vsock_core *core, uint32_t guest_port, uint32_t lport,
			    uint16_t type, unsigned int flags, struct vsock_conn **out);
/* Abort a host connection from the host side (RST to the guest). */
void vsock_core_host_abort(struct vsock_core *core, struct vsock_conn *c);

struct vsock_conn *vsock_core_lookup(const struct vsock_core *core, uint32_t lport, uint32_t pport);
void vsock_core_get_stats(const struct vsock_core *core, struct vsock_core_stats *st);

#endif
