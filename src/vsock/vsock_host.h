/* SPDX-License-Identifier: MIT */
/*
 * vsock_host.h - the host side of the vsock device: Unix sockets
 * (Firecracker-style hybrid vsock) or the host kernel's AF_VSOCK (forward
 * mode), implementing struct vsock_host_ops for the protocol core
 *
 * Addressing (Unix backend, uds-path U):
 *
 *   host -> guest, stream     connect to U (SOCK_STREAM), write
 *                             "CONNECT <port>\n", read "OK <port>\n"
 *                             (the guest port, as vhost-device-vsock 0.3.0
 *                             answers), then the socket is the stream.
 *   host -> guest, seqpacket  connect to U.seqpacket (SOCK_SEQPACKET), send
 *                             the message "CONNECT <port>\n", receive the
 *                             message "OK <port>\n"; then every message is
 *                             one guest SOCK_SEQPACKET message.
 *   guest -> host port P      we connect to U_P with the guest socket's
 *                             type: SOCK_STREAM for stream connections,
 *                             SOCK_SEQPACKET for seqpacket ones.  A host
 *                             program chooses by the type of its listener;
 *                             a type mismatch or no listener gets the guest
 *                             an RST at once.
 *
 * Handshakes are read without blocking: at most 32 bytes up to the newline
 * (bytes after it stay in the socket for the guest), "CONNECT" in any case
 * followed by a decimal port.  A client that sends a bad line, too long a
 * line, or no line within the handshake timeout is closed; none of this
 * delays other connections.
 *
 * Forward mode (--forward-cid C, --forward-listen P1+P2): guest connections
 * to host port P go to AF_VSOCK (C, P); host connections accepted on the
 * AF_VSOCK ports Pi are forwarded to guest port Pi.
 *
 * Every fd is polled through a caller-supplied epoll hook (the daemon's
 * worker epoll, or a plain epoll in tests) with the fd number and a
 * generation as the event data; a per-host fd table maps it back.  The
 * generation of a table entry changes whenever its fd gets a new owner, so
 * an event for an fd closed earlier in the same epoll batch is ignored,
 * also when the fd number went to a new connection meanwhile (an accept,
 * or a connect for the guest, in the same batch).
 */
#ifndef VK_VSOCK_HOST_H
#define VK_VSOCK_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsock/vsock_core.h"

#define VSOCK_HS_MAX_LINE 32u
#define VSOCK_HS_TIMEOUT_MS 5000u
#define VSOCK_HS_MAX_PENDING 1024u
#define VSOCK_SEQPACKET_SUFFIX ".seqpacket"

/*
 * Event data of the host side's fds is below this (the fd in the low 32
 * bits, its generation above): a caller polling fds of its own on the same
 * epoll gives them data from here up.  Fits the daemon's 56 bits.
 */
#define VSOCK_HOST_EV_END (1ull << 55)

struct vsock_host_epoll {
	/* op: EPOLL_CTL_ADD/MOD/DEL; data for vsock_host_event().  0 or -errno. */
	int (*ctl)(void *opaque, int op, int fd, uint32_t events, uint64_t data);
	void *opaque;
};

struct vsock_host_cfg {
	const char *name;            /* for log lines */
	const char *uds_path;        /* Unix backend; NULL in forward mode */
	bool forward;
	uint32_t forward_cid;
	const uint32_t *listen_ports;
	unsigned int nlisten;
	unsigned int hs_timeout_ms;  /* 0: VSOCK_HS_TIMEOUT_MS */
	unsigned int max_handshakes; /* 0: VSOCK_HS_MAX_PENDING */
};

struct vsock_host_stats {
	unsigned long accepted;
	unsigned long hs_ok;
	unsigned long hs_bad;
	unsigned long hs_timeout;
	unsigned long refused;       /* accepted while no guest was there */
	unsigned int hs_pending;
};

struct vsock_host;

extern const struct vsock_host_ops vsock_host_ops;

/* Create the listeners (bound now, polled once attached).  NULL and @err on failure. */
struct vsock_host *vsock_host_new(const struct vsock_host_cfg *cfg, const struct vsock_host_epoll *ep,
				  char *err, size_t errlen);
/* The core whose ops are vsock_host_ops with this host as opaque; starts polling. */
int vsock_host_attach(struct vsock_host *h, struct vsock_core *core);
/* Guest present (queues running): accept connections; else accepted ones are closed. */
void vsock_host_set_up(struct vsock_host *h, bool up);
/* An fd event from the epoll hook (data as given to ctl); stale ones are ignored. */
void vsock_host_event(struct vsock_host *h, uint64_t data, uint32_t events);
/* Drop pending handshakes (the core is reset separately). */
void vsock_host_reset(struct vsock_host *h);
/* Close everything, remove the socket files we created. */
void vsock_host_free(struct vsock_host *h);
void vsock_host_get_stats(const struct vsock_host *h, struct vsock_host_stats *st);

/* Parse a handshake line ("CONNECT <port>", newline removed); 0 or -EINVAL. */
int vsock_hs_parse(const char *line, size_t len, uint32_t *port);

#endif
