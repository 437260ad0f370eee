/* SPDX-License-Identifier: MIT */
/*
 * vu_proto.h - vhost-user wire format (QEMU docs/interop/vhost-user.rst)
 *
 * All fields are little-endian on the wire (the protocol is host-endian in
 * practice; we only run on little-endian hosts and say so at build time).
 */
#ifndef VK_VU_PROTO_H
#define VK_VU_PROTO_H

#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vhost-user is host-endian; vhostkit supports little-endian hosts only"
#endif

/* header flags */
#define VU_VERSION           0x1u
#define VU_VERSION_MASK      0x3u
#define VU_FLAG_REPLY        (1u << 2)
#define VU_FLAG_NEED_REPLY   (1u << 3)

/* most fds one message carries */
#define VU_MAX_FDS           8
/* regions in one SET_MEM_TABLE */
#define VU_MEM_TABLE_REGIONS 8
/* config space payload limit */
#define VU_MAX_CONFIG_SIZE   256

/* front-end -> back-end requests */
enum vu_request {
	VU_NONE = 0,
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_SET_VRING_ENDIAN = 23,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_CREATE_CRYPTO_SESSION = 26,
	VU_CLOSE_CRYPTO_SESSION = 27,
	VU_POSTCOPY_ADVISE = 28,
	VU_POSTCOPY_LISTEN = 29,
	VU_POSTCOPY_END = 30,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
	VU_GPU_SET_SOCKET = 33,
	VU_RESET_DEVICE = 34,
	VU_VRING_KICK = 35,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
	VU_GET_SHARED_OBJECT = 41,
	VU_SET_DEVICE_STATE_FD = 42,
	VU_CHECK_DEVICE_STATE = 43,
	VU_REQUEST_MAX
};

/* back-end -> front-end requests (on the back-end channel) */
enum vu_backend_request {
	VU_BACKEND_NONE = 0,
	VU_BACKEND_IOTLB_MSG = 1,
	VU_BACKEND_CONFIG_CHANGE_MSG = 2,
	VU_BACKEND_VRING_HOST_NOTIFIER_MSG = 3,
	VU_BACKEND_VRING_CALL = 4,
	VU_BACKEND_VRING_ERR = 5,
	VU_BACKEND_SHARED_OBJECT_ADD = 6,
	VU_BACKEND_SHARED_OBJECT_REMOVE = 7,
	VU_BACKEND_SHARED_OBJECT_LOOKUP = 8,
	VU_BACKEND_REQUEST_MAX
};

/* virtio feature bit that says protocol features exist */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
/* VHOST_F_LOG_ALL: front-end asks for dirty logging */
#define VHOST_F_LOG_ALL 26

/* protocol feature bits */
enum vu_protocol_feature {
	VU_PF_MQ = 0,
	VU_PF_LOG_SHMFD = 1,
	VU_PF_RARP = 2,
	VU_PF_REPLY_ACK = 3,
	VU_PF_NET_MTU = 4,
	VU_PF_BACKEND_REQ = 5,
	VU_PF_CROSS_ENDIAN = 6,
	VU_PF_CRYPTO_SESSION = 7,
	VU_PF_PAGEFAULT = 8,
	VU_PF_CONFIG = 9,
	VU_PF_BACKEND_SEND_FD = 10,
	VU_PF_HOST_NOTIFIER = 11,
	VU_PF_INFLIGHT_SHMFD = 12,
	VU_PF_RESET_DEVICE = 13,
	VU_PF_INBAND_NOTIFICATIONS = 14,
	VU_PF_CONFIGURE_MEM_SLOTS = 15,
	VU_PF_STATUS = 16,
	VU_PF_XEN_MMAP = 17,
	VU_PF_SHARED_OBJECT = 18,
	VU_PF_DEVICE_STATE = 19,
};

/* payloads */
struct vu_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

#define VU_VRING_F_LOG 0x1u
struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
} __attribute__((packed));

struct vu_mem_region {
	uint64_t guest_addr;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
} __attribute__((packed));

/* With XEN_MMAP negotiated each region is followed by this. */
struct vu_xen_mmap {
	uint32_t flags;
	uint32_t domid;
} __attribute__((packed));

struct vu_mem_region_xen {
	struct vu_mem_region r;
	struct vu_xen_mmap xen;
} __attribute__((packed));

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[VU_MEM_TABLE_REGIONS];
} __attribute__((packed));

struct vu_mem_single {
	uint64_t padding;
	struct vu_mem_region region;
} __attribute__((packed));

/* u64 payload of SET_VRING_KICK/CALL/ERR */
#define VU_VRING_IDX_MASK   0xffu
#define VU_VRING_NOFD_MASK  (1u << 8)

struct vu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VU_MAX_CONFIG_SIZE];
} __attribute__((packed));
#define VU_CONFIG_HDR_SIZE 12u
#define VU_SET_CONFIG_FLAG_WRITABLE  0x0u
#define VU_SET_CONFIG_FLAG_MIGRATION 0x1u

struct vu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding;   /* QEMU's struct is not packed: 24 bytes on the wire */
} __attribute__((packed));

struct vu_iotlb {
	uint64_t iova;
	uint64_t size;
	uint64_t uaddr;
	uint8_t perm;
	uint8_t type;
	uint8_t padding[6]; /* struct vhost_iotlb_msg is not packed: 32 bytes */
} __attribute__((packed));

struct vu_device_state_transfer {
	uint32_t direction;
	uint32_t phase;
} __attribute__((packed));

struct vu_shared_object {
	uint8_t uuid[16];
} __attribute__((packed));

struct vu_vring_area {
	uint64_t u64;
	uint64_t size;
	uint64_t offset;
} __attribute__((packed));

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));
#define VU_HDR_SIZE 12u

/* Wire sizes (checked at build time in vu_msg.c). */
#define VU_REGION_SIZE       32u  /* struct vu_mem_region */
#define VU_REGION_XEN_SIZE   40u  /* ... followed by struct vu_xen_mmap (XEN_MMAP) */
#define VU_MEM_TABLE_HDR     8u   /* nregions + padding */

/* Largest payload we accept (a full SET_MEM_TABLE with Xen descriptions, config). */
#define VU_MAX_PAYLOAD 4096u

#endif
