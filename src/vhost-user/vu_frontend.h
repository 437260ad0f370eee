/* SPDX-License-Identifier: MIT */
/*
 * vu_frontend.h - vhost-user front-end (the VMM's side of the protocol)
 *
 * A library with no event loop: every call sends its request(s) and, when
 * the protocol has a reply (or REPLY_ACK asks for one), waits for it with a
 * bounded timeout.  The caller polls the back-end channel fd and the call
 * eventfds itself.
 *
 * Everything the front-end tells the back-end is also kept (features,
 * memory table, ring layouts and bases, inflight memfd) so that after the
 * back-end restarts vu_fe_reconnect() replays the whole sequence.
 *
 * A back-end that misbehaves (a reply with the wrong request id, size,
 * flags or fds, a short read, a close, a timeout) makes the current call
 * return a negative errno and puts the connection in the broken state: the
 * socket is closed, every later call returns -ENOTCONN until a reconnect.
 * The owner can cancel a call in progress (vu_fe_set_cancel_fd): it ends
 * the same way, with -ECANCELED.
 * No fd received from the back-end outlives the call that received it
 * unless it is documented as kept (GET_INFLIGHT_FD).
 */
#ifndef VK_VU_FRONTEND_H
#define VK_VU_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "vhost-user/vu_proto.h"

/* Queues one front-end drives. */
#define VU_FE_MAX_QUEUES 64
/* Regions the front-end keeps (vhost-user's max RAM slots). */
#define VU_FE_MAX_REGIONS 509
/* Default reply timeout. */
#define VU_FE_DEFAULT_TIMEOUT_MS 5000u

struct vu_fe;

/*
 * One guest memory region as sent to the back-end.  @user_addr is the
 * front-end's address of @gpa (for a plain mapping the host virtual
 * address, as QEMU sends; for Xen foreign regions the gpa itself).
 * @host, if not NULL, is where the front-end itself can read the region
 * (used to find ring indices on reconnect).  @xen_flags/@xen_domid are sent
 * (as struct vu_xen_mmap) only when XEN_MMAP is negotiated.
 */
struct vu_fe_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
	int fd;               /* borrowed by vu_fe_set_mem_table (it dups) */
	uint32_t xen_flags;   /* VU_XEN_MMAP_* */
	uint32_t xen_domid;
	void *host;
};

#define VU_XEN_MMAP_FOREIGN        0x1u
#define VU_XEN_MMAP_GRANT          0x2u
#define VU_XEN_MMAP_NO_ADVANCE_MAP 0x8u

/* Back-end channel callbacks (all optional); return 0 or -errno (sent as the ack). */
struct vu_fe_ops {
	int (*config_change)(void *opaque, struct vu_fe *fe);
	/* Default without a callback: signal the ring's call eventfd. */
	int (*vring_call)(void *opaque, struct vu_fe *fe, unsigned int idx);
	int (*vring_err)(void *opaque, struct vu_fe *fe, unsigned int idx);
};

/* Create/destroy.  @ops may be NULL.  Free disconnects and closes every fd. */
VK_EXPORT struct vu_fe *vu_fe_new(const struct vu_fe_ops *ops, void *opaque);
VK_EXPORT void vu_fe_free(struct vu_fe *fe);
/* Reply timeout in ms (0: default). */
VK_EXPORT void vu_fe_set_timeout(struct vu_fe *fe, unsigned int ms);
/*
 * Timeout in ms for the first reply after a connect (0: the reply timeout,
 * the default).  A back-end that hangs still has its connections queued
 * in its listen backlog, and a reconnect attempt to it would wait the
 * whole reply timeout; one that has answered once gets the reply timeout
 * (a memory table can take it to map).
 */
