/* SPDX-License-Identifier: MIT */
/*
 * vu_test_fe.h - a raw vhost-user front-end for tests, built on the codec
 *
 * Guest RAM is one memfd (VUT_GPA, fake front-end address VUT_UVA) that
 * the test maps for the driver side (struct vqdrv).  @pump, if set, runs
 * after every message sent (the single-threaded back-end tests call
 * vu_dev_process there); with a daemon it stays NULL.
 */
#ifndef VU_TEST_FE_H
#define VU_TEST_FE_H

#include <stdbool.h>
#include <stdint.h>

#include "virtqueue/virtqueue.h"
#include "vhost-user/vu_msg.h"

#define VUT_GPA      0x100000ull
#define VUT_UVA      0x7f0000000000ull
#define VUT_MEM_SIZE (1u << 20)
#define VUT_QSIZE    64u
#define VUT_NQ       2u

struct vut_fe {
	int sock;
	int memfd;
	uint8_t *mem;
	struct vqdrv_mem dmem;
	struct vqdrv drv[VUT_NQ];
	int kick[VUT_NQ], call[VUT_NQ];
	uint64_t pf;                 /* acked protocol features */
	uint64_t features;
	int backend_sock[2];         /* back-end channel (ours is [0]) */
	void (*pump)(void *arg);
	void *pump_arg;
	int timeout_ms;
	bool use_set_mem_table;      /* SET_MEM_TABLE even with CONFIGURE_MEM_SLOTS */
};

/* Set up guest memory and rings (sock may be -1 and set later). */
void vut_init(struct vut_fe *fe, int sock);
void vut_cleanup(struct vut_fe *fe);
/* Connect to a unix socket path (retrying briefly); fd or -errno. */
int vut_connect(const char *path);

/* Send @m; returns 0 or -errno. */
int vut_send(struct vut_fe *fe, struct vu_msg *m);
/* Receive a reply to @req; 0 or -errno. */
int vut_recv_reply(struct vut_fe *fe, uint32_t req, bool body, struct vu_msg *r);
/* Request without payload / with u64 that returns a u64 body. */
int vut_get_u64(struct vut_fe *fe, uint32_t req, uint64_t *out);
/* Send a u64 request with NEED_REPLY; returns the ack value (0 ok) or -errno. */
int vut_set_u64_ack(struct vut_fe *fe, uint32_t req, uint64_t v);
/* Same for a vring state request. */
int vut_state_ack(struct vut_fe *fe, uint32_t req, uint32_t index, uint32_t num);
/* Send any prepared request with NEED_REPLY (REPLY_ACK must be acked); the ack or -errno. */
int vut_ack(struct vut_fe *fe, struct vu_msg *m);

/* Everything QEMU 7.2 sends for vhost-user-vsock-pci up to both rings running. */
int vut_qemu_vsock_start(struct vut_fe *fe, uint64_t cid);
/* GET_VRING_BASE on both rings; bases returned. */
int vut_stop(struct vut_fe *fe, uint16_t base[VUT_NQ]);
/*
 * What QEMU 7.2 sends when the VM is paused (vhost_dev_stop): SET_STATUS 0
 * (with the STATUS protocol feature) while the rings still run, then
 * GET_VRING_BASE on both rings; bases returned.
 */
int vut_qemu_vsock_pause(struct vut_fe *fe, uint16_t base[VUT_NQ]);
/* And when it runs again (vhost_dev_start): the rings from @base, DRIVER_OK added. */
int vut_qemu_vsock_resume(struct vut_fe *fe, const uint16_t base[VUT_NQ]);

/* The SET_MEM_TABLE message for our RAM (one region, fd dup'ed; caller closes after sending). */
void vut_mem_table_msg(struct vut_fe *fe, struct vu_msg *m);

/* Driver side: add a readable buffer on ring @q and kick. */
int vut_add_out(struct vut_fe *fe, unsigned int q, void *buf, uint32_t len);
/* Buffer of @len bytes inside guest RAM (bump allocator). */
void *vut_alloc(struct vut_fe *fe, uint32_t len);

#endif
