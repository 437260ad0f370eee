/* SPDX-License-Identifier: MIT */
/*
 * vsock_dev.h - the vhost-user vsock device: one vd_dev (daemon.h) per VM,
 * the protocol core and host side of each VM, and the sibling routing
 * between the VMs of one process
 *
 * Queues: RX (0), TX (1) and EVENT (2) all on worker 0 of the VM's vd_dev.
 * QEMU's vhost-user-vsock keeps the event queue itself and starts only two
 * rings; other front-ends start three, and when such a front-end comes
 * back after a disconnect the device posts VIRTIO_VSOCK_EVENT_TRANSPORT_RESET
 * so that the guest drops the connections of the previous session.
 *
 * Sibling VMs: a guest packet to the CID of another VM of this process is
 * copied into that VM's inbound queue when both share a group.  A VM in
 * forward mode (--forward-cid) has no siblings, as in vhost-device-vsock:
 * its guest's packets to any CID go to the protocol core and so to the
 * forward CID, and packets for it from other VMs get an RST (its guest's
 * answers would go to the forward CID, never back to them).  The queue
 * is bounded (packets and bytes; a packet larger than the byte bound gets
 * an RST, like one to an unknown CID); when it is full the sender stops taking
 * TX descriptors and registers as a waiter, and the receiving worker wakes
 * it (vd_dev_wake) once it has drained the queue below half.  A sibling
 * that takes nothing for VSOCK_SIB_STALL_MS while its queue is full gets
 * no more waiting: packets for it are answered with an RST until it takes
 * some again.  A packet whose copy finds no memory goes back to the
 * sender's ring too and is tried again every few milliseconds; memory short
 * for VSOCK_SIB_STALL_MS, and it gets an RST.  The two guests run their own
 * credit flow control through these packets.
 */
#ifndef VK_VSOCK_DEV_H
#define VK_VSOCK_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsock/vsock_config.h"

#define VSOCK_SIB_QLEN   256u
#define VSOCK_SIB_QBYTES (1u << 20)
/*
 * How long a sender waits for a sibling whose queue is full and that takes
 * nothing from it (a guest that posts no RX buffers, a paused VM).  Then
 * the packets for it get an RST, so the sender's other traffic (its host
 * connections, other siblings) goes on: one guest cannot stop another.
 */
#define VSOCK_SIB_STALL_MS 5000u

struct vsock_daemon;

struct vsock_daemon_cfg {
	const struct vsock_opts *opts;
	const int *listen_fds;     /* per VM: an already listening vhost-user socket or -1; NULL: none */
	unsigned int hs_timeout_ms; /* 0: default */
	unsigned int connect_timeout_ms; /* guest answer to a host connect; 0: VSOCK_CONNECT_TIMEOUT_MS */
	unsigned int sib_stall_ms;  /* a sibling's full queue is waited for this long; 0: VSOCK_SIB_STALL_MS */
};

struct vsock_vm_stats {
	unsigned long sessions;
	unsigned long tx_pkts, rx_pkts;
	unsigned long sib_sent, sib_blocked;
	unsigned long sib_refused;   /* packets reset: the sibling took nothing for sib_stall_ms */
	unsigned long bad_pkts;
	unsigned long conns;
};

/* Build every VM (binds the uds-path listeners).  NULL and @err on failure. */
struct vsock_daemon *vsock_daemon_new(const struct vsock_daemon_cfg *cfg, char *err, size_t errlen);
/* Listen on the vhost-user sockets and start the threads.  0 or -errno. */
int vsock_daemon_start(struct vsock_daemon *d, char *err, size_t errlen);
/* Stop every VM (joins threads, removes the sockets created). */
void vsock_daemon_stop(struct vsock_daemon *d);
void vsock_daemon_free(struct vsock_daemon *d);
unsigned int vsock_daemon_nvms(const struct vsock_daemon *d);
struct vd_dev *vsock_daemon_vd(struct vsock_daemon *d, unsigned int vm);
void vsock_daemon_vm_stats(struct vsock_daemon *d, unsigned int vm, struct vsock_vm_stats *st);

#endif