VK_EXPORT void vu_fe_set_connect_timeout(struct vu_fe *fe, unsigned int ms);
/**
 * vu_fe_set_cancel_fd() - let the owner cancel the calls in progress
 * @fe: the front-end
 * @fd: a file descriptor that becomes readable to cancel (an eventfd), or
 *      -1 for none (the default)
 *
 * A call waits up to the reply timeout for a back-end that does not
 * answer; an owner that is stopping (its guest destroyed, a SIGTERM) need
 * not.  @fd is looked at before a call sends anything, polled next to the
 * socket while the call waits to send or for its reply, and between the
 * attempts of vu_fe_connect_path() and vu_fe_reconnect().  A call that
 * finds it readable returns -ECANCELED and leaves the front-end
 * disconnected, as a back-end error does (the saved state is kept for a
 * reconnect; a reply still on its way must not be read as the answer to a
 * later request), and so does every call made while it stays readable.
 * @fd stays the caller's: it is never read, written or closed here, and
 * must stay open while it is set.
 */
VK_EXPORT void vu_fe_set_cancel_fd(struct vu_fe *fe, int fd);

/*
 * Connect to a listening back-end at @path, trying up to @attempts times
 * (>= 1) @interval_ms apart (ENOENT/ECONNREFUSED are retried).  The path is
 * remembered for vu_fe_reconnect().  0 or -errno.
 */
VK_EXPORT int vu_fe_connect_path(struct vu_fe *fe, const char *path,
				 unsigned int attempts, unsigned int interval_ms);
/* Use an already connected stream socket; owned by @fe from now on (closed on error too). */
VK_EXPORT int vu_fe_connect_fd(struct vu_fe *fe, int fd);
/* Close the connection (saved state is kept for a reconnect). */
VK_EXPORT void vu_fe_disconnect(struct vu_fe *fe);
VK_EXPORT bool vu_fe_connected(const struct vu_fe *fe);
/* The vhost-user socket (-1 when not connected). */
VK_EXPORT int vu_fe_fd(const struct vu_fe *fe);

/*
 * The initialisation sequence QEMU sends: GET_FEATURES,
 * GET/SET_PROTOCOL_FEATURES (wanted ∩ offered), GET_QUEUE_NUM (MQ),
 * GET_MAX_MEM_SLOTS (CONFIGURE_MEM_SLOTS), SET_BACKEND_REQ_FD
 * (BACKEND_REQ), SET_OWNER, then SET_FEATURES with @features ∩ offered
 * (plus PROTOCOL_FEATURES when offered).  @num_queues: queues to be used
 * (must not exceed the back-end's GET_QUEUE_NUM when MQ).  0 or -errno.
 */
VK_EXPORT int vu_fe_negotiate(struct vu_fe *fe, uint64_t features,
			      uint64_t protocol_features, unsigned int num_queues);
/* SET_FEATURES again (e.g. to toggle LOG_ALL); @features ∩ offered. */
VK_EXPORT int vu_fe_set_features(struct vu_fe *fe, uint64_t features);
/* Results of the negotiation. */
VK_EXPORT uint64_t vu_fe_backend_features(const struct vu_fe *fe);
VK_EXPORT uint64_t vu_fe_features(const struct vu_fe *fe);
VK_EXPORT uint64_t vu_fe_backend_protocol_features(const struct vu_fe *fe);
VK_EXPORT uint64_t vu_fe_protocol_features(const struct vu_fe *fe);
VK_EXPORT bool vu_fe_has_protocol_feature(const struct vu_fe *fe, unsigned int bit);
/* GET_QUEUE_NUM answer (0 without MQ), GET_MAX_MEM_SLOTS answer (0 without CONFIGURE_MEM_SLOTS). */
VK_EXPORT unsigned int vu_fe_backend_queue_num(const struct vu_fe *fe);
VK_EXPORT unsigned int vu_fe_max_mem_slots(const struct vu_fe *fe);

