/* SPDX-License-Identifier: MIT */
/*
 * vu_fe_xfer.h - how the front-end moves one message (internal)
 *
 * Blocking send, and receive bounded by a timeout, of one vhost-user
 * message with its fds; plus the checks a reply must pass.
 */
#ifndef VK_VU_FE_XFER_H
#define VK_VU_FE_XFER_H

#include <stdint.h>

#include "vhost-user/vu_proto.h"

struct vu_fe_xfer_msg {
	struct vu_hdr hdr;
	uint8_t payload[VU_MAX_PAYLOAD] __attribute__((aligned(8)));
	int fds[VU_MAX_FDS];
	unsigned int nfds;
};

/* 0 or -errno (-EPIPE/-ECONNRESET peer gone). */
int vu_fe_xfer_send(int sock, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		    const int *fds, unsigned int nfds);
/*
 * Wait up to @timeout_ms for a message (0: only what is already there).
 * 0 or -errno: -ETIMEDOUT nothing arrived, -ECONNRESET closed or truncated,
 * -EMSGSIZE size over VU_MAX_PAYLOAD or too many fds (all fds closed then).
 */
int vu_fe_xfer_recv(int sock, struct vu_fe_xfer_msg *msg, unsigned int timeout_ms);
/* A reply to @req: version 1, REPLY flag, size @size exactly, @nfds fds exactly. */
int vu_fe_xfer_check_reply(const struct vu_fe_xfer_msg *msg, uint32_t req, uint32_t size,
			   unsigned int nfds);
void vu_fe_xfer_close_fds(struct vu_fe_xfer_msg *msg);

#endif
