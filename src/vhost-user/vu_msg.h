/* SPDX-License-Identifier: MIT */
/*
 * vu_msg.h - vhost-user message codec (both roles)
 *
 * One table describes every front-end -> back-end request (1..43) and every
 * back-end -> front-end request on the back-end channel (1..8): name,
 * payload size rule, file descriptors carried and whether a reply follows.
 * Reading is split in two steps so that each can be used alone (fuzzers,
 * front-ends reading replies):
 *
 *   vu_msg_read()      framing: header + SCM_RIGHTS fds + payload, version
 *                      bits, size <= VU_MAX_PAYLOAD, truncation;
 *   vu_msg_validate()  per-request rules against the negotiated state
 *                      (protocol features, number of queues), direction of
 *                      the REPLY flag, exact payload size, exact fd count,
 *                      ring index range.
 *
 * vu_msg_recv() does both.  Every function that fails closes every fd the
 * message carried and leaves msg->nfds == 0: a caller never has to clean up
 * after an error.  On success the fds belong to the caller.
 *
 * Functions return 0 or a negative errno:
 *   -ECONNRESET  the peer closed the connection at a message boundary
 *   -EPROTO      truncated header/payload, bad version, bad ancillary data
 *   -EMSGSIZE    size > VU_MAX_PAYLOAD
 *   -ETIMEDOUT   the message did not complete within the timeout
 *   -ECANCELED   the cancel fd became readable while waiting
 *   -EBADMSG     the message breaks its table entry (size, fds, flags)
 *   -ERANGE      ring index >= num_queues
 *   -ENOSYS      unknown request id
 */
#ifndef VK_VU_MSG_H
#define VK_VU_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "vhost-user/vu_proto.h"

/* Which way a message travels; selects the table and the REPLY flag rule. */
enum vu_msg_dir {
	VU_DIR_REQUEST = 0,      /* front-end request, read by the back-end */
	VU_DIR_REPLY,            /* back-end reply to it, read by the front-end */
	VU_DIR_BACKEND_REQUEST,  /* back-end channel request, read by the front-end */
	VU_DIR_BACKEND_REPLY,    /* front-end reply to it, read by the back-end */
};

/* Negotiated state the validator needs. */
struct vu_msg_ctx {
	enum vu_msg_dir dir;
	uint64_t protocol_features;  /* acked protocol features (XEN_MMAP changes region size) */
	unsigned int num_queues;     /* ring indexes must be below this; 0: not checked */
	uint32_t reply_to;           /* replies: the request that was sent (0: not checked) */
	bool reply_body;             /* replies: true if that request has a reply body of its own,
				      * false if the reply is a REPLY_ACK u64 */
};

/* Payload size rule of a table entry. */
enum vu_size_rule {
	VU_SIZE_EXACT = 0,   /* size == entry->size */
	VU_SIZE_MIN,         /* size >= entry->size */
	VU_SIZE_FUNC,        /* entry->check() decides */
};

/* File descriptor rule of a table entry. */
enum vu_fd_rule {
	VU_FDS_NONE = 0,     /* no fd */
	VU_FDS_ONE,          /* exactly one */
	VU_FDS_OPTIONAL,     /* zero or one (a stray one is closed by vu_msg_validate) */
	VU_FDS_NOFD_BIT,     /* u64 payload: one unless VU_VRING_NOFD_MASK is set, then none */
	VU_FDS_REGIONS,      /* SET_MEM_TABLE: one per region */
	VU_FDS_AREA_NOFD,    /* vring area: like NOFD_BIT on area.u64 */
};

/* Reply rule of a table entry. */
enum vu_reply_rule {
	VU_REPLY_NONE = 0,   /* no reply (unless NEED_REPLY with REPLY_ACK) */
	VU_REPLY_ALWAYS,     /* always a reply body */
	VU_REPLY_IF_PF,      /* a reply body if protocol feature entry->reply_pf was acked */
};

struct vu_msg;

struct vu_req_info {
	const char *name;             /* e.g. "SET_MEM_TABLE" */
	enum vu_size_rule size_rule;
	uint32_t size;                /* exact or minimum payload size */
	int (*check)(const struct vu_msg *msg, const struct vu_msg_ctx *ctx);  /* VU_SIZE_FUNC */
	enum vu_fd_rule fds;
	enum vu_reply_rule reply;
	uint8_t reply_pf;             /* VU_REPLY_IF_PF */
	enum vu_size_rule reply_size_rule;
	uint32_t reply_size;          /* reply payload size (exact or minimum) */
	enum vu_fd_rule reply_fds;
	bool ring_index;              /* payload starts with a ring index to range-check */
};