/*
 * Guest memory.  The table is copied (fds dup'ed) and kept.  With
 * CONFIGURE_MEM_SLOTS negotiated, the difference to the table last sent
 * goes as REM_MEM_REG/ADD_MEM_REG; otherwise one SET_MEM_TABLE (at most
 * VU_MEM_TABLE_REGIONS regions).  0 or -errno (-E2BIG too many regions,
 * -EINVAL overlapping or empty regions, -EBADF a bad fd).
 */
VK_EXPORT int vu_fe_set_mem_table(struct vu_fe *fe, const struct vu_fe_region *r, unsigned int n);
/* Front-end address (user_addr) of [gpa, gpa+len) from the current table, or 0 (-EFAULT). */
VK_EXPORT int vu_fe_gpa_to_uaddr(const struct vu_fe *fe, uint64_t gpa, uint64_t len, uint64_t *uaddr);

/* --------------------------------------------------------- guest RAM helper */
#define VU_FE_GUEST_MEM_MAX 8

struct vu_fe_guest_region {
	int fd;           /* memfd, -1 when unused */
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;    /* our mapping; also the user_addr sent */
};

struct vu_fe_guest_mem {
	unsigned int n;
	struct vu_fe_guest_region r[VU_FE_GUEST_MEM_MAX];
};

VK_EXPORT void vu_fe_guest_mem_init(struct vu_fe_guest_mem *gm);
/* memfd_create + ftruncate + mmap(MAP_SHARED) of @size bytes at @gpa (page-aligned). 0 or -errno. */
VK_EXPORT int vu_fe_guest_mem_add(struct vu_fe_guest_mem *gm, uint64_t gpa, uint64_t size);
VK_EXPORT void vu_fe_guest_mem_free(struct vu_fe_guest_mem *gm);
/* Host pointer for [gpa, gpa+len) inside one region, or NULL. */
VK_EXPORT void *vu_fe_guest_mem_host(const struct vu_fe_guest_mem *gm, uint64_t gpa, uint64_t len);
/* gpa of a host pointer, or UINT64_MAX. */
VK_EXPORT uint64_t vu_fe_guest_mem_gpa(const struct vu_fe_guest_mem *gm, const void *p);
/* Fill @out (room for @max) with the region list to send; returns the count. */
VK_EXPORT unsigned int vu_fe_guest_mem_regions(const struct vu_fe_guest_mem *gm,
					       struct vu_fe_region *out, unsigned int max);
/* vu_fe_guest_mem_regions + vu_fe_set_mem_table. */
VK_EXPORT int vu_fe_set_guest_mem(struct vu_fe *fe, const struct vu_fe_guest_mem *gm);

/* -------------------------------------------------------------------- rings */
/*
 * Set up and start ring @idx: SET_VRING_NUM, SET_VRING_BASE (@base),
 * SET_VRING_ADDR (@desc/@avail/@used are guest physical addresses; the
 * front-end sends their user addresses from the memory table), eventfds
 * created for kick and call (kept across calls) and sent with
 * SET_VRING_KICK/SET_VRING_CALL, then SET_VRING_ENABLE 1 when
 * PROTOCOL_FEATURES was negotiated.  0 or -errno.
 */
VK_EXPORT int vu_fe_ring_setup(struct vu_fe *fe, unsigned int idx, unsigned int num,
			       uint64_t desc, uint64_t avail, uint64_t used, uint16_t base);
