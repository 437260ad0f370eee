/* SPDX-License-Identifier: MIT */
/*
 * vsock_wire.h - the virtio-vsock header for the benchmark's guest stack
 *
 * Uses src/vsock/vsock_hdr.h when it is in the tree (VK_HAVE_VSOCK_HDR),
 * else the same names defined here.
 */
#ifndef VK_BENCH_VSOCK_WIRE_H
#define VK_BENCH_VSOCK_WIRE_H

#if __has_include("vsock/vsock_hdr.h")
#include "vsock/vsock_hdr.h"
#else
#include <stdint.h>
#include "common/byteorder.h"

#define VIRTIO_VSOCK_TYPE_STREAM 1
enum vsock_op {
	VIRTIO_VSOCK_OP_INVALID = 0,
	VIRTIO_VSOCK_OP_REQUEST = 1,
	VIRTIO_VSOCK_OP_RESPONSE = 2,
	VIRTIO_VSOCK_OP_RST = 3,
	VIRTIO_VSOCK_OP_SHUTDOWN = 4,
	VIRTIO_VSOCK_OP_RW = 5,
	VIRTIO_VSOCK_OP_CREDIT_UPDATE = 6,
	VIRTIO_VSOCK_OP_CREDIT_REQUEST = 7,
};
#define VIRTIO_VSOCK_SHUTDOWN_RCV  1u
#define VIRTIO_VSOCK_SHUTDOWN_SEND 2u
#define VSOCK_CID_HOST 2u

struct virtio_vsock_hdr {
	le64 src_cid;
	le64 dst_cid;
	le32 src_port;
	le32 dst_port;
	le32 len;
	le16 type;
	le16 op;
	le32 flags;
	le32 buf_alloc;
	le32 fwd_cnt;
} __attribute__((packed));
#define VSOCK_HDR_SIZE 44u

struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

static inline void vsock_hdr_decode(struct vsock_hdr *h, const struct virtio_vsock_hdr *w)
{
	h->src_cid = vk_get_le64(&w->src_cid);
	h->dst_cid = vk_get_le64(&w->dst_cid);
	h->src_port = vk_get_le32(&w->src_port);
	h->dst_port = vk_get_le32(&w->dst_port);
	h->len = vk_get_le32(&w->len);
	h->type = vk_get_le16(&w->type);
	h->op = vk_get_le16(&w->op);
	h->flags = vk_get_le32(&w->flags);
	h->buf_alloc = vk_get_le32(&w->buf_alloc);
	h->fwd_cnt = vk_get_le32(&w->fwd_cnt);
}

static inline void vsock_hdr_encode(struct virtio_vsock_hdr *w, const struct vsock_hdr *h)
{
	vk_put_le64(&w->src_cid, h->src_cid);
	vk_put_le64(&w->dst_cid, h->dst_cid);
	vk_put_le32(&w->src_port, h->src_port);
	vk_put_le32(&w->dst_port, h->dst_port);
	vk_put_le32(&w->len, h->len);
	vk_put_le16(&w->type, h->type);
	vk_put_le16(&w->op, h->op);
	vk_put_le32(&w->flags, h->flags);
	vk_put_le32(&w->buf_alloc, h->buf_alloc);
	vk_put_le32(&w->fwd_cnt, h->fwd_cnt);
}
#endif

#endif
