/* SPDX-License-Identifier: MIT */
/*
 * vsock_hdr.h - virtio-vsock wire format (virtio 1.2 "Socket Device")
 *
 * Every packet on the TX and RX queues starts with the 44-byte
 * little-endian header below, followed by hdr.len bytes of payload.  The
 * header and payload may be spread over any number of descriptors.
 */
#ifndef VK_VSOCK_HDR_H
#define VK_VSOCK_HDR_H

#include <stdint.h>

#include "common/byteorder.h"

/* Queues */
#define VSOCK_VQ_RX    0
#define VSOCK_VQ_TX    1
#define VSOCK_VQ_EVENT 2
#define VSOCK_NUM_QUEUES 3

/* Feature bits */
#define VIRTIO_VSOCK_F_STREAM            0
#define VIRTIO_VSOCK_F_SEQPACKET         1
#define VIRTIO_VSOCK_F_NO_IMPLIED_STREAM 2

/* Well-known CIDs */
#define VSOCK_CID_HYPERVISOR 0u
#define VSOCK_CID_LOCAL      1u
#define VSOCK_CID_HOST       2u
#define VSOCK_CID_ANY        0xffffffffu

/* hdr.type */
#define VIRTIO_VSOCK_TYPE_STREAM    1
#define VIRTIO_VSOCK_TYPE_SEQPACKET 2

/* hdr.op */
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

/* hdr.flags for OP_SHUTDOWN */
#define VIRTIO_VSOCK_SHUTDOWN_RCV  1u
#define VIRTIO_VSOCK_SHUTDOWN_SEND 2u
/* hdr.flags for OP_RW on SEQPACKET */
#define VIRTIO_VSOCK_SEQ_EOM 1u
#define VIRTIO_VSOCK_SEQ_EOR 2u

/* Event queue */
#define VIRTIO_VSOCK_EVENT_TRANSPORT_RESET 0u

/* The wire header: packed, little-endian. */
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
_Static_assert(sizeof(struct virtio_vsock_hdr) == VSOCK_HDR_SIZE, "virtio_vsock_hdr is 44 bytes");

struct virtio_vsock_event {
	le32 id;
} __attribute__((packed));

struct virtio_vsock_config {
	le64 guest_cid;
} __attribute__((packed));

/* Header in host byte order: what the code works with. */
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

/* Short name of an op for log lines ("?" if unknown). */
const char *vsock_op_name(uint16_t op);

#endif