/* Stop ring @idx with GET_VRING_BASE; *@base (may be NULL) gets the back-end's index. */
VK_EXPORT int vu_fe_ring_stop(struct vu_fe *fe, unsigned int idx, uint16_t *base);
/* SET_VRING_ENABLE. */
VK_EXPORT int vu_fe_ring_enable(struct vu_fe *fe, unsigned int idx, bool enable);
/* Kick ring @idx (eventfd write).  0 or -errno. */
VK_EXPORT int vu_fe_kick(struct vu_fe *fe, unsigned int idx);
/* The ring's call eventfd (poll it for used buffers) / kick eventfd; -1 if none. */
VK_EXPORT int vu_fe_call_fd(const struct vu_fe *fe, unsigned int idx);
VK_EXPORT int vu_fe_kick_fd(const struct vu_fe *fe, unsigned int idx);
/* Read (clear) the call eventfd; returns true if it was signalled. */
VK_EXPORT bool vu_fe_call_clear(struct vu_fe *fe, unsigned int idx);
/* Last base known for ring @idx (from setup or GET_VRING_BASE). */
VK_EXPORT uint16_t vu_fe_ring_base(const struct vu_fe *fe, unsigned int idx);
VK_EXPORT bool vu_fe_ring_started(const struct vu_fe *fe, unsigned int idx);

/* ----------------------------------------------------- device-level requests */
/* GET_CONFIG (CONFIG): read @len bytes at @offset into @buf; -EIO if the back-end refuses it. */
VK_EXPORT int vu_fe_get_config(struct vu_fe *fe, uint32_t offset, void *buf, uint32_t len);
/* SET_CONFIG (CONFIG): @flags VU_SET_CONFIG_FLAG_*. */
VK_EXPORT int vu_fe_set_config(struct vu_fe *fe, uint32_t offset, const void *buf, uint32_t len,
			       uint32_t flags);
/* SET_STATUS / GET_STATUS (STATUS). */
VK_EXPORT int vu_fe_set_status(struct vu_fe *fe, uint8_t status);
VK_EXPORT int vu_fe_get_status(struct vu_fe *fe, uint8_t *status);
/* RESET_DEVICE (RESET_DEVICE negotiated) or else RESET_OWNER; rings are forgotten as started. */
VK_EXPORT int vu_fe_reset_device(struct vu_fe *fe);
/*
 * GET_INFLIGHT_FD for @num_queues of @queue_size (INFLIGHT_SHMFD): the
 * returned memfd is kept (and mapped, see vu_fe_inflight_area) and sent back
 * with SET_INFLIGHT_FD now and on every reconnect.  Calling it again while
 * an area is kept just resends SET_INFLIGHT_FD.
 */
VK_EXPORT int vu_fe_inflight_setup(struct vu_fe *fe, uint16_t num_queues, uint16_t queue_size);
VK_EXPORT void *vu_fe_inflight_area(const struct vu_fe *fe, uint64_t *size);

/* ------------------------------------------------------- back-end channel */
/* Our end of the back-end channel (-1 if BACKEND_REQ was not negotiated): poll it. */
VK_EXPORT int vu_fe_backend_fd(const struct vu_fe *fe);
/*
 * Serve one request from the back-end channel (call when it is readable):
 * CONFIG_CHANGE_MSG, VRING_CALL, VRING_ERR through the callbacks; an ack
 * is sent when the back-end asked for one.  Unknown requests are refused
 * (ack != 0) and their fds closed.  Returns 1 served, 0 nothing to read,
 * -ECONNRESET when the back-end closed the channel (it is then closed
 * here), -ECANCELED when the owner cancelled a message half read or its
 * ack (the front-end is disconnected, see vu_fe_set_cancel_fd), other
 * -errno for a malformed message (channel closed as well).
 */
VK_EXPORT int vu_fe_backend_channel_process(struct vu_fe *fe);

/* ---------------------------------------------------------------- reconnect */
/*
 * After the back-end went away: close what is left, connect again (to the
 * remembered path with @attempts/@interval_ms, or to @fd when >= 0) and
 * replay: negotiation with the same wishes, SET_INFLIGHT_FD, memory table,
 * every ring that was set up (with the base from its last GET_VRING_BASE
 * if it was stopped cleanly, else the used index read from guest memory),
 * status if one was set.  0 or -errno.
 */
VK_EXPORT int vu_fe_reconnect(struct vu_fe *fe, int fd, unsigned int attempts,
			      unsigned int interval_ms);


#endif