/* A whole message: header, payload, ancillary fds. */
struct vu_msg {
	struct vu_hdr hdr;
	union {
		uint64_t u64;
		struct vu_vring_state state;
		struct vu_vring_addr addr;
		struct vu_mem_table mem;          /* without XEN_MMAP; use vu_msg_region() */
		struct vu_mem_single region;      /* without XEN_MMAP; use vu_msg_region() */
		struct vu_config config;
		struct vu_inflight inflight;
		struct vu_log log;
		struct vu_iotlb iotlb;
		struct vu_vring_area area;
		struct vu_shared_object object;
		struct vu_device_state_transfer transfer;
		uint8_t raw[VU_MAX_PAYLOAD];
	} payload;
	int fds[VU_MAX_FDS];   /* -1 when unused */
	unsigned int nfds;
};

/* Table look-ups: NULL for ids outside 1..43 / 1..8. */
VK_EXPORT const struct vu_req_info *vu_req_info(uint32_t request);
VK_EXPORT const struct vu_req_info *vu_backend_req_info(uint32_t request);
/* "GET_FEATURES", ..., or "UNKNOWN"; never NULL. */
VK_EXPORT const char *vu_req_name(uint32_t request);
VK_EXPORT const char *vu_backend_req_name(uint32_t request);

/* Zero @msg, set header (version 1 | @flags), size and every fd to -1. */
VK_EXPORT void vu_msg_init(struct vu_msg *msg, uint32_t request, uint32_t flags, uint32_t size);
/* A reply to @req: same request id, REPLY flag, @size payload bytes (zeroed). */
VK_EXPORT void vu_msg_init_reply(struct vu_msg *msg, const struct vu_msg *req, uint32_t size);
/* Convenience for u64 payloads (size 8). */
VK_EXPORT void vu_msg_set_u64(struct vu_msg *msg, uint64_t v);
/* Append an fd (not duplicated: still owned by the caller). 0 or -E2BIG. */
VK_EXPORT int vu_msg_add_fd(struct vu_msg *msg, int fd);
/* Close every fd and set nfds to 0. */
VK_EXPORT void vu_msg_close_fds(struct vu_msg *msg);
/* Take fd @i out of the message (the caller owns it); -1 if none. */
VK_EXPORT int vu_msg_take_fd(struct vu_msg *msg, unsigned int i);

/* Region layout depends on XEN_MMAP (40 bytes) or not (32). */
VK_EXPORT uint32_t vu_msg_region_size(uint64_t protocol_features);
/*
 * Region @i of SET_MEM_TABLE (or the single region of ADD/REM_MEM_REG when
 * @msg is one of those).  xen fields are zero without XEN_MMAP.  No range
 * checks beyond the payload size: run vu_msg_validate first.
 */
VK_EXPORT void vu_msg_get_region(const struct vu_msg *msg, uint64_t protocol_features,
				 unsigned int i, struct vu_mem_region_xen *out);
/* Builders (front-end): SET_MEM_TABLE region @i / single region, size updated. */
VK_EXPORT void vu_msg_set_mem_region(struct vu_msg *msg, uint64_t protocol_features,
				     unsigned int i, const struct vu_mem_region_xen *r);
VK_EXPORT void vu_msg_set_single_region(struct vu_msg *msg, uint64_t protocol_features,
					const struct vu_mem_region_xen *r);

/* Does this request (as sent, with its NEED_REPLY flag) get a reply?  And is it a body? */
VK_EXPORT bool vu_msg_expects_reply(const struct vu_msg *msg, uint64_t protocol_features,
				    bool *body);

/*
 * Per-request validation (see the top of this file).  On error every fd is
 * closed; on success a stray optional fd (REM_MEM_REG) is closed too.
 */
VK_EXPORT int vu_msg_validate(struct vu_msg *msg, const struct vu_msg_ctx *ctx);

/*
 * Framing only.  @timeout_ms bounds the whole message, counted from the
 * call (< 0: wait for ever); a peer that stalls mid-message gets
 * -ETIMEDOUT.  @cancel_fd >= 0: give up with -ECANCELED as soon as it is
 * readable.  Works on blocking and non-blocking sockets.
 */
VK_EXPORT int vu_msg_read(int sock, struct vu_msg *msg, int timeout_ms, int cancel_fd);
/* vu_msg_read (no timeout) + vu_msg_validate. */
VK_EXPORT int vu_msg_recv(int sock, struct vu_msg *msg, const struct vu_msg_ctx *ctx);

/*
 * Send header + hdr.size payload bytes + fds (MSG_NOSIGNAL; partial writes
 * completed; EAGAIN waited for up to @timeout_ms, < 0 for ever).  The fds
 * stay owned by the caller.  0 or -errno (-EPIPE when the peer is gone).
 */
VK_EXPORT int vu_msg_send_timeout(int sock, const struct vu_msg *msg, int timeout_ms);
/* Same, and -ECANCELED as soon as @cancel_fd (>= 0) is readable. */
VK_EXPORT int vu_msg_send_cancel(int sock, const struct vu_msg *msg, int timeout_ms, int cancel_fd);
VK_EXPORT int vu_msg_send(int sock, const struct vu_msg *msg);

#endif
